//! Rate limits through the binary, started with low limits from the environment
//! (`SIMGATE_RATE_LIMIT_READ=3/60`, `SIMGATE_RATE_LIMIT_AUTH=4/60`): the headers on
//! every response, 429 `RATE_LIMIT_EXCEEDED` in the envelope with `Retry-After`, one
//! bucket per user and per class, anonymous callers counted by address.

mod common;

use reqwest::Method;
use serde_json::json;

use common::{assert_error, Demo};

fn header(h: &reqwest::header::HeaderMap, name: &str) -> u64 {
    h.get(name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .to_str()
        .expect("ascii")
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_limit_answers_429_in_the_envelope_with_the_headers() {
    let demo = Demo::start_with_env(&[
        ("SIMGATE_RATE_LIMIT_READ", "3/60"),
        ("SIMGATE_RATE_LIMIT_AUTH", "4/60"),
        ("SIMGATE_RATE_LIMIT_WRITE", "100/60"),
    ])
    .await;
    // Demo::start used one anonymous read (/api/health) while waiting for the box.
    let alice = demo.register("alice@example.com").await;
    let bob = demo.register("bob@example.com").await;
    let auth = format!("Bearer {alice}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let (status, h, body) = demo
            .send(
                Method::GET,
                "/api/messages",
                &[("authorization", &auth)],
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&h, "x-ratelimit-limit"), 3);
        remaining.push(header(&h, "x-ratelimit-remaining"));
        let reset = header(&h, "x-ratelimit-reset");
        assert!(
            reset >= now && reset <= now + 61,
            "reset {reset} vs now {now}"
        );
    }
    assert_eq!(remaining, [2, 1, 0]);

    let (status, h, body) = demo
        .send(
            Method::GET,
            "/api/messages",
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_error(status, &body, 429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(header(&h, "x-ratelimit-limit"), 3);
    assert_eq!(header(&h, "x-ratelimit-remaining"), 0);
    let retry = header(&h, "retry-after");
    assert!((1..=20).contains(&retry), "retry-after {retry}");
    assert_eq!(body["error"]["details"]["class"], "read");
    assert_eq!(body["error"]["details"]["limit"], 3);
    assert_eq!(body["error"]["details"]["retry_after"], retry);

    // Another user has a bucket of its own; writes are another class.
    let (status, _) = demo
        .call(Method::GET, "/api/numbers/my", Some(&bob), None)
        .await;
    assert_eq!(status, 200);
    let (status, h, body) = demo
        .send(
            Method::POST,
            "/api/numbers/assign",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(br#"{"number": "+15550100001", "duration": 60}"#.to_vec()),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(header(&h, "x-ratelimit-limit"), 100);

    // Auth endpoints are counted per address for anonymous callers: two registrations
    // were made, so two more attempts pass and the fifth is refused, valid or not.
    for i in 0..2 {
        let (status, _, _) = demo
            .send(
                Method::POST,
                "/api/auth/login",
                &[("content-type", "application/json")],
                Some(
                    json!({"email": "alice@example.com", "password": format!("wrong {i}")})
                        .to_string()
                        .into_bytes(),
                ),
            )
            .await;
        assert_eq!(status, 401);
    }
    let (status, h, body) = demo
        .send(
            Method::POST,
            "/api/auth/login",
            &[("content-type", "application/json")],
            Some(
                json!({"email": "alice@example.com", "password": "correct horse battery"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_error(status, &body, 429, "RATE_LIMIT_EXCEEDED");
    assert_eq!(header(&h, "x-ratelimit-limit"), 4);
    assert_eq!(body["error"]["details"]["class"], "auth");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_can_be_turned_off() {
    let demo = Demo::start_with_env(&[
        ("SIMGATE_RATE_LIMIT_ENABLED", "false"),
        ("SIMGATE_RATE_LIMIT_READ", "1/60"),
    ])
    .await;
    for _ in 0..5 {
        let (status, h, _) = demo.send(Method::GET, "/api/health", &[], None).await;
        assert_eq!(status, 200);
        assert!(h.get("x-ratelimit-limit").is_none());
    }
}
