//! The outbound queue: a send request is committed before it is acknowledged, then a
//! dispatcher picks a channel, sends, and on failure tries the next one.
//!
//! - A job is `queued` → `sending` → `sent` → `delivered` / `undelivered`, or `failed`
//!   once every channel and every retry is spent (the statuses of the SMS Router seed).
//! - Channel choice: the number or channel the client asked for, else every ready
//!   channel, those in the destination's country first, least recently used first,
//!   skipping any channel over its per-minute rate or daily cap (carriers block SIMs
//!   that send in bursts). Every attempt is a row in `outbound_attempts`.
//!   Channels sort by their priority first (modems, then cloud providers in the
//!   configured order; see `providers`).
//! - A job found `sending` at start-up was interrupted by a crash: it is queued again
//!   (an SMS may then go out twice; one never goes missing).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as ChronoDuration;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use tokio::sync::{Mutex, Notify};

use crate::events::{self, Event};
use crate::numbers::country_of;
use crate::{time, Gateway, GatewayError, GatewayResult};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a channel reports after handing a message to the network.
#[derive(Debug, Clone)]
pub struct Sent {
    /// One reference per part: a modem's TP-MR, a provider's message id.
    pub references: Vec<String>,
}

/// Why a send failed, and whether another channel (or a later try) may succeed.
#[derive(Debug, Clone)]
pub struct SendFailure {
    pub retryable: bool,
    pub message: String,
}

/// Anything that can send an SMS: a modem's SIM, a cloud provider account.
pub trait SendChannel: Send + Sync {
    /// Unique name (the modem's name, `twilio`, ...).
    fn name(&self) -> &str;
    /// `modem`, `emulator`, `twilio`, `vonage`.
    fn provider(&self) -> &str;
    /// The number messages go out from, when known.
    fn number(&self) -> Option<String>;
    /// Whether it can send now (a modem registered on the network).
    fn is_ready(&self) -> bool;
    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
        status_report: bool,
    ) -> BoxFuture<'a, Result<Sent, SendFailure>>;
    /// Failover order: lower goes first (modems 0; cloud providers as configured).
    fn priority(&self) -> i32 {
        0
    }
    /// The circuit breaker's view, for channels behind one (see `providers`).
    fn health(&self) -> Option<crate::providers::BreakerSnapshot> {
        None
    }
    /// How the channel's provider signs the webhooks it calls the box with (status
    /// callbacks, delivery receipts, inbound texts); `None` for a modem.
    fn webhook_auth(&self) -> Option<crate::providers::WebhookAuth> {
        None
    }
}

/// Limits that keep a SIM from being blocked by its carrier.
#[derive(Debug, Clone, Copy)]
pub struct ChannelLimits {
    pub per_minute: u32,
    pub per_day: u32,
}

impl Default for ChannelLimits {
    fn default() -> Self {
        ChannelLimits {
            per_minute: 10,
            per_day: 500,
        }
    }
}

/// How the dispatcher retries.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Rounds over all channels before a job fails.
    pub max_rounds: u32,
    /// Wait before the second round; doubles each round.
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_rounds: 4,
            first_backoff: Duration::from_secs(5),
        }
    }
}

/// A send request from an API, MQTT or the system itself (OTP sign-in codes).
#[derive(Debug, Clone, Default)]
pub struct SendRequest {
    pub user_id: Option<i64>,
    pub to: String,
    pub text: String,
    /// One of our numbers or a channel name; `None` lets the dispatcher choose.
    pub from: Option<String>,
    pub client_ref: Option<String>,
    pub status_report: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutboundJob {
    pub id: i64,
    pub user_id: Option<i64>,
    pub to_number: String,
    pub text: String,
    pub from_hint: Option<String>,
    pub client_ref: Option<String>,
    pub status: String,
    pub channel: Option<String>,
    pub from_number: Option<String>,
    pub parts: Option<i64>,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub sent_at: Option<String>,
    pub delivered_at: Option<String>,
}

impl OutboundJob {
    const COLUMNS: &'static str = "id, user_id, to_number, text, from_hint, client_ref, status, channel, from_number, parts, attempts, error, created_at, updated_at, sent_at, delivered_at";

    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboundJob> {
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
    }
}

/// A job no channel could take for this long fails instead of waiting on.
pub const MAX_QUEUE_AGE_HOURS: i64 = 24;

/// A delivery status as a status report or a provider callback states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Delivered,
    /// Final failure (the network gave up, the number does not exist).
    Undelivered,
    /// Still trying; no change to the job.
    Pending,
}

/// The dispatcher's shared state: the channels, their locks and limits.
pub struct Outbound {
    channels: Mutex<Vec<Arc<dyn SendChannel>>>,
    /// One send at a time per channel (a modem has one command in flight anyway).
    busy: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    wake: Notify,
    limits: std::sync::RwLock<ChannelLimits>,
    retry: std::sync::RwLock<RetryPolicy>,
}

impl Default for Outbound {
    fn default() -> Self {
        Outbound {
            channels: Mutex::new(Vec::new()),
            busy: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            limits: std::sync::RwLock::new(ChannelLimits::default()),
            retry: std::sync::RwLock::new(RetryPolicy::default()),
        }
    }
}

fn validate(req: &SendRequest) -> GatewayResult<()> {
    let digits = req.to.strip_prefix('+').unwrap_or(&req.to);
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GatewayError::Invalid(format!(
            "recipient {:?} is not a phone number",
            req.to
        )));
    }
    if req.text.is_empty() {
        return Err(GatewayError::Invalid("the text is empty".into()));
    }
    // 255 concatenated parts is the TP-UDH limit; far past any real use.
    if req.text.chars().count() > 255 * 67 {
        return Err(GatewayError::Invalid(
            "the text is longer than 255 SMS parts".into(),
        ));
    }
    Ok(())
}

impl Gateway {
    /// Sets the per-channel limits and the retry policy (from the configuration).
    pub fn set_outbound_policy(&self, limits: ChannelLimits, retry: RetryPolicy) {
        *self
            .outbound
            .limits
            .write()
            .expect("the limits lock is never held across a panic") = limits;
        *self
            .outbound
            .retry
            .write()
            .expect("the retry lock is never held across a panic") = retry;
    }

    /// Adds a channel the dispatcher may send through.
    pub async fn add_send_channel(&self, channel: Arc<dyn SendChannel>) {
        let mut channels = self.outbound.channels.lock().await;
        channels.retain(|c| c.name() != channel.name());
        channels.push(channel);
        drop(channels);
        self.wake_dispatcher();
    }

    /// Makes the dispatcher look at the queue now (a channel became ready).
    pub(crate) fn wake_dispatcher(&self) {
        self.outbound.wake.notify_one();
    }

    /// Removes a channel (its modem stopped).
    pub async fn remove_send_channel(&self, name: &str) {
        self.outbound
            .channels
            .lock()
            .await
            .retain(|c| c.name() != name);
    }

    /// Commits a send request to the queue; the dispatcher takes it from there.
    pub async fn enqueue_send(&self, req: SendRequest) -> GatewayResult<OutboundJob> {
        validate(&req)?;
        let now = time::now_iso();
        let job = self
            .store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO outbound_jobs (user_id, to_number, text, from_hint, client_ref, status_report, status,
                        created_at, updated_at, next_attempt_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', ?7, ?7, ?7)",
                    params![req.user_id, req.to, req.text, req.from, req.client_ref, req.status_report, now],
                )?;
                let id = txn.last_insert_rowid();
                Ok(txn.query_row(
                    &format!("SELECT {} FROM outbound_jobs WHERE id = ?1", OutboundJob::COLUMNS),
                    [id],
                    OutboundJob::from_row,
                )?)
            })
            .await?;
        self.outbound.wake.notify_one();
        Ok(job)
    }

    /// One job, if it belongs to `user_id` (or to anyone, for `None`).
    pub async fn outbound_job(&self, id: i64, user_id: Option<i64>) -> GatewayResult<OutboundJob> {
        self.store
            .read(move |c| {
                Ok(c.query_row(
                    &format!(
                        "SELECT {} FROM outbound_jobs WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
                        OutboundJob::COLUMNS
                    ),
                    params![id, user_id],
                    OutboundJob::from_row,
                )
                .optional()?)
            })
            .await?
            .ok_or(GatewayError::NotFound("outbound message"))
    }

    /// Starts the dispatcher. Jobs interrupted by a crash are queued again first.
    pub async fn start_dispatcher(&self) -> GatewayResult<()> {
        let requeued = self
            .store
            .write(|txn| {
                Ok(txn.execute(
                    "UPDATE outbound_jobs SET status = 'queued', updated_at = ?1 WHERE status = 'sending'",
                    [time::now_iso()],
                )?)
            })
            .await?;
        if requeued > 0 {
            tracing::warn!(
                "{requeued} message(s) were being sent when the box stopped; sending them again"
            );
        }
        let gateway = self.clone();
        tokio::spawn(async move { gateway.dispatch_loop().await });
        Ok(())
    }

    async fn dispatch_loop(self) {
        loop {
            let due = match self.due_jobs().await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!("cannot read the outbound queue: {e}");
                    Vec::new()
                }
            };
            for job_id in due {
                let claimed = self.claim(job_id).await;
                match claimed {
                    Ok(Some(job)) => {
                        let gateway = self.clone();
                        tokio::spawn(async move { gateway.attempt(job).await });
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!("cannot claim outbound job {job_id}: {e}"),
                }
            }
            let wait = self.next_due_in().await.unwrap_or(Duration::from_secs(60));
            tokio::select! {
                _ = self.outbound.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn due_jobs(&self) -> GatewayResult<Vec<i64>> {
        let now = time::now_iso();
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT id FROM outbound_jobs WHERE status = 'queued' AND next_attempt_at <= ?1 ORDER BY id LIMIT 256",
                )?;
                let ids = stmt
                    .query_map([now], |r| r.get(0))?
                    .collect::<Result<Vec<i64>, _>>()?;
                Ok(ids)
            })
            .await?)
    }

    async fn next_due_in(&self) -> Option<Duration> {
        let next: Option<String> = self
            .store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT MIN(next_attempt_at) FROM outbound_jobs WHERE status = 'queued'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .ok()?;
        let at = time::parse_iso(&next?)?;
        Some(
            (at - time::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .max(Duration::from_millis(10)),
        )
    }

    /// Marks a queued job `sending` so no other round takes it.
    async fn claim(&self, id: i64) -> GatewayResult<Option<OutboundJob>> {
        let now = time::now_iso();
        Ok(self
            .store
            .write(move |txn| {
                let changed = txn.execute(
                    "UPDATE outbound_jobs SET status = 'sending', updated_at = ?1 WHERE id = ?2 AND status = 'queued'",
                    params![now, id],
                )?;
                if changed == 0 {
                    return Ok(None);
                }
                Ok(Some(txn.query_row(
                    &format!("SELECT {} FROM outbound_jobs WHERE id = ?1", OutboundJob::COLUMNS),
                    [id],
                    OutboundJob::from_row,
                )?))
            })
            .await?)
    }

    /// The channels to try for a job, best first.
    async fn candidates(&self, job: &OutboundJob) -> Vec<Arc<dyn SendChannel>> {
        let channels = self.outbound.channels.lock().await.clone();
        if let Some(hint) = &job.from_hint {
            return channels
                .into_iter()
                .filter(|c| c.name() == hint || c.number().as_deref() == Some(hint.as_str()))
                .collect();
        }
        let limits = *self
            .outbound
            .limits
            .read()
            .expect("the limits lock is never held across a panic");
        let usage = self.channel_usage().await.unwrap_or_default();
        let destination = country_of(&job.to_number);
        let mut ready: Vec<(i32, bool, String, Arc<dyn SendChannel>)> = channels
            .into_iter()
            .filter(|c| c.is_ready())
            .filter(|c| {
                let u = usage.get(c.name()).cloned().unwrap_or_default();
                u.last_minute < i64::from(limits.per_minute)
                    && u.last_day < i64::from(limits.per_day)
            })
            .map(|c| {
                let same_country =
                    destination.is_some() && c.number().and_then(|n| country_of(&n)) == destination;
                let last_used = usage
                    .get(c.name())
                    .and_then(|u| u.last_used.clone())
                    .unwrap_or_default();
                (c.priority(), !same_country, last_used, c)
            })
            .collect();
        // By priority, then same country first, then least recently used.
        ready.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        ready.into_iter().map(|(_, _, _, c)| c).collect()
    }

    /// Every registered send channel (for health and listings).
    pub(crate) async fn send_channels(&self) -> Vec<Arc<dyn SendChannel>> {
        self.outbound.channels.lock().await.clone()
    }

    async fn channel_usage(&self) -> GatewayResult<HashMap<String, Usage>> {
        let now = time::now();
        let minute_ago = time::iso(now - ChronoDuration::minutes(1));
        let day_ago = time::iso(now - ChronoDuration::days(1));
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT channel,
                        SUM(started_at > ?1 AND outcome = 'sent'),
                        SUM(outcome = 'sent'),
                        MAX(started_at)
                     FROM outbound_attempts WHERE started_at > ?2 GROUP BY channel",
                )?;
                let rows = stmt
                    .query_map(params![minute_ago, day_ago], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            Usage {
                                last_minute: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                                last_day: r.get::<_, Option<i64>>(2)?.unwrap_or(0),
                                last_used: r.get(3)?,
                            },
                        ))
                    })?
                    .collect::<Result<HashMap<_, _>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    async fn channel_lock(&self, name: &str) -> Arc<Mutex<()>> {
        self.outbound
            .busy
            .lock()
            .await
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// One round over the candidate channels for a claimed job.
    async fn attempt(&self, job: OutboundJob) {
        let candidates = self.candidates(&job).await;
        if candidates.is_empty() {
            // Nothing can send now (offline, or every SIM at its limit): wait without
            // spending a round, up to the job's maximum age.
            let why = match &job.from_hint {
                Some(h) => format!("no ready channel named or numbered {h}"),
                None => "no channel is ready to send (all offline or at their limits)".into(),
            };
            if let Err(e) = self.defer(&job, &why).await {
                tracing::error!(job = job.id, "cannot defer the job: {e}");
            }
            return;
        }
        let mut last_error = String::new();
        let mut retryable = true;
        for channel in candidates {
            let lock = self.channel_lock(channel.name()).await;
            let _guard = lock.lock().await;
            let started = time::now_iso();
            let result = channel.send(&job.to_number, &job.text, true).await;
            match result {
                Ok(sent) => {
                    if let Err(e) = self
                        .record_sent(&job, channel.as_ref(), &started, &sent)
                        .await
                    {
                        tracing::error!(job = job.id, "sent, but cannot record it: {e}");
                    }
                    return;
                }
                Err(failure) => {
                    tracing::warn!(
                        job = job.id,
                        channel = channel.name(),
                        "send failed: {}",
                        failure.message
                    );
                    if let Err(e) = self
                        .record_attempt_failed(job.id, channel.name(), &started, &failure.message)
                        .await
                    {
                        tracing::error!(job = job.id, "cannot record a failed attempt: {e}");
                    }
                    last_error = format!("{}: {}", channel.name(), failure.message);
                    if !failure.retryable {
                        retryable = false;
                        break;
                    }
                }
            }
        }
        if let Err(e) = self.reschedule_or_fail(&job, retryable, &last_error).await {
            tracing::error!(
                job = job.id,
                "cannot update the job after a failed round: {e}"
            );
        }
    }

    async fn record_sent(
        &self,
        job: &OutboundJob,
        channel: &dyn SendChannel,
        started: &str,
        sent: &Sent,
    ) -> GatewayResult<()> {
        let now = time::now_iso();
        let (id, user_id) = (job.id, job.user_id);
        let name = channel.name().to_string();
        let number = channel.number();
        let started = started.to_string();
        let refs = sent.references.clone();
        let event = self
            .store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO outbound_attempts (job_id, channel, started_at, outcome) VALUES (?1, ?2, ?3, 'sent')",
                    params![id, name, started],
                )?;
                for r in &refs {
                    txn.execute(
                        "INSERT INTO outbound_parts (job_id, channel, reference, updated_at) VALUES (?1, ?2, ?3, ?4)",
                        params![id, name, r, now],
                    )?;
                }
                txn.execute(
                    "UPDATE outbound_jobs SET status = 'sent', channel = ?1, from_number = ?2, parts = ?3,
                        attempts = attempts + 1, error = NULL, sent_at = ?4, updated_at = ?4 WHERE id = ?5",
                    params![name, number, refs.len() as i64, now, id],
                )?;
                Ok(status_event(txn, id, user_id, "sent", None, &now)?)
            })
            .await?;
        self.events.publish(event);
        Ok(())
    }

    async fn record_attempt_failed(
        &self,
        job_id: i64,
        channel: &str,
        started: &str,
        error: &str,
    ) -> GatewayResult<()> {
        let (channel, started, error) =
            (channel.to_string(), started.to_string(), error.to_string());
        self.store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO outbound_attempts (job_id, channel, started_at, outcome, error) VALUES (?1, ?2, ?3, 'failed', ?4)",
                    params![job_id, channel, started, error],
                )?;
                txn.execute(
                    "UPDATE outbound_jobs SET attempts = attempts + 1, error = ?1 WHERE id = ?2",
                    params![error, job_id],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Puts a job back in the queue for a little while, or fails it when it has waited
    /// longer than [`MAX_QUEUE_AGE_HOURS`].
    async fn defer(&self, job: &OutboundJob, why: &str) -> GatewayResult<()> {
        let now = time::now();
        let created = time::parse_iso(&job.created_at).unwrap_or(now);
        if now - created > ChronoDuration::hours(MAX_QUEUE_AGE_HOURS) {
            return self.reschedule_or_fail(job, false, why).await;
        }
        let (id, why) = (job.id, why.to_string());
        let stamp = time::iso(now);
        let next = time::iso(now + ChronoDuration::seconds(2));
        self.store
            .write(move |txn| {
                txn.execute(
                    "UPDATE outbound_jobs SET status = 'queued', error = ?1, updated_at = ?2, next_attempt_at = ?3 WHERE id = ?4",
                    params![why, stamp, next, id],
                )?;
                Ok(())
            })
            .await?;
        // The loop may have computed its sleep while this job was claimed.
        self.wake_dispatcher();
        Ok(())
    }

    /// After a round with no success: try again later, or give up.
    async fn reschedule_or_fail(
        &self,
        job: &OutboundJob,
        retryable: bool,
        error: &str,
    ) -> GatewayResult<()> {
        let policy = *self
            .outbound
            .retry
            .read()
            .expect("the retry lock is never held across a panic");
        let now = time::now();
        let (id, user_id, error) = (job.id, job.user_id, error.to_string());
        let event = self
            .store
            .write(move |txn| {
                let rounds: i64 = txn.query_row(
                    "UPDATE outbound_jobs SET rounds = rounds + 1 WHERE id = ?1 RETURNING rounds",
                    [id],
                    |r| r.get(0),
                )?;
                let stamp = time::iso(now);
                if !retryable || rounds >= i64::from(policy.max_rounds) {
                    txn.execute(
                        "UPDATE outbound_jobs SET status = 'failed', error = ?1, updated_at = ?2 WHERE id = ?3",
                        params![error, stamp, id],
                    )?;
                    return Ok(Some(status_event(txn, id, user_id, "failed", Some(&error), &stamp)?));
                }
                // Exponential backoff: first_backoff, then twice that, ...
                let factor = 1i64 << (rounds - 1).clamp(0, 10);
                let backoff = i64::try_from(policy.first_backoff.as_millis()).unwrap_or(i64::MAX / 1024) * factor;
                let next = time::iso(now + ChronoDuration::milliseconds(backoff));
                txn.execute(
                    "UPDATE outbound_jobs SET status = 'queued', error = ?1, updated_at = ?2, next_attempt_at = ?3 WHERE id = ?4",
                    params![error, stamp, next, id],
                )?;
                Ok(None)
            })
            .await?;
        if let Some(event) = event {
            self.events.publish(event);
        }
        self.outbound.wake.notify_one();
        Ok(())
    }

    /// Applies a status report or provider callback to the job that sent `reference`
    /// on `channel`. Returns the job id it matched, if any.
    pub async fn record_delivery_status(
        &self,
        channel: &str,
        reference: &str,
        status: DeliveryStatus,
    ) -> GatewayResult<Option<i64>> {
        if status == DeliveryStatus::Pending {
            return Ok(None);
        }
        let (channel, reference) = (channel.to_string(), reference.to_string());
        let now = time::now_iso();
        let result = self
            .store
            .write(move |txn| {
                // References wrap (a TP-MR is one octet): the newest part with it wins.
                let part: Option<(i64, i64)> = txn
                    .query_row(
                        "SELECT id, job_id FROM outbound_parts WHERE channel = ?1 AND reference = ?2 ORDER BY id DESC LIMIT 1",
                        params![channel, reference],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let Some((part_id, job_id)) = part else {
                    return Ok(None);
                };
                let part_status = match status {
                    DeliveryStatus::Delivered => "delivered",
                    _ => "undelivered",
                };
                txn.execute(
                    "UPDATE outbound_parts SET status = ?1, updated_at = ?2 WHERE id = ?3",
                    params![part_status, now, part_id],
                )?;
                // The job is delivered when every part is; undelivered as soon as one is not.
                let (total, delivered, undelivered): (i64, i64, i64) = txn.query_row(
                    "SELECT COUNT(*), SUM(status = 'delivered'), SUM(status = 'undelivered') FROM outbound_parts WHERE job_id = ?1",
                    [job_id],
                    |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or(0), r.get::<_, Option<i64>>(2)?.unwrap_or(0))),
                )?;
                let job_status = if undelivered > 0 {
                    "undelivered"
                } else if delivered == total {
                    "delivered"
                } else {
                    return Ok(Some((job_id, None)));
                };
                let user_id: Option<i64> = txn.query_row(
                    "SELECT user_id FROM outbound_jobs WHERE id = ?1",
                    [job_id],
                    |r| r.get(0),
                )?;
                let changed = txn.execute(
                    "UPDATE outbound_jobs SET status = ?1, updated_at = ?2,
                        delivered_at = CASE WHEN ?1 = 'delivered' THEN ?2 ELSE delivered_at END
                     WHERE id = ?3 AND status IN ('sent', 'sending')",
                    params![job_status, now, job_id],
                )?;
                if changed == 0 {
                    return Ok(Some((job_id, None)));
                }
                Ok(Some((job_id, Some(status_event(txn, job_id, user_id, job_status, None, &now)?))))
            })
            .await?;
        Ok(result.map(|(job_id, event)| {
            if let Some(e) = event {
                self.events.publish(e);
            }
            job_id
        }))
    }
}

#[derive(Debug, Clone, Default)]
struct Usage {
    last_minute: i64,
    last_day: i64,
    last_used: Option<String>,
}

fn status_event(
    txn: &rusqlite::Transaction<'_>,
    job_id: i64,
    user_id: Option<i64>,
    status: &str,
    error: Option<&str>,
    at: &str,
) -> rusqlite::Result<Event> {
    #[derive(Serialize)]
    struct Payload<'a> {
        job_id: i64,
        status: &'a str,
        error: Option<&'a str>,
        at: &'a str,
    }
    let event_id = events::record(
        txn,
        "sms_status",
        user_id,
        &Payload {
            job_id,
            status,
            error,
            at,
        },
        at,
    )?;
    Ok(Event::SmsStatus {
        event_id,
        user_id,
        job_id,
        status: status.to_string(),
        error: error.map(String::from),
        at: at.to_string(),
    })
}
