//! The binary's offline tools: `simgate pdu decode` and `simgate otp`.

use std::process::Command;

use serde_json::Value;

fn simgate(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn pdu_decode_prints_one_json_object() {
    // python-gsmmodem's test PDU: international sender, SMSC, +08:00 time zone.
    let (ok, out, _) = simgate(&[
        "pdu",
        "decode",
        "07915892000000F0040B915892214365F700007040213252242331493A283D0795C3F33C88FE06C9CB6132885EC6D341EDF27C1E3E97E7207B3A0C0A5241E377BB1D7693E72E",
    ]);
    assert!(ok);
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["smsc"]["number"], "+85290000000");
    assert_eq!(v["sender"]["number"], "+85291234567");
    assert_eq!(
        v["text"],
        "It is easy to read text messages via AT commands."
    );
    assert_eq!(v["timestamp"], "2007-04-12T23:25:42+08:00");
    assert_eq!(v["dcs"]["alphabet"], "gsm7");
    assert!(v["udh"].is_null());
}

#[test]
fn pdu_decode_of_a_concatenated_part_shows_its_udh() {
    let parts = drivers::pdu::encode_deliver(
        "WhatsApp",
        &"x".repeat(200),
        drivers::pdu::Timestamp::from_datetime(
            chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00-05:00").expect("valid"),
        ),
        0x1234,
    )
    .expect("encodes");
    let (ok, out, _) = simgate(&["pdu", "decode", &parts[1].hex]);
    assert!(ok);
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["sender"]["number"], "WhatsApp");
    assert_eq!(v["timestamp"], "2026-11-23T10:00:00-05:00");
    assert_eq!(v["udh"]["concat"]["ref"], 0x1234, "{v}");
    assert_eq!(v["udh"]["concat"]["ref_bits"], 16, "{v}");
    assert_eq!(v["udh"]["concat"]["parts"], 2, "{v}");
    assert_eq!(v["udh"]["concat"]["seq"], 2, "{v}");
}

#[test]
fn a_bad_pdu_is_a_clear_error_and_a_failure_exit() {
    for bad in ["0791zz", "07911326040000F0040B91", "", "0"] {
        let (ok, out, err) = simgate(&["pdu", "decode", bad]);
        assert!(!ok, "{bad} must fail");
        assert!(out.is_empty());
        assert!(err.starts_with("error: cannot decode the PDU"), "{err}");
    }
}

#[test]
fn otp_prints_code_and_type() {
    let (ok, out, _) = simgate(&["otp", "Your verification code is 482913"]);
    assert!(ok);
    let v: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert_eq!(v["code"], "482913");
    assert_eq!(v["type"], "otp");
    let (ok, out, _) = simgate(&["otp", "Your order #123456 has shipped, total $45.99"]);
    assert!(ok);
    let v: Value = serde_json::from_str(out.trim()).expect("JSON");
    assert!(v["code"].is_null(), "{v}");
}
