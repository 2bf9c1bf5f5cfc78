//! The configuration file of `simgate run` (see `config/simgate.example.toml`).
//! Typed, with unknown keys refused, so that a typo is an error naming the line
//! instead of a silently ignored setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default, rename = "modem")]
    pub modems: Vec<ModemEntry>,
    /// `[[provider]]`: cloud SMS providers (Twilio, Vonage) as send channels.
    #[serde(default, rename = "provider")]
    pub providers: Vec<ProviderEntry>,
    /// The MQTT bridge; absent: no MQTT.
    #[serde(default)]
    pub mqtt: Option<MqttSection>,
    /// The HTTP server: rate limits, CORS, body size, request timeout.
    #[serde(default)]
    pub api: api::ApiConfig,
    /// Phone sign-in codes (the SMS Auth seed).
    #[serde(default)]
    pub sms_auth: gateway::phone_auth::PhoneAuthConfig,
    /// Twilio webhooks (the SMS Router seed).
    #[serde(default)]
    pub sms_router: api::settings::SmsRouterConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: default_data_dir(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/simgate")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModemEntry {
    pub name: String,
    pub port: String,
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// The SIM's own number; read from the SIM (`AT+CNUM`) when absent.
    pub number: Option<String>,
    /// SIM PIN, entered only when the SIM asks for it.
    pub pin: Option<String>,
}

fn default_baud() -> u32 {
    115_200
}

/// `[mqtt]`: the broker, and how this box appears on it (see gateway::mqtt).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSection {
    /// `mqtt://host:1883` or `mqtts://host:8883` (credentials may be given below).
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Names the box in topics (`simgate/<box_id>/...`) and in Home Assistant.
    pub box_id: String,
    /// Default `simgate-<box_id>`; keep it stable (the broker keeps the session by it).
    pub client_id: Option<String>,
    /// Default `simgate/<box_id>`.
    pub topic_prefix: Option<String>,
    /// An extra CA certificate (PEM) for a TLS broker with its own CA.
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub home_assistant_discovery: bool,
    /// Default `homeassistant`.
    pub discovery_prefix: Option<String>,
}

impl MqttSection {
    pub fn to_gateway(&self) -> Result<gateway::mqtt::MqttConfig, String> {
        let mut c = gateway::mqtt::MqttConfig::from_url(&self.url, &self.box_id)
            .map_err(|e| format!("[mqtt] url: {e}"))?;
        if self.username.is_some() {
            c.username = self.username.clone();
        }
        if self.password.is_some() {
            c.password = self.password.clone();
        }
        c.client_id = self.client_id.clone();
        c.topic_prefix = self.topic_prefix.clone();
        c.ca_file = self.ca_file.clone();
        c.home_assistant_discovery = self.home_assistant_discovery;
        if let Some(p) = &self.discovery_prefix {
            c.discovery_prefix = p.clone();
        }
        Ok(c)
    }
}

/// `[[provider]]`: a cloud provider account, a send channel behind a circuit breaker
/// (see gateway::providers). Lower `priority` is tried first; modems are 0.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
    /// `twilio` or `vonage`.
    pub kind: String,
    /// The channel's name; default the kind.
    pub name: Option<String>,
    #[serde(default = "default_provider_priority")]
    pub priority: i32,
    /// The provider's API root; default its production URL (tests point it elsewhere).
    pub base_url: Option<String>,
    /// Sender number (E.164) or alphanumeric id.
    pub from: Option<String>,
    /// Per request, seconds (default 15).
    pub timeout_secs: Option<u64>,
    /// Consecutive failures that open the breaker (default 3).
    pub failure_threshold: Option<u32>,
    /// Seconds the breaker stays open before one probe (default 60).
    pub cool_down_secs: Option<u64>,
    // Twilio
    pub account_sid: Option<String>,
    pub auth_token: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub status_callback: Option<String>,
    // Vonage
    pub api_key: Option<String>,
    pub api_secret: Option<String>,
    pub signature_secret: Option<String>,
    /// md5hash, md5, sha1, sha256 or sha512 (default md5hash).
    pub signature_method: Option<String>,
    /// Delivery-receipt URL.
    pub callback: Option<String>,
}

fn default_provider_priority() -> i32 {
    10
}

impl ProviderEntry {
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.kind)
    }

    fn need<'a>(&self, value: &'a Option<String>, key: &str) -> Result<&'a str, String> {
        value
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("kind = {:?} needs {key}", self.kind))
    }

    fn check(&self) -> Result<(), String> {
        match self.kind.as_str() {
            "twilio" => {
                self.need(&self.account_sid, "account_sid")?;
                self.need(&self.auth_token, "auth_token")?;
                if self.from.is_none() && self.messaging_service_sid.is_none() {
                    return Err("twilio needs from or messaging_service_sid".into());
                }
            }
            "vonage" => {
                self.need(&self.api_key, "api_key")?;
                if self.api_secret.is_none() && self.signature_secret.is_none() {
                    return Err("vonage needs api_secret or signature_secret".into());
                }
                self.need(&self.from, "from")?;
                self.signature_method()?;
            }
            other => return Err(format!("kind {other:?} is not twilio or vonage")),
        }
        if let Some(url) = &self.base_url {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(format!("base_url {url:?} is not an http(s) URL"));
            }
        }
        Ok(())
    }

    fn signature_method(&self) -> Result<drivers::cloud::vonage::SignatureMethod, String> {
        self.signature_method
            .as_deref()
            .unwrap_or("md5hash")
            .parse()
    }

    /// The send channel, behind its circuit breaker.
    pub fn channel(&self) -> Result<std::sync::Arc<dyn gateway::outbound::SendChannel>, String> {
        use gateway::providers::*;
        self.check()?;
        let timeout = std::time::Duration::from_secs(self.timeout_secs.unwrap_or(15).max(1));
        let http = provider_http_client(timeout)?;
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let inner: std::sync::Arc<dyn gateway::outbound::SendChannel> = if self.kind == "twilio" {
            std::sync::Arc::new(TwilioChannel::new(
                TwilioChannelConfig {
                    name: self.name().to_string(),
                    account_sid: opt(&self.account_sid),
                    auth_token: opt(&self.auth_token),
                    from: self.from.clone(),
                    messaging_service_sid: self.messaging_service_sid.clone(),
                    base_url: self.base_url.clone(),
                    status_callback: self.status_callback.clone(),
                    priority: self.priority,
                },
                http,
            ))
        } else {
            std::sync::Arc::new(VonageChannel::new(
                VonageChannelConfig {
                    name: self.name().to_string(),
                    api_key: opt(&self.api_key),
                    api_secret: opt(&self.api_secret),
                    signature_secret: self.signature_secret.clone(),
                    signature_method: self.signature_method()?,
                    from: opt(&self.from),
                    base_url: self.base_url.clone(),
                    callback: self.callback.clone(),
                    priority: self.priority,
                },
                http,
            ))
        };
        let defaults = BreakerPolicy::default();
        Ok(std::sync::Arc::new(CircuitBreaker::new(
            inner,
            BreakerPolicy {
                failure_threshold: self
                    .failure_threshold
                    .unwrap_or(defaults.failure_threshold)
                    .max(1),
                cool_down: self
                    .cool_down_secs
                    .map(std::time::Duration::from_secs)
                    .unwrap_or(defaults.cool_down),
            },
        )))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            // toml's message names the line, the column and the key.
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut names = std::collections::HashSet::new();
        let mut ports = std::collections::HashSet::new();
        for (i, m) in self.modems.iter().enumerate() {
            let at = format!("[[modem]] #{} ({})", i + 1, m.name);
            if m.name.trim().is_empty() {
                return Err(invalid(format!("[[modem]] #{}: name is empty", i + 1)));
            }
            if !names.insert(m.name.as_str()) {
                return Err(invalid(format!("{at}: another modem has the same name")));
            }
            if !ports.insert(m.port.as_str()) {
                return Err(invalid(format!(
                    "{at}: port {} is used by another modem",
                    m.port
                )));
            }
            if m.baud == 0 {
                return Err(invalid(format!("{at}: baud must be a positive rate")));
            }
            if let Some(n) = &m.number {
                let digits = n.strip_prefix('+').unwrap_or(n);
                if !n.starts_with('+')
                    || digits.len() < 6
                    || digits.len() > 15
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(invalid(format!(
                        "{at}: number {n:?} is not in E.164 form (+ and 6 to 15 digits)"
                    )));
                }
            }
            if let Some(pin) = &m.pin {
                if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(format!("{at}: pin must be 4 to 8 digits")));
                }
            }
        }
        let mut provider_names = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let at = format!("[[provider]] #{} ({})", i + 1, p.name());
            p.check().map_err(|e| invalid(format!("{at}: {e}")))?;
            if !provider_names.insert(p.name()) || names.contains(p.name()) {
                return Err(invalid(format!("{at}: another channel has the same name")));
            }
        }
        self.api
            .validate()
            .map_err(|e| invalid(format!("[api] {e}")))?;
        if let Some(m) = &self.mqtt {
            let c = m.to_gateway().map_err(invalid)?;
            if m.box_id.trim().is_empty() || m.box_id.contains(['/', '+', '#']) {
                return Err(invalid(format!(
                    "[mqtt] box_id {:?} must be a non-empty name without / + #",
                    m.box_id
                )));
            }
            if c.prefix().contains(['+', '#']) {
                return Err(invalid(format!(
                    "[mqtt] topic_prefix {:?} has a wildcard in it",
                    c.prefix()
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    /// The commented-out block of the shipped example that starts at `marker`, up to
    /// the next blank line, uncommented: what a user gets by removing the `# `.
    fn example_section(marker: &str) -> String {
        let text = include_str!("../config/simgate.example.toml");
        let start = text
            .find(marker)
            .unwrap_or_else(|| panic!("the example documents {marker}"));
        let end = text[start..].find("\n\n").map_or(text.len(), |e| start + e);
        text[start..end]
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_example_configuration_parses() {
        let text = include_str!("../config/simgate.example.toml");
        let config = parse(text).expect("the shipped example must be valid");
        assert_eq!(config.modems.len(), 1);
        assert_eq!(config.modems[0].port, "/dev/ttyUSB0");
        assert_eq!(config.modems[0].baud, 115_200);
    }

    #[test]
    fn the_mqtt_section_reads_like_the_example() {
        let section = example_section("# [mqtt]");
        let config = parse(&section).expect("the documented [mqtt] section is valid");
        let m = config.mqtt.expect("mqtt").to_gateway().expect("valid");
        assert_eq!((m.host.as_str(), m.port, m.tls), ("127.0.0.1", 1883, false));
        assert_eq!(m.prefix(), "simgate/pi-kitchen");
        assert!(m.home_assistant_discovery);
        assert!(parse("").expect("valid").mqtt.is_none());
    }

    #[test]
    fn the_api_section_reads_like_the_example_and_bad_rates_are_named() {
        let section = example_section("# [api]");
        let config = parse(&section).expect("the documented [api] section is valid");
        assert_eq!(config.api.rate_limits.auth.requests, 120);
        assert_eq!(
            config.api.cors.allowed_origins,
            vec!["https://ops.example.com"]
        );
        assert_eq!(config.api.request_timeout_secs, 30);
        assert_eq!(
            parse("").expect("valid").api,
            api::ApiConfig::default(),
            "no [api]: the defaults"
        );
        let bad = "[api.rate_limits]\nauth = { requests = 0, window_secs = 60 }\n";
        let err = parse(bad).expect_err("zero requests").to_string();
        assert!(err.contains("[api] rate_limits.auth"), "{err}");
        let unknown = parse("[api]\nsms_router = {}\n").expect_err("not an [api] key");
        assert!(unknown.to_string().contains("sms_router"), "{unknown}");
    }

    #[test]
    fn providers_read_like_the_example() {
        let section = example_section("# [[provider]]");
        let config = parse(&section).expect("the documented [[provider]] tables are valid");
        assert_eq!(config.providers.len(), 2);
        assert_eq!(config.providers[0].kind, "twilio");
        assert_eq!(config.providers[1].priority, 20);
        let err = parse("[[provider]]\nkind = \"twilio\"\naccount_sid = \"AC1\"\n").unwrap_err();
        assert!(err.to_string().contains("auth_token"), "{err}");
        let err = parse("[[provider]]\nkind = \"sinch\"\n").unwrap_err();
        assert!(err.to_string().contains("sinch"), "{err}");
        let err = parse("[[provider]]\nkind = \"vonage\"\napi_key = \"k\"\napi_secret = \"s\"\nfrom = \"1\"\nsecret = 1\n").unwrap_err();
        assert!(err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let config = parse("[[modem]]\nname = \"a\"\nport = \"/dev/ttyUSB0\"\n").expect("valid");
        assert_eq!(config.server.listen.port(), 8080);
        assert_eq!(config.modems[0].baud, 115_200);
        assert!(config.modems[0].number.is_none());
    }

    #[test]
    fn mistakes_are_named() {
        let err = parse("[server]\nlisten = \"0.0.0.0:8080\"\nlisen = 1\n").unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = parse("[server]\nlisten = \"nowhere\"\n").unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = parse("[[modem]]\nname = \"a\"\nport = \"/dev/x\"\nnumber = \"5550100\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("E.164"), "{err}");
        let err = parse(
            "[[modem]]\nname = \"a\"\nport = \"/dev/x\"\n[[modem]]\nname = \"a\"\nport = \"/dev/y\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("same name"), "{err}");
        let err = parse("[[modem]]\nname = \"a\"\nport = \"/dev/x\"\npin = \"12\"\n").unwrap_err();
        assert!(err.to_string().contains("pin"), "{err}");
        let err = parse("[mqtt]\nurl = \"http://x\"\nbox_id = \"a\"\n").unwrap_err();
        assert!(err.to_string().contains("[mqtt] url"), "{err}");
        let err = parse("[mqtt]\nurl = \"mqtt://x\"\nbox_id = \"a\"\nqos = 2\n").unwrap_err();
        assert!(err.to_string().contains("qos"), "{err}");
    }
}
