//! DispoSMS auth around the first slice, end to end: logout (bearer or refresh token)
//! ends the whole login; API keys are created, listed, used as `X-API-Key` wherever a
//! token is, and revoked; expired, unsigned (`alg: none`) and forged tokens are
//! refused in the envelope.

mod common;

use reqwest::Method;
use serde_json::{json, Value};

use api::auth::{AuthKeys, Claims};
use common::{assert_error, assert_timestamp, data_of, Demo};

async fn login(demo: &Demo, email: &str) -> (String, String) {
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (
        body["data"]["access_token"]
            .as_str()
            .expect("access")
            .into(),
        body["data"]["refresh_token"]
            .as_str()
            .expect("refresh")
            .into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_login_and_only_that_login() {
    let demo = Demo::start().await;
    demo.register("out@example.com").await;
    let (access, refresh) = login(&demo, "out@example.com").await;
    let (other_access, _) = login(&demo, "out@example.com").await;

    let (status, body) = demo
        .call(Method::POST, "/api/auth/logout", Some(&access), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Logged out successfully");
    let d = data_of(&body);
    assert!(d["user_id"].is_i64(), "{d}");
    assert_timestamp(&d["logged_out_at"]);

    // The access token and the refresh token of that login no longer work...
    let (status, body) = demo
        .call(Method::GET, "/api/auth/profile", Some(&access), None)
        .await;
    assert_error(status, &body, 401, "INVALID_TOKEN");
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": refresh})),
        )
        .await;
    assert_error(status, &body, 401, "INVALID_TOKEN");
    // ...the other login does.
    let (status, _) = demo
        .call(Method::GET, "/api/auth/profile", Some(&other_access), None)
        .await;
    assert_eq!(status, 200);

    // Logging out with the refresh token alone (the access token may have expired).
    let (access2, refresh2) = login(&demo, "out@example.com").await;
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({"refresh_token": refresh2})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = demo
        .call(Method::GET, "/api/messages", Some(&access2), None)
        .await;
    assert_error(status, &body, 401, "INVALID_TOKEN");

    // Nothing to log out with.
    let (status, body) = demo
        .call(Method::POST, "/api/auth/logout", None, None)
        .await;
    assert_error(status, &body, 401, "AUTHENTICATION_REQUIRED");
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/auth/logout",
            None,
            Some(json!({"refresh_token": "garbage"})),
        )
        .await;
    assert_error(status, &body, 401, "INVALID_TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_act_for_their_user_until_revoked() {
    let demo = Demo::start().await;
    let token = demo.register("keys@example.com").await;
    let (status, body) = demo
        .call(
            Method::POST,
            "/api/account/api-keys",
            Some(&token),
            Some(json!({"name": "billing server", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let created = &data_of(&body)["api_key"];
    let key = created["key"]
        .as_str()
        .expect("the key, shown once")
        .to_string();
    assert!(key.starts_with("sgk_") && key.len() == 47, "{key}");
    let id = created["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("key_"));
    assert_eq!(created["name"], "billing server");
    assert_eq!(created["prefix"], &key[..10]);
    assert_eq!(created["is_active"], true);
    assert_timestamp(&created["created_at"]);
    assert_timestamp(&created["expires_at"]);
    assert!(created["revoked_at"].is_null());

    // Listed without the key itself.
    let (status, body) = demo
        .call(Method::GET, "/api/account/api-keys", Some(&token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let keys = data_of(&body)["api_keys"].as_array().expect("list").clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id.as_str());
    assert!(keys[0].get("key").is_none(), "{}", keys[0]);
    assert!(!body.to_string().contains(&key));

    // The key works wherever a token does: X-API-Key and Authorization: Bearer.
    let (status, _, body) = demo
        .send(
            Method::GET,
            "/api/auth/profile",
            &[("x-api-key", &key)],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["user"]["email"], "keys@example.com");
    let bearer = format!("Bearer {key}");
    let (status, _, body) = demo
        .send(
            Method::GET,
            "/api/numbers/my",
            &[("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = demo
        .send(
            Method::POST,
            "/api/numbers/assign",
            &[("x-api-key", &key), ("content-type", "application/json")],
            Some(br#"{"number": "+15550100001", "duration": 60}"#.to_vec()),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // An API key cannot mint more keys.
    let (status, _, body) = demo
        .send(
            Method::POST,
            "/api/account/api-keys",
            &[("x-api-key", &key), ("content-type", "application/json")],
            Some(br#"{"name": "more"}"#.to_vec()),
        )
        .await;
    assert_error(status, &body, 403, "INSUFFICIENT_PERMISSIONS");
    // A wrong key is refused.
    let (status, _, body) = demo
        .send(
            Method::GET,
            "/api/messages",
            &[("x-api-key", "sgk_not-a-real-key")],
            None,
        )
        .await;
    assert_error(status, &body, 401, "INVALID_TOKEN");

    // Revoked: refused at once.
    let (status, body) = demo
        .call(
            Method::DELETE,
            &format!("/api/account/api-keys/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_timestamp(&data_of(&body)["api_key"]["revoked_at"]);
    assert_eq!(body["data"]["api_key"]["is_active"], false);
    let (status, _, body) = demo
        .send(Method::GET, "/api/messages", &[("x-api-key", &key)], None)
        .await;
    assert_error(status, &body, 401, "INVALID_TOKEN");

    // Validation.
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x", "expires_in_days": 0}),
    ] {
        let (status, body) = demo
            .call(
                Method::POST,
                "/api/account/api-keys",
                Some(&token),
                Some(bad),
            )
            .await;
        assert_error(status, &body, 400, "VALIDATION_ERROR");
    }
}

fn claims_for(keys: &AuthKeys, token: &str) -> Claims {
    keys.verify(token, "access")
        .expect("a fresh token verifies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_unsigned_and_forged_tokens_are_refused_in_the_envelope() {
    use base64::Engine;
    let demo = Demo::start().await;
    let token = demo.register("tok@example.com").await;
    // The box's own secret, read from its data directory, signs an expired token.
    let keys = AuthKeys::load_or_create(demo.data_dir.path()).expect("the box's secret");
    let fresh = claims_for(&keys, &token);
    let expired = keys.sign(&Claims {
        iat: fresh.iat - 7200,
        exp: fresh.iat - 3600,
        ..fresh.clone()
    });
    let (status, body) = demo
        .call(Method::GET, "/api/messages", Some(&expired), None)
        .await;
    assert_error(status, &body, 401, "INVALID_TOKEN");
    assert_eq!(body["error"]["message"], "The token has expired");

    // alg "none": the same claims, unsigned.
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let claims = serde_json::to_string(&fresh).expect("claims");
    let header = b64(r#"{"alg":"none","typ":"JWT"}"#);
    for unsigned in [
        format!("{header}.{}.", b64(&claims)),
        format!("{header}.{}", b64(&claims)),
    ] {
        let (status, body) = demo
            .call(Method::GET, "/api/auth/profile", Some(&unsigned), None)
            .await;
        assert_error(status, &body, 401, "INVALID_TOKEN");
    }
    // Signed with another secret; a refresh token used as an access token.
    let other = AuthKeys::from_secret(b"not the box's secret, not at all");
    let forged = other.sign(&fresh);
    let (status, body) = demo
        .call(Method::GET, "/api/auth/profile", Some(&forged), None)
        .await;
    assert_error(status, &body, 401, "INVALID_TOKEN");
    let refresh = keys.sign(&Claims {
        typ: "refresh".into(),
        ..fresh
    });
    let (status, body) = demo
        .call(Method::GET, "/api/auth/profile", Some(&refresh), None)
        .await;
    assert_error(status, &body, 401, "INVALID_TOKEN");
    // Not a bearer scheme at all.
    let (status, _, body) = demo
        .send(
            Method::GET,
            "/api/messages",
            &[("authorization", "Basic YTpi")],
            None,
        )
        .await;
    assert_error(status, &body, 401, "AUTHENTICATION_REQUIRED");
    let _: Value = body;
}
