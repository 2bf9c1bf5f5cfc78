//! The HTTP server's settings: rate limits, CORS, body size, request timeout.
//!
//! [`ApiConfig::default`] is what a box runs with when nothing is configured;
//! [`ApiConfig::with_env`] applies `SIMGATE_*` environment variables on top (each one
//! is listed on the field it sets), which is how the tests start the binary with a low
//! limit. The structs deserialize from the configuration file's `[api]` section.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `requests` per `window_secs`, refilled evenly (GCRA): up to `requests` at once,
/// then one more every `window_secs / requests` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub requests: u32,
    pub window_secs: u32,
}

impl Rate {
    pub const fn new(requests: u32, window_secs: u32) -> Rate {
        Rate {
            requests,
            window_secs,
        }
    }

    /// Parses `"100/60"` (100 requests per 60 s) or `"100"` (per minute).
    pub fn parse(text: &str) -> Result<Rate, String> {
        let (n, w) = match text.trim().split_once('/') {
            Some((n, w)) => (n.trim(), w.trim().trim_end_matches('s')),
            None => (text.trim(), "60"),
        };
        let requests: u32 = n
            .parse()
            .map_err(|_| format!("{text:?}: the request count is not a whole number"))?;
        let window_secs: u32 = w
            .parse()
            .map_err(|_| format!("{text:?}: the window is not a whole number of seconds"))?;
        let rate = Rate::new(requests, window_secs);
        rate.validate()?;
        Ok(rate)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.requests == 0 || self.window_secs == 0 {
            return Err("a rate needs at least 1 request in a window of at least 1 s".into());
        }
        Ok(())
    }
}

/// Limits per caller (the user of a token, an API key, or the client's IP address when
/// anonymous) and per endpoint class. `[api.rate_limits]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// `SIMGATE_RATE_LIMIT_ENABLED` (`true`/`false`).
    pub enabled: bool,
    /// `/api/auth/...` (register, login, refresh, logout): argon2 is costly, guard it.
    /// `SIMGATE_RATE_LIMIT_AUTH` (`"requests/window_secs"`).
    pub auth: Rate,
    /// Every other GET/HEAD/OPTIONS. `SIMGATE_RATE_LIMIT_READ`.
    pub read: Rate,
    /// Every other method. `SIMGATE_RATE_LIMIT_WRITE`.
    pub write: Rate,
}

impl Default for RateLimits {
    /// Generous: they stop a runaway client, not a busy one. Reads allow 20,000 a second
    /// per caller so that a benchmark of `GET /api/messages` measures the box, not the
    /// limiter.
    fn default() -> Self {
        RateLimits {
            enabled: true,
            auth: Rate::new(120, 60),
            read: Rate::new(1_200_000, 60),
            write: Rate::new(60_000, 60),
        }
    }
}

/// Cross-origin requests from browsers. `[api.cors]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cors {
    /// Origins allowed to call the API from a browser: `["*"]` for any, empty for none
    /// (same origin only, the default). `SIMGATE_CORS_ORIGINS` (comma-separated).
    pub allowed_origins: Vec<String>,
}

/// Everything the HTTP layer can be told. `[api]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    pub rate_limits: RateLimits,
    pub cors: Cors,
    /// Largest request body accepted; larger gets 413. `SIMGATE_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// A request still running after this long gets 503. `SIMGATE_REQUEST_TIMEOUT_SECS`.
    pub request_timeout_secs: u64,
    /// Phone sign-in (the SMS Auth seed): the configuration file's own `[sms_auth]`
    /// section, not part of `[api]`.
    #[serde(skip)]
    pub sms_auth: gateway::phone_auth::PhoneAuthConfig,
    /// Twilio webhooks (the SMS Router seed): the file's own `[sms_router]` section.
    #[serde(skip)]
    pub sms_router: SmsRouterConfig,
}

/// `[sms_router]`: Twilio webhooks and their replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsRouterConfig {
    /// The Twilio auth token that signs webhooks (`X-Twilio-Signature`); without one
    /// every webhook is refused. `SIMGATE_TWILIO_AUTH_TOKEN`.
    pub twilio_auth_token: Option<String>,
    /// The URL Twilio calls the box at, e.g. `https://sms.example.com`: signatures are
    /// computed over it. Default `http://<listen address>`. `SIMGATE_PUBLIC_BASE_URL`.
    pub public_base_url: Option<String>,
    /// The TwiML `<Message>` when the user has no reply webhook.
    /// `SIMGATE_SMS_ROUTER_DEFAULT_REPLY`.
    pub default_reply: String,
}

impl Default for SmsRouterConfig {
    fn default() -> Self {
        SmsRouterConfig {
            twilio_auth_token: None,
            public_base_url: None,
            default_reply: "Thank you for your message. I'll process it shortly.".into(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            rate_limits: RateLimits::default(),
            cors: Cors::default(),
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            sms_auth: Default::default(),
            sms_router: SmsRouterConfig::default(),
        }
    }
}

impl ApiConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("auth", self.rate_limits.auth),
            ("read", self.rate_limits.read),
            ("write", self.rate_limits.write),
        ] {
            rate.validate()
                .map_err(|e| format!("rate_limits.{name}: {e}"))?;
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes must be at least 1024".into());
        }
        self.sms_auth.validate()?;
        Ok(())
    }

    /// Applies the `SIMGATE_*` environment variables on top of `self`.
    pub fn with_env(self) -> Result<ApiConfig, String> {
        self.with_vars(|name| std::env::var(name).ok())
    }

    /// [`with_env`](Self::with_env) over any source of variables (for tests).
    pub fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> Result<ApiConfig, String> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("SIMGATE_RATE_LIMIT_ENABLED") {
            self.rate_limits.enabled = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(format!(
                        "SIMGATE_RATE_LIMIT_ENABLED={v:?}: use true or false"
                    ))
                }
            };
        }
        for (name, slot) in [
            ("SIMGATE_RATE_LIMIT_AUTH", &mut self.rate_limits.auth),
            ("SIMGATE_RATE_LIMIT_READ", &mut self.rate_limits.read),
            ("SIMGATE_RATE_LIMIT_WRITE", &mut self.rate_limits.write),
        ] {
            if let Some(v) = get(name) {
                *slot = Rate::parse(&v).map_err(|e| format!("{name}: {e}"))?;
            }
        }
        if let Some(v) = get("SIMGATE_CORS_ORIGINS") {
            self.cors.allowed_origins = v
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect();
        }
        if let Some(v) = get("SIMGATE_MAX_BODY_BYTES") {
            self.max_body_bytes = v
                .trim()
                .parse()
                .map_err(|_| format!("SIMGATE_MAX_BODY_BYTES={v:?}: not a whole number"))?;
        }
        if let Some(v) = get("SIMGATE_REQUEST_TIMEOUT_SECS") {
            self.request_timeout_secs = v
                .trim()
                .parse()
                .map_err(|_| format!("SIMGATE_REQUEST_TIMEOUT_SECS={v:?}: not a whole number"))?;
        }
        self.apply_sms_vars(&get)?;
        self.validate()?;
        Ok(self)
    }

    /// The `[sms_auth]` and `[sms_router]` variables.
    fn apply_sms_vars(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), String> {
        let number = |name: &str, v: &str| -> Result<u32, String> {
            v.trim()
                .parse()
                .map_err(|_| format!("{name}={v:?}: not a whole number"))
        };
        let a = &mut self.sms_auth;
        if let Some(v) = get("SIMGATE_SMS_METHOD") {
            a.method = v.parse().map_err(|e| format!("SIMGATE_SMS_METHOD: {e}"))?;
        }
        if let Some(v) = get("SIMGATE_SMS_AUTH_REGION") {
            a.default_region = v.trim().to_ascii_uppercase();
        }
        if let Some(v) = get("SIMGATE_SMS_AUTH_RESEND_AFTER_SECS") {
            a.resend_after_secs = number("SIMGATE_SMS_AUTH_RESEND_AFTER_SECS", &v)?;
        }
        if let Some(v) = get("SIMGATE_SMS_AUTH_PER_HOUR") {
            a.max_per_hour = number("SIMGATE_SMS_AUTH_PER_HOUR", &v)?;
        }
        if let Some(v) = get("SIMGATE_SMS_AUTH_PER_DAY") {
            a.max_per_day = number("SIMGATE_SMS_AUTH_PER_DAY", &v)?;
        }
        let r = &mut self.sms_router;
        if let Some(v) = get("SIMGATE_TWILIO_AUTH_TOKEN") {
            r.twilio_auth_token = Some(v.trim().to_string());
        }
        if let Some(v) = get("SIMGATE_PUBLIC_BASE_URL") {
            r.public_base_url = Some(v.trim().trim_end_matches('/').to_string());
        }
        if let Some(v) = get("SIMGATE_SMS_ROUTER_DEFAULT_REPLY") {
            r.default_reply = v;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_refuse_nonsense() {
        assert_eq!(Rate::parse("100/60").unwrap(), Rate::new(100, 60));
        assert_eq!(Rate::parse("5/1s").unwrap(), Rate::new(5, 1));
        assert_eq!(Rate::parse("30").unwrap(), Rate::new(30, 60));
        for bad in ["", "x/60", "10/y", "0/60", "10/0", "-1/60"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_overrides_defaults() {
        let vars = |name: &str| match name {
            "SIMGATE_RATE_LIMIT_READ" => Some("3/60".to_string()),
            "SIMGATE_CORS_ORIGINS" => Some("https://a.example, https://b.example".into()),
            "SIMGATE_MAX_BODY_BYTES" => Some("4096".into()),
            _ => None,
        };
        let c = ApiConfig::default().with_vars(vars).expect("valid");
        assert_eq!(c.rate_limits.read, Rate::new(3, 60));
        assert_eq!(c.rate_limits.auth, RateLimits::default().auth);
        assert_eq!(c.cors.allowed_origins.len(), 2);
        assert_eq!(c.max_body_bytes, 4096);
        let err = ApiConfig::default()
            .with_vars(|n| (n == "SIMGATE_RATE_LIMIT_ENABLED").then(|| "maybe".into()))
            .unwrap_err();
        assert!(err.contains("SIMGATE_RATE_LIMIT_ENABLED"), "{err}");
    }
}
