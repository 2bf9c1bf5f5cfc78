//! Webhooks: events delivered by HTTP POST to URLs that users and admins register,
//! signed, retried, in order per webhook.
//!
//! - Events wanted: `sms.received`, `otp.received`, `sms.status`, `assignment.status`.
//!   A user's webhooks see only that user's events (messages routed to their leases,
//!   their outbound jobs, their leases); an admin's webhooks see every event.
//! - Bodies: `{"event": "<name>", "data": {...}}`; `sms.received` is exactly the NexNum
//!   seed's (`numberId`, `phone`, `code`, `text`, `sender`, `receivedAt`), the others
//!   follow its shape (see [`bodies_for`]). A body is fixed when the event is queued:
//!   every retry sends the same bytes.
//! - Signature: `X-Simgate-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is
//!   HMAC-SHA256, keyed with the webhook's secret, of `<t>.<raw body>` (see [`sign`],
//!   [`verify`]). A receiver checks the HMAC in constant time and refuses a `t` more than
//!   a few minutes old (replay). Also sent: `X-Simgate-Event`, `X-Simgate-Delivery`
//!   (the delivery id: the same on every retry, for deduplication), `User-Agent`.
//! - Delivery: a 2xx answer within the timeout is success; anything else (an error
//!   status, a redirect, which is not followed, a refused connection, a timeout) is a
//!   failure, retried with exponential backoff. Deliveries of one webhook go strictly
//!   in order: the oldest pending one blocks those behind it. After failing without a
//!   success for [`WebhookConfig::give_up_after`] (a day) the webhook is disabled, its
//!   pending deliveries marked `failed`, and a `webhook_disabled` event is written for
//!   its owner.
//! - Durability: a durable subscriber (`webhooks`) turns events into delivery rows in
//!   one transaction before its cursor moves (a unique key makes a replay harmless);
//!   a restart resumes every pending delivery. At least once, per webhook in order.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::events::StoredEvent;
use crate::{events, time, Gateway, GatewayError, GatewayResult};

/// The event names a webhook can ask for.
pub const EVENT_NAMES: [&str; 4] = [
    "sms.received",
    "otp.received",
    "sms.status",
    "assignment.status",
];

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Simgate-Signature";

const MAX_WEBHOOKS_PER_USER: i64 = 20;
const MAX_URL: usize = 2000;

/// Timing of deliveries.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Per attempt, connection and answer included.
    pub timeout: Duration,
    /// Wait after the first failure; doubles after each further one.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// A webhook failing for this long without a success is disabled.
    pub give_up_after: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: Duration::from_secs(10),
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl WebhookConfig {
    fn backoff(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.first_backoff
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max_backoff)
    }
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub user_id: i64,
    pub url: String,
    /// Empty: every event.
    pub events: Vec<String>,
    /// Generated when absent.
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    pub id: i64,
    pub user_id: i64,
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip)]
    pub secret: String,
    pub enabled: bool,
    pub created_at: String,
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    /// Deliveries waiting (or being retried).
    pub pending: i64,
}

impl Webhook {
    const SELECT: &'static str = "SELECT w.id, w.user_id, w.url, w.events, w.secret, w.enabled, w.created_at,
            w.disabled_at, w.disabled_reason, w.failing_since, w.last_status, w.last_error,
            w.last_attempt_at, w.last_success_at,
            (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending')
         FROM webhooks w";

    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Webhook> {
        let events: String = r.get(3)?;
        Ok(Webhook {
            id: r.get(0)?,
            user_id: r.get(1)?,
            url: r.get(2)?,
            events: serde_json::from_str(&events).unwrap_or_default(),
            secret: r.get(4)?,
            enabled: r.get(5)?,
            created_at: r.get(6)?,
            disabled_at: r.get(7)?,
            disabled_reason: r.get(8)?,
            failing_since: r.get(9)?,
            last_status: r.get(10)?,
            last_error: r.get(11)?,
            last_attempt_at: r.get(12)?,
            last_success_at: r.get(13)?,
            pending: r.get(14)?,
        })
    }
}

/// One event for one webhook, with its attempts.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: Option<i64>,
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    #[serde(skip)]
    pub body: String,
}

impl Delivery {
    const COLUMNS: &'static str = "id, webhook_id, event_id, event, status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, created_at, delivered_at, body";

    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
        Ok(Delivery {
            id: r.get(0)?,
            webhook_id: r.get(1)?,
            event_id: r.get(2)?,
            event: r.get(3)?,
            status: r.get(4)?,
            attempts: r.get(5)?,
            next_attempt_at: r.get(6)?,
            last_status: r.get(7)?,
            last_error: r.get(8)?,
            last_attempt_at: r.get(9)?,
            created_at: r.get(10)?,
            delivered_at: r.get(11)?,
            body: r.get(12)?,
        })
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Simgate-Signature` value: `t=<timestamp>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a signature header against the body, in constant time, refusing a
/// timestamp further than `tolerance_secs` from `now` (unix seconds).
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    sigs.iter().any(|s| {
        hex::decode(s)
            .map(|raw| mac(secret, t, body).verify_slice(&raw).is_ok())
            .unwrap_or(false)
    })
}

/// A new random secret: `whsec_` and 64 hex digits.
pub fn new_secret() -> String {
    format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()))
}

fn validate_url(url: &str) -> GatewayResult<()> {
    if url.len() > MAX_URL {
        return Err(GatewayError::Invalid(format!(
            "the URL is longer than {MAX_URL} characters"
        )));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| GatewayError::Invalid(format!("the URL {url:?} is not valid: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(GatewayError::Invalid(format!(
            "the URL {url:?} must be http:// or https:// with a host"
        )));
    }
    Ok(())
}

fn number_id(txn: &rusqlite::Connection, number: Option<&str>) -> rusqlite::Result<Value> {
    let Some(number) = number else {
        return Ok(Value::Null);
    };
    let id: Option<i64> = txn
        .query_row("SELECT id FROM numbers WHERE number = ?1", [number], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(id
        .map(|id| json!(format!("num_{id}")))
        .unwrap_or(Value::Null))
}

/// The webhook bodies one event becomes: `(event name, body)`.
pub fn bodies_for(
    conn: &rusqlite::Connection,
    event: &StoredEvent,
) -> rusqlite::Result<Vec<(&'static str, Value)>> {
    let p = &event.payload;
    let mut out = Vec::new();
    match event.kind.as_str() {
        "new_message" => {
            let m = &p["message"];
            let number_id = number_id(conn, m["to_number"].as_str())?;
            // The NexNum seed's payload, field for field.
            out.push((
                "sms.received",
                json!({
                    "event": "sms.received",
                    "data": {
                        "numberId": number_id,
                        "phone": m["to_number"],
                        "code": m["otp_code"],
                        "text": m["content"],
                        "sender": m["from_number"],
                        "receivedAt": m["received_at"],
                    }
                }),
            ));
            if m["otp_code"].as_str().is_some_and(|c| !c.is_empty()) {
                out.push((
                    "otp.received",
                    json!({
                        "event": "otp.received",
                        "data": {
                            "numberId": number_id,
                            "phone": m["to_number"],
                            "code": m["otp_code"],
                            "sender": m["from_number"],
                            "service": m["service"],
                            "receivedAt": m["received_at"],
                        }
                    }),
                ));
            }
        }
        "sms_status" => {
            let client_ref: Option<String> = match p["job_id"].as_i64() {
                Some(id) => conn
                    .query_row(
                        "SELECT client_ref FROM outbound_jobs WHERE id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?
                    .flatten(),
                None => None,
            };
            out.push((
                "sms.status",
                json!({
                    "event": "sms.status",
                    "data": {
                        "jobId": p["job_id"],
                        "status": p["status"],
                        "error": p["error"],
                        "clientRef": client_ref,
                        "at": p["at"],
                    }
                }),
            ));
        }
        "assignment_status" => {
            let number: Option<String> = match p["assignment_id"].as_i64() {
                Some(id) => conn
                    .query_row(
                        "SELECT n.number FROM assignments a JOIN numbers n ON n.id = a.number_id WHERE a.id = ?1",
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?,
                None => None,
            };
            out.push((
                "assignment.status",
                json!({
                    "event": "assignment.status",
                    "data": {
                        "assignmentId": p["assignment_id"],
                        "numberId": number_id(conn, number.as_deref())?,
                        "phone": number,
                        "status": p["status"],
                        "previousStatus": p["previous_status"],
                        "changedAt": p["changed_at"],
                    }
                }),
            ));
        }
        _ => {}
    }
    Ok(out)
}

impl Gateway {
    /// Registers a webhook. `events` empty means all of [`EVENT_NAMES`].
    pub async fn create_webhook(&self, new: NewWebhook) -> GatewayResult<Webhook> {
        validate_url(&new.url)?;
        let mut events: Vec<String> = Vec::new();
        for e in &new.events {
            if !EVENT_NAMES.contains(&e.as_str()) {
                return Err(GatewayError::Invalid(format!(
                    "unknown event {e:?}; known: {}",
                    EVENT_NAMES.join(", ")
                )));
            }
            if !events.contains(e) {
                events.push(e.clone());
            }
        }
        if events.is_empty() {
            events = EVENT_NAMES.iter().map(|e| e.to_string()).collect();
        }
        let secret = match new.secret {
            Some(s) if s.len() < 16 || s.len() > 200 => {
                return Err(GatewayError::Invalid(
                    "the secret must be 16 to 200 characters".into(),
                ))
            }
            Some(s) => s,
            None => new_secret(),
        };
        let events = serde_json::to_string(&events)
            .map_err(|e| GatewayError::Invalid(format!("events: {e}")))?;
        let now = time::now_iso();
        let (user_id, url) = (new.user_id, new.url);
        let id = self
            .store
            .write(move |txn| {
                let count: i64 = txn.query_row(
                    "SELECT COUNT(*) FROM webhooks WHERE user_id = ?1",
                    [user_id],
                    |r| r.get(0),
                )?;
                if count >= MAX_WEBHOOKS_PER_USER {
                    return Err(crate::StoreError::Rejected(format!(
                        "at most {MAX_WEBHOOKS_PER_USER} webhooks per user"
                    )));
                }
                txn.execute(
                    "INSERT INTO webhooks (user_id, url, events, secret, enabled, created_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)",
                    params![user_id, url, events, secret, now],
                )?;
                Ok(txn.last_insert_rowid())
            })
            .await
            .map_err(|e| match e {
                crate::StoreError::Rejected(m) => GatewayError::Conflict(m),
                e => e.into(),
            })?;
        self.webhook(id, None).await
    }

    /// Webhooks of `user_id`, or every webhook for `None`.
    pub async fn webhooks(&self, user_id: Option<i64>) -> GatewayResult<Vec<Webhook>> {
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "{} WHERE (?1 IS NULL OR w.user_id = ?1) ORDER BY w.id",
                    Webhook::SELECT
                ))?;
                let rows = stmt
                    .query_map([user_id], Webhook::from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    /// One webhook, if it belongs to `user_id` (or to anyone, for `None`).
    pub async fn webhook(&self, id: i64, user_id: Option<i64>) -> GatewayResult<Webhook> {
        self.store
            .read(move |c| {
                Ok(c.query_row(
                    &format!(
                        "{} WHERE w.id = ?1 AND (?2 IS NULL OR w.user_id = ?2)",
                        Webhook::SELECT
                    ),
                    params![id, user_id],
                    Webhook::from_row,
                )
                .optional()?)
            })
            .await?
            .ok_or(GatewayError::NotFound("webhook"))
    }

    /// Deletes a webhook and its delivery log.
    pub async fn delete_webhook(&self, id: i64, user_id: Option<i64>) -> GatewayResult<()> {
        let deleted = self
            .store
            .write(move |txn| {
                let owned: bool = txn.query_row(
                    "SELECT COUNT(*) FROM webhooks WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
                    params![id, user_id],
                    |r| r.get(0),
                )?;
                if !owned {
                    return Ok(false);
                }
                txn.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?1", [id])?;
                txn.execute("DELETE FROM webhooks WHERE id = ?1", [id])?;
                Ok(true)
            })
            .await?;
        if deleted {
            Ok(())
        } else {
            Err(GatewayError::NotFound("webhook"))
        }
    }

    /// Enables a disabled webhook again; deliveries start with the next event.
    pub async fn enable_webhook(&self, id: i64, user_id: Option<i64>) -> GatewayResult<Webhook> {
        let n = self
            .store
            .write(move |txn| {
                Ok(txn.execute(
                    "UPDATE webhooks SET enabled = 1, disabled_at = NULL, disabled_reason = NULL, failing_since = NULL
                     WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
                    params![id, user_id],
                )?)
            })
            .await?;
        if n == 0 {
            return Err(GatewayError::NotFound("webhook"));
        }
        self.webhook(id, user_id).await
    }

    /// Queues a `webhook.test` delivery (behind any pending ones, like every delivery).
    pub async fn test_webhook(&self, id: i64, user_id: Option<i64>) -> GatewayResult<Delivery> {
        let hook = self.webhook(id, user_id).await?;
        if !hook.enabled {
            return Err(GatewayError::Invalid(
                "the webhook is disabled; enable it first".into(),
            ));
        }
        let now = time::now_iso();
        let body = json!({
            "event": "webhook.test",
            "data": { "webhookId": id, "at": now },
        })
        .to_string();
        let delivery = self
            .store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO webhook_deliveries (webhook_id, event_id, event, body, status, attempts, next_attempt_at, created_at)
                     VALUES (?1, NULL, 'webhook.test', ?2, 'pending', 0, ?3, ?3)",
                    params![id, body, now],
                )?;
                let did = txn.last_insert_rowid();
                Ok(txn.query_row(
                    &format!("SELECT {} FROM webhook_deliveries WHERE id = ?1", Delivery::COLUMNS),
                    [did],
                    Delivery::from_row,
                )?)
            })
            .await?;
        self.webhook_wake().notify_one();
        Ok(delivery)
    }

    /// The latest deliveries of a webhook, newest first.
    pub async fn webhook_deliveries(
        &self,
        id: i64,
        user_id: Option<i64>,
        limit: i64,
    ) -> GatewayResult<Vec<Delivery>> {
        self.webhook(id, user_id).await?;
        let limit = limit.clamp(1, 500);
        Ok(self
            .store
            .read(move |c| {
                let mut stmt = c.prepare_cached(&format!(
                    "SELECT {} FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY id DESC LIMIT ?2",
                    Delivery::COLUMNS
                ))?;
                let rows = stmt
                    .query_map(params![id, limit], Delivery::from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?)
    }

    fn webhook_wake(&self) -> Arc<Notify> {
        WAKE.get_or_init(|| Arc::new(Notify::new())).clone()
    }

    /// Starts the webhook dispatcher: the durable subscriber `webhooks` that queues
    /// deliveries, and the delivery workers (one per webhook with pending deliveries).
    pub async fn start_webhooks(&self, config: WebhookConfig) -> GatewayResult<WebhooksHandle> {
        let tls = crate::mqtt::tls_client_config(None).map_err(GatewayError::Invalid)?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("simgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GatewayError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        let subscriber = self.durable_subscriber("webhooks").await?;
        let wake = self.webhook_wake();
        let fanout = tokio::spawn(fan_out(self.clone(), subscriber, wake.clone()));
        let deliver = tokio::spawn(supervise(self.clone(), Arc::new(config), client, wake));
        Ok(WebhooksHandle {
            tasks: vec![fanout, deliver],
        })
    }
}

/// Wakes the delivery supervisor (new deliveries queued). One per process: every
/// gateway in a process shares it, which costs only a spurious look.
static WAKE: std::sync::OnceLock<Arc<Notify>> = std::sync::OnceLock::new();

/// The running dispatcher; dropping it stops it (pending deliveries stay queued).
pub struct WebhooksHandle {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for WebhooksHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Events → delivery rows, in one transaction per batch, before the cursor moves.
async fn fan_out(gateway: Gateway, mut sub: events::DurableSubscriber, wake: Arc<Notify>) {
    loop {
        let batch = match sub.next_batch(200).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("webhooks: cannot read the event log: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Some(last) = batch.last().map(|e| e.id) else {
            continue;
        };
        let now = time::now_iso();
        let cursor = sub.cursor_writer(last);
        let queued = gateway
            .store
            .write(move |txn| {
                // The cursor moves in the same commit as the deliveries it covers.
                cursor.write(txn)?;
                let hooks: Vec<(i64, i64, Vec<String>, bool)> = {
                    let mut stmt = txn.prepare_cached(
                        "SELECT w.id, w.user_id, w.events, u.role = 'admin' FROM webhooks w
                         JOIN users u ON u.id = w.user_id WHERE w.enabled = 1 AND u.is_active = 1",
                    )?;
                    let rows = stmt
                        .query_map([], |r| {
                            let events: String = r.get(2)?;
                            Ok((
                                r.get(0)?,
                                r.get(1)?,
                                serde_json::from_str(&events).unwrap_or_default(),
                                r.get(3)?,
                            ))
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    rows
                };
                if hooks.is_empty() {
                    return Ok(0usize);
                }
                let mut queued = 0;
                for event in &batch {
                    for (name, body) in bodies_for(txn, event)? {
                        let body = body.to_string();
                        for (hook_id, owner, wanted, admin) in &hooks {
                            let sees = *admin || event.user_id == Some(*owner);
                            if !sees || !wanted.iter().any(|w| w == name) {
                                continue;
                            }
                            queued += txn.execute(
                                "INSERT OR IGNORE INTO webhook_deliveries
                                    (webhook_id, event_id, event, body, status, attempts, next_attempt_at, created_at)
                                 VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
                                params![hook_id, event.id, name, body, now],
                            )?;
                        }
                    }
                }
                Ok(queued)
            })
            .await;
        match queued {
            Ok(n) => {
                sub.acked(last);
                if n > 0 {
                    wake.notify_one();
                }
            }
            Err(e) => {
                tracing::error!("webhooks: cannot queue deliveries: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Starts a worker for each webhook with pending deliveries that has none running.
async fn supervise(
    gateway: Gateway,
    config: Arc<WebhookConfig>,
    client: reqwest::Client,
    wake: Arc<Notify>,
) {
    let running: Arc<Mutex<HashSet<i64>>> = Arc::default();
    loop {
        let ids = gateway
            .store
            .read(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT DISTINCT d.webhook_id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                     WHERE d.status = 'pending' AND w.enabled = 1",
                )?;
                let ids = stmt
                    .query_map([], |r| r.get::<_, i64>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ids)
            })
            .await;
        match ids {
            Ok(ids) => {
                for id in ids {
                    let fresh = running
                        .lock()
                        .expect("the worker set lock is never held across a panic")
                        .insert(id);
                    if fresh {
                        let (g, cfg, cl, run) = (
                            gateway.clone(),
                            config.clone(),
                            client.clone(),
                            running.clone(),
                        );
                        tokio::spawn(async move {
                            deliver_all(&g, id, &cfg, &cl).await;
                            run.lock()
                                .expect("the worker set lock is never held across a panic")
                                .remove(&id);
                        });
                    }
                }
            }
            Err(e) => tracing::error!("webhooks: cannot read pending deliveries: {e}"),
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
    }
}

struct Head {
    delivery: Delivery,
    url: String,
    secret: String,
}

/// Delivers one webhook's pending deliveries in order until none is left.
async fn deliver_all(
    gateway: &Gateway,
    webhook_id: i64,
    config: &WebhookConfig,
    client: &reqwest::Client,
) {
    loop {
        let head = gateway
            .store
            .read(move |c| {
                Ok(c.query_row(
                    &format!(
                        "SELECT {}, w.url, w.secret FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                         WHERE d.webhook_id = ?1 AND d.status = 'pending' AND w.enabled = 1 ORDER BY d.id LIMIT 1",
                        Delivery::COLUMNS
                            .split(", ")
                            .map(|c| format!("d.{c}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    [webhook_id],
                    |r| {
                        Ok(Head {
                            delivery: Delivery::from_row(r)?,
                            url: r.get(13)?,
                            secret: r.get(14)?,
                        })
                    },
                )
                .optional()?)
            })
            .await;
        let head = match head {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(
                    "webhooks: cannot read the next delivery of webhook {webhook_id}: {e}"
                );
                return;
            }
        };
        if let Some(due) = time::parse_iso(&head.delivery.next_attempt_at) {
            let wait = (due - time::now()).to_std().unwrap_or(Duration::ZERO);
            if !wait.is_zero() {
                // Look again at least every few seconds (the webhook may be deleted).
                tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
                continue;
            }
        }
        let outcome = attempt(client, &head).await;
        if let Err(e) = record(gateway, webhook_id, &head.delivery, outcome, config).await {
            tracing::error!("webhooks: cannot record a delivery of webhook {webhook_id}: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

struct Outcome {
    ok: bool,
    status: Option<i64>,
    error: Option<String>,
}

async fn attempt(client: &reqwest::Client, head: &Head) -> Outcome {
    let t = time::now().timestamp();
    let body = head.delivery.body.clone().into_bytes();
    let signature = sign(&head.secret, t, &body);
    let sent = client
        .post(&head.url)
        .header("Content-Type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .header("X-Simgate-Event", &head.delivery.event)
        .header("X-Simgate-Delivery", head.delivery.id.to_string())
        .body(body)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status();
            let ok = status.is_success();
            Outcome {
                ok,
                status: Some(i64::from(status.as_u16())),
                error: (!ok).then(|| {
                    if status.is_redirection() {
                        format!("answered {status} (redirects are not followed)")
                    } else {
                        format!("answered {status}")
                    }
                }),
            }
        }
        Err(e) => Outcome {
            ok: false,
            status: None,
            error: Some(if e.is_timeout() {
                "timed out".to_string()
            } else {
                // The chain names the cause (refused, DNS, TLS).
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    source = s.source();
                }
                msg
            }),
        },
    }
}

async fn record(
    gateway: &Gateway,
    webhook_id: i64,
    delivery: &Delivery,
    outcome: Outcome,
    config: &WebhookConfig,
) -> GatewayResult<()> {
    let now = time::now();
    let now_iso = time::iso(now);
    let attempts = delivery.attempts + 1;
    let next = time::iso(
        now + chrono::Duration::from_std(config.backoff(attempts))
            .unwrap_or_else(|_| chrono::Duration::hours(1)),
    );
    let give_up = chrono::Duration::from_std(config.give_up_after)
        .unwrap_or_else(|_| chrono::Duration::days(1));
    let delivery_id = delivery.id;
    let disabled = gateway
        .store
        .write(move |txn| {
            txn.execute(
                "UPDATE webhook_deliveries SET attempts = ?2, last_status = ?3, last_error = ?4, last_attempt_at = ?5,
                    status = CASE WHEN ?6 THEN 'delivered' ELSE status END,
                    delivered_at = CASE WHEN ?6 THEN ?5 ELSE delivered_at END,
                    next_attempt_at = CASE WHEN ?6 THEN next_attempt_at ELSE ?7 END
                 WHERE id = ?1",
                params![delivery_id, attempts, outcome.status, outcome.error, now_iso, outcome.ok, next],
            )?;
            if outcome.ok {
                txn.execute(
                    "UPDATE webhooks SET failing_since = NULL, last_status = ?2, last_error = NULL, last_attempt_at = ?3, last_success_at = ?3 WHERE id = ?1",
                    params![webhook_id, outcome.status, now_iso],
                )?;
                return Ok(None);
            }
            txn.execute(
                "UPDATE webhooks SET failing_since = COALESCE(failing_since, ?3), last_status = ?2, last_error = ?4, last_attempt_at = ?3 WHERE id = ?1",
                params![webhook_id, outcome.status, now_iso, outcome.error],
            )?;
            let row: Option<(String, i64, String)> = txn
                .query_row(
                    "SELECT failing_since, user_id, url FROM webhooks WHERE id = ?1",
                    [webhook_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((since, owner, url)) = row else {
                return Ok(None);
            };
            let failing_for = time::parse_iso(&since).map(|s| now - s);
            if failing_for.is_none_or(|d| d < give_up) {
                return Ok(None);
            }
            let reason = format!(
                "failing since {since}: {}",
                outcome.error.as_deref().unwrap_or("no success")
            );
            txn.execute(
                "UPDATE webhooks SET enabled = 0, disabled_at = ?2, disabled_reason = ?3 WHERE id = ?1",
                params![webhook_id, now_iso, reason],
            )?;
            txn.execute(
                "UPDATE webhook_deliveries SET status = 'failed' WHERE webhook_id = ?1 AND status = 'pending'",
                [webhook_id],
            )?;
            events::record(
                txn,
                "webhook_disabled",
                Some(owner),
                &json!({"webhook_id": webhook_id, "url": url, "reason": reason, "at": now_iso}),
                &now_iso,
            )?;
            Ok(Some(reason))
        })
        .await?;
    if let Some(reason) = disabled {
        tracing::warn!("webhook {webhook_id} disabled: {reason}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_refuse_tampering_and_replay() {
        let body = br#"{"event":"sms.received"}"#;
        let header = sign("whsec_test_secret", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify(
            "whsec_test_secret",
            &header,
            body,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "whsec_other_secret",
            &header,
            body,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "whsec_test_secret",
            &header,
            b"{}",
            1_700_000_010,
            300
        ));
        assert!(!verify(
            "whsec_test_secret",
            &header,
            body,
            1_700_001_000,
            300
        ));
        assert!(!verify(
            "whsec_test_secret",
            "v1=00",
            body,
            1_700_000_000,
            300
        ));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = WebhookConfig::default();
        assert_eq!(c.backoff(1), Duration::from_secs(10));
        assert_eq!(c.backoff(2), Duration::from_secs(20));
        assert_eq!(c.backoff(4), Duration::from_secs(80));
        assert_eq!(c.backoff(100), Duration::from_secs(3600));
    }
}
