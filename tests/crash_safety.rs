//! Crash safety of the whole box: an emulated modem in its own process (`simgate
//! emulate`, whose SIM memory outlives the gateway, as a real modem's does) receives a
//! burst of 1,000 SMS while the gateway (`simgate run`) is killed with SIGKILL at
//! pseudo-random points and restarted. At the end every SMS is stored exactly once.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BURST: usize = 1000;
const NUMBER: &str = "+15550100001";

struct Killable(Child);

impl Drop for Killable {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start_emulator(dir: &Path) -> (Killable, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["emulate", "--number", NUMBER, "--link"])
        .arg(dir.join("modem0"))
        .arg("--sim-file")
        .arg(dir.join("sim.json"))
        .args(["--control", "127.0.0.1:0", "--capacity", "30"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("simgate emulate starts");
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("emulate prints its addresses");
    let info: Value = serde_json::from_str(&line).expect("one JSON line");
    let control = info["control"].as_str().expect("control URL").to_string();
    (Killable(child), control)
}

fn start_gateway(config: &Path) -> Killable {
    Killable(
        Command::new(env!("CARGO_BIN_EXE_simgate"))
            .args(["run", "--config"])
            .arg(config)
            .env("SIMGATE_ADMIN_PASSWORD", "crash-test-admin")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("simgate run starts"),
    )
}

/// Deterministic pseudo-random numbers (xorshift64*), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn stored(db: &Path) -> (usize, usize) {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) else {
        return (0, 0);
    };
    conn.query_row(
        "SELECT COUNT(*), COUNT(DISTINCT content) FROM messages",
        [],
        |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as usize)),
    )
    .unwrap_or((0, 0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_survives_sigkills_of_the_gateway_and_is_stored_exactly_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let (_emulator, control) = start_emulator(dir.path());
    let config = dir.path().join("simgate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{}\"\n[storage]\ndata_dir = {:?}\n[[modem]]\nname = \"emu0\"\nport = {:?}\nnumber = \"{NUMBER}\"\n",
            free_port(),
            data.display().to_string(),
            dir.path().join("modem0").display().to_string(),
        ),
    )
    .expect("config written");
    let db = data.join("simgate.db");
    // reqwest is unified with the gateway's `rustls-no-provider`: install one first.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    let mut gateway = start_gateway(&config);
    let resp = http
        .post(format!("{control}/burst"))
        .json(&json!({"count": BURST, "from": "+12025550123", "text_prefix": "burst message "}))
        .send()
        .await
        .expect("control API answers");
    assert!(resp.status().is_success(), "{}", resp.status());

    // Kill the gateway at pseudo-random points while the burst flows.
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150 + rng.below(600))).await;
        let _ = gateway.0.kill(); // SIGKILL: no shutdown path runs
        let _ = gateway.0.wait();
        gateway = start_gateway(&config);
    }

    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (total, distinct) = stored(&db);
        assert_eq!(total, distinct, "an SMS was stored twice");
        let sim: Value = http
            .get(format!("{control}/sim"))
            .send()
            .await
            .expect("control")
            .json()
            .await
            .expect("json");
        if total == BURST && sim["used"] == 0 && sim["pending"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {total} of {BURST} stored; SIM: used {} pending {}",
            sim["used"],
            sim["pending"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let conn = rusqlite::Connection::open(&db).expect("db");
    let missing: i64 = (0..BURST)
        .filter(|i| {
            conn.query_row(
                "SELECT COUNT(*) FROM messages WHERE content = ?1",
                [format!("burst message {i}")],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0)
                != 1
        })
        .count() as i64;
    assert_eq!(missing, 0, "messages missing or duplicated");
    drop(gateway);
}
