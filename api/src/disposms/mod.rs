//! The DispoSMS seed (`../shared/seeds/disposms-api.md`), served under `/api`.
//!
//! - [`error`]: the seed's error envelope and codes, and the success envelope.
//! - [`extract`]: body, query and caller extractors answering in that envelope.
//! - [`views`]: the seed's JSON shapes of users, numbers, assignments and messages.
//!
//! Ids are the seed's strings: `assign_123`, `msg_456`; user ids are integers.

pub mod error;
pub mod extract;
pub mod views;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, patch, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use gateway::leases::{LeaseRefusal, MAX_LEASE_SECS};
use gateway::messages::MessageQuery;
use gateway::numbers::{normalize_country, AssignmentQuery, AvailableQuery};
use gateway::users::{NewUser, RefreshRefusal};
use gateway::{time, GatewayError};

use crate::AppState;
use error::{ok, Code, DispoError, FieldError};
use extract::{Auth, Body, OptionalBody, Query};
use views::{assignment_id, message_id, message_json, user_json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/profile", get(profile))
        .route("/numbers/available", get(available))
        .route("/numbers/assign", post(assign))
        .route("/numbers/my", get(my_numbers))
        .route("/numbers/{assignment_id}/extend", post(extend))
        .route("/numbers/{assignment_id}", axum::routing::delete(release))
        .route("/messages", get(list_messages))
        .route("/messages/read-all", patch(mark_all_read))
        .route("/messages/{message_id}", get(one_message))
        .route("/messages/{message_id}/read", patch(mark_read))
}

type Result<T = Response> = std::result::Result<T, DispoError>;

const MIN_PASSWORD: usize = 8;

fn str_field<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body.get(field).and_then(Value::as_str)
}

fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
        && email.len() <= 254
}

async fn register(State(state): State<AppState>, Body(body): Body<Value>) -> Result {
    if crate::sms_auth::is_phone_shaped(&body) {
        return Ok(crate::sms_auth::register(state, body).await);
    }
    let email = str_field(&body, "email").map(str::trim);
    let password = str_field(&body, "password");
    let mut errors = Vec::new();
    match email {
        None => errors.push(FieldError::new("email", "Email is required", Value::Null)),
        Some(e) if !plausible_email(e) => {
            errors.push(FieldError::new("email", "Invalid email format", e))
        }
        _ => {}
    }
    match password {
        None => errors.push(FieldError::new(
            "password",
            "Password is required",
            Value::Null,
        )),
        Some(p) if p.chars().count() < MIN_PASSWORD => errors.push(FieldError::new(
            "password",
            format!("Password must be at least {MIN_PASSWORD} characters"),
            p,
        )),
        _ => {}
    }
    for name in ["first_name", "last_name"] {
        if let Some(v) = body.get(name) {
            if !v.is_string() && !v.is_null() {
                errors.push(FieldError::new(name, "Must be a string", v));
            }
        }
    }
    let (Some(email), Some(password), true) = (email, password, errors.is_empty()) else {
        return Err(DispoError::validation(errors));
    };
    let hash = state
        .auth
        .hash_password(password.to_string())
        .await
        .map_err(|e| DispoError::new(Code::Internal, format!("Cannot hash the password: {e}")))?;
    let user = state
        .gateway
        .create_user(NewUser {
            email: Some(email.to_ascii_lowercase()),
            password_hash: Some(hash),
            first_name: str_field(&body, "first_name").map(String::from),
            last_name: str_field(&body, "last_name").map(String::from),
            ..NewUser::default()
        })
        .await
        .map_err(|e| match e {
            GatewayError::Conflict(_) => {
                DispoError::new(Code::Duplicate, "A user with this email already exists")
            }
            other => other.into(),
        })?;
    let tokens = issue_tokens(&state, &user, None).await?;
    Ok(ok(
        StatusCode::CREATED,
        json!({
            "user": user_json(&user, false),
            "access_token": tokens.0,
            "refresh_token": tokens.1,
            "expires_in": tokens.2,
        }),
        "User registered successfully",
    ))
}

/// Issues an access token and a refresh token (stored by its id for rotation).
async fn issue_tokens(
    state: &AppState,
    user: &gateway::model::User,
    family: Option<String>,
) -> Result<(String, String, i64)> {
    let pair = state.auth.issue(user, family);
    state
        .gateway
        .store_refresh_token(
            pair.refresh_jti,
            user.id,
            pair.family,
            pair.refresh_expires_at,
        )
        .await?;
    Ok((pair.access_token, pair.refresh_token, pair.expires_in))
}

async fn login(State(state): State<AppState>, Body(body): Body<Value>) -> Result {
    if crate::sms_auth::is_phone_shaped(&body) {
        return Ok(crate::sms_auth::login(state, body).await);
    }
    let (Some(email), Some(password)) = (str_field(&body, "email"), str_field(&body, "password"))
    else {
        let mut errors = Vec::new();
        if str_field(&body, "email").is_none() {
            errors.push(FieldError::new("email", "Email is required", Value::Null));
        }
        if str_field(&body, "password").is_none() {
            errors.push(FieldError::new(
                "password",
                "Password is required",
                Value::Null,
            ));
        }
        return Err(DispoError::validation(errors));
    };
    let refused = || DispoError::new(Code::AuthenticationRequired, "Invalid email or password");
    let user = state
        .gateway
        .user_by_email(email.trim())
        .await?
        .ok_or_else(refused)?;
    let hash = user.password_hash.clone().ok_or_else(refused)?;
    if !state.auth.verify_password(password.to_string(), hash).await {
        return Err(refused());
    }
    if !user.is_active {
        return Err(DispoError::new(
            Code::InsufficientPermissions,
            "This account is disabled",
        ));
    }
    let user = state.gateway.record_login(user.id).await?;
    let tokens = issue_tokens(&state, &user, None).await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "user": user_json(&user, true),
            "access_token": tokens.0,
            "refresh_token": tokens.1,
            "expires_in": tokens.2,
        }),
        "Login successful",
    ))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(State(state): State<AppState>, Body(body): Body<RefreshBody>) -> Result {
    let claims = state
        .auth
        .verify(&body.refresh_token, "refresh")
        .map_err(|_| {
            DispoError::new(
                Code::InvalidToken,
                "The refresh token is invalid or expired",
            )
        })?;
    let spent = state
        .gateway
        .spend_refresh_token(claims.jti.clone())
        .await?;
    let (user_id, family) = spent.map_err(|refusal| {
        let message = match refusal {
            RefreshRefusal::Reused => {
                "The refresh token was already used; every session of this login is revoked"
            }
            RefreshRefusal::Revoked => "The refresh token has been revoked",
            RefreshRefusal::Expired => "The refresh token has expired",
            RefreshRefusal::Unknown => "The refresh token is invalid",
        };
        DispoError::new(Code::InvalidToken, message)
    })?;
    let user = state
        .gateway
        .user_by_id(user_id)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| DispoError::new(Code::InvalidToken, "The token's user is not active"))?;
    let tokens = issue_tokens(&state, &user, Some(family)).await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "access_token": tokens.0,
            "refresh_token": tokens.1,
            "expires_in": tokens.2,
        }),
        "Token refreshed successfully",
    ))
}

async fn profile(State(state): State<AppState>, Auth(caller): Auth) -> Result {
    let user = state
        .gateway
        .user_by_id(caller.user_id)
        .await?
        .ok_or_else(|| DispoError::not_found("User"))?;
    let stats = state.gateway.user_stats(caller.user_id).await?;
    let mut user_view = user_json(&user, true);
    user_view["is_active"] = json!(user.is_active);
    user_view["email_verified"] = json!(user.email_verified);
    user_view["stats"] = json!({
        "total_assignments": stats.total_assignments,
        "active_assignments": stats.active_assignments,
        "total_messages": stats.total_messages,
        "unread_messages": stats.unread_messages,
    });
    Ok(ok(
        StatusCode::OK,
        json!({ "user": user_view }),
        "Profile retrieved",
    ))
}

/// Parses `page`/`limit` given as strings, so that `limit=abc` gets a field error.
fn paging(
    page: Option<&str>,
    limit: Option<&str>,
    default_limit: u32,
    max_limit: u32,
    errors: &mut Vec<FieldError>,
) -> (u32, u32) {
    let page = match page {
        None => 1,
        Some(p) => match p.parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => {
                errors.push(FieldError::new("page", "Must be a positive integer", p));
                1
            }
        },
    };
    let limit = match limit {
        None => default_limit,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=max_limit).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("Must be an integer from 1 to {max_limit}"),
                    l,
                ));
                default_limit
            }
        },
    };
    (page, limit)
}

#[derive(Deserialize)]
struct AvailableParams {
    country: Option<String>,
    limit: Option<String>,
    page: Option<String>,
}

async fn available(
    State(state): State<AppState>,
    Auth(_): Auth,
    Query(q): Query<AvailableParams>,
) -> Result {
    let mut errors = Vec::new();
    let (page, limit) = paging(q.page.as_deref(), q.limit.as_deref(), 10, 50, &mut errors);
    let country = match q.country.as_deref() {
        None | Some("") => None,
        Some(c) => match normalize_country(c) {
            Some(c) => Some(c),
            None => {
                errors.push(FieldError::new(
                    "country",
                    "Must be an ISO 3166 alpha-2 country code such as US or GB",
                    c,
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(DispoError::validation(errors));
    }
    let (numbers, total) = state
        .gateway
        .available_numbers(AvailableQuery {
            country,
            page,
            limit,
        })
        .await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "numbers": numbers.iter().map(views::number_json).collect::<Vec<_>>(),
            "total": total,
            "page": page,
            "limit": limit,
        }),
        "Available numbers retrieved",
    ))
}

const DEFAULT_DURATION: i64 = 3600;
const MAX_DURATION: i64 = 86_400;

async fn assign(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Body(body): Body<Value>,
) -> Result {
    let mut errors = Vec::new();
    let number = match body.get("number") {
        Some(Value::String(n)) if !n.trim().is_empty() => Some(n.trim().to_string()),
        Some(other) => {
            errors.push(FieldError::new(
                "number",
                "Must be a phone number in E.164 format",
                other,
            ));
            None
        }
        None => {
            errors.push(FieldError::new("number", "Number is required", Value::Null));
            None
        }
    };
    let duration = match body.get("duration") {
        None | Some(Value::Null) => DEFAULT_DURATION,
        Some(v) => match v.as_i64() {
            Some(d) if (1..=MAX_DURATION).contains(&d) => d,
            _ => {
                errors.push(FieldError::new(
                    "duration",
                    format!("Must be a whole number of seconds from 1 to {MAX_DURATION}"),
                    v,
                ));
                DEFAULT_DURATION
            }
        },
    };
    let Some(number) = number.filter(|_| errors.is_empty()) else {
        return Err(DispoError::validation(errors));
    };
    let assignment = state
        .gateway
        .assign_number(caller.user_id, number.clone(), duration)
        .await
        .map_err(|e| match e {
            GatewayError::NotFound(_) => DispoError::new(
                Code::NumberNotAvailable,
                format!("{number} is not a number of this service"),
            ),
            other => other.into(),
        })?;
    Ok(ok(
        StatusCode::CREATED,
        json!({ "assignment": views::assignment_json(&assignment) }),
        "Phone number assigned successfully",
    ))
}

#[derive(Deserialize)]
struct MyParams {
    status: Option<String>,
    page: Option<String>,
    limit: Option<String>,
}

async fn my_numbers(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(q): Query<MyParams>,
) -> Result {
    let mut errors = Vec::new();
    let (page, limit) = paging(q.page.as_deref(), q.limit.as_deref(), 20, 100, &mut errors);
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s @ ("active" | "expired" | "released")) => Some(s.to_string()),
        Some(other) => {
            errors.push(FieldError::new(
                "status",
                "Must be one of active, expired, released",
                other,
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(DispoError::validation(errors));
    }
    let (assignments, total) = state
        .gateway
        .assignments(AssignmentQuery {
            user_id: caller.user_id,
            status,
            page,
            limit,
        })
        .await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "assignments": assignments.iter().map(views::my_assignment_json).collect::<Vec<_>>(),
            "total": total,
            "page": page,
            "limit": limit,
        }),
        "Assignments retrieved",
    ))
}

#[derive(Deserialize)]
struct MessageParams {
    number: Option<String>,
    assignment_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    is_read: Option<String>,
    from_date: Option<String>,
    to_date: Option<String>,
    page: Option<String>,
    limit: Option<String>,
    sort: Option<String>,
}

async fn list_messages(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(q): Query<MessageParams>,
) -> Result {
    let mut errors = Vec::new();
    let (page, limit) = paging(q.page.as_deref(), q.limit.as_deref(), 50, 200, &mut errors);
    let assignment = q
        .assignment_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|a| {
            let parsed = assignment_id(a);
            if parsed.is_none() {
                errors.push(FieldError::new(
                    "assignment_id",
                    "Unknown assignment id format",
                    a,
                ));
            }
            parsed
        });
    let kind = q.kind.as_deref().filter(|s| !s.is_empty()).and_then(|k| {
        if gateway::otp::MessageType::parse(k).is_some() {
            Some(k.to_string())
        } else {
            errors.push(FieldError::new(
                "type",
                "Must be one of otp, verification, notification, other",
                k,
            ));
            None
        }
    });
    let is_read = q
        .is_read
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|r| match r {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            other => {
                errors.push(FieldError::new("is_read", "Must be true or false", other));
                None
            }
        });
    let mut date = |field: &str, v: Option<&str>| {
        v.filter(|s| !s.is_empty())
            .and_then(|s| match time::parse_iso(s) {
                Some(t) => Some(time::iso(t)),
                None => {
                    errors.push(FieldError::new(
                        field,
                        "Must be an ISO 8601 date or date-time",
                        s,
                    ));
                    None
                }
            })
    };
    let from_date = date("from_date", q.from_date.as_deref());
    let to_date = date("to_date", q.to_date.as_deref());
    let oldest_first = match q.sort.as_deref() {
        None | Some("") | Some("newest") => false,
        Some("oldest") => true,
        Some(other) => {
            errors.push(FieldError::new("sort", "Must be newest or oldest", other));
            false
        }
    };
    if !errors.is_empty() {
        return Err(DispoError::validation(errors));
    }
    let result = state
        .gateway
        .messages(MessageQuery {
            user_id: Some(caller.user_id),
            number: q.number.filter(|n| !n.is_empty()),
            assignment_id: assignment,
            kind,
            is_read,
            from_date,
            to_date,
            page,
            limit,
            oldest_first,
        })
        .await?;
    #[derive(serde::Serialize)]
    struct Page<'a> {
        limit: u32,
        messages: Vec<views::MessageJson<'a>>,
        page: u32,
        total: i64,
        unread_count: i64,
    }
    Ok(ok(
        StatusCode::OK,
        Page {
            limit,
            messages: result.messages.iter().map(views::message_view).collect(),
            page,
            total: result.total,
            unread_count: result.unread_count,
        },
        "Messages retrieved",
    ))
}

fn parse_message_id(raw: &str) -> Result<i64> {
    message_id(raw).ok_or_else(|| DispoError::not_found("Message"))
}

async fn one_message(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
) -> Result {
    let id = parse_message_id(&raw)?;
    let message = state.gateway.message(id, Some(caller.user_id)).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "message": message_json(&message) }),
        "Message retrieved",
    ))
}

async fn mark_read(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
) -> Result {
    let id = parse_message_id(&raw)?;
    let read_at = state.gateway.mark_read(id, Some(caller.user_id)).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "message_id": views::msg_id(id), "is_read": true, "read_at": read_at }),
        "Message marked as read",
    ))
}

/// `POST /auth/logout`: ends the login the access token belongs to (its refresh
/// family: every refresh token, and every access token of it, stops working). A
/// `refresh_token` in the body ends that token's login instead, so a client whose
/// access token has expired can still log out.
///
/// The answer carries `message: "Logged out successfully"`, which is also the whole
/// answer the SMS Auth seed documents for the same path (issue 7 shares this handler:
/// its requests carry no `refresh_token`, and a `phone` in the body marks them).
async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    OptionalBody(body): OptionalBody<Value>,
) -> Result {
    if crate::sms_auth::is_phone_token(&headers) {
        return Ok(crate::sms_auth::logout(state, headers).await);
    }
    let refresh = body
        .as_ref()
        .and_then(|b| b.get("refresh_token"))
        .map(|v| {
            v.as_str()
                .map(String::from)
                .ok_or_else(|| DispoError::field("refresh_token", "Must be a string", v.clone()))
        })
        .transpose()?;
    let (user_id, family) = if let Some(token) = refresh {
        let claims = state.auth.verify(&token, "refresh").map_err(|_| {
            DispoError::new(
                Code::InvalidToken,
                "The refresh token is invalid or expired",
            )
        })?;
        (claims.user_id(), claims.fam)
    } else {
        let Some(token) = crate::auth::bearer(&headers) else {
            return Err(DispoError::new(
                Code::AuthenticationRequired,
                "Valid authentication token required",
            ));
        };
        let claims = state.auth.verify(token, "access").map_err(|e| {
            DispoError::new(Code::InvalidToken, format!("The token is invalid: {e}"))
        })?;
        (claims.user_id(), claims.fam)
    };
    state.gateway.revoke_refresh_family(family).await?;
    let now = time::now_iso();
    Ok(ok(
        StatusCode::OK,
        json!({ "user_id": user_id, "logged_out_at": now }),
        "Logged out successfully",
    ))
}

fn parse_assignment_id(raw: &str) -> Result<i64> {
    assignment_id(raw).ok_or_else(|| DispoError::not_found("Assignment"))
}

fn lease_refused(refusal: LeaseRefusal, requested: i64) -> DispoError {
    match refusal {
        LeaseRefusal::NotFound => DispoError::not_found("Assignment"),
        LeaseRefusal::Expired => {
            DispoError::new(Code::AssignmentExpired, "Phone number assignment has expired")
        }
        LeaseRefusal::Released => DispoError::new(
            Code::AssignmentExpired,
            "Phone number assignment has been released",
        ),
        LeaseRefusal::TooLong { max_extra_secs } => DispoError::field(
            "duration",
            format!(
                "An assignment may run at most {MAX_LEASE_SECS} seconds from now: at most {max_extra_secs} more seconds can be added"
            ),
            requested,
        ),
    }
}

/// `POST /numbers/{assignment_id}/extend`: adds `duration` seconds to the lease's end.
/// The seed says only that `duration` is required; the limit is the one an assignment
/// has when it is made: it may end at most 86400 s from now.
async fn extend(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
    Body(body): Body<Value>,
) -> Result {
    let id = parse_assignment_id(&raw)?;
    let duration = match body.get("duration") {
        None | Some(Value::Null) => {
            return Err(DispoError::field(
                "duration",
                "Duration is required",
                Value::Null,
            ))
        }
        Some(v) => match v.as_i64() {
            Some(d) if (1..=MAX_DURATION).contains(&d) => d,
            _ => {
                return Err(DispoError::field(
                    "duration",
                    format!("Must be a whole number of seconds from 1 to {MAX_DURATION}"),
                    v,
                ))
            }
        },
    };
    let extended = state
        .gateway
        .extend_assignment(id, Some(caller.user_id), duration)
        .await?
        .map_err(|r| lease_refused(r, duration))?;
    Ok(ok(
        StatusCode::OK,
        json!({ "assignment": {
            "id": views::assign_id(extended.assignment.id),
            "number": extended.assignment.number,
            "expires_at": extended.assignment.expires_at,
            "extended_duration": extended.extended_by,
        }}),
        "Assignment extended successfully",
    ))
}

/// `DELETE /numbers/{assignment_id}`: ends the lease now; the number is free again and
/// `assignment_status` (`released`, previously `active`) goes to the user's rooms.
async fn release(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Path(raw): Path<String>,
) -> Result {
    let id = parse_assignment_id(&raw)?;
    let released = state
        .gateway
        .release_assignment(id, Some(caller.user_id))
        .await?
        .map_err(|r| lease_refused(r, 0))?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "assignment_id": views::assign_id(released.assignment_id),
            "released_at": released.released_at,
        }),
        "Phone number released successfully",
    ))
}

/// `PATCH /messages/read-all`: marks the assignment's unread messages read. The seed's
/// body names an `assignment_id`; without one (or without a body) every unread message
/// of the caller is marked, and `assignment_id` is `null` in the answer.
async fn mark_all_read(
    State(state): State<AppState>,
    Auth(caller): Auth,
    OptionalBody(body): OptionalBody<Value>,
) -> Result {
    let assignment = match body.as_ref().and_then(|b| b.get("assignment_id")) {
        None | Some(Value::Null) => None,
        Some(v) => {
            let raw = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            match assignment_id(&raw) {
                Some(id) => Some(id),
                None => {
                    return Err(DispoError::field(
                        "assignment_id",
                        "Must be an assignment id such as assign_123",
                        v,
                    ))
                }
            }
        }
    };
    if let Some(b) = &body {
        if !b.is_object() {
            return Err(DispoError::new(
                Code::Validation,
                "The body must be a JSON object",
            ));
        }
    }
    let (marked, at) = state
        .gateway
        .mark_all_read(caller.user_id, assignment)
        .await?;
    Ok(ok(
        StatusCode::OK,
        json!({
            "assignment_id": assignment.map(views::assign_id),
            "marked_count": marked,
            "marked_at": at,
        }),
        "All messages marked as read",
    ))
}
