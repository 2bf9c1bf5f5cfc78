//! The operator's queries behind the web UI and `/api/admin/...`: throughput per hour
//! and channel, the whole number pool with its holders, every message with a text
//! search, recent outbound jobs, and the user list with ban and role changes.
//!
//! Read-only SQL over the tables other modules write, plus two small user updates.

use chrono::{Duration, DurationRound, TimeDelta};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension};
use serde::Serialize;

use crate::model::{MessageView, Role, User};
use crate::outbound::OutboundJob;
use crate::{time, Gateway, GatewayError, GatewayResult};

/// Received and sent counts of one channel, one value per hour of [`Throughput::hours`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChannelSeries {
    pub channel: String,
    pub received: Vec<i64>,
    pub sent: Vec<i64>,
}

/// Outbound outcomes over the window.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DeliveryTotals {
    pub received: i64,
    pub sent: i64,
    pub delivered: i64,
    pub undelivered: i64,
    pub failed: i64,
    pub pending: i64,
    /// delivered / (delivered + undelivered + failed), `None` before any outcome.
    pub success_rate: Option<f64>,
}

/// Messages per hour and channel over the last hours, oldest hour first.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Start of each hour (`2025-08-06T12:00:00.000Z`).
    pub hours: Vec<String>,
    pub channels: Vec<ChannelSeries>,
    pub totals: DeliveryTotals,
}

/// Filters of the operator's message listing (every user's messages).
#[derive(Debug, Clone, Default)]
pub struct AllMessagesQuery {
    /// Matches text, sender, code or service (case-insensitive substring).
    pub search: Option<String>,
    pub number: Option<String>,
    pub kind: Option<String>,
    pub service: Option<String>,
    pub is_read: Option<bool>,
    pub page: u32,
    pub limit: u32,
}

/// One number of the pool and, when leased now, who holds it until when.
#[derive(Debug, Clone, Serialize)]
pub struct PoolEntry {
    pub id: i64,
    pub number: String,
    pub country: String,
    pub provider: String,
    pub channel: String,
    pub enabled: bool,
    pub assignment_id: Option<i64>,
    pub holder_id: Option<i64>,
    pub holder_email: Option<String>,
    pub assigned_at: Option<String>,
    pub expires_at: Option<String>,
    pub messages_today: i64,
}

/// A user as the operator's list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UserSummary {
    #[serde(flatten)]
    pub user: User,
    pub active_assignments: i64,
    pub messages: i64,
}

/// What an operator changes on a user.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub is_active: Option<bool>,
    pub role: Option<Role>,
}

fn hour_key(t: chrono::DateTime<chrono::Utc>) -> String {
    // "2025-08-06T12": the text prefix both tables' timestamps start with.
    t.format("%Y-%m-%dT%H").to_string()
}

impl Gateway {
    /// Received and sent messages per hour and channel over the last `hours` hours
    /// (1 to 168), and delivery outcomes of the jobs created in that window.
    pub async fn throughput(&self, hours: u32) -> GatewayResult<Throughput> {
        let hours = hours.clamp(1, 168);
        let now = time::now();
        let this_hour = now
            .duration_trunc(TimeDelta::hours(1))
            .unwrap_or(now - Duration::minutes(59));
        let first = this_hour - Duration::hours(i64::from(hours) - 1);
        let starts: Vec<_> = (0..i64::from(hours))
            .map(|i| first + Duration::hours(i))
            .collect();
        let keys: Vec<String> = starts.iter().map(|t| hour_key(*t)).collect();
        let since = time::iso(first);
        let (received, sent, totals) = self
            .store
            .read(move |c| {
                let mut received: Vec<(String, String, i64)> = Vec::new();
                let mut stmt = c.prepare(
                    "SELECT substr(received_at, 1, 13), channel, COUNT(*) FROM messages
                     WHERE received_at >= ?1 GROUP BY 1, 2",
                )?;
                for row in stmt.query_map([&since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))? {
                    received.push(row?);
                }
                let mut sent: Vec<(String, String, i64)> = Vec::new();
                let mut stmt = c.prepare(
                    "SELECT substr(COALESCE(sent_at, created_at), 1, 13), COALESCE(channel, 'unrouted'), COUNT(*)
                     FROM outbound_jobs
                     WHERE COALESCE(sent_at, created_at) >= ?1 AND status IN ('sent', 'delivered', 'undelivered')
                     GROUP BY 1, 2",
                )?;
                for row in stmt.query_map([&since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))? {
                    sent.push(row?);
                }
                let totals = c.query_row(
                    "SELECT
                        (SELECT COUNT(*) FROM messages WHERE received_at >= ?1),
                        COUNT(*) FILTER (WHERE status IN ('sent', 'delivered', 'undelivered')),
                        COUNT(*) FILTER (WHERE status = 'delivered'),
                        COUNT(*) FILTER (WHERE status = 'undelivered'),
                        COUNT(*) FILTER (WHERE status = 'failed'),
                        COUNT(*) FILTER (WHERE status IN ('queued', 'sending'))
                     FROM outbound_jobs WHERE created_at >= ?1",
                    [&since],
                    |r| {
                        Ok(DeliveryTotals {
                            received: r.get(0)?,
                            sent: r.get(1)?,
                            delivered: r.get(2)?,
                            undelivered: r.get(3)?,
                            failed: r.get(4)?,
                            pending: r.get(5)?,
                            success_rate: None,
                        })
                    },
                )?;
                Ok((received, sent, totals))
            })
            .await?;
        let mut channels: Vec<ChannelSeries> = Vec::new();
        let mut series = |name: &str| -> usize {
            if let Some(i) = channels.iter().position(|s| s.channel == name) {
                return i;
            }
            channels.push(ChannelSeries {
                channel: name.to_string(),
                received: vec![0; keys.len()],
                sent: vec![0; keys.len()],
            });
            channels.len() - 1
        };
        let mut slots: Vec<(usize, usize, i64, bool)> = Vec::new();
        for (hour, channel, n) in received {
            if let Some(h) = keys.iter().position(|k| *k == hour) {
                slots.push((series(&channel), h, n, true));
            }
        }
        for (hour, channel, n) in sent {
            if let Some(h) = keys.iter().position(|k| *k == hour) {
                slots.push((series(&channel), h, n, false));
            }
        }
        for (s, h, n, is_received) in slots {
            if is_received {
                channels[s].received[h] += n;
            } else {
                channels[s].sent[h] += n;
            }
        }
        channels.sort_by(|a, b| a.channel.cmp(&b.channel));
        let mut totals = totals;
        let outcomes = totals.delivered + totals.undelivered + totals.failed;
        totals.success_rate = (outcomes > 0).then(|| totals.delivered as f64 / outcomes as f64);
        Ok(Throughput {
            hours: starts.into_iter().map(time::iso).collect(),
            channels,
            totals,
        })
    }

    /// Every user's messages, newest first, with the operator's filters. Returns the
    /// page, the total under the filters, and the unread count ignoring `is_read`.
    pub async fn all_messages(
        &self,
        q: AllMessagesQuery,
    ) -> GatewayResult<(Vec<MessageView>, i64, i64)> {
        Ok(self
            .store
            .read(move |c| {
                let mut clauses: Vec<&str> = vec!["1 = 1"];
                let mut args: Vec<Value> = Vec::new();
                if let Some(s) = q.search.as_deref().filter(|s| !s.is_empty()) {
                    let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                    let pattern = format!("%{escaped}%");
                    clauses.push(
                        "(m.content LIKE ? ESCAPE '\\' OR m.from_number LIKE ? ESCAPE '\\'
                          OR COALESCE(m.otp_code, '') LIKE ? ESCAPE '\\' OR COALESCE(m.service, '') LIKE ? ESCAPE '\\')",
                    );
                    for _ in 0..4 {
                        args.push(Value::Text(pattern.clone()));
                    }
                }
                if let Some(n) = q.number.as_deref().filter(|s| !s.is_empty()) {
                    clauses.push("m.to_number = ?");
                    args.push(Value::Text(n.to_string()));
                }
                if let Some(k) = q.kind.as_deref().filter(|s| !s.is_empty()) {
                    clauses.push("m.type = ?");
                    args.push(Value::Text(k.to_string()));
                }
                if let Some(s) = q.service.as_deref().filter(|s| !s.is_empty()) {
                    clauses.push("m.service = ? COLLATE NOCASE");
                    args.push(Value::Text(s.to_string()));
                }
                let base = clauses.join(" AND ");
                let unread: i64 = c.query_row(
                    &format!("SELECT COUNT(*) FROM messages m WHERE {base} AND m.is_read = 0"),
                    params_from_iter(args.iter()),
                    |r| r.get(0),
                )?;
                let mut filtered = base;
                if let Some(read) = q.is_read {
                    filtered.push_str(" AND m.is_read = ?");
                    args.push(Value::Integer(i64::from(read)));
                }
                let total: i64 = c.query_row(
                    &format!("SELECT COUNT(*) FROM messages m WHERE {filtered}"),
                    params_from_iter(args.iter()),
                    |r| r.get(0),
                )?;
                let limit = q.limit.clamp(1, 200);
                args.push(Value::Integer(i64::from(limit)));
                args.push(Value::Integer(
                    i64::from(q.page.max(1) - 1) * i64::from(limit),
                ));
                let mut stmt = c.prepare(&format!(
                    "SELECT {} FROM messages m WHERE {filtered}
                     ORDER BY m.received_at DESC, m.id DESC LIMIT ? OFFSET ?",
                    MessageView::COLUMNS
                ))?;
                let messages = stmt
                    .query_map(params_from_iter(args.iter()), MessageView::from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((messages, total, unread))
            })
            .await?)
    }

    /// Services seen in messages, most frequent first (for the inbox's filter).
    pub async fn message_services(&self) -> GatewayResult<Vec<String>> {
        Ok(self
            .store
            .read(|c| {
                let mut stmt = c.prepare(
                    "SELECT service FROM messages WHERE service IS NOT NULL AND service != ''
                     GROUP BY service ORDER BY COUNT(*) DESC LIMIT 50",
                )?;
                let rows = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<Vec<String>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// Messages received since midnight UTC, per receiving number.
    pub async fn messages_today(&self) -> GatewayResult<Vec<(String, i64)>> {
        let midnight = format!("{}T00:00:00.000Z", time::now().format("%Y-%m-%d"));
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT to_number, COUNT(*) FROM messages WHERE received_at >= ?1 GROUP BY to_number",
                )?;
                let rows = stmt
                    .query_map([midnight], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<(String, i64)>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// Outbound jobs waiting (`queued`) and in flight (`sending`), for the metrics.
    /// Reads the `(status, next_attempt_at)` index only.
    pub async fn queue_depth(&self) -> GatewayResult<Vec<(String, i64)>> {
        Ok(self
            .store
            .read(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT status, COUNT(*) FROM outbound_jobs
                     WHERE status IN ('queued', 'sending') GROUP BY status",
                )?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<Vec<(String, i64)>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// Every number of the pool with its current holder, if leased now.
    pub async fn number_pool(&self) -> GatewayResult<Vec<PoolEntry>> {
        let now = time::now_iso();
        let midnight = format!("{}T00:00:00.000Z", time::now().format("%Y-%m-%d"));
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT n.id, n.number, n.country, n.provider, n.channel, n.enabled,
                            a.id, a.user_id, u.email, a.assigned_at, a.expires_at,
                            (SELECT COUNT(*) FROM messages m WHERE m.to_number = n.number AND m.received_at >= ?2)
                     FROM numbers n
                     LEFT JOIN assignments a ON a.number_id = n.id AND a.status = 'active' AND a.expires_at > ?1
                     LEFT JOIN users u ON u.id = a.user_id
                     ORDER BY n.country, n.number",
                )?;
                let rows = stmt
                    .query_map(params![now, midnight], |r| {
                        Ok(PoolEntry {
                            id: r.get(0)?,
                            number: r.get(1)?,
                            country: r.get(2)?,
                            provider: r.get(3)?,
                            channel: r.get(4)?,
                            enabled: r.get(5)?,
                            assignment_id: r.get(6)?,
                            holder_id: r.get(7)?,
                            holder_email: r.get(8)?,
                            assigned_at: r.get(9)?,
                            expires_at: r.get(10)?,
                            messages_today: r.get(11)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// The most recent outbound jobs of anyone (`user_id: None`) or of one user.
    pub async fn recent_outbound_jobs(
        &self,
        user_id: Option<i64>,
        limit: u32,
    ) -> GatewayResult<Vec<OutboundJob>> {
        let limit = i64::from(limit.clamp(1, 200));
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id, user_id, to_number, text, from_hint, client_ref, status, channel,
                            from_number, parts, attempts, error, created_at, updated_at, sent_at, delivered_at
                     FROM outbound_jobs WHERE (?1 IS NULL OR user_id = ?1)
                     ORDER BY id DESC LIMIT ?2",
                )?;
                let rows = stmt
                    .query_map(params![user_id, limit], |r| {
                        Ok(OutboundJob {
                            id: r.get(0)?,
                            user_id: r.get(1)?,
                            to_number: r.get(2)?,
                            text: r.get(3)?,
                            from_hint: r.get(4)?,
                            client_ref: r.get(5)?,
                            status: r.get(6)?,
                            channel: r.get(7)?,
                            from_number: r.get(8)?,
                            parts: r.get(9)?,
                            attempts: r.get(10)?,
                            error: r.get(11)?,
                            created_at: r.get(12)?,
                            updated_at: r.get(13)?,
                            sent_at: r.get(14)?,
                            delivered_at: r.get(15)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// Users, newest first, optionally those whose email or phone contains `search`.
    pub async fn list_users(
        &self,
        search: Option<String>,
        page: u32,
        limit: u32,
    ) -> GatewayResult<(Vec<UserSummary>, i64)> {
        let now = time::now_iso();
        let limit = i64::from(limit.clamp(1, 200));
        let offset = i64::from(page.max(1) - 1) * limit;
        let pattern = search
            .filter(|s| !s.is_empty())
            .map(|s| format!("%{}%", s.replace(['%', '_'], "")));
        Ok(self
            .store
            .read(move |c| {
                let total: i64 = c.query_row(
                    "SELECT COUNT(*) FROM users WHERE ?1 IS NULL OR email LIKE ?1 OR phone LIKE ?1",
                    [&pattern],
                    |r| r.get(0),
                )?;
                let columns = User::COLUMNS
                    .split(", ")
                    .map(|col| format!("u.{col}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut stmt = c.prepare(&format!(
                    "SELECT {columns},
                        (SELECT COUNT(*) FROM assignments a WHERE a.user_id = u.id AND a.status = 'active' AND a.expires_at > ?2),
                        (SELECT COUNT(*) FROM messages m WHERE m.user_id = u.id)
                     FROM users u WHERE ?1 IS NULL OR u.email LIKE ?1 OR u.phone LIKE ?1
                     ORDER BY u.id DESC LIMIT ?3 OFFSET ?4"
                ))?;
                let rows = stmt
                    .query_map(params![pattern, now, limit, offset], |r| {
                        Ok(UserSummary {
                            user: User::from_row(r)?,
                            active_assignments: r.get(12)?,
                            messages: r.get(13)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((rows, total))
            })
            .await?)
    }

    /// Bans or unbans a user and changes its role. A ban also revokes every refresh
    /// token of the user, so no session of it can be renewed.
    pub async fn change_user(&self, id: i64, change: UserChange) -> GatewayResult<User> {
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                let exists: Option<i64> = txn
                    .query_row("SELECT id FROM users WHERE id = ?1", [id], |r| r.get(0))
                    .optional()?;
                if exists.is_none() {
                    return Ok(None);
                }
                if let Some(active) = change.is_active {
                    txn.execute(
                        "UPDATE users SET is_active = ?1 WHERE id = ?2",
                        params![active, id],
                    )?;
                    if !active {
                        txn.execute(
                            "UPDATE refresh_tokens SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
                            params![now, id],
                        )?;
                    }
                }
                if let Some(role) = change.role {
                    txn.execute(
                        "UPDATE users SET role = ?1 WHERE id = ?2",
                        params![role.as_str(), id],
                    )?;
                }
                Ok(Some(txn.query_row(
                    &format!("SELECT {} FROM users WHERE id = ?1", User::COLUMNS),
                    [id],
                    User::from_row,
                )?))
            })
            .await?
            .ok_or(GatewayError::NotFound("user"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_keys_are_timestamp_prefixes() {
        let t = time::parse_iso("2025-08-06T12:34:56.789Z").expect("valid");
        assert_eq!(hour_key(t), "2025-08-06T12");
        assert!(time::iso(t).starts_with(&hour_key(t)));
    }
}
