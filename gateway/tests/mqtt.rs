//! The MQTT bridge against a real broker over TCP: Debian's `mosquitto`, started by
//! each test on a free loopback port (`apt-get install mosquitto`; `.ci/run` installs
//! it). Without it they print a SKIPPED line naming the package, so `cargo test` works
//! on a machine with only Rust; under `CI` a missing broker is a failure.
//!
//! Covered: a received SMS and its OTP are published; a send request is answered
//! with its job and later its status, a malformed one with an error; a broker restart
//! in the middle of a burst loses nothing; retained modem state, Home Assistant
//! discovery and the last will are seen by a second client.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drivers::pdu::{encode_deliver, Timestamp};
use gateway::inbound::InboundPdu;
use gateway::mqtt::{MqttConfig, MqttHandle};
use gateway::Gateway;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;
use tokio::sync::mpsc;

/// A mosquitto process on a loopback port, with persistence in its own directory.
struct Broker {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

fn skip() -> bool {
    if which("mosquitto").is_some() {
        return false;
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI must run the MQTT tests against a real broker: apt-get install mosquitto");
    }
    eprintln!("SKIPPED: mosquitto is not installed (apt-get install mosquitto runs these tests)");
    true
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

impl Broker {
    fn start(dir: &Path) -> Broker {
        // Started as root, mosquitto drops to its own user: let it write its database.
        let dir = dir.join("broker");
        std::fs::create_dir_all(&dir).expect("creates the broker directory");
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .expect("opens the broker directory");
        let mut b = Broker {
            child: None,
            port: free_port(),
            dir,
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let conf = self.dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nmax_queued_messages 100000\n",
                self.port,
                self.dir.display()
            ),
        )
        .expect("writes the broker config");
        let child = Command::new(which("mosquitto").expect("mosquitto is installed"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not open its port");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (mosquitto saves its sessions and retained messages), then start again.
    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A second client: everything it receives, as (topic, payload, retained).
struct Watcher {
    held: std::collections::VecDeque<(String, Vec<u8>, bool)>,
    rx: mpsc::UnboundedReceiver<(String, Vec<u8>, bool)>,
    client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Subscribes to `filters` and waits until the broker confirmed the subscription.
    async fn start(port: u16, id: &str, persistent: bool, filters: &[&str]) -> Watcher {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_clean_session(!persistent);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(o, 100);
        for f in filters {
            client
                .subscribe(*f, QoS::AtLeastOnce)
                .await
                .expect("subscribe queued");
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready = Some(ready_tx);
        let want = filters.len();
        let task = tokio::spawn(async move {
            let mut acked = 0;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::SubAck(_))) => {
                        acked += 1;
                        if acked == want {
                            if let Some(r) = ready.take() {
                                let _ = r.send(());
                            }
                        }
                    }
                    Ok(Event::Incoming(Incoming::Publish(p))) => {
                        let _ = tx.send((p.topic.clone(), p.payload.to_vec(), p.retain));
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("the broker confirms the subscriptions")
            .expect("the watcher runs");
        Watcher {
            held: Default::default(),
            rx,
            client,
            task,
        }
    }

    /// The next message whose topic ends with `suffix` (others are kept for later).
    async fn next_on(&mut self, suffix: &str) -> (Vec<u8>, bool) {
        if let Some(i) = self.held.iter().position(|(t, _, _)| t.ends_with(suffix)) {
            let (_, payload, retain) = self.held.remove(i).expect("just found");
            return (payload, retain);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((topic, payload, retain))) if topic.ends_with(suffix) => {
                    return (payload, retain)
                }
                Ok(Some(other)) => self.held.push_back(other),
                Ok(None) => panic!("the watcher stopped"),
                Err(_) => panic!("nothing arrived on *{suffix} within 30 s"),
            }
        }
    }

    async fn next_json(&mut self, suffix: &str) -> Value {
        let (payload, _) = self.next_on(suffix).await;
        serde_json::from_slice(&payload).expect("the payload is JSON")
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn pdu(from: &str, text: &str) -> InboundPdu {
    let ts = Timestamp::from_datetime(
        chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+00:00").expect("valid"),
    );
    let hex = encode_deliver(from, text, ts, 0)
        .expect("encodes")
        .remove(0)
        .hex;
    InboundPdu {
        channel: "usb0".into(),
        to_number: Some("+15550100001".into()),
        provider: "modem".into(),
        hex,
    }
}

fn config(port: u16, box_id: &str) -> MqttConfig {
    let mut c = MqttConfig::new("127.0.0.1", port, box_id);
    c.modem_poll = Duration::from_millis(200);
    c.keep_alive = Duration::from_secs(5);
    c
}

async fn start(gateway: &Gateway, config: MqttConfig) -> MqttHandle {
    gateway.start_mqtt(config).await.expect("the bridge starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_sms_and_its_code_are_published() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start(dir.path());
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    let mut watch = Watcher::start(broker.port, "w-recv", false, &["simgate/recv/#"]).await;
    let _mqtt = start(&gateway, config(broker.port, "recv")).await;
    // Live or retained, depending on who was first: either way it says online.
    let (status, _) = watch.next_on("/status").await;
    assert_eq!(status, b"online");

    gateway
        .accept_pdu(pdu("WhatsApp", "Your WhatsApp code is 483-921"))
        .await
        .expect("stored");
    let sms = watch.next_json("/sms/received").await;
    assert_eq!(sms["number"], "+15550100001");
    assert_eq!(sms["sender"], "WhatsApp");
    assert_eq!(sms["text"], "Your WhatsApp code is 483-921");
    assert_eq!(sms["otp_code"], "483921");
    assert!(sms["received_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert!(sms["event_id"].as_i64().is_some());
    let otp = watch.next_json("/otp").await;
    assert_eq!(otp["code"], "483921");
    assert_eq!(otp["sender"], "WhatsApp");

    // No code, no OTP message: the next thing after this SMS is the next SMS.
    gateway
        .accept_pdu(pdu("+12025550123", "See you at eight"))
        .await
        .expect("stored");
    gateway
        .accept_pdu(pdu("+12025550123", "Bring the cake"))
        .await
        .expect("stored");
    let mut topics = Vec::new();
    while topics.len() < 2 {
        let (topic, payload, _) = tokio::time::timeout(Duration::from_secs(20), watch.rx.recv())
            .await
            .expect("messages arrive")
            .expect("watcher runs");
        if topic.ends_with("/sms/received") || topic.ends_with("/otp") {
            let v: Value = serde_json::from_slice(&payload).expect("json");
            topics.push((topic, v["text"].clone()));
        }
    }
    assert_eq!(topics[0].0, "simgate/recv/sms/received");
    assert_eq!(topics[0].1, "See you at eight");
    assert_eq!(topics[1].0, "simgate/recv/sms/received");
    assert_eq!(topics[1].1, "Bring the cake");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_request_is_answered_with_its_job_and_later_its_status() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start(dir.path());
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    gateway
        .start_emulated_modem("emu-us", "+15550100001")
        .await
        .expect("emulated modem");
    gateway.start_dispatcher().await.expect("dispatcher");
    let mut watch = Watcher::start(
        broker.port,
        "w-send",
        false,
        &["simgate/send/sms/send/result", "simgate/send/sms/status"],
    )
    .await;
    let _mqtt = start(&gateway, config(broker.port, "send")).await;
    // The bridge subscribes right after connecting; give it that moment.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let client = watch.client.clone();
    let publish = |payload: &'static [u8]| {
        let client = client.clone();
        async move {
            client
                .publish("simgate/send/sms/send", QoS::AtLeastOnce, false, payload)
                .await
                .expect("queued");
        }
    };
    publish(br#"{"to": "+12025550123", "text": "Hello from MQTT", "client_ref": "r-1"}"#).await;
    let result = watch.next_json("/sms/send/result").await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["client_ref"], "r-1");
    let job_id = result["job_id"].as_i64().expect("a job id");
    let job = gateway.outbound_job(job_id, None).await.expect("the job");
    assert_eq!(job.text, "Hello from MQTT");

    // Malformed requests get an error on the result topic, not a crash.
    publish(b"this is not json").await;
    let bad = watch.next_json("/sms/send/result").await;
    assert_eq!(bad["ok"], false);
    assert!(
        bad["error"].as_str().is_some_and(|e| e.contains("JSON")),
        "{bad}"
    );
    publish(br#"{"to": "+12025550123", "client_ref": "r-2"}"#).await;
    let bad = watch.next_json("/sms/send/result").await;
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["client_ref"], "r-2");
    assert!(
        bad["error"].as_str().is_some_and(|e| e.contains("text")),
        "{bad}"
    );
    publish(br#"{"to": "not a number", "text": "x", "client_ref": "r-3"}"#).await;
    let bad = watch.next_json("/sms/send/result").await;
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["client_ref"], "r-3");

    // The job's later status changes follow on sms/status, with the client reference.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = watch.next_json("/sms/status").await;
        if status["job_id"] == job_id && status["status"] == "sent" {
            assert_eq!(status["client_ref"], "r-1");
            break;
        }
        assert!(Instant::now() < deadline, "no sent status for job {job_id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_in_the_middle_of_a_burst_loses_nothing() {
    if skip() {
        return;
    }
    const N: usize = 300;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut broker = Broker::start(dir.path());
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    // A persistent session: what arrives while the watcher is cut off waits for it.
    let mut watch = Watcher::start(
        broker.port,
        "w-burst",
        true,
        &["simgate/burst/sms/received"],
    )
    .await;
    let _mqtt = start(&gateway, config(broker.port, "burst")).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let producer = {
        let gateway = gateway.clone();
        tokio::spawn(async move {
            for n in 0..N {
                gateway
                    .accept_pdu(pdu("+12025550123", &format!("burst {n}")))
                    .await
                    .expect("stored");
                if n % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };
    // Let part of the burst through, then restart the broker under it.
    let mut seen: Vec<usize> = Vec::new();
    while seen.len() < N / 5 {
        let v = watch.next_json("/sms/received").await;
        seen.push(number_of(&v));
    }
    let broker = tokio::task::spawn_blocking(move || {
        broker.restart();
        broker
    })
    .await
    .expect("broker restarts");
    producer.await.expect("the burst is stored");

    let mut distinct: HashSet<usize> = seen.iter().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while distinct.len() < N {
        assert!(
            Instant::now() < deadline,
            "only {} of {N} arrived; missing e.g. {:?}",
            distinct.len(),
            (0..N).find(|n| !distinct.contains(n))
        );
        let Ok(v) =
            tokio::time::timeout(Duration::from_secs(20), watch.next_json("/sms/received")).await
        else {
            let missing: Vec<usize> = (0..N).filter(|n| !distinct.contains(n)).collect();
            panic!(
                "only {} of {N} arrived; missing {missing:?}; seen {seen:?}",
                distinct.len()
            );
        };
        let n = number_of(&v);
        seen.push(n);
        distinct.insert(n);
    }
    // In order: the first time each one arrives, it comes after every smaller one.
    let mut first = Vec::new();
    let mut once = HashSet::new();
    for n in &seen {
        if once.insert(*n) {
            first.push(*n);
        }
    }
    assert_eq!(first, (0..N).collect::<Vec<_>>(), "first arrivals in order");
    eprintln!(
        "{} messages for {N} SMS ({} repeated after the restart)",
        seen.len(),
        seen.len() - N
    );
    drop(broker);
}

fn number_of(v: &Value) -> usize {
    v["text"]
        .as_str()
        .and_then(|t| t.strip_prefix("burst "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected message {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_modem_state_discovery_and_the_last_will_reach_a_second_client() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start(dir.path());
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    gateway
        .start_emulated_modem("emu-us", "+15550100001")
        .await
        .expect("emulated modem");
    let mut c = config(broker.port, "ret");
    c.home_assistant_discovery = true;
    let mqtt = start(&gateway, c).await;

    // Wait until the modem is registered and its state published.
    let mut first = Watcher::start(broker.port, "w-ret-1", false, &["simgate/ret/#"]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = first.next_json("/modem/emu-us/state").await;
        if state["operator"].is_string() && state["signal_dbm"].is_number() {
            break;
        }
        assert!(Instant::now() < deadline, "the modem never registered");
    }

    // A client that connects later gets the retained state, status and discovery.
    let mut late = Watcher::start(
        broker.port,
        "w-ret-2",
        false,
        &[
            "simgate/ret/status",
            "simgate/ret/modem/+/state",
            "homeassistant/sensor/#",
        ],
    )
    .await;
    let (online, retained) = late.next_on("simgate/ret/status").await;
    assert_eq!((online.as_slice(), retained), (&b"online"[..], true));
    let (state, retained) = late.next_on("/modem/emu-us/state").await;
    assert!(retained);
    let state: Value = serde_json::from_slice(&state).expect("json");
    assert_eq!(state["name"], "emu-us");
    assert!(state["signal_dbm"].is_number());
    let mut sensors = HashSet::new();
    while sensors.len() < 3 {
        let config = late.next_json("/config").await;
        assert_eq!(config["availability_topic"], "simgate/ret/status");
        assert_eq!(
            config["device"]["identifiers"][0], "simgate_ret_emu-us",
            "{config}"
        );
        sensors.insert(config["name"].as_str().expect("a name").to_string());
    }
    assert_eq!(
        sensors,
        HashSet::from(["Signal".into(), "Operator".into(), "Last SMS".into()])
    );

    // The bridge dies without a goodbye: the broker publishes its last will.
    mqtt.abort();
    let (offline, _) = late.next_on("simgate/ret/status").await;
    assert_eq!(offline, b"offline");
    // And keeps it for whoever asks next.
    let mut after = Watcher::start(broker.port, "w-ret-3", false, &["simgate/ret/status"]).await;
    let (offline, retained) = after.next_on("simgate/ret/status").await;
    assert_eq!((offline.as_slice(), retained), (&b"offline"[..], true));
    gateway.stop_modems().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_shutdown_says_offline_and_a_restart_resumes_from_the_cursor() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::start(dir.path());
    let db = dir.path().join("db");
    let mut watch = Watcher::start(broker.port, "w-resume", true, &["simgate/resume/#"]).await;
    {
        let gateway = Gateway::open(&db).expect("opens");
        let mqtt = start(&gateway, config(broker.port, "resume")).await;
        gateway
            .accept_pdu(pdu("+12025550123", "before the stop"))
            .await
            .expect("stored");
        assert_eq!(
            watch.next_json("/sms/received").await["text"],
            "before the stop"
        );
        mqtt.shutdown().await;
        loop {
            let (status, _) = watch.next_on("simgate/resume/status").await;
            if status == b"offline" {
                break;
            }
            assert_eq!(status, b"online");
        }
        // Stored while the bridge is down.
        gateway
            .accept_pdu(pdu("+12025550123", "while it was down"))
            .await
            .expect("stored");
    }
    let gateway = Gateway::open(&db).expect("reopens");
    let _mqtt = start(&gateway, config(broker.port, "resume")).await;
    // A clean shutdown waited for the broker's PUBACK: nothing comes twice.
    assert_eq!(
        watch.next_json("/sms/received").await["text"],
        "while it was down"
    );
}
