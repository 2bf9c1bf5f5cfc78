//! The webhook API of the real binary: a user registers a webhook (the secret is shown
//! once), an SMS routed to their lease arrives at a local receiver in the NexNum seed's
//! shape with a valid signature, the delivery log shows it, a test delivery is queued,
//! another user cannot see or delete it, bad input is a VALIDATION_ERROR.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use common::{assert_error, data_of, Demo};
use reqwest::Method;
use serde_json::{json, Value};

type Hits = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

async fn receiver() -> (String, Hits) {
    let hits: Hits = Arc::default();
    let h = hits.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let h = h.clone();
            async move {
                let sig = headers
                    .get("x-simgate-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                h.lock().expect("hits").push((sig, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), hits)
}

async fn wait_hits(hits: &Hits, n: usize) -> Vec<(String, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = hits.lock().expect("hits").clone();
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "{} of {n} deliveries", got.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_registers_a_webhook_and_receives_signed_deliveries() {
    let demo = Demo::start().await;
    let admin = demo.admin_token().await;
    let alice = demo.register("alice@example.com").await;
    let bob = demo.register("bob@example.com").await;
    demo.assign(&alice, "+15550100001", 3600).await;
    let (url, hits) = receiver().await;

    let (status, body) = demo
        .call(
            Method::POST,
            "/api/webhooks",
            Some(&alice),
            Some(json!({"url": url, "events": ["sms.received"]})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let hook = &data_of(&body)["webhook"];
    let id = hook["id"].as_str().expect("id").to_string();
    let secret = hook["secret"]
        .as_str()
        .expect("secret shown once")
        .to_string();
    assert!(id.starts_with("wh_"));

    demo.inject(&admin, "+15550100001", "Telegram", "Telegram code: 55821")
        .await;
    let got = wait_hits(&hits, 1).await;
    let (sig, raw) = &got[0];
    let now = chrono::Utc::now().timestamp();
    assert!(
        gateway::webhooks::verify(&secret, sig, raw, now, 300),
        "{sig}"
    );
    let delivered: Value = serde_json::from_slice(raw).expect("json");
    assert_eq!(delivered["event"], "sms.received");
    assert_eq!(delivered["data"]["phone"], "+15550100001");
    assert_eq!(delivered["data"]["code"], "55821");
    assert_eq!(delivered["data"]["sender"], "Telegram");

    // The list never shows the secret; the log shows the delivery.
    let (status, body) = demo
        .call(Method::GET, "/api/webhooks", Some(&alice), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let listed = &data_of(&body)["webhooks"][0];
    assert_eq!(listed["id"], id.as_str());
    assert!(listed.get("secret").is_none());
    let path = format!("/api/webhooks/{id}/deliveries");
    let (status, body) = demo.call(Method::GET, &path, Some(&alice), None).await;
    assert_eq!(status, 200, "{body}");
    let log = &data_of(&body)["deliveries"];
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["last_status"], 200);

    // A test delivery goes the same way.
    let (status, body) = demo
        .call(
            Method::POST,
            &format!("/api/webhooks/{id}/test"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let got = wait_hits(&hits, 2).await;
    let test: Value = serde_json::from_slice(&got[1].1).expect("json");
    assert_eq!(test["event"], "webhook.test");

    // Bob sees nothing of Alice's and cannot delete it; bad input is refused.
    let (status, body) = demo
        .call(
            Method::GET,
            &format!("/api/webhooks/{id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    let (status, body) = demo
        .call(
            Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&bob),
            None,
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    for bad in [
        json!({"url": "ftp://example.com"}),
        json!({"events": ["sms.received"]}),
        json!({"url": "http://example.com", "events": ["sms.sent"]}),
        json!({"url": "http://example.com", "secret": "short"}),
    ] {
        let (status, body) = demo
            .call(Method::POST, "/api/webhooks", Some(&bob), Some(bad))
            .await;
        assert_error(status, &body, 400, "VALIDATION_ERROR");
    }
    let (status, body) = demo.call(Method::GET, "/api/webhooks", None, None).await;
    assert_error(status, &body, 401, "AUTHENTICATION_REQUIRED");

    // The owner deletes it.
    let (status, body) = demo
        .call(
            Method::DELETE,
            &format!("/api/webhooks/{id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = demo
        .call(Method::GET, "/api/webhooks", Some(&alice), None)
        .await;
    assert_eq!(data_of(&body)["total"], 0);
}
