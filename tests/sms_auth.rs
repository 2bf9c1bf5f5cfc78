//! End-to-end tests of the SMS Auth seed (`../shared/seeds/sms-auth-api.md`) against
//! the real binary in demo mode. Codes are read from the box's log (the `logger`
//! method writes the seed's line to the log, which these tests capture).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A demo box whose stderr (the log) is kept for reading codes.
struct AuthBox {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
    log: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

impl Drop for AuthBox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AuthBox {
    async fn start(vars: &[(&str, &str)]) -> AuthBox {
        let data = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_simgate"));
        command
            .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("SIMGATE_ADMIN_EMAIL", "admin@simgate.test")
            .env("SIMGATE_ADMIN_PASSWORD", "admin-password-for-tests")
            .env("SIMGATE_RATE_LIMIT_AUTH", "100000/60")
            .env("RUST_LOG", "warn,gateway::phone_auth=info");
        for (k, v) in vars {
            command.env(k, v);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("simgate starts");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        // The log goes to stdout (tracing's default writer) or stderr: read both.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("running at ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
                if std::env::var_os("SIMGATE_TEST_LOG").is_some() {
                    eprintln!("[box] {line}");
                }
                sink.lock().unwrap().push(line);
            }
        });
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("SIMGATE_TEST_LOG").is_some() {
                    eprintln!("[box] {line}");
                }
                sink.lock().unwrap().push(line);
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the demo prints its URL");
        let _ = rustls::crypto::ring::default_provider().install_default();
        let b = AuthBox {
            child,
            base,
            _data: data,
            log,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !b
            .http
            .get(format!("{}/api/health", b.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(Instant::now() < deadline, "health never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        b
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The codes logged for `phone` so far, oldest first.
    fn codes(&self, phone: &str) -> Vec<String> {
        let prefix = format!("SMS to {phone}: Your verification code is: ");
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| {
                let rest = &l[l.find(&prefix)? + prefix.len()..];
                assert!(
                    rest.ends_with(". This code will expire in 10 minutes."),
                    "the seed's line: {l}"
                );
                assert!(l.contains("INFO"), "logged at info level: {l}");
                Some(rest[..6].to_string())
            })
            .collect()
    }

    /// Waits for the `n`th code of `phone` (1-based) and returns it.
    async fn code(&self, phone: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let codes = self.codes(phone);
            if codes.len() >= n {
                return codes[n - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "no code #{n} for {phone} in the log"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

fn wrong(code: &str) -> String {
    let d = (code.as_bytes()[5] - b'0' + 1) % 10;
    format!("{}{d}", &code[..5])
}

#[tokio::test]
async fn register_verify_user_logout_and_login_in_the_seeds_shapes() {
    let b = AuthBox::start(&[]).await;
    let (s, body) = b
        .post(
            "/api/auth/register",
            None,
            json!({"phone": "(415) 555-2671", "password": "securepassword"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        body["message"],
        "Registration successful. OTP sent to your phone."
    );
    let user_id = body["user_id"].as_i64().expect("integer user_id");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");

    let code = b.code("+14155552671", 1).await;
    assert_eq!(code.len(), 6);
    // Another spelling of the same number verifies.
    let (s, body) = b
        .post(
            "/api/auth/verify-otp",
            None,
            json!({"phone": "+1 415-555-2671", "otp": code}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["message"], "Phone verified successfully");
    let token = body["token"].as_str().expect("token").to_string();
    assert!(token.contains('|'), "{token}");
    let user = &body["user"];
    assert_eq!(user["id"], user_id);
    assert_eq!(user["phone"], "+14155552671");
    for k in ["phone_verified_at", "created_at", "updated_at"] {
        assert!(
            user[k].as_str().is_some_and(|t| t.ends_with('Z')),
            "{k}: {user}"
        );
    }
    // A used code does not work twice.
    let (s, body) = b
        .post(
            "/api/auth/verify-otp",
            None,
            json!({"phone": "+14155552671", "otp": code}),
        )
        .await;
    assert_eq!(
        (s, body),
        (400, json!({"message": "Invalid or expired OTP"}))
    );

    let (s, me) = b.get("/api/auth/user", Some(&token)).await;
    assert_eq!(s, 200, "{me}");
    assert_eq!(&me, user);

    let (s, body) = b.post("/api/auth/logout", Some(&token), json!({})).await;
    assert_eq!(
        (s, body),
        (200, json!({"message": "Logged out successfully"}))
    );
    let (s, body) = b.get("/api/auth/user", Some(&token)).await;
    assert_eq!(s, 401, "revoked: {body}");
    let (s, _) = b.get("/api/auth/user", None).await;
    assert_eq!(s, 401);
    let (s, _) = b.get("/api/auth/user", Some("1|forged")).await;
    assert_eq!(s, 401);

    // Login by the seed's 10-digit spelling; resend waits 60 s by default.
    let (s, body) = b
        .post("/api/auth/login", None, json!({"phone": "4155552671"}))
        .await;
    assert_eq!(
        s, 429,
        "the register code went out less than 60 s ago: {body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("seconds"),
        "{body}"
    );

    // DispoSMS is still served on the same paths by email.
    let (s, body) = b
        .post(
            "/api/auth/register",
            None,
            json!({"email": "e@example.com", "password": "password123"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["success"], true, "DispoSMS envelope: {body}");
}

#[tokio::test]
async fn validation_unknown_users_wrong_length_and_three_wrong_attempts() {
    let b = AuthBox::start(&[("SIMGATE_SMS_AUTH_RESEND_AFTER_SECS", "0")]).await;
    let (s, body) = b
        .post(
            "/api/auth/register",
            None,
            json!({"phone": "+1234567890", "password": "123"}),
        )
        .await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["message"], "Validation failed");
    assert_eq!(
        body["errors"]["password"],
        json!(["The password must be at least 6 characters."])
    );
    for bad in ["not a phone", "12", "+1 800 FLOWERS", ""] {
        let (s, body) = b
            .post(
                "/api/auth/register",
                None,
                json!({"phone": bad, "password": "secret1"}),
            )
            .await;
        assert_eq!(s, 422, "{bad}: {body}");
        assert!(body["errors"]["phone"][0].is_string(), "{body}");
    }
    let (s, body) = b
        .post(
            "/api/auth/register",
            None,
            json!({"phone": "+1234567890", "password": "secret1"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    // Every spelling the seed lists is the same, taken, number.
    for same in ["+1234567890", "1234567890", "11234567890", "(123) 456-7890"] {
        let (s, body) = b
            .post(
                "/api/auth/register",
                None,
                json!({"phone": same, "password": "secret1"}),
            )
            .await;
        assert_eq!(s, 422, "{same}: {body}");
        assert_eq!(
            body["errors"]["phone"],
            json!(["The phone has already been taken."])
        );
    }

    for path in ["/api/auth/login", "/api/auth/resend-otp"] {
        let (s, body) = b.post(path, None, json!({"phone": "+447700900123"})).await;
        assert_eq!(
            (s, body),
            (404, json!({"message": "User not found"})),
            "{path}"
        );
    }

    let first = b.code("+1234567890", 1).await;
    for otp in ["12345", "1234567", "12a456", ""] {
        let (s, body) = b
            .post(
                "/api/auth/verify-otp",
                None,
                json!({"phone": "+1234567890", "otp": otp}),
            )
            .await;
        assert_eq!(s, 422, "{otp}: {body}");
        assert!(body["errors"]["otp"][0].is_string(), "{body}");
    }
    let (s, _) = b
        .post(
            "/api/auth/verify-otp",
            None,
            json!({"phone": "+1234567890", "otp": 123456}),
        )
        .await;
    assert_eq!(s, 422, "a number is not a code");

    // Resend: the old code dies, the new one is live.
    let (s, body) = b
        .post("/api/auth/resend-otp", None, json!({"phone": "1234567890"}))
        .await;
    assert_eq!(
        (s, body),
        (200, json!({"message": "OTP resent successfully"}))
    );
    let code = b.code("+1234567890", 2).await;
    if code != first {
        let (s, _) = b
            .post(
                "/api/auth/verify-otp",
                None,
                json!({"phone": "+1234567890", "otp": first}),
            )
            .await;
        assert_eq!(s, 400, "a replaced code is refused");
    }
    // Three wrong tries kill the code: the right one is then refused too.
    let (s, body) = b
        .post("/api/auth/login", None, json!({"phone": "+1234567890"}))
        .await;
    assert_eq!(
        (s, body),
        (
            200,
            json!({"message": "OTP sent to your phone for verification."})
        )
    );
    let code = b.code("+1234567890", 3).await;
    for i in 0..3 {
        let (s, body) = b
            .post(
                "/api/auth/verify-otp",
                None,
                json!({"phone": "+1234567890", "otp": wrong(&code)}),
            )
            .await;
        assert_eq!(s, 400, "try {i}: {body}");
    }
    let (s, body) = b
        .post(
            "/api/auth/verify-otp",
            None,
            json!({"phone": "+1234567890", "otp": code}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Too many failed attempts"),
        "{body}"
    );
    // A new code works.
    b.post(
        "/api/auth/resend-otp",
        None,
        json!({"phone": "+1234567890"}),
    )
    .await;
    let code = b.code("+1234567890", 4).await;
    let (s, body) = b
        .post(
            "/api/auth/verify-otp",
            None,
            json!({"phone": "+1234567890", "otp": code}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

#[tokio::test]
async fn hourly_and_daily_limits_each_with_their_message() {
    let hourly = AuthBox::start(&[
        ("SIMGATE_SMS_AUTH_RESEND_AFTER_SECS", "0"),
        ("SIMGATE_SMS_AUTH_PER_HOUR", "3"),
    ])
    .await;
    let daily = AuthBox::start(&[
        ("SIMGATE_SMS_AUTH_RESEND_AFTER_SECS", "0"),
        ("SIMGATE_SMS_AUTH_PER_DAY", "2"),
    ])
    .await;
    for (b, sends, word) in [(&hourly, 3, "per hour"), (&daily, 2, "per day")] {
        let (s, _) = b
            .post(
                "/api/auth/register",
                None,
                json!({"phone": "+447700900123", "password": "secret1"}),
            )
            .await;
        assert_eq!(s, 201);
        for _ in 1..sends {
            let (s, body) = b
                .post(
                    "/api/auth/resend-otp",
                    None,
                    json!({"phone": "07700 900123", "country": "GB"}),
                )
                .await;
            // No default region GB here: the national spelling is not this number.
            assert!(s == 422 || s == 404, "{body}");
            let (s, body) = b
                .post(
                    "/api/auth/resend-otp",
                    None,
                    json!({"phone": "+44 7700 900123"}),
                )
                .await;
            assert_eq!(s, 200, "{body}");
        }
        let resp = b
            .http
            .post(format!("{}/api/auth/login", b.base))
            .json(&json!({"phone": "+447700900123"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 429);
        assert!(resp.headers().contains_key("retry-after"));
        let body: Value = resp.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains(word), "{body}");
        // The log is read from the box's stderr by a thread: wait for the codes sent,
        // then give a code past the limit, if one was wrongly sent, time to show up.
        b.code("+447700900123", sends).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            b.codes("+447700900123").len(),
            sends,
            "nothing sent past the limit"
        );
    }
}
