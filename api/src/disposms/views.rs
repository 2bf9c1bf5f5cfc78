//! The DispoSMS JSON shapes of the domain's records.

use serde_json::{json, Value};

use gateway::model::{Assignment, MessageView, Number, User};

pub fn msg_id(id: i64) -> String {
    format!("msg_{id}")
}

pub fn assign_id(id: i64) -> String {
    format!("assign_{id}")
}

/// Accepts `msg_456` or `456`.
pub fn message_id(raw: &str) -> Option<i64> {
    parse_prefixed(raw, "msg_")
}

/// Accepts `assign_123` or `123`.
pub fn assignment_id(raw: &str) -> Option<i64> {
    parse_prefixed(raw, "assign_")
}

fn parse_prefixed(raw: &str, prefix: &str) -> Option<i64> {
    raw.strip_prefix(prefix)
        .unwrap_or(raw)
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
}

/// A user as register (`created_at`) or login (`last_login`) show it.
pub fn user_json(user: &User, with_last_login: bool) -> Value {
    let mut v = json!({
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role.as_str(),
        "created_at": user.created_at,
    });
    if with_last_login {
        v["last_login"] = json!(user.last_login);
    }
    v
}

pub fn number_json(n: &Number) -> Value {
    json!({
        "number": n.number,
        "country": n.country,
        "provider": n.provider,
        "cost": n.cost_minor as f64 / 100.0,
        "capabilities": n.capabilities,
    })
}

pub fn assignment_json(a: &Assignment) -> Value {
    json!({
        "id": assign_id(a.id),
        "number": a.number,
        "user_id": a.user_id,
        "assigned_at": a.assigned_at,
        "expires_at": a.expires_at,
        "status": a.status,
        "provider": a.provider,
    })
}

pub fn my_assignment_json(a: &Assignment) -> Value {
    json!({
        "id": assign_id(a.id),
        "number": a.number,
        "assigned_at": a.assigned_at,
        "expires_at": a.expires_at,
        "status": a.status,
        "provider": a.provider,
        "message_count": a.message_count,
        "last_message_at": a.last_message_at,
    })
}

/// A message in the seed's shape, serialized straight from the stored view (no
/// intermediate `Value`: a page of 50 is the API's hottest answer). Fields in the
/// order `json!` gives them, so both forms read the same.
#[derive(serde::Serialize)]
pub struct MessageJson<'a> {
    assignment_id: Option<String>,
    content: &'a str,
    extra_data: &'a Value,
    from_number: &'a str,
    id: String,
    is_read: bool,
    otp_code: Option<&'a str>,
    provider: &'a str,
    received_at: &'a str,
    to_number: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

pub fn message_view(m: &MessageView) -> MessageJson<'_> {
    MessageJson {
        assignment_id: m.assignment_id.map(assign_id),
        content: &m.content,
        extra_data: &m.extra_data,
        from_number: &m.from_number,
        id: msg_id(m.id),
        is_read: m.is_read,
        otp_code: m.otp_code.as_deref(),
        provider: &m.provider,
        received_at: &m.received_at,
        to_number: &m.to_number,
        kind: &m.kind,
    }
}

pub fn message_json(m: &MessageView) -> Value {
    serde_json::to_value(message_view(m)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_prefixed_and_bare_forms() {
        assert_eq!(message_id("msg_456"), Some(456));
        assert_eq!(message_id("456"), Some(456));
        assert_eq!(message_id("msg_x"), None);
        assert_eq!(message_id("msg_-1"), None);
        assert_eq!(assignment_id("assign_12"), Some(12));
        assert_eq!(assignment_id("msg_12"), None);
    }
}
