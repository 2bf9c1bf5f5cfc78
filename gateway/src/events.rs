//! The in-process event stream.
//!
//! Every event is first written to the `events` table in the same transaction as the
//! change it reports (so a subscriber that resumes from its cursor misses nothing),
//! then published here after the commit. Live subscribers (Socket.IO) take the
//! broadcast; a lagging one is told how many it missed and can re-read the table.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::model::{AssignmentRef, MessageView};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A message was stored (and, if it belongs to a lease, routed to its user).
    NewMessage {
        event_id: i64,
        user_id: Option<i64>,
        message: Box<MessageView>,
        assignment: Option<AssignmentRef>,
    },
    /// A message changed after it was delivered: a late part completed it.
    MessageUpdated {
        event_id: i64,
        user_id: Option<i64>,
        message: Box<MessageView>,
    },
    /// An assignment changed status (expired, released).
    AssignmentStatus {
        event_id: i64,
        user_id: i64,
        assignment_id: i64,
        status: String,
        previous_status: String,
        changed_at: String,
    },
    /// An outbound SMS changed status (sent, delivered, undelivered, failed).
    SmsStatus {
        event_id: i64,
        user_id: Option<i64>,
        job_id: i64,
        status: String,
        error: Option<String>,
        at: String,
    },
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::NewMessage { .. } => "new_message",
            Event::MessageUpdated { .. } => "message_updated",
            Event::AssignmentStatus { .. } => "assignment_status",
            Event::SmsStatus { .. } => "sms_status",
        }
    }
}

/// Fan-out of committed events to live subscribers.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
}

impl EventBus {
    pub fn new() -> Self {
        // Large enough for a burst of a few thousand SMS; a slower subscriber lags,
        // it never slows reception.
        let (tx, _) = broadcast::channel(4096);
        EventBus { tx }
    }

    pub fn publish(&self, event: Event) {
        // No subscriber is fine: the event is already in the table.
        let _ = self.tx.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

/// Writes an event row inside the caller's transaction and returns its id.
pub(crate) fn record(
    txn: &rusqlite::Transaction<'_>,
    kind: &str,
    user_id: Option<i64>,
    payload: &impl Serialize,
    at: &str,
) -> rusqlite::Result<i64> {
    let payload = serde_json::to_string(payload)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    txn.execute(
        "INSERT INTO events (kind, user_id, payload, created_at) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![kind, user_id, payload, at],
    )?;
    Ok(txn.last_insert_rowid())
}
