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

pub fn message_json(m: &MessageView) -> Value {
    json!({
        "id": msg_id(m.id),
        "assignment_id": m.assignment_id.map(assign_id),
        "to_number": m.to_number,
        "from_number": m.from_number,
        "content": m.content,
        "type": m.kind,
        "otp_code": m.otp_code,
        "received_at": m.received_at,
        "is_read": m.is_read,
        "provider": m.provider,
        "extra_data": m.extra_data,
    })
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
