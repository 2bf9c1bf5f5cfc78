//! `GET /api/metrics` in the Prometheus text format, rendered from our own route
//! (metrics-exporter-prometheus without its HTTP listener).
//!
//! - `simgate_messages_received_total{channel,provider}` and
//!   `simgate_otps_extracted_total{channel}`: counted from the gateway's committed
//!   `new_message` events (a subscriber that lags behind a burst undercounts; the
//!   messages themselves are stored).
//! - `simgate_messages_sent_total{channel}` (each job sent, by the channel that took
//!   it) and `simgate_sms_status_total{status}` (sent, delivered, undelivered, failed):
//!   counted from the committed `sms_status` events.
//! - `simgate_outbound_queue_depth{status}`: jobs `queued` and `sending`, read from
//!   the queue's index at scrape time.
//! - `simgate_modem_up{modem}`, `simgate_modem_state{modem,state}`,
//!   `simgate_modem_signal_dbm{modem}`, `simgate_modem_signal_bars{modem}`: read from
//!   the drivers at scrape time.
//! - `simgate_http_requests_total{method,route,status}` and
//!   `simgate_http_request_duration_seconds{method,route}` (histogram): every API
//!   request, by its route pattern (`/api/messages/{message_id}`), so ids do not make
//!   new series.
//! - `simgate_http_rate_limited_total{class}`.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::broadcast::error::RecvError;

use gateway::{Event, Gateway};

use crate::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, in seconds: a loopback API answers in well under a millisecond.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the process-wide recorder once; `None` if another recorder was installed
/// first (the route then says so instead of rendering).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("simgate_http_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    let upkeep = handle.clone();
                    // Histogram upkeep; the task ends with the runtime.
                    if let Ok(rt) = tokio::runtime::Handle::try_current() {
                        rt.spawn(async move {
                            let mut tick = tokio::time::interval(Duration::from_secs(10));
                            loop {
                                tick.tick().await;
                                upkeep.run_upkeep();
                            }
                        });
                    }
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!("cannot install the Prometheus recorder: {e}");
                    None
                }
            }
        })
        .as_ref()
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

/// Counts received messages, extracted codes and outbound outcomes from the event bus,
/// for the life of the server.
pub fn count_events(gateway: &Gateway) {
    let _ = handle();
    let mut rx = gateway.events().subscribe();
    let gateway = gateway.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(Event::NewMessage { message, .. }) => {
                    metrics::counter!(
                        "simgate_messages_received_total",
                        "channel" => message.channel.clone(),
                        "provider" => message.provider.clone()
                    )
                    .increment(1);
                    if message.otp_code.is_some() {
                        metrics::counter!(
                            "simgate_otps_extracted_total",
                            "channel" => message.channel.clone()
                        )
                        .increment(1);
                    }
                }
                Ok(Event::SmsStatus { job_id, status, .. }) => {
                    if status == "sent" {
                        // The event names the job; the job names the channel.
                        match gateway.outbound_job(job_id, None).await {
                            Ok(job) => metrics::counter!(
                                "simgate_messages_sent_total",
                                "channel" => job.channel.unwrap_or_default()
                            )
                            .increment(1),
                            Err(e) => tracing::warn!(job = job_id, "metrics: {e}"),
                        }
                    }
                    metrics::counter!("simgate_sms_status_total", "status" => status).increment(1);
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("metrics lagged behind the event bus by {n} events");
                    metrics::counter!("simgate_metrics_events_skipped_total").increment(n);
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// The names of `drivers::modem::ModemState` as it serializes them.
const MODEM_STATES: &[&str] = &[
    "connecting",
    "initializing",
    "ready",
    "no_sim",
    "pin_required",
    "not_registered",
    "failed",
    "stopped",
];

async fn render(State(state): State<AppState>) -> Response {
    let Some(handle) = handle() else {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        )
            .into_response();
    };
    for m in state.gateway.modem_statuses().await {
        let name = m.name.clone();
        let current = serde_json::to_value(m.state)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        for s in MODEM_STATES {
            let v = if *s == current { 1.0 } else { 0.0 };
            metrics::gauge!("simgate_modem_state", "modem" => name.clone(), "state" => *s).set(v);
        }
        let up = if current == "ready" { 1.0 } else { 0.0 };
        metrics::gauge!("simgate_modem_up", "modem" => name.clone()).set(up);
        if let Some(dbm) = m.signal_dbm {
            metrics::gauge!("simgate_modem_signal_dbm", "modem" => name.clone())
                .set(f64::from(dbm));
        }
        if let Some(bars) = m.signal_bars {
            metrics::gauge!("simgate_modem_signal_bars", "modem" => name.clone())
                .set(f64::from(bars));
        }
    }
    match state.gateway.queue_depth().await {
        Ok(depth) => {
            for status in ["queued", "sending"] {
                let n = depth
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("simgate_outbound_queue_depth", "status" => status).set(n as f64);
            }
        }
        Err(e) => tracing::warn!("metrics: cannot read the queue depth: {e}"),
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
