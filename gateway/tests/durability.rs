//! The invariant that matters most: a received SMS leaves the SIM only after the
//! transaction that stores it has committed. Real SQLite file, real pseudo-terminal,
//! real modem driver against the emulated modem.

use std::time::{Duration, Instant};

use drivers::emulator::{self, EmulatorConfig};
use drivers::modem::{self, ModemConfig, ModemEvent, StoreOutcome};
use gateway::inbound::InboundPdu;
use gateway::messages::MessageQuery;
use gateway::Gateway;

const NUMBER: &str = "+15550100001";

async fn wait_for<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_stays_on_the_sim_until_stored_and_is_stored_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("simgate.db");
    let emu = emulator::spawn(EmulatorConfig {
        number: NUMBER.into(),
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    let config = ModemConfig {
        name: "emu0".into(),
        port: emu.port_path().to_string(),
        number: Some(NUMBER.into()),
        ..ModemConfig::default()
    };

    // First life: every write fails, as on a full disk: a trigger in the real file
    // aborts the insert of the raw PDU.
    let gateway = Gateway::open(&db).expect("database opens");
    let side = rusqlite::Connection::open(&db).expect("second connection");
    side.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON inbound_pdus
         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
    )
    .expect("trigger");

    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let driver = modem::spawn(config.clone(), tx);
    emu.deliver_text("+12025550123", "Your verification code is 482913")
        .await
        .expect("delivered to the emulated SIM");
    let received = loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(ModemEvent::Received(r))) => break r,
            Ok(Some(_)) => continue,
            other => panic!("no PDU from the driver: {:?}", other.is_ok()),
        }
    };
    let stored = gateway
        .accept_pdu(InboundPdu {
            channel: "emu0".into(),
            to_number: Some(NUMBER.into()),
            provider: "emulator".into(),
            hex: received.hex.clone(),
        })
        .await;
    let err = stored.expect_err("the store must fail while the trigger is there");
    assert!(err.to_string().contains("full"), "{err}");
    let _ = received.ack.send(StoreOutcome::Failed(err.to_string()));

    // The driver must not delete it: give it ample time to (wrongly) send AT+CMGD.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        emu.sim_contents().await.len(),
        1,
        "deleted before it was stored"
    );
    let page = gateway
        .messages(MessageQuery {
            limit: 10,
            page: 1,
            ..MessageQuery::default()
        })
        .await
        .expect("query");
    assert_eq!(page.total, 0);
    driver.shutdown().await;
    drop(gateway);

    // Restart: the disk has room again; the start-up sweep finds the PDU on the SIM.
    side.execute_batch("DROP TRIGGER refuse;")
        .expect("drop trigger");
    let gateway = Gateway::open(&db).expect("database reopens");
    gateway
        .start_modem(config, "emulator")
        .await
        .expect("driver restarts");
    let g = gateway.clone();
    wait_for("the message to be stored", Duration::from_secs(10), || {
        let g = g.clone();
        async move {
            g.messages(MessageQuery {
                limit: 10,
                page: 1,
                ..MessageQuery::default()
            })
            .await
            .map(|p| p.total == 1)
            .unwrap_or(false)
        }
    })
    .await;
    wait_for(
        "the SIM slot to be freed",
        Duration::from_secs(10),
        || async { emu.sim_contents().await.is_empty() },
    )
    .await;
    let page = gateway
        .messages(MessageQuery {
            limit: 10,
            page: 1,
            ..MessageQuery::default()
        })
        .await
        .expect("query");
    assert_eq!(page.messages[0].otp_code.as_deref(), Some("482913"));
    assert_eq!(page.messages[0].from_number, "+12025550123");
    gateway.stop_modems().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_pdu_read_twice_is_stored_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("simgate.db")).expect("database opens");
    let pdu = "06917228195339040B917228214365F700003130805120618005D4F29C2E03";
    let inbound = InboundPdu {
        channel: "usb0".into(),
        to_number: Some(NUMBER.into()),
        provider: "modem".into(),
        hex: pdu.into(),
    };
    let first = gateway.accept_pdu(inbound.clone()).await.expect("stored");
    assert!(matches!(first, gateway::inbound::Accepted::Message(_)));
    let second = gateway.accept_pdu(inbound).await.expect("recognised");
    assert!(matches!(second, gateway::inbound::Accepted::Duplicate));
    let garbage = gateway
        .accept_pdu(InboundPdu {
            channel: "usb0".into(),
            to_number: Some(NUMBER.into()),
            provider: "modem".into(),
            hex: "07911326040000F0040B91".into(),
        })
        .await
        .expect("stored raw");
    assert!(matches!(
        garbage,
        gateway::inbound::Accepted::Undecodable(_)
    ));
}
