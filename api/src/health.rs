//! `GET /api/health` in the NexNum seed's shape: 200 `{"status": "ok", "timestamp"}` as
//! soon as the box serves requests (scripts wait on it).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "timestamp": gateway::time::now_iso() }))
}
