//! MQTT: every event leaves the box through a broker, and the broker can ask the box
//! to send an SMS.
//!
//! # Topics (`<prefix>` is `simgate/<box-id>` unless configured)
//!
//! | topic | retained | what |
//! |---|---|---|
//! | `<prefix>/status` | yes | `online` at connect, `offline` as the last will |
//! | `<prefix>/sms/received` | no | each stored SMS: [`received_payload`] |
//! | `<prefix>/sms/updated` | no | a message completed by a late part (same shape) |
//! | `<prefix>/otp` | no | only when a code was found: [`otp_payload`] |
//! | `<prefix>/sms/status` | no | status changes of outbound jobs (`job_id`, `status`, `client_ref`, ...) |
//! | `<prefix>/assignment/status` | no | a lease expired or was released |
//! | `<prefix>/modem/<name>/state` | yes | the modem's [`ModemStatus`](drivers::modem::ModemStatus), when it changes |
//! | `<prefix>/modem/<name>/last_sms` | yes | the last SMS received on that modem |
//! | `<prefix>/sms/send` | — | subscribed: `{"to", "text", "from"?, "client_ref"?}` |
//! | `<prefix>/sms/send/result` | no | `{"ok": true, "job_id", "status", "client_ref"}` or `{"ok": false, "error", "client_ref"}` |
//!
//! With Home Assistant discovery on, each modem is announced (retained) under
//! `homeassistant/sensor/...` as a device with signal, operator and last-SMS sensors.
//!
//! # No loss
//!
//! Events are read from the event log by the durable subscriber `mqtt`, a batch at a
//! time, and published at QoS 1. rumqttc's `publish()` resolves when the request is
//! queued, not when the broker has it, so the connection task pairs each
//! `Outgoing::Publish(pkid)` (emitted in call order) with the tag pushed before the
//! call, then each `Incoming::PubAck(pkid)` with that tag. The cursor moves past a
//! batch only when the broker acknowledged every message of it. A lost connection
//! throws the whole connection away (client, event loop, tags) and the batch is
//! published again on the next one: at least once, oldest first.
//!
//! The box keeps a persistent session (`clean_session = false`, client id
//! `simgate-<box-id>`), so send requests published while it is offline wait at the
//! broker; a request is acknowledged to the broker only after its job is committed.
//! A *retained* send request is refused (it would send again at every reconnect).
//!
//! Send results and modem states are not in the event log: results published while
//! the broker is unreachable are kept in memory (bounded), and the job's later status
//! changes, which are durable, carry the `client_ref` on `sms/status`.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, ConnectionError, Event as MqttEvent, EventLoop, Incoming, LastWill, MqttOptions,
    Outgoing, Publish, QoS, TlsConfiguration, Transport,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::events::{DurableSubscriber, StoredEvent};
use crate::outbound::SendRequest;
use crate::{Gateway, GatewayError, GatewayResult};

/// Where the broker is and how the box appears on it.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    /// TLS (rustls with the OS trust store, plus `ca_file` if given).
    pub tls: bool,
    /// An extra CA certificate (PEM), e.g. for a broker with a self-signed certificate.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Default `simgate-<box_id>`. Must be stable: the broker keeps the session by it.
    pub client_id: Option<String>,
    /// Names this box in topics and in Home Assistant.
    pub box_id: String,
    /// Default `simgate/<box_id>`.
    pub topic_prefix: Option<String>,
    pub home_assistant_discovery: bool,
    /// Home Assistant's discovery prefix, `homeassistant` by default.
    pub discovery_prefix: String,
    pub keep_alive: Duration,
    /// How often modem states are read (published only when they changed).
    pub modem_poll: Duration,
}

impl MqttConfig {
    pub fn new(host: impl Into<String>, port: u16, box_id: impl Into<String>) -> MqttConfig {
        MqttConfig {
            host: host.into(),
            port,
            tls: false,
            ca_file: None,
            username: None,
            password: None,
            client_id: None,
            box_id: box_id.into(),
            topic_prefix: None,
            home_assistant_discovery: false,
            discovery_prefix: "homeassistant".into(),
            keep_alive: Duration::from_secs(30),
            modem_poll: Duration::from_secs(5),
        }
    }

    /// `mqtt://[user[:password]@]host[:port]` (1883), or `mqtts://...` for TLS (8883).
    /// `tcp://` and `ssl://` are accepted as synonyms.
    pub fn from_url(url: &str, box_id: &str) -> Result<MqttConfig, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("MQTT URL {url:?} has no scheme (mqtt:// or mqtts://)"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => {
                return Err(format!(
                    "MQTT URL {url:?}: unknown scheme {other:?} (mqtt:// or mqtts://)"
                ))
            }
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') {
            return Err(format!(
                "MQTT URL {url:?}: only scheme, credentials, host and port are understood"
            ));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| format!("MQTT URL {url:?}: cannot read host and port"))?;
        let port = match port {
            Some(p) => p,
            None if tls => 8883,
            None => 1883,
        };
        let mut config = MqttConfig::new(host, port, box_id);
        config.tls = tls;
        if let Some(userinfo) = userinfo {
            let (user, pass) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                config.username = Some(user.to_string());
            }
            config.password = pass.map(String::from);
        }
        Ok(config)
    }

    pub fn prefix(&self) -> String {
        match &self.topic_prefix {
            Some(p) if !p.trim_matches('/').is_empty() => p.trim_end_matches('/').to_string(),
            _ => format!("simgate/{}", topic_segment(&self.box_id)),
        }
    }

    pub fn client_id(&self) -> String {
        self.client_id
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| format!("simgate-{}", self.box_id))
    }

    fn validate(&self) -> Result<(), String> {
        if self.host.is_empty() {
            return Err("the MQTT host is empty".into());
        }
        if self.box_id.is_empty() {
            return Err("the MQTT box id is empty".into());
        }
        let prefix = self.prefix();
        if prefix.contains(['+', '#', '\0']) {
            return Err(format!(
                "the MQTT topic prefix {prefix:?} has a wildcard in it"
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err("an MQTT password needs a username".into());
        }
        Ok(())
    }
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse().ok()?)),
        None => (s, None),
    };
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port))
}

/// A topic level made of anything: no `/`, `+`, `#` or NUL in it.
pub fn topic_segment(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| match c {
            '/' | '+' | '#' | '\0' => '_',
            c => c,
        })
        .collect();
    if out.is_empty() {
        "_".into()
    } else {
        out
    }
}

/// An id for Home Assistant: letters, digits, `_` and `-` only.
fn ha_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// rustls with the ring provider (no aws-lc-sys to build) and the OS trust store
/// (`ca-certificates` on Debian / Raspberry Pi OS), plus `extra_ca` (PEM) if given.
/// Shared by MQTT and webhooks.
pub fn tls_client_config(extra_ca: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A certificate the store cannot parse is skipped, like browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = extra_ca {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
        }
    }
    if roots.is_empty() {
        return Err("no CA certificates found: install ca-certificates (or give a CA file)".into());
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

/// One MQTT message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl OutMessage {
    fn json(topic: String, payload: &Value, retain: bool) -> OutMessage {
        OutMessage {
            topic,
            payload: payload.to_string().into_bytes(),
            retain,
        }
    }
}

/// The `sms/received` payload of a `MessageView` (as events carry it).
pub fn received_payload(event_id: i64, message: &Value, assignment: &Value) -> Value {
    json!({
        "event_id": event_id,
        "id": message["id"],
        "number": message["to_number"],
        "sender": message["from_number"],
        "text": message["content"],
        "otp_code": message["otp_code"],
        "type": message["type"],
        "service": message["service"],
        "received_at": message["received_at"],
        "sent_at": message["sent_at"],
        "channel": message["channel"],
        "provider": message["provider"],
        "parts_total": message["parts_total"],
        "parts_received": message["parts_received"],
        "assignment_id": message["assignment_id"],
        "assignment": assignment,
        "user_id": message["user_id"],
    })
}

/// The `otp` payload.
pub fn otp_payload(event_id: i64, message: &Value) -> Value {
    json!({
        "event_id": event_id,
        "message_id": message["id"],
        "number": message["to_number"],
        "sender": message["from_number"],
        "code": message["otp_code"],
        "service": message["service"],
        "received_at": message["received_at"],
    })
}

/// The messages one event becomes, in order. `client_ref` is looked up by the caller
/// for `sms_status` events.
pub fn messages_for(
    prefix: &str,
    event: &StoredEvent,
    client_ref: Option<&str>,
) -> Vec<OutMessage> {
    let p = &event.payload;
    let mut out = Vec::new();
    match event.kind.as_str() {
        "new_message" | "message_updated" => {
            let message = &p["message"];
            let topic = if event.kind == "new_message" {
                "sms/received"
            } else {
                "sms/updated"
            };
            out.push(OutMessage::json(
                format!("{prefix}/{topic}"),
                &received_payload(event.id, message, &p["assignment"]),
                false,
            ));
            if message["otp_code"].as_str().is_some_and(|c| !c.is_empty()) {
                out.push(OutMessage::json(
                    format!("{prefix}/otp"),
                    &otp_payload(event.id, message),
                    false,
                ));
            }
            if let Some(channel) = message["channel"].as_str() {
                out.push(OutMessage::json(
                    format!("{prefix}/modem/{}/last_sms", topic_segment(channel)),
                    &json!({
                        "event_id": event.id,
                        "sender": message["from_number"],
                        "text": message["content"],
                        "otp_code": message["otp_code"],
                        "received_at": message["received_at"],
                    }),
                    true,
                ));
            }
        }
        "sms_status" => out.push(OutMessage::json(
            format!("{prefix}/sms/status"),
            &json!({
                "event_id": event.id,
                "job_id": p["job_id"],
                "status": p["status"],
                "error": p["error"],
                "at": p["at"],
                "client_ref": client_ref,
            }),
            false,
        )),
        "assignment_status" => out.push(OutMessage::json(
            format!("{prefix}/assignment/status"),
            &json!({
                "event_id": event.id,
                "assignment_id": p["assignment_id"],
                "status": p["status"],
                "previous_status": p["previous_status"],
                "changed_at": p["changed_at"],
            }),
            false,
        )),
        _ => {}
    }
    out
}

/// Home Assistant discovery configs (retained) for one modem.
pub fn discovery_messages(
    config: &MqttConfig,
    status: &drivers::modem::ModemStatus,
) -> Vec<OutMessage> {
    let prefix = config.prefix();
    let modem = topic_segment(&status.name);
    let node = ha_id(&format!("simgate_{}", config.box_id));
    let device_id = ha_id(&format!("simgate_{}_{}", config.box_id, status.name));
    let device = json!({
        "identifiers": [device_id],
        "name": format!("simgate {} {}", config.box_id, status.name),
        "manufacturer": status.manufacturer.clone().unwrap_or_else(|| "simgate".into()),
        "model": status.model.clone().unwrap_or_else(|| "GSM modem".into()),
        "sw_version": status.revision,
    });
    let state_topic = format!("{prefix}/modem/{modem}/state");
    let sensors = [
        (
            "signal",
            json!({
                "name": "Signal",
                "state_topic": state_topic,
                "value_template": "{{ value_json.signal_dbm }}",
                "unit_of_measurement": "dBm",
                "device_class": "signal_strength",
                "state_class": "measurement",
                "json_attributes_topic": state_topic,
            }),
        ),
        (
            "operator",
            json!({
                "name": "Operator",
                "state_topic": state_topic,
                "value_template": "{{ value_json.operator }}",
                "icon": "mdi:sim",
            }),
        ),
        (
            "last_sms",
            json!({
                "name": "Last SMS",
                "state_topic": format!("{prefix}/modem/{modem}/last_sms"),
                "value_template": "{{ (value_json.sender ~ ': ' ~ value_json.text)[:250] }}",
                "json_attributes_topic": format!("{prefix}/modem/{modem}/last_sms"),
                "icon": "mdi:message-text",
            }),
        ),
    ];
    sensors
        .into_iter()
        .map(|(what, mut body)| {
            let object = ha_id(&format!("{}_{what}", status.name));
            body["unique_id"] = json!(format!("{device_id}_{what}"));
            body["object_id"] = json!(format!("{node}_{object}"));
            body["availability_topic"] = json!(format!("{prefix}/status"));
            body["payload_available"] = json!("online");
            body["payload_not_available"] = json!("offline");
            body["device"] = device.clone();
            OutMessage::json(
                format!("{}/sensor/{node}/{object}/config", config.discovery_prefix),
                &body,
                true,
            )
        })
        .collect()
}

/// A send request on `<prefix>/sms/send`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    to: String,
    text: String,
    #[serde(default)]
    from: Option<String>,
    /// A channel name; the same as `from` for the dispatcher (a number or a channel).
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    client_ref: Option<String>,
    #[serde(default)]
    status_report: Option<bool>,
}

/// Turns a send request into its result payload, enqueuing the job when it is valid.
async fn handle_send(gateway: &Gateway, publish: &Publish) -> Value {
    let raw: Result<Value, _> = serde_json::from_slice(&publish.payload);
    let client_ref = raw
        .as_ref()
        .ok()
        .and_then(|v| v.get("client_ref"))
        .cloned()
        .unwrap_or(Value::Null);
    let fail = |error: String| json!({"ok": false, "error": error, "client_ref": client_ref});
    if publish.retain {
        return fail("a retained send request is ignored (it would be sent again at every reconnect); publish it without the retain flag".into());
    }
    let raw = match raw {
        Ok(v) => v,
        Err(e) => return fail(format!("the request is not JSON: {e}")),
    };
    let body: SendBody = match serde_json::from_value(raw) {
        Ok(b) => b,
        Err(e) => {
            return fail(format!(
                "bad request: {e} (expected {{\"to\", \"text\", \"from\"?, \"client_ref\"?}})"
            ))
        }
    };
    if body.client_ref.as_ref().is_some_and(|r| r.len() > 200) {
        return fail("client_ref is longer than 200 characters".into());
    }
    let req = SendRequest {
        user_id: None,
        to: body.to,
        text: body.text,
        from: body.from.or(body.channel),
        client_ref: body.client_ref.clone(),
        status_report: body.status_report.unwrap_or(true),
    };
    match gateway.enqueue_send(req).await {
        Ok(job) => json!({
            "ok": true,
            "job_id": job.id,
            "status": job.status,
            "client_ref": job.client_ref,
        }),
        Err(GatewayError::Invalid(m)) => fail(m),
        Err(e) => {
            tracing::error!("MQTT send request could not be queued: {e}");
            fail(format!("the box could not queue the message: {e}"))
        }
    }
}

/// What a published message stands for, to know what its PUBACK completes.
#[derive(Debug, Clone, Copy)]
enum Tag {
    /// A message of the event batch being published.
    Batch,
    Other,
}

/// One connection to the broker: thrown away whole when it drops.
struct Conn {
    id: u64,
    client: AsyncClient,
    /// Tags of the publishes requested on `client`, in call order, not yet sent.
    tags: Mutex<VecDeque<Tag>>,
}

impl Conn {
    async fn publish(&self, tag: Tag, m: &OutMessage) -> bool {
        self.tags
            .lock()
            .expect("the tag queue lock is never held across a panic")
            .push_back(tag);
        self.client
            .publish(
                m.topic.clone(),
                QoS::AtLeastOnce,
                m.retain,
                m.payload.clone(),
            )
            .await
            .is_ok()
    }
}

enum Ctl {
    Connected(Arc<Conn>),
    Disconnected(u64),
    /// The broker acknowledged a message of the batch on connection `.0`.
    BatchAcked(u64),
    /// Publish now (or when connected); remembered and republished at each connect
    /// when retained.
    Publish(OutMessage),
    Shutdown(tokio::sync::oneshot::Sender<()>),
}

/// The running MQTT bridge. Dropping it stops it without a goodbye (the broker then
/// publishes the last will); [`shutdown`](Self::shutdown) says `offline` first.
pub struct MqttHandle {
    ctl: mpsc::UnboundedSender<Ctl>,
    tasks: Vec<JoinHandle<()>>,
}

impl MqttHandle {
    /// Publishes `offline`, disconnects cleanly and stops.
    pub async fn shutdown(mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.ctl.send(Ctl::Shutdown(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(3), rx).await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }

    /// Stops at once, as a crash would: no `offline`, no DISCONNECT.
    pub fn abort(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for MqttHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// How many events are published before waiting for the broker's acknowledgements.
const BATCH: usize = 100;
/// Non-retained messages (send results) kept while the broker is unreachable.
const MAX_QUEUED: usize = 1000;

impl Gateway {
    /// Connects to the broker (and keeps reconnecting) and starts publishing events
    /// from where the durable subscriber `mqtt` stopped.
    pub async fn start_mqtt(&self, config: MqttConfig) -> GatewayResult<MqttHandle> {
        config.validate().map_err(GatewayError::Invalid)?;
        let options = mqtt_options(&config).map_err(GatewayError::Invalid)?;
        let subscriber = self.durable_subscriber("mqtt").await?;
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (send_tx, send_rx) = mpsc::unbounded_channel();
        let prefix = config.prefix();
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(connection_loop(
            options,
            format!("{prefix}/sms/send"),
            ctl_tx.clone(),
            send_tx,
        )));
        tasks.push(tokio::spawn(
            Publisher {
                gateway: self.clone(),
                prefix: prefix.clone(),
                subscriber,
                conn: None,
                retained: BTreeMap::new(),
                queued: VecDeque::new(),
            }
            .run(ctl_rx),
        ));
        tasks.push(tokio::spawn(send_loop(
            self.clone(),
            format!("{prefix}/sms/send/result"),
            ctl_tx.clone(),
            send_rx,
        )));
        tasks.push(tokio::spawn(modem_loop(
            self.clone(),
            config.clone(),
            ctl_tx.clone(),
        )));
        tracing::info!(
            "MQTT: publishing to {}:{} under {prefix}/",
            config.host,
            config.port
        );
        Ok(MqttHandle { ctl: ctl_tx, tasks })
    }
}

fn mqtt_options(config: &MqttConfig) -> Result<MqttOptions, String> {
    let mut o = MqttOptions::new(config.client_id(), config.host.clone(), config.port);
    o.set_keep_alive(config.keep_alive.max(Duration::from_secs(5)));
    o.set_clean_session(false);
    o.set_manual_acks(true);
    // A send request can be 255 parts of text; events carry whole messages.
    o.set_max_packet_size(512 * 1024, 512 * 1024);
    o.set_last_will(LastWill::new(
        format!("{}/status", config.prefix()),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &config.username {
        o.set_credentials(user.clone(), config.password.clone().unwrap_or_default());
    }
    if config.tls {
        let tls = tls_client_config(config.ca_file.as_deref())?;
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls),
        )));
    }
    Ok(o)
}

/// Connects, runs the connection until it fails, waits, connects again: forever.
async fn connection_loop(
    options: MqttOptions,
    send_topic: String,
    ctl: mpsc::UnboundedSender<Ctl>,
    sends: mpsc::UnboundedSender<(Arc<Conn>, Publish)>,
) {
    let mut backoff = Duration::from_millis(500);
    let mut id = 0u64;
    loop {
        id += 1;
        let (client, eventloop) = AsyncClient::new(options.clone(), 64);
        // Queued now, sent right after the CONNECT.
        if let Err(e) = client.try_subscribe(send_topic.clone(), QoS::AtLeastOnce) {
            tracing::error!("MQTT: cannot subscribe to {send_topic}: {e}");
        }
        let conn = Arc::new(Conn {
            id,
            client,
            tags: Mutex::new(VecDeque::new()),
        });
        let started = Instant::now();
        let connected = drive(conn, eventloop, &ctl, &sends).await;
        if ctl.is_closed() {
            return;
        }
        if connected && started.elapsed() > Duration::from_secs(30) {
            backoff = Duration::from_millis(500);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Polls one connection's event loop until it fails; returns whether it connected.
async fn drive(
    conn: Arc<Conn>,
    mut eventloop: EventLoop,
    ctl: &mpsc::UnboundedSender<Ctl>,
    sends: &mpsc::UnboundedSender<(Arc<Conn>, Publish)>,
) -> bool {
    let mut connected = false;
    let mut inflight: std::collections::HashMap<u16, Tag> = std::collections::HashMap::new();
    loop {
        match eventloop.poll().await {
            Ok(MqttEvent::Incoming(Incoming::ConnAck(_))) => {
                connected = true;
                tracing::info!("MQTT: connected");
                let _ = ctl.send(Ctl::Connected(conn.clone()));
            }
            Ok(MqttEvent::Outgoing(Outgoing::Publish(pkid))) => {
                let tag = conn
                    .tags
                    .lock()
                    .expect("the tag queue lock is never held across a panic")
                    .pop_front();
                if let Some(tag) = tag {
                    inflight.insert(pkid, tag);
                }
            }
            Ok(MqttEvent::Incoming(Incoming::PubAck(ack))) => {
                if let Some(Tag::Batch) = inflight.remove(&ack.pkid) {
                    let _ = ctl.send(Ctl::BatchAcked(conn.id));
                }
            }
            Ok(MqttEvent::Incoming(Incoming::Publish(p))) => {
                let _ = sends.send((conn.clone(), p));
            }
            Ok(_) => {}
            Err(e) => {
                log_connection_error(&e, connected);
                let _ = ctl.send(Ctl::Disconnected(conn.id));
                return connected;
            }
        }
    }
}

fn log_connection_error(e: &ConnectionError, was_connected: bool) {
    if was_connected {
        tracing::warn!("MQTT: connection lost: {e}; reconnecting");
    } else {
        tracing::debug!("MQTT: cannot connect: {e}; retrying");
    }
}

/// Owns the event cursor and everything that is published.
struct Publisher {
    gateway: Gateway,
    prefix: String,
    subscriber: DurableSubscriber,
    conn: Option<Arc<Conn>>,
    /// Retained topics and their latest payloads, republished at every connect (a
    /// broker without persistence forgets them when it restarts).
    retained: BTreeMap<String, OutMessage>,
    /// Non-retained messages waiting for a connection.
    queued: VecDeque<OutMessage>,
}

/// The batch being published: its events' messages and how many the broker acked.
struct Batch {
    last_event_id: i64,
    messages: Vec<OutMessage>,
    /// Connection it was published on, if it was.
    published_on: Option<u64>,
    acked: usize,
}

impl Publisher {
    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Ctl>) {
        let mut batch: Option<Batch> = None;
        loop {
            // Publish the batch on the current connection if it is not out yet.
            if let (Some(b), Some(conn)) = (batch.as_mut(), self.conn.clone()) {
                if b.published_on != Some(conn.id) {
                    b.published_on = Some(conn.id);
                    b.acked = 0;
                    for m in &b.messages {
                        if !conn.publish(Tag::Batch, m).await {
                            break;
                        }
                    }
                }
                if b.acked >= b.messages.len() {
                    let id = b.last_event_id;
                    batch = None;
                    if let Err(e) = self.subscriber.ack(id).await {
                        tracing::error!("MQTT: cannot record the event cursor: {e}");
                    }
                    continue;
                }
            }
            let want_events = batch.is_none() && self.conn.is_some();
            let msg = if want_events {
                let next = tokio::select! {
                    next = self.subscriber.next_batch(BATCH) => Ok(next),
                    msg = ctl.recv() => Err(msg),
                };
                match next {
                    Ok(Ok(events)) => {
                        batch = Some(self.prepare(events).await);
                        continue;
                    }
                    Ok(Err(e)) => {
                        tracing::error!("MQTT: cannot read the event log: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    Err(msg) => msg,
                }
            } else {
                ctl.recv().await
            };
            let Some(msg) = msg else { return };
            match msg {
                Ctl::Connected(conn) => {
                    let status = OutMessage {
                        topic: format!("{}/status", self.prefix),
                        payload: b"online".to_vec(),
                        retain: true,
                    };
                    conn.publish(Tag::Other, &status).await;
                    for m in self.retained.values() {
                        conn.publish(Tag::Other, m).await;
                    }
                    while let Some(m) = self.queued.pop_front() {
                        conn.publish(Tag::Other, &m).await;
                    }
                    self.conn = Some(conn);
                }
                Ctl::Disconnected(id) => {
                    if self.conn.as_ref().is_some_and(|c| c.id == id) {
                        self.conn = None;
                    }
                }
                Ctl::BatchAcked(id) => {
                    if let Some(b) = batch.as_mut() {
                        if b.published_on == Some(id) {
                            b.acked += 1;
                        }
                    }
                }
                Ctl::Publish(m) => {
                    if m.retain {
                        self.retained.insert(m.topic.clone(), m.clone());
                    }
                    match &self.conn {
                        Some(conn) => {
                            conn.publish(Tag::Other, &m).await;
                        }
                        None if !m.retain => {
                            if self.queued.len() >= MAX_QUEUED {
                                self.queued.pop_front();
                            }
                            self.queued.push_back(m);
                        }
                        None => {}
                    }
                }
                Ctl::Shutdown(done) => {
                    // Let the broker acknowledge what is out, so that the cursor
                    // moves and a restart repeats nothing.
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                    while let Some(b) = batch.as_mut() {
                        if b.published_on.is_none() || b.acked >= b.messages.len() {
                            break;
                        }
                        match tokio::time::timeout_at(deadline, ctl.recv()).await {
                            Ok(Some(Ctl::BatchAcked(id))) if b.published_on == Some(id) => {
                                b.acked += 1;
                            }
                            Ok(Some(_)) => {}
                            Ok(None) | Err(_) => break,
                        }
                    }
                    if let Some(b) = batch.take() {
                        if b.published_on.is_some() && b.acked >= b.messages.len() {
                            if let Err(e) = self.subscriber.ack(b.last_event_id).await {
                                tracing::error!("MQTT: cannot record the event cursor: {e}");
                            }
                        }
                    }
                    if let Some(conn) = self.conn.take() {
                        let offline = OutMessage {
                            topic: format!("{}/status", self.prefix),
                            payload: b"offline".to_vec(),
                            retain: true,
                        };
                        conn.publish(Tag::Other, &offline).await;
                        let _ = conn.client.disconnect().await;
                        // Let the event loop write both before the task is stopped.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    let _ = done.send(());
                    return;
                }
            }
        }
    }

    async fn prepare(&mut self, events: Vec<StoredEvent>) -> Batch {
        let last_event_id = events.last().map(|e| e.id).unwrap_or(0);
        let mut messages = Vec::new();
        for e in &events {
            let client_ref = if e.kind == "sms_status" {
                match e.payload["job_id"].as_i64() {
                    Some(id) => self
                        .gateway
                        .outbound_job(id, None)
                        .await
                        .ok()
                        .and_then(|j| j.client_ref),
                    None => None,
                }
            } else {
                None
            };
            for m in messages_for(&self.prefix, e, client_ref.as_deref()) {
                if m.retain {
                    self.retained.insert(m.topic.clone(), m.clone());
                }
                messages.push(m);
            }
        }
        Batch {
            last_event_id,
            messages,
            published_on: None,
            acked: 0,
        }
    }
}

/// Answers send requests one at a time, in arrival order.
async fn send_loop(
    gateway: Gateway,
    result_topic: String,
    ctl: mpsc::UnboundedSender<Ctl>,
    mut requests: mpsc::UnboundedReceiver<(Arc<Conn>, Publish)>,
) {
    while let Some((conn, publish)) = requests.recv().await {
        if publish.topic.ends_with("/sms/send") {
            let result = handle_send(&gateway, &publish).await;
            let _ = ctl.send(Ctl::Publish(OutMessage::json(
                result_topic.clone(),
                &result,
                false,
            )));
        }
        // Only now may the broker forget the request: its job is committed.
        if let Err(e) = conn.client.ack(&publish).await {
            tracing::debug!("MQTT: cannot acknowledge a send request (connection gone): {e}");
        }
    }
}

/// Publishes each modem's state (retained) when it changes, and its Home Assistant
/// discovery configs the first time it is seen.
async fn modem_loop(gateway: Gateway, config: MqttConfig, ctl: mpsc::UnboundedSender<Ctl>) {
    let prefix = config.prefix();
    let mut last: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut announced: BTreeMap<String, Vec<OutMessage>> = BTreeMap::new();
    let mut tick = tokio::time::interval(config.modem_poll.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for status in gateway.modem_statuses().await {
            if config.home_assistant_discovery {
                let discovery = discovery_messages(&config, &status);
                if announced.get(&status.name) != Some(&discovery) {
                    for m in &discovery {
                        if ctl.send(Ctl::Publish(m.clone())).is_err() {
                            return;
                        }
                    }
                    announced.insert(status.name.clone(), discovery);
                }
            }
            let payload = match serde_json::to_vec(&status) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!("MQTT: cannot serialise the state of {}: {e}", status.name);
                    continue;
                }
            };
            if last.get(&status.name) == Some(&payload) {
                continue;
            }
            last.insert(status.name.clone(), payload.clone());
            let m = OutMessage {
                topic: format!("{prefix}/modem/{}/state", topic_segment(&status.name)),
                payload,
                retain: true,
            };
            if ctl.send(Ctl::Publish(m)).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read() {
        let c = MqttConfig::from_url("mqtt://127.0.0.1:1884", "demo").expect("valid");
        assert_eq!((c.host.as_str(), c.port, c.tls), ("127.0.0.1", 1884, false));
        assert_eq!(c.prefix(), "simgate/demo");
        assert_eq!(c.client_id(), "simgate-demo");
        let c = MqttConfig::from_url("mqtts://u:p@broker.lan", "b1").expect("valid");
        assert_eq!((c.host.as_str(), c.port, c.tls), ("broker.lan", 8883, true));
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.password.as_deref(), Some("p"));
        let c = MqttConfig::from_url("mqtt://[::1]:1883/", "b").expect("valid");
        assert_eq!(c.host, "::1");
        assert!(MqttConfig::from_url("127.0.0.1:1883", "b").is_err());
        assert!(MqttConfig::from_url("http://x", "b").is_err());
        assert!(MqttConfig::from_url("mqtt://x:notaport", "b").is_err());
        assert!(MqttConfig::from_url("mqtt://x/topic", "b").is_err());
    }

    #[test]
    fn prefixes_have_no_wildcards() {
        let mut c = MqttConfig::new("h", 1883, "a/b+#");
        assert_eq!(c.prefix(), "simgate/a_b__");
        assert!(c.validate().is_ok());
        c.topic_prefix = Some("site/#".into());
        assert!(c.validate().is_err());
    }

    #[test]
    fn events_become_their_topics() {
        let message = json!({
            "id": 7, "to_number": "+15550100001", "from_number": "WhatsApp",
            "content": "Your code is 123456", "type": "otp", "otp_code": "123456",
            "service": "whatsapp", "received_at": "2026-01-01T00:00:00.000Z",
            "channel": "emu-us", "provider": "emulator",
        });
        let e = StoredEvent {
            id: 3,
            kind: "new_message".into(),
            user_id: None,
            payload: json!({"message": message, "assignment": null}),
            created_at: String::new(),
        };
        let out = messages_for("simgate/t", &e, None);
        let topics: Vec<&str> = out.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics,
            [
                "simgate/t/sms/received",
                "simgate/t/otp",
                "simgate/t/modem/emu-us/last_sms"
            ]
        );
        let otp: Value = serde_json::from_slice(&out[1].payload).expect("json");
        assert_eq!(otp["code"], "123456");
        assert!(out[2].retain && !out[0].retain);
        let mut plain = e.clone();
        plain.payload["message"]["otp_code"] = Value::Null;
        assert_eq!(messages_for("p", &plain, None).len(), 2);
    }
}
