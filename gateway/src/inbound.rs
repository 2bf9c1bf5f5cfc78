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
    /// One part of a concatenated message was stored; the rest has not arrived yet
    /// (after a timeout the message is delivered incomplete; see [`Gateway::flush_incomplete`]).
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
        // A single-part text is classified here, not on the writer thread.
        let classified = match &facts {
            Ok(f) if f.concat.is_none() => Some(otp::extract(&f.text, Some(&f.from))),
            _ => None,
        };
        let key = dedupe_key(inbound.to_number.as_deref(), &inbound.channel, &inbound.hex);
        let received_at = time::now_iso();
        let late_window = time::iso(time::now() - chrono::Duration::hours(LATE_PART_WINDOW_HOURS));
        let (accepted, events) = self
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
                    return Ok((Accepted::Duplicate, Vec::new()));
                }
                let pdu_row = txn.last_insert_rowid();
                let facts = match facts {
                    Ok(f) => f,
                    Err(e) => return Ok((Accepted::Undecodable(e), Vec::new())),
                };
                let to = inbound.to_number.clone().unwrap_or_default();
                let Some((reference, total, seq)) = facts.concat else {
                    let new = NewMessage {
                        to_number: to,
                        from_number: facts.from,
                        content: facts.text,
                        sent_at: facts.sent_at,
                        provider: inbound.provider,
                        channel: inbound.channel,
                        parts_total: 1,
                        parts_received: 1,
                        extra_data: serde_json::json!({}),
                    };
                    let (view, event) = match classified {
                        Some(found) => insert_classified_message(
                            txn,
                            new,
                            &received_at,
                            &received_at,
                            found,
                        )?,
                        None => insert_message(txn, new, &received_at, &received_at)?,
                    };
                    link_pdu(txn, pdu_row, view.id)?;
                    return Ok((Accepted::Message(Box::new(view)), vec![event]));
                };
                let group = Group {
                    to,
                    from: facts.from,
                    reference,
                    total,
                };
                let mut events = Vec::new();
                // A part that arrives after its message was delivered incomplete completes
                // it, unless a newer group with this key is open (the key was reused).
                let late_for = if group.open_count(txn)? == 0 {
                    incomplete_message_missing(txn, group.key(), seq, &late_window)?
                } else {
                    None
                };
                if let Some(message_id) = late_for {
                    group.insert_part(txn, seq, &facts.text, facts.sent_at.as_deref(), &received_at, Some(message_id))?;
                    link_pdu(txn, pdu_row, message_id)?;
                    let (view, event) = refresh_message(txn, message_id, &received_at)?;
                    return Ok((Accepted::Message(Box::new(view)), vec![event]));
                }
                // The same reference and seq already open: a new message reused the
                // reference. The old group will never complete: deliver it as it is.
                if group.has_open_seq(txn, seq)? {
                    if let Some((_, event)) =
                        group.deliver(txn, &inbound.provider, &inbound.channel, &received_at)?
                    {
                        events.push(event);
                    }
                }
                group.insert_part(txn, seq, &facts.text, facts.sent_at.as_deref(), &received_at, None)?;
                if group.open_count(txn)? < usize::from(total) {
                    return Ok((Accepted::Part { seq, total }, events));
                }
                let Some((view, event)) =
                    group.deliver(txn, &inbound.provider, &inbound.channel, &received_at)?
                else {
                    return Ok((Accepted::Part { seq, total }, events));
                };
                link_pdu(txn, pdu_row, view.id)?;
                events.push(event);
                Ok((Accepted::Message(Box::new(view)), events))
            })
            .await?;
        for event in events {
            self.events.publish(event);
        }
        Ok(accepted)
    }

    /// Delivers, marked incomplete, every concatenated message whose first part arrived
    /// more than `after` ago and whose other parts have not. A late part updates it.
    /// Called by the scheduler; returns how many were delivered.
    pub async fn flush_incomplete(&self, after: std::time::Duration) -> GatewayResult<usize> {
        let cutoff = time::iso(
            time::now() - chrono::Duration::from_std(after).unwrap_or(chrono::Duration::zero()),
        );
        let now = time::now_iso();
        let events = self
            .store
            .write(move |txn| {
                let mut stmt = txn.prepare_cached(
                    "SELECT to_number, from_number, concat_ref, total, MIN(received_at) AS first
                     FROM message_parts WHERE message_id IS NULL
                     GROUP BY to_number, from_number, concat_ref, total HAVING first <= ?1",
                )?;
                let groups = stmt
                    .query_map([&cutoff], |r| {
                        Ok(Group {
                            to: r.get(0)?,
                            from: r.get(1)?,
                            reference: r.get(2)?,
                            total: r.get(3)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                drop(stmt);
                let mut events = Vec::new();
                for group in groups {
                    let origin = group.origin(txn)?;
                    let labels = (origin.provider.as_str(), origin.channel.as_str());
                    let delivered = if origin.provider_text {
                        // Routed and labelled as a joined provider text would have been.
                        crate::inbound_text::deliver_incomplete(txn, group.key(), labels, &now)?
                    } else {
                        group.deliver(txn, labels.0, labels.1, &now)?
                    };
                    if let Some((_, event)) = delivered {
                        events.push(event);
                    }
                }
                Ok(events)
            })
            .await?;
        let n = events.len();
        for event in events {
            self.events.publish(event);
        }
        Ok(n)
    }
}

/// How long after an incomplete delivery a late part still completes its message.
const LATE_PART_WINDOW_HOURS: i64 = 24;

/// Marks where missing parts of an incomplete message were; no digits, so the OTP
/// extractor cannot take it for a code.
pub(crate) const MISSING_PART: &str = "[…]";

fn link_pdu(txn: &Transaction<'_>, pdu_row: i64, message_id: i64) -> rusqlite::Result<()> {
    txn.execute(
        "UPDATE inbound_pdus SET message_id = ?1 WHERE id = ?2",
        params![message_id, pdu_row],
    )?;
    Ok(())
}

/// Where a group's parts came from.
struct Origin {
    provider: String,
    channel: String,
    /// Provider texts (routed by phone mapping when no lease takes them).
    provider_text: bool,
}

/// The reassembly key of a concatenated message.
struct Group {
    to: String,
    from: String,
    reference: u16,
    total: u8,
}

impl Group {
    fn insert_part(
        &self,
        txn: &Transaction<'_>,
        seq: u8,
        text: &str,
        sent_at: Option<&str>,
        received_at: &str,
        message_id: Option<i64>,
    ) -> rusqlite::Result<()> {
        txn.execute(
            "INSERT INTO message_parts (to_number, from_number, concat_ref, total, seq, text, sent_at, received_at, message_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![self.to, self.from, self.reference, self.total, seq, text, sent_at, received_at, message_id],
        )?;
        Ok(())
    }

    fn has_open_seq(&self, txn: &Transaction<'_>, seq: u8) -> rusqlite::Result<bool> {
        txn.query_row(
            "SELECT EXISTS (SELECT 1 FROM message_parts WHERE to_number = ?1 AND from_number = ?2
             AND concat_ref = ?3 AND total = ?4 AND seq = ?5 AND message_id IS NULL)",
            params![self.to, self.from, self.reference, self.total, seq],
            |r| r.get(0),
        )
    }

    fn open_count(&self, txn: &Transaction<'_>) -> rusqlite::Result<usize> {
        let n: i64 = txn.query_row(
            "SELECT COUNT(DISTINCT seq) FROM message_parts WHERE to_number = ?1 AND from_number = ?2
             AND concat_ref = ?3 AND total = ?4 AND message_id IS NULL",
            params![self.to, self.from, self.reference, self.total],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn key(&self) -> (&str, &str, u16, u8) {
        (&self.to, &self.from, self.reference, self.total)
    }

    /// The provider and channel the group's parts arrived on: a provider's, when they
    /// came as provider texts (`inbound_text`), else the modem's that holds the number.
    fn origin(&self, txn: &Transaction<'_>) -> rusqlite::Result<Origin> {
        let text: Option<(String, String)> = txn
            .query_row(
                "SELECT t.provider, t.channel FROM message_parts p JOIN inbound_texts t ON t.part_id = p.id
                 WHERE p.to_number = ?1 AND p.from_number = ?2 AND p.concat_ref = ?3 AND p.total = ?4
                   AND p.message_id IS NULL LIMIT 1",
                params![self.to, self.from, self.reference, self.total],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((provider, channel)) = text {
            return Ok(Origin {
                provider,
                channel,
                provider_text: true,
            });
        }
        let channel: Option<String> = txn
            .query_row(
                "SELECT channel FROM inbound_pdus WHERE to_number = ?1 ORDER BY id DESC LIMIT 1",
                [&self.to],
                |r| r.get(0),
            )
            .optional()?;
        let provider: Option<String> = txn
            .query_row(
                "SELECT provider FROM numbers WHERE number = ?1",
                [&self.to],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Origin {
            provider: provider.unwrap_or_else(|| "modem".into()),
            channel: channel.unwrap_or_default(),
            provider_text: false,
        })
    }

    /// Turns the open parts into a message (incomplete when parts are missing).
    fn deliver(
        &self,
        txn: &Transaction<'_>,
        provider: &str,
        channel: &str,
        received_at: &str,
    ) -> rusqlite::Result<Option<(MessageView, Event)>> {
        let parts = self.open_parts(txn)?;
        if parts.is_empty() {
            return Ok(None);
        }
        let new = NewMessage {
            to_number: self.to.clone(),
            from_number: self.from.clone(),
            content: assemble(parts.iter().map(|p| (p.0, p.1.as_str())), self.total),
            sent_at: parts.iter().find_map(|p| p.2.clone()),
            provider: provider.to_string(),
            channel: channel.to_string(),
            parts_total: i64::from(self.total),
            parts_received: parts.len() as i64,
            extra_data: concat_extra(self.reference, self.total, parts.iter().map(|p| p.0)),
        };
        let arrived_at = self
            .first_arrival(txn)?
            .unwrap_or_else(|| received_at.to_string());
        let (view, event) = insert_message(txn, new, received_at, &arrived_at)?;
        txn.execute(
            "UPDATE message_parts SET message_id = ?1 WHERE to_number = ?2 AND from_number = ?3
             AND concat_ref = ?4 AND total = ?5 AND message_id IS NULL",
            params![view.id, self.to, self.from, self.reference, self.total],
        )?;
        Ok(Some((view, event)))
    }

    /// When the first open part arrived (the message's arrival, for routing).
    fn first_arrival(&self, txn: &Transaction<'_>) -> rusqlite::Result<Option<String>> {
        txn.query_row(
            "SELECT MIN(received_at) FROM message_parts WHERE to_number = ?1 AND from_number = ?2
             AND concat_ref = ?3 AND total = ?4 AND message_id IS NULL",
            params![self.to, self.from, self.reference, self.total],
            |r| r.get(0),
        )
    }

    /// The open parts, one per seq, in order: (seq, text, sent_at).
    fn open_parts(
        &self,
        txn: &Transaction<'_>,
    ) -> rusqlite::Result<Vec<(u8, String, Option<String>)>> {
        let mut stmt = txn.prepare_cached(
            "SELECT seq, text, sent_at FROM message_parts WHERE to_number = ?1 AND from_number = ?2
             AND concat_ref = ?3 AND total = ?4 AND message_id IS NULL GROUP BY seq ORDER BY seq",
        )?;
        let rows = stmt
            .query_map(
                params![self.to, self.from, self.reference, self.total],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?
            .collect();
        rows
    }
}

/// The text of a concatenated message from the parts at hand (seq, text; one per seq),
/// with [`MISSING_PART`] for each missing one. Shared with provider texts
/// (`inbound_text`), so that both read alike.
pub(crate) fn assemble<'a>(parts: impl IntoIterator<Item = (u8, &'a str)>, total: u8) -> String {
    let parts: Vec<(u8, &str)> = parts.into_iter().collect();
    let mut out = String::new();
    for seq in 1..=total {
        match parts.iter().find(|p| p.0 == seq) {
            Some(p) => out.push_str(p.1),
            None => out.push_str(MISSING_PART),
        }
    }
    out
}

/// `extra_data` of a concatenated message: its reference and, when parts are missing,
/// `incomplete` and their numbers.
pub(crate) fn concat_extra(
    reference: u16,
    total: u8,
    seqs: impl IntoIterator<Item = u8>,
) -> serde_json::Value {
    let seqs: Vec<u8> = seqs.into_iter().collect();
    let missing: Vec<u8> = (1..=total).filter(|s| !seqs.contains(s)).collect();
    if missing.is_empty() {
        serde_json::json!({ "concat_ref": reference })
    } else {
        serde_json::json!({ "concat_ref": reference, "incomplete": true, "missing_parts": missing })
    }
}

/// A message delivered incomplete since `since` from the parts of (to, from,
/// reference, total) that lacks part `seq`: where a late part belongs.
pub(crate) fn incomplete_message_missing(
    txn: &Transaction<'_>,
    (to, from, reference, total): (&str, &str, u16, u8),
    seq: u8,
    since: &str,
) -> rusqlite::Result<Option<i64>> {
    // Through the parts' group index: the parts of delivered messages keep their key.
    txn.query_row(
        "SELECT m.id FROM message_parts p JOIN messages m ON m.id = p.message_id
         WHERE p.to_number = ?1 AND p.from_number = ?2 AND p.concat_ref = ?3 AND p.total = ?4
           AND m.parts_received < m.parts_total AND m.received_at >= ?6
           AND NOT EXISTS (SELECT 1 FROM message_parts q WHERE q.message_id = m.id AND q.seq = ?5)
         ORDER BY m.id DESC LIMIT 1",
        params![to, from, reference, total, seq, since],
        |r| r.get(0),
    )
    .optional()
}

/// Rebuilds a message from all its parts after a late one arrived; re-classifies it.
fn refresh_message(
    txn: &Transaction<'_>,
    message_id: i64,
    at: &str,
) -> rusqlite::Result<(MessageView, Event)> {
    let (reference, total): (u16, u8) = txn.query_row(
        "SELECT json_extract(extra_data, '$.concat_ref'), parts_total FROM messages WHERE id = ?1",
        [message_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut stmt = txn.prepare_cached(
        "SELECT seq, text, sent_at FROM message_parts WHERE message_id = ?1 GROUP BY seq ORDER BY seq",
    )?;
    let parts = stmt
        .query_map([message_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<(u8, String, Option<String>)>, _>>()?;
    drop(stmt);
    let content = assemble(parts.iter().map(|p| (p.0, p.1.as_str())), total);
    let from: String = txn.query_row(
        "SELECT from_number FROM messages WHERE id = ?1",
        [message_id],
        |r| r.get(0),
    )?;
    let found = otp::extract(&content, Some(&from));
    txn.execute(
        "UPDATE messages SET content = ?1, parts_received = ?2, extra_data = ?3, type = ?4, otp_code = ?5, service = ?6
         WHERE id = ?7",
        params![
            content,
            parts.len() as i64,
            concat_extra(reference, total, parts.iter().map(|p| p.0)).to_string(),
            found.kind.as_str(),
            found.code,
            found.service,
            message_id
        ],
    )?;
    let view = txn.query_row(
        &format!(
            "SELECT {} FROM messages m WHERE m.id = ?1",
            MessageView::COLUMNS
        ),
        [message_id],
        MessageView::from_row,
    )?;
    message_updated(txn, view, at)
}

/// The `message_updated` event row for a message that changed, and its live event.
pub(crate) fn message_updated(
    txn: &Transaction<'_>,
    view: MessageView,
    at: &str,
) -> rusqlite::Result<(MessageView, Event)> {
    let event_id = events::record(
        txn,
        "message_updated",
        view.user_id,
        &serde_json::json!({ "message": view }),
        at,
    )?;
    Ok((
        view.clone(),
        Event::MessageUpdated {
            event_id,
            user_id: view.user_id,
            message: Box::new(view),
        },
    ))
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

/// Classifies, routes and inserts a complete message with its event row.
pub(crate) fn insert_message(
    txn: &Transaction<'_>,
    new: NewMessage,
    received_at: &str,
    arrived_at: &str,
) -> rusqlite::Result<(MessageView, Event)> {
    let found = otp::extract(&new.content, Some(&new.from_number));
    insert_classified_message(txn, new, received_at, arrived_at, found)
}

/// [`insert_message`] for a text classified beforehand, off the writer thread (the
/// extractor is pure and costs tens of microseconds; the writer is the bottleneck).
pub(crate) fn insert_classified_message(
    txn: &Transaction<'_>,
    new: NewMessage,
    received_at: &str,
    arrived_at: &str,
    found: otp::Extraction,
) -> rusqlite::Result<(MessageView, Event)> {
    // The lease active on the receiving number when the (first part of the) message
    // arrived owns it, even if the lease ended before the last part came.
    let lease: Option<(i64, i64, String)> = txn
        .query_row(
            "SELECT a.id, a.user_id, n.number FROM assignments a JOIN numbers n ON n.id = a.number_id
             WHERE n.number = ?1 AND a.assigned_at <= ?2
               AND ?2 < CASE WHEN a.status = 'released' THEN a.released_at ELSE a.expires_at END
             ORDER BY a.assigned_at DESC LIMIT 1",
            params![new.to_number, arrived_at],
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
    let event_id = events::record(
        txn,
        "new_message",
        user_id,
        &serde_json::json!({ "message": view, "assignment": assignment }),
        received_at,
    )?;
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
