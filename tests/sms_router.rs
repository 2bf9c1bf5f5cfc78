//! End-to-end tests of the SMS Router seed (`../shared/seeds/sms-router-api.md`)
//! against the demo box: signed Twilio webhooks (forged/missing → 400), TwiML,
//! routing by phone mapping, replay, delivery status, health/stats and the admin routes.

mod common;

use common::Demo;
use reqwest::Method;
use serde_json::{json, Value};

const TOKEN: &str = "test-twilio-auth-token";
const SMS: &str = "/api/v1/sms-router/webhook/sms";

fn sign(url: &str, params: &[(&str, &str)]) -> String {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    drivers::cloud::twilio::signature(TOKEN, url, &owned)
}

async fn webhook(
    demo: &Demo,
    path: &str,
    params: &[(&str, &str)],
    signature: Option<String>,
) -> (u16, String) {
    let mut req = demo.http.post(demo.url(path)).form(params);
    if let Some(s) = signature {
        req = req.header("X-Twilio-Signature", s);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

fn assert_envelope(body: &str, code: &str) {
    let v: Value = serde_json::from_str(body).expect("JSON error");
    assert_eq!(v["error_code"], code, "{v}");
    assert_eq!(v["status"], "error");
    assert!(v["detail"].is_string() && v["timestamp"].is_string(), "{v}");
}

#[tokio::test]
async fn signed_webhooks_route_reply_and_dedupe() {
    let demo = Demo::start_with_env(&[("SIMGATE_TWILIO_AUTH_TOKEN", TOKEN)]).await;
    let admin = demo.admin_token().await;
    let user = demo.register("router-user@example.com").await;
    let (_, me) = demo
        .call(Method::GET, "/api/auth/profile", Some(&user), None)
        .await;
    let user_id = me["data"]["user"]["id"].as_i64().expect("user id");

    // Map the sender to the user.
    let (s, body) = demo
        .call(
            Method::POST,
            &format!("/api/v1/sms-router/admin/phone-mappings?user_id={user_id}&phone_number=%2B14155552671&is_primary=true&verification_method=sms"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["message"], "Phone mapping created successfully");
    assert_eq!(body["phone_number"], "+14155552671");

    let params = [
        ("Body", "Hello world, code 482913"),
        ("From", "+14155552671"),
        ("To", "+15005550006"),
        ("MessageSid", "SM0001"),
    ];
    // Missing and forged signatures are refused.
    let (s, body) = webhook(&demo, SMS, &params, None).await;
    assert_eq!(s, 400);
    assert_envelope(&body, "TWILIO_WEBHOOK_INVALID");
    let forged = sign(&demo.url(SMS), &[("Body", "other")]);
    let (s, body) = webhook(&demo, SMS, &params, Some(forged)).await;
    assert_eq!(s, 400);
    assert_envelope(&body, "TWILIO_WEBHOOK_INVALID");

    // A correct one is accepted and answered in TwiML.
    let good = sign(&demo.url(SMS), &params);
    let (s, body) = webhook(&demo, SMS, &params, Some(good.clone())).await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{body}"
    );
    assert!(
        body.contains(
            "<Message>Thank you for your message. I&apos;ll process it shortly.</Message>"
        ),
        "{body}"
    );
    // Routed to the mapped user's messages.
    let messages = demo.wait_messages(&user, 1).await;
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].to_string().contains("482913"),
        "{:?}",
        messages[0]
    );

    // A replay is recognised: same answer, stored once.
    let (s, again) = webhook(&demo, SMS, &params, Some(good)).await;
    assert_eq!((s, again), (200, body));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, list) = demo
        .call(Method::GET, "/api/messages", Some(&user), None)
        .await;
    assert_eq!(list["data"]["total"], 1, "stored once: {list}");

    // Delivery status (unknown SID: a warning, not an error); signed too.
    let dp = [("MessageSid", "SM-unknown"), ("MessageStatus", "delivered")];
    let path = "/api/v1/sms-router/webhook/delivery-status";
    let (s, _) = webhook(&demo, path, &dp, None).await;
    assert_eq!(s, 400);
    let (s, body) = webhook(&demo, path, &dp, Some(sign(&demo.url(path), &dp))).await;
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "warning");

    // Health and stats.
    let (s, h) = demo
        .call(Method::GET, "/api/v1/sms-router/webhook/health", None, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["service"], "SMS Router Webhook");
    assert_eq!(h["components"]["twilio"], "healthy");
    let (s, st) = demo
        .call(Method::GET, "/api/v1/sms-router/webhook/stats", None, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(st["total_messages"], 1, "{st}");
    assert_eq!(st["successful_routes"], 1);
    assert_eq!(st["top_users"][0]["user_id"], user_id);
}

#[tokio::test]
async fn admin_routes_with_permissions_and_envelope() {
    let demo = Demo::start().await;
    let admin = demo.admin_token().await;
    let user = demo.register("plain@example.com").await;
    let paths = [
        (Method::GET, "/api/v1/sms-router/admin/status"),
        (Method::GET, "/api/v1/sms-router/admin/usage"),
        (Method::GET, "/api/v1/sms-router/admin/phone-mappings"),
        (Method::GET, "/api/v1/sms-router/admin/config"),
        (
            Method::POST,
            "/api/v1/sms-router/admin/config?config_key=a&config_value=b",
        ),
        (Method::DELETE, "/api/v1/sms-router/admin/phone-mappings/1"),
    ];
    for (m, p) in &paths {
        let (s, body) = demo.call(m.clone(), p, None, None).await;
        assert_eq!(s, 401, "{p}");
        assert_envelope(&body.to_string(), "AUTHENTICATION_REQUIRED");
        let (s, body) = demo.call(m.clone(), p, Some(&user), None).await;
        assert_eq!(s, 403, "{p}");
        assert_envelope(&body.to_string(), "INSUFFICIENT_PERMISSIONS");
        assert!(
            body["detail"].as_str().unwrap().contains("system:"),
            "{body}"
        );
    }
    // Without a configured token every webhook is refused.
    let (s, _) = webhook(&demo, SMS, &[("Body", "x")], Some("abc".into())).await;
    assert_eq!(s, 400);

    let (s, st) = demo
        .call(
            Method::GET,
            "/api/v1/sms-router/admin/status",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(st["service"], "SMS Router Service");
    assert_eq!(st["endpoints"]["webhook"], "/sms-router/webhook/sms");
    let (s, u) = demo
        .call(
            Method::GET,
            "/api/v1/sms-router/admin/usage?limit=50&offset=0",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        (u["total"].clone(), u["limit"].clone(), u["offset"].clone()),
        (json!(0), json!(50), json!(0))
    );
    let (s, _) = demo
        .call(
            Method::GET,
            "/api/v1/sms-router/admin/usage?limit=5000",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 400);

    let (s, body) = demo
        .call(
            Method::POST,
            "/api/v1/sms-router/admin/phone-mappings?user_id=1&phone_number=%2B1987654321",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = demo
        .call(
            Method::POST,
            "/api/v1/sms-router/admin/phone-mappings?user_id=1&phone_number=not-a-phone",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 400, "{body}");
    let (_, list) = demo
        .call(
            Method::GET,
            "/api/v1/sms-router/admin/phone-mappings?user_id=1",
            Some(&admin),
            None,
        )
        .await;
    let m = &list["mappings"][0];
    assert_eq!(m["phone_number"], "+1987654321");
    assert_eq!(m["verification_method"], "manual");
    assert_eq!(m["is_primary"], false);
    let id = m["id"].as_i64().unwrap();
    let (s, body) = demo
        .call(
            Method::DELETE,
            &format!("/api/v1/sms-router/admin/phone-mappings/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (s, body),
        (
            200,
            json!({"message": "Phone mapping deleted successfully", "mapping_id": id})
        )
    );
    let (s, body) = demo
        .call(
            Method::DELETE,
            &format!("/api/v1/sms-router/admin/phone-mappings/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_envelope(&body.to_string(), "PHONE_NUMBER_NOT_FOUND");

    let (s, body) = demo
        .call(
            Method::POST,
            "/api/v1/sms-router/admin/config?config_key=max_message_length&config_value=1600&description=Maximum%20SMS%20message%20length",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        (s, body),
        (
            200,
            json!({"message": "Configuration updated successfully", "key": "max_message_length"})
        )
    );
    let (_, c) = demo
        .call(
            Method::GET,
            "/api/v1/sms-router/admin/config",
            Some(&admin),
            None,
        )
        .await;
    let e = &c["configs"][0];
    assert_eq!(e["key"], "max_message_length");
    assert_eq!(e["value"], "1600");
    assert_eq!(e["description"], "Maximum SMS message length");
    assert_eq!(e["is_active"], true);
}

/// The user's reply webhook, played by a local server: every call is checked for its
/// signature and kept; the path picks the answer.
#[derive(Clone)]
struct Bot {
    secret: String,
    /// The box and the user's token: a call first checks its message is stored.
    box_base: String,
    user_token: String,
    /// (path, the call's JSON, the box's status for its message while it waits)
    calls: std::sync::Arc<std::sync::Mutex<Vec<(String, Value, u16)>>>,
}

async fn bot_answer(
    axum::extract::State(bot): axum::extract::State<Bot>,
    axum::extract::Path(kind): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let signature = headers
        .get("x-simgate-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    if !gateway::webhooks::verify(&bot.secret, signature, &body, now, 300) {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let call: Value = serde_json::from_slice(&body).expect("the call is JSON");
    // The message is stored before its reply webhook is asked.
    let stored = reqwest::Client::new()
        .get(format!(
            "{}/api/messages/msg_{}",
            bot.box_base, call["message_id"]
        ))
        .bearer_auth(&bot.user_token)
        .send()
        .await
        .expect("the box answers")
        .status()
        .as_u16();
    bot.calls
        .lock()
        .unwrap()
        .push((kind.clone(), call.clone(), stored));
    let json = [(header::CONTENT_TYPE, "application/json")];
    match kind.as_str() {
        "text" => {
            format!("Got \"{}\" <ok> & thanks", call["body"].as_str().unwrap()).into_response()
        }
        "json" => (json, r#"{"reply": "From JSON"}"#).into_response(),
        "empty" => StatusCode::NO_CONTENT.into_response(),
        "slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            "too late".into_response()
        }
        "fail" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "garbage" => (json, "<html>not json</html>").into_response(),
        "redirect" => (StatusCode::FOUND, [(header::LOCATION, "/reply/text")]).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_bot(bot: Bot) -> String {
    let app = axum::Router::new()
        .route("/reply/{kind}", axum::routing::post(bot_answer))
        .with_state(bot);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the bot");
    let addr = listener.local_addr().expect("bot address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

const DEFAULT_REPLY: &str =
    "<Message>Thank you for your message. I&apos;ll process it shortly.</Message>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_webhook_answers_become_twiml_and_failures_fall_back() {
    let demo = Demo::start_with_env(&[("SIMGATE_TWILIO_AUTH_TOKEN", TOKEN)]).await;
    let admin = demo.admin_token().await;
    let user = demo.register("bot-owner@example.com").await;
    let (_, me) = demo
        .call(Method::GET, "/api/auth/profile", Some(&user), None)
        .await;
    let user_id = me["data"]["user"]["id"].as_i64().expect("user id");
    let (s, body) = demo
        .call(
            Method::POST,
            &format!("/api/v1/sms-router/admin/phone-mappings?user_id={user_id}&phone_number=%2B14155550100"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");

    let secret = "reply-secret-0123456789";
    let bot = Bot {
        secret: secret.into(),
        box_base: demo.base.clone(),
        user_token: user.clone(),
        calls: Default::default(),
    };
    let bot_url = start_bot(bot.clone()).await;
    let path = "/api/v1/sms-router/reply-webhook";

    // Setting it: signed in, an http(s) URL, a JSON body; errors name the problem.
    let (s, body) = demo
        .call(
            Method::PUT,
            path,
            None,
            Some(json!({"url": "https://x.example"})),
        )
        .await;
    assert_eq!(s, 401);
    assert_envelope(&body.to_string(), "AUTHENTICATION_REQUIRED");
    for (bad, needle) in [
        (
            json!({"url": "ftp://example.com/reply"}),
            "http:// or https://",
        ),
        (json!({"url": "not a url"}), "not valid"),
        (
            json!({"url": "https://x.example", "secret": "short"}),
            "16 to 200",
        ),
        (json!({"link": "https://x.example"}), "JSON object"),
        (json!(["https://x.example"]), "JSON object"),
    ] {
        let (s, body) = demo.call(Method::PUT, path, Some(&user), Some(bad)).await;
        assert_eq!(s, 400, "{body}");
        assert_envelope(&body.to_string(), "CONFIGURATION_ERROR");
        assert!(body["detail"].as_str().unwrap().contains(needle), "{body}");
    }
    let (s, body) = demo.call(Method::GET, path, Some(&user), None).await;
    assert_eq!(s, 404);
    assert_envelope(&body.to_string(), "REPLY_WEBHOOK_NOT_FOUND");

    let set = |kind: &str| json!({"url": format!("{bot_url}/reply/{kind}"), "secret": secret});
    let (s, body) = demo
        .call(Method::PUT, path, Some(&user), Some(set("text")))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["secret"], secret);
    assert_eq!(body["reply_webhook"]["user_id"], user_id);
    assert!(body["reply_webhook"].get("secret").is_none(), "{body}");
    // A generated secret when none is given (then set ours back).
    let (_, generated) = demo
        .call(
            Method::PUT,
            path,
            Some(&user),
            Some(json!({"url": format!("{bot_url}/reply/text")})),
        )
        .await;
    assert!(generated["secret"].as_str().unwrap().starts_with("whsec_"));
    demo.call(Method::PUT, path, Some(&user), Some(set("text")))
        .await;

    let mut n = 0;
    let mut text_in = |body: &str| {
        n += 1;
        let sid = format!("SMreply{n:04}");
        (
            sid,
            vec![
                ("Body".to_string(), body.to_string()),
                ("From".to_string(), "+14155550100".to_string()),
                ("To".to_string(), "+15005550006".to_string()),
            ],
        )
    };
    let post = |sid: String, mut params: Vec<(String, String)>| {
        let demo = &demo;
        async move {
            params.push(("MessageSid".into(), sid));
            let borrowed: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let sig = sign(&demo.url(SMS), &borrowed);
            let started = std::time::Instant::now();
            let (s, body) = webhook(demo, SMS, &borrowed, Some(sig)).await;
            assert_eq!(s, 200, "{body}");
            (body, started.elapsed())
        }
    };

    // Plain text answer → <Message>, XML-escaped; the call carries the message.
    let (sid, params) = text_in("Hello bot");
    let (twiml, _) = post(sid.clone(), params.clone()).await;
    assert!(
        twiml.contains("<Message>Got &quot;Hello bot&quot; &lt;ok&gt; &amp; thanks</Message>"),
        "{twiml}"
    );
    {
        let calls = bot.calls.lock().unwrap();
        assert_eq!(calls.len(), 1);
        let call = &calls[0].1;
        assert_eq!(call["from"], "+14155550100");
        assert_eq!(call["to"], "+15005550006");
        assert_eq!(call["body"], "Hello bot");
        assert_eq!(call["message_sid"], sid.as_str());
        assert_eq!(call["user_id"], user_id);
        assert!(call["message_id"].as_i64().is_some(), "{call}");
        assert!(
            call["received_at"].as_str().unwrap().ends_with('Z'),
            "{call}"
        );
    }
    // A replay answers what was answered, without asking again.
    let (again, _) = post(sid, params).await;
    assert_eq!(again, twiml);
    assert_eq!(bot.calls.lock().unwrap().len(), 1);

    // JSON {"reply"} → <Message>.
    demo.call(Method::PUT, path, Some(&user), Some(set("json")))
        .await;
    let (sid, params) = text_in("json please");
    let (twiml, _) = post(sid, params).await;
    assert!(twiml.contains("<Message>From JSON</Message>"), "{twiml}");

    // An empty answer → no <Message>, also on a replay.
    demo.call(Method::PUT, path, Some(&user), Some(set("empty")))
        .await;
    let (sid, params) = text_in("say nothing");
    let (twiml, _) = post(sid.clone(), params.clone()).await;
    assert!(
        twiml.contains("<Response/>") && !twiml.contains("Message"),
        "{twiml}"
    );
    let (again, _) = post(sid, params).await;
    assert_eq!(again, twiml);

    // Failures fall back to the default reply: a timeout (500 ms here), a 500, an
    // answer that does not read, a redirect (not followed).
    let (s, _) = demo
        .call(
            Method::POST,
            "/api/v1/sms-router/admin/config?config_key=reply_webhook_timeout_ms&config_value=500",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    for kind in ["slow", "fail", "garbage", "redirect"] {
        demo.call(Method::PUT, path, Some(&user), Some(set(kind)))
            .await;
        let (sid, params) = text_in(kind);
        let (twiml, took) = post(sid, params).await;
        assert!(twiml.contains(DEFAULT_REPLY), "{kind}: {twiml}");
        assert!(
            took < std::time::Duration::from_millis(2500),
            "{kind}: {took:?}"
        );
        let (_, shown) = demo.call(Method::GET, path, Some(&user), None).await;
        let hook = &shown["reply_webhook"];
        assert!(hook["last_error"].is_string(), "{kind}: {shown}");
        if kind == "fail" {
            assert_eq!(hook["last_status"], 500);
        }
        if kind == "slow" {
            assert_eq!(hook["last_error"], "timed out");
        }
    }

    // Every text was stored before its reply webhook was asked, whatever it did.
    for (kind, call, stored) in bot.calls.lock().unwrap().iter() {
        assert_eq!(
            *stored, 200,
            "{kind}: message {} not stored yet",
            call["message_id"]
        );
    }
    assert_eq!(bot.calls.lock().unwrap().len(), 7);
    let messages = demo.wait_messages(&user, 7).await;
    assert_eq!(messages.len(), 7);

    // The admin sees and manages anyone's; the user deletes theirs.
    let (s, list) = demo
        .call(
            Method::GET,
            "/api/v1/sms-router/admin/reply-webhooks",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["reply_webhooks"][0]["user_id"], user_id, "{list}");
    let (s, _) = demo
        .call(
            Method::GET,
            "/api/v1/sms-router/admin/reply-webhooks",
            Some(&user),
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, body) = demo
        .call(
            Method::PUT,
            "/api/v1/sms-router/admin/reply-webhooks/999999",
            Some(&admin),
            Some(set("text")),
        )
        .await;
    assert_eq!(s, 404, "{body}");
    assert_envelope(&body.to_string(), "USER_NOT_FOUND");
    let (s, _) = demo
        .call(
            Method::PUT,
            &format!("/api/v1/sms-router/admin/reply-webhooks/{user_id}"),
            Some(&admin),
            Some(set("json")),
        )
        .await;
    assert_eq!(s, 200);
    let (s, body) = demo.call(Method::DELETE, path, Some(&user), None).await;
    assert_eq!(
        (s, body),
        (
            200,
            json!({"message": "Reply webhook deleted", "user_id": user_id})
        )
    );
    let (s, _) = demo.call(Method::DELETE, path, Some(&user), None).await;
    assert_eq!(s, 404);
    let (sid, params) = text_in("no hook now");
    let (twiml, _) = post(sid, params).await;
    assert!(twiml.contains(DEFAULT_REPLY), "{twiml}");
}

/// Every SMS Auth, SMS Router and provider route is in the OpenAPI document, and
/// every documented one of them is served.
#[tokio::test]
async fn openapi_documents_the_sms_auth_router_and_provider_routes() {
    let demo = Demo::start().await;
    let (s, doc) = demo
        .call(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(s, 200);
    let paths = doc["paths"].as_object().expect("paths");
    let served = [
        ("post", "/api/auth/register"),
        ("post", "/api/auth/login"),
        ("post", "/api/auth/logout"),
        ("post", "/api/auth/verify-otp"),
        ("post", "/api/auth/resend-otp"),
        ("get", "/api/auth/user"),
        ("post", "/api/v1/sms-router/webhook/sms"),
        ("post", "/api/v1/sms-router/webhook/delivery-status"),
        ("get", "/api/v1/sms-router/webhook/health"),
        ("get", "/api/v1/sms-router/webhook/stats"),
        ("get", "/api/v1/sms-router/admin/status"),
        ("get", "/api/v1/sms-router/admin/usage"),
        ("get", "/api/v1/sms-router/admin/phone-mappings"),
        ("post", "/api/v1/sms-router/admin/phone-mappings"),
        (
            "delete",
            "/api/v1/sms-router/admin/phone-mappings/{mapping_id}",
        ),
        ("get", "/api/v1/sms-router/admin/config"),
        ("post", "/api/v1/sms-router/admin/config"),
        ("get", "/api/v1/sms-router/reply-webhook"),
        ("put", "/api/v1/sms-router/reply-webhook"),
        ("delete", "/api/v1/sms-router/reply-webhook"),
        ("get", "/api/v1/sms-router/admin/reply-webhooks"),
        ("get", "/api/v1/sms-router/admin/reply-webhooks/{user_id}"),
        ("put", "/api/v1/sms-router/admin/reply-webhooks/{user_id}"),
        (
            "delete",
            "/api/v1/sms-router/admin/reply-webhooks/{user_id}",
        ),
        ("get", "/api/v1/providers/vonage/inbound"),
        ("post", "/api/v1/providers/vonage/inbound"),
        ("get", "/api/v1/providers/vonage/dlr"),
        ("post", "/api/v1/providers/vonage/dlr"),
    ];
    for (method, path) in served {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is served but not documented"
        );
    }
    // The other way round: each documented one of these answers (not 404/405).
    for (path, item) in paths {
        if !(path.starts_with("/api/v1/") || path.starts_with("/api/auth/")) {
            continue;
        }
        for method in item.as_object().expect("item").keys() {
            let concrete = path.replace("{mapping_id}", "1").replace("{user_id}", "1");
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
    // Without a Vonage signature secret configured, Vonage webhooks are refused.
    let (s, body) = demo
        .call(
            Method::GET,
            "/api/v1/providers/vonage/inbound?msisdn=1&to=2&messageId=x&text=hi",
            None,
            None,
        )
        .await;
    assert_eq!(s, 401, "{body}");
    assert_envelope(&body.to_string(), "VONAGE_WEBHOOK_INVALID");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("signature_secret"),
        "{body}"
    );
}
