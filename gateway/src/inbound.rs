//! The inbound pipeline: a PDU from a modem (or a text from a provider) becomes a
//! stored, classified, routed message.
//!
//! Order of work, and why:
//! 1. decode and classify outside the transaction (pure, no I/O);
//! 2. one write transaction stores the raw PDU (its dedupe key recognises a second read
//!    of the same PDU), the part or the whole message, and the event row;
//! 3. after the commit the event is published, and the caller (the modem driver) may
//!    delete the PDU from the SIM.
//!
//! A PDU that does not decode is still stored raw with its error: nothing a modem hands
//! over is lost, and the SIM slot is freed.

use drivers::pdu::{self, Tpdu};
use rusqlite::{params, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use crate::events::{self, Event};
use crate::model::{AssignmentRef, MessageView};
use crate::otp;
use crate::{time, Gateway, GatewayResult};

/// A PDU as a modem read it, with where it came from.
#[derive(Debug, Clone)]
pub struct InboundPdu {
    /// The modem's name (the channel it arrived on).
    pub channel: String,
    /// The SIM's own number, when known; messages without it cannot be routed.
    pub to_number: Option<String>,
    /// `modem` or `emulator`.
    pub provider: String,
    /// Hex with the SMSC prefix, as `AT+CMGR`/`+CMT` give it in PDU mode.
    pub hex: String,
}

/// What the pipeline did with one PDU. Every variant means "safe to delete".
#[derive(Debug, Clone)]
pub enum Accepted {
    /// A whole message was stored (the last part of a concatenated one completes it).
    Message(Box<MessageView>),
    /// One part of a concatenated message was stored; the rest has not arrived yet.
    Part { seq: u8, total: u8 },
    /// This exact PDU was stored before (read twice after a reconnect or a crash).
    Duplicate,
    /// Not a decodable SMS-DELIVER; stored raw with the reason.
    Undecodable(String),
}

/// The decoded essentials of one SMS-DELIVER.
struct DeliverFacts {
    from: String,
    text: String,
    sent_at: Option<String>,
    concat: Option<(u16, u8, u8)>,
}

fn decode_deliver(hex: &str) -> Result<DeliverFacts, String> {
    let decoded = pdu::decode_hex(hex, true).map_err(|e| e.to_string())?;
    let Tpdu::Deliver(deliver) = decoded.tpdu else {
        return Err(
            "not an SMS-DELIVER (a submit or status report was stored in the inbox)".into(),
        );
    };
    let text = match &deliver.text {
        Some(t) => t.clone(),
        // 8-bit data: keep the octets visible rather than drop the message.
        None => format!(
            "[binary {} octets] {}",
            deliver.data.len(),
            hex_upper(&deliver.data)
        ),
    };
    Ok(DeliverFacts {
        from: deliver.sender.to_string(),
        text,
        sent_at: deliver
            .timestamp
            .to_datetime()
            .map(|t| time::iso(t.with_timezone(&chrono::Utc))),
        concat: deliver.concat().map(|c| (c.reference, c.total, c.seq)),
    })
}

fn hex_upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

fn dedupe_key(to: Option<&str>, channel: &str, hex: &str) -> String {
    let mut h = Sha256::new();
    h.update(to.unwrap_or(channel).as_bytes());
    h.update(b"\0");
    h.update(hex.trim().to_ascii_uppercase().as_bytes());
    hex::encode(h.finalize())
}

impl Gateway {
    /// Stores one received PDU. When this returns `Ok`, the PDU is committed to disk
    /// and the modem may delete it; on `Err` it must stay on the SIM.
    pub async fn accept_pdu(&self, inbound: InboundPdu) -> GatewayResult<Accepted> {
        let facts = decode_deliver(&inbound.hex);
        let key = dedupe_key(inbound.to_number.as_deref(), &inbound.channel, &inbound.hex);
        let received_at = time::now_iso();
        let (accepted, event) = self
            .store
            .write(move |txn| {
                let inserted = txn.execute(
                    "INSERT INTO inbound_pdus (channel, to_number, pdu_hex, dedupe_key, received_at, decode_error)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(dedupe_key) DO NOTHING",
                    params![
                        inbound.channel,
                        inbound.to_number,
                        inbound.hex.trim(),
                        key,
                        received_at,
                        facts.as_ref().err()
                    ],
                )?;
                if inserted == 0 {
                    return Ok((Accepted::Duplicate, None));
                }
                let pdu_row = txn.last_insert_rowid();
                let facts = match facts {
                    Ok(f) => f,
                    Err(e) => return Ok((Accepted::Undecodable(e), None)),
                };
                let to = inbound.to_number.clone().unwrap_or_default();
                let new = match facts.concat {
                    None => NewMessage {
                        to_number: to,
                        from_number: facts.from,
                        content: facts.text,
                        sent_at: facts.sent_at,
                        provider: inbound.provider,
                        channel: inbound.channel,
                        parts_total: 1,
                        parts_received: 1,
                        extra_data: serde_json::json!({}),
                    },
                    Some((reference, total, seq)) => {
                        txn.execute(
                            "INSERT INTO message_parts (to_number, from_number, concat_ref, total, seq, text, sent_at, received_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                            params![to, facts.from, reference, total, seq, facts.text, facts.sent_at, received_at],
                        )?;
                        let parts = open_parts(txn, &to, &facts.from, reference, total)?;
                        if parts.len() < usize::from(total) {
                            return Ok((Accepted::Part { seq, total }, None));
                        }
                        let content: String = parts.iter().map(|p| p.1.as_str()).collect();
                        let sent_at = parts.iter().find_map(|p| p.2.clone());
                        let new = NewMessage {
                            to_number: to.clone(),
                            from_number: facts.from.clone(),
                            content,
                            sent_at,
                            provider: inbound.provider,
                            channel: inbound.channel,
                            parts_total: i64::from(total),
                            parts_received: i64::from(total),
                            extra_data: serde_json::json!({ "concat_ref": reference }),
                        };
                        let (view, event) = insert_message(txn, new, &received_at)?;
                        txn.execute(
                            "UPDATE message_parts SET message_id = ?1 WHERE to_number = ?2 AND from_number = ?3
                             AND concat_ref = ?4 AND total = ?5 AND message_id IS NULL",
                            params![view.id, to, facts.from, reference, total],
                        )?;
                        txn.execute(
                            "UPDATE inbound_pdus SET message_id = ?1 WHERE id = ?2",
                            params![view.id, pdu_row],
                        )?;
                        return Ok((Accepted::Message(Box::new(view)), Some(event)));
                    }
                };
                let (view, event) = insert_message(txn, new, &received_at)?;
                txn.execute(
                    "UPDATE inbound_pdus SET message_id = ?1 WHERE id = ?2",
                    params![view.id, pdu_row],
                )?;
                Ok((Accepted::Message(Box::new(view)), Some(event)))
            })
            .await?;
        if let Some(event) = event {
            self.events.publish(event);
        }
        Ok(accepted)
    }
}

/// A complete message about to be stored.
pub(crate) struct NewMessage {
    pub to_number: String,
    pub from_number: String,
    pub content: String,
    pub sent_at: Option<String>,
    pub provider: String,
    pub channel: String,
    pub parts_total: i64,
    pub parts_received: i64,
    pub extra_data: serde_json::Value,
}

/// The unassembled parts of one concatenated message, in order: (seq, text, sent_at).
fn open_parts(
    txn: &Transaction<'_>,
    to: &str,
    from: &str,
    reference: u16,
    total: u8,
) -> rusqlite::Result<Vec<(u8, String, Option<String>)>> {
    let mut stmt = txn.prepare_cached(
        "SELECT seq, text, sent_at FROM message_parts WHERE to_number = ?1 AND from_number = ?2
         AND concat_ref = ?3 AND total = ?4 AND message_id IS NULL ORDER BY seq",
    )?;
    let rows = stmt
        .query_map(params![to, from, reference, total], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect();
    rows
}

/// Classifies, routes and inserts a complete message with its event row.
pub(crate) fn insert_message(
    txn: &Transaction<'_>,
    new: NewMessage,
    received_at: &str,
) -> rusqlite::Result<(MessageView, Event)> {
    let found = otp::extract(&new.content, Some(&new.from_number));
    // The lease active on the receiving number at arrival owns the message.
    let lease: Option<(i64, i64, String)> = txn
        .query_row(
            "SELECT a.id, a.user_id, n.number FROM assignments a JOIN numbers n ON n.id = a.number_id
             WHERE n.number = ?1 AND a.status = 'active' AND a.assigned_at <= ?2 AND a.expires_at > ?2
             ORDER BY a.assigned_at DESC LIMIT 1",
            params![new.to_number, received_at],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (assignment_id, user_id) = match &lease {
        Some((a, u, _)) => (Some(*a), Some(*u)),
        None => (None, None),
    };
    txn.execute(
        "INSERT INTO messages (to_number, from_number, content, type, otp_code, service, received_at, sent_at,
            assignment_id, user_id, provider, channel, parts_total, parts_received, extra_data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            new.to_number,
            new.from_number,
            new.content,
            found.kind.as_str(),
            found.code,
            found.service,
            received_at,
            new.sent_at,
            assignment_id,
            user_id,
            new.provider,
            new.channel,
            new.parts_total,
            new.parts_received,
            new.extra_data.to_string()
        ],
    )?;
    let id = txn.last_insert_rowid();
    let view = txn.query_row(
        &format!(
            "SELECT {} FROM messages m WHERE m.id = ?1",
            MessageView::COLUMNS
        ),
        [id],
        MessageView::from_row,
    )?;
    let assignment = lease.map(|(id, _, number)| AssignmentRef { id, number });
    let event_id = events::record(txn, "new_message", user_id, &view, received_at)?;
    Ok((
        view.clone(),
        Event::NewMessage {
            event_id,
            user_id,
            message: Box::new(view),
            assignment,
        },
    ))
}
