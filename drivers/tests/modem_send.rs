//! Sending through the real driver to the emulator over a pty: `AT+CMGS` per part with
//! the prompt, message references, errors with their meaning and retry advice, status
//! reports back, and reception still working around a send.

use std::time::Duration;

use drivers::emulator::{self, EmulatorConfig, EmulatorHandle};
use drivers::modem::{
    self, ModemConfig, ModemEvent, ModemHandle, ModemState, PduSource, ReportOutcome, SendError,
    SendRequest, StatusReportEvent, StoreOutcome,
};
use drivers::pdu::{self, Tpdu};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

/// Generous: the shared build machine runs at a load of 16 on 2 cores at times.
const WAIT: Duration = Duration::from_secs(20);

fn config_for(emu: &EmulatorHandle) -> ModemConfig {
    ModemConfig {
        name: "sender".to_string(),
        port: emu.port_path().to_string(),
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(500),
        ..ModemConfig::default()
    }
}

async fn ready(emu: &EmulatorHandle) -> (ModemHandle, mpsc::Receiver<ModemEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let modem = modem::spawn(config_for(emu), tx);
    let deadline = Instant::now() + WAIT;
    while modem.status().await.state != ModemState::Ready {
        assert!(Instant::now() < deadline, "{:?}", modem.status().await);
        sleep(Duration::from_millis(20)).await;
    }
    (modem, rx)
}

fn request(to: &str, text: &str) -> SendRequest {
    SendRequest {
        to: to.to_string(),
        text: text.to_string(),
        status_report: false,
        validity: None,
        reference: 7,
    }
}

async fn next_report(rx: &mut mpsc::Receiver<ModemEvent>) -> StatusReportEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some(ModemEvent::StatusReport(r))) => return r,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event channel closed"),
            Err(_) => panic!("no status report within {WAIT:?}"),
        }
    }
}

fn submitted_text(hex: &str) -> (String, Option<(u8, u8)>) {
    match pdu::decode_hex(hex, true)
        .expect("the emulator kept a valid SUBMIT")
        .tpdu
    {
        Tpdu::Submit(s) => (
            s.text.clone().expect("text"),
            s.concat().map(|c| (c.seq, c.total)),
        ),
        other => panic!("not a SUBMIT: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_and_multipart_sends_record_references() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (modem, _rx) = ready(&emu).await;

    let receipt = modem
        .send(request("+12025550123", "Hello from simgate"))
        .await
        .expect("sent");
    assert_eq!(receipt.parts, 1);
    assert_eq!(receipt.message_references, vec![1]);

    let long: String = (0..50).map(|i| format!("word{i:02} ")).collect();
    let receipt = modem
        .send(request("+12025550123", &long))
        .await
        .expect("sent");
    assert_eq!(receipt.parts, 3);
    assert_eq!(receipt.message_references, vec![2, 3, 4]);

    let sent = emu.sent_pdus().await;
    assert_eq!(sent.len(), 4);
    assert_eq!(submitted_text(&sent[0].1).0, "Hello from simgate");
    let mut joined = String::new();
    for (i, (_, hex)) in sent[1..].iter().enumerate() {
        let (text, concat) = submitted_text(hex);
        assert_eq!(concat, Some((i as u8 + 1, 3)));
        joined.push_str(&text);
    }
    assert_eq!(joined, long);
    // Unicode goes as UCS2.
    let receipt = modem
        .send(request("+12025550123", "Код 123456 😀"))
        .await
        .expect("sent");
    assert_eq!(receipt.parts, 1);
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_part_and_meaning_and_say_whether_to_retry() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (modem, _rx) = ready(&emu).await;

    emu.set_send_error(Some(500)).await;
    let err = modem
        .send(request("+12025550123", "x"))
        .await
        .expect_err("refused");
    match &err {
        SendError::Rejected {
            part, parts, code, ..
        } => assert_eq!((*part, *parts, *code), (1, 1, Some(500))),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("unknown error"), "{err}");
    assert!(err.is_retryable());

    emu.set_send_error(Some(38)).await;
    let err = modem
        .send(request("+12025550123", "x"))
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("38 (network out of order)"),
        "{err}"
    );
    assert!(err.is_retryable());

    // The recipient's fault: another channel would fail alike.
    emu.set_send_error(Some(1)).await;
    let err = modem
        .send(request("+12025550123", "x"))
        .await
        .expect_err("refused");
    assert!(!err.is_retryable(), "{err}");

    // What cannot be encoded never reaches the modem.
    emu.set_send_error(None).await;
    let err = modem
        .send(request("not a number!", "x"))
        .await
        .expect_err("bad number");
    assert!(matches!(err, SendError::Encode(_)), "{err:?}");
    assert!(!err.is_retryable());

    // Loss of registration: the send fails as no network service, and the modem is
    // reported not registered at the next status refresh.
    emu.set_registered(false).await;
    let err = modem
        .send(request("+12025550123", "x"))
        .await
        .expect_err("no network");
    assert!(err.to_string().contains("331"), "{err}");
    assert!(err.is_retryable());
    emu.set_registered(true).await;
    let receipt = modem
        .send(request("+12025550123", "after recovery"))
        .await
        .expect("sent again");
    assert_eq!(receipt.parts, 1);
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_multipart_names_its_part() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (modem, _rx) = ready(&emu).await;
    emu.set_send_error(Some(42)).await;
    let long = "y".repeat(300);
    let err = modem
        .send(request("+12025550123", &long))
        .await
        .expect_err("refused");
    match &err {
        SendError::Rejected {
            part, parts, sent, ..
        } => assert_eq!((*part, *parts, sent.len()), (1, 2, 0)),
        other => panic!("{other:?}"),
    }
    assert!(err.sent_references().is_empty());
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_report_comes_back_and_is_deleted_only_after_stored() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    emu.set_status_reports(Some(0), Duration::from_millis(50))
        .await;
    let (modem, mut rx) = ready(&emu).await;
    let receipt = modem
        .send(SendRequest {
            status_report: true,
            ..request("+12025550123", "report me")
        })
        .await
        .expect("sent");
    let report = next_report(&mut rx).await;
    assert_eq!(report.modem, "sender");
    assert_eq!(report.message_reference, receipt.message_references[0]);
    assert_eq!(report.recipient, "+12025550123");
    assert_eq!(report.status.code(), 0);
    assert_eq!(report.outcome, ReportOutcome::Delivered);
    assert!(report
        .discharge_time
        .as_deref()
        .is_some_and(|t| t.ends_with('Z')));
    let PduSource::Sim { index, .. } = report.source.clone() else {
        panic!("stored with +CDSI: {:?}", report.source)
    };
    // Kept until the owner says it is stored.
    sleep(Duration::from_millis(200)).await;
    assert_eq!(emu.sim_contents().await.len(), 1);
    assert_eq!(emu.sim_contents().await[0].0, index);
    report.ack.send(StoreOutcome::Stored).unwrap();
    let deadline = Instant::now() + WAIT;
    while !emu.sim_contents().await.is_empty() {
        assert!(Instant::now() < deadline, "report not deleted");
        sleep(Duration::from_millis(20)).await;
    }

    // A failed delivery, dropped ack: it stays, and the restart's sweep offers it again.
    emu.set_status_reports(Some(0x46), Duration::from_millis(50))
        .await;
    modem
        .send(SendRequest {
            status_report: true,
            ..request("+12025550123", "expire me")
        })
        .await
        .expect("sent");
    let report = next_report(&mut rx).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);
    drop(report.ack);
    sleep(Duration::from_millis(200)).await;
    assert_eq!(emu.sim_contents().await.len(), 1);
    modem.shutdown().await;
    let (modem, mut rx) = ready(&emu).await;
    let again = next_report(&mut rx).await;
    assert_eq!(again.status.code(), 0x46);
    again.ack.send(StoreOutcome::Stored).unwrap();
    let deadline = Instant::now() + WAIT;
    while !emu.sim_contents().await.is_empty() {
        assert!(Instant::now() < deadline, "report not deleted");
        sleep(Duration::from_millis(20)).await;
    }
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_status_reports_are_acknowledged_after_stored() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    emu.set_status_reports(Some(0), Duration::from_millis(50))
        .await;
    let (tx, mut rx) = mpsc::channel(64);
    let modem = modem::spawn(
        ModemConfig {
            cnmi: "2,1,0,1,0".into(),
            ack_direct: true,
            ..config_for(&emu)
        },
        tx,
    );
    let deadline = Instant::now() + WAIT;
    while modem.status().await.state != ModemState::Ready {
        assert!(Instant::now() < deadline);
        sleep(Duration::from_millis(20)).await;
    }
    let receipt = modem
        .send(SendRequest {
            status_report: true,
            ..request("+447700900123", "direct")
        })
        .await
        .expect("sent");
    let report = next_report(&mut rx).await;
    assert_eq!(report.source, PduSource::Direct);
    assert_eq!(report.message_reference, receipt.message_references[0]);
    assert_eq!(emu.unacknowledged_direct().await.len(), 1);
    report.ack.send(StoreOutcome::Stored).unwrap();
    let deadline = Instant::now() + WAIT;
    while !emu.unacknowledged_direct().await.is_empty() {
        assert!(Instant::now() < deadline, "+CDS not acknowledged");
        sleep(Duration::from_millis(20)).await;
    }
    assert!(emu.sim_contents().await.is_empty());
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arriving_during_sends_are_received() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    // Slow answers widen the window in which +CMTI lands inside an AT+CMGS exchange.
    emu.set_delay(Duration::from_millis(30)).await;
    let (modem, mut rx) = ready(&emu).await;
    let client = modem.client();
    let sender = tokio::spawn(async move {
        let mut refs = Vec::new();
        for i in 0..10 {
            let r = client
                .send(request("+12025550123", &format!("out {i}")))
                .await
                .expect("sent");
            refs.extend(r.message_references);
        }
        refs
    });
    for i in 0..10 {
        emu.deliver_text("+12025550999", &format!("in {i}"))
            .await
            .unwrap();
        sleep(Duration::from_millis(15)).await;
    }
    let mut texts = Vec::new();
    let deadline = Instant::now() + WAIT;
    while texts.len() < 10 {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some(ModemEvent::Received(r))) => {
                let Tpdu::Deliver(d) = pdu::decode_hex(&r.hex, true).unwrap().tpdu else {
                    panic!("not a DELIVER")
                };
                texts.push(d.text.unwrap());
                r.ack.send(StoreOutcome::Stored).unwrap();
            }
            Ok(Some(_)) => {}
            _ => panic!("received only {texts:?}"),
        }
    }
    texts.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("in {i}")).collect();
    want.sort();
    assert_eq!(texts, want);
    let refs = sender.await.unwrap();
    assert_eq!(refs, (1..=10).collect::<Vec<u8>>());
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_while_not_ready_fails_fast() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let path = emu.port_path().to_string();
    emu.shutdown().await;
    let (tx, _rx) = mpsc::channel(8);
    let modem = modem::spawn(
        ModemConfig {
            name: "gone".into(),
            port: path,
            ..ModemConfig::default()
        },
        tx,
    );
    let err = timeout(
        Duration::from_secs(2),
        modem.send(request("+12025550123", "x")),
    )
    .await
    .expect("answers at once")
    .expect_err("not ready");
    assert!(matches!(err, SendError::NotReady { .. }), "{err:?}");
    assert!(err.is_retryable());
    modem.shutdown().await;
}
