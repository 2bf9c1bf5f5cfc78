//! Checks every value asserted by ../shared/corpus/pdu/deliver.jsonl (see the corpus
//! README, section 1) against `drivers::pdu`.
//!
//! Conventions:
//! - `parse_error: true`: strict decoding ([`DecodeOptions::strict`]) must fail, and the
//!   lenient decoder must either fail or report warnings: never a silent success.
//! - an empty `expect` means the source asserts the PDU parses: lenient decoding must
//!   succeed, except for entries the corpus marks `invalid` (e.g. an odd hex length),
//!   which only must not panic.
//! - every other asserted key is compared; an unknown key fails the test, so nothing the
//!   corpus asserts goes unchecked.

#[path = "../../support/shared_data.rs"]
mod shared_data;
use shared_data::shared_file;
use std::collections::BTreeMap;

use drivers::pdu::{self, Alphabet, DecodeOptions, NationalLanguage, Pdu, Tables, Tpdu, Validity};
use serde_json::Value;

struct Tally {
    passed: usize,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, id: &str, key: &str, ok: bool, detail: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(format!("{id}: {key}: {}", detail()));
        }
    }
}

fn opts_for(entry: &Value) -> DecodeOptions {
    let mut o = DecodeOptions::default();
    if let Some(p) = entry.get("decode_params") {
        let lang = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .and_then(NationalLanguage::from_name)
                .unwrap_or_default()
        };
        o.tables = Tables {
            locking: lang("locking_shift"),
            single: lang("single_shift"),
        };
    }
    o
}

fn alphabet_name(a: Alphabet) -> &'static str {
    match a {
        Alphabet::Gsm7 => "gsm7",
        Alphabet::EightBit => "8bit",
        Alphabet::Ucs2 => "ucs2",
        Alphabet::Reserved => "reserved",
    }
}

/// The fields every TPDU kind shares, for uniform checks.
struct View<'a> {
    text: Option<&'a str>,
    data: &'a [u8],
    dcs: Option<pdu::Dcs>,
    pid: Option<u8>,
    udl: Option<u8>,
    udh: Option<&'a pdu::Udh>,
}

fn view(p: &Pdu) -> View<'_> {
    match &p.tpdu {
        Tpdu::Deliver(d) => View {
            text: d.text.as_deref(),
            data: &d.data,
            dcs: Some(d.dcs),
            pid: Some(d.pid),
            udl: Some(d.udl),
            udh: d.udh.as_ref(),
        },
        Tpdu::Submit(s) => View {
            text: s.text.as_deref(),
            data: &s.data,
            dcs: Some(s.dcs),
            pid: Some(s.pid),
            udl: Some(s.udl),
            udh: s.udh.as_ref(),
        },
        Tpdu::StatusReport(r) => View {
            text: r.text.as_deref(),
            data: &r.data,
            dcs: r.dcs,
            pid: r.pid,
            udl: None,
            udh: r.udh.as_ref(),
        },
    }
}

fn naive(iso: &str) -> &str {
    iso.get(..19).unwrap_or(iso)
}

/// A concatenated message of the corpus: the asserted full text and the decoded parts
/// as (sequence number, text).
type Group = (Option<String>, Vec<(u8, String)>);

#[test]
fn corpus_expectations() {
    let raw = shared_file("corpus/pdu/deliver.jsonl");
    let mut t = Tally {
        passed: 0,
        failures: Vec::new(),
    };
    let mut entries = 0;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();

    for line in raw.lines().filter(|l| !l.trim().is_empty()) {
        let e: Value = serde_json::from_str(line).expect("corpus line is JSON");
        entries += 1;
        let id = e["id"].as_str().unwrap_or("?").to_string();
        let hex = e["pdu"].as_str().unwrap_or("");
        let has_smsc = e["has_smsc"].as_bool().unwrap_or(true);
        let expect = e["expect"].as_object().cloned().unwrap_or_default();
        let opts = opts_for(&e);
        let lenient = pdu::decode_hex_with(hex, has_smsc, &opts);
        let strict = pdu::decode_hex_with(
            hex,
            has_smsc,
            &DecodeOptions {
                strict: true,
                ..opts
            },
        );

        if expect.get("parse_error") == Some(&Value::Bool(true)) {
            t.check(&id, "parse_error(strict)", strict.is_err(), || {
                format!("strict decode succeeded: {strict:?}")
            });
            let flagged = match &lenient {
                Err(_) => true,
                Ok(p) => !p.warnings.is_empty(),
            };
            t.check(&id, "parse_error(lenient flags it)", flagged, || {
                format!("lenient decode silently succeeded: {lenient:?}")
            });
            continue;
        }

        let p = match lenient {
            Ok(p) => p,
            Err(err) => {
                if expect.is_empty() && e.get("invalid").is_some() {
                    // Marked invalid by the corpus and asserted nothing: an error is fine.
                    t.passed += 1;
                } else {
                    t.failures.push(format!("{id}: decode failed: {err}"));
                }
                continue;
            }
        };
        if expect.is_empty() {
            t.passed += 1; // "parses"
        }
        if let Some(len) = e.get("tpdu_len").and_then(Value::as_u64) {
            t.check(&id, "tpdu_len", p.tpdu_len as u64 == len, || {
                format!("{} != {len}", p.tpdu_len)
            });
        }
        if let Some(ty) = e.get("type").and_then(Value::as_str) {
            let got = match &p.tpdu {
                Tpdu::Deliver(_) => "deliver",
                Tpdu::Submit(_) => "submit",
                Tpdu::StatusReport(_) => "status-report",
            };
            // The corpus `type` is the source's reading of TP-MTI; the ofono charset
            // vectors are DELIVERs read without an SMSC field (see their notes).
            t.check(&id, "type", got == ty, || format!("{got} != {ty}"));
        }
        let v = view(&p);
        let (sender, recipient, ts, dt, mr) = match &p.tpdu {
            Tpdu::Deliver(d) => (Some(&d.sender), None, Some(d.timestamp), None, None),
            Tpdu::Submit(s) => (
                None,
                Some(&s.recipient),
                None,
                None,
                Some(s.message_reference),
            ),
            Tpdu::StatusReport(r) => (
                None,
                Some(&r.recipient),
                Some(r.timestamp),
                Some(r.discharge_time),
                Some(r.message_reference),
            ),
        };
        if let Some(g) = e.get("group").and_then(Value::as_str) {
            let entry = groups.entry(g.to_string()).or_default();
            if let Some(a) = expect.get("assembled_text").and_then(Value::as_str) {
                entry.0 = Some(a.to_string());
            }
            if let (Some(c), Some(text)) = (p.concat(), v.text) {
                entry.1.push((c.seq, text.to_string()));
            }
        }

        for (key, want) in &expect {
            let ws = want.as_str();
            let wi = want.as_u64();
            match key.as_str() {
                "smsc" => {
                    let got = p.smsc.as_ref().map(|a| a.number.as_str());
                    t.check(&id, key, got == ws, || format!("{got:?} != {want}"));
                }
                "smsc_digits" => {
                    let got = p.smsc.as_ref().map(|a| a.digits());
                    t.check(&id, key, got == ws, || format!("{got:?} != {want}"));
                }
                "sender" => {
                    let got = sender.map(|a| a.number.as_str());
                    t.check(&id, key, got == ws, || format!("{got:?} != {want}"));
                }
                "sender_digits" => {
                    let got = sender.map(|a| a.digits());
                    t.check(&id, key, got == ws, || format!("{got:?} != {want}"));
                }
                "recipient" => {
                    let got = recipient.map(|a| a.number.as_str());
                    t.check(&id, key, got == ws, || format!("{got:?} != {want}"));
                }
                "recipient_digits" => {
                    let got = recipient.map(|a| a.digits());
                    t.check(&id, key, got == ws, || format!("{got:?} != {want}"));
                }
                "text" => {
                    let eight_bit = v.dcs.map(|d| d.alphabet) == Some(Alphabet::EightBit);
                    if eight_bit {
                        // python-gsmmodem / python-messaging print 8-bit data as text.
                        // TS 23.038 §4 gives 8-bit data no character set, so `text` is
                        // None; what the source asserts is that the octets are exactly
                        // those of this (ASCII) text, which is checked here.
                        let w = ws.unwrap_or("");
                        let ok = v.text.is_none() && v.data == w.as_bytes();
                        t.check(&id, key, ok, || {
                            format!("8-bit data {:?} != {w:?}", pdu::to_hex(v.data))
                        });
                    } else {
                        t.check(&id, key, v.text == ws, || {
                            format!("{:?} != {want} (warnings {:?})", v.text, p.warnings)
                        });
                    }
                }
                "assembled_text" => {} // checked per group below
                "data_hex" => {
                    let got = pdu::to_hex(v.data);
                    t.check(&id, key, Some(got.as_str()) == ws, || {
                        format!("{got} != {want}")
                    });
                }
                "alphabet" => {
                    let got = v.dcs.map(|d| alphabet_name(d.alphabet));
                    t.check(&id, key, got == ws, || format!("{got:?} != {want}"));
                }
                "dcs" => {
                    let got = v.dcs.map(|d| u64::from(d.raw));
                    t.check(&id, key, got == wi, || format!("{got:?} != {want}"));
                }
                "pid" => {
                    let got = v.pid.map(u64::from);
                    t.check(&id, key, got == wi, || format!("{got:?} != {want}"));
                }
                "class" => {
                    let got = v.dcs.and_then(|d| d.class).map(u64::from);
                    t.check(&id, key, got == wi, || format!("{got:?} != {want}"));
                }
                "timestamp" => {
                    let got = ts.map(|x| x.to_iso8601());
                    t.check(&id, key, got.as_deref() == ws, || {
                        format!("{got:?} != {want}")
                    });
                }
                "timestamp_utc" => {
                    let got = ts
                        .and_then(|x| x.to_datetime())
                        .map(|d| d.naive_utc().format("%Y-%m-%dT%H:%M:%S+00:00").to_string());
                    t.check(&id, key, got.as_deref() == ws, || {
                        format!("{got:?} != {want}")
                    });
                }
                "timestamp_naive" => {
                    let got = ts.map(|x| x.to_iso8601());
                    let ok = got.as_deref().map(naive) == ws;
                    t.check(&id, key, ok, || format!("{got:?} != {want}"));
                }
                "discharge_time" => {
                    let got = dt.map(|x| x.to_iso8601());
                    t.check(&id, key, got.as_deref() == ws, || {
                        format!("{got:?} != {want}")
                    });
                }
                "discharge_time_naive" => {
                    let got = dt.map(|x| x.to_iso8601());
                    let ok = got.as_deref().map(naive) == ws;
                    t.check(&id, key, ok, || format!("{got:?} != {want}"));
                }
                "mr" => {
                    let got = mr.map(u64::from);
                    t.check(&id, key, got == wi, || format!("{got:?} != {want}"));
                }
                "status" => {
                    let got = match &p.tpdu {
                        Tpdu::StatusReport(r) => Some(u64::from(r.status.code())),
                        _ => None,
                    };
                    t.check(&id, key, got == wi, || format!("{got:?} != {want}"));
                }
                "delivery_status" => {
                    let got = match &p.tpdu {
                        Tpdu::StatusReport(r) => r.status.is_delivered(),
                        _ => false,
                    };
                    t.check(&id, key, got && ws == Some("delivered"), || {
                        format!("delivered={got}, want {want}")
                    });
                }
                "validity" | "validity_naive" | "vp_relative" => {
                    let vp = match &p.tpdu {
                        Tpdu::Submit(s) => s.validity,
                        _ => None,
                    };
                    let ok = match key.as_str() {
                        "validity" => vp.and_then(|x| x.to_iso8601()).as_deref() == ws,
                        "validity_naive" => {
                            vp.and_then(|x| x.to_iso8601()).as_deref().map(naive) == ws
                        }
                        _ => match vp {
                            Some(Validity::Relative(r)) => Some(u64::from(r)) == wi,
                            _ => false,
                        },
                    };
                    t.check(&id, key, ok, || format!("{vp:?} != {want}"));
                }
                "status_report_request" => {
                    let got = match &p.tpdu {
                        Tpdu::Submit(s) => Some(s.status_report_request),
                        _ => None,
                    };
                    t.check(&id, key, got == want.as_bool(), || {
                        format!("{got:?} != {want}")
                    });
                }
                "udh" => {
                    let c = v.udh.and_then(|u| u.concat());
                    let ports = v.udh.and_then(|u| u.ports());
                    for (k, w) in want.as_object().into_iter().flatten() {
                        let got = match k.as_str() {
                            "concat_ref" => c.map(|c| u64::from(c.reference)),
                            "parts" => c.map(|c| u64::from(c.total)),
                            "seq" => c.map(|c| u64::from(c.seq)),
                            "ref_bits" => c.map(|c| u64::from(c.ref_bits)),
                            "dst_port" => ports.map(|p| u64::from(p.destination)),
                            "src_port" => ports.map(|p| u64::from(p.source)),
                            "port_bits" => ports.map(|p| u64::from(p.bits)),
                            _ => None,
                        };
                        t.check(&id, &format!("udh.{k}"), got == w.as_u64(), || {
                            format!("{got:?} != {w}")
                        });
                    }
                }
                "udl" | "ud_size" => {
                    // node-pdu's `size` is TP-UDL for these UDH-less vectors.
                    let got = v.udl.map(u64::from);
                    let ok = got == wi && (key == "udl" || v.udh.is_none());
                    t.check(&id, key, ok, || format!("{got:?} != {want}"));
                }
                "udhl" => {
                    let got = v.udh.map(|u| u64::from(u.length));
                    t.check(&id, key, got == wi, || format!("{got:?} != {want}"));
                }
                "user_data_octets" => {
                    // Octets of TP-UD (header included) implied by TP-UDL, and present.
                    let got = v.udl.zip(v.dcs).map(|(udl, d)| {
                        if d.is_septets() {
                            (u64::from(udl) * 7).div_ceil(8)
                        } else {
                            u64::from(udl)
                        }
                    });
                    let ok = got == wi && p.warnings.is_empty();
                    t.check(&id, key, ok, || format!("{got:?} != {want}"));
                }
                "multipart" => {
                    let got = p.concat().is_some();
                    t.check(&id, key, Some(got) == want.as_bool(), || {
                        format!("{got} != {want}")
                    });
                }
                "replace" => {
                    let got = match &p.tpdu {
                        Tpdu::Deliver(d) => d.replace_type().is_some(),
                        _ => false,
                    };
                    t.check(&id, key, Some(got) == want.as_bool(), || {
                        format!("{got} != {want}")
                    });
                }
                "mwi" | "mwi_discard" => {
                    let m = match &p.tpdu {
                        Tpdu::Deliver(d) => d.mwi,
                        _ => None,
                    };
                    let ok = match (key.as_str(), m) {
                        ("mwi", Some(m)) => ws == Some(if m.active { "set" } else { "clear" }),
                        ("mwi_discard", Some(m)) => want.as_bool() == Some(!m.store),
                        _ => false,
                    };
                    t.check(&id, key, ok, || format!("{m:?} != {want}"));
                }
                "email_from" | "email_body" => {
                    let em = match &p.tpdu {
                        Tpdu::Deliver(d) => d.email(),
                        _ => None,
                    };
                    let got = em.as_ref().map(|m| {
                        if key == "email_from" {
                            m.from.as_str()
                        } else {
                            m.body.as_str()
                        }
                    });
                    t.check(&id, key, got == ws, || format!("{got:?} != {want}"));
                }
                "mms_sender" | "mms_address" | "mms_size" => {
                    let m = pdu::wap::mms_notification(v.data);
                    let ok = match (key.as_str(), &m) {
                        ("mms_sender", Some(m)) => m.from.as_deref() == ws,
                        ("mms_address", Some(m)) => m.location.as_deref() == ws,
                        ("mms_size", Some(m)) => m.size == wi,
                        _ => false,
                    };
                    t.check(&id, key, ok, || format!("{m:?} != {want}"));
                }
                other => t
                    .failures
                    .push(format!("{id}: expectation key {other:?} is not checked")),
            }
        }
    }

    for (g, (want, mut parts)) in groups {
        let Some(want) = want else { continue };
        parts.sort_by_key(|p| p.0);
        let got: String = parts.iter().map(|p| p.1.as_str()).collect();
        t.check(&g, "assembled_text", got == want, || {
            format!("{got:?}\n   != {want:?}")
        });
    }

    println!(
        "corpus: {entries} PDUs, {} expectations passed, {} failed",
        t.passed,
        t.failures.len()
    );
    for f in &t.failures {
        println!("FAIL {f}");
    }
    assert!(
        t.failures.is_empty(),
        "{} corpus expectations failed",
        t.failures.len()
    );
}
