//! Webhooks from cloud providers about the box's `[[provider]]` channels (no seed
//! covers them). Twilio's are the SMS Router seed's (`webhook/sms` for inbound texts,
//! `webhook/delivery-status` for status callbacks, see [`crate::sms_router`]); Vonage's
//! are here, each on `GET` (query) and `POST` (form, or JSON with `POST-JSON`), as
//! the Vonage dashboard offers them:
//!
//! - `/api/v1/providers/vonage/inbound`: an SMS to one of the account's numbers,
//!   stored through `gateway::inbound_text` like Twilio's (routed to a lease on the
//!   number, else to the sender's phone mapping; events), once per `messageId`: a
//!   replay answers 200 again and stores nothing. A long SMS comes one part per
//!   webhook (`concat=true`, `concat-ref`, `concat-total`, `concat-part`): each part
//!   is committed before its 200, and the part that completes the set stores the one
//!   message, joined in part order (`Gateway::accept_text_part`). Parts whose
//!   numbering is unusable are stored as messages of their own, answered `warning`
//!   (see [`vonage_inbound`]).
//! - `/api/v1/providers/vonage/dlr`: a delivery receipt for a message the box sent
//!   through Vonage: `delivered` makes the job delivered (every part), `expired`,
//!   `failed`, `rejected` undelivered; `accepted`, `buffered` change nothing.
//!
//! Every Vonage webhook must be signed (`sig`, `timestamp`) with the `signature_secret`
//! of a `[[provider]] kind = "vonage"` (the gateway's channel registry checks it,
//! `Gateway::verify_vonage_webhook`); unsigned, forged or stale: 401. Answers are JSON:
//! `{status: "success" | "warning", message, ...}`, errors in the SMS Router's
//! `{detail, error_code, status: "error", timestamp}`.

// Handlers answer early with a ready `Response` as the error; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use drivers::cloud::vonage;
use serde_json::{json, Value};

use gateway::inbound_text::{AcceptedPart, AcceptedText, InboundText, TextPart};
use gateway::time;

use crate::sms_router::error;
use crate::AppState;

pub const VONAGE_INBOUND: &str = "/v1/providers/vonage/inbound";
pub const VONAGE_DLR: &str = "/v1/providers/vonage/dlr";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(VONAGE_INBOUND, get(vonage_inbound).post(vonage_inbound))
        .route(VONAGE_DLR, get(vonage_dlr).post(vonage_dlr))
}

const INVALID: &str = "VONAGE_WEBHOOK_INVALID";

fn bad_request(detail: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, INVALID, detail)
}

/// A webhook's parameters: the body (form, or a JSON object whose scalar values are
/// taken as text) when there is one, else the query string.
fn webhook_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(drivers::cloud::parse_form(
            query.unwrap_or_default().as_bytes(),
        ));
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json {
        return Ok(drivers::cloud::parse_form(body));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        bad_request(format!(
            "Invalid webhook request: the JSON body does not parse: {e}"
        ))
    })?;
    let Value::Object(fields) = value else {
        return Err(bad_request(
            "Invalid webhook request: the JSON body is not an object",
        ));
    };
    Ok(fields
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Number(n) => Some((k, n.to_string())),
            Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect())
}

/// The parameters of a webhook signed by one of the Vonage channels, and its name.
async fn signed(
    state: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Vec<(String, String)>), Response> {
    let params = webhook_params(query, headers, body)?;
    let now = u64::try_from(time::now().timestamp()).unwrap_or(0);
    match state.gateway.verify_vonage_webhook(&params, now).await {
        Ok(channel) => Ok((channel, params)),
        Err(refusal) => {
            tracing::warn!("vonage webhook refused: {refusal}");
            Err(error(
                StatusCode::UNAUTHORIZED,
                INVALID,
                format!("Invalid webhook signature: {refusal}"),
            ))
        }
    }
}

/// Vonage writes numbers as international digits without `+`; the box keeps E.164.
fn e164(number: &str) -> String {
    let n = number.trim();
    if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

/// `message-timestamp` (`YYYY-MM-DD HH:MM:SS`, UTC) in the box's format.
fn received_at(params: &[(String, String)]) -> Option<String> {
    let raw = params
        .iter()
        .find(|(k, _)| k == "message-timestamp")
        .map(|(_, v)| v.as_str())?;
    chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S")
        .ok()
        .map(|t| time::iso(t.and_utc()))
}

/// The concatenation fields of a webhook as given, for a text whose fields are unusable.
fn raw_concat(params: &[(String, String)]) -> Value {
    let fields = [
        ("concat", "concat"),
        ("ref", "concat-ref"),
        ("total", "concat-total"),
        ("part", "concat-part"),
    ];
    Value::Object(
        fields
            .iter()
            .filter_map(|(name, key)| {
                params
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| (name.to_string(), Value::String(v.clone())))
            })
            .collect(),
    )
}

fn not_stored(id: &str, e: &gateway::GatewayError) -> Response {
    tracing::error!("vonage inbound {id}: {e}");
    // Not 2xx: Vonage sends it again (for 24 h).
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "MESSAGE_PROCESSING_FAILED",
        "Internal server error: the message was not stored",
    )
}

/// An inbound SMS, or one part of a long one. A part is answered 200 only once it is
/// committed.
///
/// Concatenation fields that cannot be used (not a number, part 0 or past the total,
/// a total over 255, a total that disagrees with the parts already waiting under the
/// same `concat-ref`) do not get a 400: Vonage would send the same webhook again for
/// 24 hours and then drop it, and the text, which is readable, would never be seen.
/// The part is stored as a message of its own instead, the problem (naming the field)
/// in its `extra_data.warning` with the fields as given, answered 200 with `status:
/// "warning"` and the same words, and logged.
async fn vonage_inbound(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (channel, params) = match signed(&state, query.as_deref(), &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let sms = match vonage::parse_inbound(&params) {
        Ok(s) => s,
        Err(e) => {
            return bad_request(format!(
                "Invalid webhook request: {e} (messageId, msisdn and to are required)"
            ))
        }
    };
    let id = sms.id.clone();
    let text = InboundText {
        channel,
        provider: "vonage".into(),
        to: e164(&sms.to),
        from: e164(&sms.from),
        text: sms.text,
        provider_id: sms.id,
        received_at: received_at(&params),
    };
    let concat = match vonage::parse_inbound_concat(&params) {
        Ok(c) => c,
        Err(problem) => {
            let warning = problem.to_string();
            return match state
                .gateway
                .accept_unjoinable_text(text, &warning, raw_concat(&params))
                .await
            {
                Ok(AcceptedText::Stored {
                    message_id,
                    user_id,
                    ..
                }) => stored_alone(&id, message_id, user_id, &warning),
                Ok(AcceptedText::Duplicate { .. }) => stored_already(&id, None),
                Err(e) => not_stored(&id, &e),
            };
        }
    };
    let Some(c) = concat else {
        return match state.gateway.accept_text(text).await {
            Ok(AcceptedText::Stored {
                message_id,
                user_id,
                ..
            }) => Json(json!({
                "status": "success",
                "message": "Message stored",
                "message_id": message_id,
                "user_id": user_id,
            }))
            .into_response(),
            Ok(AcceptedText::Duplicate { .. }) => stored_already(&id, None),
            Err(e) => not_stored(&id, &e),
        };
    };
    let part = TextPart {
        reference: c.reference,
        total: c.total,
        seq: c.part,
    };
    match state.gateway.accept_text_part(text, part).await {
        Ok(AcceptedPart::Waiting {
            seq,
            total,
            received,
        }) => Json(json!({
            "status": "success",
            "message": format!("Part {seq} of {total} stored; {received} of {total} received"),
            "parts_received": received,
            "parts_total": total,
        }))
        .into_response(),
        Ok(AcceptedPart::Message {
            message_id,
            user_id,
            updated,
        }) => Json(json!({
            "status": "success",
            "message": if updated {
                "Message completed by a late part"
            } else {
                "Message stored"
            },
            "message_id": message_id,
            "user_id": user_id,
        }))
        .into_response(),
        Ok(AcceptedPart::Standalone {
            message_id,
            user_id,
            warning,
        }) => stored_alone(&id, message_id, user_id, &warning),
        Ok(AcceptedPart::Duplicate { message_id }) => stored_already(&id, message_id),
        Err(e) => not_stored(&id, &e),
    }
}

/// A part whose concatenation fields could not be used, stored as a message of its own
/// (see [`vonage_inbound`]): answered 200 with the warning, and logged.
fn stored_alone(id: &str, message_id: i64, user_id: Option<i64>, warning: &str) -> Response {
    tracing::warn!("vonage inbound {id}: {warning}; stored as a message of its own, not joined");
    Json(json!({
        "status": "warning",
        "message": format!("Message stored on its own, not joined to other parts: {warning}"),
        "message_id": message_id,
        "user_id": user_id,
    }))
    .into_response()
}

/// A replay (Vonage retries until it gets a 2xx): stored before, nothing done.
fn stored_already(id: &str, message_id: Option<i64>) -> Response {
    let mut body = json!({
        "status": "success",
        "message": format!("Message {id} was stored already"),
    });
    if let Some(m) = message_id {
        body["message_id"] = m.into();
    }
    Json(body).into_response()
}

async fn vonage_dlr(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_, params) = match signed(&state, query.as_deref(), &headers, &body).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let receipt = match vonage::parse_delivery_receipt(&params) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(format!(
                "Invalid webhook request: {e} (messageId and status are required)"
            ))
        }
    };
    crate::sms_router::delivery_report_answer(&state, "vonage", "messageId", &receipt.report).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_e164_and_timestamps_iso() {
        assert_eq!(e164("447700900001"), "+447700900001");
        assert_eq!(e164("+447700900001"), "+447700900001");
        assert_eq!(e164("VONAGE"), "VONAGE");
        let p = vec![(
            "message-timestamp".to_string(),
            "2025-08-06 12:00:01".to_string(),
        )];
        assert_eq!(received_at(&p).as_deref(), Some("2025-08-06T12:00:01.000Z"));
        let bad = vec![("message-timestamp".to_string(), "yesterday".to_string())];
        assert_eq!(received_at(&bad), None);
    }

    #[test]
    fn params_come_from_the_body_or_the_query() {
        let mut h = HeaderMap::new();
        let q = webhook_params(Some("a=1&b=x%20y"), &h, b"").expect("query");
        assert_eq!(
            q,
            vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
        );
        let f = webhook_params(Some("a=1"), &h, b"c=2").expect("form");
        assert_eq!(f, vec![("c".into(), "2".into())]);
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let mut j = webhook_params(None, &h, br#"{"messageId": "m1", "n": 5, "x": {"y": 1}}"#)
            .expect("json");
        j.sort();
        assert_eq!(
            j,
            vec![("messageId".into(), "m1".into()), ("n".into(), "5".into())]
        );
        assert!(webhook_params(None, &h, b"[1]").is_err());
        assert!(webhook_params(None, &h, b"{").is_err());
    }
}
