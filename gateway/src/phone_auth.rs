//! Phone + one-time-code sign-in (the SMS Auth seed's domain).
//!
//! - [`normalize_phone`]: any format a person types → E.164, with the `phonenumber`
//!   crate and a default region for numbers written without a country code.
//! - Codes: 6 digits from a CSPRNG ([`generate_code`]), stored as HMAC-SHA256 under a
//!   random per-code salt ([`hash_code`]), checked in constant time ([`code_matches`]).
//! - [`Gateway::send_phone_otp`]: the limits (resend wait, per hour, per day per phone)
//!   are checked and the code row written in one transaction, then the code goes out by
//!   the configured [`OtpMethod`]: the log (`logger`) or the outbound queue (`queue`).
//! - [`Gateway::verify_phone_otp`]: the newest live code of a phone, at most
//!   `max_attempts` tries, `ttl_secs` of life, used once.
//! - Sign-in tokens in the seed's `"<id>|<secret>"` form, stored as SHA-256, revocable.
//!
//! Tables: `phone_otps`, `phone_auth_tokens` (migration 5).

use hmac::{Hmac, Mac};
use rand::Rng;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::User;
use crate::outbound::SendRequest;
use crate::{time, Gateway, GatewayResult};

type HmacSha256 = Hmac<Sha256>;

/// How a sign-in code reaches the phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtpMethod {
    /// Written to the log at info level (development; the demo's default).
    #[default]
    Logger,
    /// Sent through the outbound queue: the box's SIMs, then cloud providers.
    Queue,
}

impl std::str::FromStr for OtpMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "logger" | "log" => Ok(OtpMethod::Logger),
            "queue" | "sms" => Ok(OtpMethod::Queue),
            other => Err(format!("{other:?}: the SMS method is `logger` or `queue`")),
        }
    }
}

/// `[sms_auth]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhoneAuthConfig {
    /// `logger` or `queue`. `SIMGATE_SMS_METHOD`.
    pub method: OtpMethod,
    /// Region (ISO 3166 alpha-2) for numbers typed without `+`. `SIMGATE_SMS_AUTH_REGION`.
    pub default_region: String,
    /// One of our numbers or a channel name to send codes from; none: any.
    pub sender: Option<String>,
    /// Life of a code. Default 600 s (the message says "10 minutes").
    pub ttl_secs: u32,
    /// Wrong tries a code survives. Default 3.
    pub max_attempts: u32,
    /// Seconds before another code may be sent to a phone. Default 60.
    /// `SIMGATE_SMS_AUTH_RESEND_AFTER_SECS`.
    pub resend_after_secs: u32,
    /// Codes per phone per hour. Default 10. `SIMGATE_SMS_AUTH_PER_HOUR`.
    pub max_per_hour: u32,
    /// Codes per phone per day. Default 50. `SIMGATE_SMS_AUTH_PER_DAY`.
    pub max_per_day: u32,
}

impl Default for PhoneAuthConfig {
    fn default() -> Self {
        PhoneAuthConfig {
            method: OtpMethod::Logger,
            default_region: "US".into(),
            sender: None,
            ttl_secs: 600,
            max_attempts: 3,
            resend_after_secs: 60,
            max_per_hour: 10,
            max_per_day: 50,
        }
    }
}

impl PhoneAuthConfig {
    pub fn validate(&self) -> Result<(), String> {
        region(&self.default_region)?;
        if self.ttl_secs == 0 || self.max_attempts == 0 {
            return Err("sms_auth: ttl_secs and max_attempts must be at least 1".into());
        }
        if self.max_per_hour == 0 || self.max_per_day == 0 {
            return Err("sms_auth: max_per_hour and max_per_day must be at least 1".into());
        }
        Ok(())
    }
}

fn region(code: &str) -> Result<phonenumber::country::Id, String> {
    code.trim()
        .to_ascii_uppercase()
        .parse::<phonenumber::country::Id>()
        .map_err(|_| format!("{code:?} is not a region code such as US or GB"))
}

/// A phone number as typed (`+1234567890`, `1234567890`, `11234567890`,
/// `(123) 456-7890`, `+44 7700 900123`) → E.164. Parsing and national-prefix rules
/// are the `phonenumber` crate's; the number must have 8 to 15 digits in all. The
/// seed's own examples (`+1 123 456 7890`) are not assignable numbers, so the
/// crate's strict `is_valid` is deliberately not required.
pub fn normalize_phone(input: &str, default_region: &str) -> Result<String, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err("The phone field is required.".into());
    }
    if text.len() > 32
        || text.chars().any(|c| c.is_alphabetic())
        || !text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        return Err("The phone format is invalid.".into());
    }
    let region = region(default_region).ok();
    let parsed = phonenumber::parse(region, text).map_err(|_| "The phone format is invalid.")?;
    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
    let digits = e164.chars().filter(char::is_ascii_digit).count();
    if !e164.starts_with('+') || !(8..=15).contains(&digits) {
        return Err("The phone format is invalid.".into());
    }
    Ok(e164)
}

/// Six decimal digits from the thread's CSPRNG (ChaCha, seeded from the OS).
pub fn generate_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// `(salt hex, mac hex)` of a code: HMAC-SHA256 keyed by a fresh random salt.
pub fn hash_code(code: &str) -> (String, String) {
    let salt: [u8; 16] = rand::rng().random();
    let mac = code_mac(&salt, code).finalize().into_bytes();
    (hex::encode(salt), hex::encode(mac))
}

fn code_mac(salt: &[u8], code: &str) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(salt).expect("HMAC takes any key length");
    mac.update(code.as_bytes());
    mac
}

/// Whether `code` is the one hashed as `(salt_hex, mac_hex)`; constant time.
pub fn code_matches(code: &str, salt_hex: &str, mac_hex: &str) -> bool {
    let (Ok(salt), Ok(mac)) = (hex::decode(salt_hex), hex::decode(mac_hex)) else {
        return false;
    };
    code_mac(&salt, code).verify_slice(&mac).is_ok()
}

/// Whether `code` has the shape of a code: exactly six ASCII digits.
pub fn is_code_shaped(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The text of the code SMS, as the seed writes it.
pub fn otp_text(code: &str, ttl_secs: u32) -> String {
    let minutes = ttl_secs.div_ceil(60).max(1);
    format!("Your verification code is: {code}. This code will expire in {minutes} minutes.")
}

/// Why no code was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRefusal {
    /// The last code went out less than `resend_after_secs` ago.
    TooSoon {
        retry_after_secs: u64,
    },
    HourlyLimit {
        retry_after_secs: u64,
    },
    DailyLimit {
        retry_after_secs: u64,
    },
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyRefusal {
    /// Wrong, expired, used, or no code at all.
    Invalid,
    /// The code has had `max_attempts` wrong tries: ask for a new one.
    TooManyAttempts,
}

/// The phone-auth view of a user (the seed's `user`).
#[derive(Debug, Clone, Serialize)]
pub struct PhoneUser {
    pub id: i64,
    pub phone: Option<String>,
    pub phone_verified_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

const PHONE_USER_SQL: &str =
    "SELECT id, phone, phone_verified_at, created_at, COALESCE(updated_at, created_at) FROM users WHERE ";

fn phone_user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PhoneUser> {
    Ok(PhoneUser {
        id: r.get(0)?,
        phone: r.get(1)?,
        phone_verified_at: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn ago(secs: u32) -> String {
    time::iso(time::now() - chrono::Duration::seconds(i64::from(secs)))
}

fn secs_until(from_iso: &str, window_secs: i64) -> u64 {
    time::parse_iso(from_iso)
        .map(|t| (t + chrono::Duration::seconds(window_secs) - time::now()).num_seconds())
        .unwrap_or(window_secs)
        .max(1) as u64
}

impl Gateway {
    pub async fn user_by_phone(&self, phone: &str) -> GatewayResult<Option<User>> {
        let phone = phone.to_string();
        Ok(self
            .store
            .read(move |c| {
                Ok(c.query_row(
                    &format!("SELECT {} FROM users WHERE phone = ?1", User::COLUMNS),
                    [phone],
                    User::from_row,
                )
                .optional()?)
            })
            .await?)
    }

    pub async fn phone_user(&self, id: i64) -> GatewayResult<Option<PhoneUser>> {
        Ok(self
            .store
            .read(move |c| {
                Ok(
                    c.query_row(&format!("{PHONE_USER_SQL} id = ?1"), [id], phone_user_row)
                        .optional()?,
                )
            })
            .await?)
    }

    /// Checks the limits for `phone`, stores a new code (older live codes of the phone
    /// die) and sends it by `config.method`. `Ok(Err(_))`: refused by a limit.
    pub async fn send_phone_otp(
        &self,
        phone: &str,
        user_id: Option<i64>,
        config: &PhoneAuthConfig,
    ) -> GatewayResult<Result<(), SendRefusal>> {
        let code = generate_code();
        let (salt, mac) = hash_code(&code);
        let now = time::now_iso();
        let expires =
            time::iso(time::now() + chrono::Duration::seconds(i64::from(config.ttl_secs)));
        let (hour_ago, day_ago, resend_cut) =
            (ago(3600), ago(86_400), ago(config.resend_after_secs));
        let (per_hour, per_day, resend) = (
            i64::from(config.max_per_hour),
            i64::from(config.max_per_day),
            i64::from(config.resend_after_secs),
        );
        let owner = phone.to_string();
        let verdict = self
            .store
            .write(move |txn| {
                let last: Option<String> = txn
                    .query_row(
                        "SELECT MAX(created_at) FROM phone_otps WHERE phone = ?1",
                        [&owner],
                        |r| r.get(0),
                    )?;
                if let Some(last) = &last {
                    if resend > 0 && *last > resend_cut {
                        return Ok(Err(SendRefusal::TooSoon {
                            retry_after_secs: secs_until(last, resend),
                        }));
                    }
                }
                let window = |since: &str| -> rusqlite::Result<(i64, Option<String>)> {
                    txn.query_row(
                        "SELECT COUNT(*), MIN(created_at) FROM phone_otps WHERE phone = ?1 AND created_at > ?2",
                        params![owner, since],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                };
                let (in_day, first_day) = window(&day_ago)?;
                if in_day >= per_day {
                    return Ok(Err(SendRefusal::DailyLimit {
                        retry_after_secs: secs_until(first_day.as_deref().unwrap_or(""), 86_400),
                    }));
                }
                let (in_hour, first_hour) = window(&hour_ago)?;
                if in_hour >= per_hour {
                    return Ok(Err(SendRefusal::HourlyLimit {
                        retry_after_secs: secs_until(first_hour.as_deref().unwrap_or(""), 3600),
                    }));
                }
                txn.execute(
                    "UPDATE phone_otps SET used_at = ?2 WHERE phone = ?1 AND used_at IS NULL",
                    params![owner, now],
                )?;
                txn.execute(
                    "INSERT INTO phone_otps (phone, user_id, salt, code_mac, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![owner, user_id, salt, mac, now, expires],
                )?;
                Ok(Ok(()))
            })
            .await?;
        if verdict.is_err() {
            return Ok(verdict);
        }
        let text = otp_text(&code, config.ttl_secs);
        match config.method {
            OtpMethod::Logger => tracing::info!("SMS to {phone}: {text}"),
            OtpMethod::Queue => {
                self.enqueue_send(SendRequest {
                    user_id,
                    to: phone.to_string(),
                    text,
                    from: config.sender.clone(),
                    client_ref: Some("phone-auth-otp".into()),
                    status_report: false,
                })
                .await?;
            }
        }
        Ok(Ok(()))
    }

    /// Checks `code` against the newest live code of `phone`. A wrong try counts
    /// against the code; the right one is used up, marks the phone verified and
    /// returns the user.
    pub async fn verify_phone_otp(
        &self,
        phone: &str,
        code: &str,
        max_attempts: u32,
    ) -> GatewayResult<Result<PhoneUser, VerifyRefusal>> {
        if !is_code_shaped(code) {
            return Ok(Err(VerifyRefusal::Invalid));
        }
        let (phone, code) = (phone.to_string(), code.to_string());
        let now = time::now_iso();
        let max = i64::from(max_attempts);
        Ok(self
            .store
            .write(move |txn| {
                let row: Option<(i64, String, String, String, i64)> = txn
                    .query_row(
                        "SELECT id, salt, code_mac, expires_at, attempts FROM phone_otps
                         WHERE phone = ?1 AND used_at IS NULL ORDER BY id DESC LIMIT 1",
                        [&phone],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                    )
                    .optional()?;
                let Some((id, salt, mac, expires_at, attempts)) = row else {
                    return Ok(Err(VerifyRefusal::Invalid));
                };
                if attempts >= max {
                    return Ok(Err(VerifyRefusal::TooManyAttempts));
                }
                if expires_at <= now {
                    return Ok(Err(VerifyRefusal::Invalid));
                }
                if !code_matches(&code, &salt, &mac) {
                    txn.execute(
                        "UPDATE phone_otps SET attempts = attempts + 1 WHERE id = ?1",
                        [id],
                    )?;
                    return Ok(Err(if attempts + 1 >= max {
                        VerifyRefusal::TooManyAttempts
                    } else {
                        VerifyRefusal::Invalid
                    }));
                }
                txn.execute("UPDATE phone_otps SET used_at = ?2 WHERE id = ?1", params![id, now])?;
                let changed = txn.execute(
                    "UPDATE users SET phone_verified = 1, phone_verified_at = COALESCE(phone_verified_at, ?2),
                        updated_at = ?2 WHERE phone = ?1 AND is_active = 1",
                    params![phone, now],
                )?;
                if changed == 0 {
                    return Ok(Err(VerifyRefusal::Invalid));
                }
                let user = txn.query_row(&format!("{PHONE_USER_SQL} phone = ?1"), [&phone], phone_user_row)?;
                Ok(Ok(user))
            })
            .await?)
    }

    /// Issues a sign-in token `"<id>|<40 random characters>"`; only its hash is kept.
    pub async fn issue_phone_token(&self, user_id: i64) -> GatewayResult<String> {
        let secret: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(40)
            .map(char::from)
            .collect();
        let hash = token_hash(&secret);
        let now = time::now_iso();
        let id = self
            .store
            .write(move |txn| {
                txn.execute(
                    "INSERT INTO phone_auth_tokens (user_id, token_hash, created_at) VALUES (?1, ?2, ?3)",
                    params![user_id, hash, now],
                )?;
                Ok(txn.last_insert_rowid())
            })
            .await?;
        Ok(format!("{id}|{secret}"))
    }

    /// The active user a live token belongs to, with the token's id.
    pub async fn phone_token_user(&self, token: &str) -> GatewayResult<Option<(i64, PhoneUser)>> {
        let Some((id, secret)) = token.split_once('|') else {
            return Ok(None);
        };
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        let hash = token_hash(secret);
        Ok(self
            .store
            .read(move |c| {
                let row: Option<(i64, String)> = c
                    .query_row(
                        "SELECT t.user_id, t.token_hash FROM phone_auth_tokens t JOIN users u ON u.id = t.user_id
                         WHERE t.id = ?1 AND t.revoked_at IS NULL AND u.is_active = 1",
                        [id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let Some((user_id, stored)) = row else {
                    return Ok(None);
                };
                // Both are SHA-256 hex of a secret: comparing them leaks nothing useful.
                if stored != hash {
                    return Ok(None);
                }
                Ok(c.query_row(&format!("{PHONE_USER_SQL} id = ?1"), [user_id], phone_user_row)
                    .optional()?
                    .map(|u| (id, u)))
            })
            .await?)
    }

    /// Revokes a token by id.
    pub async fn revoke_phone_token(&self, token_id: i64) -> GatewayResult<()> {
        let now = time::now_iso();
        self.store
            .write(move |txn| {
                txn.execute(
                    "UPDATE phone_auth_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    params![token_id, now],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_formats_normalise_to_e164() {
        // The seed's four spellings of its example number are one number.
        for input in ["+1234567890", "1234567890", "11234567890", "(123) 456-7890"] {
            assert_eq!(
                normalize_phone(input, "US").unwrap(),
                "+1234567890",
                "{input}"
            );
        }
        assert_eq!(
            normalize_phone("(415) 555-2671", "US").unwrap(),
            "+14155552671"
        );
        assert_eq!(
            normalize_phone("1-415-555-2671", "US").unwrap(),
            "+14155552671"
        );
        assert_eq!(
            normalize_phone("+44 7700 900123", "US").unwrap(),
            "+447700900123"
        );
        assert_eq!(
            normalize_phone("07700 900123", "GB").unwrap(),
            "+447700900123"
        );
        for bad in [
            "",
            "abc",
            "12",
            "+1 800 FLOWERS",
            "1234567890123456789",
            "12;34",
        ] {
            assert!(normalize_phone(bad, "US").is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_are_six_digits_and_hashed() {
        for _ in 0..200 {
            let c = generate_code();
            assert!(is_code_shaped(&c), "{c}");
        }
        let (salt, mac) = hash_code("123456");
        assert!(code_matches("123456", &salt, &mac));
        assert!(!code_matches("123457", &salt, &mac));
        assert!(!code_matches("123456", "zz", &mac));
        let (salt2, mac2) = hash_code("123456");
        assert_ne!((salt, mac), (salt2, mac2), "salted");
        for bad in ["12345", "1234567", "12345a", "", "１２３４５６"] {
            assert!(!is_code_shaped(bad), "{bad}");
        }
    }

    #[test]
    fn message_is_the_seeds() {
        assert_eq!(
            otp_text("123456", 600),
            "Your verification code is: 123456. This code will expire in 10 minutes."
        );
    }

    #[test]
    fn config_validates_region() {
        assert!(PhoneAuthConfig::default().validate().is_ok());
        let bad = PhoneAuthConfig {
            default_region: "XX1".into(),
            ..PhoneAuthConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
