//! OTP extraction and message classification. Pure: no I/O, no network, no
//! global state beyond immutable keyword tables; the same input always gives
//! the same output, and no input can panic it.
//!
//! # Map
//!
//! - [`extract`]: the entry point; text (and sender ID) in, [`Extraction`] out.
//! - `text`: a char-indexed, folded view of the message (`Doc`). Everything
//!   below works on char indices, so nothing ever slices inside a UTF-8
//!   sequence; other scripts' digits and fullwidth forms fold to ASCII.
//! - `keywords`: multi-language keyword tables (code words, hints, anti-words
//!   like "promo", identifier labels like "account", money words) and the
//!   matcher.
//! - `scan`: candidate codes (runs of letters/digits, `123-456`, `G-123456`,
//!   spaced `4 u 8 k u f`), dropping pieces of amounts, dates, times, phone
//!   numbers, masked accounts and URLs; then scores each by shape, keyword
//!   proximity, layout and context, and keeps the best above a threshold.
//! - `service`: which service sent it (sender ID, known brands, `【签名】`).
//! - `classify`: `verification` / `notification` / `other` when there is no code.
//!
//! The corpus score lives in `gateway/tests/otp_corpus.rs`; hand-written cases
//! per language and per false-positive class in `gateway/tests/otp_cases.rs`.

mod classify;
mod keywords;
mod scan;
mod service;
mod text;

use serde::{Deserialize, Serialize};

/// Message type, as in the DispoSMS `type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// Carries a one-time code.
    Otp,
    /// About verification but with no code to type (a link, "number verified").
    Verification,
    /// Transactional or service notice: bank alert, delivery, appointment.
    Notification,
    /// Everything else: personal messages, spam.
    Other,
}

impl MessageType {
    pub fn as_str(&self) -> &'static str {
        match self {
            MessageType::Otp => "otp",
            MessageType::Verification => "verification",
            MessageType::Notification => "notification",
            MessageType::Other => "other",
        }
    }

    /// Parses the lowercase names used by the API (`"otp"`, ...); case-insensitive.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "otp" => Some(MessageType::Otp),
            "verification" => Some(MessageType::Verification),
            "notification" => Some(MessageType::Notification),
            "other" => Some(MessageType::Other),
            _ => None,
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`extract`] found in one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extraction {
    /// The code to type: separators removed, `G-` dropped, ASCII digits, case
    /// and leading zeros kept (`"105876"` for `105-876`).
    pub code: Option<String>,
    /// The code exactly as the text writes it (`"105-876"`, `"G-412157"`).
    pub code_as_written: Option<String>,
    pub kind: MessageType,
    /// Service name: a canonical brand ("WhatsApp", "Google") when known,
    /// otherwise the sender ID or the text's signature (`【自如网】` gives "自如网").
    pub service: Option<String>,
}

/// Longest text we look at. SMS concatenation tops out near 39,000 characters
/// (255 parts); beyond this the input is not an SMS and we only read its start.
const MAX_CHARS: usize = 40_000;

/// Extract the one-time code, message type and service from an SMS body.
/// `sender` is the originating address or alphanumeric sender ID, if known.
pub fn extract(text: &str, sender: Option<&str>) -> Extraction {
    let text = match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => &text[..cut],
        None => text,
    };
    let doc = text::Doc::new(text);
    let urls = scan::url_spans(&doc);
    // Keywords inside URLs ("?RatingCode=") say nothing about the message.
    let hits: Vec<keywords::Hit> = keywords::find(&doc)
        .into_iter()
        .filter(|h| !urls.iter().any(|&(s, e)| h.start < e && s < h.end))
        .collect();
    let mut cands = scan::candidates(&doc, &urls);
    scan::score_all(&doc, &mut cands, &hits);
    let best = scan::best(&cands);

    let google = best.is_some_and(|c| c.shape == scan::Shape::Google);
    let is_label = |a: usize, b: usize| {
        hits.iter()
            .any(|h| h.class == keywords::Class::Code && a <= h.start && h.end <= b)
    };
    let service = service::detect(&doc, sender, google, is_label);
    match best {
        Some(c) => Extraction {
            code: Some(c.code.clone()),
            code_as_written: Some(doc.original(c.start, c.end)),
            kind: MessageType::Otp,
            service,
        },
        None => Extraction {
            code: None,
            code_as_written: None,
            kind: classify::without_code(&doc),
            service,
        },
    }
}

/// Every candidate code with its score, in text order; the extractor reports
/// the best one at or above the acceptance threshold. For tuning and for
/// explaining a miss in a bug report.
pub fn explain(text: &str) -> Vec<(String, f32)> {
    let doc = text::Doc::new(text);
    let urls = scan::url_spans(&doc);
    let hits: Vec<keywords::Hit> = keywords::find(&doc)
        .into_iter()
        .filter(|h| !urls.iter().any(|&(s, e)| h.start < e && s < h.end))
        .collect();
    let mut cands = scan::candidates(&doc, &urls);
    scan::score_all(&doc, &mut cands, &hits);
    cands
        .into_iter()
        .map(|c| (doc.original(c.start, c.end), c.score))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip() {
        for t in [
            MessageType::Otp,
            MessageType::Verification,
            MessageType::Notification,
            MessageType::Other,
        ] {
            assert_eq!(MessageType::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        assert_eq!(MessageType::parse("spam"), None);
    }

    #[test]
    fn basic() {
        let e = extract("Your WhatsApp code is 105-876", None);
        assert_eq!(e.code.as_deref(), Some("105876"));
        assert_eq!(e.code_as_written.as_deref(), Some("105-876"));
        assert_eq!(e.kind, MessageType::Otp);
        assert_eq!(e.service.as_deref(), Some("WhatsApp"));
    }
}
