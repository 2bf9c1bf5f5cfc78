//! Final result codes and the standard meaning of `+CME ERROR` (3GPP TS 27.007 §9.2) and
//! `+CMS ERROR` (3GPP TS 27.005 §3.2.5) codes.

use std::fmt;

/// The code of a `+CME ERROR:` or `+CMS ERROR:`: numeric after `AT+CMEE=1`, text after
/// `AT+CMEE=2` (SIM800 and others answer `+CME ERROR: SIM busy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    Numeric(u16),
    Text(String),
}

impl ErrorCode {
    pub(crate) fn parse(text: &str) -> ErrorCode {
        let text = text.trim();
        match text.parse::<u16>() {
            Ok(code) => ErrorCode::Numeric(code),
            Err(_) => ErrorCode::Text(text.to_string()),
        }
    }

    pub fn numeric(&self) -> Option<u16> {
        match self {
            ErrorCode::Numeric(code) => Some(*code),
            ErrorCode::Text(_) => None,
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalResult {
    Ok,
    Error,
    CmeError(ErrorCode),
    CmsError(ErrorCode),
    /// Huawei's `COMMAND NOT SUPPORT` / `TOO MANY PARAMETERS` instead of `ERROR`.
    NotSupported(String),
    /// `NO CARRIER`, `BUSY`, `NO ANSWER`, `NO DIALTONE`, `CONNECT ...`: only final for
    /// dial/answer commands; anywhere else they are unsolicited.
    Call(String),
    /// No final result code arrived before the command's deadline. The lines that did
    /// arrive are kept: some modems (Wavecom) never send `OK` after `+CPIN: READY`.
    Timeout,
}

impl FinalResult {
    pub fn is_ok(&self) -> bool {
        matches!(self, FinalResult::Ok)
    }

    /// `+CME ERROR: n` or `+CMS ERROR: n` with this number.
    pub fn has_code(&self, code: u16) -> bool {
        match self {
            FinalResult::CmeError(c) | FinalResult::CmsError(c) => c.numeric() == Some(code),
            _ => false,
        }
    }

    /// The standard meaning of the code, for logs and status.
    pub fn describe(&self) -> String {
        match self {
            FinalResult::Ok => "OK".to_string(),
            FinalResult::Error => "ERROR".to_string(),
            FinalResult::CmeError(ErrorCode::Numeric(n)) => {
                format!("+CME ERROR: {n} ({})", cme_meaning(*n))
            }
            FinalResult::CmeError(ErrorCode::Text(t)) => format!("+CME ERROR: {t}"),
            FinalResult::CmsError(ErrorCode::Numeric(n)) => {
                format!("+CMS ERROR: {n} ({})", cms_meaning(*n))
            }
            FinalResult::CmsError(ErrorCode::Text(t)) => format!("+CMS ERROR: {t}"),
            FinalResult::NotSupported(line) | FinalResult::Call(line) => line.clone(),
            FinalResult::Timeout => "timeout".to_string(),
        }
    }
}

impl fmt::Display for FinalResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Recognises a final result code line. `call_command` says whether the command in flight
/// dials or answers, for which `NO CARRIER` and friends end it.
pub(crate) fn parse_final(line: &str, call_command: bool) -> Option<FinalResult> {
    if line == "OK" {
        return Some(FinalResult::Ok);
    }
    if line == "ERROR" {
        return Some(FinalResult::Error);
    }
    if let Some(rest) = strip_prefix_ci(line, "+CME ERROR:") {
        return Some(FinalResult::CmeError(ErrorCode::parse(rest)));
    }
    if let Some(rest) = strip_prefix_ci(line, "+CMS ERROR:") {
        return Some(FinalResult::CmsError(ErrorCode::parse(rest)));
    }
    if line == "COMMAND NOT SUPPORT" || line == "TOO MANY PARAMETERS" {
        return Some(FinalResult::NotSupported(line.to_string()));
    }
    if call_command
        && (matches!(line, "NO CARRIER" | "BUSY" | "NO ANSWER" | "NO DIALTONE")
            || line.starts_with("CONNECT"))
    {
        return Some(FinalResult::Call(line.to_string()));
    }
    None
}

pub(crate) fn strip_prefix_ci<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        line.get(prefix.len()..)
    } else {
        None
    }
}

/// Meaning of a `+CME ERROR` code (3GPP TS 27.007 §9.2, plus the vendor code 515 that
/// Wavecom and others use for "busy, initialising").
pub fn cme_meaning(code: u16) -> &'static str {
    match code {
        0 => "phone failure",
        1 => "no connection to phone",
        2 => "phone-adaptor link reserved",
        3 => "operation not allowed",
        4 => "operation not supported",
        5 => "PH-SIM PIN required",
        6 => "PH-FSIM PIN required",
        7 => "PH-FSIM PUK required",
        10 => "SIM not inserted",
        11 => "SIM PIN required",
        12 => "SIM PUK required",
        13 => "SIM failure",
        14 => "SIM busy",
        15 => "SIM wrong",
        16 => "incorrect password",
        17 => "SIM PIN2 required",
        18 => "SIM PUK2 required",
        20 => "memory full",
        21 => "invalid index",
        22 => "not found",
        23 => "memory failure",
        24 => "text string too long",
        25 => "invalid characters in text string",
        26 => "dial string too long",
        27 => "invalid characters in dial string",
        30 => "no network service",
        31 => "network timeout",
        32 => "network not allowed - emergency calls only",
        40 => "network personalisation PIN required",
        41 => "network personalisation PUK required",
        42 => "network subset personalisation PIN required",
        43 => "network subset personalisation PUK required",
        44 => "service provider personalisation PIN required",
        45 => "service provider personalisation PUK required",
        46 => "corporate personalisation PIN required",
        47 => "corporate personalisation PUK required",
        48 => "hidden key required",
        49 => "EAP method not supported",
        50 => "incorrect parameters",
        100 => "unknown",
        103 => "illegal MS",
        106 => "illegal ME",
        107 => "GPRS services not allowed",
        111 => "PLMN not allowed",
        112 => "location area not allowed",
        113 => "roaming not allowed in this location area",
        132 => "service option not supported",
        133 => "requested service option not subscribed",
        134 => "service option temporarily out of order",
        148 => "unspecified GPRS error",
        149 => "PDP authentication failure",
        150 => "invalid mobile class",
        515 => "device busy (initialising or processing a command)",
        _ => "unknown error code",
    }
}

/// Meaning of a `+CMS ERROR` code (3GPP TS 27.005 §3.2.5; 0..=127 are RP causes of
/// TS 24.011 Annex E-2, 128..=255 TP-FCS values of TS 23.040 §9.2.3.22).
pub fn cms_meaning(code: u16) -> &'static str {
    match code {
        1 => "unassigned (unallocated) number",
        8 => "operator determined barring",
        10 => "call barred",
        21 => "short message transfer rejected",
        27 => "destination out of service",
        28 => "unidentified subscriber",
        29 => "facility rejected",
        30 => "unknown subscriber",
        38 => "network out of order",
        41 => "temporary failure",
        42 => "congestion",
        47 => "resources unavailable, unspecified",
        50 => "requested facility not subscribed",
        69 => "requested facility not implemented",
        81 => "invalid short message transfer reference value",
        95 => "invalid message, unspecified",
        96 => "invalid mandatory information",
        97 => "message type non-existent or not implemented",
        98 => "message not compatible with short message protocol state",
        99 => "information element non-existent or not implemented",
        111 => "protocol error, unspecified",
        127 => "interworking, unspecified",
        128 => "telematic interworking not supported",
        129 => "short message type 0 not supported",
        130 => "cannot replace short message",
        143 => "unspecified TP-PID error",
        144 => "data coding scheme (alphabet) not supported",
        145 => "message class not supported",
        159 => "unspecified TP-DCS error",
        160 => "command cannot be actioned",
        161 => "command unsupported",
        175 => "unspecified TP-Command error",
        176 => "TPDU not supported",
        192 => "SC busy",
        193 => "no SC subscription",
        194 => "SC system failure",
        195 => "invalid SME address",
        196 => "destination SME barred",
        197 => "SM rejected - duplicate SM",
        198 => "TP-VPF not supported",
        199 => "TP-VP not supported",
        208 => "SIM SMS storage full",
        209 => "no SMS storage capability in SIM",
        210 => "error in MS",
        211 => "memory capacity exceeded",
        212 => "SIM application toolkit busy",
        213 => "SIM data download error",
        255 => "unspecified error cause",
        300 => "ME failure",
        301 => "SMS service of ME reserved",
        302 => "operation not allowed",
        303 => "operation not supported",
        304 => "invalid PDU mode parameter",
        305 => "invalid text mode parameter",
        310 => "SIM not inserted",
        311 => "SIM PIN required",
        312 => "PH-SIM PIN required",
        313 => "SIM failure",
        314 => "SIM busy",
        315 => "SIM wrong",
        316 => "SIM PUK required",
        317 => "SIM PIN2 required",
        318 => "SIM PUK2 required",
        320 => "memory failure",
        321 => "invalid memory index",
        322 => "memory full",
        330 => "SMSC address unknown",
        331 => "no network service",
        332 => "network timeout",
        340 => "no +CNMA acknowledgement expected",
        500 => "unknown error",
        _ => "unknown error code",
    }
}
