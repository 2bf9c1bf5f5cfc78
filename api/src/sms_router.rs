//! The SMS Router seed (`../shared/seeds/sms-router-api.md`) under
//! `/api/v1/sms-router`: Twilio's inbound and status webhooks (form-encoded, checked
//! with `X-Twilio-Signature` over the configured public URL, see
//! `drivers::cloud::twilio::verify_signature`), TwiML replies, health and statistics,
//! and the admin routes with the seed's permission names (held by the admin role).
//! Errors: `{detail, error_code, status: "error", timestamp}`.
//!
//! Twilio signs with the account's auth token: `[sms_router] twilio_auth_token`, or
//! that of any `[[provider]] kind = "twilio"` (from the gateway's channel registry).
//!
//! Reply webhooks (not in the seed): a user sets one with `PUT /reply-webhook`
//! `{url, secret?}` (an admin for anyone with `PUT /admin/reply-webhooks/{user_id}`,
//! `system:manage_sms_config`). A text routed to that user is stored first, then the
//! URL is POSTed `{message_id, user_id, from, to, body, message_sid, received_at}`,
//! signed `X-Simgate-Signature`; its answer (plain text, or JSON `{"reply": "..."}`
//! with `Content-Type: application/json`) becomes the TwiML `<Message>`, an empty one
//! no `<Message>`; a timeout (`reply_webhook_timeout_ms`, default 5000), a status that
//! is not 2xx or an unreadable answer gives the default reply and a warning in the log
//! (see `gateway::inbound_text`).

// Handlers answer early with a ready `Response` as the error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use drivers::cloud::DeliveryState;
use serde::Deserialize;
use serde_json::{json, Value};

use gateway::inbound_text::{AcceptedText, InboundText, ReplyAnswer, ReplyRequest};
use gateway::providers::WebhookAuth;
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
        .route(
            "/v1/sms-router/reply-webhook",
            get(own_reply_webhook)
                .put(set_own_reply_webhook)
                .delete(delete_own_reply_webhook),
        )
        .route(
            "/v1/sms-router/admin/reply-webhooks",
            get(list_reply_webhooks),
        )
        .route(
            "/v1/sms-router/admin/reply-webhooks/{user_id}",
            get(user_reply_webhook)
                .put(set_user_reply_webhook)
                .delete(delete_user_reply_webhook),
        )
}

/// The seed's error body; the provider webhooks answer in it too.
pub(crate) fn error(status: StatusCode, code: &str, detail: impl Into<String>) -> Response {
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

/// Escapes the five XML specials and drops what XML 1.0 cannot hold at all (control
/// characters other than tab, newline and carriage return; U+FFFE, U+FFFF).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// TwiML answering `reply`; no reply (or an empty one): an empty `<Response/>`.
fn twiml(reply: Option<&str>) -> Response {
    let body = match reply.filter(|r| !r.is_empty()) {
        Some(r) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n    <Message>{}</Message>\n</Response>\n",
            xml_escape(r)
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response/>\n".to_string(),
    };
    ([(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// The Twilio auth tokens that may sign a webhook: the router's own, then every
/// Twilio channel's.
async fn twilio_tokens(state: &AppState) -> Vec<String> {
    let mut tokens: Vec<String> = state
        .config
        .sms_router
        .twilio_auth_token
        .iter()
        .filter(|t| !t.is_empty())
        .cloned()
        .collect();
    for account in state.gateway.provider_accounts("twilio").await {
        if let WebhookAuth::Twilio { auth_token } = account.auth {
            if !auth_token.is_empty() && !tokens.contains(&auth_token) {
                tokens.push(auth_token);
            }
        }
    }
    tokens
}

/// The form's parameters if `X-Twilio-Signature` is right for the configured token
/// over the public URL of this request; else the seed's 400.
async fn signed_form(
    state: &AppState,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Response> {
    let invalid = |d: &str| error(StatusCode::BAD_REQUEST, "TWILIO_WEBHOOK_INVALID", d);
    let cfg = &state.config.sms_router;
    let tokens = twilio_tokens(state).await;
    if tokens.is_empty() {
        return Err(invalid(
            "Invalid webhook request: no Twilio auth token is configured",
        ));
    }
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
    if !tokens
        .iter()
        .any(|token| drivers::cloud::twilio::verify_signature(token, &url, &params, given))
    {
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
    let params = match signed_form(&state, &uri, &headers, &body).await {
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
    // Stored (and fanned out) before anyone is asked what to answer: a slow reply
    // webhook costs the reply, never the message.
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
    let (message_id, user_id, received_at) = match accepted {
        // The answer given then: "" was no reply; none recorded, the default.
        Ok(AcceptedText::Duplicate { reply, .. }) => {
            return twiml(Some(reply.as_deref().unwrap_or(&default_reply)))
        }
        Ok(AcceptedText::Stored {
            message_id,
            user_id,
            received_at,
        }) => (message_id, user_id, received_at),
        Err(e) => return internal(e),
    };
    let (reply, reply_ok) = match user_id {
        Some(user_id) => {
            let request = ReplyRequest {
                message_id,
                user_id,
                from: from.to_string(),
                to: to.to_string(),
                body: text.to_string(),
                message_sid: sid.to_string(),
                received_at,
            };
            ask_reply_webhook(&state, request, default_reply).await
        }
        None => (Some(default_reply), true),
    };
    let elapsed = started.elapsed().as_millis() as i64;
    let g = &state.gateway;
    let logged = async {
        g.record_text_reply("twilio", sid, reply.as_deref().unwrap_or(""))
            .await?;
        g.record_router_usage(
            user_id,
            from,
            "inbound",
            text.chars().count() as i64,
            user_id.is_some(),
            elapsed,
        )
        .await?;
        if let Some(r) = &reply {
            g.record_router_usage(
                user_id,
                from,
                "outbound",
                r.chars().count() as i64,
                reply_ok,
                elapsed,
            )
            .await?;
        }
        Ok::<(), GatewayError>(())
    };
    if let Err(e) = logged.await {
        tracing::warn!("sms router: cannot log usage: {e}");
    }
    twiml(reply.as_deref())
}

/// The reply for a text routed to `request.user_id`: their reply webhook's answer
/// (`None`: reply nothing), else `default_reply`; and whether the webhook, if any,
/// answered usably.
async fn ask_reply_webhook(
    state: &AppState,
    request: ReplyRequest,
    default_reply: String,
) -> (Option<String>, bool) {
    let user_id = request.user_id;
    let hook = match state.gateway.reply_webhook(user_id).await {
        Ok(Some(h)) => h,
        Ok(None) => return (Some(default_reply), true),
        Err(e) => {
            tracing::warn!(
                user_id,
                "sms router: cannot read the reply webhook, answering the default reply: {e}"
            );
            return (Some(default_reply), false);
        }
    };
    match state.gateway.call_reply_webhook(&hook, &request).await {
        Ok(ReplyAnswer::Message(m)) => (Some(m), true),
        Ok(ReplyAnswer::Nothing) => (None, true),
        Err(why) => {
            tracing::warn!(
                user_id,
                url = %hook.url,
                message_id = request.message_id,
                "sms router: the reply webhook failed ({why}); answering the default reply"
            );
            (Some(default_reply), false)
        }
    }
}

async fn delivery_status(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match signed_form(&state, &uri, &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let report = match drivers::cloud::twilio::parse_status_callback(&params) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "TWILIO_WEBHOOK_INVALID",
                format!("Invalid webhook request: {e} (MessageSid and MessageStatus are required)"),
            )
        }
    };
    delivery_report_answer(&state, "twilio", "MessageSid", &report).await
}

/// Applies a provider's delivery report to the job that sent its message and answers
/// the provider: the job it moved, a report that is not final yet, or no job waiting.
/// Shared by Twilio's status callback and Vonage's receipt (`provider_webhooks`);
/// `id_name` is the provider's name for the message id.
pub(crate) async fn delivery_report_answer(
    state: &AppState,
    provider: &str,
    id_name: &str,
    report: &drivers::cloud::DeliveryReport,
) -> Response {
    let (id, status) = (&report.id, &report.status);
    match state
        .gateway
        .record_provider_report_any(provider, report)
        .await
    {
        Ok(Some((_, job_id))) => Json(json!({
            "status": "success",
            "message": "Delivery status updated",
            "job_id": job_id,
        }))
        .into_response(),
        Ok(None) if report.state == DeliveryState::Pending => Json(json!({
            "status": "success",
            "message": format!("Delivery status received: {status} is not final"),
        }))
        .into_response(),
        Ok(None) => Json(json!({
            "status": "warning",
            "message": format!("No change: no outbound message with {id_name} {id} awaits status {status}"),
        }))
        .into_response(),
        Err(e) => {
            tracing::error!("{provider} delivery report {id}: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "MESSAGE_PROCESSING_FAILED",
                format!("Failed to process delivery status: {e}"),
            )
        }
    }
}

async fn health_value(state: &AppState) -> Value {
    let db = state.gateway.database_ok().await;
    let twilio = !twilio_tokens(state).await.is_empty();
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

/// Who is calling: the user's id and whether they hold the admin role (and with it
/// every `system:*` permission). API keys, access tokens and SMS Auth tokens
/// (`<id>|<secret>`, never admin) are accepted.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<(i64, bool), Response> {
    let unauthenticated = |d: &str| error(StatusCode::UNAUTHORIZED, "AUTHENTICATION_REQUIRED", d);
    if let Some(key) = crate::auth::api_key(headers) {
        let caller = crate::auth::resolve_api_key(&state.gateway, key)
            .await
            .map_err(|e| unauthenticated(&e))?;
        return Ok((caller.user_id, caller.is_admin()));
    }
    let Some(token) = crate::auth::bearer(headers) else {
        return Err(unauthenticated("Authentication required"));
    };
    if crate::sms_auth::is_phone_token(headers) {
        return match state.gateway.phone_token_user(token).await {
            Ok(Some((_, user))) => Ok((user.id, false)),
            Ok(None) => Err(unauthenticated("The token is invalid or revoked")),
            Err(e) => Err(internal(e)),
        };
    }
    let claims = state
        .auth
        .verify(token, "access")
        .map_err(|_| unauthenticated("The token is invalid or expired"))?;
    let caller = state
        .caller(claims)
        .await
        .map_err(|e| unauthenticated(&e))?;
    Ok((caller.user_id, caller.is_admin()))
}

/// The caller must hold `permission`: every `system:*` permission is the admin role's.
async fn require(state: &AppState, headers: &HeaderMap, permission: &str) -> Result<(), Response> {
    let (_, admin) = authenticate(state, headers).await?;
    if !admin {
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

// Reply webhooks: the caller's own, and any user's for an admin.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyWebhookBody {
    url: String,
    secret: Option<String>,
}

fn reply_not_found(user_id: i64) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "REPLY_WEBHOOK_NOT_FOUND",
        format!("User {user_id} has no reply webhook"),
    )
}

async fn show_reply_webhook(state: &AppState, user_id: i64) -> Response {
    match state.gateway.reply_webhook(user_id).await {
        Ok(Some(h)) => Json(json!({"reply_webhook": h})).into_response(),
        Ok(None) => reply_not_found(user_id),
        Err(e) => internal(e),
    }
}

async fn save_reply_webhook(state: &AppState, user_id: i64, body: &[u8]) -> Response {
    let bad = |d: String| {
        error(
            StatusCode::BAD_REQUEST,
            "CONFIGURATION_ERROR",
            format!("Invalid reply webhook: {d}"),
        )
    };
    let parsed: ReplyWebhookBody = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => {
            return bad(format!(
                "the body must be a JSON object {{\"url\": \"https://...\", \"secret\"?: \"...\"}}: {e}"
            ))
        }
    };
    match state
        .gateway
        .set_reply_webhook(user_id, parsed.url.trim(), parsed.secret)
        .await
    {
        Ok(h) => Json(json!({
            "message": "Reply webhook saved",
            "reply_webhook": h,
            // Shown now only: it signs the calls (X-Simgate-Signature).
            "secret": h.secret,
        }))
        .into_response(),
        Err(GatewayError::Invalid(d)) => bad(d),
        Err(GatewayError::NotFound(_)) => error(
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
            format!("User {user_id} does not exist"),
        ),
        Err(e) => internal(e),
    }
}

async fn remove_reply_webhook(state: &AppState, user_id: i64) -> Response {
    match state.gateway.delete_reply_webhook(user_id).await {
        Ok(true) => {
            Json(json!({"message": "Reply webhook deleted", "user_id": user_id})).into_response()
        }
        Ok(false) => reply_not_found(user_id),
        Err(e) => internal(e),
    }
}

async fn own_reply_webhook(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match authenticate(&state, &headers).await {
        Ok((user_id, _)) => show_reply_webhook(&state, user_id).await,
        Err(r) => r,
    }
}

async fn set_own_reply_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match authenticate(&state, &headers).await {
        Ok((user_id, _)) => save_reply_webhook(&state, user_id, &body).await,
        Err(r) => r,
    }
}

async fn delete_own_reply_webhook(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match authenticate(&state, &headers).await {
        Ok((user_id, _)) => remove_reply_webhook(&state, user_id).await,
        Err(r) => r,
    }
}

fn path_user(raw: &str) -> Result<i64, Response> {
    raw.parse::<i64>().map_err(|_| {
        error(
            StatusCode::NOT_FOUND,
            "USER_NOT_FOUND",
            format!("{raw:?} is not a user id"),
        )
    })
}

#[derive(Deserialize)]
struct UserFilter {
    user_id: Option<String>,
}

async fn list_reply_webhooks(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<UserFilter>,
) -> Response {
    guard!(state, headers, "system:view_sms_config");
    let user_id = match q.user_id.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => return bad_param("user_id", "must be an integer"),
    };
    match state.gateway.reply_webhooks(user_id).await {
        Ok(list) => Json(json!({"reply_webhooks": list})).into_response(),
        Err(e) => internal(e),
    }
}

async fn user_reply_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Response {
    guard!(state, headers, "system:view_sms_config");
    match path_user(&user_id) {
        Ok(id) => show_reply_webhook(&state, id).await,
        Err(r) => r,
    }
}

async fn set_user_reply_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    body: Bytes,
) -> Response {
    guard!(state, headers, "system:manage_sms_config");
    match path_user(&user_id) {
        Ok(id) => save_reply_webhook(&state, id, &body).await,
        Err(r) => r,
    }
}

async fn delete_user_reply_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Response {
    guard!(state, headers, "system:manage_sms_config");
    match path_user(&user_id) {
        Ok(id) => remove_reply_webhook(&state, id).await,
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(r: Response) -> String {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn twiml_escapes_and_answers_nothing_when_empty() {
        let b = body_of(twiml(Some("a<b & \"c\" \u{1}'d'"))).await;
        assert!(
            b.contains("<Message>a&lt;b &amp; &quot;c&quot; &apos;d&apos;</Message>"),
            "{b}"
        );
        for none in [None, Some("")] {
            let b = body_of(twiml(none)).await;
            assert!(
                b.ends_with("<Response/>\n") && !b.contains("Message"),
                "{b}"
            );
        }
    }
}
