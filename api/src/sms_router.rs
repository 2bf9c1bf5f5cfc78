//! The SMS Router seed (`../shared/seeds/sms-router-api.md`) under
//! `/api/v1/sms-router`: Twilio's inbound and status webhooks (form-encoded, checked
//! with `X-Twilio-Signature` over the configured public URL, see
//! `drivers::cloud::twilio::verify_signature`), TwiML replies, health and statistics,
//! and the admin routes with the seed's permission names (held by the admin role).
//! Errors: `{detail, error_code, status: "error", timestamp}`.

// Handlers answer early with a ready `Response` as the error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use gateway::inbound_text::{AcceptedText, InboundText};
use gateway::outbound::DeliveryStatus;
use gateway::{time, GatewayError};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sms-router/webhook/sms", post(webhook_sms))
        .route(
            "/v1/sms-router/webhook/delivery-status",
            post(delivery_status),
        )
        .route("/v1/sms-router/webhook/health", get(health))
        .route("/v1/sms-router/webhook/stats", get(stats))
        .route("/v1/sms-router/admin/status", get(admin_status))
        .route("/v1/sms-router/admin/usage", get(admin_usage))
        .route(
            "/v1/sms-router/admin/phone-mappings",
            get(list_mappings).post(create_mapping),
        )
        .route(
            "/v1/sms-router/admin/phone-mappings/{mapping_id}",
            delete(delete_mapping),
        )
        .route(
            "/v1/sms-router/admin/config",
            get(get_config).post(set_config),
        )
}

fn error(status: StatusCode, code: &str, detail: impl Into<String>) -> Response {
    (
        status,
        Json(json!({
            "detail": detail.into(),
            "error_code": code,
            "status": "error",
            "timestamp": time::now_iso(),
        })),
    )
        .into_response()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("sms router: {e}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "MESSAGE_PROCESSING_FAILED",
        "Internal server error",
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn twiml(reply: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n    <Message>{}</Message>\n</Response>\n",
        xml_escape(reply)
    );
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// The form's parameters if `X-Twilio-Signature` is right for the configured token
/// over the public URL of this request; else the seed's 400.
fn signed_form(
    state: &AppState,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Response> {
    let invalid = |d: &str| error(StatusCode::BAD_REQUEST, "TWILIO_WEBHOOK_INVALID", d);
    let cfg = &state.config.sms_router;
    let Some(token) = cfg.twilio_auth_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(invalid(
            "Invalid webhook request: no Twilio auth token is configured",
        ));
    };
    let Some(given) = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(invalid(
            "Invalid webhook request: X-Twilio-Signature is missing",
        ));
    };
    let base = cfg
        .public_base_url
        .as_deref()
        .unwrap_or("")
        .trim_end_matches('/');
    let path = uri.0.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{base}{path}");
    let params = drivers::cloud::parse_form(body);
    if !drivers::cloud::twilio::verify_signature(token, &url, &params, given) {
        return Err(invalid(
            "Invalid webhook request: the signature does not match",
        ));
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

async fn webhook_sms(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let params = match signed_form(&state, &uri, &headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (Some(text), Some(from), Some(to), Some(sid)) = (
        param(&params, "Body"),
        param(&params, "From"),
        param(&params, "To"),
        param(&params, "MessageSid").filter(|s| !s.is_empty()),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "TWILIO_WEBHOOK_INVALID",
            "Invalid webhook request: Body, From, To and MessageSid are required",
        );
    };
    let default_reply = state.config.sms_router.default_reply.clone();
    let accepted = state
        .gateway
        .accept_text(InboundText {
            channel: "twilio".into(),
            provider: "twilio".into(),
            to: to.to_string(),
            from: from.to_string(),
            text: text.to_string(),
            provider_id: sid.to_string(),
            received_at: None,
        })
        .await;
    let user_id = match accepted {
        Ok(AcceptedText::Duplicate { reply, .. }) => {
            return twiml(reply.as_deref().unwrap_or(&default_reply))
        }
        Ok(AcceptedText::Stored { user_id, .. }) => user_id,
        Err(e) => return internal(e),
    };
    let reply = default_reply;
    let elapsed = started.elapsed().as_millis() as i64;
    let g = &state.gateway;
    let logged = async {
        g.record_text_reply("twilio", sid, &reply).await?;
        g.record_router_usage(
            user_id,
            from,
            "inbound",
            text.chars().count() as i64,
            user_id.is_some(),
            elapsed,
        )
        .await?;
        g.record_router_usage(
            user_id,
            from,
            "outbound",
            reply.chars().count() as i64,
            true,
            elapsed,
        )
        .await
    };
    if let Err(e) = logged.await {
        tracing::warn!("sms router: cannot log usage: {e}");
    }
    twiml(&reply)
}

async fn delivery_status(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match signed_form(&state, &uri, &headers, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (Some(sid), Some(status)) = (
        param(&params, "MessageSid"),
        param(&params, "MessageStatus"),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "TWILIO_WEBHOOK_INVALID",
            "Invalid webhook request: MessageSid and MessageStatus are required",
        );
    };
    let mapped = match status {
        "delivered" => DeliveryStatus::Delivered,
        "failed" | "undelivered" => DeliveryStatus::Undelivered,
        _ => DeliveryStatus::Pending,
    };
    match state
        .gateway
        .record_delivery_status("twilio", sid, mapped)
        .await
    {
        Ok(Some(_)) => Json(json!({"status": "success", "message": "Delivery status updated"}))
            .into_response(),
        Ok(None) => Json(json!({
            "status": "warning",
            "message": format!("No change: no outbound message with MessageSid {sid} awaits status {status}"),
        }))
        .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "MESSAGE_PROCESSING_FAILED",
            format!("Failed to process delivery status: {e}"),
        ),
    }
}

async fn health_value(state: &AppState) -> Value {
    let db = state.gateway.database_ok().await;
    let twilio = state
        .config
        .sms_router
        .twilio_auth_token
        .as_deref()
        .is_some_and(|t| !t.is_empty());
    json!({
        "status": if db { "healthy" } else { "unhealthy" },
        "service": "SMS Router Webhook",
        "timestamp": time::now_iso(),
        "components": {
            "routing_engine": "healthy",
            "database": if db { "healthy" } else { "unhealthy" },
            "twilio": if twilio { "healthy" } else { "not_configured" },
        }
    })
}

async fn health(State(state): State<AppState>) -> Response {
    Json(health_value(&state).await).into_response()
}

async fn stats_value(state: &AppState) -> Result<Value, Response> {
    let s = state.gateway.router_stats().await.map_err(internal)?;
    let rate = if s.last_24_hours_messages > 0 {
        (s.last_24_hours_success as f64 * 1000.0 / s.last_24_hours_messages as f64).round() / 10.0
    } else {
        0.0
    };
    Ok(json!({
        "total_messages": s.total_messages,
        "successful_routes": s.successful_routes,
        "failed_routes": s.failed_routes,
        "average_processing_time_ms": s.average_processing_time_ms,
        "last_24_hours": {"messages": s.last_24_hours_messages, "success_rate": rate},
        "top_users": s.top_users.iter().map(|(u, n, p)| json!({
            "user_id": u, "message_count": n, "phone_number": p,
        })).collect::<Vec<_>>(),
    }))
}

async fn stats(State(state): State<AppState>) -> Response {
    match stats_value(&state).await {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

/// The caller must hold `permission`: every `system:*` permission is the admin role's.
async fn require(state: &AppState, headers: &HeaderMap, permission: &str) -> Result<(), Response> {
    let unauthenticated = |d: &str| error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_REQUIRED", d);
    let caller = if let Some(key) = crate::auth::api_key(headers) {
        crate::auth::resolve_api_key(&state.gateway, key)
            .await
            .map_err(|e| unauthenticated(&e))?
    } else {
        let Some(token) = crate::auth::bearer(headers) else {
            return Err(unauthenticated("Authentication required"));
        };
        let claims = state
            .auth
            .verify(token, "access")
            .map_err(|_| unauthenticated("The token is invalid or expired"))?;
        state
            .caller(claims)
            .await
            .map_err(|e| unauthenticated(&e))?
    };
    if !caller.is_admin() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "INSUFFICIENT_PERMISSIONS",
            format!("Insufficient permissions: {permission} required"),
        ));
    }
    Ok(())
}

macro_rules! guard {
    ($state:expr, $headers:expr, $perm:expr) => {
        if let Err(r) = require(&$state, &$headers, $perm).await {
            return r;
        }
    };
}

async fn admin_status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    guard!(state, headers, "system:view_sms_status");
    let mut statistics = match stats_value(&state).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(o) = statistics.as_object_mut() {
        o.remove("last_24_hours");
        o.remove("top_users");
    }
    Json(json!({
        "service": "SMS Router Service",
        "status": health_value(&state).await,
        "statistics": statistics,
        "endpoints": {
            "webhook": "/sms-router/webhook/sms",
            "health": "/sms-router/webhook/health",
            "stats": "/sms-router/webhook/stats",
        }
    }))
    .into_response()
}

#[derive(Deserialize)]
struct UsageParams {
    limit: Option<String>,
    offset: Option<String>,
}

fn bad_param(name: &str, detail: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "CONFIGURATION_ERROR",
        format!("{name}: {detail}"),
    )
}

async fn admin_usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<UsageParams>,
) -> Response {
    guard!(state, headers, "system:view_sms_usage");
    let limit = match q.limit.as_deref().map(str::parse::<i64>) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return bad_param("limit", "must be an integer from 1 to 1000"),
    };
    let offset = match q.offset.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) if n >= 0 => n,
        Some(_) => return bad_param("offset", "must be a non-negative integer"),
    };
    match state.gateway.router_usage(limit, offset).await {
        Ok((total, logs)) => {
            Json(json!({"total": total, "limit": limit, "offset": offset, "logs": logs}))
                .into_response()
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct MappingQuery {
    user_id: Option<String>,
    phone_number: Option<String>,
    is_primary: Option<String>,
    verification_method: Option<String>,
}

async fn list_mappings(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MappingQuery>,
) -> Response {
    guard!(state, headers, "system:view_phone_mappings");
    let user_id = match q.user_id.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return bad_param("user_id", "must be an integer"),
    };
    match state.gateway.phone_mappings(user_id).await {
        Ok(m) => Json(json!({"mappings": m})).into_response(),
        Err(e) => internal(e),
    }
}

async fn create_mapping(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MappingQuery>,
) -> Response {
    guard!(state, headers, "system:manage_phone_mappings");
    let fail = |d: String| {
        error(
            StatusCode::BAD_REQUEST,
            "SMS_ROUTING_FAILED",
            format!("Failed to create phone mapping: {d}"),
        )
    };
    let Some(Ok(user_id)) = q.user_id.as_deref().map(str::parse::<i64>) else {
        return fail("user_id is required and must be an integer".into());
    };
    let Some(phone) = q.phone_number.as_deref() else {
        return fail("phone_number is required".into());
    };
    let phone =
        match gateway::phone_auth::normalize_phone(phone, &state.config.sms_auth.default_region) {
            Ok(p) => p,
            Err(e) => return fail(format!("phone_number: {e}")),
        };
    let is_primary = match q.is_primary.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => return fail("is_primary must be true or false".into()),
    };
    let method = q.verification_method.as_deref().unwrap_or("manual");
    match state
        .gateway
        .create_phone_mapping(user_id, &phone, is_primary, method)
        .await
    {
        Ok(m) => Json(json!({
            "message": "Phone mapping created successfully",
            "user_id": m.user_id,
            "phone_number": m.phone_number,
        }))
        .into_response(),
        Err(GatewayError::Invalid(d)) | Err(GatewayError::Conflict(d)) => fail(d),
        Err(e) => internal(e),
    }
}

async fn delete_mapping(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    guard!(state, headers, "system:manage_phone_mappings");
    let Ok(id) = id.parse::<i64>() else {
        return error(
            StatusCode::NOT_FOUND,
            "PHONE_NUMBER_NOT_FOUND",
            "Phone mapping not found",
        );
    };
    match state.gateway.delete_phone_mapping(id).await {
        Ok(true) => {
            Json(json!({"message": "Phone mapping deleted successfully", "mapping_id": id}))
                .into_response()
        }
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "PHONE_NUMBER_NOT_FOUND",
            "Phone mapping not found",
        ),
        Err(e) => internal(e),
    }
}

async fn get_config(State(state): State<AppState>, headers: HeaderMap) -> Response {
    guard!(state, headers, "system:view_sms_config");
    match state.gateway.router_config().await {
        Ok(c) => Json(json!({"configs": c})).into_response(),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct ConfigQuery {
    config_key: Option<String>,
    config_value: Option<String>,
    description: Option<String>,
}

async fn set_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ConfigQuery>,
) -> Response {
    guard!(state, headers, "system:manage_sms_config");
    let (Some(key), Some(value)) = (
        q.config_key.as_deref().filter(|k| !k.is_empty()),
        q.config_value.as_deref(),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "CONFIGURATION_ERROR",
            "config_key and config_value are required",
        );
    };
    match state
        .gateway
        .set_router_config(key, value, q.description.as_deref())
        .await
    {
        Ok(()) => Json(json!({"message": "Configuration updated successfully", "key": key}))
            .into_response(),
        Err(e) => internal(e),
    }
}
