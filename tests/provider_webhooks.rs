//! End-to-end tests of the cloud providers' webhooks on `simgate run` with a Twilio
//! and a Vonage `[[provider]]`, each pointed at a local fake of its API: messages the
//! box sends through them become delivered/undelivered from Twilio's status callbacks
//! (signed with the provider's auth token) and Vonage's delivery receipts; Vonage's
//! inbound texts are stored once per message id and routed by phone mapping. Forged,
//! unsigned and stale Vonage webhooks are refused. A long inbound SMS, one webhook per
//! part, becomes one message: in order, out of order with replays and a restart in the
//! middle; parts with unusable concat fields are stored alone with a warning.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use drivers::cloud::parse_form;
use drivers::cloud::vonage::{self, SignatureMethod};
use reqwest::Method;
use serde_json::{json, Value};

const ADMIN_EMAIL: &str = "admin@simgate.test";
const ADMIN_PASSWORD: &str = "admin-password-for-tests";
const TWILIO_TOKEN: &str = "provider-twilio-auth-token";
const VONAGE_SECRET: &str = "vonage-signature-secret-for-tests";

/// A fake provider API: every accepted send gets the next id, kept in order.
#[derive(Clone, Default)]
struct Fake {
    ids: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn ids(&self) -> Vec<String> {
        self.ids.lock().unwrap().clone()
    }
}

async fn fake_twilio(State(fake): State<Fake>, body: axum::body::Bytes) -> Response {
    let form = parse_form(&body);
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut ids = fake.ids.lock().unwrap();
    let sid = format!("SM{:032}", ids.len() + 1);
    ids.push(sid.clone());
    (
        StatusCode::CREATED,
        json!({"sid": sid, "status": "queued", "to": get("To"), "from": get("From"),
            "body": get("Body"), "error_code": null, "error_message": null, "num_segments": "1"})
        .to_string(),
    )
        .into_response()
}

async fn fake_vonage(State(fake): State<Fake>) -> Response {
    let mut ids = fake.ids.lock().unwrap();
    let id = format!("0A00000000{:06}", ids.len() + 1);
    ids.push(id.clone());
    json!({"message-count": "1", "messages": [{"status": "0", "message-id": id, "to": "447700900123"}]})
        .to_string()
        .into_response()
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a fake provider");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// `simgate run` with the two providers; killed when dropped.
struct Running {
    child: Child,
    base: String,
    http: reqwest::Client,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Running {
    async fn start(twilio: &str, vonage: &str) -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let config = format!(
            r#"
[server]
listen = "127.0.0.1:{port}"

[storage]
data_dir = "{data}"

[[provider]]
kind = "twilio"
name = "twilio-main"
priority = 10
account_sid = "ACtest"
auth_token = "{TWILIO_TOKEN}"
from = "+15005550006"
base_url = "{twilio}"
status_callback = "{base}/api/v1/sms-router/webhook/delivery-status"

[[provider]]
kind = "vonage"
name = "vonage"
priority = 20
api_key = "key"
api_secret = "api-secret"
signature_secret = "{VONAGE_SECRET}"
signature_method = "sha256"
from = "447700900000"
base_url = "{vonage}"
callback = "{base}/api/v1/providers/vonage/dlr"
"#,
            data = dir.path().join("data").display(),
        );
        let path = dir.path().join("simgate.toml");
        std::fs::write(&path, config).expect("write the configuration");
        // reqwest is unified with the gateway's `rustls-no-provider`: a client needs
        // a crypto provider installed first (a second install is a harmless Err).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let running = Running {
            child: Self::spawn(&path),
            base,
            http: reqwest::Client::new(),
            config: path,
            _dir: dir,
        };
        running.wait_ready().await;
        running
    }

    fn spawn(config: &std::path::Path) -> Child {
        Command::new(env!("CARGO_BIN_EXE_simgate"))
            .args(["run", "--config"])
            .arg(config)
            .env("SIMGATE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("SIMGATE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env(
                "RUST_LOG",
                std::env::var("SIMGATE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the simgate binary starts")
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(self.url("/api/health")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "simgate run never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the box (no shutdown) and starts it again on its address and data.
    async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(&self.config);
        self.wait_ready().await;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the box");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn token(&self, body: Value, path: &str, status: u16) -> String {
        let (s, b) = self.call(Method::POST, path, None, Some(body)).await;
        assert_eq!(s, status, "{b}");
        b["data"]["access_token"]
            .as_str()
            .expect("an access token")
            .to_string()
    }

    async fn send_sms(&self, admin: &str, from: Option<&str>, text: &str) -> i64 {
        let (s, b) = self
            .call(
                Method::POST,
                "/api/admin/sms",
                Some(admin),
                Some(json!({"to": "+447700900123", "text": text, "from": from})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        b["data"]["sms"]["id"].as_i64().expect("job id")
    }

    /// Waits until job `id` has `status`; returns the job.
    async fn wait_job(&self, admin: &str, id: i64, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, b) = self
                .call(
                    Method::GET,
                    &format!("/api/admin/sms/{id}"),
                    Some(admin),
                    None,
                )
                .await;
            let job = b["data"]["sms"].clone();
            if job["status"] == status {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} never became {status}: {b}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Vonage's parameters with `timestamp` and `sig` signed by `secret`.
fn vonage_signed(params: &[(&str, &str)], secret: &str, timestamp: u64) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    p.push(("timestamp".into(), timestamp.to_string()));
    p.push(("nonce".into(), "a1b2c3".into()));
    let sig = vonage::sign(&p, secret, SignatureMethod::Sha256);
    p.push(("sig".into(), sig));
    p
}

/// `params` as a query string.
fn query(params: &[(String, String)]) -> String {
    reqwest::Url::parse_with_params("http://x/", params)
        .expect("a URL")
        .query()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_callbacks_move_jobs_and_vonage_inbound_is_stored_once() {
    let twilio = Fake::default();
    let vonage_fake = Fake::default();
    let twilio_url = serve(
        axum::Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(fake_twilio),
            )
            .with_state(twilio.clone()),
    )
    .await;
    let vonage_url = serve(
        axum::Router::new()
            .route("/sms/json", post(fake_vonage))
            .with_state(vonage_fake.clone()),
    )
    .await;
    let sg = Running::start(&twilio_url, &vonage_url).await;
    let admin = sg
        .token(
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            "/api/auth/login",
            200,
        )
        .await;

    // Twilio (priority 10) sends the first; its status callback, signed with the
    // [[provider]]'s auth token (no [sms_router] token is configured), delivers it.
    let job = sg.send_sms(&admin, None, "via twilio").await;
    let sent = sg.wait_job(&admin, job, "sent").await;
    assert_eq!(sent["channel"], "twilio-main", "{sent}");
    let sid = twilio.ids()[0].clone();
    let status_path = "/api/v1/sms-router/webhook/delivery-status";
    let twilio_callback = |status: &'static str, token: &'static str| {
        let params = vec![
            ("MessageSid".to_string(), sid.clone()),
            ("MessageStatus".to_string(), status.to_string()),
            ("AccountSid".to_string(), "ACtest".to_string()),
        ];
        let signature = drivers::cloud::twilio::signature(token, &sg.url(status_path), &params);
        sg.http
            .post(sg.url(status_path))
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
    };
    let resp = twilio_callback("delivered", "not-the-token").await.unwrap();
    assert_eq!(resp.status().as_u16(), 400, "forged");
    let resp = twilio_callback("sent", TWILIO_TOKEN).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "success", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("not final"),
        "{body}"
    );
    let resp = twilio_callback("delivered", TWILIO_TOKEN).await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Delivery status updated", "{body}");
    assert_eq!(body["job_id"], job);
    let delivered = sg.wait_job(&admin, job, "delivered").await;
    assert!(delivered["delivered_at"].is_string(), "{delivered}");

    // Through Vonage: a receipt delivers one job (GET), another's failure makes it
    // undelivered (POST form).
    let ok_job = sg.send_sms(&admin, Some("vonage"), "via vonage 1").await;
    sg.wait_job(&admin, ok_job, "sent").await;
    let bad_job = sg.send_sms(&admin, Some("vonage"), "via vonage 2").await;
    sg.wait_job(&admin, bad_job, "sent").await;
    let ids = vonage_fake.ids();
    assert_eq!(ids.len(), 2, "each sent once: {ids:?}");
    let dlr = "/api/v1/providers/vonage/dlr";
    let receipt = |id: &str, status: &str| {
        [
            ("messageId", id.to_string()),
            ("msisdn", "447700900123".to_string()),
            ("to", "447700900000".to_string()),
            ("status", status.to_string()),
            (
                "err-code",
                if status == "delivered" { "0" } else { "5" }.to_string(),
            ),
            ("message-timestamp", "2025-08-06 12:00:00".to_string()),
        ]
    };
    let owned = receipt(&ids[0], "delivered");
    let params: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // Forged (another secret), unsigned and stale receipts are refused; nothing moves.
    for (what, p) in [
        (
            "forged",
            vonage_signed(&params, "some-other-secret", now_unix()),
        ),
        (
            "stale",
            vonage_signed(&params, VONAGE_SECRET, now_unix() - 2 * 86_400),
        ),
        (
            "unsigned",
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
    ] {
        let (s, body) = sg
            .call(Method::GET, &format!("{dlr}?{}", query(&p)), None, None)
            .await;
        assert_eq!(s, 401, "{what}: {body}");
        assert_eq!(body["error_code"], "VONAGE_WEBHOOK_INVALID", "{what}");
        assert_eq!(body["status"], "error");
        let detail = body["detail"].as_str().unwrap();
        let expected = match what {
            "forged" => "does not match",
            "stale" => "timestamp",
            _ => "sig",
        };
        assert!(detail.contains(expected), "{what}: {detail}");
    }
    sg.wait_job(&admin, ok_job, "sent").await;

    let signed = vonage_signed(&params, VONAGE_SECRET, now_unix());
    let (s, body) = sg
        .call(
            Method::GET,
            &format!("{dlr}?{}", query(&signed)),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["job_id"], ok_job, "{body}");
    sg.wait_job(&admin, ok_job, "delivered").await;
    // The same receipt again (a Vonage retry) is answered 200 and changes nothing.
    let (s, body) = sg
        .call(
            Method::GET,
            &format!("{dlr}?{}", query(&signed)),
            None,
            None,
        )
        .await;
    assert_eq!((s, body["job_id"].clone()), (200, json!(ok_job)), "{body}");
    let again = sg.wait_job(&admin, ok_job, "delivered").await;
    assert_eq!(again["status"], "delivered");

    let owned = receipt(&ids[1], "failed");
    let params: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = sg
        .http
        .post(sg.url(dlr))
        .form(&vonage_signed(&params, VONAGE_SECRET, now_unix()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let undelivered = sg.wait_job(&admin, bad_job, "undelivered").await;
    assert_eq!(undelivered["channel"], "vonage", "{undelivered}");

    // Inbound through Vonage: mapped to a user by the sender's number, stored once.
    let user = sg
        .token(
            json!({"email": "vonage-user@example.com", "password": "correct horse battery", "first_name": "Ada", "last_name": "Lovelace"}),
            "/api/auth/register",
            201,
        )
        .await;
    let (_, me) = sg
        .call(Method::GET, "/api/auth/profile", Some(&user), None)
        .await;
    let user_id = me["data"]["user"]["id"].as_i64().expect("user id");
    let (s, body) = sg
        .call(
            Method::POST,
            &format!("/api/v1/sms-router/admin/phone-mappings?user_id={user_id}&phone_number=%2B447700900555"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let inbound = "/api/v1/providers/vonage/inbound";
    let text_params = [
        ("msisdn", "447700900555"),
        ("to", "447700900000"),
        ("messageId", "0B00000000000001"),
        ("text", "Your code is 135790"),
        ("type", "text"),
        ("keyword", "YOUR"),
        ("message-timestamp", "2025-08-06 12:00:01"),
    ];
    // A forged one is refused and stores nothing.
    let forged = vonage_signed(&text_params, "forger", now_unix());
    let resp = sg
        .http
        .post(sg.url(inbound))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    // POST-JSON, then the same again (Vonage retries until it gets a 2xx).
    let signed = vonage_signed(&text_params, VONAGE_SECRET, now_unix());
    let as_json: serde_json::Map<String, Value> = signed
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let resp = sg
            .http
            .post(sg.url(inbound))
            .json(&as_json)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        answers.push(resp.json::<Value>().await.unwrap());
    }
    assert_eq!(answers[0]["message"], "Message stored", "{answers:?}");
    assert_eq!(answers[0]["user_id"], user_id);
    assert!(
        answers[1]["message"]
            .as_str()
            .unwrap()
            .contains("stored already"),
        "{answers:?}"
    );
    // And as a GET with the query, a third time: still stored once.
    let (s, body) = sg
        .call(
            Method::GET,
            &format!("{inbound}?{}", query(&signed)),
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");

    let (_, list) = sg
        .call(Method::GET, "/api/messages", Some(&user), None)
        .await;
    assert_eq!(list["data"]["total"], 1, "stored once: {list}");
    let m = &list["data"]["messages"][0];
    assert_eq!(m["from_number"], "+447700900555", "{m}");
    assert_eq!(m["to_number"], "+447700900000", "{m}");
    assert_eq!(m["otp_code"], "135790", "{m}");
    assert_eq!(m["provider"], "vonage", "{m}");
    assert_eq!(m["received_at"], "2025-08-06T12:00:01.000Z", "{m}");

    // A signed webhook that lacks what an inbound text needs: 400 naming it.
    let signed = vonage_signed(
        &[("msisdn", "447700900555"), ("to", "447700900000")],
        VONAGE_SECRET,
        now_unix(),
    );
    let (s, body) = sg
        .call(
            Method::GET,
            &format!("{inbound}?{}", query(&signed)),
            None,
            None,
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("messageId"),
        "{body}"
    );
    // Garbage JSON: 400, not a panic.
    let resp = sg
        .http
        .post(sg.url(inbound))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

const VONAGE_INBOUND: &str = "/api/v1/providers/vonage/inbound";
const LONG_SENDER: &str = "447700900777";

/// A box with no fake provider behind it (these tests send nothing), an admin, and a
/// user the sender of the long texts is mapped to; (box, admin token, user token).
async fn box_with_mapped_user() -> (Running, String, String) {
    let sg = Running::start("http://127.0.0.1:9", "http://127.0.0.1:9").await;
    let admin = sg
        .token(
            json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            "/api/auth/login",
            200,
        )
        .await;
    let user = sg
        .token(
            json!({"email": "long-texts@example.com", "password": "correct horse battery", "first_name": "Grace", "last_name": "Hopper"}),
            "/api/auth/register",
            201,
        )
        .await;
    let (_, me) = sg
        .call(Method::GET, "/api/auth/profile", Some(&user), None)
        .await;
    let user_id = me["data"]["user"]["id"].as_i64().expect("user id");
    let (s, body) = sg
        .call(
            Method::POST,
            &format!("/api/v1/sms-router/admin/phone-mappings?user_id={user_id}&phone_number=%2B{LONG_SENDER}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    (sg, admin, user)
}

/// How one webhook is sent: Vonage offers GET, POST form and POST-JSON.
#[derive(Clone, Copy)]
enum Via {
    Get,
    Form,
    Json,
}

/// One part of a long SMS (or, with odd fields, what claims to be one), signed.
fn part_params(id: &str, text: &str, concat: [&str; 3]) -> Vec<(String, String)> {
    vonage_signed(
        &[
            ("msisdn", LONG_SENDER),
            ("to", "447700900000"),
            ("messageId", id),
            ("text", text),
            ("type", "text"),
            ("message-timestamp", "2025-08-06 12:00:01"),
            ("concat", "true"),
            ("concat-ref", concat[0]),
            ("concat-total", concat[1]),
            ("concat-part", concat[2]),
        ],
        VONAGE_SECRET,
        now_unix(),
    )
}

impl Running {
    /// Sends one signed inbound webhook; its status and JSON answer.
    async fn inbound(&self, via: Via, params: &[(String, String)]) -> (u16, Value) {
        let req = match via {
            Via::Get => self
                .http
                .get(format!("{}?{}", self.url(VONAGE_INBOUND), query(params))),
            Via::Form => self.http.post(self.url(VONAGE_INBOUND)).form(params),
            Via::Json => {
                let body: serde_json::Map<String, Value> = params
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                self.http.post(self.url(VONAGE_INBOUND)).json(&body)
            }
        };
        let resp = req.send().await.expect("request reaches the box");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The user's messages, newest first.
    async fn messages(&self, user: &str) -> Vec<Value> {
        let (s, list) = self
            .call(Method::GET, "/api/messages?limit=100", Some(user), None)
            .await;
        assert_eq!(s, 200, "{list}");
        list["data"]["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `name{labels}`'s value in `/api/metrics` (0 when absent).
    async fn metric(&self, admin: &str, series: &str) -> f64 {
        let text = self
            .http
            .get(self.url("/api/metrics"))
            .bearer_auth(admin)
            .send()
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

const LONG_PARTS: [&str; 3] = [
    "Your Example Bank sign-in code is 73",
    "9514. It is valid for 10 minutes. If you did not ask ",
    "for it, call us on the number on your card.",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vonage_long_sms_in_order_is_stored_as_one_message() {
    let (sg, admin, user) = box_with_mapped_user().await;
    let received = r#"simgate_messages_received_total{channel="vonage",provider="vonage"}"#;
    for (i, text) in LONG_PARTS.iter().enumerate() {
        let n = (i + 1).to_string();
        let params = part_params(&format!("0D0000000000000{n}"), text, ["108", "3", &n]);
        let (s, body) = sg.inbound(Via::Form, &params).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["status"], "success", "{body}");
        if i < 2 {
            assert_eq!(
                body["message"],
                format!("Part {n} of 3 stored; {n} of 3 received")
            );
            assert!(sg.messages(&user).await.is_empty(), "nothing shown yet");
        } else {
            assert_eq!(body["message"], "Message stored", "{body}");
            assert!(body["message_id"].is_i64(), "{body}");
            assert!(body["user_id"].is_i64(), "{body}");
        }
    }
    let messages = sg.messages(&user).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["content"], LONG_PARTS.concat(), "{m}");
    assert_eq!(m["otp_code"], "739514", "the code the parts split: {m}");
    assert_eq!(m["from_number"], format!("+{LONG_SENDER}"));
    assert_eq!(m["provider"], "vonage");
    assert_eq!(m["received_at"], "2025-08-06T12:00:01.000Z");
    assert_eq!(m["extra_data"]["concat_ref"], 108, "{m}");
    assert_eq!(
        m["extra_data"]["provider_ids"],
        json!(["0D00000000000001", "0D00000000000002", "0D00000000000003"])
    );
    assert!(m["extra_data"].get("incomplete").is_none(), "{m}");
    // Its events fanned out once (the metrics count the new_message events).
    let deadline = Instant::now() + Duration::from_secs(5);
    while sg.metric(&admin, received).await < 1.0 {
        assert!(Instant::now() < deadline, "no new_message event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sg.metric(&admin, received).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vonage_long_sms_out_of_order_replayed_and_across_a_restart_is_one_message() {
    let (mut sg, _admin, user) = box_with_mapped_user().await;
    let part = |n: usize| {
        part_params(
            &format!("0E0000000000000{n}"),
            LONG_PARTS[n - 1],
            ["42", "3", &n.to_string()],
        )
    };
    let (p1, p2, p3) = (part(1), part(2), part(3));
    let (s, body) = sg.inbound(Via::Get, &p3).await;
    assert_eq!(
        (s, body["message"].as_str()),
        (200, Some("Part 3 of 3 stored; 1 of 3 received")),
        "{body}"
    );
    let (s, body) = sg.inbound(Via::Json, &p1).await;
    assert_eq!(
        (s, body["message"].as_str()),
        (200, Some("Part 1 of 3 stored; 2 of 3 received")),
        "{body}"
    );
    // Vonage did not see our 200 for part 3 and sends it again: stored once.
    let (s, body) = sg.inbound(Via::Form, &p3).await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("stored already"),
        "{body}"
    );
    assert!(sg.messages(&user).await.is_empty());

    // The box dies with two parts committed; they are still there when it is back.
    sg.restart().await;
    let (s, body) = sg.inbound(Via::Get, &p1).await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("stored already"),
        "{body}"
    );
    let (s, body) = sg.inbound(Via::Form, &p2).await;
    assert_eq!(
        (s, body["message"].as_str()),
        (200, Some("Message stored")),
        "{body}"
    );
    let message_id = body["message_id"].as_i64().expect("message id");

    // A replay after the message: the same message named, nothing new.
    let (s, body) = sg.inbound(Via::Json, &p2).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["message_id"], message_id, "{body}");
    let messages = sg.messages(&user).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["content"], LONG_PARTS.concat());
    assert_eq!(messages[0]["otp_code"], "739514");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vonage_parts_with_bad_concat_fields_are_stored_alone_with_a_warning() {
    let (sg, _admin, user) = box_with_mapped_user().await;
    // Part 1 of 2 under ref 77 waits for its part 2.
    let (s, body) = sg
        .inbound(
            Via::Form,
            &part_params("0F00000000000001", "Meet at the ", ["77", "2", "1"]),
        )
        .await;
    assert_eq!(
        (s, body["status"].as_str()),
        (200, Some("success")),
        "{body}"
    );

    let cases = [
        ("0F00000000000010", ["77", "two", "2"], "concat-total"),
        ("0F00000000000011", ["77", "2", "0"], "concat-part"),
        ("0F00000000000012", ["77", "2", "3"], "concat-part"),
        ("0F00000000000013", ["77", "300", "2"], "concat-total"),
        ("0F00000000000014", ["ref-77", "2", "2"], "concat-ref"),
        // Numbers that parse, but the parts waiting under ref 77 say 2 parts.
        ("0F00000000000015", ["77", "3", "2"], "concat-total"),
    ];
    for (id, concat, field) in cases {
        let text = format!("text of {id}");
        let (s, body) = sg.inbound(Via::Form, &part_params(id, &text, concat)).await;
        assert_eq!(s, 200, "{field} {concat:?}: {body}");
        assert_eq!(body["status"], "warning", "{concat:?}: {body}");
        let said = body["message"].as_str().unwrap();
        assert!(said.contains(field), "{concat:?} names {field}: {said}");
        assert!(body["message_id"].is_i64(), "{body}");
    }
    // A replay of one of them is stored once.
    let (s, body) = sg
        .inbound(
            Via::Get,
            &part_params(
                "0F00000000000011",
                "text of 0F00000000000011",
                ["77", "2", "0"],
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("stored already"),
        "{body}"
    );

    let messages = sg.messages(&user).await;
    assert_eq!(messages.len(), cases.len(), "{messages:?}");
    for (id, concat, field) in cases {
        let m = messages
            .iter()
            .find(|m| m["content"] == format!("text of {id}"))
            .unwrap_or_else(|| panic!("{id} is stored on its own: {messages:?}"));
        let warning = m["extra_data"]["warning"].as_str().unwrap_or_default();
        assert!(warning.starts_with(field), "{id}: {m}");
        assert_eq!(m["extra_data"]["provider_id"], id, "{m}");
        if id.ends_with("15") {
            assert_eq!(m["extra_data"]["concat"]["total"], 3, "{m}");
        } else {
            assert_eq!(m["extra_data"]["concat"]["total"], concat[1], "{m}");
        }
    }

    // The group they did not join is whole when its real part 2 comes.
    let (s, body) = sg
        .inbound(
            Via::Form,
            &part_params("0F00000000000002", "station at noon.", ["77", "2", "2"]),
        )
        .await;
    assert_eq!(
        (s, body["message"].as_str()),
        (200, Some("Message stored")),
        "{body}"
    );
    let messages = sg.messages(&user).await;
    assert_eq!(messages.len(), cases.len() + 1);
    assert!(
        messages
            .iter()
            .any(|m| m["content"] == "Meet at the station at noon."),
        "{messages:?}"
    );
}
