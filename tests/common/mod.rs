//! Starting the real `simgate` binary in demo mode for end-to-end tests.

#![allow(dead_code)] // each test file uses its own part of this

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "admin@simgate.test";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// A running `simgate demo`; killed when dropped.
pub struct Demo {
    child: Child,
    pub base: String,
    pub data_dir: tempfile::TempDir,
    pub http: reqwest::Client,
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
        let data_dir = tempfile::tempdir().expect("temp dir for the demo's data");
        let mut child = Command::new(env!("CARGO_BIN_EXE_simgate"))
            .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .env("SIMGATE_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("SIMGATE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the simgate binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        // The first line names the URL; the port was chosen by the OS.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("running at ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("simgate demo prints its URL");
        let demo = Demo {
            child,
            base,
            data_dir,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = demo.http.get(demo.url("/api/health")).send().await {
                if r.status().is_success() {
                    let body: Value = r.json().await.expect("health is JSON");
                    assert_eq!(body["status"], "ok");
                    break;
                }
            }
            assert!(Instant::now() < deadline, "health never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        demo
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
}
