//! The box's own account API (not in any seed), in the DispoSMS envelope:
//! a user's API keys for server-to-server clients.
//!
//! - `GET /api/account/api-keys`: the caller's keys (never the keys themselves).
//! - `POST /api/account/api-keys` `{name, expires_in_days?}`: 201 with the new key in
//!   `api_key.key`, shown this once; only its SHA-256 is stored. Needs a login token:
//!   an API key cannot mint more keys.
//! - `DELETE /api/account/api-keys/{key_id}`: revokes it at once.
//!
//! A key is sent as `X-API-Key: sgk_...` (or `Authorization: Bearer sgk_...`) wherever
//! an access token is accepted.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get};
use axum::Router;
use chrono::Duration;
use serde_json::{json, Value};

use gateway::api_keys::{ApiKey, NewApiKey};
use gateway::time;

use crate::auth::{api_key_hash, new_api_key, Credential};
use crate::disposms::error::{ok, Code, DispoError, FieldError};
use crate::disposms::extract::{Auth, Body};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/api-keys", get(list).post(create))
        .route("/account/api-keys/{key_id}", delete(revoke))
}

/// Shown in listings: enough of the key to recognise it.
const SHOWN_PREFIX: usize = 10;
const MAX_NAME: usize = 100;
const MAX_DAYS: i64 = 3650;

pub fn key_id(id: i64) -> String {
    format!("key_{id}")
}

fn parse_key_id(raw: &str) -> Option<i64> {
    raw.strip_prefix("key_")
        .unwrap_or(raw)
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
}

fn key_json(k: &ApiKey) -> Value {
    json!({
        "id": key_id(k.id),
        "name": k.name,
        "prefix": k.prefix,
        "created_at": k.created_at,
        "last_used_at": k.last_used_at,
        "expires_at": k.expires_at,
        "revoked_at": k.revoked_at,
        "is_active": k.revoked_at.is_none()
            && k.expires_at.as_deref().is_none_or(|e| e > time::now_iso().as_str()),
    })
}

async fn list(State(state): State<AppState>, Auth(caller): Auth) -> Result<Response, DispoError> {
    let keys = state.gateway.api_keys(caller.user_id).await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "api_keys": keys.iter().map(key_json).collect::<Vec<_>>(),
            "total": keys.len(),
        }),
        "API keys retrieved",
    ))
}

async fn create(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(body): Body<Value>,
) -> Result<Response, DispoError> {
    if matches!(caller.credential, Credential::ApiKey) {
        return Err(DispoError::new(
            Code::InsufficientPermissions,
            "API keys are created with a login token, not with another API key",
        ));
    }
    let mut errors = Vec::new();
    let name = match body.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() && n.chars().count() <= MAX_NAME => {
            Some(n.trim().to_string())
        }
        other => {
            errors.push(FieldError::new(
                "name",
                format!("A name of 1 to {MAX_NAME} characters is required"),
                other,
            ));
            None
        }
    };
    let expires_at = match body.get("expires_in_days") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(d) if (1..=MAX_DAYS).contains(&d) => {
                Some(time::iso(time::now() + Duration::days(d)))
            }
            _ => {
                errors.push(FieldError::new(
                    "expires_in_days",
                    format!("Must be a whole number of days from 1 to {MAX_DAYS}"),
                    v,
                ));
                None
            }
        },
    };
    let (Some(name), true) = (name, errors.is_empty()) else {
        return Err(DispoError::validation(errors));
    };
    let key = new_api_key();
    let stored = state
        .gateway
        .create_api_key(NewApiKey {
            user_id: caller.user_id,
            name,
            prefix: key.chars().take(SHOWN_PREFIX).collect(),
            key_hash: api_key_hash(&key),
            expires_at,
        })
        .await?;
    let mut view = key_json(&stored);
    view["key"] = json!(key);
    Ok(ok(
        StatusCode::CREATED,
        json!({ "api_key": view }),
        "API key created: store it now, it is not shown again",
    ))
}

async fn revoke(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
) -> Result<Response, DispoError> {
    let id = parse_key_id(&raw).ok_or_else(|| DispoError::not_found("API key"))?;
    let key = state.gateway.revoke_api_key(caller.user_id, id).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "api_key": key_json(&key) }),
        "API key revoked",
    ))
}
