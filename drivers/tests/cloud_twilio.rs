//! drivers::cloud::twilio against a local fake that speaks Twilio's wire format
//! (form-encoded request with basic auth, Message resource JSON, error JSON
//! `{code, message, more_info, status}`), plus the webhook parsers and the signature
//! check with Twilio's own documented vector.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;

use drivers::cloud::twilio::{self, TwilioClient, TwilioConfig};
use drivers::cloud::{http_client, parse_form, DeliveryState};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "secret-token";

type Form = Vec<(String, String)>;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    InvalidNumber,
    RateLimited,
    ServerError,
    Garbage,
    Slow,
}

#[derive(Clone)]
struct Fake {
    mode: Arc<Mutex<Mode>>,
    requests: Arc<Mutex<Vec<Form>>>,
}

fn error_json(status: u16, code: u32, message: &str) -> String {
    serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
    .to_string()
}

async fn messages(
    State(fake): State<Fake>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    if sid != SID
        || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            error_json(401, 20003, "Authenticate"),
        )
            .into_response();
    }
    let form = parse_form(&body);
    fake.requests.lock().unwrap().push(form.clone());
    let mode = *fake.mode.lock().unwrap();
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    match mode {
        Mode::Ok => (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            serde_json::json!({
                "account_sid": SID,
                "api_version": "2010-04-01",
                "body": get("Body"),
                "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
                "date_sent": null,
                "direction": "outbound-api",
                "error_code": null,
                "error_message": null,
                "from": get("From"),
                "messaging_service_sid": null,
                "num_media": "0",
                "num_segments": "1",
                "price": null,
                "price_unit": "USD",
                "sid": "SM1234567890abcdef1234567890abcdef",
                "status": "queued",
                "to": get("To"),
                "uri": format!("/2010-04-01/Accounts/{SID}/Messages/SM1234567890abcdef1234567890abcdef.json"),
            })
            .to_string(),
        )
            .into_response(),
        Mode::InvalidNumber => (
            StatusCode::BAD_REQUEST,
            error_json(
                400,
                21211,
                &format!("The 'To' number {} is not a valid phone number.", get("To")),
            ),
        )
            .into_response(),
        Mode::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            error_json(429, 20429, "Too Many Requests"),
        )
            .into_response(),
        Mode::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        Mode::Garbage => (StatusCode::CREATED, "{\"sid\": [1, 2").into_response(),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::CREATED.into_response()
        }
    }
}

async fn numbers(Path(sid): Path<String>) -> Response {
    (
        StatusCode::OK,
        serde_json::json!({
            "first_page_uri": format!("/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json?PageSize=1000&Page=0"),
            "end": 0,
            "previous_page_uri": null,
            "incoming_phone_numbers": [{
                "sid": "PN2a0747eba6abf96b7e3c3ff0b4530f6e",
                "phone_number": "+15005550006",
                "friendly_name": "(500) 555-0006",
                "capabilities": {"sms": true, "mms": true, "voice": true},
            }],
            "uri": format!("/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json?PageSize=1000&Page=0"),
            "page_size": 1000,
            "start": 0,
            "next_page_uri": null,
            "page": 0,
        })
        .to_string(),
    )
        .into_response()
}

async fn start(mode: Mode) -> (TwilioClient, Fake) {
    let fake = Fake {
        mode: Arc::new(Mutex::new(mode)),
        requests: Arc::default(),
    };
    let app = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
        .route(
            "/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
            get(numbers),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = TwilioClient::new(
        TwilioConfig {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
            base_url: format!("http://{addr}/"),
            status_callback: Some("https://box.example/twilio/status".into()),
        },
        client(Duration::from_secs(1)),
    );
    (client, fake)
}

fn client(timeout: Duration) -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    http_client(timeout, tls).unwrap()
}

#[tokio::test]
async fn sends_a_form_with_basic_auth_and_reads_the_message_sid() {
    let (client, fake) = start(Mode::Ok).await;
    let msg = client.send("+14155550100", "Héllo & bye").await.unwrap();
    assert_eq!(msg.sid, "SM1234567890abcdef1234567890abcdef");
    assert_eq!(msg.status, "queued");
    assert_eq!(msg.error_code, None);
    let reqs = fake.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1);
    let mut form = reqs[0].clone();
    form.sort();
    assert_eq!(
        form,
        vec![
            ("Body".to_string(), "Héllo & bye".to_string()),
            ("From".into(), "+15005550006".into()),
            (
                "StatusCallback".into(),
                "https://box.example/twilio/status".into()
            ),
            ("To".into(), "+14155550100".into()),
        ]
    );
}

#[tokio::test]
async fn an_invalid_number_is_not_retryable() {
    let (client, _fake) = start(Mode::InvalidNumber).await;
    let err = client.send("+1415", "hi").await.unwrap_err();
    assert!(!err.retryable, "{err}");
    assert_eq!(err.code.as_deref(), Some("21211"));
    assert_eq!(err.http_status, Some(400));
    assert!(err.message.contains("not a valid phone number"), "{err}");
}

#[tokio::test]
async fn rate_limits_server_errors_garbage_and_timeouts_are_retryable() {
    for mode in [
        Mode::RateLimited,
        Mode::ServerError,
        Mode::Garbage,
        Mode::Slow,
    ] {
        let (client, _fake) = start(mode).await;
        let started = std::time::Instant::now();
        let err = client.send("+14155550100", "hi").await.unwrap_err();
        assert!(err.retryable, "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the timeout holds"
        );
    }
}

#[tokio::test]
async fn bad_credentials_fail_over_rather_than_fail_the_message() {
    let (client, _fake) = start(Mode::Ok).await;
    let mut config = client.config().clone();
    config.auth_token = "wrong".into();
    let bad = TwilioClient::new(config, self::client(Duration::from_secs(1)));
    let err = bad.send("+14155550100", "hi").await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("20003"));
    assert!(err.retryable, "{err}");
}

#[tokio::test]
async fn nobody_listening_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = TwilioClient::new(
        TwilioConfig {
            account_sid: SID.into(),
            auth_token: TOKEN.into(),
            from: Some("+15005550006".into()),
            messaging_service_sid: None,
            base_url: format!("http://{addr}"),
            status_callback: None,
        },
        client(Duration::from_secs(1)),
    );
    assert!(c.send("+14155550100", "hi").await.unwrap_err().retryable);
}

#[tokio::test]
async fn lists_the_account_numbers() {
    let (client, _fake) = start(Mode::Ok).await;
    let numbers = client.list_numbers().await.unwrap();
    assert_eq!(numbers.len(), 1);
    assert_eq!(numbers[0].phone_number, "+15005550006");
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Twilio's documented example (the security page and its libraries' tests).
#[test]
fn the_documented_signature_vector_verifies() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let params = pairs(&[
        ("Digits", "1234"),
        ("To", "+18005551212"),
        ("From", "+14158675309"),
        ("Caller", "+14158675309"),
        ("CallSid", "CA1234567890ABCDE"),
    ]);
    let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    assert_eq!(twilio::signature("12345", url, &params), sig);
    assert!(twilio::verify_signature("12345", url, &params, sig));
    // Any change fails: a value, the URL, the token, the signature, a bad header.
    let mut tampered = params.clone();
    tampered[0].1 = "9999".into();
    assert!(!twilio::verify_signature("12345", url, &tampered, sig));
    assert!(!twilio::verify_signature(
        "12345",
        &format!("{url}&x=1"),
        &params,
        sig
    ));
    assert!(!twilio::verify_signature("54321", url, &params, sig));
    assert!(!twilio::verify_signature(
        "12345",
        url,
        &params,
        "RSOYDt4T1cUTdK1PDd93/VVr8B8X"
    ));
    assert!(!twilio::verify_signature("12345", url, &params, ""));
    assert!(!twilio::verify_signature(
        "12345",
        url,
        &params,
        "not base64 ✗"
    ));
}

#[test]
fn a_status_callback_parses() {
    let body = b"MessageSid=SM1234&MessageStatus=undelivered&ErrorCode=30003&To=%2B14155550100&From=%2B15005550006&AccountSid=AC1&ApiVersion=2010-04-01";
    let report = twilio::parse_status_callback(&parse_form(body)).unwrap();
    assert_eq!(report.id, "SM1234");
    assert_eq!(report.state, DeliveryState::Failed);
    assert_eq!(report.error_code.as_deref(), Some("30003"));
    for (status, state) in [
        ("queued", DeliveryState::Pending),
        ("sent", DeliveryState::Pending),
        ("delivered", DeliveryState::Delivered),
        ("failed", DeliveryState::Failed),
    ] {
        let p = pairs(&[("MessageSid", "SM1"), ("MessageStatus", status)]);
        assert_eq!(twilio::parse_status_callback(&p).unwrap().state, state);
    }
    assert!(twilio::parse_status_callback(&pairs(&[("MessageStatus", "sent")])).is_err());
    assert!(twilio::parse_status_callback(&[]).is_err());
}

#[test]
fn an_inbound_message_parses_and_garbage_does_not_panic() {
    let body = b"ToCountry=US&SmsMessageSid=SM9&NumMedia=0&FromCountry=US&Body=Your+code+is+123456+%F0%9F%94%91&To=%2B15005550006&MessageSid=SM9&AccountSid=AC1&From=%2B14155550100&ApiVersion=2010-04-01";
    let inbound = twilio::parse_inbound(&parse_form(body)).unwrap();
    assert_eq!(inbound.sms.id, "SM9");
    assert_eq!(inbound.sms.from, "+14155550100");
    assert_eq!(inbound.sms.to, "+15005550006");
    assert_eq!(inbound.sms.text, "Your code is 123456 🔑");
    assert_eq!(inbound.num_media, 0);
    for junk in [
        &b""[..],
        b"%%%&&==",
        b"MessageSid=SM1&From=x&To=y&NumMedia=lots",
        b"\xff\xfe\x00",
    ] {
        assert!(twilio::parse_inbound(&parse_form(junk)).is_err());
        assert!(twilio::parse_status_callback(&parse_form(junk)).is_err());
    }
}
