//! Texts a cloud provider delivered already decoded (Twilio's inbound webhook), and
//! the SMS Router's tables: phone mappings (sender → user), its usage log and settings.
//!
//! [`Gateway::accept_text`] stores a text like any received SMS (the pipeline's
//! `insert_message`: classified, routed to a lease on the receiving number, event
//! row) in one transaction with its provider id, unique per provider, so a replayed
//! webhook is recognised and stored once. When no lease owns the number, the sender's
//! phone mapping names the user, and the `new_message` event goes to that user.

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
                    AcceptedText::Stored { message_id: view.id, user_id: view.user_id },
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

    /// A cheap query: is the database answering?
    pub async fn database_ok(&self) -> bool {
        self.store
            .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .is_ok()
    }
}
