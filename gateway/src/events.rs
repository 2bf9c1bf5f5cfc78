//! The in-process event stream.
//!
//! Every event is first written to the `events` table in the same transaction as the
//! change it reports, then published here after the commit.
//!
//! Two ways to follow it:
//! - live ([`EventBus::subscribe`]): a broadcast for Socket.IO; a lagging receiver is
//!   told how many it missed (the data is in the store either way);
//! - durable ([`DurableSubscriber`]): MQTT, webhooks and notifications read the table
//!   after their own cursor, kept in `event_cursors`, so a slow one never slows
//!   reception and a restarted one resumes where it stopped. Delivery is at least once:
//!   a crash between handling and [`DurableSubscriber::ack`] repeats events.

use serde::Serialize;
use tokio::sync::broadcast;

use rusqlite::OptionalExtension;

use crate::model::{AssignmentRef, MessageView};
use crate::{time, Gateway, GatewayError, GatewayResult};

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

/// An event as the log keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub payload: serde_json::Value,
    pub created_at: String,
}

/// A named reader of the event log with a persistent cursor.
pub struct DurableSubscriber {
    gateway: Gateway,
    name: String,
    cursor: i64,
    live: broadcast::Receiver<Event>,
}

impl Gateway {
    /// Opens (or resumes) the durable subscriber `name`. A new one starts at the end
    /// of the log: it sees what happens from now on.
    pub async fn durable_subscriber(&self, name: &str) -> GatewayResult<DurableSubscriber> {
        // Subscribe before reading the cursor, so nothing committed in between is missed.
        let live = self.events.subscribe();
        let key = name.to_string();
        let now = time::now_iso();
        let cursor = self
            .store
            .write(move |txn| {
                let existing: Option<i64> = txn
                    .query_row(
                        "SELECT last_event_id FROM event_cursors WHERE subscriber = ?1",
                        [&key],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(c) = existing {
                    return Ok(c);
                }
                let end: i64 =
                    txn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
                txn.execute(
                    "INSERT INTO event_cursors (subscriber, last_event_id, updated_at) VALUES (?1, ?2, ?3)",
                    rusqlite::params![key, end, now],
                )?;
                Ok(end)
            })
            .await?;
        Ok(DurableSubscriber {
            gateway: self.clone(),
            name: name.to_string(),
            cursor,
            live,
        })
    }
}

impl DurableSubscriber {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the last event acknowledged.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The next events after the cursor, oldest first, at most `max`; waits while
    /// there are none. Call [`ack`](Self::ack) once they are handled.
    pub async fn next_batch(&mut self, max: usize) -> GatewayResult<Vec<StoredEvent>> {
        loop {
            let after = self.cursor;
            let limit = i64::try_from(max.max(1)).unwrap_or(i64::MAX);
            let batch = self
                .gateway
                .store
                .read(move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT id, kind, user_id, payload, created_at FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
                    )?;
                    let rows = stmt
                        .query_map(rusqlite::params![after, limit], |r| {
                            let payload: String = r.get(3)?;
                            Ok(StoredEvent {
                                id: r.get(0)?,
                                kind: r.get(1)?,
                                user_id: r.get(2)?,
                                payload: serde_json::from_str(&payload)
                                    .unwrap_or(serde_json::Value::String(payload)),
                                created_at: r.get(4)?,
                            })
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(rows)
                })
                .await?;
            if !batch.is_empty() {
                return Ok(batch);
            }
            // Caught up: wait for the next commit (a lag or close also means "look again").
            match self.live.recv().await {
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(GatewayError::Invalid("the event bus has closed".into()))
                }
            }
        }
    }

    /// Records that every event up to `event_id` is handled; survives restarts.
    pub async fn ack(&mut self, event_id: i64) -> GatewayResult<()> {
        if event_id <= self.cursor {
            return Ok(());
        }
        let writer = self.cursor_writer(event_id);
        self.gateway
            .store
            .write(move |txn| Ok(writer.write(txn)?))
            .await?;
        self.acked(event_id);
        Ok(())
    }

    /// The cursor move for `event_id`, to write inside the transaction that records
    /// the batch's effects (one commit, and the two cannot disagree after a crash);
    /// call [`acked`](Self::acked) once that transaction has committed.
    pub(crate) fn cursor_writer(&self, event_id: i64) -> CursorWrite {
        CursorWrite {
            subscriber: self.name.clone(),
            event_id,
        }
    }

    /// Moves the in-memory cursor after a [`CursorWrite`] committed.
    pub(crate) fn acked(&mut self, event_id: i64) {
        self.cursor = self.cursor.max(event_id);
    }
}

/// A subscriber's cursor update, carried into a write transaction.
pub(crate) struct CursorWrite {
    subscriber: String,
    event_id: i64,
}

impl CursorWrite {
    pub(crate) fn write(&self, txn: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
        txn.execute(
            "UPDATE event_cursors SET last_event_id = MAX(last_event_id, ?1), updated_at = ?2 WHERE subscriber = ?3",
            rusqlite::params![self.event_id, time::now_iso(), self.subscriber],
        )?;
        Ok(())
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
