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
