//! The DispoSMS error envelope:
//! `{"success": false, "error": {"code", "message", "details"}, "timestamp"}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use gateway::{time, GatewayError};

/// The seed's error codes, each with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Validation,
    AuthenticationRequired,
    InvalidToken,
    InsufficientPermissions,
    NotFound,
    Duplicate,
    RateLimited,
    NumberNotAvailable,
    AssignmentExpired,
    Provider,
    Internal,
    /// 413 (the seed has no code for it): `VALIDATION_ERROR`.
    PayloadTooLarge,
    /// 405 (the seed has no code for it): `VALIDATION_ERROR`.
    MethodNotAllowed,
    /// 503, e.g. a request that ran past its timeout: `INTERNAL_ERROR`.
    Unavailable,
}

impl Code {
    pub fn parts(self) -> (StatusCode, &'static str) {
        match self {
            Code::Validation => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            Code::AuthenticationRequired => (StatusCode::UNAUTHORIZED, "AUTHENTICATION_REQUIRED"),
            Code::InvalidToken => (StatusCode::UNAUTHORIZED, "INVALID_TOKEN"),
            Code::InsufficientPermissions => (StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS"),
            Code::NotFound => (StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND"),
            Code::Duplicate => (StatusCode::CONFLICT, "DUPLICATE_RESOURCE"),
            Code::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED"),
            Code::NumberNotAvailable => (StatusCode::UNPROCESSABLE_ENTITY, "NUMBER_NOT_AVAILABLE"),
            Code::AssignmentExpired => (StatusCode::UNPROCESSABLE_ENTITY, "ASSIGNMENT_EXPIRED"),
            Code::Provider => (StatusCode::INTERNAL_SERVER_ERROR, "PROVIDER_ERROR"),
            Code::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
            Code::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "VALIDATION_ERROR"),
            Code::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "VALIDATION_ERROR"),
            Code::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "INTERNAL_ERROR"),
        }
    }
}

#[derive(Debug)]
pub struct DispoError {
    pub code: Code,
    pub message: String,
    pub details: Value,
}

/// One field that failed validation, as `details.errors` lists them.
#[derive(Debug, Clone, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub value: Value,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>, value: impl Serialize) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
            value: serde_json::to_value(value).unwrap_or(Value::Null),
        }
    }
}

impl DispoError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        DispoError {
            code,
            message: message.into(),
            details: json!({}),
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        DispoError {
            code: Code::Validation,
            message: "Request validation failed".into(),
            details: json!({ "errors": errors }),
        }
    }

    pub fn field(field: &str, message: impl Into<String>, value: impl Serialize) -> Self {
        Self::validation(vec![FieldError::new(field, message, value)])
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("{what} not found"))
    }
}

impl From<GatewayError> for DispoError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::NotFound(what) => DispoError::not_found(&capitalize(what)),
            GatewayError::Conflict(m) => DispoError::new(Code::Duplicate, m),
            GatewayError::NotAvailable(m) => DispoError::new(Code::NumberNotAvailable, m),
            GatewayError::Invalid(m) => DispoError::new(Code::Validation, m),
            GatewayError::Store(e) => {
                tracing::error!("storage error behind a DispoSMS request: {e}");
                DispoError::new(Code::Internal, "An unexpected error occurred")
            }
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl IntoResponse for DispoError {
    fn into_response(self) -> Response {
        let (status, code) = self.code.parts();
        let body = json!({
            "success": false,
            "error": { "code": code, "message": self.message, "details": self.details },
            "timestamp": time::now_iso(),
        });
        (status, Json(body)).into_response()
    }
}

/// The success envelope: `{"success": true, "data", "message", "timestamp"}`.
pub fn ok(status: StatusCode, data: impl serde::Serialize, message: &str) -> Response {
    /// The success envelope, keys in the order `json!` would give them.
    #[derive(serde::Serialize)]
    struct Envelope<'a, T> {
        data: T,
        message: &'a str,
        success: bool,
        timestamp: String,
    }
    let body = Envelope {
        data,
        message,
        success: true,
        timestamp: time::now_iso(),
    };
    (status, Json(body)).into_response()
}
