//! Around the API, through the binary: the OpenAPI document names only routes that
//! exist, `/docs` is served from the binary with no CDN, readiness and Prometheus
//! metrics, `system_notification` to every socket, CORS when configured.

mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use common::{assert_error, data_of, Demo, Socket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_covers_the_routes_and_docs_need_no_cdn() {
    let demo = Demo::start().await;
    let (status, doc) = demo
        .call(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    // Every DispoSMS endpoint of the seed, and the box's own.
    for (path, method) in [
        ("/api/auth/register", "post"),
        ("/api/auth/login", "post"),
        ("/api/auth/refresh", "post"),
        ("/api/auth/logout", "post"),
        ("/api/auth/profile", "get"),
        ("/api/numbers/available", "get"),
        ("/api/numbers/assign", "post"),
        ("/api/numbers/my", "get"),
        ("/api/numbers/{assignment_id}/extend", "post"),
        ("/api/numbers/{assignment_id}", "delete"),
        ("/api/messages", "get"),
        ("/api/messages/{message_id}", "get"),
        ("/api/messages/{message_id}/read", "patch"),
        ("/api/messages/read-all", "patch"),
        ("/api/account/api-keys", "post"),
        ("/api/admin/notifications", "post"),
        ("/api/health/ready", "get"),
        ("/api/metrics", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} undocumented"
        );
    }
    // Every documented operation is served: none is a 404 or 405 from the router.
    for (path, item) in paths {
        for method in item.as_object().expect("item").keys() {
            let concrete = path
                .replace("{assignment_id}", "assign_1")
                .replace("{message_id}", "msg_1")
                .replace("{key_id}", "key_1")
                .replace("{id}", "1");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let (status, _, body) = demo.send(m, &concrete, &[], None).await;
            let routed = !(status == 405
                || (status == 404
                    && body["error"]["message"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("No endpoint"))));
            assert!(
                routed,
                "{method} {path} is documented but not served: {status} {body}"
            );
        }
    }

    // The interactive page, from the binary: no script or style from another host.
    let resp = demo
        .http
        .get(demo.url("/docs/"))
        .send()
        .await
        .expect("docs");
    assert_eq!(resp.status().as_u16(), 200);
    let html = resp.text().await.expect("html");
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    for attr in [
        "src=\"http",
        "href=\"http",
        "src='http",
        "href='http",
        "//cdn",
        "unpkg",
        "jsdelivr",
    ] {
        assert!(!html.contains(attr), "the docs page loads {attr}: {html}");
    }
    let resp = demo
        .http
        .get(demo.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .expect("js");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.bytes().await.expect("body").len() > 100_000);
    let resp = demo
        .http
        .get(demo.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("init");
    let init = resp.text().await.expect("text");
    assert!(init.contains("/api/openapi.json"), "{init}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_and_metrics_report_the_database_modems_and_traffic() {
    let demo = Demo::start().await;
    // The emulated modems become ready shortly after start.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let (status, body) = demo
            .call(Method::GET, "/api/health/ready", None, None)
            .await;
        if status == 200 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, body) = ready;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert!(body["timestamp"].is_string());
    assert_eq!(body["checks"]["database"]["status"], "ok");
    let modems = body["checks"]["modems"].as_array().expect("modems");
    assert_eq!(modems.len(), 2, "{body}");
    for m in modems {
        assert!(m["name"].is_string() && m["state"].is_string(), "{m}");
        assert!(
            m.get("signal_dbm").is_some() && m.get("ready").is_some(),
            "{m}"
        );
    }

    let user = demo.register("metrics@example.com").await;
    demo.assign(&user, "+15550100001", 600).await;
    let admin = demo.admin_token().await;
    demo.inject(
        &admin,
        "+15550100001",
        "+12025550123",
        "Your code is 246810",
    )
    .await;
    demo.wait_messages(&user, 1).await;

    // The send channels, in the order the queue tries them, with their breakers.
    let (status, body) = demo
        .call(Method::GET, "/api/admin/channels", Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let channels = data_of(&body)["channels"]
        .as_array()
        .expect("channels")
        .clone();
    let names: Vec<&str> = channels
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["emu-gb", "emu-us"], "{body}");
    for c in &channels {
        assert_eq!(c["state"], "closed", "{c}");
        assert_eq!(c["ready"], true, "{c}");
        assert_eq!(c["consecutive_failures"], 0, "{c}");
    }
    let (status, body) = demo
        .call(Method::GET, "/api/admin/channels", Some(&user), None)
        .await;
    assert_error(status, &body, 403, "INSUFFICIENT_PERMISSIONS");

    // One SMS out, so that the sent counter and the queue gauge have something to say.
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/admin/sms",
            Some(&admin),
            Some(json!({"to": "+447700900123", "text": "metrics"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job = data_of(&body)["sms"]["id"].as_i64().expect("job id");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = demo
            .call(
                Method::GET,
                &format!("/api/admin/sms/{job}"),
                Some(&admin),
                None,
            )
            .await;
        if matches!(
            data_of(&body)["sms"]["status"].as_str(),
            Some("sent" | "delivered")
        ) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never sent: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let resp = demo
        .http
        .get(demo.url("/api/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers()["content-type"]
        .to_str()
        .expect("ct")
        .to_string();
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = resp.text().await.expect("text");
    for needle in [
        "simgate_messages_received_total{channel=\"emu-us\"",
        "simgate_otps_extracted_total{channel=\"emu-us\"} 1",
        "simgate_modem_up{modem=\"emu-us\"} 1",
        "simgate_messages_sent_total{channel=\"emu-gb\"} 1",
        "simgate_sms_status_total{status=\"sent\"} 1",
        "simgate_outbound_queue_depth{status=\"queued\"} 0",
        "simgate_modem_state{modem=\"emu-gb\",state=\"ready\"} 1",
        "simgate_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/messages\"",
        "simgate_http_requests_total{method=\"POST\",route=\"/api/numbers/assign\",status=\"201\"} 1",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_notifications_reach_every_socket() {
    let demo = Demo::start().await;
    let admin = demo.admin_token().await;
    let user = demo.register("listener@example.com").await;
    let mut a = Socket::connect(&demo.base, &user, &["system_notification"]).await;
    let mut b = Socket::connect(&demo.base, &admin, &["system_notification"]).await;
    let note = json!({
        "type": "maintenance",
        "title": "Scheduled Maintenance",
        "message": "System will be under maintenance from 2:00 AM to 4:00 AM UTC",
        "severity": "info",
    });
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/admin/notifications",
            Some(&admin),
            Some(note.clone()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(data_of(&body)["recipients"], 2);
    for socket in [&mut a, &mut b] {
        let got = socket
            .next("system_notification", Duration::from_secs(5))
            .await
            .expect("system_notification");
        for field in ["type", "title", "message", "severity"] {
            assert_eq!(got[field], note[field], "{got}");
        }
        common::assert_timestamp(&got["timestamp"]);
        assert_eq!(got.as_object().expect("object").len(), 5, "{got}");
    }
    // Admins only; validated.
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/admin/notifications",
            Some(&user),
            Some(note),
        )
        .await;
    assert_error(status, &body, 403, "INSUFFICIENT_PERMISSIONS");
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/admin/notifications",
            Some(&admin),
            Some(json!({"title": "no message", "severity": "loud"})),
        )
        .await;
    assert_error(status, &body, 400, "VALIDATION_ERROR");
    let fields: Vec<Value> = body["error"]["details"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].clone())
        .collect();
    assert_eq!(fields, [json!("message"), json!("severity")], "{body}");
    let _ = a.client.disconnect().await;
    let _ = b.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_follows_the_configured_origins() {
    let demo = Demo::start().await;
    let (_, h, _) = demo
        .send(
            Method::GET,
            "/api/health",
            &[("origin", "https://app.example")],
            None,
        )
        .await;
    assert!(h.get("access-control-allow-origin").is_none());
    drop(demo);

    let demo = Demo::start_with_env(&[("SIMGATE_CORS_ORIGINS", "https://app.example")]).await;
    let (status, h, _) = demo
        .send(
            Method::OPTIONS,
            "/api/messages",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization,x-api-key"),
            ],
            None,
        )
        .await;
    assert!(status < 300, "preflight {status}");
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("x-api-key"),
        "{allowed}"
    );
    let (_, h, _) = demo
        .send(
            Method::GET,
            "/api/health",
            &[("origin", "https://evil.example")],
            None,
        )
        .await;
    assert!(h.get("access-control-allow-origin").is_none());
    let (_, h, _) = demo
        .send(
            Method::GET,
            "/api/health",
            &[("origin", "https://app.example")],
            None,
        )
        .await;
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    let exposed = h["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_lowercase();
    assert!(exposed.contains("x-ratelimit-remaining"), "{exposed}");
}
