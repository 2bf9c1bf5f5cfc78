//! Unsolicited result codes: which lines are URCs, and what the ones we act on say.

use super::errors::strip_prefix_ci;
use super::parse::{fields, parse_u32};

/// An unsolicited result code, recognised whether or not a command was in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Urc {
    /// `+CMTI: <mem>,<index>`: a message was stored.
    NewMessage { storage: String, index: u32 },
    /// `+CDSI: <mem>,<index>`: a status report was stored.
    NewStatusReport { storage: String, index: u32 },
    /// `+CMT: [<alpha>],<length>` and the PDU on the next line (PDU mode), or the text
    /// header and the text line (text mode). `length` is `None` in text mode.
    Message {
        header: String,
        length: Option<usize>,
        body: String,
    },
    /// `+CDS: <length>` and the PDU on the next line (PDU mode); in text mode the whole
    /// report is on the header line and `body` is empty.
    StatusReport {
        header: String,
        length: Option<usize>,
        body: String,
    },
    /// `+CUSD: <m>[,<str>[,<dcs>]]`, continuation lines of a multi-line string joined
    /// with `\n`.
    Ussd { line: String },
    /// `+CREG`, `+CGREG`, `+CEREG`, `+C5GREG`; `stat` is the registration state
    /// (1 home, 5 roaming, 0/2/3/4 not registered) when it parses.
    Registration { line: String, stat: Option<u8> },
    /// `RING` / `+CRING: ...`.
    Ring { line: String },
    /// A known URC we do not interpret (signal, boot, mode, `SMS Ready`...), or an
    /// unknown line that arrived while no command was in flight (`known == false`).
    Other { line: String, known: bool },
    /// A URC we interpret whose fields did not parse, or a `+CMT`/`+CDS` whose PDU line
    /// was not hex. Logged with the modem's name; never fatal.
    Malformed { line: String, reason: &'static str },
}

/// URCs whose names start with `+`, `^`, `*` or `$`: matched on the text before `:`.
const NAMED_URCS: &[&str] = &[
    "+CMTI",
    "+CMT",
    "+CDSI",
    "+CDS",
    "+CBM",
    "+CBMI",
    "+CUSD",
    "+CREG",
    "+CGREG",
    "+CEREG",
    "+C5GREG",
    "+CRING",
    "+CLIP",
    "+CCWA",
    "+CPIN",
    "+CFUN",
    "+CIEV",
    "+CTZV",
    "+CTZE",
    "+CTZU",
    "+QIND",
    "+QUSIM",
    "+QSTK",
    "+CSQN",
    "+PSUTTZ",
    "*PSUTTZ",
    "+WIND",
    "+ZDONR",
    "+ZPASR",
    "+ZUSIMR",
    "+ZEND",
    "+STIN",
    "+CGEV",
    "+CSCON",
    "^RSSI",
    "^HCSQ",
    "^BOOT",
    "^MODE",
    "^SRVST",
    "^SIMST",
    "^SYSSTART",
    "^ORIG",
    "^CONF",
    "^CONN",
    "^CEND",
    "^DSFLOWRPT",
    "^STIN",
    "^NDISSTAT",
    "^CRSSI",
    "^ECLSTAT",
    "^RFSWITCH",
    "^SMMEMFULL",
];

/// URCs that are whole lines (no `:`).
const BARE_URCS: &[&str] = &[
    "RING",
    "RDY",
    "Call Ready",
    "SMS Ready",
    "PB DONE",
    "NORMAL POWER DOWN",
    "POWERED DOWN",
    "UNDER-VOLTAGE WARNNING",
    "UNDER-VOLTAGE POWER DOWN",
    "OVER-VOLTAGE WARNNING",
    "OVER-VOLTAGE POWER DOWN",
    "NO CARRIER",
    "BUSY",
    "NO ANSWER",
    "+CPIN: READY",
    "DST: 0",
    "DST: 1",
];

/// The name a line would be classified by: `+CMTI` for `+CMTI: "SM",1`.
pub(crate) fn line_name(line: &str) -> &str {
    let first = line.as_bytes().first().copied().unwrap_or(b' ');
    if matches!(first, b'+' | b'^' | b'*' | b'$' | b'%' | b'#') {
        let end = line.find([':', ' ', '=']).unwrap_or(line.len());
        &line[..end]
    } else {
        line
    }
}

/// Whether `line` is a URC we know by name (case-insensitive on the name).
pub(crate) fn is_known_urc(line: &str) -> bool {
    let name = line_name(line);
    NAMED_URCS.iter().any(|u| u.eq_ignore_ascii_case(name))
        || BARE_URCS.iter().any(|u| u.eq_ignore_ascii_case(line))
        || (line.starts_with("CONNECT") && !line.contains(':'))
}

/// What follows a `+CMT`/`+CDS` header line.
pub(crate) enum Body {
    /// PDU mode: the next line is the PDU (hex), `length` from the header.
    Pdu(Option<usize>),
    /// Text mode: the next line is the text, whatever it holds.
    Text,
    /// Nothing follows (text-mode `+CDS`).
    None,
}

/// Kind of a two-line URC.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TwoLine {
    Cmt,
    Cds,
}

/// Whether `line` starts a two-line URC, and what its body is.
pub(crate) fn two_line_header(line: &str) -> Option<(TwoLine, Body)> {
    let name = line_name(line);
    let kind = if name.eq_ignore_ascii_case("+CMT") {
        TwoLine::Cmt
    } else if name.eq_ignore_ascii_case("+CDS") {
        TwoLine::Cds
    } else {
        return None;
    };
    let args = &line[name.len()..];
    let args = args.strip_prefix(':').unwrap_or(args);
    let f = fields(args);
    let last = f.last().map(|s| s.trim()).unwrap_or("");
    let body = match kind {
        // PDU mode: `+CMT: [<alpha>],<length>`; text mode has an address and a time stamp.
        TwoLine::Cmt => match (f.len(), last.parse::<usize>()) {
            (1 | 2, Ok(len)) => Body::Pdu(Some(len)),
            _ => Body::Text,
        },
        // PDU mode: `+CDS: <length>`; text mode: every field on the header line.
        TwoLine::Cds => match (f.len(), last.parse::<usize>()) {
            (1, Ok(len)) => Body::Pdu(Some(len)),
            _ => Body::None,
        },
    };
    Some((kind, body))
}

/// Builds the URC for a complete single line (not `+CMT`/`+CDS`, handled by the engine).
pub(crate) fn parse_urc(line: &str, known: bool) -> Urc {
    let name = line_name(line);
    let args = line[name.len()..].trim_start();
    let args = args.strip_prefix(':').unwrap_or(args).trim();
    let upper = name.to_ascii_uppercase();
    match upper.as_str() {
        "+CMTI" | "+CDSI" => {
            let f = fields(args);
            let parsed = match (f.first(), f.get(1).and_then(|i| parse_u32(i))) {
                (Some(storage), Some(index)) => Some((storage.clone(), index)),
                _ => None,
            };
            match parsed {
                Some((storage, index)) if upper == "+CMTI" => Urc::NewMessage { storage, index },
                Some((storage, index)) => Urc::NewStatusReport { storage, index },
                None => Urc::Malformed {
                    line: line.to_string(),
                    reason: "expected <mem>,<index>",
                },
            }
        }
        "+CUSD" => Urc::Ussd {
            line: line.to_string(),
        },
        "+CREG" | "+CGREG" | "+CEREG" | "+C5GREG" => {
            let stat = registration_stat(&fields(args));
            Urc::Registration {
                line: line.to_string(),
                stat,
            }
        }
        "RING" | "+CRING" => Urc::Ring {
            line: line.to_string(),
        },
        _ => Urc::Other {
            line: line.to_string(),
            known,
        },
    }
}

/// Whether a `+CUSD` line leaves a quoted string open (its text continues on the next
/// lines, as python-gsmmodem's fixtures show).
pub(crate) fn opens_multiline_string(line: &str) -> bool {
    strip_prefix_ci(line, "+CUSD").is_some() && line.bytes().filter(|b| *b == b'"').count() % 2 == 1
}

pub(crate) fn is_hex_line(line: &str) -> bool {
    !line.is_empty() && line.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `<stat>` of an unsolicited registration line. 27.007's URC form is
/// `+CREG: <stat>[,<lac>,<ci>[,<AcT>]]`, but some devices (seen: Sony-Ericsson MD400,
/// Samsung Wave S8500, Alcatel X220D, Altair LTE) send the solicited form
/// `+CREG: <n>,<stat>[,...]` unsolicited. The two are told apart by the second field: a
/// `<lac>`/`<tac>` is four or more hex digits (or empty), a `<stat>` one or two decimal
/// digits after an `<n>` of 0 to 2 (as ModemManager reads them).
fn registration_stat(f: &[String]) -> Option<u8> {
    let small = |s: &str| -> Option<u8> {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let first = f.first().map(|s| s.trim())?;
    if matches!(small(first), Some(0..=2)) {
        if let Some(stat @ 0..=11) = f.get(1).and_then(|s| small(s.trim())) {
            return Some(stat);
        }
    }
    first.parse().ok()
}
