//! Cloud providers as send channels, and the circuit breaker that keeps a failing
//! channel out of the way.
//!
//! - [`TwilioChannel`] and [`VonageChannel`] adapt `drivers::cloud` clients to
//!   [`SendChannel`]: the provider's message ids become the parts' references, so
//!   status callbacks and delivery receipts ([`Gateway::record_provider_report`]) find
//!   the job that sent them.
//! - Failover order is each channel's priority (lower first): modems are 0, cloud
//!   channels take theirs from the configuration, so "SIMs, then Twilio, then Vonage"
//!   is `priority = 10` and `priority = 20`.
//! - [`CircuitBreaker`] wraps any channel: after `failure_threshold` consecutive
//!   retryable failures it is open (not ready, skipped by the dispatcher) for
//!   `cool_down`; then half-open: the next send is one probe, whose success closes it
//!   and whose failure opens it again. A failure that is the message's fault (an
//!   invalid number) says the channel works and does not count.
//!   [`Gateway::channel_health`] lists every channel's state.
//! - Webhooks from the providers: each channel says how its provider signs them
//!   ([`WebhookAuth`], from its `[[provider]]` table); the API asks the registry of
//!   send channels ([`Gateway::provider_accounts`], [`Gateway::verify_vonage_webhook`])
//!   instead of keeping secrets of its own, and [`Gateway::record_provider_report_any`]
//!   finds which of a provider's channels sent the message a report is about.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use drivers::cloud::twilio::{TwilioClient, TwilioConfig};
use drivers::cloud::vonage::{SignatureError, SignatureMethod, VonageClient, VonageConfig};
use drivers::cloud::{CloudError, DeliveryReport, DeliveryState};
use serde::Serialize;

use crate::outbound::{BoxFuture, DeliveryStatus, SendChannel, SendFailure, Sent};
use crate::{Gateway, GatewayResult};

/// The HTTP client for provider calls: rustls (ring) with the OS trust store.
pub fn provider_http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    let tls = crate::mqtt::tls_client_config(None)?;
    drivers::cloud::http_client(timeout, tls).map_err(|e| e.to_string())
}

fn failure(e: CloudError) -> SendFailure {
    SendFailure {
        retryable: e.retryable,
        message: e.to_string(),
    }
}

/// A Twilio account as a send channel.
#[derive(Debug, Clone)]
pub struct TwilioChannelConfig {
    /// Unique channel name (`twilio`, `twilio-eu`, ...).
    pub name: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    /// Default `https://api.twilio.com`.
    pub base_url: Option<String>,
    pub status_callback: Option<String>,
    pub priority: i32,
}

pub struct TwilioChannel {
    name: String,
    priority: i32,
    client: TwilioClient,
}

impl TwilioChannel {
    pub fn new(config: TwilioChannelConfig, http: reqwest::Client) -> TwilioChannel {
        let client = TwilioClient::new(
            TwilioConfig {
                account_sid: config.account_sid,
                auth_token: config.auth_token,
                from: config.from,
                messaging_service_sid: config.messaging_service_sid,
                base_url: config
                    .base_url
                    .unwrap_or_else(|| drivers::cloud::twilio::DEFAULT_BASE_URL.into()),
                status_callback: config.status_callback,
            },
            http,
        );
        TwilioChannel {
            name: config.name,
            priority: config.priority,
            client,
        }
    }
}

impl SendChannel for TwilioChannel {
    fn name(&self) -> &str {
        &self.name
    }
    fn provider(&self) -> &str {
        "twilio"
    }
    fn number(&self) -> Option<String> {
        self.client.config().from.clone()
    }
    fn is_ready(&self) -> bool {
        true
    }
    fn priority(&self) -> i32 {
        self.priority
    }
    fn webhook_auth(&self) -> Option<WebhookAuth> {
        Some(WebhookAuth::Twilio {
            auth_token: self.client.config().auth_token.clone(),
        })
    }
    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
        _status_report: bool,
    ) -> BoxFuture<'a, Result<Sent, SendFailure>> {
        Box::pin(async move {
            let m = self.client.send(to, text).await.map_err(failure)?;
            Ok(Sent {
                references: vec![m.sid],
            })
        })
    }
}

/// A Vonage account as a send channel.
#[derive(Debug, Clone)]
pub struct VonageChannelConfig {
    pub name: String,
    pub api_key: String,
    pub api_secret: String,
    pub signature_secret: Option<String>,
    pub signature_method: SignatureMethod,
    pub from: String,
    /// Default `https://rest.nexmo.com`.
    pub base_url: Option<String>,
    /// Delivery-receipt URL.
    pub callback: Option<String>,
    pub priority: i32,
}

pub struct VonageChannel {
    name: String,
    priority: i32,
    client: VonageClient,
}

impl VonageChannel {
    pub fn new(config: VonageChannelConfig, http: reqwest::Client) -> VonageChannel {
        let client = VonageClient::new(
            VonageConfig {
                api_key: config.api_key,
                api_secret: config.api_secret,
                signature_secret: config.signature_secret,
                signature_method: config.signature_method,
                from: config.from,
                base_url: config
                    .base_url
                    .unwrap_or_else(|| drivers::cloud::vonage::DEFAULT_BASE_URL.into()),
                callback: config.callback,
            },
            http,
        );
        VonageChannel {
            name: config.name,
            priority: config.priority,
            client,
        }
    }
}

impl SendChannel for VonageChannel {
    fn name(&self) -> &str {
        &self.name
    }
    fn provider(&self) -> &str {
        "vonage"
    }
    fn number(&self) -> Option<String> {
        let from = &self.client.config().from;
        // A numeric sender is a number (Vonage writes it without the +).
        let digits = from.strip_prefix('+').unwrap_or(from);
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| format!("+{digits}"))
    }
    fn is_ready(&self) -> bool {
        true
    }
    fn priority(&self) -> i32 {
        self.priority
    }
    fn webhook_auth(&self) -> Option<WebhookAuth> {
        let c = self.client.config();
        Some(WebhookAuth::Vonage {
            signature_secret: c.signature_secret.clone().filter(|s| !s.is_empty()),
            method: c.signature_method,
        })
    }
    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
        _status_report: bool,
    ) -> BoxFuture<'a, Result<Sent, SendFailure>> {
        Box::pin(async move {
            let sent = self.client.send(to, text).await.map_err(failure)?;
            Ok(Sent {
                references: sent.message_ids,
            })
        })
    }
}

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    pub failure_threshold: u32,
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            failure_threshold: 3,
            cool_down: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// A breaker's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct BreakerInner {
    state: BreakerState,
    failures: u32,
    last_error: Option<String>,
    opened_at: Instant,
    /// A half-open probe in flight since then (a probe dropped mid-way expires).
    probe_since: Option<Instant>,
}

/// Wraps a channel with a circuit breaker (see the module doc).
pub struct CircuitBreaker {
    inner: Arc<dyn SendChannel>,
    policy: BreakerPolicy,
    state: Mutex<BreakerInner>,
}

impl CircuitBreaker {
    pub fn new(inner: Arc<dyn SendChannel>, policy: BreakerPolicy) -> CircuitBreaker {
        CircuitBreaker {
            inner,
            policy,
            state: Mutex::new(BreakerInner {
                state: BreakerState::Closed,
                failures: 0,
                last_error: None,
                opened_at: Instant::now(),
                probe_since: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerInner> {
        // The state stays consistent even if a holder panicked: every update is whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves an open breaker whose cool-down is over to half-open.
    fn refresh(&self, s: &mut BreakerInner) {
        if s.state == BreakerState::Open && s.opened_at.elapsed() >= self.policy.cool_down {
            s.state = BreakerState::HalfOpen;
            s.probe_since = None;
        }
        if let Some(since) = s.probe_since {
            if since.elapsed() >= self.policy.cool_down.max(Duration::from_secs(1)) {
                s.probe_since = None;
            }
        }
    }

    pub fn snapshot(&self) -> BreakerSnapshot {
        let mut s = self.lock();
        self.refresh(&mut s);
        BreakerSnapshot {
            state: s.state,
            consecutive_failures: s.failures,
            last_error: s.last_error.clone(),
        }
    }
}

impl SendChannel for CircuitBreaker {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn provider(&self) -> &str {
        self.inner.provider()
    }
    fn number(&self) -> Option<String> {
        self.inner.number()
    }
    fn is_ready(&self) -> bool {
        if !self.inner.is_ready() {
            return false;
        }
        let mut s = self.lock();
        self.refresh(&mut s);
        match s.state {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen => s.probe_since.is_none(),
        }
    }
    fn priority(&self) -> i32 {
        self.inner.priority()
    }
    fn health(&self) -> Option<BreakerSnapshot> {
        Some(self.snapshot())
    }
    fn webhook_auth(&self) -> Option<WebhookAuth> {
        self.inner.webhook_auth()
    }
    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
        status_report: bool,
    ) -> BoxFuture<'a, Result<Sent, SendFailure>> {
        Box::pin(async move {
            {
                let mut s = self.lock();
                self.refresh(&mut s);
                match s.state {
                    BreakerState::Closed => {}
                    BreakerState::Open => {
                        return Err(SendFailure {
                            retryable: true,
                            message: format!(
                                "circuit open after {} consecutive failures",
                                s.failures
                            ),
                        })
                    }
                    BreakerState::HalfOpen => {
                        if s.probe_since.is_some() {
                            return Err(SendFailure {
                                retryable: true,
                                message: "circuit half-open: a probe is in flight".into(),
                            });
                        }
                        s.probe_since = Some(Instant::now());
                    }
                }
            }
            let result = self.inner.send(to, text, status_report).await;
            let mut s = self.lock();
            s.probe_since = None;
            match &result {
                Err(f) if f.retryable => {
                    s.failures = s.failures.saturating_add(1);
                    s.last_error = Some(f.message.clone());
                    if s.state == BreakerState::HalfOpen
                        || s.failures >= self.policy.failure_threshold
                    {
                        if s.state != BreakerState::Open {
                            tracing::warn!(
                                channel = self.inner.name(),
                                "circuit open for {:?} after {} consecutive failures: {}",
                                self.policy.cool_down,
                                s.failures,
                                f.message
                            );
                        }
                        s.state = BreakerState::Open;
                        s.opened_at = Instant::now();
                    }
                }
                // Sent, or refused for the message's own fault: the channel works.
                _ => {
                    if s.state != BreakerState::Closed {
                        tracing::info!(channel = self.inner.name(), "circuit closed again");
                    }
                    s.state = BreakerState::Closed;
                    s.failures = 0;
                }
            }
            result
        })
    }
}

/// How a provider account signs the webhooks it sends us, from its configuration.
#[derive(Clone)]
pub enum WebhookAuth {
    /// `X-Twilio-Signature`: HMAC-SHA1 keyed with the account's auth token.
    Twilio { auth_token: String },
    /// Vonage's `sig`, keyed with the account's signature secret. Without one the
    /// account's webhooks cannot be told from forgeries and are refused.
    Vonage {
        signature_secret: Option<String>,
        method: SignatureMethod,
    },
}

impl std::fmt::Debug for WebhookAuth {
    // Never print a secret (logs, panics).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookAuth::Twilio { .. } => f.write_str("Twilio { auth_token: <hidden> }"),
            WebhookAuth::Vonage {
                signature_secret,
                method,
            } => write!(
                f,
                "Vonage {{ signature_secret: {}, method: {method:?} }}",
                if signature_secret.is_some() {
                    "<hidden>"
                } else {
                    "none"
                }
            ),
        }
    }
}

/// A configured provider channel and how its webhooks are checked.
#[derive(Debug, Clone)]
pub struct ProviderAccount {
    /// The channel's name (`[[provider]] name`): outbound parts are recorded under it.
    pub channel: String,
    pub auth: WebhookAuth,
}

/// How far a Vonage webhook's `timestamp` may be from now. Vonage stamps a webhook
/// when it first pushes it and retries a failed one for 24 hours with that stamp, so
/// a tighter window would refuse the retries after the box was down and lose their
/// messages. Replays inside it are harmless: inbound texts are stored once per
/// message id, and a receipt cannot move a job twice.
pub const VONAGE_MAX_SKEW_SECS: u64 = 25 * 3600;

/// Why a Vonage webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VonageRefusal {
    /// No `[[provider]] kind = "vonage"` has a `signature_secret`.
    NotConfigured,
    Signature(SignatureError),
}

impl std::fmt::Display for VonageRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VonageRefusal::NotConfigured => f.write_str(
                "no [[provider]] of kind vonage has a signature_secret: unsigned Vonage webhooks are refused",
            ),
            VonageRefusal::Signature(SignatureError::Missing) => {
                f.write_str("the sig parameter is missing")
            }
            VonageRefusal::Signature(SignatureError::NoTimestamp) => {
                f.write_str("the timestamp parameter is missing or not a number")
            }
            VonageRefusal::Signature(SignatureError::Stale) => write!(
                f,
                "the timestamp is more than {VONAGE_MAX_SKEW_SECS} s away from now"
            ),
            VonageRefusal::Signature(SignatureError::Mismatch) => {
                f.write_str("the signature does not match")
            }
        }
    }
}

/// One channel's health, as `channel_health` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelHealth {
    pub name: String,
    pub provider: String,
    pub priority: i32,
    pub ready: bool,
    /// `closed` (in use), `open` (skipped until its cool-down ends), `half-open`.
    pub state: BreakerState,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

/// The outbound status a provider's delivery state means.
pub fn delivery_status(state: DeliveryState) -> DeliveryStatus {
    match state {
        DeliveryState::Delivered => DeliveryStatus::Delivered,
        DeliveryState::Failed => DeliveryStatus::Undelivered,
        DeliveryState::Pending => DeliveryStatus::Pending,
    }
}

impl Gateway {
    /// Every send channel with its breaker state (channels without one are `closed`).
    pub async fn channel_health(&self) -> Vec<ChannelHealth> {
        self.send_channels()
            .await
            .into_iter()
            .map(|c| {
                let h = c.health().unwrap_or(BreakerSnapshot {
                    state: BreakerState::Closed,
                    consecutive_failures: 0,
                    last_error: None,
                });
                ChannelHealth {
                    name: c.name().to_string(),
                    provider: c.provider().to_string(),
                    priority: c.priority(),
                    ready: c.is_ready(),
                    state: h.state,
                    consecutive_failures: h.consecutive_failures,
                    last_error: h.last_error,
                }
            })
            .collect()
    }

    /// The send channels of `provider` (`twilio`, `vonage`) and how their webhooks
    /// are signed, in the order they were added.
    pub async fn provider_accounts(&self, provider: &str) -> Vec<ProviderAccount> {
        self.send_channels()
            .await
            .into_iter()
            .filter(|c| c.provider() == provider)
            .filter_map(|c| {
                c.webhook_auth().map(|auth| ProviderAccount {
                    channel: c.name().to_string(),
                    auth,
                })
            })
            .collect()
    }

    /// Checks a Vonage webhook's `sig` against every Vonage channel's signature
    /// secret; the channel whose secret signed it.
    pub async fn verify_vonage_webhook(
        &self,
        params: &[(String, String)],
        now_unix: u64,
    ) -> Result<String, VonageRefusal> {
        let mut refusal = VonageRefusal::NotConfigured;
        for account in self.provider_accounts("vonage").await {
            let WebhookAuth::Vonage {
                signature_secret: Some(secret),
                method,
            } = &account.auth
            else {
                continue;
            };
            match drivers::cloud::vonage::verify_signature(
                params,
                secret,
                *method,
                now_unix,
                VONAGE_MAX_SKEW_SECS,
            ) {
                Ok(()) => return Ok(account.channel),
                Err(e) => refusal = VonageRefusal::Signature(e),
            }
        }
        Err(refusal)
    }

    /// Applies a status callback or delivery receipt of `provider` to the job that
    /// sent `report.id` on any of that provider's channels (or on a channel named
    /// like the provider, the default name, should it be gone from the configuration).
    /// The channel and job it matched, if any; `None` too for a state that is not
    /// final (queued, sent, buffered).
    pub async fn record_provider_report_any(
        &self,
        provider: &str,
        report: &DeliveryReport,
    ) -> GatewayResult<Option<(String, i64)>> {
        if report.state == DeliveryState::Pending {
            return Ok(None);
        }
        let mut names: Vec<String> = self
            .send_channels()
            .await
            .into_iter()
            .filter(|c| c.provider() == provider)
            .map(|c| c.name().to_string())
            .collect();
        if !names.iter().any(|n| n == provider) {
            names.push(provider.to_string());
        }
        for name in names {
            if let Some(job) = self.record_provider_report(&name, report).await? {
                return Ok(Some((name, job)));
            }
        }
        Ok(None)
    }

    /// Applies a provider's status callback or delivery receipt to the job whose part
    /// got `report.id` on `channel`.
    pub async fn record_provider_report(
        &self,
        channel: &str,
        report: &DeliveryReport,
    ) -> GatewayResult<Option<i64>> {
        self.record_delivery_status(channel, &report.id, delivery_status(report.state))
            .await
    }
}
