//! The domain's records as the store returns them. Neutral: each API seed translates
//! them into its own shapes (ids like `msg_456`, envelopes) in the `api` crate.

use rusqlite::Row;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub email_verified: bool,
    pub phone_verified: bool,
    pub created_at: String,
    pub last_login: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl User {
    pub(crate) const COLUMNS: &'static str = "id, email, phone, password_hash, first_name, last_name, role, is_active, email_verified, phone_verified, created_at, last_login";

    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<User> {
        let role: String = r.get(6)?;
        Ok(User {
            id: r.get(0)?,
            email: r.get(1)?,
            phone: r.get(2)?,
            password_hash: r.get(3)?,
            first_name: r.get(4)?,
            last_name: r.get(5)?,
            role: if role == "admin" {
                Role::Admin
            } else {
                Role::User
            },
            is_active: r.get(7)?,
            email_verified: r.get(8)?,
            phone_verified: r.get(9)?,
            created_at: r.get(10)?,
            last_login: r.get(11)?,
        })
    }
}

/// A number the box receives on, with whether it is free to assign now.
#[derive(Debug, Clone, Serialize)]
pub struct Number {
    pub id: i64,
    pub number: String,
    pub country: String,
    pub provider: String,
    pub channel: String,
    pub cost_minor: i64,
    pub capabilities: Vec<String>,
}

impl Number {
    pub(crate) const COLUMNS: &'static str =
        "n.id, n.number, n.country, n.provider, n.channel, n.cost_minor, n.capabilities";

    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Number> {
        let caps: String = r.get(6)?;
        Ok(Number {
            id: r.get(0)?,
            number: r.get(1)?,
            country: r.get(2)?,
            provider: r.get(3)?,
            channel: r.get(4)?,
            cost_minor: r.get(5)?,
            capabilities: serde_json::from_str(&caps).unwrap_or_else(|_| vec!["sms".into()]),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Assignment {
    pub id: i64,
    pub user_id: i64,
    pub number: String,
    pub provider: String,
    pub assigned_at: String,
    pub expires_at: String,
    pub status: String,
    pub released_at: Option<String>,
    pub message_count: i64,
    pub last_message_at: Option<String>,
}

impl Assignment {
    pub(crate) const SELECT: &'static str = "SELECT a.id, a.user_id, n.number, n.provider, a.assigned_at, a.expires_at, a.status, a.released_at,
            (SELECT COUNT(*) FROM messages m WHERE m.assignment_id = a.id),
            (SELECT MAX(m.received_at) FROM messages m WHERE m.assignment_id = a.id)
         FROM assignments a JOIN numbers n ON n.id = a.number_id";

    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Assignment> {
        Ok(Assignment {
            id: r.get(0)?,
            user_id: r.get(1)?,
            number: r.get(2)?,
            provider: r.get(3)?,
            assigned_at: r.get(4)?,
            expires_at: r.get(5)?,
            status: r.get(6)?,
            released_at: r.get(7)?,
            message_count: r.get(8)?,
            last_message_at: r.get(9)?,
        })
    }
}

/// The lease a message was routed to, as events carry it.
#[derive(Debug, Clone, Serialize)]
pub struct AssignmentRef {
    pub id: i64,
    pub number: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub id: i64,
    pub assignment_id: Option<i64>,
    pub user_id: Option<i64>,
    pub to_number: String,
    pub from_number: String,
    pub content: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub otp_code: Option<String>,
    pub service: Option<String>,
    pub received_at: String,
    pub sent_at: Option<String>,
    pub is_read: bool,
    pub read_at: Option<String>,
    pub provider: String,
    pub channel: String,
    pub parts_total: i64,
    pub parts_received: i64,
    pub extra_data: serde_json::Value,
}

impl MessageView {
    pub(crate) const COLUMNS: &'static str = "m.id, m.assignment_id, m.user_id, m.to_number, m.from_number, m.content, m.type, m.otp_code, m.service, m.received_at, m.sent_at, m.is_read, m.read_at, m.provider, m.channel, m.parts_total, m.parts_received, m.extra_data";

    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<MessageView> {
        let extra: String = r.get(17)?;
        Ok(MessageView {
            id: r.get(0)?,
            assignment_id: r.get(1)?,
            user_id: r.get(2)?,
            to_number: r.get(3)?,
            from_number: r.get(4)?,
            content: r.get(5)?,
            kind: r.get(6)?,
            otp_code: r.get(7)?,
            service: r.get(8)?,
            received_at: r.get(9)?,
            sent_at: r.get(10)?,
            is_read: r.get(11)?,
            read_at: r.get(12)?,
            provider: r.get(13)?,
            channel: r.get(14)?,
            parts_total: r.get(15)?,
            parts_received: r.get(16)?,
            extra_data: serde_json::from_str(&extra).unwrap_or(serde_json::Value::Null),
        })
    }

    /// Whether every part of a concatenated message has arrived.
    pub fn is_complete(&self) -> bool {
        self.parts_received >= self.parts_total
    }
}
