//! DispoSMS numbers, end to end through the binary: extend and release, their
//! documented shapes and refusals, and `assignment_status` over Socket.IO on release
//! and on expiry.

mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use common::{assert_error, assert_timestamp, data_of, Demo, Socket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extend_adds_time_up_to_a_day_from_now() {
    let demo = Demo::start().await;
    let user = demo.register("ext@example.com").await;
    let id = demo.assign(&user, "+15550100001", 600).await;
    let (_, body) = demo
        .call(Method::GET, "/api/numbers/my", Some(&user), None)
        .await;
    let before = data_of(&body)["assignments"][0]["expires_at"]
        .as_str()
        .expect("expires_at")
        .to_string();

    let (status, body) = demo
        .call(
            Method::POST,
            &format!("/api/numbers/{id}/extend"),
            Some(&user),
            Some(json!({"duration": 3600})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Assignment extended successfully");
    let a = &data_of(&body)["assignment"];
    assert_eq!(a.as_object().expect("object").len(), 4, "{a}");
    assert_eq!(a["id"], id.as_str());
    assert_eq!(a["number"], "+15550100001");
    assert_eq!(a["extended_duration"], 3600);
    assert_timestamp(&a["expires_at"]);
    let after = a["expires_at"].as_str().expect("expires_at");
    let secs = |t: &str| gateway::time::parse_iso(t).expect("ISO 8601").timestamp();
    assert_eq!(secs(after) - secs(&before), 3600);
    // `numbers/my` shows the new end.
    let (_, body) = demo
        .call(Method::GET, "/api/numbers/my", Some(&user), None)
        .await;
    assert_eq!(body["data"]["assignments"][0]["expires_at"], after);

    // The lease may end at most 86400 s from now: 600 + 3600 + 86000 is too much.
    let (status, body) = demo
        .call(
            Method::POST,
            &format!("/api/numbers/{id}/extend"),
            Some(&user),
            Some(json!({"duration": 86000})),
        )
        .await;
    assert_error(status, &body, 400, "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"]["errors"][0]["field"], "duration");
    assert_eq!(body["error"]["details"]["errors"][0]["value"], 86000);
    // duration is required, a whole number from 1 to 86400.
    for bad in [
        json!({}),
        json!({"duration": 0}),
        json!({"duration": "60"}),
        json!({"duration": 86401}),
        json!({"duration": 1.5}),
    ] {
        let (status, body) = demo
            .call(
                Method::POST,
                &format!("/api/numbers/{id}/extend"),
                Some(&user),
                Some(bad.clone()),
            )
            .await;
        assert_error(status, &body, 400, "VALIDATION_ERROR");
        assert_eq!(
            body["error"]["details"]["errors"][0]["field"], "duration",
            "{bad}"
        );
    }
    // Unknown ids are 404.
    for path in [
        "/api/numbers/assign_999/extend",
        "/api/numbers/garbage/extend",
    ] {
        let (status, body) = demo
            .call(
                Method::POST,
                path,
                Some(&user),
                Some(json!({"duration": 60})),
            )
            .await;
        assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    }
    // No token.
    let (status, body) = demo
        .call(
            Method::POST,
            &format!("/api/numbers/{id}/extend"),
            None,
            Some(json!({"duration": 60})),
        )
        .await;
    assert_error(status, &body, 401, "AUTHENTICATION_REQUIRED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_frees_the_number_and_announces_it() {
    let demo = Demo::start().await;
    let user = demo.register("rel@example.com").await;
    let id = demo.assign(&user, "+447700900002", 3600).await;
    let mut socket = Socket::connect(&demo.base, &user, &["assignment_status"]).await;

    let (status, body) = demo
        .call(
            Method::DELETE,
            &format!("/api/numbers/{id}"),
            Some(&user),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Phone number released successfully");
    let d = data_of(&body);
    assert_eq!(d.as_object().expect("object").len(), 2, "{d}");
    assert_eq!(d["assignment_id"], id.as_str());
    assert_timestamp(&d["released_at"]);

    let event = socket
        .next("assignment_status", Duration::from_secs(5))
        .await
        .expect("assignment_status on release");
    assert_eq!(event["assignment_id"], id.as_str(), "{event}");
    assert_eq!(event["status"], "released");
    assert_eq!(event["previous_status"], "active");
    assert_eq!(event["changed_at"], d["released_at"]);
    assert_eq!(event.as_object().expect("object").len(), 4, "{event}");

    // The lease shows as released; the number is free for someone else.
    let (_, body) = demo
        .call(
            Method::GET,
            "/api/numbers/my?status=released",
            Some(&user),
            None,
        )
        .await;
    assert_eq!(body["data"]["assignments"][0]["id"], id.as_str(), "{body}");
    let other = demo.register("next@example.com").await;
    demo.assign(&other, "+447700900002", 60).await;

    // A released lease can be neither released nor extended again.
    let (status, body) = demo
        .call(
            Method::DELETE,
            &format!("/api/numbers/{id}"),
            Some(&user),
            None,
        )
        .await;
    assert_error(status, &body, 422, "ASSIGNMENT_EXPIRED");
    let (status, body) = demo
        .call(
            Method::POST,
            &format!("/api/numbers/{id}/extend"),
            Some(&user),
            Some(json!({"duration": 60})),
        )
        .await;
    assert_error(status, &body, 422, "ASSIGNMENT_EXPIRED");
    let (status, body) = demo
        .call(
            Method::DELETE,
            "/api/numbers/assign_12345",
            Some(&user),
            None,
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    let _ = socket.client.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_announced_and_refuses_changes() {
    let demo = Demo::start().await;
    let user = demo.register("exp@example.com").await;
    let mut socket = Socket::connect(&demo.base, &user, &["assignment_status"]).await;
    let id = demo.assign(&user, "+15550100001", 1).await;
    let event = socket
        .next("assignment_status", Duration::from_secs(10))
        .await
        .expect("assignment_status on expiry");
    assert_eq!(event["assignment_id"], id.as_str(), "{event}");
    assert_eq!(event["status"], "expired");
    assert_eq!(event["previous_status"], "active");
    assert_timestamp(&event["changed_at"]);

    let (status, body) = demo
        .call(
            Method::POST,
            &format!("/api/numbers/{id}/extend"),
            Some(&user),
            Some(json!({"duration": 600})),
        )
        .await;
    assert_error(status, &body, 422, "ASSIGNMENT_EXPIRED");
    let (status, body) = demo
        .call(
            Method::DELETE,
            &format!("/api/numbers/{id}"),
            Some(&user),
            None,
        )
        .await;
    assert_error(status, &body, 422, "ASSIGNMENT_EXPIRED");
    let (_, body) = demo
        .call(
            Method::GET,
            "/api/numbers/my?status=expired",
            Some(&user),
            None,
        )
        .await;
    assert_eq!(body["data"]["total"], 1, "{body}");
    let _ = socket.client.disconnect().await;
}
