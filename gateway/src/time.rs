//! Timestamps as the APIs write them: UTC, millisecond precision, `Z` suffix
//! ("2025-08-06T12:00:00.000Z"). Stored in SQLite in the same form, so that text
//! order is time order.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now_iso() -> String {
    iso(now())
}

/// Parses an ISO-8601 date-time (any offset) or a plain date (`2025-08-06`, midnight UTC).
pub fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_is_millis_with_z_and_sorts_as_text() {
        let a = parse_iso("2025-08-06T12:00:00+02:00").expect("valid");
        assert_eq!(iso(a), "2025-08-06T10:00:00.000Z");
        let b = parse_iso("2025-08-06").expect("valid date");
        assert!(iso(b) < iso(a));
        assert!(parse_iso("yesterday").is_none());
    }
}
