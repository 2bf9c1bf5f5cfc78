//! The box's own admin API under `/api/admin`. Every route takes the [`Admin`]
//! extractor, so the role check lives in one place.
//!
//! - `POST /api/admin/emulator/sms`: the emulated modem holding `to` receives an SMS
//!   exactly as a real one would (encoded, split into parts, stored on its SIM, `+CMTI`).
//! - `POST /api/admin/notifications` `{type, title, message, severity}`: a Socket.IO
//!   `system_notification` to every connected client (DispoSMS shape, with `timestamp`).
//!   Live only: a client that is not connected does not get it later.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::disposms::error::{ok, Code, DispoError, FieldError};
use crate::disposms::extract::{Admin, Body};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/emulator/sms", post(inject_sms))
        .route("/admin/notifications", post(notify))
}

/// What to inject: a text from a sender, or raw SMS-DELIVER PDUs.
enum Injection {
    Text { from: String, text: String },
    Pdus(Vec<String>),
}

fn parse_injection(body: &Value) -> Result<(String, Injection), DispoError> {
    let mut errors = Vec::new();
    let to = match body.get("to").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
        _ => {
            errors.push(FieldError::new(
                "to",
                "The number of an emulated SIM is required",
                body.get("to"),
            ));
            None
        }
    };
    let injection = match (body.get("pdus"), body.get("text")) {
        (Some(pdus), None) => match pdus.as_array() {
            Some(list) if !list.is_empty() => {
                let hexes: Option<Vec<String>> =
                    list.iter().map(|p| p.as_str().map(String::from)).collect();
                match hexes {
                    Some(h) => Some(Injection::Pdus(h)),
                    None => {
                        errors.push(FieldError::new(
                            "pdus",
                            "Every PDU must be a hex string",
                            pdus,
                        ));
                        None
                    }
                }
            }
            _ => {
                errors.push(FieldError::new(
                    "pdus",
                    "Must be a non-empty list of hex strings",
                    pdus,
                ));
                None
            }
        },
        (None, Some(text)) => {
            let from = body.get("from").and_then(Value::as_str).map(str::trim);
            match (from, text.as_str()) {
                (Some(f), Some(t)) if !f.is_empty() => Some(Injection::Text {
                    from: f.to_string(),
                    text: t.to_string(),
                }),
                (f, t) => {
                    if f.is_none_or(str::is_empty) {
                        errors.push(FieldError::new(
                            "from",
                            "A sender number or alphanumeric sender is required",
                            body.get("from"),
                        ));
                    }
                    if t.is_none() {
                        errors.push(FieldError::new("text", "Must be a string", text));
                    }
                    None
                }
            }
        }
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "pdus",
                "Give either text or pdus, not both",
                Value::Null,
            ));
            None
        }
        (None, None) => {
            errors.push(FieldError::new(
                "text",
                "Either text (with from) or pdus is required",
                Value::Null,
            ));
            None
        }
    };
    match (to, injection, errors.is_empty()) {
        (Some(to), Some(inj), true) => Ok((to, inj)),
        _ => Err(DispoError::validation(errors)),
    }
}

async fn inject_sms(
    State(state): State<AppState>,
    Admin(_): Admin,
    Body(body): Body<Value>,
) -> Result<Response, DispoError> {
    let (to, injection) = parse_injection(&body)?;
    let Some(emulator) = state.gateway.emulator_for(&to).await else {
        return Err(DispoError::new(
            Code::NotFound,
            format!("No emulated modem holds {to}"),
        ));
    };
    let result = match injection {
        Injection::Text { from, text } => emulator.deliver_text(&from, &text).await,
        Injection::Pdus(pdus) => emulator.deliver_pdus(pdus).await,
    };
    let indices = result.map_err(|e| DispoError::new(Code::Validation, e.to_string()))?;
    Ok(ok(
        StatusCode::ACCEPTED,
        json!({ "to": to, "sim_indices": indices, "parts": indices.len() }),
        "SMS delivered to the emulated modem",
    ))
}

const SEVERITIES: &[&str] = &["info", "warning", "error", "critical"];

/// Validates a notification; returns the payload `system_notification` carries.
fn parse_notification(body: &Value) -> Result<Value, DispoError> {
    let mut errors = Vec::new();
    let mut text = |field: &str, required: bool, max: usize| -> Option<String> {
        match body.get(field) {
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
                Some(s.trim().to_string())
            }
            None | Some(Value::Null) if !required => None,
            other => {
                errors.push(FieldError::new(
                    field,
                    format!("A text of 1 to {max} characters is required"),
                    other,
                ));
                None
            }
        }
    };
    let kind = text("type", false, 50).unwrap_or_else(|| "announcement".into());
    let title = text("title", true, 200);
    let message = text("message", true, 2000);
    let severity = match body.get("severity") {
        None | Some(Value::Null) => "info".to_string(),
        Some(Value::String(s)) if SEVERITIES.contains(&s.as_str()) => s.clone(),
        Some(other) => {
            errors.push(FieldError::new(
                "severity",
                "Must be one of info, warning, error, critical",
                other,
            ));
            String::new()
        }
    };
    match (title, message, errors.is_empty()) {
        (Some(title), Some(message), true) => Ok(json!({
            "type": kind,
            "title": title,
            "message": message,
            "severity": severity,
            "timestamp": gateway::time::now_iso(),
        })),
        _ => Err(DispoError::validation(errors)),
    }
}

async fn notify(
    State(state): State<AppState>,
    Admin(_): Admin,
    Body(body): Body<Value>,
) -> Result<Response, DispoError> {
    let payload = parse_notification(&body)?;
    let recipients = state.io.sockets().len();
    state
        .io
        .emit("system_notification", &payload)
        .await
        .map_err(|e| DispoError::new(Code::Internal, format!("Cannot broadcast: {e}")))?;
    Ok(ok(
        StatusCode::OK,
        json!({ "notification": payload, "recipients": recipients }),
        "Notification sent",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injections_are_validated_field_by_field() {
        assert!(matches!(
            parse_injection(&json!({"to": "+1555", "from": "WhatsApp", "text": "hi"})),
            Ok((_, Injection::Text { .. }))
        ));
        assert!(matches!(
            parse_injection(&json!({"to": "+1555", "pdus": ["00"]})),
            Ok((_, Injection::Pdus(_)))
        ));
        for bad in [
            json!({}),
            json!({"to": "+1555"}),
            json!({"to": "+1555", "text": "no sender"}),
            json!({"to": "+1555", "pdus": []}),
            json!({"to": "+1555", "pdus": [1]}),
            json!({"from": "x", "text": "no to"}),
            json!({"to": "+1555", "from": "x", "text": "a", "pdus": ["00"]}),
        ] {
            let err = parse_injection(&bad).err().expect("must be refused");
            assert_eq!(err.code, Code::Validation, "{bad}");
        }
    }

    #[test]
    fn notifications_need_a_title_and_a_message() {
        let n = parse_notification(&json!({"title": "T", "message": "M"})).expect("valid");
        assert_eq!(n["severity"], "info");
        assert_eq!(n["type"], "announcement");
        for bad in [
            json!({"message": "M"}),
            json!({"title": "T"}),
            json!({"title": "T", "message": "M", "severity": "loud"}),
            json!({"title": 1, "message": "M"}),
        ] {
            assert!(parse_notification(&bad).is_err(), "{bad}");
        }
    }
}
