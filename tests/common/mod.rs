//! Starting the real `simgate` binary in demo mode for end-to-end tests.

#![allow(dead_code)] // each test file uses its own part of this

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@simgate.test";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// Starts `simgate demo` on `listen` and returns it with the URL it printed.
fn spawn(data_dir: &std::path::Path, listen: &str, vars: &[(String, String)]) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_simgate"));
    command
        .args(["demo", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .env("SIMGATE_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SIMGATE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        // SIMGATE_TEST_LOG=debug shows the box's logs while debugging a test.
        .env(
            "RUST_LOG",
            std::env::var("SIMGATE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        );
    for (k, v) in vars {
        command.env(k, v);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the simgate binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    // The first line names the URL; the port was chosen by the OS.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let echo = std::env::var_os("SIMGATE_TEST_LOG").is_some();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if echo {
                eprintln!("[box] {line}");
            }
            if let Some(url) = line.split("running at ").nth(1) {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("simgate demo prints its URL");
    (child, base)
}

/// A running `simgate demo`; killed when dropped.
pub struct Demo {
    child: Child,
    pub base: String,
    pub data_dir: tempfile::TempDir,
    pub http: reqwest::Client,
    vars: Vec<(String, String)>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    /// Starts the binary on a free loopback port and waits until `/api/health` answers.
    pub async fn start() -> Demo {
        Self::start_with_env(&[]).await
    }

    /// [`start`](Self::start) with extra environment variables (e.g. low rate limits).
    pub async fn start_with_env(vars: &[(&str, &str)]) -> Demo {
        let data_dir = tempfile::tempdir().expect("temp dir for the demo's data");
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (child, base) = spawn(data_dir.path(), "127.0.0.1:0", &vars);
        // reqwest is unified with the gateway's `rustls-no-provider`: a client needs
        // a crypto provider installed first (a second install is a harmless Err).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let demo = Demo {
            child,
            base,
            data_dir,
            http: reqwest::Client::new(),
            vars,
        };
        demo.wait_healthy().await;
        demo
    }

    /// Kills the box (SIGKILL, as a power cut would) and starts it again on the same
    /// address and data directory; returns when `/api/health` answers again.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let listen = self.base.trim_start_matches("http://").to_string();
        let (child, base) = spawn(self.data_dir.path(), &listen, &self.vars);
        assert_eq!(base, self.base, "the box came back on another address");
        self.child = child;
        self.wait_healthy().await;
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(self.url("/api/health")).send().await {
                if r.status().is_success() {
                    let body: Value = r.json().await.expect("health is JSON");
                    assert_eq!(body["status"], "ok");
                    break;
                }
            }
            assert!(Instant::now() < deadline, "health never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request and returns (status, JSON body).
    pub async fn call(
        &self,
        method: reqwest::Method,
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
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Registers a user and returns its access token.
    pub async fn register(&self, email: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": "correct horse battery", "first_name": "Ada", "last_name": "Lovelace"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["data"]["access_token"]
            .as_str()
            .expect("register returns an access token")
            .to_string()
    }

    pub async fn admin_token(&self) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["access_token"]
            .as_str()
            .expect("login returns an access token")
            .to_string()
    }

    /// Sends a request with extra headers and a raw body; returns (status, headers, JSON
    /// body or `Null`).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("request reaches the box");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// Leases `number` to the token's user; returns the assignment id (`assign_N`).
    pub async fn assign(&self, token: &str, number: &str, duration: i64) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/numbers/assign",
                Some(token),
                Some(json!({"number": number, "duration": duration})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["data"]["assignment"]["id"]
            .as_str()
            .expect("assignment id")
            .to_string()
    }

    /// Has the emulated modem holding `to` receive `text` from `from`.
    pub async fn inject(&self, admin: &str, to: &str, from: &str, text: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/admin/emulator/sms",
                Some(admin),
                Some(json!({"to": to, "from": from, "text": text})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }

    /// Waits until the token's user has at least `n` messages; returns them.
    pub async fn wait_messages(&self, token: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, body) = self
                .call(
                    reqwest::Method::GET,
                    "/api/messages?sort=oldest",
                    Some(token),
                    None,
                )
                .await;
            let list = body["data"]["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if list.len() >= n {
                return list;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} messages arrived",
                list.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Asserts the DispoSMS success envelope and returns its `data`.
pub fn data_of(body: &Value) -> &Value {
    assert_eq!(body["success"], true, "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
    assert!(body["message"].is_string(), "{body}");
    &body["data"]
}

/// Asserts the DispoSMS error envelope with `code`.
pub fn assert_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["details"].is_object(), "{body}");
    assert!(body["timestamp"].is_string(), "{body}");
}

/// Asserts that `v` is a timestamp in the API's form (`2025-08-06T12:00:00.000Z`).
pub fn assert_timestamp(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    assert!(
        s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.',
        "not a millisecond UTC timestamp: {s}"
    );
}

/// A live Socket.IO client that forwards the named events into a channel.
pub struct Socket {
    pub client: rust_socketio::asynchronous::Client,
    pub events: tokio::sync::mpsc::UnboundedReceiver<(String, Value)>,
}

impl Socket {
    pub async fn connect(base: &str, token: &str, names: &[&'static str]) -> Socket {
        use futures_util::FutureExt;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut builder = rust_socketio::asynchronous::ClientBuilder::new(base)
            .namespace("/")
            .auth(json!({ "token": token }))
            .reconnect(false);
        let mut all: Vec<&'static str> = names.to_vec();
        if !all.contains(&"pong") {
            all.push("pong");
        }
        for name in all {
            let tx = tx.clone();
            builder = builder.on(name, move |payload: rust_socketio::Payload, _| {
                let tx = tx.clone();
                async move {
                    let value = match payload {
                        rust_socketio::Payload::Text(mut values) if !values.is_empty() => {
                            values.remove(0)
                        }
                        _ => Value::Null,
                    };
                    let _ = tx.send((name.to_string(), value));
                }
                .boxed()
            });
        }
        // Wait for the namespace's CONNECT answer (the server's auth middleware runs
        // first): an event sent before it makes socketioxide drop the connection.
        let connected = tx.clone();
        builder = builder.on(rust_socketio::Event::Connect, move |_, _| {
            let tx = connected.clone();
            async move {
                let _ = tx.send(("connect".to_string(), Value::Null));
            }
            .boxed()
        });
        let client = builder
            .connect()
            .await
            .expect("the Socket.IO client connects");
        let mut socket = Socket { client, events: rx };
        socket
            .next("connect", Duration::from_secs(5))
            .await
            .expect("the namespace connection is accepted");
        socket
            .client
            .emit("ping", json!({}))
            .await
            .expect("emit ping");
        socket
            .next("pong", Duration::from_secs(5))
            .await
            .expect("pong after connecting");
        socket
    }

    /// The next event called `name` within `within`, skipping others.
    pub async fn next(&mut self, name: &str, within: Duration) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some((n, v))) if n == name => return Some(v),
                Ok(Some(_)) => continue,
                _ => return None,
            }
        }
    }

    pub async fn emit(&self, name: &str, data: Value) {
        self.client.emit(name, data).await.expect("emit");
    }
}
