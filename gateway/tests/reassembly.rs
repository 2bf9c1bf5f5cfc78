//! Multipart reassembly: parts out of order, duplicated, missing then late, a
//! reference reused while a group is open, and a restart in the middle.

use std::time::Duration;

use drivers::pdu::{encode_deliver, Timestamp};
use gateway::inbound::{Accepted, InboundPdu};
use gateway::messages::MessageQuery;
use gateway::Gateway;

const TO: &str = "+447700900002";

fn parts(from: &str, text: &str, reference: u16) -> Vec<String> {
    let ts = Timestamp::from_datetime(
        chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+00:00").expect("valid"),
    );
    encode_deliver(from, text, ts, reference)
        .expect("encodes")
        .into_iter()
        .map(|p| p.hex)
        .collect()
}

fn inbound(hex: &str) -> InboundPdu {
    InboundPdu {
        channel: "emu-gb".into(),
        to_number: Some(TO.into()),
        provider: "emulator".into(),
        hex: hex.into(),
    }
}

async fn all_messages(gateway: &Gateway) -> Vec<gateway::model::MessageView> {
    gateway
        .messages(MessageQuery {
            page: 1,
            limit: 50,
            oldest_first: true,
            ..MessageQuery::default()
        })
        .await
        .expect("query")
        .messages
}

fn three_part_text(tag: &str) -> String {
    format!(
        "{tag} code 918273. {}",
        "Lorem ipsum dolor sit amet. ".repeat(14)
    )
}

#[tokio::test]
async fn parts_out_of_order_and_duplicated_make_one_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    let text = three_part_text("Shop");
    let p = parts("+12025550123", &text, 42);
    assert_eq!(p.len(), 3);
    for hex in [&p[2], &p[0], &p[2], &p[1], &p[0]] {
        gateway.accept_pdu(inbound(hex)).await.expect("stored");
    }
    let messages = all_messages(&gateway).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].content, text);
    assert_eq!(messages[0].otp_code.as_deref(), Some("918273"));
    assert!(messages[0].is_complete());
}

#[tokio::test]
async fn a_missing_part_is_delivered_incomplete_and_completed_when_it_comes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    let text = three_part_text("Bank");
    let p = parts("BANK", &text, 300);
    let mut events = gateway.events().subscribe();
    gateway.accept_pdu(inbound(&p[0])).await.expect("stored");
    gateway.accept_pdu(inbound(&p[2])).await.expect("stored");
    assert!(all_messages(&gateway).await.is_empty());
    // Nothing is due yet with a long timeout; with none, the group is delivered.
    assert_eq!(
        gateway
            .flush_incomplete(Duration::from_secs(3600))
            .await
            .expect("flush"),
        0
    );
    assert_eq!(
        gateway
            .flush_incomplete(Duration::ZERO)
            .await
            .expect("flush"),
        1
    );
    let messages = all_messages(&gateway).await;
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert!(!m.is_complete());
    assert_eq!((m.parts_received, m.parts_total), (2, 3));
    assert_eq!(m.extra_data["incomplete"], true);
    assert_eq!(m.extra_data["missing_parts"], serde_json::json!([2]));
    assert!(m.content.contains("[…]"));
    assert_eq!(m.otp_code.as_deref(), Some("918273"));

    // The late part completes the same message, and an update event says so.
    let late = gateway.accept_pdu(inbound(&p[1])).await.expect("stored");
    let Accepted::Message(view) = late else {
        panic!("the late part must complete the message: {late:?}");
    };
    assert_eq!(view.id, m.id);
    let messages = all_messages(&gateway).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].content, text);
    assert!(messages[0].is_complete());
    assert!(messages[0].extra_data.get("incomplete").is_none());
    let mut kinds = Vec::new();
    while let Ok(e) = events.try_recv() {
        kinds.push(e.kind());
    }
    assert_eq!(kinds, ["new_message", "message_updated"]);
}

#[tokio::test]
async fn a_reused_reference_does_not_swallow_the_new_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    let first = parts("+12025550123", &three_part_text("First"), 7);
    let second = parts("+12025550123", &three_part_text("Second"), 7);
    // Only part 1 of the first message ever arrives; then the sender reuses ref 7.
    gateway
        .accept_pdu(inbound(&first[0]))
        .await
        .expect("stored");
    for hex in &second {
        gateway.accept_pdu(inbound(hex)).await.expect("stored");
    }
    let messages = all_messages(&gateway).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(!messages[0].is_complete());
    assert!(messages[0].content.starts_with("First"));
    assert_eq!(messages[1].content, three_part_text("Second"));
    // And once a group is finished its key is free for the next message.
    let third = parts("+12025550123", &three_part_text("Third"), 7);
    for hex in &third {
        gateway.accept_pdu(inbound(hex)).await.expect("stored");
    }
    assert_eq!(all_messages(&gateway).await.len(), 3);
}

#[tokio::test]
async fn parts_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("db");
    let text = three_part_text("Restart");
    let p = parts("+12025550123", &text, 9);
    {
        let gateway = Gateway::open(&db).expect("opens");
        gateway.accept_pdu(inbound(&p[1])).await.expect("stored");
        gateway.accept_pdu(inbound(&p[0])).await.expect("stored");
    }
    let gateway = Gateway::open(&db).expect("reopens");
    // The same part read again after the restart is a duplicate, not a second copy.
    let again = gateway
        .accept_pdu(inbound(&p[0]))
        .await
        .expect("recognised");
    assert!(matches!(again, Accepted::Duplicate));
    gateway.accept_pdu(inbound(&p[2])).await.expect("stored");
    let messages = all_messages(&gateway).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].content, text);
}

#[tokio::test]
async fn a_message_belongs_to_the_lease_active_when_its_first_part_arrived() {
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = Gateway::open(&dir.path().join("db")).expect("opens");
    gateway
        .register_number(gateway::numbers::NumberRegistration {
            number: TO.into(),
            country: None,
            provider: "emulator".into(),
            channel: "emu-gb".into(),
        })
        .await
        .expect("number");
    let user = gateway
        .create_user(gateway::users::NewUser {
            email: Some("holder@example.com".into()),
            ..Default::default()
        })
        .await
        .expect("user");
    let lease = gateway
        .assign_number(user.id, TO.into(), 1)
        .await
        .expect("assigned for one second");
    let text = three_part_text("Late");
    let p = parts("+12025550123", &text, 77);
    gateway.accept_pdu(inbound(&p[0])).await.expect("stored");
    // The lease ends (and the scheduler says so) before the other parts come.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(gateway.expire_due_assignments().await.expect("expiry"), 1);
    gateway.accept_pdu(inbound(&p[1])).await.expect("stored");
    gateway.accept_pdu(inbound(&p[2])).await.expect("stored");
    let messages = all_messages(&gateway).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].assignment_id, Some(lease.id));
    assert_eq!(messages[0].user_id, Some(user.id));
    // A message that starts after the lease ended goes to the operator's inbox.
    gateway
        .accept_pdu(inbound(&parts("+12025550123", "After the lease", 0)[0]))
        .await
        .expect("stored");
    let messages = all_messages(&gateway).await;
    assert_eq!(messages[1].user_id, None);
}
