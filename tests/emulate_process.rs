//! `src/emulate.rs` in its own process (this test binary re-run as the child), driven
//! through its control API while the real modem driver reads it through the symlink:
//! a burst larger than the SIM arrives whole across a driver restart, and the SIM
//! memory survives a SIGKILL of the emulator itself.

#[path = "../src/emulate.rs"]
#[allow(dead_code)]
mod emulate;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use drivers::modem::{self, ModemConfig, ModemEvent, ModemHandle, StoreOutcome};
use drivers::pdu::{self, Tpdu};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

const CHILD_ENV: &str = "SIMGATE_TEST_EMULATE_CHILD";

/// Not a test of its own: the body of the child process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let spec: Value = serde_json::from_str(&spec).expect("the parent writes valid JSON");
    let path = |k: &str| spec[k].as_str().map(PathBuf::from);
    let args = emulate::EmulateArgs {
        number: "+15550100077".into(),
        link: path("link"),
        sim_file: path("sim_file"),
        capacity: spec["capacity"].as_u64().unwrap_or(30) as usize,
        ..emulate::EmulateArgs::default()
    };
    if let Err(e) = emulate::run(args).await {
        eprintln!("emulate: {e}");
        std::process::exit(2);
    }
}

struct ChildEmu {
    child: Child,
    control: String,
}

impl Drop for ChildEmu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_child(link: &Path, sim_file: &Path, capacity: usize) -> ChildEmu {
    let spec = json!({ "link": link, "sim_file": sim_file, "capacity": capacity });
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args([
            "emulator_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, spec.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the test binary runs again as the emulator");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let started = loop {
        let line = lines
            .next()
            .expect("the emulator prints its addresses")
            .expect("readable stdout");
        // libtest may print `test emulator_child ... ` on the same line before it.
        if let Some(at) = line.find("{\"") {
            break serde_json::from_str::<Value>(&line[at..]).expect("one JSON line");
        }
    };
    // Keep draining the child's stdout so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    assert_eq!(started["link"].as_str(), link.to_str());
    ChildEmu {
        child,
        control: started["control"]
            .as_str()
            .expect("control URL")
            .to_string(),
    }
}

fn driver(link: &Path) -> (ModemHandle, mpsc::Receiver<ModemEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let handle = modem::spawn(
        ModemConfig {
            name: "child-emu".into(),
            port: link.display().to_string(),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_millis(300),
            sweep_interval: Duration::from_secs(2),
            ..ModemConfig::default()
        },
        tx,
    );
    (handle, rx)
}

fn text_of(hex: &str) -> String {
    match pdu::decode_hex(hex, true).expect("decodable").tpdu {
        Tpdu::Deliver(d) => d.text.expect("text"),
        other => panic!("not a DELIVER: {other:?}"),
    }
}

/// Stores (counts) what the driver hands over until `want` distinct texts are seen.
async fn collect(
    rx: &mut mpsc::Receiver<ModemEvent>,
    seen: &mut HashMap<String, u32>,
    want: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some(ModemEvent::Received(r))) => {
                *seen.entry(text_of(&r.hex)).or_insert(0) += 1;
                let _ = r.ack.send(StoreOutcome::Stored);
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("driver gone"),
            Err(_) => panic!("only {} of {want} arrived", seen.len()),
        }
    }
}

/// A minimal HTTP/1.1 client (one request per connection): reqwest's TLS provider
/// set-up is not this test's business. Returns the status and the body (JSON or Null).
async fn http(method: &str, url: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.strip_prefix("http://").expect("http URL");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("control API reachable");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let payload = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(payload).unwrap_or(Value::Null))
}

async fn sim(control: &str) -> Value {
    let (status, value) = http("GET", control, "/sim", None).await;
    assert_eq!(status, 200);
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_through_a_separate_emulator_process_survives_restarts() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("modem0");
    let sim_file = dir.path().join("sim.json");
    let emu = start_child(&link, &sim_file, 10);

    // 60 SMS into a 10-slot SIM: the burst waits for the driver to free slots.
    let body = json!({ "count": 60, "from": "+12025550123", "text_prefix": "burst " });
    let (status, _) = http("POST", &emu.control, "/burst", Some(&body.to_string())).await;
    assert_eq!(status, 202);
    let (modem, mut rx) = driver(&link);
    let mut seen = HashMap::new();
    collect(&mut rx, &mut seen, 20).await;
    // The "gateway" goes away mid-burst and comes back.
    modem.shutdown().await;
    let (modem, mut rx) = driver(&link);
    collect(&mut rx, &mut seen, 60).await;
    let want: Vec<String> = (0..60).map(|i| format!("burst {i}")).collect();
    let mut got: Vec<String> = seen.keys().cloned().collect();
    got.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got, want_sorted);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = sim(&emu.control).await;
        if state["used"] == 0 && state["pending"] == 0 {
            assert_eq!(state["delivered"], 60);
            break;
        }
        assert!(Instant::now() < deadline, "SIM not emptied: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    modem.shutdown().await;

    // With no driver, an SMS waits on the SIM; the emulator is killed and restarted
    // with the same SIM file: the SMS is still there and the driver gets it.
    let body = json!({ "from": "WhatsApp", "text": "Your code is 123456" });
    let (status, answer) = http("POST", &emu.control, "/sms", Some(&body.to_string())).await;
    assert_eq!(status, 200, "{answer}");
    drop(emu); // SIGKILL
    let emu = start_child(&link, &sim_file, 10);
    let state = sim(&emu.control).await;
    assert_eq!(state["used"], 1, "{state}");
    let (modem, mut rx) = driver(&link);
    let mut seen = HashMap::new();
    collect(&mut rx, &mut seen, 1).await;
    assert!(seen.contains_key("Your code is 123456"), "{seen:?}");
    modem.shutdown().await;

    // Bad requests get errors, not panics.
    let body = json!({ "pdus": ["zz"] });
    let (status, _) = http("POST", &emu.control, "/sms", Some(&body.to_string())).await;
    assert_eq!(status, 422);
    let (status, _) = http("POST", &emu.control, "/sms", Some("nonsense")).await;
    assert!((400..500).contains(&status), "{status}");
}
