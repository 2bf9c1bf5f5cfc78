//! DispoSMS messages around the first slice, end to end: `PATCH /messages/read-all`
//! (one assignment, or all of the caller's) and the bad input the issue lists, each
//! answered in the envelope, never a 500.

mod common;

use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

use common::{assert_error, assert_timestamp, data_of, Demo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_all_marks_one_assignment_or_everything() {
    let demo = Demo::start().await;
    let user = demo.register("reader@example.com").await;
    let admin = demo.admin_token().await;
    let us = demo.assign(&user, "+15550100001", 600).await;
    let gb = demo.assign(&user, "+447700900002", 600).await;
    for (to, text) in [
        ("+15550100001", "Your code is 111111"),
        ("+15550100001", "Your code is 222222"),
        ("+447700900002", "Your code is 333333"),
    ] {
        demo.inject(&admin, to, "+12025550123", text).await;
    }
    demo.wait_messages(&user, 3).await;

    let (status, body) = demo
        .call(
            Method::PATCH,
            "/api/messages/read-all",
            Some(&user),
            Some(json!({"assignment_id": us})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "All messages marked as read");
    let d = data_of(&body);
    assert_eq!(d.as_object().expect("object").len(), 3, "{d}");
    assert_eq!(d["assignment_id"], us.as_str());
    assert_eq!(d["marked_count"], 2);
    assert_timestamp(&d["marked_at"]);

    let (_, body) = demo
        .call(
            Method::GET,
            "/api/messages?is_read=false",
            Some(&user),
            None,
        )
        .await;
    assert_eq!(body["data"]["total"], 1, "{body}");
    assert_eq!(body["data"]["unread_count"], 1);
    assert_eq!(body["data"]["messages"][0]["assignment_id"], gb.as_str());
    let (_, body) = demo
        .call(Method::GET, "/api/messages?is_read=true", Some(&user), None)
        .await;
    assert_eq!(body["data"]["total"], 2, "the two marked: {body}");
    assert_eq!(
        body["data"]["unread_count"], 1,
        "unread of all, whatever the filter"
    );
    assert_eq!(body["data"]["messages"].as_array().map(Vec::len), Some(2));

    // Again: nothing left to mark on that assignment.
    let (_, body) = demo
        .call(
            Method::PATCH,
            "/api/messages/read-all",
            Some(&user),
            Some(json!({"assignment_id": us})),
        )
        .await;
    assert_eq!(body["data"]["marked_count"], 0, "{body}");
    // No assignment_id (and no body at all): everything of the caller's.
    let (status, body) = demo
        .call(Method::PATCH, "/api/messages/read-all", Some(&user), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["assignment_id"].is_null());
    assert_eq!(body["data"]["marked_count"], 1);
    let (_, body) = demo
        .call(Method::GET, "/api/auth/profile", Some(&user), None)
        .await;
    assert_eq!(
        body["data"]["user"]["stats"]["unread_messages"], 0,
        "{body}"
    );

    for (bad, status_want, code) in [
        (
            json!({"assignment_id": "assign_99999"}),
            404,
            "RESOURCE_NOT_FOUND",
        ),
        (
            json!({"assignment_id": "nonsense"}),
            400,
            "VALIDATION_ERROR",
        ),
        (json!({"assignment_id": true}), 400, "VALIDATION_ERROR"),
    ] {
        let (status, body) = demo
            .call(
                Method::PATCH,
                "/api/messages/read-all",
                Some(&user),
                Some(bad),
            )
            .await;
        assert_error(status, &body, status_want, code);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_envelope_never_a_500() {
    let demo = Demo::start().await;
    let user = demo.register("bad@example.com").await;

    // Query parameters: each error names its field.
    for (query, field) in [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("limit=10000", "limit"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("from_date=yesterday", "from_date"),
        ("to_date=2025-13-45", "to_date"),
        ("is_read=maybe", "is_read"),
        ("type=spam", "type"),
        ("sort=sideways", "sort"),
        ("assignment_id=x", "assignment_id"),
    ] {
        let (status, body) = demo
            .call(
                Method::GET,
                &format!("/api/messages?{query}"),
                Some(&user),
                None,
            )
            .await;
        assert_error(status, &body, 400, "VALIDATION_ERROR");
        let errors = body["error"]["details"]["errors"]
            .as_array()
            .expect("errors");
        assert_eq!(errors[0]["field"], field, "{query}: {body}");
        assert!(errors[0]["message"].is_string());
        assert!(errors[0].get("value").is_some());
    }
    // Several at once are all listed.
    let (_, body) = demo
        .call(
            Method::GET,
            "/api/messages?page=0&limit=10000",
            Some(&user),
            None,
        )
        .await;
    assert_eq!(
        body["error"]["details"]["errors"].as_array().map(Vec::len),
        Some(2)
    );
    for path in [
        "/api/numbers/my?page=0",
        "/api/numbers/my?limit=101",
        "/api/numbers/available?limit=51",
    ] {
        let (status, body) = demo.call(Method::GET, path, Some(&user), None).await;
        assert_error(status, &body, 400, "VALIDATION_ERROR");
    }

    // A JSON body on a GET.
    let (status, _, body) = demo
        .send(
            Method::GET,
            "/api/messages",
            &[
                ("authorization", &format!("Bearer {user}")),
                ("content-type", "application/json"),
            ],
            Some(br#"{"page": 2}"#.to_vec()),
        )
        .await;
    assert_error(status, &body, 400, "VALIDATION_ERROR");

    // A 10 MB body: answered 413 from its Content-Length, before the body is read. Sent
    // by hand, because the box closes the connection after answering and an HTTP client
    // still writing the body may see a broken pipe instead of the answer.
    let (status, body) = oversized_post(&demo.base, "/api/auth/register", 10 * 1024 * 1024).await;
    assert_error(status, &body, 413, "VALIDATION_ERROR");

    // Wrong types, missing fields, not JSON, no content type.
    for (body, ct) in [
        (r#"{"number": 5}"#, "application/json"),
        (r#"{"duration": 60}"#, "application/json"),
        (r#"["+15550100001"]"#, "application/json"),
        ("number=+15550100001", "application/x-www-form-urlencoded"),
        ("{", "application/json"),
    ] {
        let (status, _, resp) = demo
            .send(
                Method::POST,
                "/api/numbers/assign",
                &[
                    ("authorization", &format!("Bearer {user}")),
                    ("content-type", ct),
                ],
                Some(body.as_bytes().to_vec()),
            )
            .await;
        assert_error(status, &resp, 400, "VALIDATION_ERROR");
    }

    // Unknown routes and methods are in the envelope too.
    let (status, body) = demo
        .call(Method::GET, "/api/nowhere", Some(&user), None)
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    let (status, body) = demo
        .call(Method::PUT, "/api/messages", Some(&user), None)
        .await;
    assert_error(status, &body, 405, "VALIDATION_ERROR");
    let (status, body) = demo
        .call(Method::GET, "/api/messages/msg_424242", Some(&user), None)
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    let (status, body) = demo
        .call(
            Method::PATCH,
            "/api/messages/not-an-id/read",
            Some(&user),
            None,
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
}

/// POSTs a JSON body announced as `length` bytes, writes only its first 64 KiB, and
/// returns the status and JSON body of the answer.
async fn oversized_post(base: &str, path: &str, length: usize) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects to the box");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head sent");
    // The box may already have answered and closed: a failed write is fine here.
    let _ = stream.write_all(&vec![b'a'; 64 * 1024]).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    // The body may be chunked: take the JSON object inside.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if a < b => serde_json::from_str(&body[a..=b]).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, json)
}
