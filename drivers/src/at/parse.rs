//! Parsers for the information lines of the responses the driver uses. Each is total:
//! odd replies give `None` or skip an entry, never a panic.

use super::errors::strip_prefix_ci;
use super::urc::is_hex_line;

/// Splits `a,"b,c",d` into `["a", "b,c", "d"]`: commas inside quotes do not split,
/// quotes are removed, whitespace outside the quotes is trimmed (inside, it is kept). An
/// unbalanced quote runs to the end.
pub fn fields(args: &str) -> Vec<String> {
    // Each character with whether it stood inside quotes: whitespace around a field is
    // dropped, whitespace inside its quotes is the text's (a USSD reply may end in one).
    fn finish(chars: &mut Vec<(char, bool)>) -> String {
        let keep = |&(c, quoted): &(char, bool)| quoted || !c.is_whitespace();
        let start = chars.iter().position(keep).unwrap_or(chars.len());
        let end = chars.iter().rposition(keep).map_or(start, |i| i + 1);
        let field = chars[start..end].iter().map(|(c, _)| c).collect();
        chars.clear();
        field
    }
    let mut out = Vec::new();
    let mut current: Vec<(char, bool)> = Vec::new();
    let mut quoted = false;
    for c in args.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(finish(&mut current)),
            _ => current.push((c, quoted)),
        }
    }
    out.push(finish(&mut current));
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

/// One `+CUSD: <m>[,<str>[,<dcs>]]` line (continuation lines of a multi-line string
/// joined with `\n`, as the engine gives them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CusdLine {
    /// 0 no further action, 1 further action required (session open), 2 terminated by
    /// the network, 3 other local client responded, 4 not supported, 5 network timeout.
    pub mode: u8,
    /// `<str>` as the modem wrote it, quotes removed: text, or hex to decode by `dcs`.
    pub raw: Option<String>,
    /// `<dcs>` (TS 23.038 cell broadcast coding groups); `None` when absent.
    pub dcs: Option<u8>,
}

/// Parses a `+CUSD:` line; `None` when it is not one or `<m>` does not parse.
pub fn parse_cusd(line: &str) -> Option<CusdLine> {
    let args = strip_prefix_ci(line.trim_start(), "+CUSD")?.trim_start();
    let args = args.strip_prefix(':').unwrap_or(args);
    let f = fields(args);
    let mode = f.first()?.trim().parse().ok()?;
    let raw = f.get(1).filter(|s| !s.is_empty()).cloned();
    let dcs = f.get(2).and_then(|d| d.trim().parse().ok());
    Some(CusdLine { mode, raw, dcs })
}

/// What `<m>` of a `+CUSD` line says.
pub fn cusd_mode_meaning(mode: u8) -> &'static str {
    match mode {
        0 => "no further user action required",
        1 => "further user action required",
        2 => "USSD terminated by network",
        3 => "other local client has responded",
        4 => "operation not supported",
        5 => "network time out",
        _ => "unknown",
    }
}

/// How the text of a USSD reply was found encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UssdEncoding {
    /// The modem decoded it already (plain text in the quotes).
    Text,
    /// Hex of GSM 7-bit packed septets (Huawei E160 and others).
    Gsm7Hex,
    /// Hex of UCS2 (big-endian UTF-16), by the DCS or because `AT+CSCS="UCS2"` is on.
    Ucs2Hex,
    /// Hex of 8-bit data, shown as Latin-1.
    EightBitHex,
}

/// Character set a cell-broadcast DCS (TS 23.038 §5) announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UssdCharset {
    Gsm7,
    /// GSM 7-bit whose text starts with a 2-letter language and CR (DCS 0x10).
    Gsm7Language,
    Ucs2,
    /// UCS2 preceded by a 2-character language packed in 2 octets (DCS 0x11).
    Ucs2Language,
    EightBit,
}

fn ussd_charset(dcs: u8) -> UssdCharset {
    match dcs >> 4 {
        0x0 | 0x2 | 0x3 => UssdCharset::Gsm7,
        0x1 => match dcs & 0x0F {
            0 => UssdCharset::Gsm7Language,
            1 => UssdCharset::Ucs2Language,
            _ => UssdCharset::Gsm7,
        },
        0x4..=0x7 | 0x9 => match (dcs >> 2) & 0x03 {
            1 => UssdCharset::EightBit,
            2 => UssdCharset::Ucs2,
            _ => UssdCharset::Gsm7,
        },
        0xF => {
            if dcs & 0x04 != 0 {
                UssdCharset::EightBit
            } else {
                UssdCharset::Gsm7
            }
        }
        // Reserved groups: treated as the default alphabet (TS 23.038 §5).
        _ => UssdCharset::Gsm7,
    }
}

fn hex_octets(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || !is_hex_line(s) {
        return None;
    }
    crate::pdu::from_hex(s).ok()
}

/// UTF-16BE to text, cut at the first U+0000 (Telit pads its replies with NUL and
/// filler after the text); `None` for an odd number of octets.
fn ucs2_text(octets: &[u8]) -> Option<String> {
    if !octets.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = octets
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .take_while(|u| *u != 0)
        .collect();
    Some(
        char::decode_utf16(units)
            .map(|c| c.unwrap_or('\u{FFFD}'))
            .collect(),
    )
}

/// Whether hex that a GSM 7-bit DCS announces is really UCS2 (a modem in
/// `AT+CSCS="UCS2"` mode, like Quectel M35's reply): every UTF-16 unit before a NUL
/// lies in a script block real text uses. Packed septets practically never do.
fn looks_like_ucs2(octets: &[u8]) -> bool {
    if octets.len() < 2 || !octets.len().is_multiple_of(2) {
        return false;
    }
    let units = octets
        .chunks_exact(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .take_while(|u| *u != 0);
    let mut any = false;
    for u in units {
        any = true;
        let ok = matches!(u,
            0x000A | 0x000D
            | 0x0020..=0x024F   // Latin
            | 0x0370..=0x06FF   // Greek, Cyrillic, Armenian, Hebrew, Arabic
            | 0x0900..=0x0DFF   // Indic scripts
            | 0x0E00..=0x0EFF   // Thai, Lao
            | 0x1E00..=0x1FFF   // Latin extended additional (Vietnamese), Greek extended
            | 0x2000..=0x206F   // punctuation
            | 0x20A0..=0x20CF   // currency
            | 0x3000..=0x30FF   // CJK punctuation, kana
            | 0x4E00..=0x9FFF   // CJK ideographs
            | 0xAC00..=0xD7A3   // Hangul
            | 0xFF00..=0xFFEF); // full-width forms
        if !ok {
            return false;
        }
    }
    any
}

/// GSM 7-bit packed septets to text through the PDU codec's default alphabet (with its
/// extension table): the octets are read as the user data of an SMS-DELIVER.
fn gsm7_packed_text(octets: &[u8]) -> Option<String> {
    let septets = octets.len() * 8 / 7;
    let udl = u8::try_from(septets).ok()?;
    // DELIVER, originator "1", PID 0, DCS 0, a valid time stamp, then the user data.
    let mut pdu = vec![
        0x04, 0x01, 0x81, 0xF1, 0x00, 0x00, 0x11, 0x10, 0x10, 0x00, 0x00, 0x00, 0x00, udl,
    ];
    pdu.extend_from_slice(octets);
    let decoded = crate::pdu::decode(&pdu, false).ok()?;
    let mut text = decoded.text()?.to_string();
    // When the octets hold a whole number of septets, the last one may be fill: CR per
    // TS 23.038 §6.1.2.3.1, or 0 ('@') from modems that pad with zeros.
    if (octets.len() * 8).is_multiple_of(7) && (text.ends_with('\r') || text.ends_with('@')) {
        text.pop();
    }
    Some(text)
}

/// Decodes the `<str>` of a `+CUSD` reply by its `<dcs>` (15, GSM 7-bit, when absent).
///
/// Modems differ in what they put in the quotes: the text itself (most, and
/// python-gsmmodem's fixtures), hex of packed GSM 7-bit septets (Huawei E160), hex of
/// UCS2 when the DCS says UCS2 (Huawei E3276, DCS 72) or when `AT+CSCS="UCS2"` is on
/// although the DCS says GSM 7-bit (Quectel M35), UCS2 preceded by a packed language
/// code and followed by NUL and filler (Telit HE910, DCS 17). Text that is not hex is
/// taken as it is; a reply of decimal digits only is a number, not hex.
pub fn decode_ussd(raw: &str, dcs: Option<u8>) -> (String, UssdEncoding) {
    let raw = raw.trim();
    let charset = ussd_charset(dcs.unwrap_or(0x0F));
    let octets = hex_octets(raw);
    match (charset, octets) {
        (UssdCharset::Ucs2, Some(o)) => match ucs2_text(&o) {
            Some(t) => (t, UssdEncoding::Ucs2Hex),
            None => (raw.to_string(), UssdEncoding::Text),
        },
        (UssdCharset::Ucs2Language, Some(o)) if o.len() >= 2 => match ucs2_text(&o[2..]) {
            Some(t) => (t, UssdEncoding::Ucs2Hex),
            None => (raw.to_string(), UssdEncoding::Text),
        },
        (UssdCharset::EightBit, Some(o)) => (
            o.iter()
                .take_while(|b| **b != 0)
                .map(|b| char::from(*b))
                .collect(),
            UssdEncoding::EightBitHex,
        ),
        (UssdCharset::Gsm7 | UssdCharset::Gsm7Language, Some(o)) => {
            if looks_like_ucs2(&o) {
                if let Some(t) = ucs2_text(&o) {
                    return (t, UssdEncoding::Ucs2Hex);
                }
            }
            if raw.bytes().all(|b| b.is_ascii_digit()) {
                return (raw.to_string(), UssdEncoding::Text);
            }
            match gsm7_packed_text(&o) {
                Some(mut t) => {
                    if charset == UssdCharset::Gsm7Language && t.chars().nth(2) == Some('\r') {
                        t = t.chars().skip(3).collect();
                    }
                    (t, UssdEncoding::Gsm7Hex)
                }
                None => (raw.to_string(), UssdEncoding::Text),
            }
        }
        _ => (raw.to_string(), UssdEncoding::Text),
    }
}
