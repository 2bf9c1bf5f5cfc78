//! The SMS Auth seed (`../shared/seeds/sms-auth-api.md`): phone + password sign-up,
//! sign-in with a one-time code sent to the phone, `"<id>|<secret>"` bearer tokens.
//!
//! `register`, `login` and `logout` share their paths with DispoSMS: its handlers
//! delegate here when the body is phone-shaped ([`is_phone_shaped`]) or the bearer
//! token is one of ours ([`is_phone_token`]). `verify-otp`, `resend-otp` and `user`
//! are served by [`router`]. Envelope: `{message}` or `{message, errors: {field: [..]}}`;
//! the limits answer 429 with `Retry-After`. The rules live in `gateway::phone_auth`.

// Handlers answer early with a ready `Response` as the error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use gateway::phone_auth::{normalize_phone, PhoneUser, SendRefusal, VerifyRefusal};
use gateway::users::NewUser;
use gateway::GatewayError;

use crate::AppState;

const MIN_PASSWORD: usize = 6;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/verify-otp", post(verify_otp))
        .route("/auth/resend-otp", post(resend_otp))
        .route("/auth/user", get(user))
}

/// A body with `phone` and no `email` belongs to this seed.
pub fn is_phone_shaped(body: &Value) -> bool {
    body.get("phone").is_some() && body.get("email").is_none()
}

/// A bearer token of this seed: `<digits>|<secret>` (a JWT never holds `|`).
pub fn is_phone_token(headers: &HeaderMap) -> bool {
    crate::auth::bearer(headers)
        .and_then(|t| t.split_once('|'))
        .is_some_and(|(id, _)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "message": text }))).into_response()
}

fn validation(errors: Map<String, Value>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "message": "Validation failed", "errors": errors })),
    )
        .into_response()
}

fn field_error(field: &str, text: &str) -> Response {
    let mut errors = Map::new();
    errors.insert(field.into(), json!([text]));
    validation(errors)
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("sms auth: {e}");
    message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
}

fn body_of(body: Result<Json<Value>, JsonRejection>) -> Result<Value, Response> {
    match body {
        Ok(Json(v)) if v.is_object() => Ok(v),
        Ok(_) => Err(field_error("body", "The body must be a JSON object.")),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(message(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large",
        )),
        Err(e) => Err(field_error("body", &e.body_text())),
    }
}

/// The `phone` field normalised, or the text of its validation error.
fn phone_check(state: &AppState, body: &Value) -> Result<String, String> {
    match body.get("phone") {
        None | Some(Value::Null) => Err("The phone field is required.".into()),
        Some(Value::String(p)) => normalize_phone(p, &state.config.sms_auth.default_region),
        Some(_) => Err("The phone must be a string.".into()),
    }
}

/// The `phone` field normalised, or its 422.
fn phone_field(state: &AppState, body: &Value) -> Result<String, Response> {
    phone_check(state, body).map_err(|e| field_error("phone", &e))
}

/// Each limit with its own message, 429 and `Retry-After`.
fn refusal(state: &AppState, r: SendRefusal) -> Response {
    let c = &state.config.sms_auth;
    let (text, retry) = match r {
        SendRefusal::TooSoon { retry_after_secs } => (
            format!("Please wait {retry_after_secs} seconds before requesting another OTP."),
            retry_after_secs,
        ),
        SendRefusal::HourlyLimit { retry_after_secs } => (
            format!(
                "Too many OTP requests for this phone: at most {} SMS per hour. Try again later.",
                c.max_per_hour
            ),
            retry_after_secs,
        ),
        SendRefusal::DailyLimit { retry_after_secs } => (
            format!(
                "Too many OTP requests for this phone: at most {} SMS per day. Try again tomorrow.",
                c.max_per_day
            ),
            retry_after_secs,
        ),
    };
    let mut resp = message(StatusCode::TOO_MANY_REQUESTS, &text);
    if let Ok(v) = retry.to_string().parse() {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

async fn send_code(state: &AppState, phone: &str, user_id: i64) -> Result<(), Response> {
    match state
        .gateway
        .send_phone_otp(phone, Some(user_id), &state.config.sms_auth)
        .await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(r)) => Err(refusal(state, r)),
        Err(e) => Err(internal(e)),
    }
}

fn user_view(u: &PhoneUser) -> Value {
    json!({
        "id": u.id,
        "phone": u.phone,
        "phone_verified_at": u.phone_verified_at,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

/// `POST /api/auth/register` with `{phone, password}`.
pub async fn register(state: AppState, body: Value) -> Response {
    let mut errors = Map::new();
    let phone = match phone_check(&state, &body) {
        Ok(p) => Some(p),
        Err(text) => {
            errors.insert("phone".into(), json!([text]));
            None
        }
    };
    let password = match body.get("password") {
        None | Some(Value::Null) => {
            errors.insert(
                "password".into(),
                json!(["The password field is required."]),
            );
            None
        }
        Some(Value::String(p)) if p.chars().count() < MIN_PASSWORD => {
            errors.insert(
                "password".into(),
                json!([format!(
                    "The password must be at least {MIN_PASSWORD} characters."
                )]),
            );
            None
        }
        Some(Value::String(p)) => Some(p.clone()),
        Some(_) => {
            errors.insert("password".into(), json!(["The password must be a string."]));
            None
        }
    };
    if let Some(p) = &phone {
        match state.gateway.user_by_phone(p).await {
            Ok(Some(_)) => {
                errors.insert("phone".into(), json!(["The phone has already been taken."]));
            }
            Ok(None) => {}
            Err(e) => return internal(e),
        }
    }
    let (Some(phone), Some(password), true) = (phone, password, errors.is_empty()) else {
        return validation(errors);
    };
    let hash = match state.auth.hash_password(password).await {
        Ok(h) => h,
        Err(e) => return internal(e),
    };
    let user = match state
        .gateway
        .create_user(NewUser {
            phone: Some(phone.clone()),
            password_hash: Some(hash),
            ..NewUser::default()
        })
        .await
    {
        Ok(u) => u,
        Err(GatewayError::Conflict(_)) => {
            return field_error("phone", "The phone has already been taken.")
        }
        Err(e) => return internal(e),
    };
    if let Err(resp) = send_code(&state, &phone, user.id).await {
        return resp;
    }
    (
        StatusCode::CREATED,
        Json(json!({
            "message": "Registration successful. OTP sent to your phone.",
            "user_id": user.id,
        })),
    )
        .into_response()
}

/// `POST /api/auth/login` with `{phone}`.
pub async fn login(state: AppState, body: Value) -> Response {
    let phone = match phone_field(&state, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let user = match state.gateway.user_by_phone(&phone).await {
        Ok(Some(u)) if u.is_active => u,
        Ok(_) => return message(StatusCode::NOT_FOUND, "User not found"),
        Err(e) => return internal(e),
    };
    if let Err(resp) = send_code(&state, &phone, user.id).await {
        return resp;
    }
    message(StatusCode::OK, "OTP sent to your phone for verification.")
}

async fn resend_otp(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let body = match body_of(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let phone = match phone_field(&state, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let user = match state.gateway.user_by_phone(&phone).await {
        Ok(Some(u)) if u.is_active => u,
        Ok(_) => return message(StatusCode::NOT_FOUND, "User not found"),
        Err(e) => return internal(e),
    };
    if let Err(resp) = send_code(&state, &phone, user.id).await {
        return resp;
    }
    message(StatusCode::OK, "OTP resent successfully")
}

async fn verify_otp(
    State(state): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let body = match body_of(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let phone = phone_check(&state, &body);
    let otp = match body.get("otp") {
        None | Some(Value::Null) => Err("The otp field is required."),
        Some(Value::String(o)) if gateway::phone_auth::is_code_shaped(o) => Ok(o.clone()),
        Some(Value::String(_)) => Err("The otp must be 6 digits."),
        Some(_) => Err("The otp must be a string of 6 digits."),
    };
    let (phone, otp) = match (phone, otp) {
        (Ok(p), Ok(o)) => (p, o),
        (p, o) => {
            let mut errors = Map::new();
            if let Err(text) = p {
                errors.insert("phone".into(), json!([text]));
            }
            if let Err(text) = o {
                errors.insert("otp".into(), json!([text]));
            }
            return validation(errors);
        }
    };
    let verified = match state
        .gateway
        .verify_phone_otp(&phone, &otp, state.config.sms_auth.max_attempts)
        .await
    {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let user = match verified {
        Ok(u) => u,
        Err(VerifyRefusal::Invalid) => {
            return message(StatusCode::BAD_REQUEST, "Invalid or expired OTP")
        }
        Err(VerifyRefusal::TooManyAttempts) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Too many failed attempts for this OTP. Request a new one.",
            )
        }
    };
    let token = match state.gateway.issue_phone_token(user.id).await {
        Ok(t) => t,
        Err(e) => return internal(e),
    };
    (
        StatusCode::OK,
        Json(json!({
            "message": "Phone verified successfully",
            "user": user_view(&user),
            "token": token,
        })),
    )
        .into_response()
}

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<(i64, PhoneUser), Response> {
    let unauthenticated = || message(StatusCode::UNAUTHORIZED, "Unauthenticated.");
    let Some(token) = crate::auth::bearer(headers) else {
        return Err(unauthenticated());
    };
    match state.gateway.phone_token_user(token).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(unauthenticated()),
        Err(e) => Err(internal(e)),
    }
}

/// `POST /api/auth/logout` with a token of this seed: revokes it.
pub async fn logout(state: AppState, headers: HeaderMap) -> Response {
    let (token_id, _) = match caller(&state, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(e) = state.gateway.revoke_phone_token(token_id).await {
        return internal(e);
    }
    message(StatusCode::OK, "Logged out successfully")
}

async fn user(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match caller(&state, &headers).await {
        Ok((_, u)) => (StatusCode::OK, Json(user_view(&u))).into_response(),
        Err(r) => r,
    }
}
