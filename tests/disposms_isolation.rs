//! Isolation, route by route: user A can never read, mark, extend or release user B's
//! assignments or messages, revoke B's API keys, nor join B's Socket.IO rooms. Each
//! refusal is the same 404 (or an empty listing) that a missing resource gets, so A
//! learns nothing about what B has. Each test starts its own box (a box shared through
//! a static would outlive the test process).

mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use common::{assert_error, Demo, Socket};

/// B's things, made once.
struct World {
    demo: Demo,
    a: String,
    b: String,
    b_user_id: i64,
    b_assignment: String,
    b_message: String,
    b_key_id: String,
}

async fn world() -> World {
    let demo = Demo::start().await;
    let a = demo.register("alice@example.com").await;
    let b = demo.register("bob@example.com").await;
    let (_, profile) = demo
        .call(Method::GET, "/api/auth/profile", Some(&b), None)
        .await;
    let b_user_id = profile["data"]["user"]["id"].as_i64().expect("id");
    let b_assignment = demo.assign(&b, "+15550100001", 3600).await;
    // A holds the other number, so A has a lease of its own.
    demo.assign(&a, "+447700900002", 3600).await;
    let admin = demo.admin_token().await;
    demo.inject(
        &admin,
        "+15550100001",
        "+12025550123",
        "Your code is 424242",
    )
    .await;
    let b_message = demo.wait_messages(&b, 1).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (_, key) = demo
        .call(
            Method::POST,
            "/api/account/api-keys",
            Some(&b),
            Some(json!({"name": "bob's"})),
        )
        .await;
    let b_key_id = key["data"]["api_key"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    World {
        demo,
        a,
        b,
        b_user_id,
        b_assignment,
        b_message,
        b_key_id,
    }
}

/// B's message is still unread and B's lease untouched.
async fn b_is_untouched(w: &World) {
    let (_, body) = w
        .demo
        .call(
            Method::GET,
            &format!("/api/messages/{}", w.b_message),
            Some(&w.b),
            None,
        )
        .await;
    assert_eq!(body["data"]["message"]["is_read"], false, "{body}");
    let (_, body) = w
        .demo
        .call(Method::GET, "/api/numbers/my", Some(&w.b), None)
        .await;
    assert_eq!(body["data"]["assignments"][0]["status"], "active", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_read_bs_message() {
    let w = &world().await;
    let (status, body) = w
        .demo
        .call(
            Method::GET,
            &format!("/api/messages/{}", w.b_message),
            Some(&w.a),
            None,
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_list_bs_messages_by_any_filter() {
    let w = &world().await;
    for query in [
        String::new(),
        format!("?assignment_id={}", w.b_assignment),
        "?number=%2B15550100001".into(),
        "?type=otp".into(),
    ] {
        let (status, body) = w
            .demo
            .call(
                Method::GET,
                &format!("/api/messages{query}"),
                Some(&w.a),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["total"], 0, "{query}: {body}");
        assert_eq!(body["data"]["unread_count"], 0, "{query}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_mark_bs_message_read() {
    let w = &world().await;
    let (status, body) = w
        .demo
        .call(
            Method::PATCH,
            &format!("/api/messages/{}/read", w.b_message),
            Some(&w.a),
            None,
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    b_is_untouched(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_mark_all_of_bs_assignment_read() {
    let w = &world().await;
    let (status, body) = w
        .demo
        .call(
            Method::PATCH,
            "/api/messages/read-all",
            Some(&w.a),
            Some(json!({"assignment_id": w.b_assignment})),
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    // And "all of mine" marks nothing of B's.
    let (status, body) = w
        .demo
        .call(Method::PATCH, "/api/messages/read-all", Some(&w.a), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["marked_count"], 0);
    b_is_untouched(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_extend_bs_assignment() {
    let w = &world().await;
    let (status, body) = w
        .demo
        .call(
            Method::POST,
            &format!("/api/numbers/{}/extend", w.b_assignment),
            Some(&w.a),
            Some(json!({"duration": 60})),
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    b_is_untouched(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_release_bs_assignment() {
    let w = &world().await;
    let (status, body) = w
        .demo
        .call(
            Method::DELETE,
            &format!("/api/numbers/{}", w.b_assignment),
            Some(&w.a),
            None,
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    b_is_untouched(w).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_does_not_see_bs_assignments() {
    let w = &world().await;
    let (_, body) = w
        .demo
        .call(Method::GET, "/api/numbers/my", Some(&w.a), None)
        .await;
    let ids: Vec<&Value> = body["data"]["assignments"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert!(!ids.contains(&&json!(w.b_assignment)), "{body}");
    assert_eq!(body["data"]["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_revoke_bs_api_key() {
    let w = &world().await;
    let (status, body) = w
        .demo
        .call(
            Method::DELETE,
            &format!("/api/account/api-keys/{}", w.b_key_id),
            Some(&w.a),
            None,
        )
        .await;
    assert_error(status, &body, 404, "RESOURCE_NOT_FOUND");
    let (_, body) = w
        .demo
        .call(Method::GET, "/api/account/api-keys", Some(&w.a), None)
        .await;
    assert_eq!(body["data"]["total"], 0, "{body}");
    let (_, body) = w
        .demo
        .call(Method::GET, "/api/account/api-keys", Some(&w.b), None)
        .await;
    assert_eq!(body["data"]["api_keys"][0]["is_active"], true, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cannot_join_bs_rooms() {
    let w = &world().await;
    let mut socket = Socket::connect(&w.demo.base, &w.a, &["error", "room_joined"]).await;
    for (room_type, room_id) in [
        ("assignment", json!(w.b_assignment)),
        ("user", json!(format!("user_{}", w.b_user_id))),
        ("user", json!(w.b_user_id)),
    ] {
        socket
            .emit(
                "join_room",
                json!({"room_type": room_type, "room_id": room_id}),
            )
            .await;
        let refusal = socket
            .next("error", Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("joining {room_type} {room_id} is refused"));
        assert_eq!(refusal["event"], "join_room", "{refusal}");
    }
    // A's own assignment room is fine.
    let (_, mine) = w
        .demo
        .call(Method::GET, "/api/numbers/my", Some(&w.a), None)
        .await;
    let own = mine["data"]["assignments"][0]["id"].clone();
    socket
        .emit(
            "join_room",
            json!({"room_type": "assignment", "room_id": own}),
        )
        .await;
    let joined = socket
        .next("room_joined", Duration::from_secs(5))
        .await
        .expect("own room joined");
    assert_eq!(
        joined["room"],
        format!("assignment_{}", own.as_str().expect("id"))
    );
    let _ = socket.client.disconnect().await;
}
