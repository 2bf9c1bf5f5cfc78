//! The driver against a misbehaving or locked emulated modem: it recovers, never locks
//! the SIM, and loses no message.

use std::time::Duration;

use drivers::emulator::{self, EmulatorConfig, EmulatorHandle};
use drivers::modem::{
    self, ModemConfig, ModemEvent, ModemHandle, ModemState, PduSource, ReceivedPdu, StoreOutcome,
};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

const WAIT: Duration = Duration::from_secs(15);

fn config_for(emu: &EmulatorHandle) -> ModemConfig {
    ModemConfig {
        name: "faulty".to_string(),
        port: emu.port_path().to_string(),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        ..ModemConfig::default()
    }
}

async fn next_received(rx: &mut mpsc::Receiver<ModemEvent>) -> ReceivedPdu {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some(ModemEvent::Received(r))) => return r,
            Ok(Some(ModemEvent::Status(_) | ModemEvent::StatusReport(_))) => continue,
            Ok(None) => panic!("event channel closed"),
            Err(_) => panic!("no message within {WAIT:?}"),
        }
    }
}

async fn wait_for<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

async fn state(modem: &ModemHandle) -> ModemState {
    modem.status().await.state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_pin_is_never_retried() {
    let emu = emulator::spawn(EmulatorConfig {
        pin: Some("1234".into()),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let (tx, _rx) = mpsc::channel(16);
    let modem = modem::spawn(
        ModemConfig {
            pin: Some("0000".into()),
            ..config_for(&emu)
        },
        tx,
    );
    wait_for("pin_required", || async {
        state(&modem).await == ModemState::PinRequired
    })
    .await;
    // Several reconnects later the SIM has still only seen one wrong PIN.
    sleep(Duration::from_millis(1500)).await;
    // Each reconnect passes through connecting/initializing: wait for it to park again.
    wait_for("pin_required again", || async {
        state(&modem).await == ModemState::PinRequired
    })
    .await;
    assert_eq!(emu.sim_lock_state().await, "SIM PIN");
    assert!(modem
        .status()
        .await
        .last_error
        .unwrap()
        .contains("not retr"));
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_pin_unlocks_and_the_modem_gets_ready() {
    let emu = emulator::spawn(EmulatorConfig {
        pin: Some("1234".into()),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let (tx, _rx) = mpsc::channel(16);
    let modem = modem::spawn(
        ModemConfig {
            pin: Some("1234".into()),
            ..config_for(&emu)
        },
        tx,
    );
    wait_for("ready", || async {
        state(&modem).await == ModemState::Ready
    })
    .await;
    assert_eq!(emu.sim_lock_state().await, "READY");
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_modem_is_reconnected_and_nothing_is_lost() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let modem = modem::spawn(
        ModemConfig {
            command_timeout: Duration::from_millis(300),
            status_interval: Duration::from_millis(100),
            ..config_for(&emu)
        },
        tx,
    );
    wait_for("ready", || async {
        state(&modem).await == ModemState::Ready
    })
    .await;
    emu.set_silent(true).await;
    // Arrives while the modem is hung: stored on the SIM, no indication.
    emu.deliver_text("+12025550123", "during the outage")
        .await
        .unwrap();
    wait_for("lost connection", || async {
        state(&modem).await != ModemState::Ready
    })
    .await;
    emu.set_silent(false).await;
    let r = next_received(&mut rx).await;
    assert!(matches!(r.source, PduSource::Sim { .. }));
    r.ack.send(StoreOutcome::Stored).unwrap();
    wait_for("empty SIM", || async {
        emu.sim_contents().await.is_empty()
    })
    .await;
    assert_eq!(state(&modem).await, ModemState::Ready);
    assert!(modem.status().await.last_error.is_some());
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_delivery_is_acknowledged_only_after_stored() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let config = ModemConfig {
        cnmi: "2,2,0,0,0".into(),
        ack_direct: true,
        ..config_for(&emu)
    };
    let modem = modem::spawn(config.clone(), tx.clone());
    wait_for("ready", || async {
        state(&modem).await == ModemState::Ready
    })
    .await;

    assert!(emu
        .deliver_text("+12025550123", "direct one")
        .await
        .unwrap()
        .is_empty());
    let r = next_received(&mut rx).await;
    assert_eq!(r.source, PduSource::Direct);
    assert_eq!(emu.unacknowledged_direct().await.len(), 1);
    r.ack.send(StoreOutcome::Stored).unwrap();
    wait_for("CNMA", || async {
        emu.unacknowledged_direct().await.is_empty()
    })
    .await;

    // Not stored: no CNMA; the network delivers it again (the emulator keeps it on the
    // SIM when the port closes), and the restarted driver's sweep picks it up.
    emu.deliver_text("+12025550123", "direct two")
        .await
        .unwrap();
    let r = next_received(&mut rx).await;
    r.ack
        .send(StoreOutcome::Failed("disk full".into()))
        .unwrap();
    sleep(Duration::from_millis(200)).await;
    assert_eq!(emu.unacknowledged_direct().await.len(), 1);
    modem.shutdown().await;
    wait_for("redelivery to SIM", || async {
        emu.sim_contents().await.len() == 1
    })
    .await;
    let modem = modem::spawn(config, tx);
    let r = next_received(&mut rx).await;
    assert!(matches!(r.source, PduSource::Sim { .. }));
    r.ack.send(StoreOutcome::Stored).unwrap();
    wait_for("empty SIM", || async {
        emu.sim_contents().await.is_empty()
    })
    .await;
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_escape_at_start_does_not_shift_the_responses() {
    // The driver starts with ESC CR (to end a prompt a crash left open). A modem that
    // answers it with ERROR once made every later response count as the previous
    // command's: the model read as the maker, AT+CPIN? seen as a bare OK.
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    emu.set_error_on_garbage(true).await;
    // A UART at 115200 baud: the answer to ESC CR arrives after AT has been sent.
    emu.set_delay(Duration::from_millis(5)).await;
    let (tx, mut rx) = mpsc::channel(16);
    let modem = modem::spawn(config_for(&emu), tx);
    wait_for("ready", || async {
        state(&modem).await == ModemState::Ready
    })
    .await;
    let status = modem.status().await;
    let want = EmulatorConfig::default();
    assert_eq!(
        status.manufacturer.as_deref(),
        Some(want.manufacturer.as_str())
    );
    assert_eq!(status.model.as_deref(), Some(want.model.as_str()));
    assert_eq!(status.imei.as_deref(), Some(want.imei.as_str()));
    assert_eq!(status.iccid.as_deref(), Some(want.iccid.as_str()));
    assert!(status.last_error.is_none(), "{:?}", status.last_error);
    emu.deliver_text("+12025550123", "in step").await.unwrap();
    let r = next_received(&mut rx).await;
    r.ack.send(StoreOutcome::Stored).unwrap();
    wait_for("empty SIM", || async {
        emu.sim_contents().await.is_empty()
    })
    .await;
    modem.shutdown().await;
}
