//! Parsers for the information lines of the responses the driver uses. Each is total:
//! odd replies give `None` or skip an entry, never a panic.

use super::errors::strip_prefix_ci;
use super::urc::is_hex_line;

/// Splits `a,"b,c",d` into `["a", "b,c", "d"]`: commas inside quotes do not split,
/// quotes are removed, fields are trimmed. An unbalanced quote runs to the end.
pub fn fields(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in args.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut current).trim().to_string()),
            _ => current.push(c),
        }
    }
    out.push(current.trim().to_string());
    out
}

pub(crate) fn parse_u32(text: &str) -> Option<u32> {
    text.trim().parse().ok()
}

/// The arguments of the first line starting with `prefix` (`+CSQ` → `18,99`).
pub fn info<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let rest = strip_prefix_ci(l, prefix)?;
        let rest = rest.trim_start();
        Some(rest.strip_prefix(':').unwrap_or(rest).trim())
    })
}

/// `+CSQ: <rssi>,<ber>` → rssi 0..=31, or `None` for 99 (unknown) and anything odd.
pub fn parse_csq(lines: &[String]) -> Option<u8> {
    let f = fields(info(lines, "+CSQ")?);
    let rssi: u8 = f.first()?.parse().ok()?;
    (rssi <= 31).then_some(rssi)
}

/// dBm of a `+CSQ` rssi: -113 + 2·n (0 → -113 dBm or less, 31 → -51 dBm or more).
pub fn csq_to_dbm(rssi: u8) -> Option<i32> {
    (rssi <= 31).then(|| -113 + 2 * i32::from(rssi))
}

/// Signal bars 0..=4 the way phones draw them from dBm.
pub fn dbm_to_bars(dbm: i32) -> u8 {
    match dbm {
        d if d >= -73 => 4,
        d if d >= -83 => 3,
        d if d >= -93 => 2,
        d if d >= -109 => 1,
        _ => 0,
    }
}

/// Registration state of a solicited `+CREG: <n>,<stat>[,...]` (also `+CGREG`/`+CEREG`).
pub fn parse_creg(lines: &[String], prefix: &str) -> Option<u8> {
    let f = fields(info(lines, prefix)?);
    let stat = if f.len() >= 2 { &f[1] } else { f.first()? };
    stat.trim().parse().ok()
}

/// Operator name of `+COPS: <mode>[,<format>,<oper>[,<AcT>]]`.
pub fn parse_cops(lines: &[String]) -> Option<String> {
    let f = fields(info(lines, "+COPS")?);
    f.get(2).filter(|s| !s.is_empty()).cloned()
}

/// Own number of `+CNUM: [<alpha>],<number>,<type>`; type 145 adds the `+`.
pub fn parse_cnum(lines: &[String]) -> Option<String> {
    let f = fields(info(lines, "+CNUM")?);
    let number = f.get(1)?.trim();
    if number.is_empty() {
        return None;
    }
    let international = f.get(2).map(|t| t.trim() == "145").unwrap_or(false);
    if international && !number.starts_with('+') {
        Some(format!("+{number}"))
    } else {
        Some(number.to_string())
    }
}

/// State of the SIM from `+CPIN: <code>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinState {
    Ready,
    SimPin,
    SimPuk,
    Other(String),
}

pub fn parse_cpin(lines: &[String]) -> Option<PinState> {
    let code = info(lines, "+CPIN")?.trim_matches('"').trim();
    Some(match code.to_ascii_uppercase().as_str() {
        "READY" => PinState::Ready,
        "SIM PIN" => PinState::SimPin,
        "SIM PUK" => PinState::SimPuk,
        _ => PinState::Other(code.to_string()),
    })
}

/// `(used, total)` of the first storage in a `+CPMS` reply: the query form
/// `+CPMS: "SM",3,50,...` or the set form `+CPMS: 3,50,...`.
pub fn parse_cpms(lines: &[String]) -> Option<(u32, u32)> {
    let f = fields(info(lines, "+CPMS")?);
    let numbers_from = if f.first()?.parse::<u32>().is_ok() {
        0
    } else {
        1
    };
    let used = f.get(numbers_from)?.parse().ok()?;
    let total = f.get(numbers_from + 1)?.parse().ok()?;
    Some((used, total))
}

/// The value of a one-value reply (`AT+CGSN`, `AT+CCID`, `AT+CGMI`...): a leading
/// `+NAME:` is removed, several lines (Quectel's three-line `AT+CGMI`) are joined with a
/// space, quotes and surrounding spaces are dropped.
pub fn single_value(lines: &[String]) -> Option<String> {
    let parts: Vec<&str> = lines
        .iter()
        .map(|l| {
            let l = l.trim();
            match (l.starts_with(['+', '^', '$']), l.find(':')) {
                (true, Some(colon)) => l[colon + 1..].trim(),
                _ => l,
            }
        })
        .map(|l| l.trim_matches('"').trim())
        .filter(|l| !l.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// One message read from storage by `AT+CMGR`/`AT+CMGL` in PDU mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPdu {
    pub index: u32,
    /// 0 received unread, 1 received read, 2 stored unsent, 3 stored sent.
    pub stat: Option<u8>,
    /// `<length>` of the header: TPDU octets, without the SMSC field.
    pub length: Option<usize>,
    pub hex: String,
}

/// Problems met while parsing a listing, reported and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingProblem {
    pub line: String,
    pub reason: &'static str,
}

/// `+CMGL: <index>,<stat>,[<alpha>],<length>` each followed by its PDU line.
pub fn parse_cmgl(lines: &[String]) -> (Vec<StoredPdu>, Vec<ListingProblem>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    // The header line waiting for its PDU: (line, index, stat, length).
    type Header<'l> = (&'l String, Option<u32>, Option<u8>, Option<usize>);
    let mut header: Option<Header> = None;
    for line in lines {
        if let Some(args) = strip_prefix_ci(line, "+CMGL:") {
            if let Some((previous, ..)) = header.take() {
                problems.push(ListingProblem {
                    line: previous.clone(),
                    reason: "header without a PDU line",
                });
            }
            let f = fields(args);
            let index = f.first().and_then(|i| parse_u32(i));
            let stat = f.get(1).and_then(|s| s.parse().ok());
            let length = f.last().and_then(|l| l.parse().ok());
            header = Some((line, index, stat, length));
        } else if let Some((header_line, index, stat, length)) = header.take() {
            match (index, is_hex_line(line)) {
                (Some(index), true) => found.push(StoredPdu {
                    index,
                    stat,
                    length,
                    hex: line.clone(),
                }),
                (None, _) => problems.push(ListingProblem {
                    line: header_line.clone(),
                    reason: "index does not parse",
                }),
                (_, false) => problems.push(ListingProblem {
                    line: line.clone(),
                    reason: "PDU line is not hex",
                }),
            }
        } else {
            problems.push(ListingProblem {
                line: line.clone(),
                reason: "line outside a +CMGL entry",
            });
        }
    }
    if let Some((previous, ..)) = header {
        problems.push(ListingProblem {
            line: previous.clone(),
            reason: "header without a PDU line",
        });
    }
    (found, problems)
}

/// `+CMGR: <stat>,[<alpha>],<length>` followed by the PDU line. `None` when the slot is
/// empty (many modems answer a bare `OK`) or the reply is not a PDU-mode read.
pub fn parse_cmgr(lines: &[String], index: u32) -> Option<StoredPdu> {
    let mut iter = lines.iter();
    let args = iter.by_ref().find_map(|l| strip_prefix_ci(l, "+CMGR:"))?;
    let f = fields(args);
    let hex = iter.find(|l| !l.trim().is_empty())?;
    if !is_hex_line(hex) {
        return None;
    }
    Some(StoredPdu {
        index,
        stat: f.first().and_then(|s| s.parse().ok()),
        length: f.last().and_then(|l| l.parse().ok()),
        hex: hex.clone(),
    })
}

/// TPDU length of a PDU in hex that starts with the SMSC length octet: the octets after
/// the SMSC field, as `+CMGR`/`AT+CMGS` count them. `None` when the hex cannot be that.
pub fn tpdu_len_of(hex: &str) -> Option<usize> {
    if !hex.len().is_multiple_of(2) || !is_hex_line(hex) {
        return None;
    }
    let smsc_len = usize::from(u8::from_str_radix(hex.get(..2)?, 16).ok()?);
    (hex.len() / 2).checked_sub(1 + smsc_len)
}

/// TP-MTI of a PDU with SMSC prefix: 0 DELIVER, 1 SUBMIT, 2 STATUS-REPORT.
pub fn message_type_indicator(hex: &str) -> Option<u8> {
    let smsc_len = usize::from(u8::from_str_radix(hex.get(..2)?, 16).ok()?);
    let at = 2 + 2 * smsc_len;
    let first = u8::from_str_radix(hex.get(at..at + 2)?, 16).ok()?;
    Some(first & 0x03)
}
