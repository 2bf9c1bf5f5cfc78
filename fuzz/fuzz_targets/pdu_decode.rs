//! `drivers::pdu` decoder on arbitrary input: never panics, in every mode.
//!
//! The first byte picks the mode: bit 0 with the SMSC field, bit 1 strict, bit 2 the
//! input is hex text (as a modem hands it over) rather than octets, bits 3-6 the
//! national language tables assumed when the UDH names none. The rest is the PDU.
//!
//! Checked besides "no panic": hex and octet entry points agree; strict succeeds only
//! without warnings and then equals the lenient result; a decoded PDU serialises to
//! JSON (what `simgate pdu decode` prints) and its text is valid (it is a `String`).
#![no_main]

use drivers::pdu::{self, DecodeOptions, NationalLanguage, Tables};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let with_smsc = mode & 1 != 0;
    let strict = mode & 2 != 0;
    let as_hex = mode & 4 != 0;
    let lang = NationalLanguage::from_id((mode >> 3) & 0x0F).unwrap_or_default();
    let tables = Tables {
        locking: lang,
        single: lang,
    };
    let lenient_opts = DecodeOptions {
        strict: false,
        tables,
    };
    let opts = DecodeOptions { strict, tables };

    if as_hex {
        let Ok(hex) = std::str::from_utf8(rest) else {
            return;
        };
        let via_hex = pdu::decode_hex_with(hex, with_smsc, &opts);
        if let Ok(bytes) = pdu::from_hex(hex) {
            let via_bytes = pdu::decode_with(&bytes, with_smsc, &opts);
            assert_eq!(via_hex, via_bytes, "hex and octet entry points disagree");
        }
        if let Ok(p) = via_hex {
            let _ = serde_json::to_string(&p).expect("serialises");
        }
        return;
    }

    let lenient = pdu::decode_with(rest, with_smsc, &lenient_opts);
    let strict_result = pdu::decode_with(
        rest,
        with_smsc,
        &DecodeOptions {
            strict: true,
            tables,
        },
    );
    if let Ok(s) = &strict_result {
        assert!(s.warnings.is_empty(), "strict decode with warnings");
        let l = lenient
            .as_ref()
            .expect("strict succeeded, lenient must too");
        assert_eq!(s, l, "strict and lenient disagree on a clean PDU");
    }
    // Lenient errors are a subset of strict errors.
    if lenient.is_err() {
        assert!(
            strict_result.is_err(),
            "lenient failed where strict succeeded"
        );
    }
    if let Ok(p) = &lenient {
        let _ = serde_json::to_string(p).expect("serialises");
        let _ = p.text().map(str::len);
        let _ = p.concat();
    }
    // The hex path of the same octets gives the same answer.
    let hex = pdu::to_hex(rest);
    if !rest.is_empty() {
        assert_eq!(pdu::from_hex(&hex).as_deref(), Ok(rest));
        assert_eq!(
            pdu::decode_hex_with(&hex, with_smsc, &lenient_opts),
            lenient
        );
    }
    let _ = strict;
});
