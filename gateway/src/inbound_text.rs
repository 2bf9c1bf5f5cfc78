//! Texts a cloud provider delivered already decoded (Twilio's inbound webhook), and
//! the SMS Router's tables: phone mappings (sender → user), its usage log and settings.
//!
//! [`Gateway::accept_text`] stores a text like any received SMS (the pipeline's
//! `insert_message`: classified, routed to a lease on the receiving number, event
//! row) in one transaction with its provider id, unique per provider, so a replayed
//! webhook is recognised and stored once. When no lease owns the number, the sender's
//! phone mapping names the user, and the `new_message` event goes to that user.
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
use crate::{time, Gateway, GatewayError, GatewayResult};

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
        let now = time::now_iso();
        let received_at = t.received_at.clone().unwrap_or_else(|| now.clone());
        let (accepted, event) = self
            .store
            .write(move |txn| {
                let seen: Option<(Option<String>, Option<i64>)> = txn
                    .query_row(
                        "SELECT reply, user_id FROM inbound_texts WHERE provider = ?1 AND provider_id = ?2",
                        params![t.provider, t.provider_id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((reply, user_id)) = seen {
                    return Ok((AcceptedText::Duplicate { reply, user_id }, None));
                }
                let new = NewMessage {
                    to_number: t.to.clone(),
                    from_number: t.from.clone(),
                    content: t.text,
                    sent_at: None,
                    provider: t.provider.clone(),
                    channel: t.channel.clone(),
                    parts_total: 1,
                    parts_received: 1,
                    extra_data: serde_json::json!({ "provider_id": t.provider_id }),
                };
                let (mut view, mut event) = insert_message(txn, new, &received_at, &received_at)?;
                if view.user_id.is_none() {
                    let mapped: Option<i64> = txn
                        .query_row(
                            "SELECT user_id FROM phone_mappings WHERE phone_number = ?1",
                            [&t.from],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if let Some(user_id) = mapped {
                        txn.execute(
                            "UPDATE messages SET user_id = ?1 WHERE id = ?2",
                            params![user_id, view.id],
                        )?;
                        view.user_id = Some(user_id);
                        if let Event::NewMessage { event_id, user_id: u, message, assignment } = &mut event {
                            *u = Some(user_id);
                            message.user_id = Some(user_id);
                            let payload = serde_json::json!({ "message": message, "assignment": assignment });
                            txn.execute(
                                "UPDATE events SET user_id = ?1, payload = ?2 WHERE id = ?3",
                                params![user_id, payload.to_string(), *event_id],
                            )?;
                        }
                    }
                }
                txn.execute(
                    "INSERT INTO inbound_texts (provider, provider_id, channel, message_id, user_id, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![t.provider, t.provider_id, t.channel, view.id, view.user_id, now],
                )?;
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
