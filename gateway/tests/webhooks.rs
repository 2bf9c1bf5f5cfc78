//! Webhook deliveries against a local HTTP receiver (axum) that fails, hangs past the
//! timeout, redirects and answers garbage before it recovers: every event arrives,
//! signed, in order; a user's webhook sees only that user's events; a webhook failing
//! for longer than the limit is disabled with a `webhook_disabled` event.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use drivers::pdu::{encode_deliver, Timestamp};
use gateway::inbound::InboundPdu;
use gateway::numbers::NumberRegistration;
use gateway::users::NewUser;
use gateway::webhooks::{self, NewWebhook, WebhookConfig, WebhooksHandle};
use gateway::Gateway;
use serde_json::Value;

#[derive(Clone, Debug)]
struct Hit {
    path: String,
    status: u16,
    signature: String,
    delivery: String,
    event: String,
    body: Vec<u8>,
}

/// How the receiver answers its n-th request (0-based).
type Script = fn(usize) -> Behaviour;

#[derive(Clone, Copy)]
enum Behaviour {
    Fail,
    Hang,
    Redirect,
    Garbage,
    Ok,
}

#[derive(Clone)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    script: Script,
}

async fn receive(
    State(r): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let n = r.hits.lock().expect("hits").len();
    let behaviour = (r.script)(n);
    let status = match behaviour {
        Behaviour::Fail => 500,
        Behaviour::Hang => 0,
        Behaviour::Redirect => 307,
        Behaviour::Garbage | Behaviour::Ok => 200,
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    r.hits.lock().expect("hits").push(Hit {
        path: uri.path().to_string(),
        status,
        signature: header("x-simgate-signature"),
        delivery: header("x-simgate-delivery"),
        event: header("x-simgate-event"),
        body: body.to_vec(),
    });
    match behaviour {
        Behaviour::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response(),
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (StatusCode::OK, "too late").into_response()
        }
        Behaviour::Redirect => (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", "/elsewhere")],
            "",
        )
            .into_response(),
        Behaviour::Garbage => (StatusCode::OK, "<<<\u{0}not json").into_response(),
        Behaviour::Ok => (StatusCode::OK, "{}").into_response(),
    }
}

/// Starts the receiver; returns its base URL and what it saw.
async fn receiver(script: Script) -> (String, Arc<Mutex<Vec<Hit>>>) {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route("/{*path}", post(receive))
        .with_state(Receiver {
            hits: hits.clone(),
            script,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), hits)
}

fn fast() -> WebhookConfig {
    WebhookConfig {
        timeout: Duration::from_millis(500),
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        give_up_after: Duration::from_secs(3600),
    }
}

fn pdu(to: &str, from: &str, text: &str) -> InboundPdu {
    let ts = Timestamp::from_datetime(
        chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+00:00").expect("valid"),
    );
    let hex = encode_deliver(from, text, ts, 0)
        .expect("encodes")
        .remove(0)
        .hex;
    InboundPdu {
        channel: "usb0".into(),
        to_number: Some(to.into()),
        provider: "modem".into(),
        hex,
    }
}

async fn setup() -> (tempfile::TempDir, Gateway, i64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    for number in ["+15550100001", "+15550100002"] {
        gateway
            .register_number(NumberRegistration {
                number: number.into(),
                country: None,
                provider: "modem".into(),
                channel: "usb0".into(),
            })
            .await
            .expect("number");
    }
    let admin = user(&gateway, "admin@example.com", true).await;
    (dir, gateway, admin)
}

async fn user(gateway: &Gateway, email: &str, admin: bool) -> i64 {
    gateway
        .create_user(NewUser {
            email: Some(email.into()),
            admin,
            ..NewUser::default()
        })
        .await
        .expect("user")
        .id
}

async fn start(gateway: &Gateway, config: WebhookConfig) -> WebhooksHandle {
    gateway.start_webhooks(config).await.expect("dispatcher")
}

/// Waits until `hits` holds `n` successful deliveries.
async fn wait_delivered(hits: &Arc<Mutex<Vec<Hit>>>, n: usize) -> Vec<Hit> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok: Vec<Hit> = hits
            .lock()
            .expect("hits")
            .iter()
            .filter(|h| h.status == 200)
            .cloned()
            .collect();
        if ok.len() >= n {
            return ok;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {n} delivered: {:?}",
            ok.len(),
            hits.lock().expect("hits")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_signed_and_in_order_through_failures_timeouts_and_redirects() {
    let (_dir, gateway, admin) = setup().await;
    // Down, hanging past the timeout, redirecting, answering garbage, then fine.
    let (base, hits) = receiver(|n| match n {
        0 => Behaviour::Fail,
        1 => Behaviour::Hang,
        2 => Behaviour::Redirect,
        3 => Behaviour::Garbage,
        _ => Behaviour::Ok,
    })
    .await;
    let hook = gateway
        .create_webhook(NewWebhook {
            user_id: admin,
            url: format!("{base}/hook"),
            events: vec![],
            secret: None,
        })
        .await
        .expect("webhook");
    assert!(hook.secret.starts_with("whsec_"));
    let _dispatcher = start(&gateway, fast()).await;

    let texts = [
        ("WhatsApp", "Your WhatsApp code is 483-921"),
        ("+12025550123", "See you at eight"),
        ("Telegram", "Telegram code: 55821"),
        ("+12025550123", "Bring the cake"),
        ("+12025550123", "Or a pie"),
    ];
    for (from, text) in texts {
        gateway
            .accept_pdu(pdu("+15550100001", from, text))
            .await
            .expect("stored");
    }
    // Five sms.received and two otp.received; the garbage answer was a 200: success.
    let ok = wait_delivered(&hits, 7).await;
    let events: Vec<(String, String)> = ok
        .iter()
        .map(|h| {
            let v = json(&h.body);
            (
                v["event"].as_str().expect("event").to_string(),
                v["data"]["text"]
                    .as_str()
                    .or(v["data"]["code"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (
                "sms.received".into(),
                "Your WhatsApp code is 483-921".into()
            ),
            ("otp.received".into(), "483921".into()),
            ("sms.received".into(), "See you at eight".into()),
            ("sms.received".into(), "Telegram code: 55821".into()),
            ("otp.received".into(), "55821".into()),
            ("sms.received".into(), "Bring the cake".into()),
            ("sms.received".into(), "Or a pie".into()),
        ]
    );
    let all = hits.lock().expect("hits").clone();
    // The first delivery was tried through every failure: the same id, the same bytes.
    assert!(all[..4].iter().all(|h| h.delivery == all[0].delivery));
    assert!(all[..4].iter().all(|h| h.body == all[0].body));
    let now = chrono::Utc::now().timestamp();
    for h in &all {
        assert!(
            webhooks::verify(&hook.secret, &h.signature, &h.body, now, 300),
            "bad signature {} on {}",
            h.signature,
            String::from_utf8_lossy(&h.body)
        );
        assert!(!webhooks::verify(
            "whsec_wrong_wrong_wrong",
            &h.signature,
            &h.body,
            now,
            300
        ));
        assert_eq!(h.event, json(&h.body)["event"]);
        assert_eq!(h.path, "/hook", "redirects are not followed");
    }
    // The NexNum seed's payload, exactly.
    let first = json(&ok[0].body);
    let keys: Vec<&str> = first["data"]
        .as_object()
        .expect("data")
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["code", "numberId", "phone", "receivedAt", "sender", "text"]
    );
    assert_eq!(first["data"]["phone"], "+15550100001");
    assert_eq!(first["data"]["code"], "483921");
    assert_eq!(first["data"]["sender"], "WhatsApp");
    assert!(first["data"]["numberId"]
        .as_str()
        .is_some_and(|n| n.starts_with("num_")));
    assert_eq!(
        first.as_object().expect("object").len(),
        2,
        "only event and data"
    );
    assert!(json(&ok[2].body)["data"]["code"].is_null());

    // The delivery log shows the attempts.
    let log = gateway
        .webhook_deliveries(hook.id, Some(admin), 50)
        .await
        .expect("log");
    assert_eq!(log.len(), 7);
    let oldest = log.last().expect("the first delivery");
    assert_eq!((oldest.attempts, oldest.status.as_str()), (4, "delivered"));
    assert_eq!(oldest.last_status, Some(200));
    let hook = gateway.webhook(hook.id, None).await.expect("webhook");
    assert!(hook.enabled && hook.failing_since.is_none() && hook.pending == 0);
    assert_eq!(hook.last_status, Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_webhook_sees_only_that_users_events_and_an_admins_sees_all() {
    let (_dir, gateway, admin) = setup().await;
    let alice = user(&gateway, "alice@example.com", false).await;
    let bob = user(&gateway, "bob@example.com", false).await;
    gateway
        .assign_number(alice, "+15550100001".into(), 3600)
        .await
        .expect("lease");
    let (base, hits) = receiver(|_| Behaviour::Ok).await;
    for (owner, path, events) in [
        (alice, "alice", vec!["sms.received".to_string()]),
        (bob, "bob", vec![]),
        (admin, "admin", vec!["sms.received".to_string()]),
    ] {
        gateway
            .create_webhook(NewWebhook {
                user_id: owner,
                url: format!("{base}/{path}"),
                events,
                secret: Some(format!("{path}-secret-0123456789")),
            })
            .await
            .expect("webhook");
    }
    let dispatcher = start(&gateway, fast()).await;
    gateway
        .accept_pdu(pdu("+15550100001", "Bank", "Alice's code 111222"))
        .await
        .expect("stored");
    gateway
        .accept_pdu(pdu("+15550100002", "Bank", "Nobody's code 333444"))
        .await
        .expect("stored");
    wait_delivered(&hits, 3).await;
    // Stopped: what arrives meanwhile is delivered after the restart.
    drop(dispatcher);
    gateway
        .accept_pdu(pdu("+15550100001", "Bank", "While stopped"))
        .await
        .expect("stored");
    let _dispatcher = start(&gateway, fast()).await;
    wait_delivered(&hits, 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = |path: &str| -> Vec<String> {
        hits.lock()
            .expect("hits")
            .iter()
            .filter(|h| h.path == path)
            .map(|h| {
                json(&h.body)["data"]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    assert_eq!(seen("/alice"), ["Alice's code 111222", "While stopped"]);
    assert!(seen("/bob").is_empty());
    assert_eq!(
        seen("/admin"),
        [
            "Alice's code 111222",
            "Nobody's code 333444",
            "While stopped"
        ]
    );
    // Bad registrations are refused with a reason.
    for (url, events) in [
        ("ftp://example.com/x", vec![]),
        ("not a url", vec![]),
        ("http://example.com/x", vec!["sms.sent".to_string()]),
    ] {
        let err = gateway
            .create_webhook(NewWebhook {
                user_id: bob,
                url: url.into(),
                events,
                secret: None,
            })
            .await
            .expect_err("refused");
        assert!(matches!(err, gateway::GatewayError::Invalid(_)), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_keeps_failing_is_disabled_with_a_notification() {
    let (_dir, gateway, admin) = setup().await;
    let mut probe = gateway
        .durable_subscriber("probe")
        .await
        .expect("subscriber");
    let (base, hits) = receiver(|_| Behaviour::Fail).await;
    let hook = gateway
        .create_webhook(NewWebhook {
            user_id: admin,
            url: format!("{base}/down"),
            events: vec![],
            secret: None,
        })
        .await
        .expect("webhook");
    let mut config = fast();
    config.give_up_after = Duration::from_secs(1);
    let _dispatcher = start(&gateway, config).await;
    gateway
        .accept_pdu(pdu("+15550100001", "Bank", "one"))
        .await
        .expect("stored");
    gateway
        .accept_pdu(pdu("+15550100001", "Bank", "two"))
        .await
        .expect("stored");
    let deadline = Instant::now() + Duration::from_secs(20);
    let hook = loop {
        let h = gateway.webhook(hook.id, None).await.expect("webhook");
        if !h.enabled {
            break h;
        }
        assert!(Instant::now() < deadline, "never disabled: {h:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(hook.disabled_reason.is_some_and(|r| r.contains("500")));
    assert!(hits.lock().expect("hits").len() >= 2);
    // Nothing was delivered out of order: "two" was never tried before "one" succeeded.
    assert!(hits
        .lock()
        .expect("hits")
        .iter()
        .all(|h| json(&h.body)["data"]["text"] == "one"));
    let log = gateway
        .webhook_deliveries(hook.id, None, 10)
        .await
        .expect("log");
    assert!(log.iter().all(|d| d.status == "failed"), "{log:?}");
    let mut kinds = Vec::new();
    while !kinds.iter().any(|k| k == "webhook_disabled") {
        let batch = tokio::time::timeout(Duration::from_secs(5), probe.next_batch(50))
            .await
            .expect("the event log has the notification")
            .expect("batch");
        for e in &batch {
            if e.kind == "webhook_disabled" {
                assert_eq!(e.user_id, Some(admin));
                assert_eq!(e.payload["webhook_id"], hook.id);
            }
            kinds.push(e.kind.clone());
        }
        if let Some(last) = batch.last() {
            probe.ack(last.id).await.expect("ack");
        }
    }
}
