//! `simgate demo` with `SIMGATE_MQTT_URL`: the binary connects to a real broker
//! (Debian's mosquitto on a loopback port), publishes under `simgate/demo/`, takes
//! send requests, and when the process is killed the broker publishes its last will.
//! Without mosquitto it prints a SKIPPED line; under `CI` that is a failure.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Demo;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use serde_json::Value;
use tokio::sync::mpsc;

fn mosquitto() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("CI must run this test against a real MQTT broker: apt-get install mosquitto");
    }
    found
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn broker(bin: &PathBuf) -> (Broker, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("address")
        .port();
    let child = Command::new(bin)
        .args(["-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not open its port");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Broker(child), port)
}

async fn watch(port: u16) -> (AsyncClient, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let mut o = MqttOptions::new("demo-watcher", "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(o, 100);
    client
        .subscribe("simgate/demo/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    (client, rx)
}

async fn next_on(rx: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>, topic: &str) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((t, payload))) if t == topic => return payload,
            Ok(Some(_)) => {}
            _ => panic!("nothing on {topic} within 30 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_publishes_takes_send_requests_and_leaves_a_last_will() {
    let Some(bin) = mosquitto() else {
        eprintln!("SKIPPED: mosquitto is not installed (apt-get install mosquitto runs this test)");
        return;
    };
    let (_broker, port) = broker(&bin);
    let (client, mut rx) = watch(port).await;
    let url = format!("mqtt://127.0.0.1:{port}");
    let demo = Demo::start_with_env(&[("SIMGATE_MQTT_URL", url.as_str())]).await;
    loop {
        if next_on(&mut rx, "simgate/demo/status").await == b"online" {
            break;
        }
    }
    let state: Value =
        serde_json::from_slice(&next_on(&mut rx, "simgate/demo/modem/emu-us/state").await)
            .expect("json");
    assert_eq!(state["name"], "emu-us");

    let admin = demo.admin_token().await;
    demo.inject(
        &admin,
        "+15550100001",
        "WhatsApp",
        "Your WhatsApp code is 112-233",
    )
    .await;
    let sms: Value =
        serde_json::from_slice(&next_on(&mut rx, "simgate/demo/sms/received").await).expect("json");
    assert_eq!(sms["number"], "+15550100001");
    assert_eq!(sms["otp_code"], "112233");
    let otp: Value =
        serde_json::from_slice(&next_on(&mut rx, "simgate/demo/otp").await).expect("json");
    assert_eq!(otp["code"], "112233");

    client
        .publish(
            "simgate/demo/sms/send",
            QoS::AtLeastOnce,
            false,
            br#"{"to": "+447700900123", "text": "hello from MQTT", "client_ref": "e2e"}"#.to_vec(),
        )
        .await
        .expect("queued");
    let result: Value =
        serde_json::from_slice(&next_on(&mut rx, "simgate/demo/sms/send/result").await)
            .expect("json");
    assert_eq!(
        (result["ok"].clone(), result["client_ref"].clone()),
        (true.into(), "e2e".into())
    );
    client
        .publish(
            "simgate/demo/sms/send",
            QoS::AtLeastOnce,
            false,
            b"{".to_vec(),
        )
        .await
        .expect("queued");
    let bad: Value =
        serde_json::from_slice(&next_on(&mut rx, "simgate/demo/sms/send/result").await)
            .expect("json");
    assert_eq!(bad["ok"], false);

    // SIGKILL: no goodbye, so the broker publishes the last will.
    drop(demo);
    assert_eq!(next_on(&mut rx, "simgate/demo/status").await, b"offline");
}
