//! The box's own admin API under `/api/admin`. Every route takes the [`Admin`]
//! extractor, so the role check lives in one place.
//!
//! `POST /api/admin/emulator/sms`: the emulated modem holding `to` receives an SMS
//! exactly as a real one would (encoded, split into parts, stored on its SIM, `+CMTI`).

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
    Router::new().route("/admin/emulator/sms", post(inject_sms))
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
}
