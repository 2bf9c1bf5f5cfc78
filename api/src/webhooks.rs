//! The box's own webhook API (not in any seed), in the DispoSMS envelope. A user
//! manages their own webhooks; an admin manages any (and `?all=true` lists all).
//!
//! - `GET /api/webhooks`: the caller's webhooks, each with its last status and
//!   pending count (never the secret).
//! - `POST /api/webhooks` `{url, events?, secret?}`: 201 with the webhook and its
//!   `secret` (generated when not given), shown this once. `events` is a subset of
//!   `sms.received`, `otp.received`, `sms.status`, `assignment.status` (default all).
//! - `GET /api/webhooks/{id}`, `DELETE /api/webhooks/{id}`.
//! - `POST /api/webhooks/{id}/test`: 202, queues a `webhook.test` delivery.
//! - `POST /api/webhooks/{id}/enable`: enables a webhook disabled after failing.
//! - `GET /api/webhooks/{id}/deliveries?limit=50`: the delivery log, newest first
//!   (event, status, attempts, last HTTP status and error, next attempt).
//!
//! Deliveries are signed: `X-Simgate-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">` (see `gateway::webhooks`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use gateway::webhooks::{Delivery, NewWebhook, Webhook, EVENT_NAMES};

use crate::auth::Caller;
use crate::disposms::error::{ok, Code, DispoError, FieldError};
use crate::disposms::extract::{Auth, Body, Query};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", get(show).delete(remove))
        .route("/webhooks/{id}/test", post(test))
        .route("/webhooks/{id}/enable", post(enable))
        .route("/webhooks/{id}/deliveries", get(deliveries))
}

pub fn webhook_id(id: i64) -> String {
    format!("wh_{id}")
}

fn parse_id(raw: &str) -> Result<i64, DispoError> {
    raw.strip_prefix("wh_")
        .unwrap_or(raw)
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| DispoError::not_found("Webhook"))
}

/// Whose webhooks the caller may touch: an admin any, a user their own.
fn scope(caller: &Caller) -> Option<i64> {
    if caller.is_admin() {
        None
    } else {
        Some(caller.user_id)
    }
}

fn webhook_json(w: &Webhook) -> Value {
    json!({
        "id": webhook_id(w.id),
        "user_id": w.user_id,
        "url": w.url,
        "events": w.events,
        "enabled": w.enabled,
        "created_at": w.created_at,
        "disabled_at": w.disabled_at,
        "disabled_reason": w.disabled_reason,
        "failing_since": w.failing_since,
        "last_status": w.last_status,
        "last_error": w.last_error,
        "last_attempt_at": w.last_attempt_at,
        "last_success_at": w.last_success_at,
        "pending_deliveries": w.pending,
    })
}

fn delivery_json(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "webhook_id": webhook_id(d.webhook_id),
        "event_id": d.event_id,
        "event": d.event,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": (d.status == "pending").then_some(&d.next_attempt_at),
        "last_status": d.last_status,
        "last_error": d.last_error,
        "last_attempt_at": d.last_attempt_at,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: Option<bool>,
}

async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(q): Query<ListQuery>,
) -> Result<Response, DispoError> {
    let whose = if q.all == Some(true) && caller.is_admin() {
        None
    } else {
        Some(caller.user_id)
    };
    let hooks = state.gateway.webhooks(whose).await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "webhooks": hooks.iter().map(webhook_json).collect::<Vec<_>>(),
            "total": hooks.len(),
        }),
        "Webhooks retrieved",
    ))
}

async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(body): Body<Value>,
) -> Result<Response, DispoError> {
    let mut errors = Vec::new();
    let url = match body.get("url") {
        Some(Value::String(u)) if !u.trim().is_empty() => Some(u.trim().to_string()),
        other => {
            errors.push(FieldError::new("url", "An http(s) URL is required", other));
            None
        }
    };
    let events = match body.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let names: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            if names.len() != items.len()
                || names.iter().any(|n| !EVENT_NAMES.contains(&n.as_str()))
            {
                errors.push(FieldError::new(
                    "events",
                    format!("Must be a list of: {}", EVENT_NAMES.join(", ")),
                    items,
                ));
            }
            names
        }
        Some(other) => {
            errors.push(FieldError::new(
                "events",
                format!("Must be a list of: {}", EVENT_NAMES.join(", ")),
                other,
            ));
            Vec::new()
        }
    };
    let secret = match body.get("secret") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if (16..=200).contains(&s.len()) => Some(s.clone()),
        Some(other) => {
            errors.push(FieldError::new(
                "secret",
                "A secret of 16 to 200 characters, or none to have one generated",
                other,
            ));
            None
        }
    };
    let (Some(url), true) = (url, errors.is_empty()) else {
        return Err(DispoError::validation(errors));
    };
    let hook = state
        .gateway
        .create_webhook(NewWebhook {
            user_id: caller.user_id,
            url,
            events,
            secret,
        })
        .await?;
    let mut view = webhook_json(&hook);
    view["secret"] = json!(hook.secret);
    Ok(ok(
        StatusCode::CREATED,
        json!({ "webhook": view }),
        "Webhook created: store the secret now, it is not shown again",
    ))
}

async fn show(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, DispoError> {
    let hook = state
        .gateway
        .webhook(parse_id(&id)?, scope(&caller))
        .await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "webhook": webhook_json(&hook) }),
        "Webhook retrieved",
    ))
}

async fn remove(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, DispoError> {
    state
        .gateway
        .delete_webhook(parse_id(&id)?, scope(&caller))
        .await?;
    Ok(ok(StatusCode::OK, json!({}), "Webhook deleted"))
}

async fn test(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, DispoError> {
    let delivery = state
        .gateway
        .test_webhook(parse_id(&id)?, scope(&caller))
        .await?;
    Ok(ok(
        StatusCode::ACCEPTED,
        json!({ "delivery": delivery_json(&delivery) }),
        "Test delivery queued",
    ))
}

async fn enable(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
) -> Result<Response, DispoError> {
    let hook = state
        .gateway
        .enable_webhook(parse_id(&id)?, scope(&caller))
        .await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "webhook": webhook_json(&hook) }),
        "Webhook enabled",
    ))
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    #[serde(default)]
    limit: Option<i64>,
}

async fn deliveries(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(id): Path<String>,
    Query(q): Query<DeliveriesQuery>,
) -> Result<Response, DispoError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(DispoError::new(
            Code::Validation,
            "limit must be from 1 to 500",
        ));
    }
    let log = state
        .gateway
        .webhook_deliveries(parse_id(&id)?, scope(&caller), limit)
        .await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "deliveries": log.iter().map(delivery_json).collect::<Vec<_>>(),
            "total": log.len(),
        }),
        "Deliveries retrieved",
    ))
}
