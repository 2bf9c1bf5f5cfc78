//! The outbound queue against channels whose behaviour the test scripts: failover,
//! retries with backoff, limits, status reports, and a crash mid-send. (The real modem
//! path is proven against the emulator in channels' own tests.)

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway::outbound::{
    BoxFuture, ChannelLimits, DeliveryStatus, RetryPolicy, SendChannel, SendFailure, SendRequest,
    Sent,
};
use gateway::{Event, Gateway};

/// A channel that answers each send with the next scripted result (then succeeds).
struct Scripted {
    name: String,
    number: String,
    script: Mutex<VecDeque<Result<(), SendFailure>>>,
    sent: Mutex<Vec<(String, String)>>,
    next_ref: Mutex<u32>,
}

impl Scripted {
    fn new(name: &str, number: &str, script: Vec<Result<(), SendFailure>>) -> Arc<Scripted> {
        Arc::new(Scripted {
            name: name.into(),
            number: number.into(),
            script: Mutex::new(script.into()),
            sent: Mutex::new(Vec::new()),
            next_ref: Mutex::new(0),
        })
    }

    fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().expect("test lock").clone()
    }
}

fn fail(retryable: bool, message: &str) -> Result<(), SendFailure> {
    Err(SendFailure {
        retryable,
        message: message.into(),
    })
}

impl SendChannel for Scripted {
    fn name(&self) -> &str {
        &self.name
    }
    fn provider(&self) -> &str {
        "modem"
    }
    fn number(&self) -> Option<String> {
        Some(self.number.clone())
    }
    fn is_ready(&self) -> bool {
        true
    }
    fn send<'a>(
        &'a self,
        to: &'a str,
        text: &'a str,
        _status_report: bool,
    ) -> BoxFuture<'a, Result<Sent, SendFailure>> {
        Box::pin(async move {
            let step = self.script.lock().expect("test lock").pop_front();
            if let Some(Err(f)) = step {
                return Err(f);
            }
            self.sent
                .lock()
                .expect("test lock")
                .push((to.to_string(), text.to_string()));
            let mut r = self.next_ref.lock().expect("test lock");
            *r += 1;
            Ok(Sent {
                references: vec![r.to_string()],
            })
        })
    }
}

async fn open() -> (tempfile::TempDir, Gateway) {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("simgate.db")).expect("database opens");
    gateway.set_outbound_policy(
        ChannelLimits::default(),
        RetryPolicy {
            max_rounds: 3,
            first_backoff: Duration::from_millis(20),
        },
    );
    (dir, gateway)
}

fn request(to: &str, text: &str) -> SendRequest {
    SendRequest {
        to: to.into(),
        text: text.into(),
        status_report: true,
        ..SendRequest::default()
    }
}

async fn wait_status(gateway: &Gateway, id: i64, want: &str) -> gateway::outbound::OutboundJob {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = gateway.outbound_job(id, None).await.expect("job exists");
        if job.status == want {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} stuck in {} ({:?}), wanted {want}",
            job.status,
            job.error
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_failing_channel_fails_over_to_the_next() {
    let (_dir, gateway) = open().await;
    let a = Scripted::new(
        "sim-a",
        "+15550100001",
        vec![fail(true, "+CMS ERROR: 38 network out of order")],
    );
    let b = Scripted::new("sim-b", "+15550100002", vec![]);
    gateway.add_send_channel(a.clone()).await;
    gateway.add_send_channel(b.clone()).await;
    gateway.start_dispatcher().await.expect("dispatcher");
    let mut events = gateway.events().subscribe();

    let job = gateway
        .enqueue_send(request("+12025550123", "hello"))
        .await
        .expect("queued");
    assert_eq!(job.status, "queued");
    let job = wait_status(&gateway, job.id, "sent").await;
    // Both are US numbers and unused: whichever went first failed, the other sent it.
    let (failed, sender) = if a.sent().is_empty() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert!(failed.sent().is_empty());
    assert_eq!(
        sender.sent(),
        vec![("+12025550123".to_string(), "hello".to_string())]
    );
    assert_eq!(job.channel.as_deref(), Some(sender.name.as_str()));
    assert_eq!(job.attempts, 2);

    // A status report for the reference it got marks it delivered, with an event.
    let matched = gateway
        .record_delivery_status(&sender.name, "1", DeliveryStatus::Delivered)
        .await
        .expect("recorded");
    assert_eq!(matched, Some(job.id));
    let job = wait_status(&gateway, job.id, "delivered").await;
    assert!(job.delivered_at.is_some());
    let mut seen = Vec::new();
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
        if let Event::SmsStatus { status, .. } = e {
            seen.push(status);
        }
    }
    assert_eq!(seen, ["sent", "delivered"]);
}

#[tokio::test]
async fn retries_back_off_and_then_fail() {
    let (_dir, gateway) = open().await;
    let a = Scripted::new(
        "sim-a",
        "+15550100001",
        vec![
            fail(true, "timeout"),
            fail(true, "timeout"),
            fail(true, "timeout"),
        ],
    );
    gateway.add_send_channel(a.clone()).await;
    gateway.start_dispatcher().await.expect("dispatcher");
    let job = gateway
        .enqueue_send(request("+12025550123", "hello"))
        .await
        .expect("queued");
    let job = wait_status(&gateway, job.id, "failed").await;
    assert_eq!(job.attempts, 3);
    assert!(job.error.as_deref().unwrap_or("").contains("timeout"));

    // A refusal that no retry can fix fails at once.
    let b = Scripted::new(
        "sim-b",
        "+15550100002",
        vec![fail(false, "invalid destination")],
    );
    gateway.remove_send_channel("sim-a").await;
    gateway.add_send_channel(b).await;
    let job = gateway
        .enqueue_send(request("+12025550124", "hello"))
        .await
        .expect("queued");
    let job = wait_status(&gateway, job.id, "failed").await;
    assert_eq!(job.attempts, 1);
}

#[tokio::test]
async fn the_requested_number_is_used_and_limits_spread_the_load() {
    let (_dir, gateway) = open().await;
    gateway.set_outbound_policy(
        ChannelLimits {
            per_minute: 1,
            per_day: 100,
        },
        RetryPolicy::default(),
    );
    let us = Scripted::new("sim-us", "+15550100001", vec![]);
    let gb = Scripted::new("sim-gb", "+447700900002", vec![]);
    gateway.add_send_channel(us.clone()).await;
    gateway.add_send_channel(gb.clone()).await;
    gateway.start_dispatcher().await.expect("dispatcher");

    // Asked for the GB SIM: it goes out there even to a US number.
    let mut req = request("+12025550123", "from gb");
    req.from = Some("+447700900002".into());
    let job = gateway.enqueue_send(req).await.expect("queued");
    let job = wait_status(&gateway, job.id, "sent").await;
    assert_eq!(job.channel.as_deref(), Some("sim-gb"));

    // To a US number the US SIM comes first; once it is at its per-minute limit, the
    // next goes out through the GB SIM... which is at its limit too, so it waits.
    let first = gateway
        .enqueue_send(request("+12025550125", "one"))
        .await
        .expect("queued");
    let first = wait_status(&gateway, first.id, "sent").await;
    assert_eq!(first.channel.as_deref(), Some("sim-us"));
    let second = gateway
        .enqueue_send(request("+12025550126", "two"))
        .await
        .expect("queued");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = gateway.outbound_job(second.id, None).await.expect("job");
    assert_eq!(second.status, "queued", "{second:?}");
    assert!(second.error.unwrap_or_default().contains("limits"));
}

#[tokio::test]
async fn bad_requests_are_refused_before_they_are_queued() {
    let (_dir, gateway) = open().await;
    for (to, text) in [
        ("", "x"),
        ("not a number", "x"),
        ("+1555", ""),
        ("+1+1", "x"),
    ] {
        assert!(
            gateway.enqueue_send(request(to, text)).await.is_err(),
            "{to:?} {text:?}"
        );
    }
    let long = "x".repeat(255 * 67 + 1);
    assert!(gateway.enqueue_send(request("+1555", &long)).await.is_err());
}

#[tokio::test]
async fn a_job_interrupted_mid_send_is_sent_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("simgate.db");
    let gateway = Gateway::open(&db).expect("opens");
    let job = gateway
        .enqueue_send(request("+12025550123", "survives"))
        .await
        .expect("queued");
    drop(gateway);
    // A crash mid-send leaves it `sending`.
    let side = rusqlite::Connection::open(&db).expect("side connection");
    side.execute("UPDATE outbound_jobs SET status = 'sending'", [])
        .expect("update");
    drop(side);

    let gateway = Gateway::open(&db).expect("reopens");
    let a = Scripted::new("sim-a", "+15550100001", vec![]);
    gateway.add_send_channel(a.clone()).await;
    gateway.start_dispatcher().await.expect("dispatcher");
    wait_status(&gateway, job.id, "sent").await;
    assert_eq!(a.sent().len(), 1);
}
