//! Vonage (Nexmo): the SMS API and its webhooks.
//!
//! - Send: `POST {base}/sms/json`, form-encoded `api_key`, `api_secret` (or `timestamp`
//!   and `sig` when a signature secret is configured), `from`, `to` (international,
//!   no `+`), `text`, `type=unicode` when the text is not GSM 7-bit, `callback` and
//!   `status-report-req`. The reply is `{"message-count": "N", "messages": [{"status":
//!   "0", "message-id": ..., "error-text": ...}]}`, one entry per part.
//! - Status codes (Vonage's SMS API reference): 0 success; 1 throttled, 5 internal
//!   error and the account-level ones (4 invalid credentials, 8 account barred, 9
//!   quota, 10 binds, 11 not enabled, 14 invalid signature, 15 invalid sender, 23
//!   invalid callback, 29 non-whitelisted destination, 32 signature and secret) are
//!   retryable: a later try or another channel may succeed. The message's own faults
//!   (2 missing parameter, 3 invalid parameter, 6 invalid message, 7 number barred, 12
//!   too long, 22 invalid network, 33 number de-activated) are not.
//! - Webhooks (GET query or POST form): inbound (`msisdn`, `to`, `messageId`, `text`;
//!   a long SMS comes as one webhook per part, each with its own `messageId` and
//!   `concat=true`, `concat-ref`, `concat-total`, `concat-part`, see
//!   [`parse_inbound_concat`]) and delivery receipts (`messageId`, `status` delivered/expired/failed/rejected/
//!   accepted/buffered/unknown, `err-code`, `msisdn`).
//! - Signatures ("Signing requests"): every parameter but `sig`, sorted by name, as
//!   `&name=value` with `&` and `=` in values replaced by `_`; then `md5hash` is the
//!   MD5 of that string followed by the secret, and the HMAC methods (md5, sha1,
//!   sha256, sha512) key an HMAC with the secret; hex. `timestamp` (Unix seconds) must
//!   be recent, which bounds replays.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde::Deserialize;

use super::{
    base, constant_time_eq, param, required, snippet, CloudError, DeliveryReport, DeliveryState,
    InboundSms,
};

pub const DEFAULT_BASE_URL: &str = "https://rest.nexmo.com";

/// How Vonage signs (the account's "signature method").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureMethod {
    Md5Hash,
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl std::str::FromStr for SignatureMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "md5hash" => SignatureMethod::Md5Hash,
            "md5" | "md5hmac" => SignatureMethod::Md5,
            "sha1" | "sha1hmac" => SignatureMethod::Sha1,
            "sha256" | "sha256hmac" => SignatureMethod::Sha256,
            "sha512" | "sha512hmac" => SignatureMethod::Sha512,
            other => {
                return Err(format!(
                    "unknown signature method {other:?} (md5hash, md5, sha1, sha256 or sha512)"
                ))
            }
        })
    }
}

/// One Vonage account to send from.
#[derive(Debug, Clone)]
pub struct VonageConfig {
    pub api_key: String,
    /// Sent as `api_secret` unless a signature secret is set.
    pub api_secret: String,
    /// When set, requests are signed (`sig`) instead of carrying the secret.
    pub signature_secret: Option<String>,
    pub signature_method: SignatureMethod,
    /// The sender: a number (international, `+` optional) or an alphanumeric id.
    pub from: String,
    /// `https://rest.nexmo.com` in production.
    pub base_url: String,
    /// Where Vonage sends delivery receipts for the messages we send.
    pub callback: Option<String>,
}

/// What a successful send gave back: one id per part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VonageSent {
    pub message_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Reply {
    #[serde(default)]
    messages: Vec<ReplyMessage>,
}

#[derive(Debug, Deserialize)]
struct ReplyMessage {
    #[serde(default, deserialize_with = "string_or_number")]
    status: Option<String>,
    #[serde(default, rename = "message-id")]
    message_id: Option<String>,
    #[serde(default, rename = "error-text")]
    error_text: Option<String>,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    })
}

/// Status codes that condemn the message itself (see the module doc).
pub const PERMANENT_STATUSES: &[&str] = &["2", "3", "6", "7", "12", "22", "33"];

/// A Vonage account's client.
#[derive(Debug, Clone)]
pub struct VonageClient {
    config: VonageConfig,
    http: reqwest::Client,
}

impl VonageClient {
    pub fn new(config: VonageConfig, http: reqwest::Client) -> VonageClient {
        VonageClient { config, http }
    }

    pub fn config(&self) -> &VonageConfig {
        &self.config
    }

    /// The form for a send, signed when a signature secret is configured.
    pub fn send_params(&self, to: &str, text: &str, now_unix: u64) -> Vec<(String, String)> {
        let c = &self.config;
        let mut p: Vec<(String, String)> = vec![
            ("api_key".into(), c.api_key.clone()),
            (
                "from".into(),
                c.from.strip_prefix('+').unwrap_or(&c.from).into(),
            ),
            ("to".into(), to.strip_prefix('+').unwrap_or(to).into()),
            ("text".into(), text.into()),
        ];
        if needs_unicode(text) {
            p.push(("type".into(), "unicode".into()));
        }
        if let Some(cb) = &c.callback {
            p.push(("callback".into(), cb.clone()));
            p.push(("status-report-req".into(), "1".into()));
        }
        match &c.signature_secret {
            Some(secret) => {
                p.push(("timestamp".into(), now_unix.to_string()));
                let sig = sign(&p, secret, c.signature_method);
                p.push(("sig".into(), sig));
            }
            None => p.push(("api_secret".into(), c.api_secret.clone())),
        }
        p
    }

    /// Sends one message (Vonage splits long texts; each part gets an id).
    pub async fn send(&self, to: &str, text: &str) -> Result<VonageSent, CloudError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let form = self.send_params(to, text, now);
        let reply = self
            .http
            .post(format!("{}/sms/json", base(&self.config.base_url)))
            .form(&form)
            .send()
            .await
            .map_err(|e| CloudError::transport("vonage", &e))?;
        let status = reply.status().as_u16();
        let body = reply
            .text()
            .await
            .map_err(|e| CloudError::transport("vonage", &e))?;
        parse_send_reply(status, &body)
    }
}

/// Interprets the reply to `/sms/json`.
pub fn parse_send_reply(http_status: u16, body: &str) -> Result<VonageSent, CloudError> {
    if !(200..300).contains(&http_status) {
        return Err(CloudError {
            // 401 (bad credentials), 429, 5xx: this channel's trouble, not the message's.
            retryable: true,
            http_status: Some(http_status),
            code: None,
            message: format!("vonage: HTTP {http_status}: {}", snippet(body)),
        });
    }
    let reply: Reply = serde_json::from_str(body).map_err(|e| {
        CloudError::retryable(format!("vonage: unreadable reply ({e}): {}", snippet(body)))
    })?;
    if reply.messages.is_empty() {
        return Err(CloudError::retryable(format!(
            "vonage: the reply lists no message: {}",
            snippet(body)
        )));
    }
    let mut ids = Vec::new();
    for m in &reply.messages {
        let code = m.status.clone().unwrap_or_default();
        if code != "0" {
            return Err(CloudError {
                retryable: !PERMANENT_STATUSES.contains(&code.as_str()),
                http_status: Some(http_status),
                message: format!(
                    "vonage: status {code}: {}",
                    m.error_text.as_deref().unwrap_or("no error text")
                ),
                code: Some(code),
            });
        }
        match &m.message_id {
            Some(id) if !id.is_empty() => ids.push(id.clone()),
            _ => {
                return Err(CloudError::retryable(format!(
                    "vonage: a part has no message-id: {}",
                    snippet(body)
                )))
            }
        }
    }
    Ok(VonageSent { message_ids: ids })
}

/// Whether `text` needs `type=unicode` (a character outside the GSM 7-bit alphabet).
pub fn needs_unicode(text: &str) -> bool {
    crate::pdu::count_segments(text).encoding != crate::pdu::Alphabet::Gsm7
}

/// The string Vonage signs: `&k=v` for every parameter but `sig`, sorted by name.
fn signing_string(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort();
    let mut s = String::new();
    for (k, v) in sorted {
        s.push('&');
        s.push_str(k);
        s.push('=');
        s.push_str(&v.replace(['&', '='], "_"));
    }
    s
}

fn hmac_hex<M: Mac + hmac::digest::KeyInit>(secret: &str, data: &str) -> String {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `sig` for `params` (any `sig` among them is ignored), lowercase hex.
pub fn sign(params: &[(String, String)], secret: &str, method: SignatureMethod) -> String {
    let data = signing_string(params);
    match method {
        SignatureMethod::Md5Hash => {
            let mut h = Md5::new();
            h.update(data.as_bytes());
            h.update(secret.as_bytes());
            hex::encode(h.finalize())
        }
        SignatureMethod::Md5 => hmac_hex::<Hmac<Md5>>(secret, &data),
        SignatureMethod::Sha1 => hmac_hex::<Hmac<sha1::Sha1>>(secret, &data),
        SignatureMethod::Sha256 => hmac_hex::<Hmac<sha2::Sha256>>(secret, &data),
        SignatureMethod::Sha512 => hmac_hex::<Hmac<sha2::Sha512>>(secret, &data),
    }
}

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    NoTimestamp,
    /// `timestamp` is further than the allowed skew from now (a replay, or a clock).
    Stale,
    Mismatch,
}

/// Checks a signed webhook: `sig` matches (constant time, hex in either case) and
/// `timestamp` is within `max_skew_secs` of `now_unix`.
pub fn verify_signature(
    params: &[(String, String)],
    secret: &str,
    method: SignatureMethod,
    now_unix: u64,
    max_skew_secs: u64,
) -> Result<(), SignatureError> {
    let given = param(params, "sig")
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::Missing)?;
    let ts: u64 = param(params, "timestamp")
        .and_then(|t| t.trim().parse().ok())
        .ok_or(SignatureError::NoTimestamp)?;
    if ts.abs_diff(now_unix) > max_skew_secs {
        return Err(SignatureError::Stale);
    }
    let expected = sign(params, secret, method);
    if constant_time_eq(given.to_ascii_lowercase().as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Maps a delivery receipt `status` to a delivery state.
pub fn delivery_state(status: &str) -> DeliveryState {
    match status {
        "delivered" => DeliveryState::Delivered,
        "expired" | "failed" | "rejected" => DeliveryState::Failed,
        _ => DeliveryState::Pending,
    }
}

/// A delivery receipt, with the recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VonageReceipt {
    pub report: DeliveryReport,
    /// The recipient of the message the receipt is about.
    pub msisdn: Option<String>,
}

/// Parses a delivery receipt (query or form parameters).
pub fn parse_delivery_receipt(params: &[(String, String)]) -> Result<VonageReceipt, CloudError> {
    let status = required(params, "status")?.to_string();
    Ok(VonageReceipt {
        report: DeliveryReport {
            id: required(params, "messageId")?.to_string(),
            state: delivery_state(&status),
            status,
            error_code: param(params, "err-code")
                .filter(|c| !c.is_empty() && *c != "0")
                .map(String::from),
        },
        msisdn: param(params, "msisdn").map(String::from),
    })
}

/// Parses an inbound SMS webhook (query or form parameters). `from` is the sender's
/// `msisdn` as Vonage gives it (international digits, no `+`).
pub fn parse_inbound(params: &[(String, String)]) -> Result<InboundSms, CloudError> {
    Ok(InboundSms {
        id: required(params, "messageId")?.to_string(),
        from: required(params, "msisdn")?.to_string(),
        to: required(params, "to")?.to_string(),
        text: param(params, "text").unwrap_or_default().to_string(),
    })
}

/// Where one part of a long inbound SMS sits in its message. Vonage delivers each part
/// in its own webhook (its own `messageId`) with `concat=true` and these three fields,
/// all strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundConcat {
    /// `concat-ref`: shared by the parts of one message (the SMS's own concatenation
    /// reference, so it comes back after a while).
    pub reference: u16,
    /// `concat-total`: how many parts the message has, 1 to 255.
    pub total: u8,
    /// `concat-part`: this part's place, 1 to `total`.
    pub part: u8,
}

/// Why the concatenation fields of an inbound SMS cannot be used: the field and what
/// is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcatError {
    pub field: &'static str,
    pub problem: String,
}

impl std::fmt::Display for ConcatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.field, self.problem)
    }
}

impl std::error::Error for ConcatError {}

/// The concatenation fields of an inbound SMS webhook: `None` for a whole SMS. A part
/// is one whose `concat` is `true` or that has any `concat-*` field; then all three
/// must be whole numbers in range (`concat-ref` 0 to 65535, `concat-total` 1 to 255,
/// `concat-part` 1 to `concat-total`).
pub fn parse_inbound_concat(
    params: &[(String, String)],
) -> Result<Option<InboundConcat>, ConcatError> {
    const FIELDS: [&str; 3] = ["concat-ref", "concat-total", "concat-part"];
    let any_field = FIELDS
        .iter()
        .any(|f| param(params, f).is_some_and(|v| !v.trim().is_empty()));
    let flag = param(params, "concat").map(|v| v.trim().to_ascii_lowercase());
    match flag.as_deref() {
        Some("true") => {}
        None | Some("") | Some("false") if !any_field => return Ok(None),
        None | Some("") => {}
        Some(other) => {
            return Err(ConcatError {
                field: "concat",
                problem: format!(
                    "is {:?} alongside concat-ref, concat-total or concat-part (expected \"true\")",
                    shown(other)
                ),
            })
        }
    }
    let reference = concat_number(params, "concat-ref")?;
    let reference = u16::try_from(reference).map_err(|_| ConcatError {
        field: "concat-ref",
        problem: format!("is {reference}: at most 65535"),
    })?;
    let total = concat_number(params, "concat-total")?;
    let total = match u8::try_from(total) {
        Ok(0) => {
            return Err(ConcatError {
                field: "concat-total",
                problem: "is 0: a message has at least 1 part".into(),
            })
        }
        Ok(t) => t,
        Err(_) => {
            return Err(ConcatError {
                field: "concat-total",
                problem: format!("is {total}: an SMS has at most 255 parts"),
            })
        }
    };
    let part = concat_number(params, "concat-part")?;
    let part = match u8::try_from(part) {
        Ok(p) if (1..=total).contains(&p) => p,
        _ => {
            return Err(ConcatError {
                field: "concat-part",
                problem: format!("is {part}: not between 1 and concat-total ({total})"),
            })
        }
    };
    Ok(Some(InboundConcat {
        reference,
        total,
        part,
    }))
}

/// A concatenation field as a whole number (decimal digits, surrounding spaces allowed).
fn concat_number(params: &[(String, String)], field: &'static str) -> Result<u64, ConcatError> {
    let raw = param(params, field).map(str::trim).unwrap_or_default();
    if raw.is_empty() {
        return Err(ConcatError {
            field,
            problem: "is missing (concat=true needs concat-ref, concat-total and concat-part)"
                .into(),
        });
    }
    let not_a_number = || ConcatError {
        field,
        problem: format!("is {:?}: not a whole number", shown(raw)),
    };
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_number());
    }
    // All digits: only a value past u64 fails to parse.
    raw.parse().map_err(|_| ConcatError {
        field,
        problem: format!("is {:?}: far too large", shown(raw)),
    })
}

/// A field's value, shortened for an error message.
fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(20).collect();
    if value.chars().count() > 20 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn concat(flag: &str, r: &str, t: &str, p: &str) -> Vec<(String, String)> {
        params(&[
            ("messageId", "m1"),
            ("concat", flag),
            ("concat-ref", r),
            ("concat-total", t),
            ("concat-part", p),
        ])
    }

    #[test]
    fn a_whole_sms_has_no_concat_fields() {
        assert_eq!(parse_inbound_concat(&params(&[("text", "hi")])), Ok(None));
        assert_eq!(
            parse_inbound_concat(&params(&[("concat", "false")])),
            Ok(None)
        );
        assert_eq!(
            parse_inbound_concat(&params(&[("concat", ""), ("concat-ref", " ")])),
            Ok(None)
        );
    }

    #[test]
    fn parts_are_numbered_within_their_message() {
        assert_eq!(
            parse_inbound_concat(&concat("true", "108", "3", "2")),
            Ok(Some(InboundConcat {
                reference: 108,
                total: 3,
                part: 2
            }))
        );
        // JSON booleans and numbers arrive as text; spaces and case are forgiven.
        let c = parse_inbound_concat(&concat(" TRUE ", "65535", " 255 ", "255"))
            .expect("valid")
            .expect("a part");
        assert_eq!((c.reference, c.total, c.part), (65535, 255, 255));
        // The fields without the flag still make a part.
        let no_flag = params(&[
            ("concat-ref", "0"),
            ("concat-total", "1"),
            ("concat-part", "1"),
        ]);
        assert!(parse_inbound_concat(&no_flag).expect("valid").is_some());
    }

    #[test]
    fn bad_fields_are_named() {
        let field = |p: Vec<(String, String)>| {
            let e = parse_inbound_concat(&p).expect_err("refused");
            assert!(e.to_string().starts_with(e.field), "{e}");
            e.field
        };
        assert_eq!(field(concat("true", "abc", "3", "1")), "concat-ref");
        assert_eq!(field(concat("true", "-1", "3", "1")), "concat-ref");
        assert_eq!(field(concat("true", "65536", "3", "1")), "concat-ref");
        assert_eq!(field(concat("true", "1", "three", "1")), "concat-total");
        assert_eq!(field(concat("true", "1", "0", "1")), "concat-total");
        assert_eq!(field(concat("true", "1", "256", "1")), "concat-total");
        assert_eq!(
            field(concat("true", "1", &"9".repeat(40), "1")),
            "concat-total"
        );
        assert_eq!(field(concat("true", "1", "3", "0")), "concat-part");
        assert_eq!(field(concat("true", "1", "3", "4")), "concat-part");
        assert_eq!(field(concat("true", "1", "3", "+2")), "concat-part");
        assert_eq!(field(concat("true", "1", "3", "1.0")), "concat-part");
        assert_eq!(field(concat("true", "1", "3", "")), "concat-part");
        assert_eq!(field(concat("yes", "1", "3", "1")), "concat");
        assert_eq!(field(params(&[("concat", "true")])), "concat-ref");
        let e = parse_inbound_concat(&concat("true", "1", "3", "4")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "concat-part is 4: not between 1 and concat-total (3)"
        );
    }
}
