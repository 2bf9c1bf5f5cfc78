//! Failover from a modem whose network refuses (`+CMS ERROR: 38` from an emulated
//! modem on a real pty) to a fake Twilio, and with Twilio down (500s) to a fake
//! Vonage; the circuit breaker takes the failing Twilio out, then probes it back.
//! Both fakes speak their provider's wire format and count every request, so a
//! message sent twice would show.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use drivers::cloud::parse_form;
use drivers::cloud::vonage::SignatureMethod;
use drivers::emulator::{self, EmulatorConfig};
use drivers::modem::ModemConfig;
use gateway::outbound::{ChannelLimits, OutboundJob, RetryPolicy, SendRequest};
use gateway::providers::{
    BreakerPolicy, BreakerState, CircuitBreaker, TwilioChannel, TwilioChannelConfig, VonageChannel,
    VonageChannelConfig,
};
use gateway::Gateway;

#[derive(Clone, Default)]
struct Fake {
    down: Arc<Mutex<bool>>,
    /// Every request, accepted or not.
    requests: Arc<Mutex<u32>>,
    /// The texts accepted for sending.
    accepted: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn requests(&self) -> u32 {
        *self.requests.lock().unwrap()
    }
    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

fn value(form: &[(String, String)], key: &str) -> String {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

async fn twilio(State(fake): State<Fake>, body: axum::body::Bytes) -> Response {
    *fake.requests.lock().unwrap() += 1;
    if *fake.down.lock().unwrap() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"code": 20500, "message": "Internal Server Error",
                "more_info": "https://www.twilio.com/docs/errors/20500", "status": 500})
            .to_string(),
        )
            .into_response();
    }
    let form = parse_form(&body);
    let mut accepted = fake.accepted.lock().unwrap();
    accepted.push(value(&form, "Body"));
    let sid = format!("SM{:032}", accepted.len());
    (
        StatusCode::CREATED,
        serde_json::json!({"sid": sid, "status": "queued", "to": value(&form, "To"),
            "from": value(&form, "From"), "body": value(&form, "Body"),
            "error_code": null, "error_message": null, "num_segments": "1"})
        .to_string(),
    )
        .into_response()
}

async fn vonage(State(fake): State<Fake>, body: axum::body::Bytes) -> Response {
    *fake.requests.lock().unwrap() += 1;
    let form = parse_form(&body);
    let mut accepted = fake.accepted.lock().unwrap();
    accepted.push(value(&form, "text"));
    let id = format!("0A{:014}", accepted.len());
    (
        StatusCode::OK,
        serde_json::json!({"message-count": "1", "messages": [{"to": value(&form, "to"),
            "message-id": id, "status": "0", "remaining-balance": "10.0",
            "message-price": "0.0333", "network": "310260"}]})
        .to_string(),
    )
        .into_response()
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn http() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    drivers::cloud::http_client(Duration::from_secs(2), tls).unwrap()
}

async fn wait_done(gateway: &Gateway, id: i64) -> OutboundJob {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let job = gateway.outbound_job(id, None).await.expect("job exists");
        if job.status == "sent" || job.status == "failed" {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} is {} ({:?})",
            job.status,
            job.error
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(gateway: &Gateway, text: &str) -> OutboundJob {
    let job = gateway
        .enqueue_send(SendRequest {
            to: "+12025550123".into(),
            text: text.into(),
            ..SendRequest::default()
        })
        .await
        .expect("queued");
    wait_done(gateway, job.id).await
}

async fn state_of(gateway: &Gateway, name: &str) -> (BreakerState, u32) {
    let h = gateway
        .channel_health()
        .await
        .into_iter()
        .find(|h| h.name == name)
        .expect("the channel is listed");
    (h.state, h.consecutive_failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modem_then_twilio_then_vonage_with_a_breaker_and_nothing_sent_twice() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    gateway.set_outbound_policy(
        ChannelLimits {
            per_minute: 100,
            per_day: 1000,
        },
        RetryPolicy {
            max_rounds: 3,
            first_backoff: Duration::from_millis(100),
        },
    );

    // The SIM: registered, but its network refuses every message.
    let emu = emulator::spawn(EmulatorConfig {
        number: "+15550100001".into(),
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    gateway
        .start_modem(
            ModemConfig {
                name: "emu-us".into(),
                port: emu.port_path().to_string(),
                number: Some("+15550100001".into()),
                ..ModemConfig::default()
            },
            "emulator",
        )
        .await
        .expect("driver starts");
    emu.set_send_error(Some(38)).await;

    let tw = Fake::default();
    let tw_url = serve(
        Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio))
            .with_state(tw.clone()),
    )
    .await;
    let vg = Fake::default();
    let vg_url = serve(
        Router::new()
            .route("/sms/json", post(vonage))
            .with_state(vg.clone()),
    )
    .await;

    let policy = BreakerPolicy {
        failure_threshold: 2,
        cool_down: Duration::from_millis(1500),
    };
    let twilio_channel = TwilioChannel::new(
        TwilioChannelConfig {
            name: "twilio".into(),
            account_sid: "AC0123".into(),
            auth_token: "token".into(),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
            base_url: Some(tw_url),
            status_callback: None,
            priority: 10,
        },
        http(),
    );
    let vonage_channel = VonageChannel::new(
        VonageChannelConfig {
            name: "vonage".into(),
            api_key: "key".into(),
            api_secret: "secret".into(),
            signature_secret: None,
            signature_method: SignatureMethod::Md5Hash,
            from: "447700900001".into(),
            base_url: Some(vg_url),
            callback: None,
            priority: 20,
        },
        http(),
    );
    gateway
        .add_send_channel(Arc::new(CircuitBreaker::new(
            Arc::new(twilio_channel),
            policy,
        )))
        .await;
    gateway
        .add_send_channel(Arc::new(CircuitBreaker::new(
            Arc::new(vonage_channel),
            policy,
        )))
        .await;
    // Wait for the SIM to register, so it is the first candidate.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !gateway
        .channel_health()
        .await
        .iter()
        .any(|h| h.name == "emu-us" && h.ready)
    {
        assert!(
            Instant::now() < deadline,
            "the emulated modem never got ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.start_dispatcher().await.expect("dispatcher");

    // 1. The modem is tried first and refused; Twilio takes the message.
    let job = send(&gateway, "one").await;
    assert_eq!(job.status, "sent", "{:?}", job.error);
    assert_eq!(job.channel.as_deref(), Some("twilio"));
    assert_eq!(job.attempts, 2, "the modem, then Twilio");
    assert_eq!(tw.accepted(), vec!["one"]);
    assert_eq!(vg.requests(), 0);

    // 2. Twilio answers 500: the modem, then Twilio, then Vonage.
    *tw.down.lock().unwrap() = true;
    let job = send(&gateway, "two").await;
    assert_eq!(job.channel.as_deref(), Some("vonage"), "{:?}", job.error);
    assert_eq!(job.attempts, 3);
    assert_eq!(tw.requests(), 2);
    assert_eq!(
        state_of(&gateway, "twilio").await,
        (BreakerState::Closed, 1)
    );

    // 3. A second failure in a row opens Twilio's circuit.
    let job = send(&gateway, "three").await;
    assert_eq!(job.channel.as_deref(), Some("vonage"));
    assert_eq!(tw.requests(), 3);
    assert_eq!(state_of(&gateway, "twilio").await, (BreakerState::Open, 2));
    let health = gateway.channel_health().await;
    let twilio = health.iter().find(|h| h.name == "twilio").unwrap();
    assert!(!twilio.ready);
    assert!(
        twilio
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("Internal Server Error"),
        "{twilio:?}"
    );

    // 4. While open, Twilio is skipped: not one request reaches it.
    let job = send(&gateway, "four").await;
    assert_eq!(job.channel.as_deref(), Some("vonage"));
    assert_eq!(job.attempts, 2, "the modem, then Vonage");
    assert_eq!(tw.requests(), 3);

    // 5. Twilio recovers; after the cool-down one probe goes to it and closes it.
    *tw.down.lock().unwrap() = false;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(state_of(&gateway, "twilio").await.0, BreakerState::HalfOpen);
    let job = send(&gateway, "five").await;
    assert_eq!(job.channel.as_deref(), Some("twilio"));
    assert_eq!(
        state_of(&gateway, "twilio").await,
        (BreakerState::Closed, 0)
    );

    // Nothing went out twice, nothing went missing.
    assert_eq!(tw.accepted(), vec!["one", "five"]);
    assert_eq!(vg.accepted(), vec!["two", "three", "four"]);
    assert_eq!(vg.requests(), 3);
    // The modem is listed too, without a breaker.
    let modem = state_of(&gateway, "emu-us").await;
    assert_eq!(modem.0, BreakerState::Closed);
}
