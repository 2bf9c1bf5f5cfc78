//! Extractors that answer bad input in the DispoSMS envelope instead of axum's plain
//! text: a JSON body, a query string, and the caller (access token or API key).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::{Code, DispoError};
use crate::auth::{api_key, bearer, resolve_api_key, Caller, Claims, TokenError};
use crate::AppState;

/// A JSON body; a malformed one is a `VALIDATION_ERROR` naming what is wrong.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = DispoError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> DispoError {
    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return DispoError::new(Code::PayloadTooLarge, "The request body is too large");
    }
    let message = match &rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "Content-Type must be application/json".to_string()
        }
        JsonRejection::JsonSyntaxError(e) => {
            format!("The body is not valid JSON: {}", e.body_text())
        }
        JsonRejection::JsonDataError(e) => format!("The body has a wrong field: {}", e.body_text()),
        other => other.body_text(),
    };
    DispoError::new(Code::Validation, message)
}

/// A query string; a malformed one is a `VALIDATION_ERROR`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = DispoError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(DispoError::new(
                Code::Validation,
                format!("Invalid query parameters: {}", e.body_text()),
            )),
            Err(e) => Err(DispoError::new(Code::Validation, e.body_text())),
        }
    }
}

/// A JSON body that may be absent altogether (no body, no content type): `None`.
pub struct OptionalBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = DispoError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared_empty = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
        let no_body = declared_empty
            || (req
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .is_none()
                && !req
                    .headers()
                    .contains_key(axum::http::header::TRANSFER_ENCODING)
                && !req
                    .headers()
                    .contains_key(axum::http::header::CONTENT_LENGTH));
        if no_body {
            return Ok(OptionalBody(None));
        }
        let Body(v) = Body::<T>::from_request(req, state).await?;
        Ok(OptionalBody(Some(v)))
    }
}

/// Access-token claims already verified by the rate limiter for this request, so
/// the signature is checked once.
#[derive(Clone)]
pub struct VerifiedClaims(pub Claims);

/// The caller, from `X-API-Key: <key>` or `Authorization: Bearer <access token>`
/// (a bearer value that is an API key is accepted too).
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = DispoError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(key) = api_key(&parts.headers) {
            let caller = resolve_api_key(&state.gateway, key)
                .await
                .map_err(|e| DispoError::new(Code::InvalidToken, e))?;
            return Ok(Auth(caller));
        }
        let Some(token) = bearer(&parts.headers) else {
            return Err(DispoError::new(
                Code::AuthenticationRequired,
                "Valid authentication token required",
            ));
        };
        let claims = match parts.extensions.get::<VerifiedClaims>() {
            Some(VerifiedClaims(c)) => c.clone(),
            None => state.auth.verify(token, "access").map_err(|e| match e {
                TokenError::Expired => DispoError::new(Code::InvalidToken, "The token has expired"),
                TokenError::Invalid => DispoError::new(Code::InvalidToken, "The token is invalid"),
            })?,
        };
        let caller = state
            .caller(claims)
            .await
            .map_err(|e| DispoError::new(Code::InvalidToken, e))?;
        Ok(Auth(caller))
    }
}

/// The caller, who must be an admin.
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = DispoError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Auth(caller) = Auth::from_request_parts(parts, state).await?;
        if !caller.is_admin() {
            return Err(DispoError::new(
                Code::InsufficientPermissions,
                "This action needs the admin role",
            ));
        }
        Ok(Admin(caller))
    }
}
