//! The web UI in a real browser: headless Chromium driven through chromedriver over the
//! W3C WebDriver protocol (a small client on reqwest, below), against the real binary in
//! demo mode.
//!
//! Covers signing in, both demo modems on the dashboard, an SMS injected into an
//! emulated SIM appearing live in the inbox with its code highlighted, the server's
//! per-field errors and a send with its status, the JavaScript segment counter against
//! the server's, a phone-sized viewport, no request leaving the box, and the page
//! weight. Screenshots go to `target/web-ui-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`CHROME_BIN` and `CHROMEDRIVER`
//! override their paths). Without them the test prints SKIPPED and passes, unless `CI`
//! is set: then it fails.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use common::{Demo, ADMIN_EMAIL, ADMIN_PASSWORD};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const BUDGET_BYTES: u64 = 300 * 1024;

fn which(name: &str, env: &str, default: &str) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    if Path::new(default).exists() {
        return Some(PathBuf::from(default));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.exists())
    })
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("web-ui-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// A chromedriver process and one browser session of it; both end on drop.
struct Browser {
    http: reqwest::Client,
    driver: String,
    session: String,
    child: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes its Chromium; Drop is not async, so from a thread.
        let url = format!("{}/session/{}", self.driver, self.session);
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    let _ = reqwest::Client::new()
                        .delete(url)
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                });
            }
        })
        .join();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    async fn start(chrome: &Path, chromedriver: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{driver}/status")).send().await {
                let v: Value = r.json().await.unwrap_or(Value::Null);
                if v["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        // The flags this machine's Chromium needs (no sandbox as root, no GPU) and those
        // that keep it from calling home, so that any outside request is the page's.
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-extensions".into(),
            "--disable-default-apps".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chrome.to_string_lossy(),
                    "args": args,
                    "perfLoggingPrefs": { "enableNetwork": true, "enablePage": false },
                },
                "goog:loggingPrefs": { "performance": "ALL", "browser": "ALL" },
            }}
        });
        let resp: Value = http
            .post(format!("{driver}/session"))
            .json(&caps)
            .send()
            .await
            .expect("new session request")
            .json()
            .await
            .expect("new session answer");
        let session = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused the session: {resp}"))
            .to_string();
        Browser {
            http,
            driver,
            session,
            child,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{}", self.driver, self.session, path);
        let mut req = self.http.request(method, url);
        req = req.json(&body.unwrap_or_else(|| json!({})));
        let resp: Value = req
            .send()
            .await
            .expect("webdriver request")
            .json()
            .await
            .expect("webdriver answer");
        if let Some(err) = resp["value"].get("error") {
            panic!("webdriver {path}: {err}: {}", resp["value"]["message"]);
        }
        resp["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn exec(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    async fn exec_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": args }))
            .await
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element id for {css}: {v}"))
            .to_string()
    }

    async fn click(&self, css: &str) {
        let id = self.wait_for(css, Duration::from_secs(10)).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    async fn fill(&self, css: &str, text: &str) {
        let id = self.wait_for(css, Duration::from_secs(10)).await;
        self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    /// Waits until `css` matches a visible element; returns its id.
    async fn wait_for(&self, css: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let found = self
                .exec(
                    "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0;",
                    json!([css]),
                )
                .await;
            if found == true {
                return self.find(css).await;
            }
            assert!(
                Instant::now() < deadline,
                "{css} did not appear within {within:?} on {}",
                self.exec(
                    "return location.href + ' ' + document.body.innerText.slice(0, 1500)",
                    json!([])
                )
                .await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the text of some element matching `css` satisfies `pred`; returns it.
    async fn wait_text(&self, css: &str, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let texts = self
                .exec(
                    "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent);",
                    json!([css]),
                )
                .await;
            if let Some(t) = texts
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|t| pred(t))
            {
                return t.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no {css} with the expected text within {within:?}; found {texts}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self
            .cmd(reqwest::Method::GET, "/screenshot", None)
            .await
            .as_str()
            .expect("screenshot data")
            .to_string();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("screenshot is base64");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    /// The whole page, beyond the viewport (DevTools' capture).
    async fn full_screenshot(&self, name: &str) -> PathBuf {
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": true }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("screenshot is base64");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
            .await
    }

    /// Chromedriver's log of `kind` (`performance`, `browser`) since the last call.
    async fn log(&self, kind: &str) -> Vec<Value> {
        self.post("/se/log", json!({ "type": kind }))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Every URL the page asked for, from the DevTools network events.
fn requested_urls(perf: &[Value]) -> Vec<String> {
    let mut urls = Vec::new();
    for entry in perf {
        let Some(msg) = entry["message"].as_str() else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(msg) else {
            continue;
        };
        let params = &v["message"]["params"];
        match v["message"]["method"].as_str() {
            Some("Network.requestWillBeSent") => {
                if let Some(u) = params["request"]["url"].as_str() {
                    urls.push(u.to_string());
                }
            }
            Some("Network.webSocketCreated") => {
                if let Some(u) = params["url"].as_str() {
                    urls.push(u.to_string());
                }
            }
            _ => {}
        }
    }
    urls
}

fn is_local(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("ws://"))
    else {
        // Inline data, and the browser's own pages (the first tab's new-tab page is
        // chrome://), never touch the network.
        return ["data:", "blob:", "about:", "chrome:", "chrome-untrusted:"]
            .iter()
            .any(|p| url.starts_with(p));
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    host == "127.0.0.1" || host == "localhost" || host == "[::1]"
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn wait_ready(demo: &Demo) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = demo
            .call(reqwest::Method::GET, "/api/health/ready", None, None)
            .await;
        let modems = body["checks"]["modems"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if modems.len() == 2 && modems.iter().all(|m| m["ready"] == true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the demo modems never became ready: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_ui_in_headless_chromium() {
    let chrome = which("chromium", "CHROME_BIN", "/usr/bin/chromium");
    let driver = which("chromedriver", "CHROMEDRIVER", "/usr/bin/chromedriver");
    let (Some(chrome), Some(driver)) = (chrome, driver) else {
        if std::env::var_os("CI").is_some() {
            panic!("CI is set but chromium or chromedriver is missing: apt-get install chromium chromium-driver");
        }
        println!("SKIPPED web_ui_in_headless_chromium: chromium and chromedriver not installed (apt-get install chromium chromium-driver)");
        return;
    };

    // reqwest is built with the gateway's `rustls-no-provider`: clients need a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut demo = Demo::start().await;
    wait_ready(&demo).await;
    let admin = demo.admin_token().await;
    let b = Browser::start(&chrome, &driver).await;

    // Sign in: a bad password is refused with a message, then the right one works.
    b.goto(&demo.url("/")).await;
    b.wait_for("#login-form", Duration::from_secs(10)).await;
    assert!(b.exec("return location.pathname", json!([])).await == "/login");
    b.fill("#f-email", ADMIN_EMAIL).await;
    b.fill("#f-password", "wrong password").await;
    b.click("#login-submit").await;
    b.wait_text(".form-error", Duration::from_secs(10), |t| {
        t.contains("Invalid email or password")
    })
    .await;
    b.screenshot("login-error").await;
    b.fill("#f-password", ADMIN_PASSWORD).await;
    b.click("#login-submit").await;

    // Dashboard: both demo modems, ready, with their numbers.
    b.wait_for("#modems .modem-card", Duration::from_secs(15))
        .await;
    for number in ["+15550100001", "+447700900002"] {
        b.wait_text("#modems .modem-card", Duration::from_secs(20), |t| {
            t.contains(number) && t.contains("ready")
        })
        .await;
    }
    b.wait_for(".chart svg", Duration::from_secs(10)).await;
    b.screenshot("dashboard").await;

    // The JavaScript segment counter agrees with the server's.
    let samples = [
        "",
        "hello",
        &"a".repeat(160),
        &"a".repeat(161),
        &"a".repeat(306),
        &"a".repeat(307),
        &"€".repeat(80),
        &"€".repeat(81),
        "{[~]}|^\\ and \u{c}",
        &"ж".repeat(70),
        &"ж".repeat(71),
        &"😀".repeat(35),
        &"😀".repeat(36),
        &format!("{}€", "a".repeat(152)),
        "Ünïcödé ÄÖÜ äöü ñ à é è ù ì ò Ç Ø å Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ ß",
        "ç and ê are not in the default alphabet",
        "tab\tis not GSM",
        "line\nbreaks\r\nare",
    ];
    let js = b
        .exec_async(
            "const done = arguments[arguments.length - 1];
             import('/js/segments.js').then(m => done(arguments[0].map(t => m.countSegments(t))))
               .catch(e => done(String(e)));",
            json!([samples]),
        )
        .await;
    for (i, text) in samples.iter().enumerate() {
        let resp = demo
            .http
            .get(demo.url(&format!("/api/segments?text={}", percent_encode(text))))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("segments");
        let body: Value = resp.json().await.expect("segments JSON");
        let server = &body["data"];
        for key in ["encoding", "parts", "chars_left", "units", "per_part"] {
            assert_eq!(
                js[i][key], server[key],
                "{key} of {text:?}: js {} server {server}",
                js[i]
            );
        }
    }

    // Inbox: live connection, then an SMS injected into an emulated SIM appears without
    // a reload, its code highlighted with a copy button.
    b.click("#nav a[href='/inbox']").await;
    b.wait_for(".live.on", Duration::from_secs(15)).await;
    b.wait_text("#messages", Duration::from_secs(10), |t| {
        t.contains("No messages yet")
    })
    .await;
    let (status, body) = demo
        .call(
            reqwest::Method::POST,
            "/api/admin/emulator/sms",
            Some(&admin),
            Some(json!({
                "to": "+15550100001",
                "from": "WhatsApp",
                "text": "Your WhatsApp code is 482-913. Don't share it.",
            })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let code = b
        .wait_text(".msg .otp-code", Duration::from_secs(20), |t| t == "482913")
        .await;
    assert_eq!(code, "482913");
    let marked = b
        .exec(
            "return document.querySelector('.msg mark')?.textContent",
            json!([]),
        )
        .await;
    assert_eq!(marked, "482-913");
    b.wait_for(".msg .otp button", Duration::from_secs(2)).await;
    b.wait_text("#inbox-summary", Duration::from_secs(5), |t| {
        t.contains("1 unread")
    })
    .await;
    b.wait_text(
        "#nav a[href='/inbox'] .badge",
        Duration::from_secs(5),
        |t| t == "1",
    )
    .await;
    b.screenshot("inbox").await;

    // Send: the server's per-field errors show next to the fields; a valid send shows
    // its status as it changes.
    b.click("#nav a[href='/send']").await;
    b.fill("#f-to", "not a number").await;
    b.fill("#f-text", "Hello from the web UI").await;
    b.wait_text("#segment-counter", Duration::from_secs(2), |t| {
        t.contains("1 part")
    })
    .await;
    b.click("#send-submit").await;
    b.wait_text("#f-to-error", Duration::from_secs(10), |t| {
        t.contains("E.164")
    })
    .await;
    b.screenshot("send-error").await;
    b.fill("#f-to", "+15557654321").await;
    b.click("#send-submit").await;
    let status = b
        .wait_text(".job .status", Duration::from_secs(30), |t| {
            matches!(t, "sent" | "delivered")
        })
        .await;
    assert!(matches!(status.as_str(), "sent" | "delivered"));
    b.screenshot("send").await;

    // Numbers and admin render.
    b.click("#nav a[href='/numbers']").await;
    b.wait_text("#pool", Duration::from_secs(10), |t| {
        t.contains("+447700900002")
    })
    .await;
    b.screenshot("numbers").await;
    b.click("#nav a[href='/admin']").await;
    b.wait_for("#inject-form", Duration::from_secs(10)).await;
    b.wait_for("#hook-form", Duration::from_secs(10)).await;
    b.wait_text("#users", Duration::from_secs(10), |t| {
        t.contains(ADMIN_EMAIL)
    })
    .await;
    // Both emulated SIMs as send channels, with their circuit breakers.
    b.wait_text("#channel-health", Duration::from_secs(10), |t| {
        t.contains("emu-us") && t.contains("emu-gb") && t.contains("closed")
    })
    .await;
    b.screenshot("admin").await;

    // Dark theme.
    b.click("#nav a[href='/dashboard']").await;
    b.wait_for("#modems .modem-card", Duration::from_secs(10))
        .await;
    b.click("#theme").await;
    b.click("#theme").await;
    assert_eq!(
        b.exec("return document.documentElement.dataset.theme", json!([]))
            .await,
        "dark"
    );
    b.wait_for(".chart svg", Duration::from_secs(10)).await;
    b.screenshot("dashboard-dark").await;
    b.full_screenshot("dashboard-dark-full").await;

    // A phone: nothing wider than the screen, navigation and the code still there.
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true }),
    )
    .await;
    b.goto(&demo.url("/inbox")).await;
    b.wait_text(".msg .otp-code", Duration::from_secs(15), |t| t == "482913")
        .await;
    let overflow = b
        .exec(
            "return document.documentElement.scrollWidth - window.innerWidth",
            json!([]),
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "the page is wider than a phone: {overflow}"
    );
    b.wait_for("#nav a[href='/send']", Duration::from_secs(5))
        .await;
    b.screenshot("phone-inbox").await;
    b.goto(&demo.url("/dashboard")).await;
    b.wait_for("#modems .modem-card", Duration::from_secs(10))
        .await;
    b.wait_for(".chart svg", Duration::from_secs(10)).await;
    b.screenshot("phone-dashboard").await;

    // An expired access token is renewed with the refresh token, without a word; a
    // refused refresh token ends at the sign-in page, which says why.
    b.exec(
        "const s = JSON.parse(localStorage.getItem('simgate.session'));
         s.access_token = 'expired.or.forged';
         localStorage.setItem('simgate.session', JSON.stringify(s));",
        json!([]),
    )
    .await;
    b.goto(&demo.url("/inbox")).await;
    b.wait_text(".msg .otp-code", Duration::from_secs(15), |t| t == "482913")
        .await;
    b.wait_for(".live.on", Duration::from_secs(15)).await;
    let renewed = b
        .exec(
            "return JSON.parse(localStorage.getItem('simgate.session')).access_token",
            json!([]),
        )
        .await;
    assert_ne!(renewed, "expired.or.forged");
    b.exec(
        "const s = JSON.parse(localStorage.getItem('simgate.session'));
         s.access_token = 'expired.or.forged'; s.refresh_token = 'revoked';
         localStorage.setItem('simgate.session', JSON.stringify(s));",
        json!([]),
    )
    .await;
    b.goto(&demo.url("/numbers")).await;
    b.wait_text("#login-form .form-error", Duration::from_secs(15), |t| {
        t.contains("session has expired")
    })
    .await;
    b.screenshot("phone-session-expired").await;
    b.fill("#f-email", ADMIN_EMAIL).await;
    b.fill("#f-password", ADMIN_PASSWORD).await;
    b.click("#login-submit").await;
    b.wait_for("#modems .modem-card", Duration::from_secs(15))
        .await;

    // The box restarts (SIGKILL, then up again on the same address): the page says the
    // connection is lost, reconnects by itself, says so, and live updates flow again.
    b.goto(&demo.url("/inbox")).await;
    b.wait_for(".live.on", Duration::from_secs(15)).await;
    b.exec(
        "window.bannerTexts = [];
         const banner = document.getElementById('banner');
         new MutationObserver(() => window.bannerTexts.push(banner.hidden ? '' : banner.textContent))
           .observe(banner, { childList: true, characterData: true, subtree: true, attributes: true });",
        json!([]),
    )
    .await;
    demo.restart().await;
    wait_ready(&demo).await;
    let said = |banners: &Value, what: &str| {
        banners.as_array().is_some_and(|a| {
            a.iter()
                .any(|t| t.as_str().is_some_and(|t| t.contains(what)))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let banners = loop {
        let banners = b.exec("return window.bannerTexts", json!([])).await;
        if said(&banners, "Reconnected.") {
            break banners;
        }
        assert!(
            Instant::now() < deadline,
            "the page never reconnected: {banners}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        said(&banners, "Connection to the box lost"),
        "the page never said the connection was lost: {banners}"
    );
    b.wait_for(".live.on", Duration::from_secs(15)).await;
    b.screenshot("phone-reconnected").await;
    let (status, body) = demo
        .call(
            reqwest::Method::POST,
            "/api/admin/emulator/sms",
            Some(&admin),
            Some(json!({
                "to": "+15550100001",
                "from": "Google",
                "text": "G-135790 is your Google verification code.",
            })),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    b.wait_text(".msg .otp-code", Duration::from_secs(20), |t| t == "135790")
        .await;

    // Page weight: a fresh load of the signed-in UI (cache off), assets compressed.
    b.cdp("Network.setCacheDisabled", json!({ "cacheDisabled": true }))
        .await;
    b.goto(&demo.url("/dashboard")).await;
    b.wait_for(".chart svg", Duration::from_secs(10)).await;
    let weight = b
        .exec(
            "const all = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')];
             return all.filter(e => { const p = new URL(e.name).pathname; return !p.startsWith('/api/') && !p.startsWith('/socket.io'); })
                       .map(e => [e.name, e.encodedBodySize, e.decodedBodySize]);",
            json!([]),
        )
        .await;
    let entries = weight.as_array().cloned().unwrap_or_default();
    let total: u64 = entries.iter().map(|e| e[1].as_u64().unwrap_or(0)).sum();
    println!(
        "first load: {} files, {total} bytes compressed: {weight}",
        entries.len()
    );
    assert!(entries.len() >= 5, "{weight}");
    assert!(
        total < BUDGET_BYTES,
        "the first load weighs {total} bytes: {weight}"
    );
    assert!(
        entries.iter().any(|e| e[1].as_u64() < e[2].as_u64()),
        "no asset came compressed: {weight}"
    );

    // No request left the box, and no script error happened.
    let urls = requested_urls(&b.log("performance").await);
    assert!(
        urls.len() > 10,
        "the DevTools log saw too few requests: {urls:?}"
    );
    let outside: Vec<&String> = urls.iter().filter(|u| !is_local(u)).collect();
    assert!(outside.is_empty(), "requests left the box: {outside:?}");
    let errors: Vec<Value> = b
        .log("browser")
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE" && e["source"] == "javascript")
        .collect();
    assert!(errors.is_empty(), "script errors: {errors:?}");
    println!("screenshots in {}", screenshot_dir().display());
}

#[test]
fn local_urls_are_told_apart() {
    assert!(is_local("http://127.0.0.1:8080/js/app.js"));
    assert!(is_local("ws://127.0.0.1:1234/socket.io/?EIO=4"));
    assert!(is_local("data:image/svg+xml,abc"));
    assert!(!is_local("https://cdn.example.com/x.js"));
    assert!(!is_local("http://127.0.0.1.evil.com/x"));
    assert!(!is_local("http://fonts.googleapis.com/css"));
    assert!(!is_local("wss://example.com/socket.io/"));
    assert!(is_local("chrome://resources/js/util.js"));
}
