//! End to end through the real binary: an SMS injected into an emulated modem travels
//! over a pseudo-terminal, through the AT driver, the PDU decoder, SQLite and the OTP
//! extractor, to the user who holds the number: over HTTP and over Socket.IO.

mod common;

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use reqwest::Method;
use rust_socketio::asynchronous::ClientBuilder;
use rust_socketio::Payload;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use common::{Demo, Socket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otp_sms_reaches_the_number_holder_over_http_and_socketio() {
    let demo = Demo::start().await;
    let user = demo.register("ada@example.com").await;

    let (status, body) = demo
        .call(
            Method::GET,
            "/api/numbers/available?country=US",
            Some(&user),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let numbers = body["data"]["numbers"].as_array().expect("numbers list");
    assert!(
        numbers
            .iter()
            .any(|n| n["number"] == "+15550100001" && n["country"] == "US"),
        "{body}"
    );
    let (_, uk) = demo
        .call(
            Method::GET,
            "/api/numbers/available?country=UK",
            Some(&user),
            None,
        )
        .await;
    assert_eq!(uk["data"]["numbers"][0]["number"], "+447700900002", "{uk}");

    let (status, body) = demo
        .call(
            Method::POST,
            "/api/numbers/assign",
            Some(&user),
            Some(json!({"number": "+15550100001", "duration": 600})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let assignment = body["data"]["assignment"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(assignment.starts_with("assign_"));
    assert_eq!(body["data"]["assignment"]["status"], "active");

    // The number is no longer available to anyone else.
    let other = demo.register("eve@example.com").await;
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/numbers/assign",
            Some(&other),
            Some(json!({"number": "+15550100001"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "NUMBER_NOT_AVAILABLE");

    // A real Socket.IO client; connect() returns once the namespace is joined and a
    // ping was answered with a pong.
    let mut socket = Socket::connect(&demo.base, &user, &["new_message"]).await;

    let admin = demo.admin_token().await;
    let injected_at = Instant::now();
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/admin/emulator/sms",
            Some(&admin),
            Some(json!({"to": "+15550100001", "from": "+12025550123", "text": "Your verification code is 482913"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");

    let live = socket
        .next("new_message", Duration::from_secs(2))
        .await
        .expect("new_message on Socket.IO within 2 s of the injection");
    let latency = injected_at.elapsed();
    assert_eq!(live["message"]["otp_code"], "482913", "{live}");
    assert_eq!(live["message"]["type"], "otp", "{live}");
    assert_eq!(live["message"]["from_number"], "+12025550123");
    assert_eq!(live["message"]["to_number"], "+15550100001");
    assert_eq!(
        live["message"]["content"],
        "Your verification code is 482913"
    );
    assert_eq!(live["assignment"]["id"], assignment.as_str());
    eprintln!("injection to Socket.IO new_message: {latency:?}");

    let (status, body) = demo
        .call(Method::GET, "/api/messages", Some(&user), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let messages = body["data"]["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "{body}");
    assert_eq!(messages[0]["otp_code"], "482913");
    assert_eq!(messages[0]["type"], "otp");
    assert_eq!(messages[0]["assignment_id"], assignment.as_str());
    assert_eq!(messages[0]["is_read"], false);
    assert_eq!(body["data"]["unread_count"], 1);

    // The other user sees nothing of it.
    let (_, body) = demo
        .call(Method::GET, "/api/messages", Some(&other), None)
        .await;
    assert_eq!(body["data"]["total"], 0, "{body}");

    let _ = socket.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_texts_and_alphanumeric_senders_arrive_whole() {
    let demo = Demo::start().await;
    let user = demo.register("grace@example.com").await;
    let (status, _) = demo
        .call(
            Method::POST,
            "/api/numbers/assign",
            Some(&user),
            Some(json!({"number": "+447700900002"})),
        )
        .await;
    assert_eq!(status, 201);
    let admin = demo.admin_token().await;
    // 3 GSM 7-bit parts, with extension-table characters; then a UCS2 text.
    let long = format!(
        "WhatsApp code 123-456. {} Don't share it {{ever}} [€5 fee]",
        "You can also tap this link to verify your phone. ".repeat(7)
    );
    for text in [long.as_str(), "Ваш код подтверждения: 7731 😀"] {
        let (status, body) = demo
            .call(
                Method::POST,
                "/api/admin/emulator/sms",
                Some(&admin),
                Some(json!({"to": "+447700900002", "from": "WhatsApp", "text": text})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let messages = loop {
        let (_, body) = demo
            .call(Method::GET, "/api/messages?sort=oldest", Some(&user), None)
            .await;
        let list = body["data"]["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if list.len() >= 2 || Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0]["content"], long.as_str());
    assert_eq!(messages[0]["from_number"], "WhatsApp");
    assert_eq!(messages[0]["otp_code"], "123456");
    assert_eq!(messages[1]["content"], "Ваш код подтверждения: 7731 😀");
    assert_eq!(messages[1]["otp_code"], "7731");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_seed_error_envelope() {
    let demo = Demo::start().await;

    // No token, a forged token.
    let (status, body) = demo.call(Method::GET, "/api/messages", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "AUTHENTICATION_REQUIRED");
    assert!(body["timestamp"].is_string());
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwicm9sZSI6ImFkbWluIn0.c2lnbmF0dXJl";
    let (status, body) = demo
        .call(Method::GET, "/api/messages", Some(forged), None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "INVALID_TOKEN");

    // Malformed JSON and per-field validation errors.
    let resp = demo
        .http
        .post(demo.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.expect("json error body");
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"email": "invalid-email", "password": "short"})),
        )
        .await;
    assert_eq!(status, 400);
    let fields: Vec<&str> = body["error"]["details"]["errors"]
        .as_array()
        .expect("details.errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "password"], "{body}");

    // A duplicate account, wrong password.
    let user = demo.register("dup@example.com").await;
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"email": "dup@example.com", "password": "another password"})),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "DUPLICATE_RESOURCE");
    let (status, _) = demo
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": "dup@example.com", "password": "wrong password"})),
        )
        .await;
    assert_eq!(status, 401);

    // Query validation, unknown numbers, admin-only routes.
    let (status, body) = demo
        .call(
            Method::GET,
            "/api/numbers/available?limit=51",
            Some(&user),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["details"]["errors"][0]["field"], "limit");
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/numbers/assign",
            Some(&user),
            Some(json!({"number": "+19999999999", "duration": 100000})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["field"], "duration");
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/admin/emulator/sms",
            Some(&user),
            Some(json!({"to": "+15550100001", "from": "x", "text": "hi"})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "INSUFFICIENT_PERMISSIONS");
    let admin = demo.admin_token().await;
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/admin/emulator/sms",
            Some(&admin),
            Some(json!({"to": "+19999999999", "from": "x", "text": "hi"})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = demo
        .call(
            Method::POST,
            "/api/admin/emulator/sms",
            Some(&admin),
            Some(json!({"to": "+15550100001", "pdus": ["not hex"]})),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_without_a_valid_token_is_refused() {
    let demo = Demo::start().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let client = ClientBuilder::new(&demo.base)
        .namespace("/")
        .auth(json!({ "token": "garbage" }))
        .reconnect(false)
        .on("error", move |payload: Payload, _| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(format!("{payload:?}"));
            }
            .boxed()
        })
        .connect()
        .await
        .expect("the transport connects");
    let refusal = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the namespace connection is refused with an error")
        .expect("an error payload");
    assert!(refusal.contains("Invalid token"), "{refusal}");
    let _ = client.disconnect().await;
}
