//! `simgate emulate`: one emulated modem in its own process, so that its SIM memory
//! outlives a gateway process (the crash test of issue 5), and a person can point a real
//! configuration at it.
//!
//! It opens a pty (the modem side stays here), optionally makes a stable symlink to the
//! slave for the gateway's configuration, keeps the SIM memory in a file when asked, and
//! serves a small control API on a loopback address:
//!
//! - `POST /sms` `{"from": "+1202...", "text": "..."}` or `{"pdus": ["07..."]}`: an SMS
//!   arrives now (`507` when the SIM is full).
//! - `POST /burst` `{"count": 1000, "from": "+1202...", "text_prefix": "burst "}`:
//!   `count` SMS (`text_prefix` followed by 0, 1, ...) arrive as fast as the SIM takes
//!   them, waiting for free slots when it is full (real SIMs hold about 30). Answers
//!   `202` at once; `GET /sim` shows the progress.
//! - `GET /sim`: the SIM memory and the counters.
//! - `GET /sent`: the SUBMIT PDUs the modem accepted, with their references.
//!
//! On start it prints one JSON line on stdout: `{"port", "link", "control", "number"}`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use drivers::emulator::{self, EmulatorConfig, EmulatorError, EmulatorHandle};
use serde::Deserialize;
use serde_json::json;

/// What `simgate emulate` takes.
#[derive(Debug, Clone)]
pub struct EmulateArgs {
    /// The SIM's number (`AT+CNUM`), e.g. `+15550100001`.
    pub number: String,
    /// A symlink created to the pty slave (`/tmp/simgate-modem0`), replaced if it is a
    /// stale symlink, removed on exit; the gateway's configuration names this path.
    pub link: Option<PathBuf>,
    /// File that holds the SIM memory across emulator restarts.
    pub sim_file: Option<PathBuf>,
    /// Address of the control API; must be a loopback address. Port 0 picks a free one
    /// (printed on start).
    pub control: SocketAddr,
    /// SIM storage slots.
    pub capacity: usize,
    /// Identify as a model of this profile (`huawei`, `quectel`, ...); `None`: simgate.
    pub profile: Option<String>,
}

impl Default for EmulateArgs {
    fn default() -> Self {
        EmulateArgs {
            number: "+15550100001".to_string(),
            link: None,
            sim_file: None,
            control: SocketAddr::from(([127, 0, 0, 1], 0)),
            capacity: 30,
            profile: None,
        }
    }
}

struct Emu {
    handle: EmulatorHandle,
    /// SMS put on the SIM through the control API.
    delivered: AtomicU64,
    /// Burst SMS not yet on the SIM.
    pending: AtomicU64,
}

type Shared = Arc<Emu>;

/// Runs the emulator until SIGINT or SIGTERM.
pub async fn run(args: EmulateArgs) -> Result<(), String> {
    if !args.control.ip().is_loopback() {
        return Err(format!(
            "the control address {} is not a loopback address: anyone could inject SMS",
            args.control
        ));
    }
    if args.capacity == 0 {
        return Err("the SIM needs at least one slot".into());
    }
    let mut config = EmulatorConfig {
        number: args.number.clone(),
        capacity: args.capacity,
        sim_file: args.sim_file.clone(),
        ..EmulatorConfig::default()
    };
    if let Some(profile) = &args.profile {
        config = config
            .with_profile(profile)
            .ok_or_else(|| format!("unknown modem profile {profile:?}"))?;
    }
    let handle = emulator::spawn(config)
        .await
        .map_err(|e| format!("cannot open a pseudo-terminal: {e}"))?;
    let port = handle.port_path().to_string();
    if let Some(link) = &args.link {
        make_link(link, Path::new(&port))?;
    }
    let listener = tokio::net::TcpListener::bind(args.control)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.control))?;
    let control = listener
        .local_addr()
        .map_err(|e| format!("control address: {e}"))?;
    let shared = Arc::new(Emu {
        handle,
        delivered: AtomicU64::new(0),
        pending: AtomicU64::new(0),
    });
    let app = Router::new()
        .route("/sms", post(sms))
        .route("/burst", post(burst))
        .route("/sim", get(sim))
        .route("/sent", get(sent))
        .with_state(shared.clone());
    println!(
        "{}",
        json!({
            "port": port,
            "link": args.link.as_ref().map(|l| l.display().to_string()),
            "control": format!("http://{control}"),
            "number": args.number,
        })
    );
    tracing::info!(%port, %control, "emulated modem running");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("control API failed: {e}"));
    if let Some(link) = &args.link {
        let _ = std::fs::remove_file(link);
    }
    served
}

/// Points `link` at the pty slave; an existing symlink (left by a killed emulator) is
/// replaced, anything else at that path is an error.
fn make_link(link: &Path, target: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::remove_file(link)
            .map_err(|e| format!("cannot replace {}: {e}", link.display()))?,
        Ok(_) => {
            return Err(format!(
                "{} exists and is not a symlink; not replacing it",
                link.display()
            ))
        }
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| {
        format!(
            "cannot link {} to {}: {e}",
            link.display(),
            target.display()
        )
    })
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn delivery_error(e: EmulatorError) -> Response {
    match e {
        EmulatorError::MemoryFull { .. } => error(StatusCode::INSUFFICIENT_STORAGE, e.to_string()),
        EmulatorError::Stopped => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        EmulatorError::Encode(_) | EmulatorError::BadPdu(_) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SmsBody {
    Text { from: String, text: String },
    Pdus { pdus: Vec<String> },
}

async fn sms(State(emu): State<Shared>, body: Option<Json<SmsBody>>) -> Response {
    let Some(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"from\", \"text\"} or {\"pdus\": [...]}",
        );
    };
    let result = match body {
        SmsBody::Text { from, text } => emu.handle.deliver_text(&from, &text).await,
        SmsBody::Pdus { pdus } => emu.handle.deliver_pdus(pdus).await,
    };
    match result {
        Ok(indices) => {
            emu.delivered.fetch_add(1, Ordering::Relaxed);
            Json(json!({ "indices": indices })).into_response()
        }
        Err(e) => delivery_error(e),
    }
}

#[derive(Deserialize)]
struct BurstBody {
    count: u64,
    from: String,
    #[serde(default)]
    text_prefix: String,
}

async fn burst(State(emu): State<Shared>, body: Option<Json<BurstBody>>) -> Response {
    let Some(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"count\", \"from\", \"text_prefix\"}",
        );
    };
    emu.pending.fetch_add(body.count, Ordering::Relaxed);
    let task_emu = emu.clone();
    tokio::spawn(async move {
        let emu = task_emu;
        for i in 0..body.count {
            let text = format!("{}{i}", body.text_prefix);
            loop {
                match emu.handle.deliver_text(&body.from, &text).await {
                    Ok(_) => break,
                    // The SIM is full: wait until the host deletes something.
                    Err(EmulatorError::MemoryFull { .. }) => {
                        tokio::time::sleep(Duration::from_millis(2)).await
                    }
                    Err(e) => {
                        tracing::error!("burst stopped at {i}: {e}");
                        emu.pending.fetch_sub(body.count - i, Ordering::Relaxed);
                        return;
                    }
                }
            }
            emu.pending.fetch_sub(1, Ordering::Relaxed);
            emu.delivered.fetch_add(1, Ordering::Relaxed);
        }
    });
    (StatusCode::ACCEPTED, Json(json!({ "queued": body.count }))).into_response()
}

async fn sim(State(emu): State<Shared>) -> Json<serde_json::Value> {
    let messages: Vec<_> = emu
        .handle
        .sim_contents()
        .await
        .into_iter()
        .map(|(index, pdu)| json!({ "index": index, "pdu": pdu }))
        .collect();
    Json(json!({
        "capacity": emu.handle.capacity().await,
        "used": messages.len(),
        "messages": messages,
        "delivered": emu.delivered.load(Ordering::Relaxed),
        "pending": emu.pending.load(Ordering::Relaxed),
    }))
}

async fn sent(State(emu): State<Shared>) -> Json<serde_json::Value> {
    let sent: Vec<_> = emu
        .handle
        .sent_pdus()
        .await
        .into_iter()
        .map(|(mr, pdu)| json!({ "message_reference": mr, "pdu": pdu }))
        .collect();
    Json(json!(sent))
}
