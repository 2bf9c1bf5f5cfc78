//! The outbound queue through real modem drivers on emulated modems (pseudo-terminals):
//! multipart sending, failover when a SIM's network refuses, and status reports
//! turning `sent` into `delivered` / `undelivered`.

use std::time::{Duration, Instant};

use drivers::emulator::{self, EmulatorConfig, EmulatorHandle};
use drivers::modem::ModemConfig;
use drivers::pdu::{self, Tpdu};
use gateway::outbound::{OutboundJob, SendRequest};
use gateway::Gateway;

async fn modem(gateway: &Gateway, name: &str, number: &str) -> EmulatorHandle {
    let emu = emulator::spawn(EmulatorConfig {
        number: number.into(),
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    gateway
        .start_modem(
            ModemConfig {
                name: name.into(),
                port: emu.port_path().to_string(),
                number: Some(number.into()),
                ..ModemConfig::default()
            },
            "emulator",
        )
        .await
        .expect("driver starts");
    emu
}

async fn wait_status(gateway: &Gateway, id: i64, want: &str) -> OutboundJob {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let job = gateway.outbound_job(id, None).await.expect("job exists");
        if job.status == want {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} is {} ({:?}), wanted {want}",
            job.status,
            job.error
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sent_texts(pdus: &[(u8, String)]) -> String {
    pdus.iter()
        .map(
            |(_, hex)| match pdu::decode_hex(hex, true).expect("a valid SUBMIT").tpdu {
                Tpdu::Submit(s) => s.text.unwrap_or_default(),
                other => panic!("not a submit: {other:?}"),
            },
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_sms_goes_out_in_parts_and_its_reports_mark_it_delivered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    let us = modem(&gateway, "emu-us", "+15550100001").await;
    us.set_status_reports(Some(0), Duration::from_millis(50))
        .await;
    gateway.start_dispatcher().await.expect("dispatcher");

    let text = format!("Привет! {}", "Длинное сообщение. ".repeat(8));
    let job = gateway
        .enqueue_send(SendRequest {
            to: "+12025550123".into(),
            text: text.clone(),
            status_report: true,
            ..SendRequest::default()
        })
        .await
        .expect("queued");
    let sent = wait_status(&gateway, job.id, "sent").await;
    assert_eq!(sent.channel.as_deref(), Some("emu-us"));
    assert!(sent.parts.unwrap_or(0) >= 3, "{sent:?}");
    assert_eq!(sent_texts(&us.sent_pdus().await), text);
    let delivered = wait_status(&gateway, job.id, "delivered").await;
    assert!(delivered.delivered_at.is_some());
    // The reports were deleted from the SIM only after they were recorded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !us.sim_contents().await.is_empty() {
        assert!(Instant::now() < deadline, "status reports left on the SIM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gateway.stop_modems().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_network_fails_over_to_the_other_sim_and_a_failed_report_is_undelivered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    let us = modem(&gateway, "emu-us", "+15550100001").await;
    let gb = modem(&gateway, "emu-gb", "+447700900002").await;
    // The US SIM (first choice for a US number) has lost its network.
    us.set_send_error(Some(38)).await;
    gb.set_status_reports(Some(0x46), Duration::from_millis(50))
        .await;
    gateway.start_dispatcher().await.expect("dispatcher");

    // Both drivers must be ready before the dispatcher can choose between them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while gateway
        .modem_statuses()
        .await
        .iter()
        .any(|s| format!("{:?}", s.state) != "Ready")
    {
        assert!(Instant::now() < deadline, "modems never got ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let job = gateway
        .enqueue_send(SendRequest {
            to: "+12025550123".into(),
            text: "Your code is 123456".into(),
            status_report: true,
            ..SendRequest::default()
        })
        .await
        .expect("queued");
    let sent = wait_status(&gateway, job.id, "sent").await;
    assert_eq!(sent.channel.as_deref(), Some("emu-gb"), "{sent:?}");
    assert_eq!(sent.attempts, 2);
    assert!(us.sent_pdus().await.is_empty());
    assert_eq!(sent_texts(&gb.sent_pdus().await), "Your code is 123456");
    // TP-ST 0x46: validity period expired — the network gave up.
    wait_status(&gateway, job.id, "undelivered").await;
    gateway.stop_modems().await;
}
