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
    assert_eq!(v["type"], "deliver");
    assert_eq!(v["smsc"], "+85290000000");
    assert_eq!(v["sender"], "+85291234567");
    assert_eq!(v["sender_address"]["ton"], "international");
    assert_eq!(
        v["text"],
        "It is easy to read text messages via AT commands."
    );
    assert_eq!(v["timestamp"], "2007-04-12T23:25:42+08:00");
    assert_eq!(v["alphabet"], "gsm7");
    assert!(v["class"].is_null());
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
    assert_eq!(v["sender"], "WhatsApp");
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
fn pdu_decode_of_a_status_report_gives_status_meaning_and_times() {
    // python-gsmmodem's status report (empty SMSC octet): delivered.
    let (ok, out, _) = simgate(&[
        "pdu",
        "decode",
        "0006D60B911326880736F4111011719551401110117195714000",
    ]);
    assert!(ok);
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["type"], "status-report");
    assert_eq!(v["recipient"], "+31628870634");
    assert_eq!(v["reference"], 214);
    assert_eq!(v["status"], 0);
    assert_eq!(v["status_meaning"], "short message received by the SME");
    assert_eq!(v["timestamp"], "2011-01-11T17:59:15+01:00");
    assert_eq!(v["discharge_time"], "2011-01-11T17:59:17+01:00");
}

#[test]
fn pdu_decode_tpdu_takes_hex_without_the_smsc_octet() {
    let (ok, out, _) = simgate(&[
        "pdu",
        "decode",
        "--tpdu",
        "06D60B911326880736F4111011719551401110117195714000",
    ]);
    assert!(ok);
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["type"], "status-report");
    assert!(v["smsc"].is_null());
}

#[test]
fn pdu_encode_then_decode_gives_back_the_text() {
    let text = "Ünïcode ☺ ".repeat(10);
    let (ok, out, _) = simgate(&[
        "pdu",
        "encode",
        "--to",
        "+447700900123",
        "--text",
        &text,
        "--status-report",
    ]);
    assert!(ok);
    let v: Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["encoding"], "ucs2");
    assert_eq!(v["parts"], 2, "{v}");
    let mut decoded = String::new();
    for part in v["pdus"].as_array().expect("pdus") {
        assert_eq!(
            part["at"],
            format!("AT+CMGS={}", part["tpdu_len"]),
            "the AT+CMGS length is the TPDU's"
        );
        let (ok, out, _) = simgate(&["pdu", "decode", part["hex"].as_str().expect("hex")]);
        assert!(ok);
        let d: Value = serde_json::from_str(out.trim()).expect("one JSON object");
        assert_eq!(d["type"], "submit");
        assert_eq!(d["recipient"], "+447700900123");
        assert_eq!(d["alphabet"], "ucs2");
        assert_eq!(d["status_report_request"], true, "{d}");
        decoded.push_str(d["text"].as_str().expect("text"));
    }
    assert_eq!(decoded, text);
}

#[test]
fn pdu_decode_dash_reads_a_capture_line_by_line_errors_included() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["pdu", "decode", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(
            b"07915892000000F0040B915892214365F700007040213252242331493A283D0795C3F33C88FE06C9CB6132885EC6D341EDF27C1E3E97E7207B3A0C0A5241E377BB1D7693E72E\n\
              \n\
              07911326040000F0040B91\n\
              0006D60B911326880736F4111011719551401110117195714000\n",
        )
        .expect("written");
    let out = child.wait_with_output().expect("exits");
    assert!(
        !out.status.success(),
        "one line failed, so the exit is non-zero"
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), 3, "the blank line is skipped");
    assert_eq!(lines[0]["type"], "deliver");
    assert_eq!(lines[1]["line"], 3);
    assert!(
        lines[1]["error"]
            .as_str()
            .expect("error")
            .contains("offset"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2]["type"], "status-report");
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
