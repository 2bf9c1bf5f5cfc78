//! Texts a cloud provider delivered already decoded (Twilio's and Vonage's inbound
//! webhooks), and the SMS Router's tables: phone mappings (sender → user), its usage
//! log and settings.
//!
//! [`Gateway::accept_text`] stores a text like any received SMS (the pipeline's
//! `insert_message`: classified, routed to a lease on the receiving number, event
//! row) in one transaction with its provider id, unique per provider, so a replayed
//! webhook is recognised and stored once. When no lease owns the number, the sender's
//! phone mapping names the user, and the `new_message` event goes to that user.
//!
//! Long texts a provider delivers one part per webhook (Vonage's `concat-*` fields):
//! [`Gateway::accept_text_part`] commits each part on arrival in `message_parts`, the
//! modem path's reassembly table, keyed by (receiving number, sender, reference), with
//! an `inbound_texts` row naming it (so a replayed part is stored once). The part that
//! completes the set makes one message, text joined in part order, stored like a
//! whole text (one `new_message`). As on the modem path (`inbound.rs`): a part whose
//! number is open already under another provider id means the reference was reused,
//! and the old group is delivered as it is; parts that stop coming are delivered
//! incomplete by the scheduler's `flush_incomplete` (`[…]` for each missing part,
//! `incomplete` and `missing_parts` in `extra_data`), and a late part completes that
//! message (`message_updated`). A part whose total disagrees with its open group's, or
//! whose numbering cannot be read ([`Gateway::accept_unjoinable_text`]), is stored as
//! its own message with a warning: a provider retries what is refused and then drops
//! it, so a refusal would lose a text that can be shown.
//!
//! Reply webhooks ([`Gateway::set_reply_webhook`]): a user's URL that is asked, after
//! a text routed to that user is stored, what to answer it
//! ([`Gateway::call_reply_webhook`]). The call is a POST of [`ReplyRequest`] as JSON,
//! signed like the box's webhooks (`X-Simgate-Signature: t=<unix>,v1=<hex HMAC-SHA256
//! of "<t>.<body>">`, `crate::webhooks::sign`, with the reply webhook's own secret),
//! with a short timeout (`reply_webhook_timeout_ms` in the router's settings, default
//! 5000). The answer: with `Content-Type: application/json`, an object whose `reply`
//! is the text (`""` or `null`: no reply); otherwise the body itself as plain text
//! (empty: no reply). At most [`MAX_REPLY_CHARS`] characters. A timeout, a status that
//! is not 2xx (redirects are not followed) or an answer that does not read so is an
//! error, and the caller falls back to its default reply.

use std::sync::OnceLock;
use std::time::Duration;

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::events::Event;
use crate::inbound::{insert_message, NewMessage};
use crate::model::MessageView;
use crate::{otp, time, Gateway, GatewayError, GatewayResult};

#[derive(Debug, Clone)]
pub struct InboundText {
    pub channel: String,
    pub provider: String,
    pub to: String,
    pub from: String,
    pub text: String,
    /// The provider's message id (Twilio's MessageSid): the dedupe key.
    pub provider_id: String,
    pub received_at: Option<String>,
}

#[derive(Debug, Clone)]
pub enum AcceptedText {
    /// Stored now; `user_id` is who it was routed to.
    Stored {
        message_id: i64,
        user_id: Option<i64>,
        /// When it was received (the message's `received_at`).
        received_at: String,
    },
    /// Seen before: the reply given then, if any.
    Duplicate {
        reply: Option<String>,
        user_id: Option<i64>,
    },
}

/// Where a text sits in a concatenated message, as its provider numbered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPart {
    /// Shared by the parts of one message; it comes back after a while.
    pub reference: u16,
    /// 1 to 255.
    pub total: u8,
    /// 1 to `total`.
    pub seq: u8,
}

/// What [`Gateway::accept_text_part`] did with one part. Every variant is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptedPart {
    /// Stored; its message waits for the rest (`received` distinct parts of `total`).
    Waiting { seq: u8, total: u8, received: usize },
    /// This part completed its message: a new one, or (`updated`) one delivered
    /// incomplete before, now whole.
    Message {
        message_id: i64,
        user_id: Option<i64>,
        updated: bool,
    },
    /// Its total disagrees with the parts waiting under its reference: stored as its
    /// own message, `warning` (naming `concat-total`) in its `extra_data`.
    Standalone {
        message_id: i64,
        user_id: Option<i64>,
        warning: String,
    },
    /// This provider id was stored before; the message it is in, once delivered.
    Duplicate { message_id: Option<i64> },
}

/// How long after an incomplete delivery a late part still completes its message:
/// a provider retries a webhook for a day (Vonage: 24 h from its first try).
const LATE_PART_WINDOW_HOURS: i64 = 25;

#[derive(Debug, Clone, Serialize)]
pub struct PhoneMapping {
    pub id: i64,
    pub user_id: i64,
    pub phone_number: String,
    pub is_primary: bool,
    pub is_verified: bool,
    pub verification_method: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageLog {
    pub id: i64,
    pub user_id: Option<i64>,
    pub phone_number: String,
    pub direction: String,
    pub length: i64,
    pub success: bool,
    pub processing_time_ms: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouterConfigEntry {
    pub key: String,
    pub value: String,
    pub description: String,
    pub is_active: bool,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct RouterStats {
    pub total_messages: i64,
    pub successful_routes: i64,
    pub failed_routes: i64,
    pub average_processing_time_ms: i64,
    pub last_24_hours_messages: i64,
    pub last_24_hours_success: i64,
    /// (user_id, message_count, phone_number)
    pub top_users: Vec<(i64, i64, String)>,
}

/// A user's reply webhook. The secret is never serialised: it is shown once, by the
/// API that sets it.
#[derive(Clone, Serialize)]
pub struct ReplyWebhook {
    pub user_id: i64,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    pub created_at: String,
    pub updated_at: String,
    /// The last call: when, the HTTP status it answered (none: no answer), the error.
    pub last_called_at: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

impl std::fmt::Debug for ReplyWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyWebhook")
            .field("user_id", &self.user_id)
            .field("url", &self.url)
            .field("secret", &"<hidden>")
            .finish_non_exhaustive()
    }
}

/// What a reply webhook is sent (as JSON) for a text routed to its user.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyRequest {
    /// The stored message's id (as in the messages APIs and events).
    pub message_id: i64,
    pub user_id: i64,
    pub from: String,
    pub to: String,
    pub body: String,
    /// The provider's id of the text (Twilio's MessageSid).
    pub message_sid: String,
    pub received_at: String,
}

/// What a reply webhook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyAnswer {
    /// Reply with this text.
    Message(String),
    /// Reply nothing.
    Nothing,
}

/// The longest reply a webhook may give (Twilio's limit for a message body).
pub const MAX_REPLY_CHARS: usize = 1600;
/// The router setting that sets the reply webhook's timeout, in milliseconds.
pub const REPLY_TIMEOUT_KEY: &str = "reply_webhook_timeout_ms";
/// The default timeout: Twilio waits 15 s for the whole answer.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REPLY_TIMEOUT_MS: u64 = 14_000;
const MIN_REPLY_TIMEOUT_MS: u64 = 100;
/// A larger answer is refused without reading the rest.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
const MAX_URL: usize = 2000;

const REPLY_COLUMNS: &str =
    "user_id, url, secret, created_at, updated_at, last_called_at, last_status, last_error";

fn reply_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReplyWebhook> {
    Ok(ReplyWebhook {
        user_id: r.get(0)?,
        url: r.get(1)?,
        secret: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        last_called_at: r.get(5)?,
        last_status: r.get(6)?,
        last_error: r.get(7)?,
    })
}

/// An http(s) URL with a host, or what is wrong with it.
pub fn validate_reply_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL {
        return Err(format!("the URL is longer than {MAX_URL} characters"));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("the URL {url:?} is not valid: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "the URL {url:?} must be http:// or https:// with a host"
        ));
    }
    Ok(())
}

/// Reads a reply webhook's answer (see the module doc).
pub fn parse_reply_answer(content_type: Option<&str>, body: &[u8]) -> Result<ReplyAnswer, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the answer is not UTF-8 text".to_string())?;
    let is_json = content_type.is_some_and(|ct| {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        mime == "application/json" || mime.ends_with("+json")
    });
    let reply = if is_json {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("the JSON answer does not parse: {e}"))?;
        match value.get("reply") {
            Some(serde_json::Value::String(s)) => s.trim().to_string(),
            Some(serde_json::Value::Null) => String::new(),
            Some(_) => return Err("the JSON answer's \"reply\" is not a string".into()),
            None if value.is_object() => return Err("the JSON answer has no \"reply\"".into()),
            None => return Err("the JSON answer is not an object".into()),
        }
    } else {
        text.trim_start_matches('\u{feff}').trim().to_string()
    };
    if reply.is_empty() {
        return Ok(ReplyAnswer::Nothing);
    }
    let chars = reply.chars().count();
    if chars > MAX_REPLY_CHARS {
        return Err(format!(
            "the reply is {chars} characters long; at most {MAX_REPLY_CHARS}"
        ));
    }
    Ok(ReplyAnswer::Message(reply))
}

/// The client for reply webhook calls, built once (rustls with the OS trust store, no
/// redirects); each call sets its own timeout.
fn reply_client() -> Result<reqwest::Client, String> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let built =
        crate::providers::provider_http_client(Duration::from_millis(MAX_REPLY_TIMEOUT_MS))?;
    Ok(CLIENT.get_or_init(|| built).clone())
}

/// Reads at most [`MAX_ANSWER_BYTES`] of an answer.
async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is larger than {MAX_ANSWER_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    // The chain names the cause (refused, DNS, TLS).
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

const MAPPING_COLUMNS: &str =
    "id, user_id, phone_number, is_primary, is_verified, verification_method, created_at";

fn mapping_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PhoneMapping> {
    Ok(PhoneMapping {
        id: r.get(0)?,
        user_id: r.get(1)?,
        phone_number: r.get(2)?,
        is_primary: r.get(3)?,
        is_verified: r.get(4)?,
        verification_method: r.get(5)?,
        created_at: r.get(6)?,
    })
}

impl Gateway {
    /// Stores a provider-delivered text once per `(provider, provider_id)`.
    pub async fn accept_text(&self, t: InboundText) -> GatewayResult<AcceptedText> {
        let extra = serde_json::json!({ "provider_id": t.provider_id });
        self.accept_whole_text(t, extra).await
    }

    /// A text that says it is one part of a concatenated message but whose numbering
    /// cannot be used (`warning` says which field and why; `concat` holds the fields
    /// as given): stored as its own message like [`Gateway::accept_text`], both in its
    /// `extra_data`, so that what the provider delivered is seen rather than lost.
    pub async fn accept_unjoinable_text(
        &self,
        t: InboundText,
        warning: &str,
        concat: serde_json::Value,
    ) -> GatewayResult<AcceptedText> {
        let extra = serde_json::json!({
            "provider_id": t.provider_id,
            "warning": warning,
            "concat": concat,
        });
        self.accept_whole_text(t, extra).await
    }

    async fn accept_whole_text(
        &self,
        t: InboundText,
        extra: serde_json::Value,
    ) -> GatewayResult<AcceptedText> {
        let now = time::now_iso();
        let received_at = t.received_at.clone().unwrap_or_else(|| now.clone());
        let (accepted, event) = self
            .store
            .write(move |txn| {
                if let Some(seen) = seen_text(txn, &t.provider, &t.provider_id)? {
                    let dup = AcceptedText::Duplicate {
                        reply: seen.reply,
                        user_id: seen.user_id,
                    };
                    return Ok((dup, None));
                }
                let (view, event) = insert_text(txn, &t, extra, &received_at, &now)?;
                Ok((
                    AcceptedText::Stored {
                        message_id: view.id,
                        user_id: view.user_id,
                        received_at,
                    },
                    Some(event),
                ))
            })
            .await?;
        if let Some(e) = event {
            self.events.publish(e);
        }
        Ok(accepted)
    }

    /// Stores one part of a concatenated text (see the module doc) once per
    /// `(provider, provider_id)`; `t.received_at` is the provider's time for the part.
    /// When this returns `Ok`, the part is committed.
    pub async fn accept_text_part(
        &self,
        t: InboundText,
        part: TextPart,
    ) -> GatewayResult<AcceptedPart> {
        let now = time::now_iso();
        let late_window = time::iso(time::now() - chrono::Duration::hours(LATE_PART_WINDOW_HOURS));
        let (accepted, events) = self
            .store
            .write(move |txn| {
                if let Some(seen) = seen_text(txn, &t.provider, &t.provider_id)? {
                    let dup = AcceptedPart::Duplicate {
                        message_id: seen.message_id,
                    };
                    return Ok((dup, Vec::new()));
                }
                let group = TextGroup {
                    to: t.to.clone(),
                    from: t.from.clone(),
                    reference: part.reference,
                };
                let mut open = group.open_parts(txn)?;
                if let Some(other) = open.iter().map(|p| p.total).find(|n| *n != part.total) {
                    // Two totals under one reference: one of them is wrong, and which
                    // cannot be told. The waiting group keeps its own; this text is
                    // shown on its own (a refusal would be retried, then dropped).
                    let warning = format!(
                        "concat-total is {} but the parts waiting under concat-ref {} from {} say {other}",
                        part.total, part.reference, t.from
                    );
                    let extra = serde_json::json!({
                        "provider_id": t.provider_id,
                        "warning": warning,
                        "concat": { "ref": part.reference, "total": part.total, "part": part.seq },
                    });
                    let received_at = t.received_at.clone().unwrap_or_else(|| now.clone());
                    let (view, event) = insert_text(txn, &t, extra, &received_at, &now)?;
                    let standalone = AcceptedPart::Standalone {
                        message_id: view.id,
                        user_id: view.user_id,
                        warning,
                    };
                    return Ok((standalone, vec![event]));
                }
                let origin = (t.provider.as_str(), t.channel.as_str());
                // A part that arrives after its message was delivered incomplete
                // completes it, unless a newer group under this reference is open.
                if open.is_empty() {
                    if let Some(message_id) =
                        group.incomplete_message_missing(txn, part, &late_window)?
                    {
                        insert_part(txn, &group, part, &t, &now, Some(message_id))?;
                        let (view, event) = rebuild(txn, message_id, &group, part.total, &t, &now)?;
                        let done = AcceptedPart::Message {
                            message_id: view.id,
                            user_id: view.user_id,
                            updated: true,
                        };
                        return Ok((done, vec![event]));
                    }
                }
                let mut events = Vec::new();
                // This part's number is open already under another provider id: a new
                // message reused the reference, and the old one will not complete.
                if open.iter().any(|p| p.seq == part.seq) {
                    let (_, event) = deliver(txn, &group, part.total, &open, origin, &now, false)?;
                    events.push(event);
                    open.clear();
                }
                open.push(insert_part(txn, &group, part, &t, &now, None)?);
                let received = distinct_parts(&open).len();
                if received < usize::from(part.total) {
                    let waiting = AcceptedPart::Waiting {
                        seq: part.seq,
                        total: part.total,
                        received,
                    };
                    return Ok((waiting, events));
                }
                let (view, event) = deliver(txn, &group, part.total, &open, origin, &now, false)?;
                events.push(event);
                let done = AcceptedPart::Message {
                    message_id: view.id,
                    user_id: view.user_id,
                    updated: false,
                };
                Ok((done, events))
            })
            .await?;
        for e in events {
            self.events.publish(e);
        }
        Ok(accepted)
    }

    /// Remembers the reply given to a text, for a replay of its webhook.
    pub async fn record_text_reply(
        &self,
        provider: &str,
        provider_id: &str,
        reply: &str,
    ) -> GatewayResult<()> {
        let (p, id, r) = (
            provider.to_string(),
            provider_id.to_string(),
            reply.to_string(),
        );
        self.store
            .write(move |txn| {
                txn.execute(
                    "UPDATE inbound_texts SET reply = ?3 WHERE provider = ?1 AND provider_id = ?2",
                    params![p, id, r],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    pub async fn record_router_usage(
        &self,
        user_id: Option<i64>,
        phone: &str,
        direction: &'static str,
        length: i64,
        success: bool,
        processing_time_ms: i64,
    ) -> GatewayResult<()> {
        let phone = phone.to_string();
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO sms_router_usage (user_id, phone_number, direction, length, success, processing_time_ms, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![user_id, phone, direction, length, success, processing_time_ms, now],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    pub async fn router_usage(
        &self,
        limit: i64,
        offset: i64,
    ) -> GatewayResult<(i64, Vec<UsageLog>)> {
        Ok(self
            .store
            .read(move |c| {
                let total: i64 = c.query_row("SELECT COUNT(*) FROM sms_router_usage", [], |r| r.get(0))?;
                let mut stmt = c.prepare(
                    "SELECT id, user_id, phone_number, direction, length, success, processing_time_ms, created_at
                     FROM sms_router_usage ORDER BY id LIMIT ?1 OFFSET ?2",
                )?;
                let logs = stmt
                    .query_map(params![limit, offset], |r| {
                        Ok(UsageLog {
                            id: r.get(0)?,
                            user_id: r.get(1)?,
                            phone_number: r.get(2)?,
                            direction: r.get(3)?,
                            length: r.get(4)?,
                            success: r.get(5)?,
                            processing_time_ms: r.get(6)?,
                            created_at: r.get(7)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((total, logs))
            })
            .await?)
    }

    pub async fn router_stats(&self) -> GatewayResult<RouterStats> {
        let day_ago = time::iso(time::now() - chrono::Duration::hours(24));
        Ok(self
            .store
            .read(move |c| {
                let q = "SELECT COUNT(*), COALESCE(SUM(success), 0), CAST(COALESCE(AVG(processing_time_ms), 0) AS INTEGER)
                         FROM sms_router_usage WHERE direction = 'inbound' AND created_at >= ?1";
                let (total, ok, avg): (i64, i64, i64) =
                    c.query_row(q, [""], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                let (day, day_ok): (i64, i64) =
                    c.query_row(q, [&day_ago], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let mut stmt = c.prepare(
                    "SELECT user_id, COUNT(*), MIN(phone_number) FROM sms_router_usage
                     WHERE direction = 'inbound' AND user_id IS NOT NULL
                     GROUP BY user_id ORDER BY COUNT(*) DESC, user_id LIMIT 10",
                )?;
                let top_users = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(RouterStats {
                    total_messages: total,
                    successful_routes: ok,
                    failed_routes: total - ok,
                    average_processing_time_ms: avg,
                    last_24_hours_messages: day,
                    last_24_hours_success: day_ok,
                    top_users,
                })
            })
            .await?)
    }

    pub async fn phone_mappings(&self, user_id: Option<i64>) -> GatewayResult<Vec<PhoneMapping>> {
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT {MAPPING_COLUMNS} FROM phone_mappings WHERE ?1 IS NULL OR user_id = ?1 ORDER BY id"
                ))?;
                let rows = stmt
                    .query_map([user_id], mapping_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// Maps `phone` (E.164) to a user. `Invalid` for an unknown user, `Conflict` when
    /// the number is mapped already. A primary mapping demotes the user's others.
    pub async fn create_phone_mapping(
        &self,
        user_id: i64,
        phone: &str,
        is_primary: bool,
        verification_method: &str,
    ) -> GatewayResult<PhoneMapping> {
        let (phone, method) = (phone.to_string(), verification_method.to_string());
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                let user: Option<i64> = txn
                    .query_row("SELECT id FROM users WHERE id = ?1", [user_id], |r| r.get(0))
                    .optional()?;
                if user.is_none() {
                    return Ok(Err(GatewayError::Invalid(format!("user {user_id} does not exist"))));
                }
                let taken: Option<i64> = txn
                    .query_row("SELECT id FROM phone_mappings WHERE phone_number = ?1", [&phone], |r| r.get(0))
                    .optional()?;
                if taken.is_some() {
                    return Ok(Err(GatewayError::Conflict(format!("{phone} is mapped already"))));
                }
                if is_primary {
                    txn.execute("UPDATE phone_mappings SET is_primary = 0 WHERE user_id = ?1", [user_id])?;
                }
                let verified = method == "sms";
                txn.execute(
                    "INSERT INTO phone_mappings (user_id, phone_number, is_primary, is_verified, verification_method, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![user_id, phone, is_primary, verified, method, now],
                )?;
                let id = txn.last_insert_rowid();
                Ok(Ok(txn.query_row(
                    &format!("SELECT {MAPPING_COLUMNS} FROM phone_mappings WHERE id = ?1"),
                    [id],
                    mapping_row,
                )?))
            })
            .await?
    }

    /// Deletes a mapping; `false` when there was none.
    pub async fn delete_phone_mapping(&self, id: i64) -> GatewayResult<bool> {
        Ok(self
            .store
            .write(move |txn| {
                Ok(txn.execute("DELETE FROM phone_mappings WHERE id = ?1", [id])? > 0)
            })
            .await?)
    }

    pub async fn router_config(&self) -> GatewayResult<Vec<RouterConfigEntry>> {
        Ok(self
            .store
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT key, value, description, is_active, updated_at FROM sms_router_config ORDER BY key",
                )?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok(RouterConfigEntry {
                            key: r.get(0)?,
                            value: r.get(1)?,
                            description: r.get(2)?,
                            is_active: r.get(3)?,
                            updated_at: r.get(4)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// Sets a router setting; a missing description keeps the old one.
    pub async fn set_router_config(
        &self,
        key: &str,
        value: &str,
        description: Option<&str>,
    ) -> GatewayResult<()> {
        let (k, v, d) = (
            key.to_string(),
            value.to_string(),
            description.map(String::from),
        );
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO sms_router_config (key, value, description, is_active, updated_at)
                     VALUES (?1, ?2, COALESCE(?3, ''), 1, ?4)
                     ON CONFLICT(key) DO UPDATE SET value = ?2, description = COALESCE(?3, description), updated_at = ?4",
                    params![k, v, d, now],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// The reply webhook of `user_id`, if one is set.
    pub async fn reply_webhook(&self, user_id: i64) -> GatewayResult<Option<ReplyWebhook>> {
        Ok(self
            .store
            .read(move |c| {
                Ok(c.query_row(
                    &format!(
                        "SELECT {REPLY_COLUMNS} FROM sms_router_reply_webhooks WHERE user_id = ?1"
                    ),
                    [user_id],
                    reply_row,
                )
                .optional()?)
            })
            .await?)
    }

    /// Every reply webhook, or `user_id`'s.
    pub async fn reply_webhooks(&self, user_id: Option<i64>) -> GatewayResult<Vec<ReplyWebhook>> {
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT {REPLY_COLUMNS} FROM sms_router_reply_webhooks WHERE ?1 IS NULL OR user_id = ?1 ORDER BY user_id"
                ))?;
                let rows = stmt
                    .query_map([user_id], reply_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// Sets (or replaces) the reply webhook of `user_id`: an http(s) URL, signed with
    /// `secret` (16 to 200 characters) or a new random one. `NotFound` for an unknown
    /// user, `Invalid` naming what is wrong with the URL or the secret.
    pub async fn set_reply_webhook(
        &self,
        user_id: i64,
        url: &str,
        secret: Option<String>,
    ) -> GatewayResult<ReplyWebhook> {
        validate_reply_url(url).map_err(GatewayError::Invalid)?;
        let secret = match secret {
            Some(s) if !(16..=200).contains(&s.chars().count()) => {
                return Err(GatewayError::Invalid(
                    "the secret must be 16 to 200 characters".into(),
                ))
            }
            Some(s) => s,
            None => crate::webhooks::new_secret(),
        };
        let url = url.to_string();
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                let user: Option<i64> = txn
                    .query_row("SELECT id FROM users WHERE id = ?1", [user_id], |r| r.get(0))
                    .optional()?;
                if user.is_none() {
                    return Ok(Err(GatewayError::NotFound("user")));
                }
                txn.execute(
                    "INSERT INTO sms_router_reply_webhooks (user_id, url, secret, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?4)
                     ON CONFLICT(user_id) DO UPDATE SET url = ?2, secret = ?3, updated_at = ?4,
                        last_called_at = NULL, last_status = NULL, last_error = NULL",
                    params![user_id, url, secret, now],
                )?;
                Ok(Ok(txn.query_row(
                    &format!("SELECT {REPLY_COLUMNS} FROM sms_router_reply_webhooks WHERE user_id = ?1"),
                    [user_id],
                    reply_row,
                )?))
            })
            .await?
    }

    /// Removes the reply webhook of `user_id`; `false` when there was none.
    pub async fn delete_reply_webhook(&self, user_id: i64) -> GatewayResult<bool> {
        Ok(self
            .store
            .write(move |txn| {
                Ok(txn.execute(
                    "DELETE FROM sms_router_reply_webhooks WHERE user_id = ?1",
                    [user_id],
                )? > 0)
            })
            .await?)
    }

    /// The reply webhook's timeout: the router setting [`REPLY_TIMEOUT_KEY`] (100 to
    /// 14000 ms) when it is active and a number, else [`DEFAULT_REPLY_TIMEOUT`].
    pub async fn reply_timeout(&self) -> Duration {
        let set: Option<String> = self
            .store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT value FROM sms_router_config WHERE key = ?1 AND is_active = 1",
                    [REPLY_TIMEOUT_KEY],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await
            .ok()
            .flatten();
        match set.as_deref().map(|v| v.trim().parse::<u64>()) {
            None => DEFAULT_REPLY_TIMEOUT,
            Some(Ok(ms)) => {
                Duration::from_millis(ms.clamp(MIN_REPLY_TIMEOUT_MS, MAX_REPLY_TIMEOUT_MS))
            }
            Some(Err(_)) => {
                tracing::warn!(
                    "sms router: {REPLY_TIMEOUT_KEY} = {:?} is not a number of milliseconds; using {} ms",
                    set.unwrap_or_default(),
                    DEFAULT_REPLY_TIMEOUT.as_millis()
                );
                DEFAULT_REPLY_TIMEOUT
            }
        }
    }

    /// Asks `hook` what to reply to `req` (see the module doc) and records the outcome
    /// on the hook. `Err` names why the answer cannot be used.
    pub async fn call_reply_webhook(
        &self,
        hook: &ReplyWebhook,
        req: &ReplyRequest,
    ) -> Result<ReplyAnswer, String> {
        let timeout = self.reply_timeout().await;
        let (status, outcome) = match reply_client() {
            Err(e) => (None, Err(format!("cannot build the HTTP client: {e}"))),
            Ok(client) => ask(&client, hook, req, timeout).await,
        };
        let (user_id, error) = (hook.user_id, outcome.as_ref().err().cloned());
        let now = time::now_iso();
        let recorded = self
            .store
            .write(move |txn| {
                txn.execute(
                    "UPDATE sms_router_reply_webhooks SET last_called_at = ?2, last_status = ?3, last_error = ?4 WHERE user_id = ?1",
                    params![user_id, now, status, error],
                )?;
                Ok(())
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!("sms router: cannot record the reply webhook's outcome: {e}");
        }
        outcome
    }

    /// A cheap query: is the database answering?
    pub async fn database_ok(&self) -> bool {
        self.store
            .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .is_ok()
    }
}

/// A provider id stored before.
struct Seen {
    reply: Option<String>,
    user_id: Option<i64>,
    /// The message it is (or, for a part, is in), once delivered.
    message_id: Option<i64>,
}

fn seen_text(
    txn: &rusqlite::Transaction<'_>,
    provider: &str,
    provider_id: &str,
) -> rusqlite::Result<Option<Seen>> {
    // A part delivered by the scheduler (incomplete) is linked through its part.
    txn.query_row(
        "SELECT t.reply, COALESCE(t.user_id, m.user_id), COALESCE(t.message_id, p.message_id)
         FROM inbound_texts t
         LEFT JOIN message_parts p ON p.id = t.part_id
         LEFT JOIN messages m ON m.id = p.message_id
         WHERE t.provider = ?1 AND t.provider_id = ?2",
        params![provider, provider_id],
        |r| {
            Ok(Seen {
                reply: r.get(0)?,
                user_id: r.get(1)?,
                message_id: r.get(2)?,
            })
        },
    )
    .optional()
}

/// The user the sender's phone mapping names.
fn mapped_user(txn: &rusqlite::Transaction<'_>, from: &str) -> rusqlite::Result<Option<i64>> {
    txn.query_row(
        "SELECT user_id FROM phone_mappings WHERE phone_number = ?1",
        [from],
        |r| r.get(0),
    )
    .optional()
}

/// When no lease took a new message, the sender's phone mapping names its user: the
/// message and its `new_message` event (row and payload) go to that user.
fn route_by_phone_mapping(
    txn: &rusqlite::Transaction<'_>,
    view: &mut MessageView,
    event: &mut Event,
) -> rusqlite::Result<()> {
    if view.user_id.is_some() {
        return Ok(());
    }
    let Some(user_id) = mapped_user(txn, &view.from_number)? else {
        return Ok(());
    };
    txn.execute(
        "UPDATE messages SET user_id = ?1 WHERE id = ?2",
        params![user_id, view.id],
    )?;
    view.user_id = Some(user_id);
    if let Event::NewMessage {
        event_id,
        user_id: u,
        message,
        assignment,
    } = event
    {
        *u = Some(user_id);
        message.user_id = Some(user_id);
        let payload = serde_json::json!({ "message": message, "assignment": assignment });
        txn.execute(
            "UPDATE events SET user_id = ?1, payload = ?2 WHERE id = ?3",
            params![user_id, payload.to_string(), *event_id],
        )?;
    }
    Ok(())
}

/// Stores a whole text as a message (classified, routed, event row) and its
/// `inbound_texts` row.
fn insert_text(
    txn: &rusqlite::Transaction<'_>,
    t: &InboundText,
    extra_data: serde_json::Value,
    received_at: &str,
    now: &str,
) -> rusqlite::Result<(MessageView, Event)> {
    let new = NewMessage {
        to_number: t.to.clone(),
        from_number: t.from.clone(),
        content: t.text.clone(),
        sent_at: None,
        provider: t.provider.clone(),
        channel: t.channel.clone(),
        parts_total: 1,
        parts_received: 1,
        extra_data,
    };
    let (mut view, mut event) = insert_message(txn, new, received_at, received_at)?;
    route_by_phone_mapping(txn, &mut view, &mut event)?;
    txn.execute(
        "INSERT INTO inbound_texts (provider, provider_id, channel, message_id, user_id, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![t.provider, t.provider_id, t.channel, view.id, view.user_id, now],
    )?;
    Ok((view, event))
}

/// The reassembly key of a provider's concatenated text. The total is not part of it:
/// a part that disagrees with its open group on it is stored on its own (see
/// [`Gateway::accept_text_part`]).
struct TextGroup {
    to: String,
    from: String,
    reference: u16,
}

/// A stored part.
struct StoredPart {
    total: u8,
    seq: u8,
    text: String,
    /// The provider's time for the part.
    sent_at: Option<String>,
    /// When it reached the box.
    received_at: String,
    provider_id: Option<String>,
}

/// What [`part_row`] reads, and from where: `SELECT {PART_QUERY} WHERE ...`.
const PART_QUERY: &str =
    "p.total, p.seq, p.text, p.sent_at, p.received_at, t.provider_id FROM message_parts p
     LEFT JOIN inbound_texts t ON t.part_id = p.id";

fn part_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredPart> {
    Ok(StoredPart {
        total: r.get(0)?,
        seq: r.get(1)?,
        text: r.get(2)?,
        sent_at: r.get(3)?,
        received_at: r.get(4)?,
        provider_id: r.get(5)?,
    })
}

impl TextGroup {
    /// The parts waiting under this key (any total), by seq then arrival.
    fn open_parts(&self, txn: &rusqlite::Transaction<'_>) -> rusqlite::Result<Vec<StoredPart>> {
        let mut stmt = txn.prepare_cached(&format!(
            "SELECT {PART_QUERY} WHERE p.to_number = ?1 AND p.from_number = ?2
             AND p.concat_ref = ?3 AND p.message_id IS NULL ORDER BY p.seq, p.id"
        ))?;
        let rows = stmt
            .query_map(params![self.to, self.from, self.reference], part_row)?
            .collect();
        rows
    }

    /// A recent incomplete message of this key and total that lacks `part.seq`.
    fn incomplete_message_missing(
        &self,
        txn: &rusqlite::Transaction<'_>,
        part: TextPart,
        since: &str,
    ) -> rusqlite::Result<Option<i64>> {
        crate::inbound::incomplete_message_missing(
            txn,
            (&self.to, &self.from, self.reference, part.total),
            part.seq,
            since,
        )
    }
}

/// Commits a part (in `message_parts`, and its provider id in `inbound_texts`).
fn insert_part(
    txn: &rusqlite::Transaction<'_>,
    group: &TextGroup,
    part: TextPart,
    t: &InboundText,
    now: &str,
    message_id: Option<i64>,
) -> rusqlite::Result<StoredPart> {
    txn.execute(
        "INSERT INTO message_parts (to_number, from_number, concat_ref, total, seq, text, sent_at, received_at, message_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![group.to, group.from, group.reference, part.total, part.seq, t.text, t.received_at, now, message_id],
    )?;
    let part_id = txn.last_insert_rowid();
    txn.execute(
        "INSERT INTO inbound_texts (provider, provider_id, channel, message_id, received_at, part_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![t.provider, t.provider_id, t.channel, message_id, now, part_id],
    )?;
    Ok(StoredPart {
        total: part.total,
        seq: part.seq,
        text: t.text.clone(),
        sent_at: t.received_at.clone(),
        received_at: now.to_string(),
        provider_id: Some(t.provider_id.clone()),
    })
}

/// One part per seq (the first to arrive of those in `parts`' order), by seq.
fn distinct_parts(parts: &[StoredPart]) -> Vec<&StoredPart> {
    let mut sorted: Vec<&StoredPart> = parts.iter().collect();
    sorted.sort_by_key(|p| p.seq);
    sorted.dedup_by_key(|p| p.seq);
    sorted
}

/// The text from the parts at hand, as the modem path joins them.
fn assemble(parts: &[&StoredPart], total: u8) -> String {
    crate::inbound::assemble(parts.iter().map(|p| (p.seq, p.text.as_str())), total)
}

/// `extra_data` of a joined text: the modem path's keys, and the parts' provider ids.
fn joined_extra(reference: u16, total: u8, parts: &[&StoredPart]) -> serde_json::Value {
    let ids: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.provider_id.as_deref())
        .collect();
    let mut extra = crate::inbound::concat_extra(reference, total, parts.iter().map(|p| p.seq));
    extra["provider_ids"] = ids.into();
    extra
}

/// Turns the open parts of `group` (with `total`) into one message, incomplete when
/// parts are missing: stored, classified and routed like a whole text.
fn deliver(
    txn: &rusqlite::Transaction<'_>,
    group: &TextGroup,
    total: u8,
    open: &[StoredPart],
    (provider, channel): (&str, &str),
    now: &str,
    timed_out: bool,
) -> rusqlite::Result<(MessageView, Event)> {
    let parts = distinct_parts(open);
    // Received when the provider had the last part (or, delivered incomplete, now: the
    // window for late parts counts from then, as on the modem path); routed to the
    // lease active when it had the first (a provider's times, else the box's).
    let received_at = match timed_out {
        true => now.to_string(),
        false => parts
            .iter()
            .filter_map(|p| p.sent_at.clone())
            .max()
            .unwrap_or_else(|| now.to_string()),
    };
    let arrived_at = parts
        .iter()
        .filter_map(|p| p.sent_at.clone())
        .min()
        .or_else(|| parts.iter().map(|p| p.received_at.clone()).min())
        .unwrap_or_else(|| now.to_string());
    let new = NewMessage {
        to_number: group.to.clone(),
        from_number: group.from.clone(),
        content: assemble(&parts, total),
        sent_at: parts.iter().find_map(|p| p.sent_at.clone()),
        provider: provider.to_string(),
        channel: channel.to_string(),
        parts_total: i64::from(total),
        parts_received: parts.len() as i64,
        extra_data: joined_extra(group.reference, total, &parts),
    };
    let (mut view, mut event) = insert_message(txn, new, &received_at, &arrived_at)?;
    route_by_phone_mapping(txn, &mut view, &mut event)?;
    txn.execute(
        "UPDATE message_parts SET message_id = ?1 WHERE to_number = ?2 AND from_number = ?3
         AND concat_ref = ?4 AND total = ?5 AND message_id IS NULL",
        params![view.id, group.to, group.from, group.reference, total],
    )?;
    link_texts(txn, view.id, view.user_id)?;
    Ok((view, event))
}

/// The scheduler's incomplete-message timeout for a group of provider texts: delivers
/// the parts at hand (with `total`) as [`Gateway::accept_text_part`] would have.
pub(crate) fn deliver_incomplete(
    txn: &rusqlite::Transaction<'_>,
    (to, from, reference, total): (&str, &str, u16, u8),
    origin: (&str, &str),
    now: &str,
) -> rusqlite::Result<Option<(MessageView, Event)>> {
    let group = TextGroup {
        to: to.to_string(),
        from: from.to_string(),
        reference,
    };
    let open: Vec<StoredPart> = group
        .open_parts(txn)?
        .into_iter()
        .filter(|p| p.total == total)
        .collect();
    if open.is_empty() {
        return Ok(None);
    }
    deliver(txn, &group, total, &open, origin, now, true).map(Some)
}

/// Points the `inbound_texts` rows of a message's parts at it.
fn link_texts(
    txn: &rusqlite::Transaction<'_>,
    message_id: i64,
    user_id: Option<i64>,
) -> rusqlite::Result<()> {
    txn.execute(
        "UPDATE inbound_texts SET message_id = ?1, user_id = ?2
         WHERE part_id IN (SELECT id FROM message_parts WHERE message_id = ?1)",
        params![message_id, user_id],
    )?;
    Ok(())
}

/// Rebuilds an incomplete message from all its parts after a late one arrived:
/// re-joined and re-classified, labelled with the provider and channel of its parts,
/// routed by phone mapping if nothing routed it; a `message_updated` event.
fn rebuild(
    txn: &rusqlite::Transaction<'_>,
    message_id: i64,
    group: &TextGroup,
    total: u8,
    t: &InboundText,
    now: &str,
) -> rusqlite::Result<(MessageView, Event)> {
    let mut stmt = txn.prepare_cached(&format!(
        "SELECT {PART_QUERY} WHERE p.message_id = ?1 ORDER BY p.seq, p.id"
    ))?;
    let stored = stmt
        .query_map([message_id], part_row)?
        .collect::<Result<Vec<_>, _>>()?;
    drop(stmt);
    let parts = distinct_parts(&stored);
    let content = assemble(&parts, total);
    let found = otp::extract(&content, Some(&group.from));
    let routed: Option<i64> = txn.query_row(
        "SELECT user_id FROM messages WHERE id = ?1",
        [message_id],
        |r| r.get(0),
    )?;
    let user_id = match routed {
        Some(u) => Some(u),
        None => mapped_user(txn, &group.from)?,
    };
    txn.execute(
        "UPDATE messages SET content = ?1, parts_received = ?2, extra_data = ?3, type = ?4, otp_code = ?5,
            service = ?6, provider = ?7, channel = ?8, user_id = ?9
         WHERE id = ?10",
        params![
            content,
            parts.len() as i64,
            joined_extra(group.reference, total, &parts).to_string(),
            found.kind.as_str(),
            found.code,
            found.service,
            t.provider,
            t.channel,
            user_id,
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
    link_texts(txn, message_id, view.user_id)?;
    crate::inbound::message_updated(txn, view, now)
}

/// One call of a reply webhook: the HTTP status, if any, and the answer.
async fn ask(
    client: &reqwest::Client,
    hook: &ReplyWebhook,
    req: &ReplyRequest,
    timeout: Duration,
) -> (Option<i64>, Result<ReplyAnswer, String>) {
    let body = match serde_json::to_vec(req) {
        Ok(b) => b,
        Err(e) => return (None, Err(format!("cannot encode the request: {e}"))),
    };
    let signature = crate::webhooks::sign(&hook.secret, time::now().timestamp(), &body);
    let sent = client
        .post(&hook.url)
        .timeout(timeout)
        .header("Content-Type", "application/json")
        .header(crate::webhooks::SIGNATURE_HEADER, signature)
        .header("X-Simgate-Event", "sms_router.reply")
        .body(body)
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return (None, Err(describe(&e))),
    };
    let status = resp.status();
    let code = Some(i64::from(status.as_u16()));
    if !status.is_success() {
        let why = if status.is_redirection() {
            format!("answered {status} (redirects are not followed)")
        } else {
            format!("answered {status}")
        };
        return (code, Err(why));
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let answer = match read_capped(resp).await {
        Ok(bytes) => parse_reply_answer(content_type.as_deref(), &bytes),
        Err(e) => Err(e),
    };
    (code, answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::MessageQuery;

    const TO: &str = "+447700900000";
    const FROM: &str = "+447700900555";

    fn vonage_part(id: &str, text: &str) -> InboundText {
        InboundText {
            channel: "vonage-main".into(),
            provider: "vonage".into(),
            to: TO.into(),
            from: FROM.into(),
            text: text.into(),
            provider_id: id.into(),
            received_at: Some("2025-08-06T12:00:01.000Z".into()),
        }
    }

    fn part(reference: u16, total: u8, seq: u8) -> TextPart {
        TextPart {
            reference,
            total,
            seq,
        }
    }

    async fn all_messages(g: &Gateway) -> Vec<MessageView> {
        g.messages(MessageQuery {
            page: 1,
            limit: 50,
            oldest_first: true,
            ..MessageQuery::default()
        })
        .await
        .expect("query")
        .messages
    }

    fn kinds(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        while let Ok(e) = rx.try_recv() {
            kinds.push(e.kind());
        }
        kinds
    }

    const PARTS: [&str; 3] = [
        "Your verification code is 48",
        "1516. It expires in ten minutes; ",
        "never share it with anyone.",
    ];

    #[tokio::test]
    async fn text_parts_make_one_message_whatever_their_order_and_replays() {
        let dir = tempfile::tempdir().expect("temp dir");
        let g = Gateway::open(&dir.path().join("db")).expect("opens");
        let user = g
            .create_user(crate::users::NewUser {
                email: Some("mapped@example.com".into()),
                ..Default::default()
            })
            .await
            .expect("user");
        g.create_phone_mapping(user.id, FROM, true, "manual")
            .await
            .expect("mapping");
        let mut rx = g.events().subscribe();
        let got = g
            .accept_text_part(vonage_part("p3", PARTS[2]), part(108, 3, 3))
            .await
            .expect("stored");
        assert_eq!(
            got,
            AcceptedPart::Waiting {
                seq: 3,
                total: 3,
                received: 1
            }
        );
        let got = g
            .accept_text_part(vonage_part("p1", PARTS[0]), part(108, 3, 1))
            .await
            .expect("stored");
        assert!(matches!(got, AcceptedPart::Waiting { received: 2, .. }));
        let again = g
            .accept_text_part(vonage_part("p3", PARTS[2]), part(108, 3, 3))
            .await
            .expect("recognised");
        assert_eq!(again, AcceptedPart::Duplicate { message_id: None });
        assert!(all_messages(&g).await.is_empty());
        assert!(kinds(&mut rx).is_empty());

        let AcceptedPart::Message {
            message_id,
            user_id,
            updated: false,
        } = g
            .accept_text_part(vonage_part("p2", PARTS[1]), part(108, 3, 2))
            .await
            .expect("stored")
        else {
            panic!("the last part completes the message");
        };
        assert_eq!(user_id, Some(user.id), "routed by the phone mapping");
        let messages = all_messages(&g).await;
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m.id, message_id);
        assert_eq!(m.content, PARTS.concat());
        assert_eq!(
            m.otp_code.as_deref(),
            Some("481516"),
            "a code split by parts"
        );
        assert_eq!((m.parts_received, m.parts_total), (3, 3));
        assert_eq!(
            (m.provider.as_str(), m.channel.as_str()),
            ("vonage", "vonage-main")
        );
        assert_eq!(m.user_id, Some(user.id));
        assert_eq!(m.received_at, "2025-08-06T12:00:01.000Z");
        assert_eq!(
            m.extra_data,
            serde_json::json!({"concat_ref": 108, "provider_ids": ["p1", "p2", "p3"]})
        );
        assert_eq!(kinds(&mut rx), ["new_message"], "fanned out once");

        // Replays after the message: recognised, nothing new.
        for (id, seq) in [("p1", 1), ("p2", 2)] {
            let again = g
                .accept_text_part(
                    vonage_part(id, PARTS[usize::from(seq) - 1]),
                    part(108, 3, seq),
                )
                .await
                .expect("recognised");
            assert_eq!(
                again,
                AcceptedPart::Duplicate {
                    message_id: Some(message_id)
                }
            );
        }
        assert_eq!(all_messages(&g).await.len(), 1);
        assert!(kinds(&mut rx).is_empty());
    }

    #[tokio::test]
    async fn parts_that_stop_coming_are_delivered_incomplete_and_a_late_one_completes_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let g = Gateway::open(&dir.path().join("db")).expect("opens");
        let mut rx = g.events().subscribe();
        for (id, seq) in [("q1", 1u8), ("q3", 3)] {
            g.accept_text_part(
                vonage_part(id, PARTS[usize::from(seq) - 1]),
                part(5, 3, seq),
            )
            .await
            .expect("stored");
        }
        // The scheduler's timeout: nothing due with a long one, the group without one.
        assert_eq!(
            g.flush_incomplete(std::time::Duration::from_secs(3600))
                .await
                .expect("flush"),
            0
        );
        assert_eq!(
            g.flush_incomplete(std::time::Duration::ZERO)
                .await
                .expect("flush"),
            1
        );
        let messages = all_messages(&g).await;
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert!(!m.is_complete());
        assert_eq!(
            m.content,
            format!("{}[…]{}", PARTS[0], PARTS[2]),
            "marked where the part is missing"
        );
        assert_eq!(m.extra_data["incomplete"], true);
        assert_eq!(m.extra_data["missing_parts"], serde_json::json!([2]));
        assert_eq!(
            (m.provider.as_str(), m.channel.as_str()),
            ("vonage", "vonage-main"),
            "delivered incomplete, still labelled with the provider its parts came from"
        );
        assert_eq!(
            m.extra_data["provider_ids"],
            serde_json::json!(["q1", "q3"])
        );
        // A replay of a part it holds names it.
        assert_eq!(
            g.accept_text_part(vonage_part("q1", PARTS[0]), part(5, 3, 1))
                .await
                .expect("recognised"),
            AcceptedPart::Duplicate {
                message_id: Some(m.id)
            }
        );

        // Vonage retries the missing part later: the same message, now whole.
        let late = g
            .accept_text_part(vonage_part("q2", PARTS[1]), part(5, 3, 2))
            .await
            .expect("stored");
        assert_eq!(
            late,
            AcceptedPart::Message {
                message_id: m.id,
                user_id: None,
                updated: true
            }
        );
        let messages = all_messages(&g).await;
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert!(m.is_complete());
        assert_eq!(m.content, PARTS.concat());
        assert_eq!(m.otp_code.as_deref(), Some("481516"));
        assert_eq!(
            (m.provider.as_str(), m.channel.as_str()),
            ("vonage", "vonage-main")
        );
        assert!(m.extra_data.get("incomplete").is_none(), "{}", m.extra_data);
        assert_eq!(
            m.extra_data["provider_ids"],
            serde_json::json!(["q1", "q2", "q3"])
        );
        assert_eq!(kinds(&mut rx), ["new_message", "message_updated"]);
    }

    #[tokio::test]
    async fn a_reused_reference_and_a_disagreeing_total() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db");
        {
            let g = Gateway::open(&db).expect("opens");
            // Part 1 of a message whose part 2 never comes...
            g.accept_text_part(vonage_part("a1", "Old one, "), part(9, 2, 1))
                .await
                .expect("stored");
        }
        // ...and, after a restart, a new message under the same reference.
        let g = Gateway::open(&db).expect("reopens");
        let mut rx = g.events().subscribe();
        let got = g
            .accept_text_part(vonage_part("b1", "New one, "), part(9, 2, 1))
            .await
            .expect("stored");
        assert!(
            matches!(got, AcceptedPart::Waiting { received: 1, .. }),
            "{got:?}"
        );
        assert_eq!(kinds(&mut rx), ["new_message"], "the old one, incomplete");

        // A part that says the message has 3 parts: stored alone, with a warning.
        let AcceptedPart::Standalone {
            message_id,
            warning,
            ..
        } = g
            .accept_text_part(vonage_part("c3", "stray"), part(9, 3, 3))
            .await
            .expect("stored")
        else {
            panic!("a disagreeing total is stored alone");
        };
        assert!(warning.starts_with("concat-total is 3"), "{warning}");
        assert_eq!(
            g.accept_text_part(vonage_part("c3", "stray"), part(9, 3, 3))
                .await
                .expect("recognised"),
            AcceptedPart::Duplicate {
                message_id: Some(message_id)
            }
        );

        let done = g
            .accept_text_part(vonage_part("b2", "second part."), part(9, 2, 2))
            .await
            .expect("stored");
        assert!(
            matches!(done, AcceptedPart::Message { updated: false, .. }),
            "{done:?}"
        );
        let messages = all_messages(&g).await;
        let texts: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["Old one, […]", "stray", "New one, second part."]);
        assert_eq!(messages[1].extra_data["warning"], warning.as_str());
        assert_eq!(messages[1].extra_data["concat"]["total"], 3);
        assert_eq!(kinds(&mut rx), ["new_message", "new_message"]);
    }

    #[test]
    fn answers_read_as_text_or_json() {
        let text = |b: &str| parse_reply_answer(Some("text/plain; charset=utf-8"), b.as_bytes());
        let json = |b: &str| parse_reply_answer(Some("application/json"), b.as_bytes());
        assert_eq!(
            text(" Hi there\n"),
            Ok(ReplyAnswer::Message("Hi there".into()))
        );
        assert_eq!(
            parse_reply_answer(None, b"ok"),
            Ok(ReplyAnswer::Message("ok".into()))
        );
        assert_eq!(text(""), Ok(ReplyAnswer::Nothing));
        assert_eq!(text(" \n"), Ok(ReplyAnswer::Nothing));
        assert_eq!(
            json(r#"{"reply": "A & B"}"#),
            Ok(ReplyAnswer::Message("A & B".into()))
        );
        assert_eq!(json(r#"{"reply": ""}"#), Ok(ReplyAnswer::Nothing));
        assert_eq!(json(r#"{"reply": null}"#), Ok(ReplyAnswer::Nothing));
        assert!(json(r#"{"reply": 5}"#)
            .unwrap_err()
            .contains("not a string"));
        assert!(json(r#"{"text": "x"}"#)
            .unwrap_err()
            .contains("no \"reply\""));
        assert!(json("[1]").unwrap_err().contains("not an object"));
        assert!(json("<html>").unwrap_err().contains("does not parse"));
        assert!(parse_reply_answer(Some("application/problem+json"), b"nope").is_err());
        assert!(parse_reply_answer(None, &[0xff, 0xfe])
            .unwrap_err()
            .contains("UTF-8"));
        let long = "x".repeat(MAX_REPLY_CHARS + 1);
        assert!(text(&long).unwrap_err().contains("at most 1600"));
        assert!(text(&"é".repeat(MAX_REPLY_CHARS)).is_ok());
    }

    #[test]
    fn reply_urls_must_be_http() {
        assert!(validate_reply_url("https://example.com/reply").is_ok());
        assert!(validate_reply_url("http://127.0.0.1:8080/x").is_ok());
        for bad in [
            "ftp://example.com/",
            "javascript:alert(1)",
            "example.com",
            "",
            "http://",
        ] {
            assert!(validate_reply_url(bad).is_err(), "{bad}");
        }
        assert!(validate_reply_url(&format!("https://e.com/{}", "a".repeat(2000))).is_err());
    }
}
