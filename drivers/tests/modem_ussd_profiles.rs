//! USSD, model profiles, probing, SIM persistence and output faults, through the real
//! driver and the emulator over a pty.

use std::time::Duration;

use drivers::at::parse::UssdEncoding;
use drivers::emulator::{self, EmulatedUssd, EmulatorConfig, EmulatorHandle, UssdCoding};
use drivers::modem::{
    self, ModemConfig, ModemEvent, ModemHandle, ModemState, SendRequest, StoreOutcome, UssdError,
};
use drivers::pdu::{self, Tpdu};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

const WAIT: Duration = Duration::from_secs(15);

fn config_for(emu: &EmulatorHandle) -> ModemConfig {
    ModemConfig {
        name: "m".to_string(),
        port: emu.port_path().to_string(),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(300),
        ussd_timeout: Duration::from_secs(3),
        ..ModemConfig::default()
    }
}

async fn start(config: ModemConfig) -> (ModemHandle, mpsc::Receiver<ModemEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let modem = modem::spawn(config, tx);
    let deadline = Instant::now() + WAIT;
    while modem.status().await.state != ModemState::Ready {
        assert!(Instant::now() < deadline, "{:?}", modem.status().await);
        sleep(Duration::from_millis(20)).await;
    }
    (modem, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ussd_reply_after_ok_before_ok_and_encoded() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (modem, mut rx) = start(config_for(&emu)).await;

    // Default: OK first, +CUSD as a URC 50 ms later.
    let reply = modem.ussd("*100#").await.expect("reply");
    assert_eq!(reply.text, "Your number is +15550100001. Balance: 10.00");
    assert_eq!((reply.mode, reply.encoding), (0, UssdEncoding::Text));

    // Before the OK, packed GSM 7-bit hex (Huawei style).
    emu.set_ussd_reply(EmulatedUssd {
        text: "Saldo: 5,00 EUR fur {code}".into(),
        mode: 0,
        coding: UssdCoding::Gsm7Hex,
        before_ok: true,
    })
    .await;
    let reply = modem.ussd("*101#").await.expect("reply");
    assert_eq!(reply.text, "Saldo: 5,00 EUR fur *101#");
    assert_eq!(reply.encoding, UssdEncoding::Gsm7Hex);

    // UCS2 with a session left open: the driver releases it (AT+CUSD=2) and answers.
    emu.set_ussd_reply(EmulatedUssd {
        text: "Баланс 12 ₽. 1 Пополнить".into(),
        mode: 1,
        coding: UssdCoding::Ucs2Hex,
        before_ok: false,
    })
    .await;
    let reply = modem.ussd("*102#").await.expect("reply");
    assert_eq!(reply.text, "Баланс 12 ₽. 1 Пополнить");
    assert_eq!((reply.mode, reply.encoding), (1, UssdEncoding::Ucs2Hex));

    // Bad codes never reach the modem; a lost network is a clear error.
    assert!(matches!(
        modem.ussd("*100#\r\nAT+CMGD=1,4").await,
        Err(UssdError::InvalidCode(_))
    ));
    emu.set_registered(false).await;
    let err = modem.ussd("*100#").await.expect_err("no network");
    assert!(matches!(err, UssdError::Refused(_)), "{err:?}");
    emu.set_registered(true).await;

    // Reception goes on while a USSD reply is awaited.
    emu.set_ussd_reply(EmulatedUssd::default()).await;
    emu.set_silent(false).await;
    let client = modem.client();
    let ussd = tokio::spawn(async move { client.ussd("*100#").await });
    emu.deliver_text("+12025550123", "during ussd")
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some(ModemEvent::Received(r))) => {
                r.ack.send(StoreOutcome::Stored).unwrap();
                break;
            }
            Ok(Some(_)) => {}
            other => panic!("no message: {:?}", other.is_ok()),
        }
    }
    assert!(ussd.await.unwrap().is_ok());
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ussd_not_supported_is_a_network_error() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (modem, _rx) = start(ModemConfig {
        ussd_timeout: Duration::from_millis(400),
        ..config_for(&emu)
    })
    .await;
    // A reply with <m>=4 (not supported) and nothing better after it.
    emu.set_ussd_reply(EmulatedUssd {
        text: "".into(),
        mode: 4,
        coding: UssdCoding::Text,
        before_ok: false,
    })
    .await;
    let err = modem.ussd("*100#").await.expect_err("not supported");
    assert!(matches!(err, UssdError::Network { mode: 4, .. }), "{err:?}");
    modem.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_detected_or_forced_and_probe_identifies_the_modem() {
    let emu = emulator::spawn(
        EmulatorConfig::default()
            .with_profile("quectel")
            .expect("known profile"),
    )
    .await
    .unwrap();
    let probed = modem::probe(emu.port_path(), 115_200)
        .await
        .expect("answers");
    assert_eq!(probed.manufacturer.as_deref(), Some("Quectel"));
    assert_eq!(probed.model.as_deref(), Some("EC25"));
    assert_eq!(probed.imei.as_deref(), Some("356938035643809"));
    assert_eq!(probed.profile.name, "quectel");

    // Detected: the profile's init commands are refused by the emulator (logged) and
    // the modem still gets ready, with the ICCID from the fallback commands.
    let (modem, _rx) = start(config_for(&emu)).await;
    let status = modem.status().await;
    assert_eq!(status.profile.as_deref(), Some("quectel"));
    assert_eq!(status.iccid.as_deref(), Some("8901260123456789012"));
    modem.shutdown().await;

    // Forced by configuration.
    let (modem, _rx) = start(ModemConfig {
        profile: Some("huawei".into()),
        ..config_for(&emu)
    })
    .await;
    assert_eq!(modem.status().await.profile.as_deref(), Some("huawei"));
    modem.shutdown().await;

    // Nothing on the other end: a clear error, not a hang.
    let silent = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    silent.set_silent(true).await;
    let err = modem::probe(silent.port_path(), 115_200)
        .await
        .expect_err("no modem");
    assert!(err.to_string().contains("no answer"), "{err}");
    assert!(modem::probe("/dev/does-not-exist", 115_200).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_memory_outlives_the_emulator_through_its_file() {
    let dir = std::env::temp_dir().join(format!("simgate-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sim.json");
    let _ = std::fs::remove_file(&file);
    let config = EmulatorConfig {
        sim_file: Some(file.clone()),
        capacity: 5,
        ..EmulatorConfig::default()
    };
    let emu = emulator::spawn(config.clone()).await.unwrap();
    emu.deliver_text("+12025550123", "kept").await.unwrap();
    emu.deliver_text("+12025550123", "also kept").await.unwrap();
    let before = emu.sim_contents().await;
    emu.shutdown().await;

    let emu = emulator::spawn(config).await.unwrap();
    assert_eq!(emu.sim_contents().await, before);
    assert_eq!(emu.free_slots().await, 3);
    // The driver reads and deletes them; the file follows.
    let (modem, mut rx) = start(config_for(&emu)).await;
    for _ in 0..2 {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, rx.recv()).await {
                Ok(Some(ModemEvent::Received(r))) => {
                    r.ack.send(StoreOutcome::Stored).unwrap();
                    break;
                }
                Ok(Some(_)) => {}
                other => panic!("no message: {:?}", other.is_ok()),
            }
        }
    }
    let deadline = Instant::now() + WAIT;
    while !emu.sim_contents().await.is_empty() {
        assert!(Instant::now() < deadline);
        sleep(Duration::from_millis(20)).await;
    }
    modem.shutdown().await;
    let saved = std::fs::read_to_string(&file).unwrap();
    assert_eq!(saved.matches("null").count(), 5, "{saved}");
    // A damaged file is reported and the SIM starts empty, no panic.
    std::fs::write(&file, "{not json").unwrap();
    let emu = emulator::spawn(EmulatorConfig {
        sim_file: Some(file.clone()),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    assert!(emu.sim_contents().await.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_and_slow_answers_lose_nothing() {
    let emu = emulator::spawn(EmulatorConfig::default()).await.unwrap();
    let (modem, mut rx) = start(ModemConfig {
        sweep_interval: Duration::from_secs(1),
        command_timeout: Duration::from_secs(2),
        ..config_for(&emu)
    })
    .await;
    emu.set_garble(23).await;
    emu.set_delay(Duration::from_millis(20)).await;
    for i in 0..5 {
        emu.deliver_text("+12025550123", &format!("noisy {i}"))
            .await
            .unwrap();
    }
    sleep(Duration::from_secs(2)).await;
    // The line clears up: every message arrives, each decodes to what was sent.
    emu.set_garble(0).await;
    emu.set_delay(Duration::ZERO).await;
    let mut texts = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while texts.len() < 5 {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, rx.recv()).await {
            Ok(Some(ModemEvent::Received(r))) => {
                if let Ok(p) = pdu::decode_hex(&r.hex, true) {
                    if let Tpdu::Deliver(d) = p.tpdu {
                        texts.insert(d.text.unwrap_or_default());
                    }
                }
                r.ack.send(StoreOutcome::Stored).unwrap();
            }
            Ok(Some(_)) => {}
            other => panic!("got {texts:?}: {:?}", other.is_ok()),
        }
    }
    let want: std::collections::BTreeSet<String> = (0..5).map(|i| format!("noisy {i}")).collect();
    assert_eq!(texts, want);
    let deadline = Instant::now() + WAIT;
    while modem.status().await.state != ModemState::Ready {
        assert!(Instant::now() < deadline);
        sleep(Duration::from_millis(20)).await;
    }
    // And sending works again.
    let receipt = modem
        .send(SendRequest {
            to: "+12025550123".into(),
            text: "clear again".into(),
            status_report: false,
            validity: None,
            reference: 1,
        })
        .await
        .expect("sent");
    assert_eq!(receipt.parts, 1);
    modem.shutdown().await;
}
