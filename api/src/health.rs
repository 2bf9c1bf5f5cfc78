//! Health in the NexNum seed's shape.
//!
//! - `GET /api/health`: 200 `{"status": "ok", "timestamp"}` as soon as the box serves
//!   requests (scripts wait on it).
//! - `GET /api/health/ready`: the database answers a query, and each modem's state.
//!   200 `"status": "ready"` when the database works and, if any modem is configured,
//!   at least one is ready to receive; else 503 `"status": "not_ready"`. Either way
//!   `checks` says what was found.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "timestamp": gateway::time::now_iso() }))
}

async fn ready(State(state): State<AppState>) -> Response {
    let started = Instant::now();
    let db = state
        .gateway
        .store()
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))?))
        .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let database = match &db {
        Ok(_) => json!({ "status": "ok", "latency_ms": latency_ms }),
        Err(e) => json!({ "status": "error", "error": e.to_string() }),
    };
    let modems = state.gateway.modem_statuses().await;
    let any_ready = modems
        .iter()
        .any(|m| m.state == drivers::modem::ModemState::Ready);
    let modem_checks: Vec<Value> = modems
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "state": m.state,
                "ready": m.state == drivers::modem::ModemState::Ready,
                "number": m.number,
                "operator": m.operator,
                "signal_dbm": m.signal_dbm,
                "signal_bars": m.signal_bars,
                "last_error": m.last_error,
            })
        })
        .collect();
    let is_ready = db.is_ok() && (modems.is_empty() || any_ready);
    let status = if is_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if is_ready { "ready" } else { "not_ready" },
            "timestamp": gateway::time::now_iso(),
            "checks": { "database": database, "modems": modem_checks },
        })),
    )
        .into_response()
}
