//! Encode then decode returns the same text: `encode_submit` and `encode_deliver` of an
//! arbitrary text, each part decoded (with its SMSC field, as a modem would hand it
//! back), the parts' texts joined in sequence order.
//!
//! The first byte picks the mode: bit 0 the text is the input as UTF-8 (lossy) rather
//! than built from an alphabet of GSM 7-bit, extension-table, national-language, UCS2
//! and astral characters (which random UTF-8 rarely reaches); bit 1 national tables
//! enabled for the submit; bit 2 status report requested; bit 3 a 16-bit reference.
//! Also checked: the segment counter agrees with the number of parts encoded.
#![no_main]

use drivers::pdu::{self, NationalLanguage, SubmitOptions, Tables, Timestamp, Tpdu};
use libfuzzer_sys::fuzz_target;

const ALPHABET: &[char] = &[
    'a', 'Z', '0', '9', ' ', '@', '$', '\n', '\r', '.', '-', 'é', 'Ä', 'ß', '_', // GSM 7-bit
    '€', '[', ']', '{', '}', '~', '\\', '^', '|', '\u{0C}', // extension table
    'ş', 'ğ', 'İ', 'ı', 'Ş', 'ç', 'á', 'í', 'ó', 'ú', 'õ', 'ã',
    'Ê', // Turkish, Spanish, Portuguese
    'क', 'ख', 'ा', '।', 'ঀ', 'অ', 'ا', 'ب', // Hindi, Bengali, Urdu
    'Я', 'ж', '中', '文', 'ÿ', '\u{00A0}', '\u{200B}', // UCS2
    '😀', '𝄞', '👍', // outside the BMP: surrogate pairs
];

fn decoded_text(hex: &str) -> (String, Option<(u8, u8)>) {
    let p = pdu::decode_hex(hex, true).unwrap_or_else(|e| panic!("own PDU {hex} fails: {e}"));
    assert!(
        p.warnings.is_empty(),
        "own PDU {hex} has warnings {:?}",
        p.warnings
    );
    let seq = p.concat().map(|c| (c.seq, c.total));
    let text = match &p.tpdu {
        Tpdu::Deliver(d) => d.text.clone(),
        Tpdu::Submit(s) => s.text.clone(),
        Tpdu::StatusReport(_) => panic!("own PDU decoded as a status report"),
    };
    (text.expect("own PDU has a text"), seq)
}

fn joined(parts: &[pdu::EncodedPdu]) -> String {
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        let (text, seq) = decoded_text(&part.hex);
        if parts.len() > 1 {
            let (s, total) = seq.expect("multipart PDU has a concat IE");
            assert_eq!(usize::from(s), i + 1, "sequence number");
            assert_eq!(usize::from(total), parts.len(), "total parts");
        }
        out.push_str(&text);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text: String = if mode & 1 != 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        rest.iter()
            .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()])
            .collect()
    };
    let national = if mode & 2 != 0 {
        NationalLanguage::ALL[1..]
            .iter()
            .map(|&l| Tables {
                locking: l,
                single: l,
            })
            .chain([Tables {
                locking: NationalLanguage::Default,
                single: NationalLanguage::Turkish,
            }])
            .collect()
    } else {
        Vec::new()
    };
    let reference = if mode & 8 != 0 { 0x1234 } else { 0x42 };
    let opts = SubmitOptions {
        status_report: mode & 4 != 0,
        reference,
        national: national.clone(),
        ..SubmitOptions::default()
    };

    if let Ok(parts) = pdu::encode_submit("+12025550123", &text, &opts) {
        assert!(!parts.is_empty());
        assert_eq!(joined(&parts), text, "submit round trip");
        let count = pdu::count_submit(&text, &opts);
        assert_eq!(count.parts, parts.len(), "segment counter vs encoder");
        if reference < 256 {
            let default = pdu::count_segments_with(&text, &national);
            assert_eq!(default.parts, parts.len(), "8-bit counter vs encoder");
        }
    }

    let ts = Timestamp::from_octets(&[0x62, 0x11, 0x22, 0x21, 0x43, 0x05, 0x8A]);
    if let Ok(parts) = pdu::encode_deliver("+12025550123", &text, ts, reference) {
        assert_eq!(joined(&parts), text, "deliver round trip");
    }
});
