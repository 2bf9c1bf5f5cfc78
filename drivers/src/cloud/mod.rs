//! Cloud SMS providers: Twilio and Vonage (Nexmo), spoken in their own wire formats.
//!
//! - [`twilio`]: the Messages API (form POST, basic auth), number listing, status
//!   callbacks, inbound webhooks and the `X-Twilio-Signature` check.
//! - [`vonage`]: the SMS API (`/sms/json`), inbound and delivery-receipt webhooks and
//!   their `sig` check (md5hash or HMAC md5/sha1/sha256/sha512).
//!
//! Every client takes its base URL from configuration (tests point it at a local fake
//! server) and a [`reqwest::Client`] built by [`http_client`] with a timeout. Nothing a
//! provider sends can panic us: replies and webhooks are parsed into `Result`s.
//! Webhook parsing and signature checks are pure functions over the form parameters.

pub mod twilio;
pub mod vonage;

use std::time::Duration;

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudError {
    /// Whether another try (later, or through another channel) may succeed. `false`
    /// when the message itself is refused (invalid number, text too long).
    pub retryable: bool,
    /// The HTTP status, when there was a reply.
    pub http_status: Option<u16>,
    /// The provider's error code, when it gave one.
    pub code: Option<String>,
    pub message: String,
}

impl CloudError {
    pub fn retryable(message: impl Into<String>) -> CloudError {
        CloudError {
            retryable: true,
            http_status: None,
            code: None,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> CloudError {
        CloudError {
            retryable: false,
            http_status: None,
            code: None,
            message: message.into(),
        }
    }

    /// A transport failure: connection refused, timeout, broken reply. The message may
    /// or may not have been accepted; retrying may send it twice, which beats losing it.
    pub(crate) fn transport(provider: &str, e: &reqwest::Error) -> CloudError {
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        CloudError::retryable(format!("{provider}: {what}: {e}"))
    }
}

impl std::fmt::Display for CloudError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CloudError {}

/// Where a sent message stands, as a status callback or delivery receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Accepted, queued, sent, buffered: not final yet.
    Pending,
    Delivered,
    /// Final failure: undelivered, failed, expired, rejected.
    Failed,
}

/// An SMS a provider received for one of our numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The provider's id of the message.
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
}

/// A delivery report for a message we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The provider's id, as the send reply gave it.
    pub id: String,
    pub state: DeliveryState,
    /// The provider's word for it (`delivered`, `undelivered`, `expired`...).
    pub status: String,
    pub error_code: Option<String>,
}

/// The HTTP client for provider calls: rustls with the given configuration (the
/// caller picks the crypto provider and the trust store), a timeout on each request,
/// no redirects.
pub fn http_client(
    timeout: Duration,
    tls: impl std::any::Any + Send + Sync + 'static,
) -> Result<reqwest::Client, CloudError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("simgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CloudError::permanent(format!("cannot build the HTTP client: {e}")))
}

/// Decodes an `application/x-www-form-urlencoded` body into its pairs, in order.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The first value of `key`.
pub(crate) fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The value of `key`, or an error naming it.
pub(crate) fn required<'a>(
    params: &'a [(String, String)],
    key: &str,
) -> Result<&'a str, CloudError> {
    param(params, key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| CloudError::permanent(format!("the webhook has no {key}")))
}

/// Byte comparison whose time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Trims a trailing slash so `{base}/path` never has two.
pub(crate) fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// A provider's reply body, shortened for an error message.
pub(crate) fn snippet(body: &str) -> String {
    let mut s: String = body.chars().take(200).collect();
    if body.chars().count() > 200 {
        s.push('…');
    }
    s
}
