//! Inbound throughput with durable commits (issue 5: target 5,000 SMS/s sustained).
//!
//! Opens a real SQLite file (WAL, `synchronous=FULL`: every acknowledged PDU has been
//! fsynced) in a temporary directory and pushes pre-encoded SMS-DELIVER PDUs through
//! `Gateway::accept_pdu` from `TASKS` concurrent tasks, as that many modems would.
//! Each call returns only after the transaction holding its PDU committed, so SMS/s here
//! is committed, decoded, OTP-extracted, routed (lease lookup) and event-logged messages
//! per second. Senders and texts are distinct, so dedupe drops nothing; the bench checks
//! the row counts at the end.
//!
//! Two runs: single-part SMS (GSM 7-bit, with a verification code) and 2-part SMS
//! (reassembled; each part is its own `accept_pdu` call, in arbitrary order across
//! tasks).
//!
//! Run: `cargo bench -p gateway --bench inbound`
//! Settings (environment): `INBOUND_N` messages per run (default 20000),
//! `INBOUND_TASKS` (default 64), `INBOUND_DIR` a directory for the database (default: a
//! temporary directory; put it on the disk you deploy to, since fsync cost is the disk's),
//! `INBOUND_KEEP=1` keeps the databases (to look at query plans).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{FixedOffset, TimeZone};
use drivers::pdu::{encode_deliver, Timestamp};
use gateway::inbound::{Accepted, InboundPdu};
use gateway::Gateway;

const TO: &str = "+15550100001";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn timestamp() -> Timestamp {
    let dt = FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 22, 12, 34, 56)
        .unwrap();
    Timestamp::from_datetime(dt)
}

/// `n` single-part PDUs, each from its own sender with its own code.
fn single_pdus(n: usize) -> Vec<String> {
    let ts = timestamp();
    (0..n)
        .map(|i| {
            let sender = format!("+1202{:07}", i);
            let text = format!(
                "Your verification code is {:06}. Message {i}.",
                (i * 7919) % 1_000_000
            );
            let mut parts = encode_deliver(&sender, &text, ts, 0).expect("encodes");
            assert_eq!(parts.len(), 1);
            parts.remove(0).hex
        })
        .collect()
}

/// `n` two-part messages (a 200-character GSM 7-bit text each), as 2n PDUs.
fn multipart_pdus(n: usize) -> Vec<String> {
    let ts = timestamp();
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..n {
        let sender = format!("+1303{:07}", i);
        let mut text = format!(
            "Message {i}: your verification code is {:06}. ",
            (i * 104_729) % 1_000_000
        );
        while text.len() < 200 {
            text.push_str("Do not share it with anyone. ");
        }
        text.truncate(200);
        let parts = encode_deliver(&sender, &text, ts, (i % 65_536) as u16).expect("encodes");
        assert_eq!(parts.len(), 2);
        out.extend(parts.into_iter().map(|p| p.hex));
    }
    out
}

struct Outcome {
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// When each call returned, from the start.
    done: Vec<Duration>,
    messages: usize,
    parts: usize,
}

async fn push(gateway: &Gateway, pdus: Vec<String>, tasks: usize) -> Outcome {
    let pdus = Arc::new(pdus);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let gateway = gateway.clone();
        let pdus = pdus.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut done = Vec::new();
            let (mut messages, mut parts) = (0, 0);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pdus.len() {
                    break;
                }
                let t0 = Instant::now();
                let accepted = gateway
                    .accept_pdu(InboundPdu {
                        channel: format!("modem{}", t % 16),
                        to_number: Some(TO.into()),
                        provider: "modem".into(),
                        hex: pdus[i].clone(),
                    })
                    .await
                    .expect("accepted");
                lat.push(t0.elapsed());
                done.push(start.elapsed());
                match accepted {
                    Accepted::Message(_) => messages += 1,
                    Accepted::Part { .. } => parts += 1,
                    other => panic!("unexpected {other:?}"),
                }
            }
            (lat, done, messages, parts)
        }));
    }
    let mut latencies = Vec::new();
    let mut done = Vec::new();
    let (mut messages, mut parts) = (0, 0);
    for h in handles {
        let (l, d, m, p) = h.await.expect("task");
        latencies.extend(l);
        done.extend(d);
        messages += m;
        parts += p;
    }
    let elapsed = start.elapsed();
    latencies.sort();
    done.sort();
    Outcome {
        elapsed,
        latencies,
        done,
        messages,
        parts,
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// PDUs/s in each tenth of the run (by PDUs completed), to see whether it is sustained.
fn deciles(done: &[Duration]) -> String {
    let n = done.len();
    let mut out = Vec::new();
    let mut prev = Duration::ZERO;
    for k in 1..=10 {
        let end = done[(n * k / 10).max(1) - 1];
        let count = n * k / 10 - n * (k - 1) / 10;
        let secs = (end - prev).as_secs_f64().max(1e-9);
        out.push(format!("{:.0}", count as f64 / secs));
        prev = end;
    }
    out.join(" ")
}

fn count(db: &std::path::Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open for counting");
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

fn report(name: &str, pdus: usize, o: &Outcome, db: &std::path::Path) {
    let s = o.elapsed.as_secs_f64();
    println!(
        "{name}: {pdus} PDUs -> {} messages ({} parts waiting) in {:.3} s: {:.0} PDUs/s, {:.0} messages/s; accept_pdu latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; rows: inbound_pdus {}, messages {}",
        o.messages,
        o.parts,
        s,
        pdus as f64 / s,
        o.messages as f64 / s,
        pct(&o.latencies, 0.50),
        pct(&o.latencies, 0.99),
        pct(&o.latencies, 1.0),
        count(db, "inbound_pdus"),
        count(db, "messages"),
    );
    println!("  PDUs/s per tenth of the run: {}", deciles(&o.done));
}

fn main() {
    let n = env_usize("INBOUND_N", 20_000);
    let tasks = env_usize("INBOUND_TASKS", 64);
    let base = std::env::var_os("INBOUND_DIR").map(std::path::PathBuf::from);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("inbound bench: N={n} messages per run, {tasks} concurrent tasks");

    let single = single_pdus(n);
    let multi = multipart_pdus(n / 2);
    for (name, pdus, expect) in [("single-part", single, n), ("2-part", multi, n / 2)] {
        let dir = match &base {
            Some(b) => tempfile::tempdir_in(b),
            None => tempfile::tempdir(),
        }
        .expect("temp dir");
        let db = dir.path().join("simgate.db");
        let gateway = Gateway::open(&db).expect("gateway opens");
        let total = pdus.len();
        let outcome = rt.block_on(push(&gateway, pdus, tasks));
        assert_eq!(outcome.messages, expect, "every message stored once");
        report(name, total, &outcome, &db);
        drop(gateway);
        if std::env::var_os("INBOUND_KEEP").is_some() {
            println!(
                "  database kept at {}",
                dir.keep().join("simgate.db").display()
            );
        }
    }
}
