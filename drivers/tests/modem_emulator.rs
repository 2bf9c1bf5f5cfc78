//! The real driver against the emulator over a real pty: bytes through the kernel's tty
//! layer, the port opened by path like hardware.

use std::time::Duration;

use drivers::emulator::{self, EmulatorConfig, EmulatorHandle};
use drivers::modem::{
    self, ModemConfig, ModemEvent, ModemHandle, ModemState, PduSource, ReceivedPdu, StoreOutcome,
};
use drivers::pdu::{self, Tpdu};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn config_for(emu: &EmulatorHandle, name: &str) -> ModemConfig {
    ModemConfig {
        name: name.to_string(),
        port: emu.port_path().to_string(),
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_millis(500),
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

async fn wait_state(modem: &ModemHandle, state: ModemState) {
    let deadline = Instant::now() + WAIT;
    while modem.status().await.state != state {
        assert!(
            Instant::now() < deadline,
            "state {:?}, wanted {state:?}",
            modem.status().await
        );
        sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_sim_empty(emu: &EmulatorHandle) {
    let deadline = Instant::now() + WAIT;
    while !emu.sim_contents().await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "SIM still holds {:?}",
            emu.sim_contents().await
        );
        sleep(Duration::from_millis(20)).await;
    }
}

fn text_of(hex: &str) -> String {
    match pdu::decode_hex(hex, true)
        .expect("the driver hands over decodable PDUs")
        .tpdu
    {
        Tpdu::Deliver(d) => d.text.expect("a text message"),
        other => panic!("not a DELIVER: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_sms_is_deleted_only_after_stored() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let modem = modem::spawn(config_for(&emu, "emu0"), tx);
    wait_state(&modem, ModemState::Ready).await;

    let status = modem.status().await;
    assert_eq!(status.number.as_deref(), Some("+15550100001"));
    assert_eq!(status.imei.as_deref(), Some("356938035643809"));
    assert_eq!(status.iccid.as_deref(), Some("8901260123456789012"));
    assert_eq!(status.signal_dbm, Some(-71));
    assert_eq!(status.registration, Some(1));

    let indices = emu
        .deliver_text("+12025550123", "Your verification code is 482913")
        .await
        .unwrap();
    let received = next_received(&mut rx).await;
    assert_eq!(received.modem, "emu0");
    assert_eq!(received.own_number.as_deref(), Some("+15550100001"));
    assert_eq!(
        received.source,
        PduSource::Sim {
            storage: "SM".into(),
            index: indices[0]
        }
    );
    assert_eq!(text_of(&received.hex), "Your verification code is 482913");
    // Not deleted while the gateway has not answered.
    sleep(Duration::from_millis(200)).await;
    assert_eq!(emu.sim_contents().await.len(), 1);
    received.ack.send(StoreOutcome::Stored).unwrap();
    wait_sim_empty(&emu).await;
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_store_keeps_the_message_and_a_restart_delivers_it() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let config = config_for(&emu, "emu0");
    let modem = modem::spawn(config.clone(), tx.clone());
    wait_state(&modem, ModemState::Ready).await;

    let indices = emu.deliver_text("WhatsApp", "Code 123-456").await.unwrap();
    let received = next_received(&mut rx).await;
    received
        .ack
        .send(StoreOutcome::Failed("disk full".into()))
        .unwrap();
    // A dropped acknowledgement must keep it as well: deliver a second one and drop it.
    let second = emu.deliver_text("+447700900123", "second").await.unwrap();
    let dropped = next_received(&mut rx).await;
    drop(dropped);
    sleep(Duration::from_millis(300)).await;
    let on_sim: Vec<u32> = emu
        .sim_contents()
        .await
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(on_sim, vec![indices[0], second[0]]);
    modem.shutdown().await;
    assert_eq!(emu.sim_contents().await.len(), 2);

    // Restart: the start-up sweep hands both over again.
    let modem = modem::spawn(config, tx);
    let mut texts = Vec::new();
    for _ in 0..2 {
        let r = next_received(&mut rx).await;
        texts.push(text_of(&r.hex));
        r.ack.send(StoreOutcome::Stored).unwrap();
    }
    texts.sort();
    assert_eq!(
        texts,
        vec!["Code 123-456".to_string(), "second".to_string()]
    );
    wait_sim_empty(&emu).await;
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_delivery_arrives_as_parts_and_is_deleted() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let modem = modem::spawn(config_for(&emu, "emu0"), tx);
    wait_state(&modem, ModemState::Ready).await;

    let text: String = (0..40).map(|i| format!("part{i:03} ")).collect();
    let indices = emu.deliver_text("+12025550123", &text).await.unwrap();
    assert_eq!(indices.len(), 3, "{} chars in 3 parts", text.len());
    let mut parts = Vec::new();
    for _ in 0..indices.len() {
        let r = next_received(&mut rx).await;
        let decoded = pdu::decode_hex(&r.hex, true).unwrap();
        let Tpdu::Deliver(d) = decoded.tpdu else {
            panic!("not a DELIVER")
        };
        let concat = d.concat().expect("a concatenated part");
        parts.push((concat.seq, d.text.unwrap()));
        r.ack.send(StoreOutcome::Stored).unwrap();
    }
    parts.sort();
    let joined: String = parts.into_iter().map(|(_, t)| t).collect();
    assert_eq!(joined, text);
    wait_sim_empty(&emu).await;
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_waiting_before_the_driver_starts_is_swept() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    emu.deliver_text("+12025550123", "while you were away")
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let modem = modem::spawn(config_for(&emu, "emu0"), tx);
    let r = next_received(&mut rx).await;
    assert_eq!(text_of(&r.hex), "while you were away");
    r.ack.send(StoreOutcome::Stored).unwrap();
    wait_sim_empty(&emu).await;
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_full_is_an_error_and_nothing_is_stored() {
    let emu = emulator::spawn(EmulatorConfig {
        capacity: 2,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let text: String = "x".repeat(400);
    assert!(emu.deliver_text("+12025550123", &text).await.is_err());
    assert!(emu.sim_contents().await.is_empty());
    assert!(emu.deliver_pdus(vec!["zz".into()]).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_modems_receive_at_once() {
    let (tx, mut rx) = mpsc::channel(64);
    let mut rigs = Vec::new();
    for i in 0..16 {
        let emu = emulator::spawn(EmulatorConfig {
            number: format!("+1555010{i:04}"),
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let modem = modem::spawn(config_for(&emu, &format!("emu{i}")), tx.clone());
        rigs.push((emu, modem));
    }
    for (_, modem) in &rigs {
        wait_state(modem, ModemState::Ready).await;
    }
    for (emu, _) in &rigs {
        for n in 0..5 {
            emu.deliver_text("+12025550123", &format!("code {n}"))
                .await
                .unwrap();
        }
    }
    let mut per_modem = std::collections::HashMap::new();
    for _ in 0..16 * 5 {
        let r = next_received(&mut rx).await;
        *per_modem.entry(r.modem.clone()).or_insert(0) += 1;
        r.ack.send(StoreOutcome::Stored).unwrap();
    }
    assert_eq!(per_modem.len(), 16);
    assert!(per_modem.values().all(|n| *n == 5), "{per_modem:?}");
    for (emu, modem) in rigs {
        wait_sim_empty(&emu).await;
        modem.shutdown().await;
    }
}
