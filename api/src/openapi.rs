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

/// The error body an operation answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// `{success: false, error: {code, message, details}, timestamp}`: the DispoSMS
    /// seed's and the box's own; its 400/401/403/404 are documented from the operation.
    DispoSms,
    /// `{detail, error_code, status: "error", timestamp}`: the SMS Router seed's and
    /// the provider webhooks'; errors are listed per operation.
    SmsRouter,
    /// `{message}` or `{message, errors}`: the SMS Auth seed's; listed per operation.
    SmsAuth,
}

/// One documented operation.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Needs an access token or an API key; `Some("admin")` for the admin role;
    /// `Some("phone")` for an SMS Auth token (`<id>|<secret>`).
    pub auth: Option<&'static str>,
    /// `(name, in, required, description)`; path parameters are found from `path`.
    pub params: Vec<(&'static str, &'static str, bool, &'static str)>,
    pub body: Option<Value>,
    /// The media types the body may come in (default JSON).
    pub body_types: &'static [&'static str],
    /// A second shape of the same operation: `(name, body, response)` (SMS Auth's
    /// phone-shaped register/login/logout on DispoSMS's paths).
    pub variant: Option<(&'static str, Value, Value)>,
    pub status: u16,
    pub response: Value,
    /// The media type of the answer (default JSON).
    pub response_type: &'static str,
    pub envelope: Envelope,
    /// Error answers beyond the generated ones: `(status, description, body)`.
    pub errors: Vec<(u16, &'static str, Value)>,
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
        body_types: JSON,
        variant: None,
        status: 200,
        response: json!({ "success": true, "data": {}, "message": "", "timestamp": "2025-08-06T12:00:00.000Z" }),
        response_type: "application/json",
        envelope: Envelope::DispoSms,
        errors: Vec::new(),
    }
}

const JSON: &[&str] = &["application/json"];
const FORM: &[&str] = &["application/x-www-form-urlencoded"];
const FORM_OR_JSON: &[&str] = &["application/x-www-form-urlencoded", "application/json"];

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
    fn form(mut self, b: Value, types: &'static [&'static str]) -> Self {
        self.body = Some(b);
        self.body_types = types;
        self
    }
    fn answers_as(mut self, media: &'static str) -> Self {
        self.response_type = media;
        self
    }
    fn variant(mut self, name: &'static str, body: Value, response: Value) -> Self {
        self.variant = Some((name, body, response));
        self
    }
    /// In the SMS Router's envelope, with these errors (`(status, code, detail)`).
    fn router(mut self, errors: &[(u16, &'static str, &'static str)]) -> Self {
        self.envelope = Envelope::SmsRouter;
        for &(status, code, detail) in errors {
            self.errors.push((
                status,
                detail,
                json!({"detail": detail, "error_code": code, "status": "error", "timestamp": TS}),
            ));
        }
        self
    }
    /// In the SMS Auth envelope, with these errors (`(status, body)`).
    fn sms_auth(mut self, errors: &[(u16, Value)]) -> Self {
        self.envelope = Envelope::SmsAuth;
        for (status, body) in errors {
            let description = match status {
                400 => "Invalid or expired code",
                401 => "No or bad token",
                404 => "No such user",
                422 => "Validation failed",
                429 => "Too many codes for this phone (Retry-After)",
                _ => "Error",
            };
            self.errors.push((*status, description, body.clone()));
        }
        self
    }
}

const USER: Option<&str> = Some("user");
const ADMIN: Option<&str> = Some("admin");
const PHONE: Option<&str> = Some("phone");
const TS: &str = "2025-08-06T12:00:00.000Z";

fn message_example() -> Value {
    json!({
        "id": "msg_456", "assignment_id": "assign_123", "to_number": "+1234567890",
        "from_number": "+0987654321", "content": "Your verification code is 123456",
        "type": "otp", "otp_code": "123456", "received_at": TS, "is_read": false,
        "provider": "modem", "extra_data": {}
    })
}

fn reply_webhook_example() -> Value {
    json!({"user_id": 1, "url": "https://bot.example.com/sms-reply", "created_at": TS, "updated_at": TS, "last_called_at": TS, "last_status": 200, "last_error": null})
}

const ROUTER_ADMIN_ERRORS: &[(u16, &str, &str)] = &[
    (401, "AUTHENTICATION_REQUIRED", "Authentication required"),
    (
        403,
        "INSUFFICIENT_PERMISSIONS",
        "Insufficient permissions: system:view_sms_config required",
    ),
];

const VONAGE_ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "VONAGE_WEBHOOK_INVALID",
        "Invalid webhook request: the webhook has no messageId (messageId, msisdn and to are required)",
    ),
    (
        401,
        "VONAGE_WEBHOOK_INVALID",
        "Invalid webhook signature: the signature does not match",
    ),
];

type Param = (&'static str, &'static str, bool, &'static str);

const VONAGE_SIGNED: [Param; 3] = [
    ("timestamp", "query", true, "Unix seconds; within 25 h of now (Vonage retries for 24 h with the first stamp)"),
    ("nonce", "query", false, "Signed with the rest"),
    ("sig", "query", true, "Every other parameter, sorted, signed with the signature secret (md5hash or HMAC md5/sha1/sha256/sha512, as configured)"),
];

const VONAGE_INBOUND_PARAMS: &[Param] = &[
    ("msisdn", "query", true, "The sender, international digits"),
    (
        "to",
        "query",
        true,
        "The receiving number, international digits",
    ),
    ("messageId", "query", true, "Vonage's id: the dedupe key"),
    ("text", "query", false, "The text"),
    ("type", "query", false, "text, unicode or binary"),
    (
        "message-timestamp",
        "query",
        false,
        "YYYY-MM-DD HH:MM:SS (UTC): becomes received_at",
    ),
    VONAGE_SIGNED[0],
    VONAGE_SIGNED[1],
    VONAGE_SIGNED[2],
];

const VONAGE_DLR_PARAMS: &[Param] = &[
    (
        "messageId",
        "query",
        true,
        "The id the send answered (one per part)",
    ),
    (
        "status",
        "query",
        true,
        "delivered, expired, failed, rejected, accepted, buffered or unknown",
    ),
    ("msisdn", "query", false, "The recipient"),
    ("err-code", "query", false, "0 when delivered"),
    VONAGE_SIGNED[0],
    VONAGE_SIGNED[1],
    VONAGE_SIGNED[2],
];

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
        op("post", "/api/auth/register", "auth", "Register a user (SMS Auth: a body with phone and no email registers by phone and sends a one-time code)", None)
            .body(json!({"email": "user@example.com", "password": "secure_password", "first_name": "John", "last_name": "Doe"}))
            .answers(201, tokens_example(user.clone()), "User registered successfully")
            .variant("sms_auth", json!({"phone": "+1234567890", "password": "securepassword"}), json!({"message": "Registration successful. OTP sent to your phone.", "user_id": 1})),
        op("post", "/api/auth/login", "auth", "Log in with email and password (SMS Auth: a body with phone and no email sends a one-time code)", None)
            .body(json!({"email": "user@example.com", "password": "secure_password"}))
            .answers(200, tokens_example(json!({"id": 1, "email": "user@example.com", "first_name": "John", "last_name": "Doe", "role": "user", "created_at": TS, "last_login": TS})), "Login successful")
            .variant("sms_auth", json!({"phone": "+1234567890"}), json!({"message": "OTP sent to your phone for verification."})),
        op("post", "/api/auth/refresh", "auth", "Rotate a refresh token (a reused one revokes its login)", None)
            .body(json!({"refresh_token": "eyJhbGciOiJIUzI1NiJ9..."}))
            .answers(200, json!({"access_token": "eyJ...", "refresh_token": "eyJ...", "expires_in": 3600}), "Token refreshed successfully"),
        op("post", "/api/auth/logout", "auth", "Log out: revoke the login of the bearer token (or of `refresh_token`); an SMS Auth token (`<id>|<secret>`) is revoked", USER)
            .body(json!({"refresh_token": "(optional) eyJhbGciOiJIUzI1NiJ9..."}))
            .answers(200, json!({"user_id": 1, "logged_out_at": TS}), "Logged out successfully")
            .variant("sms_auth", json!({}), json!({"message": "Logged out successfully"})),
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
        op("get", "/api/admin/channels", "operator", "Every send channel (SIMs, cloud providers) in the queue's order, with its circuit breaker", ADMIN),
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
        // The SMS Auth seed (api/src/sms_auth.rs); register, login and logout above.
        op("post", "/api/auth/verify-otp", "sms-auth", "Check the one-time code sent to the phone; answers an SMS Auth token `<id>|<secret>`", None)
            .body(json!({"phone": "+1234567890", "otp": "123456"}))
            .raw(200, json!({"message": "Phone verified successfully", "user": {"id": 1, "phone": "+1234567890", "phone_verified_at": TS, "created_at": TS, "updated_at": TS}, "token": "1|abc123def456ghi789..."}))
            .sms_auth(&[
                (400, json!({"message": "Invalid or expired OTP"})),
                (422, json!({"message": "Validation failed", "errors": {"otp": ["The otp must be 6 digits."]}})),
            ]),
        op("post", "/api/auth/resend-otp", "sms-auth", "Send a new one-time code (60 s apart; 10 per hour and 50 per day per phone)", None)
            .body(json!({"phone": "+1234567890"}))
            .raw(200, json!({"message": "OTP resent successfully"}))
            .sms_auth(&[
                (404, json!({"message": "User not found"})),
                (422, json!({"message": "Validation failed", "errors": {"phone": ["The phone field is required."]}})),
                (429, json!({"message": "Please wait 60 seconds before requesting another OTP."})),
            ]),
        op("get", "/api/auth/user", "sms-auth", "The user of an SMS Auth token", PHONE)
            .raw(200, json!({"id": 1, "phone": "+1234567890", "phone_verified_at": TS, "created_at": TS, "updated_at": TS}))
            .sms_auth(&[(401, json!({"message": "Unauthenticated."}))]),
        // The SMS Router seed (api/src/sms_router.rs).
        op("post", "/api/v1/sms-router/webhook/sms", "sms-router", "Twilio's inbound SMS webhook: stored once per MessageSid, routed (lease, else the sender's phone mapping), answered in TwiML with the user's reply webhook's answer or the default reply", None)
            .params(&[("X-Twilio-Signature", "header", true, "HMAC-SHA1 of the public URL and the sorted parameters, keyed with the Twilio auth token")])
            .form(json!({"Body": "Hello world", "From": "+1234567890", "To": "+1987654321", "MessageSid": "SM1234567890"}), FORM)
            .raw(200, json!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n    <Message>Thank you for your message. I'll process it shortly.</Message>\n</Response>"))
            .answers_as("application/xml")
            .router(&[(400, "TWILIO_WEBHOOK_INVALID", "Invalid webhook request: the signature does not match")]),
        op("post", "/api/v1/sms-router/webhook/delivery-status", "sms-router", "Twilio's status callback for a message the box sent through Twilio: delivered/read make the job delivered, undelivered/failed/canceled undelivered", None)
            .params(&[("X-Twilio-Signature", "header", true, "As for webhook/sms")])
            .form(json!({"MessageSid": "SM1234567890", "MessageStatus": "delivered"}), FORM)
            .raw(200, json!({"status": "success", "message": "Delivery status updated", "job_id": 12}))
            .router(&[(400, "TWILIO_WEBHOOK_INVALID", "Invalid webhook request: the webhook has no MessageSid (MessageSid and MessageStatus are required)")]),
        op("get", "/api/v1/sms-router/webhook/health", "sms-router", "The SMS Router's health", None)
            .raw(200, json!({"status": "healthy", "service": "SMS Router Webhook", "timestamp": TS, "components": {"routing_engine": "healthy", "database": "healthy", "twilio": "healthy"}})),
        op("get", "/api/v1/sms-router/webhook/stats", "sms-router", "Routing statistics", None)
            .raw(200, json!({"total_messages": 1250, "successful_routes": 1200, "failed_routes": 50, "average_processing_time_ms": 150, "last_24_hours": {"messages": 45, "success_rate": 95.6}, "top_users": [{"user_id": 1, "message_count": 25, "phone_number": "+1234567890"}]})),
        op("get", "/api/v1/sms-router/admin/status", "sms-router", "Service status (system:view_sms_status)", ADMIN)
            .raw(200, json!({"service": "SMS Router Service", "status": {"status": "healthy"}, "statistics": {"total_messages": 1250}, "endpoints": {"webhook": "/sms-router/webhook/sms", "health": "/sms-router/webhook/health", "stats": "/sms-router/webhook/stats"}}))
            .router(ROUTER_ADMIN_ERRORS),
        op("get", "/api/v1/sms-router/admin/usage", "sms-router", "The usage log (system:view_sms_usage)", ADMIN)
            .params(&[("limit", "query", false, "Default 100, max 1000"), ("offset", "query", false, "Default 0")])
            .raw(200, json!({"total": 1250, "limit": 100, "offset": 0, "logs": [{"id": 1, "user_id": 1, "phone_number": "+1234567890", "direction": "inbound", "length": 15, "success": true, "processing_time_ms": 120, "created_at": TS}]}))
            .router(&[ROUTER_ADMIN_ERRORS[0], ROUTER_ADMIN_ERRORS[1], (400, "CONFIGURATION_ERROR", "limit: must be an integer from 1 to 1000")]),
        op("get", "/api/v1/sms-router/admin/phone-mappings", "sms-router", "Phone mappings: sender number → user (system:view_phone_mappings)", ADMIN)
            .params(&[("user_id", "query", false, "Only this user's")])
            .raw(200, json!({"mappings": [{"id": 1, "user_id": 1, "phone_number": "+1234567890", "is_primary": true, "is_verified": true, "verification_method": "sms", "created_at": TS}]}))
            .router(ROUTER_ADMIN_ERRORS),
        op("post", "/api/v1/sms-router/admin/phone-mappings", "sms-router", "Map a sender number to a user (system:manage_phone_mappings)", ADMIN)
            .params(&[("user_id", "query", true, "The user"), ("phone_number", "query", true, "The sender's number (normalised to E.164)"), ("is_primary", "query", false, "true or false (default)"), ("verification_method", "query", false, "Default manual; sms marks it verified")])
            .raw(200, json!({"message": "Phone mapping created successfully", "user_id": 1, "phone_number": "+1234567890"}))
            .router(&[ROUTER_ADMIN_ERRORS[0], ROUTER_ADMIN_ERRORS[1], (400, "SMS_ROUTING_FAILED", "Failed to create phone mapping: +1234567890 is mapped already")]),
        op("delete", "/api/v1/sms-router/admin/phone-mappings/{mapping_id}", "sms-router", "Delete a phone mapping (system:manage_phone_mappings)", ADMIN)
            .raw(200, json!({"message": "Phone mapping deleted successfully", "mapping_id": 1}))
            .router(&[ROUTER_ADMIN_ERRORS[0], ROUTER_ADMIN_ERRORS[1], (404, "PHONE_NUMBER_NOT_FOUND", "Phone mapping not found")]),
        op("get", "/api/v1/sms-router/admin/config", "sms-router", "The router's settings (system:view_sms_config); reply_webhook_timeout_ms (100 to 14000, default 5000) is read by the reply webhooks", ADMIN)
            .raw(200, json!({"configs": [{"key": "reply_webhook_timeout_ms", "value": "5000", "description": "Reply webhook timeout", "is_active": true, "updated_at": TS}]}))
            .router(ROUTER_ADMIN_ERRORS),
        op("post", "/api/v1/sms-router/admin/config", "sms-router", "Set a router setting (system:manage_sms_config)", ADMIN)
            .params(&[("config_key", "query", true, "The key"), ("config_value", "query", true, "The value"), ("description", "query", false, "What it is")])
            .raw(200, json!({"message": "Configuration updated successfully", "key": "reply_webhook_timeout_ms"}))
            .router(&[ROUTER_ADMIN_ERRORS[0], ROUTER_ADMIN_ERRORS[1], (400, "CONFIGURATION_ERROR", "config_key and config_value are required")]),
        op("get", "/api/v1/sms-router/reply-webhook", "sms-router", "The caller's reply webhook (never its secret)", USER)
            .raw(200, json!({"reply_webhook": reply_webhook_example()}))
            .router(&[ROUTER_ADMIN_ERRORS[0], (404, "REPLY_WEBHOOK_NOT_FOUND", "User 1 has no reply webhook")]),
        op("put", "/api/v1/sms-router/reply-webhook", "sms-router", "Set the caller's reply webhook: texts routed to the caller are POSTed to it as JSON {message_id, user_id, from, to, body, message_sid, received_at}, signed X-Simgate-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\"> with the secret (given, 16 to 200 characters, or generated; shown in this answer only). Its answer, plain text or JSON {\"reply\": \"...\"} with Content-Type application/json, becomes the TwiML <Message> (empty: none); a timeout, a status other than 2xx or an unreadable answer gives the default reply", USER)
            .body(json!({"url": "https://bot.example.com/sms-reply", "secret": "(optional) 16 to 200 characters"}))
            .raw(200, json!({"message": "Reply webhook saved", "reply_webhook": reply_webhook_example(), "secret": "whsec_3f1c..."}))
            .router(&[ROUTER_ADMIN_ERRORS[0], (400, "CONFIGURATION_ERROR", "Invalid reply webhook: the URL \"ftp://x\" must be http:// or https:// with a host")]),
        op("delete", "/api/v1/sms-router/reply-webhook", "sms-router", "Remove the caller's reply webhook (the default reply answers again)", USER)
            .raw(200, json!({"message": "Reply webhook deleted", "user_id": 1}))
            .router(&[ROUTER_ADMIN_ERRORS[0], (404, "REPLY_WEBHOOK_NOT_FOUND", "User 1 has no reply webhook")]),
        op("get", "/api/v1/sms-router/admin/reply-webhooks", "sms-router", "Every user's reply webhook (system:view_sms_config)", ADMIN)
            .params(&[("user_id", "query", false, "Only this user's")])
            .raw(200, json!({"reply_webhooks": [reply_webhook_example()]}))
            .router(ROUTER_ADMIN_ERRORS),
        op("get", "/api/v1/sms-router/admin/reply-webhooks/{user_id}", "sms-router", "A user's reply webhook (system:view_sms_config)", ADMIN)
            .raw(200, json!({"reply_webhook": reply_webhook_example()}))
            .router(&[ROUTER_ADMIN_ERRORS[0], ROUTER_ADMIN_ERRORS[1], (404, "REPLY_WEBHOOK_NOT_FOUND", "User 1 has no reply webhook")]),
        op("put", "/api/v1/sms-router/admin/reply-webhooks/{user_id}", "sms-router", "Set a user's reply webhook, as PUT /reply-webhook does for the caller (system:manage_sms_config)", ADMIN)
            .body(json!({"url": "https://bot.example.com/sms-reply"}))
            .raw(200, json!({"message": "Reply webhook saved", "reply_webhook": reply_webhook_example(), "secret": "whsec_3f1c..."}))
            .router(&[ROUTER_ADMIN_ERRORS[0], ROUTER_ADMIN_ERRORS[1], (400, "CONFIGURATION_ERROR", "Invalid reply webhook: the secret must be 16 to 200 characters"), (404, "USER_NOT_FOUND", "User 7 does not exist")]),
        op("delete", "/api/v1/sms-router/admin/reply-webhooks/{user_id}", "sms-router", "Remove a user's reply webhook (system:manage_sms_config)", ADMIN)
            .raw(200, json!({"message": "Reply webhook deleted", "user_id": 1}))
            .router(&[ROUTER_ADMIN_ERRORS[0], ROUTER_ADMIN_ERRORS[1], (404, "REPLY_WEBHOOK_NOT_FOUND", "User 1 has no reply webhook")]),
        // Cloud providers' webhooks (api/src/provider_webhooks.rs).
        op("get", "/api/v1/providers/vonage/inbound", "providers", "Vonage's inbound SMS webhook (GET): stored once per messageId, routed like Twilio's; signed with a [[provider]] vonage signature_secret", None)
            .params(VONAGE_INBOUND_PARAMS)
            .raw(200, json!({"status": "success", "message": "Message stored", "message_id": 42, "user_id": 1}))
            .router(VONAGE_ERRORS),
        op("post", "/api/v1/providers/vonage/inbound", "providers", "Vonage's inbound SMS webhook (POST form, or POST-JSON), as the GET", None)
            .form(json!({"msisdn": "447700900001", "to": "447700900000", "messageId": "0A0000000123ABCD1", "text": "Hello", "type": "text", "message-timestamp": "2025-08-06 12:00:00", "timestamp": "1754481600", "sig": "(hex)"}), FORM_OR_JSON)
            .raw(200, json!({"status": "success", "message": "Message stored", "message_id": 42, "user_id": 1}))
            .router(VONAGE_ERRORS),
        op("get", "/api/v1/providers/vonage/dlr", "providers", "Vonage's delivery receipt (GET) for a message the box sent through Vonage: delivered → delivered; expired, failed, rejected → undelivered; signed like inbound", None)
            .params(VONAGE_DLR_PARAMS)
            .raw(200, json!({"status": "success", "message": "Delivery status updated", "job_id": 12}))
            .router(VONAGE_ERRORS),
        op("post", "/api/v1/providers/vonage/dlr", "providers", "Vonage's delivery receipt (POST form, or POST-JSON), as the GET", None)
            .form(json!({"messageId": "0A0000000123ABCD1", "msisdn": "447700900001", "status": "delivered", "err-code": "0", "timestamp": "1754481600", "sig": "(hex)"}), FORM_OR_JSON)
            .raw(200, json!({"status": "success", "message": "Delivery status updated", "job_id": 12}))
            .router(VONAGE_ERRORS),
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
            o.response_type
        };
        let mut responses = serde_json::Map::new();
        let ok = match &o.variant {
            Some((name, _, response)) => json!({"examples": {
                "default": {"value": o.response},
                *name: {"value": response},
            }}),
            None => json!({"example": o.response}),
        };
        responses.insert(
            o.status.to_string(),
            json!({"description": o.summary, "content": {content_type: ok}}),
        );
        let dispo = o.envelope == Envelope::DispoSms;
        if dispo && (o.body.is_some() || !o.params.is_empty()) {
            responses.insert(
                "400".into(),
                error_response(
                    "Validation failed",
                    "VALIDATION_ERROR",
                    "Request validation failed",
                ),
            );
        }
        if dispo && o.auth.is_some() {
            responses.insert(
                "401".into(),
                error_response(
                    "No or bad credentials",
                    "AUTHENTICATION_REQUIRED",
                    "Valid authentication token required",
                ),
            );
        }
        if dispo && o.auth == ADMIN {
            responses.insert(
                "403".into(),
                error_response(
                    "Not an admin",
                    "INSUFFICIENT_PERMISSIONS",
                    "This action needs the admin role",
                ),
            );
        }
        if dispo && o.path.contains('{') {
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
        for (status, description, body) in &o.errors {
            let key = status.to_string();
            match responses.get_mut(&key) {
                // Two errors with one status: both examples.
                Some(existing)
                    if existing["content"]["application/json"]["example"].is_object() =>
                {
                    let first = existing["content"]["application/json"]["example"].take();
                    existing["content"]["application/json"] = json!({"examples": {
                        "a": {"value": first},
                        "b": {"value": body},
                    }});
                }
                _ => {
                    responses.insert(
                        key,
                        json!({"description": description, "content": {"application/json": {"example": body}}}),
                    );
                }
            }
        }
        let mut operation = json!({
            "tags": [o.tag],
            "summary": o.summary,
            "operationId": format!("{}_{}", o.method, o.path.trim_start_matches("/api/").replace(['/', '{', '}', '-', '.'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if let Some(body) = &o.body {
            let mut content = serde_json::Map::new();
            for media in o.body_types {
                let shape = match &o.variant {
                    Some((name, variant, _)) => json!({"examples": {
                        "default": {"value": body},
                        *name: {"value": variant},
                    }, "schema": {"type": "object"}}),
                    None => json!({"example": body, "schema": {"type": "object"}}),
                };
                content.insert(media.to_string(), shape);
            }
            operation["requestBody"] = json!({"required": true, "content": content});
        }
        if o.auth == PHONE {
            operation["security"] = json!([{"phone_token": []}]);
        } else if o.auth.is_some() {
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
            "description": "The DispoSMS API as served by a simgate box, the SMS Auth API (phone sign-in, sharing /api/auth), the SMS Router API (/api/v1/sms-router: Twilio webhooks, TwiML, reply webhooks, admin), cloud providers' webhooks (/api/v1/providers), plus the box's own account, admin and health routes. Every response carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset. Live events: Socket.IO at /socket.io/ (auth: {token}) with new_message, assignment_status, system_notification and pong.",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "auth"}, {"name": "numbers"}, {"name": "messages"},
            {"name": "account"}, {"name": "webhooks"}, {"name": "admin"},
            {"name": "operator"}, {"name": "health"},
            {"name": "sms-auth", "description": "The SMS Auth seed: phone + one-time code; errors {message} or {message, errors}"},
            {"name": "sms-router", "description": "The SMS Router seed: errors {detail, error_code, status, timestamp}; admin routes need the admin role (which holds every system:* permission)"},
            {"name": "providers", "description": "Webhooks from cloud providers for the [[provider]] channels"},
        ],
        "paths": paths,
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "api_key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "phone_token": {"type": "http", "scheme": "bearer", "bearerFormat": "<id>|<secret> (SMS Auth)"},
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
        let sms = &json["paths"]["/api/v1/sms-router/webhook/sms"]["post"];
        assert!(
            sms["responses"]["200"]["content"]["application/xml"].is_object(),
            "{sms}"
        );
        assert!(sms["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
        assert_eq!(
            sms["responses"]["400"]["content"]["application/json"]["example"]["error_code"],
            "TWILIO_WEBHOOK_INVALID"
        );
        let register = &json["paths"]["/api/auth/register"]["post"];
        assert!(
            register["requestBody"]["content"]["application/json"]["examples"]["sms_auth"]["value"]
                ["phone"]
                .is_string(),
            "{register}"
        );
    }

    #[test]
    fn every_seed_route_is_documented() {
        let doc = document();
        for (method, path) in [
            ("post", "/api/auth/verify-otp"),
            ("post", "/api/auth/resend-otp"),
            ("get", "/api/auth/user"),
            ("post", "/api/v1/sms-router/webhook/delivery-status"),
            ("get", "/api/v1/sms-router/webhook/health"),
            ("get", "/api/v1/sms-router/webhook/stats"),
            ("get", "/api/v1/sms-router/admin/status"),
            ("get", "/api/v1/sms-router/admin/usage"),
            ("post", "/api/v1/sms-router/admin/phone-mappings"),
            (
                "delete",
                "/api/v1/sms-router/admin/phone-mappings/{mapping_id}",
            ),
            ("post", "/api/v1/sms-router/admin/config"),
            ("put", "/api/v1/sms-router/reply-webhook"),
            ("put", "/api/v1/sms-router/admin/reply-webhooks/{user_id}"),
            ("get", "/api/v1/providers/vonage/inbound"),
            ("post", "/api/v1/providers/vonage/dlr"),
        ] {
            assert!(doc["paths"][path][method].is_object(), "{method} {path}");
        }
    }
}
