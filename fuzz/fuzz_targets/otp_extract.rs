//! `gateway::otp::extract` on arbitrary UTF-8: never panics; `code_as_written` is a
//! substring of the text; a code comes with its written form and type `otp`, and is
//! non-empty and alphanumeric. The first byte chooses a sender (none, a number, an
//! alphanumeric ID, or the part of the input after a NUL).
#![no_main]

use gateway::otp::{extract, MessageType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(input) = std::str::from_utf8(rest) else {
        return;
    };
    let (text, sender) = match mode % 4 {
        0 => (input, None),
        1 => (input, Some("+12025550123")),
        2 => (input, Some("WhatsApp")),
        _ => match input.split_once('\0') {
            Some((s, t)) => (t, Some(s)),
            None => (input, None),
        },
    };
    let e = extract(text, sender);
    assert_eq!(e.code.is_some(), e.code_as_written.is_some());
    assert_eq!(e.code.is_some(), e.kind == MessageType::Otp);
    if let Some(written) = &e.code_as_written {
        assert!(
            text.contains(written.as_str()),
            "code_as_written {written:?} is not in the text {text:?}"
        );
    }
    if let Some(code) = &e.code {
        assert!(!code.is_empty(), "empty code");
        assert!(code.chars().all(char::is_alphanumeric), "code {code:?}");
    }
});
