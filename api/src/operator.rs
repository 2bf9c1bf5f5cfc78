//! The operator's API behind the web UI, in the DispoSMS envelope. Every
//! `/api/admin/...` route takes the [`Admin`] extractor; `/api/segments` takes any
//! signed-in caller.
//!
//! - `GET /api/admin/modems`: every modem's status (state, signal, operator, SIM...),
//!   whether it is emulated, and its messages today.
//! - `GET /api/admin/channels`: every send channel (modem SIMs and cloud providers) in
//!   the order the queue tries them, with its circuit breaker's state.
//! - `POST /api/admin/sms` `{to, text, from?}`: 202 with the queued job;
//!   `GET /api/admin/sms` the recent jobs; `GET /api/admin/sms/{id}` one job.
//! - `GET /api/admin/messages`: every user's messages; filters `q` (text, sender,
//!   code, service), `number`, `type`, `service`, `is_read`, `page`, `limit`.
//!   `PATCH /api/admin/messages/{message_id}/read` marks anyone's message read.
//! - `GET /api/admin/stats/throughput?hours=24`: received and sent per hour and
//!   channel, with delivery outcomes.
//! - `GET /api/admin/numbers`: the pool with each number's holder;
//!   `POST /api/admin/numbers/{assignment_id}/extend` `{duration}` and
//!   `DELETE /api/admin/numbers/{assignment_id}` act on anyone's lease.
//! - `GET /api/admin/users`, `PATCH /api/admin/users/{id}` `{is_active?, role?}`:
//!   list, ban (revokes the user's sessions), unban, change role.
//! - `GET /api/segments?text=`: the server's segment counter (encoding, parts,
//!   characters left), the one the web UI's live counter mirrors.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use gateway::leases::LeaseRefusal;
use gateway::model::Role;
use gateway::outbound::{OutboundJob, SendRequest};
use gateway::stats::{AllMessagesQuery, UserChange};

use crate::disposms::error::{ok, Code, DispoError, FieldError};
use crate::disposms::extract::{Admin, Auth, Body, Query};
use crate::disposms::views::{assign_id, assignment_id, message_id, msg_id};
use crate::AppState;

type Result<T = Response> = std::result::Result<T, DispoError>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/modems", get(modems))
        .route("/admin/channels", get(channels))
        .route("/admin/sms", post(send_sms).get(recent_sms))
        .route("/admin/sms/{id}", get(one_sms))
        .route("/admin/messages", get(all_messages))
        .route("/admin/messages/{message_id}/read", patch(mark_read))
        .route("/admin/stats/throughput", get(throughput))
        .route("/admin/numbers", get(pool))
        .route("/admin/numbers/{assignment_id}/extend", post(extend))
        .route(
            "/admin/numbers/{assignment_id}",
            axum::routing::delete(release),
        )
        .route("/admin/users", get(users))
        .route("/admin/users/{id}", patch(change_user))
        .route("/segments", get(segments))
}

async fn modems(State(state): State<AppState>, Admin(_): Admin) -> Result {
    let today = state.gateway.messages_today().await?;
    let mut list = Vec::new();
    for m in state.gateway.modem_statuses().await {
        let emulated = match &m.number {
            Some(n) => state.gateway.emulator_for(n).await.is_some(),
            None => false,
        };
        let messages_today = m
            .number
            .as_ref()
            .and_then(|n| today.iter().find(|(t, _)| t == n))
            .map_or(0, |(_, c)| *c);
        let mut v = serde_json::to_value(&m).unwrap_or(Value::Null);
        v["emulated"] = json!(emulated);
        v["messages_today"] = json!(messages_today);
        list.push(v);
    }
    let demo = list.iter().any(|m| m["emulated"] == true);
    Ok(ok(
        StatusCode::OK,
        json!({ "modems": list, "total": list.len(), "emulator": demo }),
        "Modems retrieved",
    ))
}

async fn channels(State(state): State<AppState>, Admin(_): Admin) -> Result {
    let mut list = state.gateway.channel_health().await;
    // The order the dispatcher prefers them in.
    list.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.name.cmp(&b.name)));
    Ok(ok(
        StatusCode::OK,
        json!({ "channels": list, "total": list.len() }),
        "Channels retrieved",
    ))
}

fn job_json(j: &OutboundJob) -> Value {
    json!({
        "id": j.id,
        "to": j.to_number,
        "text": j.text,
        "from": j.from_number,
        "from_hint": j.from_hint,
        "status": j.status,
        "channel": j.channel,
        "parts": j.parts,
        "attempts": j.attempts,
        "error": j.error,
        "created_at": j.created_at,
        "updated_at": j.updated_at,
        "sent_at": j.sent_at,
        "delivered_at": j.delivered_at,
    })
}

const MAX_TEXT: usize = 1530;

fn plausible_recipient(to: &str) -> bool {
    let digits = to.strip_prefix('+').unwrap_or(to);
    (3..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Validates a send request; each bad field is named.
fn parse_send(body: &Value, user_id: i64) -> Result<SendRequest> {
    let mut errors = Vec::new();
    let to = match body.get("to") {
        Some(Value::String(t)) if plausible_recipient(t.trim()) => Some(t.trim().to_string()),
        other => {
            errors.push(FieldError::new(
                "to",
                "A phone number of 3 to 15 digits, in E.164 form (+15550100001)",
                other,
            ));
            None
        }
    };
    let text = match body.get("text") {
        Some(Value::String(t)) if !t.is_empty() && t.chars().count() <= MAX_TEXT => Some(t.clone()),
        other => {
            errors.push(FieldError::new(
                "text",
                format!("A text of 1 to {MAX_TEXT} characters is required"),
                other,
            ));
            None
        }
    };
    let from = match body.get("from") {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) if f.trim().is_empty() => None,
        Some(Value::String(f)) if f.len() <= 64 => Some(f.trim().to_string()),
        Some(other) => {
            errors.push(FieldError::new(
                "from",
                "One of the box's numbers or a channel name",
                other,
            ));
            None
        }
    };
    match (to, text, errors.is_empty()) {
        (Some(to), Some(text), true) => Ok(SendRequest {
            user_id: Some(user_id),
            to,
            text,
            from,
            client_ref: None,
            status_report: true,
        }),
        _ => Err(DispoError::validation(errors)),
    }
}

async fn send_sms(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Body(body): Body<Value>,
) -> Result {
    let req = parse_send(&body, caller.user_id)?;
    let job = state.gateway.enqueue_send(req).await?;
    Ok(ok(
        StatusCode::ACCEPTED,
        json!({ "sms": job_json(&job) }),
        "SMS queued",
    ))
}

async fn recent_sms(State(state): State<AppState>, Admin(_): Admin) -> Result {
    let jobs = state.gateway.recent_outbound_jobs(None, 50).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "sms": jobs.iter().map(job_json).collect::<Vec<_>>() }),
        "Outbound messages retrieved",
    ))
}

async fn one_sms(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(raw): Path<String>,
) -> Result {
    let id = raw
        .parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| DispoError::not_found("Outbound message"))?;
    let job = state.gateway.outbound_job(id, None).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "sms": job_json(&job) }),
        "Outbound message retrieved",
    ))
}

#[derive(Deserialize)]
struct MessageParams {
    q: Option<String>,
    number: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    service: Option<String>,
    is_read: Option<String>,
    page: Option<String>,
    limit: Option<String>,
}

fn positive(
    field: &str,
    raw: Option<&str>,
    default: u32,
    max: u32,
    errors: &mut Vec<FieldError>,
) -> u32 {
    match raw.filter(|s| !s.is_empty()) {
        None => default,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    field,
                    format!("Must be an integer from 1 to {max}"),
                    s,
                ));
                default
            }
        },
    }
}

/// A message with what the operator's inbox shows besides the DispoSMS fields.
fn operator_message_json(m: &gateway::model::MessageView) -> Value {
    json!({
        "id": msg_id(m.id),
        "assignment_id": m.assignment_id.map(assign_id),
        "user_id": m.user_id,
        "to_number": m.to_number,
        "from_number": m.from_number,
        "content": m.content,
        "type": m.kind,
        "otp_code": m.otp_code,
        "service": m.service,
        "received_at": m.received_at,
        "is_read": m.is_read,
        "provider": m.provider,
        "channel": m.channel,
        "parts_total": m.parts_total,
        "parts_received": m.parts_received,
    })
}

async fn all_messages(
    State(state): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<MessageParams>,
) -> Result {
    let mut errors = Vec::new();
    let page = positive("page", q.page.as_deref(), 1, 100_000, &mut errors);
    let limit = positive("limit", q.limit.as_deref(), 50, 200, &mut errors);
    let kind = q.kind.filter(|k| !k.is_empty());
    if let Some(k) = &kind {
        if gateway::otp::MessageType::parse(k).is_none() {
            errors.push(FieldError::new(
                "type",
                "Must be one of otp, verification, notification, other",
                k,
            ));
        }
    }
    let is_read = match q.is_read.as_deref() {
        None | Some("") => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(other) => {
            errors.push(FieldError::new("is_read", "Must be true or false", other));
            None
        }
    };
    if !errors.is_empty() {
        return Err(DispoError::validation(errors));
    }
    let (messages, total, unread) = state
        .gateway
        .all_messages(AllMessagesQuery {
            search: q.q.map(|s| s.trim().to_string()),
            number: q.number,
            kind,
            service: q.service,
            is_read,
            page,
            limit,
        })
        .await?;
    let services = state.gateway.message_services().await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "messages": messages.iter().map(operator_message_json).collect::<Vec<_>>(),
            "total": total,
            "page": page,
            "limit": limit,
            "unread_count": unread,
            "services": services,
        }),
        "Messages retrieved",
    ))
}

async fn mark_read(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(raw): Path<String>,
) -> Result {
    let id = message_id(&raw).ok_or_else(|| DispoError::not_found("Message"))?;
    let read_at = state.gateway.mark_read(id, None).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "message_id": msg_id(id), "is_read": true, "read_at": read_at }),
        "Message marked as read",
    ))
}

#[derive(Deserialize)]
struct ThroughputParams {
    hours: Option<String>,
}

async fn throughput(
    State(state): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<ThroughputParams>,
) -> Result {
    let mut errors = Vec::new();
    let hours = positive("hours", q.hours.as_deref(), 24, 168, &mut errors);
    if !errors.is_empty() {
        return Err(DispoError::validation(errors));
    }
    let t = state.gateway.throughput(hours).await?;
    Ok(ok(
        StatusCode::OK,
        serde_json::to_value(&t).unwrap_or(Value::Null),
        "Throughput retrieved",
    ))
}

async fn pool(State(state): State<AppState>, Admin(_): Admin) -> Result {
    let pool = state.gateway.number_pool().await?;
    let numbers: Vec<Value> = pool
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
            v["assignment_id"] = json!(p.assignment_id.map(assign_id));
            v
        })
        .collect();
    Ok(ok(
        StatusCode::OK,
        json!({ "numbers": numbers, "total": numbers.len() }),
        "Number pool retrieved",
    ))
}

fn lease_refused(refusal: LeaseRefusal, requested: i64) -> DispoError {
    match refusal {
        LeaseRefusal::NotFound => DispoError::not_found("Assignment"),
        LeaseRefusal::Expired => DispoError::new(
            Code::AssignmentExpired,
            "Phone number assignment has expired",
        ),
        LeaseRefusal::Released => DispoError::new(
            Code::AssignmentExpired,
            "Phone number assignment has been released",
        ),
        LeaseRefusal::TooLong { max_extra_secs } => DispoError::field(
            "duration",
            format!("At most {max_extra_secs} more seconds can be added"),
            requested,
        ),
    }
}

async fn extend(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(raw): Path<String>,
    Body(body): Body<Value>,
) -> Result {
    let id = assignment_id(&raw).ok_or_else(|| DispoError::not_found("Assignment"))?;
    let duration = match body.get("duration").and_then(Value::as_i64) {
        Some(d) if d > 0 => d,
        _ => {
            return Err(DispoError::field(
                "duration",
                "A positive whole number of seconds is required",
                body.get("duration"),
            ))
        }
    };
    let extended = state
        .gateway
        .extend_assignment(id, None, duration)
        .await?
        .map_err(|r| lease_refused(r, duration))?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "assignment_id": assign_id(id),
            "expires_at": extended.assignment.expires_at,
            "extended_by": extended.extended_by,
        }),
        "Assignment extended",
    ))
}

async fn release(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(raw): Path<String>,
) -> Result {
    let id = assignment_id(&raw).ok_or_else(|| DispoError::not_found("Assignment"))?;
    let released = state
        .gateway
        .release_assignment(id, None)
        .await?
        .map_err(|r| lease_refused(r, 0))?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "assignment_id": assign_id(released.assignment_id),
            "released_at": released.released_at,
        }),
        "Assignment released",
    ))
}

#[derive(Deserialize)]
struct UserParams {
    q: Option<String>,
    page: Option<String>,
    limit: Option<String>,
}

async fn users(
    State(state): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<UserParams>,
) -> Result {
    let mut errors = Vec::new();
    let page = positive("page", q.page.as_deref(), 1, 100_000, &mut errors);
    let limit = positive("limit", q.limit.as_deref(), 50, 200, &mut errors);
    if !errors.is_empty() {
        return Err(DispoError::validation(errors));
    }
    let (users, total) = state.gateway.list_users(q.q, page, limit).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "users": users, "total": total, "page": page, "limit": limit }),
        "Users retrieved",
    ))
}

async fn change_user(
    State(state): State<AppState>,
    Admin(caller): Admin,
    Path(raw): Path<String>,
    Body(body): Body<Value>,
) -> Result {
    let id = raw
        .parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| DispoError::not_found("User"))?;
    let mut errors = Vec::new();
    let mut change = UserChange::default();
    match body.get("is_active") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => change.is_active = Some(*b),
        Some(other) => errors.push(FieldError::new("is_active", "Must be true or false", other)),
    }
    match body.get("role") {
        None | Some(Value::Null) => {}
        Some(Value::String(r)) if r == "admin" => change.role = Some(Role::Admin),
        Some(Value::String(r)) if r == "user" => change.role = Some(Role::User),
        Some(other) => errors.push(FieldError::new("role", "Must be user or admin", other)),
    }
    if id == caller.user_id {
        if change.is_active == Some(false) {
            errors.push(FieldError::new(
                "is_active",
                "You cannot ban your own account",
                false,
            ));
        }
        if change.role == Some(Role::User) {
            errors.push(FieldError::new(
                "role",
                "You cannot remove your own admin role",
                "user",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(DispoError::validation(errors));
    }
    let user = state.gateway.change_user(id, change).await?;
    Ok(ok(StatusCode::OK, json!({ "user": user }), "User updated"))
}

#[derive(Deserialize)]
struct SegmentParams {
    text: Option<String>,
}

async fn segments(Auth(_): Auth, Query(q): Query<SegmentParams>) -> Result {
    let text = q.text.unwrap_or_default();
    let c = drivers::pdu::count_segments(&text);
    Ok(ok(
        StatusCode::OK,
        json!({
            "encoding": c.encoding,
            "parts": c.parts,
            "chars_left": c.chars_left,
            "units": c.units,
            "per_part": c.per_part,
        }),
        "Segments counted",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_requests_name_each_bad_field() {
        let ok = parse_send(&json!({"to": "+15550100001", "text": "hi"}), 1).expect("valid");
        assert_eq!(ok.to, "+15550100001");
        assert!(ok.from.is_none());
        let err = parse_send(&json!({"to": "call me", "text": ""}), 1).expect_err("invalid");
        let fields: Vec<String> = err.details["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["field"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(fields, ["to", "text"]);
    }
}
