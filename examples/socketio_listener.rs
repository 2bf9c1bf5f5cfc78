//! A Socket.IO subscriber for `scripts/bench_latency.sh`: connects to a box with a
//! token, and for every `new_message` writes `DIR/sioN.json` = `{"t": <CLOCK_MONOTONIC
//! seconds at arrival>, "code": ...}`, the detect file the paced fake modem waits for
//! (it reads the same clock, Python's `time.monotonic()`).
//!
//! Usage: cargo run --release --example socketio_listener -- BASE_URL TOKEN DIR

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::FutureExt;
use rust_socketio::asynchronous::ClientBuilder;
use rust_socketio::Payload;
use serde_json::{json, Value};

/// CLOCK_MONOTONIC in seconds; `std::time::Instant` reads it but does not expose it.
fn monotonic_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC always exists on
    // Linux; the call writes only into it.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, token, dir] = args.as_slice() else {
        eprintln!("usage: socketio_listener BASE_URL TOKEN DIR");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let count = Arc::new(AtomicUsize::new(0));
    let (connected_tx, mut connected) = tokio::sync::mpsc::unbounded_channel::<()>();
    let client = ClientBuilder::new(base.as_str())
        .namespace("/")
        .auth(json!({ "token": token }))
        .on("new_message", move |payload: Payload, _| {
            let t = monotonic_seconds();
            let (dir, count) = (dir.clone(), count.clone());
            async move {
                let code = match payload {
                    Payload::Text(v) => v.first().map(|m| m["otp_code"].clone()),
                    _ => None,
                };
                let n = count.fetch_add(1, Ordering::Relaxed) + 1;
                let body = json!({ "t": t, "code": code.unwrap_or(Value::Null) }).to_string();
                // Written aside and renamed, so a reader never sees half a file.
                let tmp = dir.join(format!(".sio{n}.tmp"));
                let done = dir.join(format!("sio{n}.json"));
                if let Err(e) =
                    std::fs::write(&tmp, body).and_then(|_| std::fs::rename(&tmp, &done))
                {
                    eprintln!("cannot write {}: {e}", done.display());
                }
            }
            .boxed()
        })
        .on(rust_socketio::Event::Connect, move |_, _| {
            let tx = connected_tx.clone();
            async move {
                let _ = tx.send(());
            }
            .boxed()
        })
        .connect()
        .await
        .unwrap_or_else(|e| {
            eprintln!("cannot connect to {base}: {e}");
            std::process::exit(1);
        });
    if connected.recv().await.is_some() {
        println!("connected");
    }
    // Until killed.
    std::future::pending::<()>().await;
    drop(client);
}
