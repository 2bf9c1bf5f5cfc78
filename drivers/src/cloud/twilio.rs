//! Twilio: the Programmable Messaging REST API and its webhooks.
//!
//! - Send: `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded
//!   `To`, `From` (or `MessagingServiceSid`), `Body`, `StatusCallback`, HTTP basic auth
//!   with the account SID and auth token. The reply is the Message resource as JSON
//!   (`sid`, `status`, `error_code`, `error_message`, ...); an error is a JSON body
//!   `{code, message, more_info, status}` with a 4xx/5xx status.
//! - Numbers: `GET .../IncomingPhoneNumbers.json` (`incoming_phone_numbers[]`).
//! - Webhooks (form-encoded POSTs to us): status callbacks (`MessageSid`,
//!   `MessageStatus`, `ErrorCode`) and inbound messages (`MessageSid`, `From`, `To`,
//!   `Body`, `NumMedia`), signed in `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed
//!   with the auth token, over the full URL followed by every POST parameter sorted by
//!   name, each name directly followed by its value.
//!
//! Failures: error codes that condemn the message itself (invalid or unreachable
//! number, body too long) are not retryable; 429, 5xx, timeouts and anything else are
//! (another channel, or a later try, may succeed).

use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;

use super::{
    base, param, required, snippet, CloudError, DeliveryReport, DeliveryState, InboundSms,
};

pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// One Twilio account (or subaccount) to send from.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: String,
    /// The sender number (E.164) or alphanumeric sender id.
    pub from: Option<String>,
    /// Sends through a Messaging Service instead of `from` when set.
    pub messaging_service_sid: Option<String>,
    /// `https://api.twilio.com` in production.
    pub base_url: String,
    /// Where Twilio posts status callbacks for the messages we send.
    pub status_callback: Option<String>,
}

/// The Message resource, as far as we use it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TwilioMessage {
    pub sid: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, deserialize_with = "code_as_string")]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub num_segments: Option<String>,
}

/// One of the account's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IncomingNumber {
    pub sid: String,
    pub phone_number: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
}

/// Twilio's error body.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default, deserialize_with = "code_as_string")]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    more_info: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NumberPage {
    #[serde(default)]
    incoming_phone_numbers: Vec<IncomingNumber>,
    #[serde(default)]
    next_page_uri: Option<String>,
}

/// Error codes that condemn the message, not the channel: no other try can succeed.
/// 21211 invalid `To`; 21214 `To` cannot be reached; 21217 `To` is not valid; 21401
/// invalid number; 21407 region not supported for this number; 21421 invalid number;
/// 21602 empty body; 21604 no `To`; 21610 recipient unsubscribed (STOP); 21614 not a
/// mobile number; 21617 body too long; 30006 landline or unreachable carrier.
pub const PERMANENT_CODES: &[&str] = &[
    "21211", "21214", "21217", "21401", "21407", "21421", "21602", "21604", "21610", "21614",
    "21617", "30006",
];

/// A Twilio account's client.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    config: TwilioConfig,
    http: reqwest::Client,
}

impl TwilioClient {
    pub fn new(config: TwilioConfig, http: reqwest::Client) -> TwilioClient {
        TwilioClient { config, http }
    }

    pub fn config(&self) -> &TwilioConfig {
        &self.config
    }

    fn account_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}",
            base(&self.config.base_url),
            self.config.account_sid
        )
    }

    /// Sends one message; Twilio splits long texts itself.
    pub async fn send(&self, to: &str, body: &str) -> Result<TwilioMessage, CloudError> {
        let mut form: Vec<(&str, &str)> = vec![("To", to), ("Body", body)];
        match (&self.config.messaging_service_sid, &self.config.from) {
            (Some(sid), _) => form.push(("MessagingServiceSid", sid)),
            (None, Some(from)) => form.push(("From", from)),
            (None, None) => {
                return Err(CloudError::permanent(
                    "twilio: neither a From number nor a MessagingServiceSid is configured",
                ))
            }
        }
        if let Some(cb) = &self.config.status_callback {
            form.push(("StatusCallback", cb));
        }
        let reply = self
            .http
            .post(format!("{}/Messages.json", self.account_url()))
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| CloudError::transport("twilio", &e))?;
        let status = reply.status().as_u16();
        let text = reply
            .text()
            .await
            .map_err(|e| CloudError::transport("twilio", &e))?;
        if !(200..300).contains(&status) {
            return Err(error_from_reply(status, &text));
        }
        let message: TwilioMessage = serde_json::from_str(&text).map_err(|e| {
            CloudError::retryable(format!(
                "twilio: unreadable reply to a send ({e}): {}",
                snippet(&text)
            ))
        })?;
        if message.sid.is_empty() {
            return Err(CloudError::retryable(format!(
                "twilio: the reply has no message sid: {}",
                snippet(&text)
            )));
        }
        if message.status == "failed" || message.status == "undelivered" {
            let code = message.error_code.clone();
            return Err(CloudError {
                retryable: !is_permanent(code.as_deref()),
                http_status: Some(status),
                message: format!(
                    "twilio: message {} {}: {}",
                    message.sid,
                    message.status,
                    message
                        .error_message
                        .as_deref()
                        .unwrap_or("no reason given")
                ),
                code,
            });
        }
        Ok(message)
    }

    /// The account's phone numbers (every page).
    pub async fn list_numbers(&self) -> Result<Vec<IncomingNumber>, CloudError> {
        let mut numbers = Vec::new();
        let mut url = format!(
            "{}/IncomingPhoneNumbers.json?PageSize=1000",
            self.account_url()
        );
        // Bounded: a provider that keeps sending next pages cannot loop us forever.
        for _ in 0..100 {
            let reply = self
                .http
                .get(&url)
                .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
                .send()
                .await
                .map_err(|e| CloudError::transport("twilio", &e))?;
            let status = reply.status().as_u16();
            let text = reply
                .text()
                .await
                .map_err(|e| CloudError::transport("twilio", &e))?;
            if !(200..300).contains(&status) {
                return Err(error_from_reply(status, &text));
            }
            let page: NumberPage = serde_json::from_str(&text).map_err(|e| {
                CloudError::retryable(format!(
                    "twilio: unreadable number list ({e}): {}",
                    snippet(&text)
                ))
            })?;
            numbers.extend(page.incoming_phone_numbers);
            match page.next_page_uri.filter(|u| u.starts_with('/')) {
                Some(next) => url = format!("{}{next}", base(&self.config.base_url)),
                None => return Ok(numbers),
            }
        }
        Ok(numbers)
    }
}

fn is_permanent(code: Option<&str>) -> bool {
    code.is_some_and(|c| PERMANENT_CODES.contains(&c))
}

/// Classifies a non-2xx reply: its Twilio error body when it has one.
pub fn error_from_reply(status: u16, body: &str) -> CloudError {
    let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code.clone());
    let detail = match &parsed {
        Some(b) => {
            let mut m = b.message.clone().unwrap_or_else(|| "no message".into());
            if let Some(info) = &b.more_info {
                m.push_str(&format!(" ({info})"));
            }
            m
        }
        None => snippet(body),
    };
    let retryable = if status == 429 || status >= 500 {
        true
    } else {
        // A 4xx is our fault or the number's: only the number's condemns the message;
        // bad credentials or a suspended account are this channel's, so fail over.
        !is_permanent(code.as_deref())
    };
    CloudError {
        retryable,
        http_status: Some(status),
        code,
        message: format!("twilio: {detail}"),
    }
}

/// Twilio sends error codes as numbers, sometimes as strings or null.
fn code_as_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// The `X-Twilio-Signature` Twilio would send for a POST to `url` with `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mac = signing_mac(auth_token, url, params);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn signing_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<sha1::Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // By name; a repeated name's values in order too, as Twilio's own libraries do.
    sorted.sort();
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac
}

/// Checks an `X-Twilio-Signature` header (constant time). `url` is the full URL
/// Twilio called, with its query string, exactly as configured there.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else {
        return false;
    };
    signing_mac(auth_token, url, params)
        .verify_slice(&given)
        .is_ok()
}

/// Maps a Twilio `MessageStatus` to a delivery state.
pub fn delivery_state(status: &str) -> DeliveryState {
    match status {
        "delivered" | "read" => DeliveryState::Delivered,
        "undelivered" | "failed" | "canceled" => DeliveryState::Failed,
        _ => DeliveryState::Pending,
    }
}

/// Parses a status callback (form parameters).
pub fn parse_status_callback(params: &[(String, String)]) -> Result<DeliveryReport, CloudError> {
    let id = required(params, "MessageSid")?.to_string();
    let status = param(params, "MessageStatus")
        .or_else(|| param(params, "SmsStatus"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| CloudError::permanent("the webhook has no MessageStatus"))?
        .to_string();
    Ok(DeliveryReport {
        id,
        state: delivery_state(&status),
        status,
        error_code: param(params, "ErrorCode")
            .filter(|c| !c.is_empty())
            .map(String::from),
    })
}

/// An inbound message webhook, with its media count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioInbound {
    pub sms: InboundSms,
    pub num_media: u32,
}

/// Parses an inbound message webhook (form parameters).
pub fn parse_inbound(params: &[(String, String)]) -> Result<TwilioInbound, CloudError> {
    let num_media = match param(params, "NumMedia") {
        None | Some("") => 0,
        Some(n) => n
            .parse()
            .map_err(|_| CloudError::permanent(format!("NumMedia {n:?} is not a count")))?,
    };
    Ok(TwilioInbound {
        sms: InboundSms {
            id: required(params, "MessageSid")?.to_string(),
            from: required(params, "From")?.to_string(),
            to: required(params, "To")?.to_string(),
            text: param(params, "Body").unwrap_or_default().to_string(),
        },
        num_media,
    })
}
