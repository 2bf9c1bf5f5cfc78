//! The OpenAPI 3.1 document of every route (`/api/openapi.json`) and the interactive
//! page at `/docs` (Swagger UI, vendored into the binary: no CDN, the box is often
//! offline).
//!
//! The document is built from one table, [`operations`], with the seed's request and
//! response examples. The end-to-end test `disposms_ops` calls every documented
//! operation on the running binary and checks that none is a 404 or 405, so a route
//! that is removed or renamed fails it. **A new route is added here by hand**, by
//! whoever adds it to a router.

use serde_json::{json, Value};
use utoipa_swagger_ui::SwaggerUi;

/// One documented operation.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Needs an access token or an API key; `Some("admin")` for the admin role.
    pub auth: Option<&'static str>,
    /// `(name, in, required, description)`; path parameters are found from `path`.
    pub params: Vec<(&'static str, &'static str, bool, &'static str)>,
    pub body: Option<Value>,
    pub status: u16,
    pub response: Value,
}

fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    auth: Option<&'static str>,
) -> Operation {
    Operation {
        method,
        path,
        tag,
        summary,
        auth,
        params: Vec::new(),
        body: None,
        status: 200,
        response: json!({ "success": true, "data": {}, "message": "", "timestamp": "2025-08-06T12:00:00.000Z" }),
    }
}

impl Operation {
    fn params(mut self, p: &[(&'static str, &'static str, bool, &'static str)]) -> Self {
        self.params.extend_from_slice(p);
        self
    }
    fn body(mut self, b: Value) -> Self {
        self.body = Some(b);
        self
    }
    fn answers(mut self, status: u16, data: Value, message: &str) -> Self {
        self.status = status;
        self.response = json!({
            "success": true,
            "data": data,
            "message": message,
            "timestamp": "2025-08-06T12:00:00.000Z",
        });
        self
    }
    fn raw(mut self, status: u16, body: Value) -> Self {
        self.status = status;
        self.response = body;
        self
    }
}

const USER: Option<&str> = Some("user");
const ADMIN: Option<&str> = Some("admin");
const TS: &str = "2025-08-06T12:00:00.000Z";

fn message_example() -> Value {
    json!({
        "id": "msg_456", "assignment_id": "assign_123", "to_number": "+1234567890",
        "from_number": "+0987654321", "content": "Your verification code is 123456",
        "type": "otp", "otp_code": "123456", "received_at": TS, "is_read": false,
        "provider": "modem", "extra_data": {}
    })
}

fn tokens_example(user: Value) -> Value {
    json!({ "user": user, "access_token": "eyJhbGciOiJIUzI1NiJ9...", "refresh_token": "eyJhbGciOiJIUzI1NiJ9...", "expires_in": 3600 })
}

/// Every route the server answers under `/api`, with the seed's examples.
pub fn operations() -> Vec<Operation> {
    let user = json!({"id": 1, "email": "user@example.com", "first_name": "John", "last_name": "Doe", "role": "user", "created_at": TS});
    let paging = [
        ("page", "query", false, "Page number (default 1)"),
        ("limit", "query", false, "Results per page"),
    ];
    let key = json!({"id": "key_1", "name": "billing server", "prefix": "sgk_AbCdEf", "created_at": TS, "last_used_at": null, "expires_at": null, "revoked_at": null, "is_active": true});
    vec![
        op("post", "/api/auth/register", "auth", "Register a user", None)
            .body(json!({"email": "user@example.com", "password": "secure_password", "first_name": "John", "last_name": "Doe"}))
            .answers(201, tokens_example(user.clone()), "User registered successfully"),
        op("post", "/api/auth/login", "auth", "Log in with email and password", None)
            .body(json!({"email": "user@example.com", "password": "secure_password"}))
            .answers(200, tokens_example(json!({"id": 1, "email": "user@example.com", "first_name": "John", "last_name": "Doe", "role": "user", "created_at": TS, "last_login": TS})), "Login successful"),
        op("post", "/api/auth/refresh", "auth", "Rotate a refresh token (a reused one revokes its login)", None)
            .body(json!({"refresh_token": "eyJhbGciOiJIUzI1NiJ9..."}))
            .answers(200, json!({"access_token": "eyJ...", "refresh_token": "eyJ...", "expires_in": 3600}), "Token refreshed successfully"),
        op("post", "/api/auth/logout", "auth", "Log out: revoke the login of the bearer token (or of `refresh_token`)", USER)
            .body(json!({"refresh_token": "(optional) eyJhbGciOiJIUzI1NiJ9..."}))
            .answers(200, json!({"user_id": 1, "logged_out_at": TS}), "Logged out successfully"),
        op("get", "/api/auth/profile", "auth", "The caller's profile with stats", USER)
            .answers(200, json!({"user": {"id": 1, "email": "user@example.com", "first_name": "John", "last_name": "Doe", "role": "user", "is_active": true, "email_verified": true, "created_at": TS, "last_login": TS, "stats": {"total_assignments": 10, "active_assignments": 2, "total_messages": 45, "unread_messages": 3}}}), "Profile retrieved"),
        op("get", "/api/numbers/available", "numbers", "Numbers free to assign", USER)
            .params(&[("country", "query", false, "ISO country code (US, UK, CA)"), ("limit", "query", false, "Default 10, max 50"), ("page", "query", false, "Page number (default 1)")])
            .answers(200, json!({"numbers": [{"number": "+1234567890", "country": "US", "provider": "modem", "cost": 0.05, "capabilities": ["sms"]}], "total": 25, "page": 1, "limit": 10}), "Available numbers retrieved"),
        op("post", "/api/numbers/assign", "numbers", "Lease a number (duration default 3600 s, max 86400 s)", USER)
            .body(json!({"number": "+1234567890", "duration": 3600}))
            .answers(201, json!({"assignment": {"id": "assign_123", "number": "+1234567890", "user_id": 1, "assigned_at": TS, "expires_at": "2025-08-06T13:00:00.000Z", "status": "active", "provider": "modem"}}), "Phone number assigned successfully"),
        op("get", "/api/numbers/my", "numbers", "The caller's assignments", USER)
            .params(&[("status", "query", false, "active, expired or released"), paging[0], ("limit", "query", false, "Default 20, max 100")])
            .answers(200, json!({"assignments": [{"id": "assign_123", "number": "+1234567890", "assigned_at": TS, "expires_at": "2025-08-06T13:00:00.000Z", "status": "active", "provider": "modem", "message_count": 3, "last_message_at": "2025-08-06T12:30:00.000Z"}], "total": 5, "page": 1, "limit": 20}), "Assignments retrieved"),
        op("post", "/api/numbers/{assignment_id}/extend", "numbers", "Add time to an active assignment (it may end at most 86400 s from now; 422 ASSIGNMENT_EXPIRED once it has ended)", USER)
            .body(json!({"duration": 3600}))
            .answers(200, json!({"assignment": {"id": "assign_123", "number": "+1234567890", "expires_at": "2025-08-06T14:00:00.000Z", "extended_duration": 3600}}), "Assignment extended successfully"),
        op("delete", "/api/numbers/{assignment_id}", "numbers", "Release an active assignment now", USER)
            .answers(200, json!({"assignment_id": "assign_123", "released_at": "2025-08-06T12:45:00.000Z"}), "Phone number released successfully"),
        op("get", "/api/messages", "messages", "The caller's messages, with filters", USER)
            .params(&[
                ("number", "query", false, "Filter by the receiving number"),
                ("assignment_id", "query", false, "Filter by assignment"),
                ("type", "query", false, "otp, verification, notification, other"),
                ("is_read", "query", false, "true or false"),
                ("from_date", "query", false, "ISO 8601 start"),
                ("to_date", "query", false, "ISO 8601 end"),
                paging[0],
                ("limit", "query", false, "Default 50, max 200"),
                ("sort", "query", false, "newest (default) or oldest"),
            ])
            .answers(200, json!({"messages": [message_example()], "total": 15, "page": 1, "limit": 50, "unread_count": 3}), "Messages retrieved"),
        op("patch", "/api/messages/read-all", "messages", "Mark the assignment's messages read (no assignment_id: all of the caller's)", USER)
            .body(json!({"assignment_id": "assign_123"}))
            .answers(200, json!({"assignment_id": "assign_123", "marked_count": 5, "marked_at": "2025-08-06T12:45:00.000Z"}), "All messages marked as read"),
        op("get", "/api/messages/{message_id}", "messages", "One message", USER)
            .answers(200, json!({"message": message_example()}), "Message retrieved"),
        op("patch", "/api/messages/{message_id}/read", "messages", "Mark one message read", USER)
            .answers(200, json!({"message_id": "msg_456", "is_read": true, "read_at": "2025-08-06T12:45:00.000Z"}), "Message marked as read"),
        op("get", "/api/account/api-keys", "account", "The caller's API keys (never the keys themselves)", USER)
            .answers(200, json!({"api_keys": [key.clone()], "total": 1}), "API keys retrieved"),
        op("post", "/api/account/api-keys", "account", "Create an API key: shown once, in api_key.key (needs a login token)", USER)
            .body(json!({"name": "billing server", "expires_in_days": 365}))
            .answers(201, json!({"api_key": {"id": "key_1", "name": "billing server", "prefix": "sgk_AbCdEf", "key": "sgk_AbCdEf...", "created_at": TS, "last_used_at": null, "expires_at": "2026-08-06T12:00:00.000Z", "revoked_at": null, "is_active": true}}), "API key created: store it now, it is not shown again"),
        op("delete", "/api/account/api-keys/{key_id}", "account", "Revoke an API key", USER)
            .answers(200, json!({"api_key": key}), "API key revoked"),
        op("post", "/api/admin/emulator/sms", "admin", "Deliver an SMS to an emulated modem (demo and tests)", ADMIN)
            .body(json!({"to": "+15550100001", "from": "WhatsApp", "text": "Your code is 123456"}))
            .answers(202, json!({"to": "+15550100001", "sim_indices": [0], "parts": 1}), "SMS delivered to the emulated modem"),
        op("post", "/api/admin/notifications", "admin", "Send a Socket.IO system_notification to every connected client", ADMIN)
            .body(json!({"type": "maintenance", "title": "Scheduled Maintenance", "message": "System will be under maintenance from 2:00 AM to 4:00 AM UTC", "severity": "info"}))
            .answers(200, json!({"notification": {"type": "maintenance", "title": "Scheduled Maintenance", "message": "System will be under maintenance from 2:00 AM to 4:00 AM UTC", "severity": "info", "timestamp": TS}, "recipients": 3}), "Notification sent"),
        // The box's webhooks (api/src/webhooks.rs): described there in full.
        op("get", "/api/webhooks", "webhooks", "The caller's webhooks (an admin: ?all=true for all)", USER),
        op("post", "/api/webhooks", "webhooks", "Create a webhook {url, events?, secret?}; its secret is shown once", USER)
            .body(json!({"url": "https://example.com/hook", "events": ["sms.received", "otp.received"]})),
        op("get", "/api/webhooks/{id}", "webhooks", "One webhook", USER),
        op("delete", "/api/webhooks/{id}", "webhooks", "Delete a webhook", USER),
        op("post", "/api/webhooks/{id}/test", "webhooks", "Queue a webhook.test delivery", USER),
        op("post", "/api/webhooks/{id}/enable", "webhooks", "Enable a webhook disabled after failing", USER),
        op("get", "/api/webhooks/{id}/deliveries", "webhooks", "The delivery log, newest first", USER)
            .params(&[("limit", "query", false, "Default 50")]),
        // The operator's routes behind the web UI (api/src/operator.rs).
        op("get", "/api/admin/modems", "operator", "Every modem's state", ADMIN),
        op("post", "/api/admin/sms", "operator", "Send an SMS (queued, then sent on a channel with failover)", ADMIN)
            .body(json!({"to": "+12025550123", "text": "Hello"})),
        op("get", "/api/admin/sms", "operator", "Recent outbound jobs", ADMIN),
        op("get", "/api/admin/sms/{id}", "operator", "One outbound job", ADMIN),
        op("get", "/api/admin/messages", "operator", "Every received message", ADMIN),
        op("patch", "/api/admin/messages/{message_id}/read", "operator", "Mark any message read", ADMIN),
        op("get", "/api/admin/stats/throughput", "operator", "Messages per minute", ADMIN),
        op("get", "/api/admin/numbers", "operator", "The number pool with its leases", ADMIN),
        op("post", "/api/admin/numbers/{assignment_id}/extend", "operator", "Extend any lease", ADMIN)
            .body(json!({"duration": 3600})),
        op("delete", "/api/admin/numbers/{assignment_id}", "operator", "Release any lease", ADMIN),
        op("get", "/api/admin/users", "operator", "Every user", ADMIN),
        op("patch", "/api/admin/users/{id}", "operator", "Change a user (role, active)", ADMIN)
            .body(json!({"is_active": false})),
        op("get", "/api/segments", "operator", "How many SMS parts a text takes", USER)
            .params(&[("text", "query", true, "The text")]),
        op("get", "/api/health", "health", "Liveness", None)
            .raw(200, json!({"status": "ok", "timestamp": TS})),
        op("get", "/api/health/ready", "health", "Readiness: the database and each modem (503 when not ready)", None)
            .raw(200, json!({"status": "ready", "timestamp": TS, "checks": {"database": {"status": "ok", "latency_ms": 0.2}, "modems": [{"name": "emu-us", "state": "ready", "ready": true, "number": "+15550100001", "operator": "Emulated", "signal_dbm": -71, "signal_bars": 4, "last_error": null}]}})),
        op("get", "/api/metrics", "health", "Prometheus metrics (text format)", None)
            .raw(200, json!("# TYPE simgate_messages_received_total counter\n...")),
        op("get", "/api/openapi.json", "health", "This document", None)
            .raw(200, json!({"openapi": "3.1.0"})),
    ]
}

fn error_response(description: &str, code: &str, message: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"example": {
            "success": false,
            "error": {"code": code, "message": message, "details": {}},
            "timestamp": TS,
        }}}
    })
}

/// The OpenAPI document as JSON.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for o in operations() {
        let mut params: Vec<Value> = o
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(o.params.iter().map(|(name, place, required, desc)| {
            json!({"name": name, "in": place, "required": required, "description": desc, "schema": {"type": "string"}})
        }));
        let content_type = if o.path == "/api/metrics" {
            "text/plain"
        } else {
            "application/json"
        };
        let mut responses = serde_json::Map::new();
        responses.insert(
            o.status.to_string(),
            json!({"description": o.summary, "content": {content_type: {"example": o.response}}}),
        );
        if o.body.is_some() || !o.params.is_empty() {
            responses.insert(
                "400".into(),
                error_response(
                    "Validation failed",
                    "VALIDATION_ERROR",
                    "Request validation failed",
                ),
            );
        }
        if o.auth.is_some() {
            responses.insert(
                "401".into(),
                error_response(
                    "No or bad credentials",
                    "AUTHENTICATION_REQUIRED",
                    "Valid authentication token required",
                ),
            );
        }
        if o.auth == ADMIN {
            responses.insert(
                "403".into(),
                error_response(
                    "Not an admin",
                    "INSUFFICIENT_PERMISSIONS",
                    "This action needs the admin role",
                ),
            );
        }
        if o.path.contains('{') {
            responses.insert(
                "404".into(),
                error_response(
                    "Not found, or not the caller's",
                    "RESOURCE_NOT_FOUND",
                    "Assignment not found",
                ),
            );
        }
        if o.path.starts_with("/api/numbers/{") {
            responses.insert(
                "422".into(),
                error_response(
                    "The assignment has ended",
                    "ASSIGNMENT_EXPIRED",
                    "Phone number assignment has expired",
                ),
            );
        }
        responses.insert(
            "429".into(),
            error_response(
                "Rate limit exceeded (see X-RateLimit-* headers)",
                "RATE_LIMIT_EXCEEDED",
                "Too many read requests: try again in 3 s",
            ),
        );
        let mut operation = json!({
            "tags": [o.tag],
            "summary": o.summary,
            "operationId": format!("{}_{}", o.method, o.path.trim_start_matches("/api/").replace(['/', '{', '}', '-', '.'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if let Some(body) = &o.body {
            operation["requestBody"] = json!({"required": true, "content": {"application/json": {"example": body, "schema": {"type": "object"}}}});
        }
        if o.auth.is_some() {
            operation["security"] = json!([{"bearer": []}, {"api_key": []}]);
        }
        let item = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        item[o.method] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "simgate API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The DispoSMS API as served by a simgate box, plus the box's own account, admin and health routes. Every response carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset. Live events: Socket.IO at /socket.io/ (auth: {token}) with new_message, assignment_status, system_notification and pong.",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "auth"}, {"name": "numbers"}, {"name": "messages"},
            {"name": "account"}, {"name": "webhooks"}, {"name": "admin"},
            {"name": "operator"}, {"name": "health"},
        ],
        "paths": paths,
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "api_key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }},
    })
}

/// `/docs` (Swagger UI from the binary) and `/api/openapi.json`.
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    let value = document();
    let ui = SwaggerUi::new("/docs");
    match serde_json::from_value::<utoipa::openapi::OpenApi>(value.clone()) {
        Ok(doc) => ui.url("/api/openapi.json", doc).into(),
        Err(e) => {
            // Built from a fixed table, so this is a bug the unit test catches; serve
            // the document unchecked rather than fail to start.
            tracing::error!("the OpenAPI document does not parse as OpenAPI: {e}");
            ui.external_url_unchecked("/api/openapi.json", value).into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_parses_as_openapi_and_names_every_operation() {
        let doc: utoipa::openapi::OpenApi =
            serde_json::from_value(document()).expect("valid OpenAPI");
        let json = serde_json::to_value(&doc).expect("serializes");
        assert_eq!(
            json["paths"]["/api/numbers/{assignment_id}"]["delete"]["tags"][0],
            "numbers"
        );
        assert!(json["paths"]["/api/messages/read-all"]["patch"].is_object());
        let count: usize = json["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(count, operations().len());
    }
}
