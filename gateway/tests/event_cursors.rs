//! Durable subscribers: in order, at least once, resuming after a restart from their
//! own cursor, never slowing reception.

use std::time::Duration;

use drivers::pdu::{encode_deliver, Timestamp};
use gateway::inbound::InboundPdu;
use gateway::Gateway;

fn pdu(n: usize) -> InboundPdu {
    let ts = Timestamp::from_datetime(
        chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+00:00").expect("valid"),
    );
    let hex = encode_deliver("+12025550123", &format!("message {n}"), ts, 0)
        .expect("encodes")
        .remove(0)
        .hex;
    InboundPdu {
        channel: "usb0".into(),
        to_number: Some("+15550100001".into()),
        provider: "modem".into(),
        hex,
    }
}

fn text_of(e: &gateway::events::StoredEvent) -> String {
    e.payload["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_subscriber_resumes_after_a_restart_where_it_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db");
    {
        let gateway = Gateway::open(&db).expect("opens");
        gateway.accept_pdu(pdu(0)).await.expect("stored");
        // A new subscriber starts at the end: message 0 is history to it.
        let mut mqtt = gateway
            .durable_subscriber("mqtt")
            .await
            .expect("subscriber");
        for n in 1..=5 {
            gateway.accept_pdu(pdu(n)).await.expect("stored");
        }
        let batch = mqtt.next_batch(3).await.expect("batch");
        let texts: Vec<String> = batch.iter().map(text_of).collect();
        assert_eq!(texts, ["message 1", "message 2", "message 3"]);
        assert!(batch.iter().all(|e| e.kind == "new_message"));
        // Only the first two are handled before the "crash".
        mqtt.ack(batch[1].id).await.expect("ack");
    }
    let gateway = Gateway::open(&db).expect("reopens");
    let mut mqtt = gateway.durable_subscriber("mqtt").await.expect("resumes");
    let batch = mqtt.next_batch(10).await.expect("batch");
    let texts: Vec<String> = batch.iter().map(text_of).collect();
    assert_eq!(texts, ["message 3", "message 4", "message 5"]);
    // Another subscriber has its own cursor.
    let hooks = gateway
        .durable_subscriber("webhooks")
        .await
        .expect("subscriber");
    assert_eq!(hooks.cursor(), batch[2].id);
}

#[tokio::test]
async fn a_caught_up_subscriber_waits_for_the_next_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    let mut sub = gateway
        .durable_subscriber("slow")
        .await
        .expect("subscriber");
    let waiting = tokio::spawn(async move {
        let batch = sub.next_batch(10).await.expect("batch");
        batch.iter().map(text_of).collect::<Vec<_>>()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished());
    // Reception does not wait for the subscriber: many messages commit meanwhile.
    for n in 0..50 {
        gateway.accept_pdu(pdu(n)).await.expect("stored");
    }
    let texts = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("woken by the commit")
        .expect("task");
    assert!(!texts.is_empty());
    assert_eq!(texts[0], "message 0");
}
