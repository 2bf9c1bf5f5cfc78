//! `simgate pdu decode|encode`: the codec for people debugging a modem.
//!
//! `decode` prints one JSON object: the codec's own shape (`drivers::pdu::Pdu`) plus
//! flat keys a person looks for first (`alphabet`, `class`, `reference`, `status` as the
//! TP-Status integer with `status_meaning`, `recipient`/`sender` as plain strings).
//! `decode -` reads one hex PDU per line and prints one object per line, errors included.

use std::io::BufRead;

use drivers::pdu::{self, Pdu, SubmitOptions, Tpdu};
use serde_json::{json, Value};

/// The decoded PDU as one JSON object, or the error naming what is wrong and where.
pub fn decode_json(hex: &str, with_smsc: bool) -> Result<Value, String> {
    let pdu = pdu::decode_hex(hex, with_smsc).map_err(|e| e.to_string())?;
    Ok(flatten(&pdu))
}

fn flatten(pdu: &Pdu) -> Value {
    let mut v = serde_json::to_value(pdu).unwrap_or(Value::Null);
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    let (dcs, reference, status) = match &pdu.tpdu {
        Tpdu::Deliver(d) => (Some(d.dcs), None, None),
        Tpdu::Submit(s) => (Some(s.dcs), Some(s.message_reference), None),
        Tpdu::StatusReport(r) => (r.dcs, Some(r.message_reference), Some(r.status)),
    };
    if let Some(dcs) = dcs {
        obj.insert("alphabet".into(), json!(dcs.alphabet));
        obj.insert("class".into(), json!(dcs.class));
    }
    obj.insert("reference".into(), json!(reference));
    if let Some(status) = status {
        obj.insert("status".into(), json!(status.code()));
        obj.insert("status_meaning".into(), json!(status.meaning()));
    }
    for key in ["smsc", "sender", "recipient"] {
        if let Some(number) = obj.get(key).and_then(|a| a.get("number")).cloned() {
            obj.insert(format!("{key}_address"), obj[key].clone());
            obj.insert(key.into(), number);
        }
    }
    v
}

/// `decode -`: one PDU per input line; returns whether every line decoded.
pub fn decode_lines(input: impl BufRead, with_smsc: bool) -> bool {
    let mut all_ok = true;
    for (n, line) in input.lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                println!(
                    "{}",
                    json!({ "line": n + 1, "error": format!("cannot read input: {e}") })
                );
                return false;
            }
        };
        let hex = line.trim();
        if hex.is_empty() || hex.starts_with('#') {
            continue;
        }
        match decode_json(hex, with_smsc) {
            Ok(v) => println!("{v}"),
            Err(e) => {
                all_ok = false;
                println!("{}", json!({ "line": n + 1, "pdu": hex, "error": e }));
            }
        }
    }
    all_ok
}

/// The SMS-SUBMIT PDUs for a text, with the `AT+CMGS` length of each and the counter.
pub fn encode_json(to: &str, text: &str, status_report: bool) -> Result<Value, String> {
    let opts = SubmitOptions {
        status_report,
        ..SubmitOptions::default()
    };
    let parts = pdu::encode_submit(to, text, &opts).map_err(|e| e.to_string())?;
    let count = pdu::count_submit(text, &opts);
    Ok(json!({
        "to": to,
        "encoding": count.encoding,
        "parts": parts.len(),
        "chars_left": count.chars_left,
        "pdus": parts.iter().map(|p| json!({
            "hex": p.hex,
            "tpdu_len": p.tpdu_len,
            "at": format!("AT+CMGS={}", p.tpdu_len),
        })).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reports_get_flat_status_and_reference() {
        // python-gsmmodem's status report: delivered.
        let v = decode_json("0006D60B911326880736F4111011719551401110117195714000", true)
            .expect("decodes");
        assert_eq!(v["type"], "status-report");
        assert_eq!(v["status"], 0);
        assert_eq!(v["reference"], 0xD6);
        assert_eq!(v["recipient"], "+31628870634");
        assert!(v["status_meaning"].is_string());
    }

    #[test]
    fn encode_then_decode_is_the_same_text() {
        let v = encode_json("+12025550123", "Grüße € {x}", true).expect("encodes");
        assert_eq!(v["parts"], 1);
        let hex = v["pdus"][0]["hex"].as_str().expect("hex");
        let d = decode_json(hex, true).expect("decodes");
        assert_eq!(d["type"], "submit");
        assert_eq!(d["text"], "Grüße € {x}");
        assert_eq!(d["recipient"], "+12025550123");
        assert!(encode_json("not a number", "x", false).is_err());
    }
}
