//! Property tests (proptest): for any text, `encode_submit` / `encode_deliver` then
//! `decode` gives back the same text, in as many parts as the segment counter promised,
//! each part's user data within 140 octets and carrying a consistent concatenation IE.

use drivers::pdu::{self, NationalLanguage, SubmitOptions, Tables, Timestamp, Tpdu, Validity};
use proptest::prelude::*;

/// Characters from every class the encoder must handle: GSM 7-bit default, the extension
/// table (escapes), national-language tables, UCS2 in the BMP, surrogate pairs, combining
/// marks and controls. Random `String`s alone rarely hit the GSM 7-bit paths.
fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            'a', 'Z', '0', ' ', '@', '$', '£', '\n', '\r', 'é', 'Δ', '_', 'ß', 'Ä', 'ñ',
        ]),
        prop::sample::select(vec!['€', '[', ']', '{', '}', '~', '\\', '^', '|', '\u{c}']),
        prop::sample::select(vec![
            'ş', 'ğ', 'İ', 'ı', 'ç', 'á', 'õ', 'ã', 'Ê', 'क', 'ा', '।'
        ]),
        prop::sample::select(vec![
            'ж', '中', 'ÿ', '\u{301}', '\u{0}', '\u{7f}', '\u{200B}'
        ]),
        prop::sample::select(vec!['😀', '👍', '𝄞', '\u{1F1E9}']),
        any::<char>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(interesting_char(), 0..420).prop_map(|v| v.into_iter().collect()),
        // Long plain GSM texts straddling the 153-septet boundaries with escapes.
        (
            0usize..500,
            prop::sample::select(vec!["a", "€", "{a}", "ab"])
        )
            .prop_map(|(n, unit)| unit.repeat(n)),
    ]
}

fn national_tables() -> impl Strategy<Value = Vec<Tables>> {
    prop_oneof![
        Just(Vec::new()),
        prop::sample::select(NationalLanguage::ALL.to_vec()).prop_map(|l| vec![Tables {
            locking: l,
            single: l,
        }]),
        Just(vec![Tables {
            locking: NationalLanguage::Default,
            single: NationalLanguage::Turkish,
        }]),
    ]
}

/// Decodes each part as a modem hands it back and joins the texts in sequence order,
/// checking the concatenation IE against the parts' count and order.
fn joined(parts: &[pdu::EncodedPdu]) -> Result<String, TestCaseError> {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        let p = pdu::decode_hex(&part.hex, true)
            .map_err(|e| TestCaseError::fail(format!("own PDU {} fails: {e}", part.hex)))?;
        prop_assert!(p.warnings.is_empty(), "own PDU warns: {:?}", p.warnings);
        if parts.len() > 1 {
            let c = p
                .concat()
                .ok_or_else(|| TestCaseError::fail("part has no concat IE"))?;
            prop_assert_eq!(usize::from(c.seq), i + 1);
            prop_assert_eq!(usize::from(c.total), parts.len());
        }
        let (text, user_data_len) = match &p.tpdu {
            Tpdu::Deliver(d) => (d.text.clone(), d.data.len()),
            Tpdu::Submit(s) => (s.text.clone(), s.data.len()),
            Tpdu::StatusReport(_) => return Err(TestCaseError::fail("decoded as a report")),
        };
        prop_assert!(
            user_data_len <= 140,
            "user data of {} octets",
            user_data_len
        );
        out.push_str(&text.ok_or_else(|| TestCaseError::fail("part has no text"))?);
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn submit_round_trips_any_text(
        text in text(),
        national in national_tables(),
        reference in prop_oneof![0u16..256, any::<u16>()],
        status_report in any::<bool>(),
        validity in prop::option::of((0u8..=255).prop_map(Validity::Relative)),
    ) {
        let opts = SubmitOptions {
            reference,
            status_report,
            validity,
            national: national.clone(),
            ..SubmitOptions::default()
        };
        let parts = pdu::encode_submit("+447700900123", &text, &opts)
            .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
        prop_assert!(!parts.is_empty());
        prop_assert_eq!(joined(&parts)?, text.clone());
        let count = pdu::count_submit(&text, &opts);
        prop_assert_eq!(count.parts, parts.len(), "the counter promises what is sent");
        for p in &parts {
            let d = pdu::decode_hex(&p.hex, true).expect("decoded above");
            if let Tpdu::Submit(s) = d.tpdu {
                prop_assert_eq!(s.status_report_request, status_report);
                prop_assert_eq!(s.recipient.number.as_str(), "+447700900123");
            }
        }
    }

    #[test]
    fn deliver_round_trips_any_text(text in text(), reference in any::<u16>()) {
        let ts = Timestamp::from_octets(&[0x62, 0x11, 0x22, 0x21, 0x43, 0x05, 0x8A]);
        let parts = pdu::encode_deliver("WhatsApp", &text, ts, reference)
            .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
        prop_assert_eq!(joined(&parts)?, text);
    }

    #[test]
    fn decode_of_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for with_smsc in [true, false] {
            if let Ok(p) = pdu::decode(&bytes, with_smsc) {
                serde_json::to_string(&p).expect("a decoded PDU serialises");
            }
        }
    }
}
