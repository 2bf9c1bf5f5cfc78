//! The emulator's dialect, command by command (no pty).

use super::dialect::{Modem, Reply};
use super::EmulatorConfig;

const PDU: &str = "07913366003051F5040B913366304381F900005180719120348004D4F29C0E";

fn lines(reply: Reply) -> (Vec<String>, String) {
    match reply {
        Reply::Lines { parts, result } => (parts.into_iter().flatten().collect(), result),
        other => panic!("not lines: {other:?}"),
    }
}

#[test]
fn read_marks_read_list_and_delete() {
    let mut m = Modem::new(EmulatorConfig::default());
    assert_eq!(
        m.store(&[PDU.to_string(), PDU.to_string()]),
        Some(vec![1, 2])
    );
    assert_eq!(
        lines(m.command("AT+CMGR=1")),
        (
            vec!["+CMGR: 0,,23".to_string(), PDU.to_string()],
            "OK".into()
        )
    );
    assert_eq!(lines(m.command("AT+CMGR=1")).0[0], "+CMGR: 1,,23");
    assert_eq!(
        lines(m.command("AT+CMGL=4")).0,
        vec![
            "+CMGL: 1,1,,23".to_string(),
            PDU.to_string(),
            "+CMGL: 2,0,,23".to_string(),
            PDU.to_string()
        ]
    );
    assert_eq!(lines(m.command("AT+CMGL=0")).0.len(), 0);
    assert_eq!(lines(m.command("at+cmgd=1")).1, "OK");
    assert_eq!(m.contents().len(), 1);
    assert_eq!(lines(m.command("AT+CMGR=1")), (vec![], "OK".into()));
    assert_eq!(lines(m.command("AT+CMGR=31")).1, "ERROR");
    m.command("AT+CMEE=1");
    assert_eq!(lines(m.command("AT+CMGR=0")).1, "+CMS ERROR: 321");
    assert_eq!(lines(m.command("AT+CMGL=\"ALL\"")).1, "ERROR");
    assert_eq!(lines(m.command("AT+CMGD=1,4")).1, "OK");
    assert!(m.contents().is_empty());
}

#[test]
fn storage_full_refuses_all_parts() {
    let mut m = Modem::new(EmulatorConfig {
        capacity: 2,
        ..EmulatorConfig::default()
    });
    assert!(m.store(&[PDU.into()]).is_some());
    assert!(m.store(&[PDU.into(), PDU.into()]).is_none());
    assert_eq!(m.contents().len(), 1);
    assert_eq!(
        lines(m.command("AT+CPMS?")).0,
        vec!["+CPMS: \"SM\",1,2,\"SM\",1,2,\"SM\",1,2".to_string()]
    );
}

#[test]
fn pin_lock_counts_attempts_then_puk() {
    let mut m = Modem::new(EmulatorConfig {
        pin: Some("1234".into()),
        ..EmulatorConfig::default()
    });
    m.command("AT+CMEE=1");
    assert_eq!(
        lines(m.command("AT+CPIN?")).0,
        vec!["+CPIN: SIM PIN".to_string()]
    );
    assert_eq!(lines(m.command("AT+CMGL=4")).1, "+CMS ERROR: 311");
    assert_eq!(lines(m.command("AT+CPIN=\"0000\"")).1, "+CME ERROR: 16");
    assert_eq!(lines(m.command("AT+CPIN=\"1234\"")).1, "OK");
    assert_eq!(
        lines(m.command("AT+CPIN?")).0,
        vec!["+CPIN: READY".to_string()]
    );

    let mut m = Modem::new(EmulatorConfig {
        pin: Some("1234".into()),
        ..EmulatorConfig::default()
    });
    for _ in 0..3 {
        m.command("AT+CPIN=\"9999\"");
    }
    assert_eq!(
        lines(m.command("AT+CPIN?")).0,
        vec!["+CPIN: SIM PUK".to_string()]
    );
}

#[test]
fn cmgs_checks_the_pdu_against_its_length() {
    let mut m = Modem::new(EmulatorConfig::default());
    m.command("AT+CMEE=1");
    let submit = "0001000B915121551532F400000CC8F79D9C07E54F61363B04";
    assert_eq!(m.command("AT+CMGS=24"), Reply::Prompt { length: 24 });
    assert_eq!(lines(m.submit(24, submit)).0, vec!["+CMGS: 1".to_string()]);
    assert_eq!(lines(m.submit(23, submit)).1, "+CMS ERROR: 304");
    assert_eq!(lines(m.submit(23, PDU)).1, "+CMS ERROR: 304");
    assert_eq!(m.sent.len(), 1);
}

#[test]
fn unknown_commands_answer_per_cmee_and_non_commands_get_nothing() {
    let mut m = Modem::new(EmulatorConfig::default());
    assert_eq!(lines(m.command("AT+FOO")).1, "ERROR");
    m.command("AT+CMEE=1");
    assert_eq!(lines(m.command("AT+FOO")).1, "+CME ERROR: 100");
    m.command("AT+CMEE=2");
    assert_eq!(lines(m.command("AT+FOO")).1, "+CME ERROR: unknown");
    assert_eq!(m.command("\u{1b}"), Reply::Nothing);
    assert_eq!(m.command("hello"), Reply::Nothing);
    assert!(m.echo);
    m.command("ATE0");
    assert!(!m.echo);
}
