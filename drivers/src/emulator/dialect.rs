//! The emulated modem's state and how it answers a command line: no I/O here.

use std::path::Path;
use std::time::Duration;

use super::{EmulatedUssd, EmulatorConfig, UssdCoding};
use crate::at::parse::{fields, message_type_indicator, tpdu_len_of};
use crate::pdu;

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Slot {
    /// 0 received unread, 1 received read, 2 stored unsent, 3 stored sent.
    pub stat: u8,
    pub hex: String,
}

/// What the modem writes back for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Information parts then a final result code. A part is one or more lines that
    /// stay together (a `+CMGR` header and its PDU): URCs may only come between parts.
    Lines {
        parts: Vec<Vec<String>>,
        result: String,
    },
    /// `> `: the next bytes up to Ctrl-Z are a PDU of `length` TPDU octets.
    Prompt { length: usize },
    /// Lines that are not commands get no answer, like real modems.
    Nothing,
}

impl Reply {
    fn ok() -> Reply {
        Reply::final_code("OK")
    }
    fn final_code(code: impl Into<String>) -> Reply {
        Reply::Lines {
            parts: Vec::new(),
            result: code.into(),
        }
    }
    fn info(lines: Vec<String>) -> Reply {
        Reply::Lines {
            parts: lines.into_iter().map(|l| vec![l]).collect(),
            result: "OK".into(),
        }
    }
    fn line(line: impl Into<String>) -> Reply {
        Reply::info(vec![line.into()])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    Ready,
    Pin { attempts: u8 },
    Puk,
}

/// Output the modem produces some time after a command (timers run in `serve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Later {
    /// An unsolicited line (`+CUSD: ...`).
    Line(String),
    /// A status report PDU (hex with SMSC prefix) arriving from the network.
    Report(String),
}

/// The whole modem: settings the host changes, the SIM and what was sent.
#[derive(Debug)]
pub(crate) struct Modem {
    pub config: EmulatorConfig,
    pub echo: bool,
    cmee: u8,
    pdu_mode: bool,
    /// `<mt>` of `AT+CNMI`: 0 store silently, 1 store and raise `+CMTI`, 2 `+CMT`.
    pub cnmi_mt: u8,
    /// `AT+CSMS=1`: `+CMT` waits for `AT+CNMA`.
    pub csms: u8,
    creg_n: u8,
    lock: Lock,
    pub slots: Vec<Option<Slot>>,
    next_mr: u8,
    /// SUBMIT PDUs accepted by `AT+CMGS`, with their message reference.
    pub sent: Vec<(u8, String)>,
    /// `+CMT` deliveries not yet acknowledged with `AT+CNMA` (when `csms == 1`).
    pub unacknowledged: Vec<String>,
    /// Misbehaviour: read commands but answer nothing (a hung modem).
    pub silent: bool,
    /// Answer a line that is not an AT command (a stray ESC and CR) with `ERROR`, as
    /// many modems do; by default such a line is ignored, as V.250 has it.
    pub error_on_garbage: bool,
    /// `<ds>` of `AT+CNMI`: 0 no status reports, 1 `+CDS`, 2 stored with `+CDSI`.
    pub cnmi_ds: u8,
    /// Misbehaviour: `AT+CMGS` answers `+CMS ERROR: <code>`.
    pub send_error: Option<u16>,
    /// Registered on the network; when not, `AT+CMGS` fails with 331 (no network).
    pub registered: bool,
    /// How `AT+CUSD` is answered.
    pub ussd: EmulatedUssd,
    /// TP-ST of the status reports the network sends back (`None`: none at all).
    pub report_status: Option<u8>,
    pub report_delay: Duration,
    /// Output due later, taken by `serve` after each command.
    pub later: Vec<(Duration, Later)>,
}

fn cms(cmee: u8, code: u16, text: &str) -> Reply {
    match cmee {
        0 => Reply::final_code("ERROR"),
        1 => Reply::final_code(format!("+CMS ERROR: {code}")),
        _ => Reply::final_code(format!("+CMS ERROR: {text}")),
    }
}

fn cme(cmee: u8, code: u16, text: &str) -> Reply {
    match cmee {
        0 => Reply::final_code("ERROR"),
        1 => Reply::final_code(format!("+CME ERROR: {code}")),
        _ => Reply::final_code(format!("+CME ERROR: {text}")),
    }
}

/// Upper-cases a command line outside quoted strings.
fn normalise(line: &str) -> String {
    let mut quoted = false;
    line.chars()
        .map(|c| {
            if c == '"' {
                quoted = !quoted;
            }
            if quoted {
                c
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// 129 (unknown) or 145 (international) and the digits for `+CNUM`/`+CSCA`.
fn number_and_type(number: &str) -> (String, u8) {
    match number.strip_prefix('+') {
        Some(digits) => (format!("+{digits}"), 145),
        None => (number.to_string(), 129),
    }
}

impl Modem {
    pub fn new(config: EmulatorConfig) -> Modem {
        let lock = match config.pin {
            Some(_) => Lock::Pin { attempts: 3 },
            None => Lock::Ready,
        };
        let mut slots = vec![None; config.capacity];
        if let Some(path) = &config.sim_file {
            match load_sim(path) {
                Ok(Some(stored)) => {
                    if stored.len() > slots.len() {
                        slots.resize(stored.len(), None);
                    }
                    for (i, slot) in stored.into_iter().enumerate() {
                        slots[i] = slot;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(file = %path.display(), "cannot read the emulated SIM: {e}; starting empty")
                }
            }
        }
        Modem {
            config,
            echo: true,
            cmee: 0,
            pdu_mode: true,
            cnmi_mt: 0,
            csms: 0,
            creg_n: 0,
            lock,
            slots,
            next_mr: 0,
            sent: Vec::new(),
            unacknowledged: Vec::new(),
            silent: false,
            error_on_garbage: false,
            cnmi_ds: 0,
            send_error: None,
            registered: true,
            ussd: EmulatedUssd::default(),
            report_status: Some(0),
            report_delay: Duration::from_millis(100),
            later: Vec::new(),
        }
    }

    /// Writes the SIM memory to `sim_file` (atomically: a temporary file renamed over
    /// it), so that it outlives the process.
    pub fn persist(&self) {
        let Some(path) = &self.config.sim_file else {
            return;
        };
        if let Err(e) = save_sim(path, &self.slots) {
            tracing::error!(file = %path.display(), "cannot write the emulated SIM: {e}");
        }
    }

    /// `<n>` of `AT+CREG=<n>`: 1 or 2 raise `+CREG` URCs.
    pub fn creg_n(&self) -> u8 {
        self.creg_n
    }

    /// `READY`, `SIM PIN` or `SIM PUK`, as `AT+CPIN?` would say.
    pub fn lock_state(&self) -> &'static str {
        match self.lock {
            Lock::Ready => "READY",
            Lock::Pin { .. } => "SIM PIN",
            Lock::Puk => "SIM PUK",
        }
    }

    fn used(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Stores received PDUs (stat 0, unread) all or none; returns their 1-based indices.
    pub fn store(&mut self, pdus: &[String]) -> Option<Vec<u32>> {
        let free: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_none())
            .map(|(i, _)| i)
            .take(pdus.len())
            .collect();
        if free.len() < pdus.len() {
            return None;
        }
        let mut indices = Vec::with_capacity(pdus.len());
        for (slot, hex) in free.into_iter().zip(pdus) {
            self.slots[slot] = Some(Slot {
                stat: 0,
                hex: hex.clone(),
            });
            indices.push(slot as u32 + 1);
        }
        self.persist();
        Some(indices)
    }

    pub fn contents(&self) -> Vec<(u32, String)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32 + 1, s.hex.clone())))
            .collect()
    }

    fn sim_error(&self, sms: bool) -> Option<Reply> {
        let (code, cms_code, text) = match self.lock {
            Lock::Ready => return None,
            Lock::Pin { .. } => (11, 311, "SIM PIN required"),
            Lock::Puk => (12, 316, "SIM PUK required"),
        };
        Some(if sms {
            cms(self.cmee, cms_code, text)
        } else {
            cme(self.cmee, code, text)
        })
    }

    fn slot_index(&self, arg: &str) -> Option<usize> {
        let n: usize = arg.trim().parse().ok()?;
        (1..=self.slots.len()).contains(&n).then(|| n - 1)
    }

    /// Answers one command line (without its CR).
    pub fn command(&mut self, raw: &str) -> Reply {
        if self.silent {
            return Reply::Nothing;
        }
        let line = normalise(raw.trim());
        let Some(rest) = line.strip_prefix("AT") else {
            return if self.error_on_garbage && !line.is_empty() {
                Reply::final_code("ERROR")
            } else {
                Reply::Nothing
            };
        };
        match rest {
            "" | "Q0" | "V1" | "&F" | "&W" | "+CSCS=\"GSM\"" | "+CSCS=\"IRA\"" => {
                return Reply::ok()
            }
            "E0" => {
                self.echo = false;
                return Reply::ok();
            }
            "E" | "E1" => {
                self.echo = true;
                return Reply::ok();
            }
            "Z" => {
                // The stored profile: echo on, numeric errors off.
                self.echo = true;
                self.cmee = 0;
                return Reply::ok();
            }
            "I" => {
                let c = &self.config;
                return Reply::info(vec![
                    c.manufacturer.clone(),
                    c.model.clone(),
                    format!("Revision: {}", c.revision),
                ]);
            }
            _ => {}
        }
        let (name, form, args) = split_extended(rest);
        let unknown = || cme(self.cmee, 100, "unknown");
        match (name, form) {
            ("+CMEE", Form::Set) => match args.trim().parse::<u8>() {
                Ok(n @ 0..=2) => {
                    self.cmee = n;
                    Reply::ok()
                }
                _ => cme(self.cmee, 50, "incorrect parameters"),
            },
            ("+CMEE", Form::Read) => Reply::line(format!("+CMEE: {}", self.cmee)),
            ("+CGMI" | "+GMI", Form::Action) => Reply::line(self.config.manufacturer.clone()),
            ("+CGMM" | "+GMM", Form::Action) => Reply::line(self.config.model.clone()),
            ("+CGMR" | "+GMR", Form::Action) => Reply::line(self.config.revision.clone()),
            ("+CGSN" | "+GSN", Form::Action) => Reply::line(self.config.imei.clone()),
            ("+CIMI", Form::Action) => self
                .sim_error(false)
                .unwrap_or_else(|| Reply::line(self.config.imsi.clone())),
            ("+CCID" | "+ICCID", Form::Action) | ("^ICCID" | "+CCID", Form::Read) => {
                Reply::line(format!("+CCID: {}", self.config.iccid))
            }
            ("+CNUM", Form::Action) => self.sim_error(false).unwrap_or_else(|| {
                let (number, kind) = number_and_type(&self.config.number);
                Reply::line(format!("+CNUM: \"\",\"{number}\",{kind}"))
            }),
            ("+CNUM", Form::Test) => Reply::ok(),
            ("+CPIN", Form::Read) => Reply::line(match self.lock {
                Lock::Ready => "+CPIN: READY",
                Lock::Pin { .. } => "+CPIN: SIM PIN",
                Lock::Puk => "+CPIN: SIM PUK",
            }),
            ("+CPIN", Form::Set) => self.enter_pin(args),
            ("+CFUN", Form::Read) => Reply::line("+CFUN: 1"),
            ("+CFUN", Form::Set) => Reply::ok(),
            ("+CSQ", Form::Action) => Reply::line(format!("+CSQ: {},99", self.config.csq)),
            ("+CREG", Form::Read) => Reply::line(format!(
                "+CREG: {},{}",
                self.creg_n,
                if self.registered { 1 } else { 0 }
            )),
            ("+CREG", Form::Set) => {
                self.creg_n = args.trim().parse().unwrap_or(0);
                Reply::ok()
            }
            ("+CEREG" | "+CGREG", Form::Read) => {
                Reply::line(format!("{name}: 0,{}", if self.registered { 1 } else { 0 }))
            }
            ("+COPS", Form::Read) if !self.registered => Reply::line("+COPS: 0"),
            ("+COPS", Form::Read) => {
                Reply::line(format!("+COPS: 0,0,\"{}\",7", self.config.operator))
            }
            ("+CUSD", Form::Set) => self.ussd_request(args),
            ("+CUSD", Form::Read) => Reply::line("+CUSD: 1"),
            ("+COPS", Form::Set) => Reply::ok(),
            ("+CSCA", Form::Read) => {
                let (number, kind) = number_and_type(&self.config.smsc);
                Reply::line(format!("+CSCA: \"{number}\",{kind}"))
            }
            ("+CSCS", Form::Read) => Reply::line("+CSCS: \"GSM\""),
            ("+CSCS", Form::Test) => Reply::line("+CSCS: (\"IRA\",\"GSM\",\"UCS2\")"),
            ("+CMGF", Form::Set) => match args.trim() {
                "0" => {
                    self.pdu_mode = true;
                    Reply::ok()
                }
                "1" => {
                    self.pdu_mode = false;
                    Reply::ok()
                }
                _ => cms(self.cmee, 302, "operation not allowed"),
            },
            ("+CMGF", Form::Read) => {
                Reply::line(format!("+CMGF: {}", if self.pdu_mode { 0 } else { 1 }))
            }
            ("+CSMS", Form::Set) => match args.trim() {
                n @ ("0" | "1") => {
                    self.csms = if n == "1" { 1 } else { 0 };
                    Reply::line("+CSMS: 1,1,1")
                }
                _ => cms(self.cmee, 302, "operation not allowed"),
            },
            ("+CSMS", Form::Read) => Reply::line(format!("+CSMS: {},1,1,1", self.csms)),
            ("+CNMI", Form::Set) => {
                let f = fields(args);
                let ds = match f.get(3).map(|s| s.parse::<u8>()) {
                    None => Some(0),
                    Some(Ok(ds @ 0..=2)) => Some(ds),
                    Some(_) => None,
                };
                match (f.get(1).map(|s| s.parse::<u8>()), ds) {
                    (Some(Ok(mt @ 0..=3)), Some(ds)) => {
                        self.cnmi_mt = if mt == 3 { 1 } else { mt };
                        self.cnmi_ds = ds;
                        Reply::ok()
                    }
                    (None, _) if f.len() == 1 => Reply::ok(),
                    _ => cms(self.cmee, 302, "operation not allowed"),
                }
            }
            ("+CNMI", Form::Read) => {
                Reply::line(format!("+CNMI: 2,{},0,{},0", self.cnmi_mt, self.cnmi_ds))
            }
            ("+CNMI", Form::Test) => Reply::line("+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"),
            ("+CNMA", Form::Action) | ("+CNMA", Form::Set) => {
                if self.csms == 1 && !self.unacknowledged.is_empty() {
                    self.unacknowledged.remove(0);
                    Reply::ok()
                } else {
                    cms(self.cmee, 340, "no +CNMA acknowledgement expected")
                }
            }
            ("+CPMS", Form::Read) => {
                let (u, c) = (self.used(), self.slots.len());
                Reply::line(format!(
                    "+CPMS: \"SM\",{u},{c},\"SM\",{u},{c},\"SM\",{u},{c}"
                ))
            }
            ("+CPMS", Form::Test) => Reply::line("+CPMS: (\"SM\"),(\"SM\"),(\"SM\")"),
            ("+CPMS", Form::Set) => {
                if let Some(e) = self.sim_error(true) {
                    return e;
                }
                let f = fields(args);
                if f.is_empty() || f.len() > 3 || f.iter().any(|m| m != "SM") {
                    return cms(self.cmee, 302, "operation not allowed");
                }
                let (u, c) = (self.used(), self.slots.len());
                Reply::line(format!("+CPMS: {u},{c},{u},{c},{u},{c}"))
            }
            ("+CMGR", Form::Set) => self.read(args),
            ("+CMGL", Form::Set) => self.list(args),
            ("+CMGL", Form::Action) => self.list("0"),
            ("+CMGD", Form::Set) => self.delete(args),
            ("+CMGS", Form::Set) => {
                if let Some(e) = self.sim_error(true) {
                    return e;
                }
                if !self.pdu_mode {
                    return cms(self.cmee, 302, "operation not allowed");
                }
                match args.trim().parse::<usize>() {
                    Ok(length @ 7..=164) => Reply::Prompt { length },
                    _ => cms(self.cmee, 304, "invalid PDU mode parameter"),
                }
            }
            _ => unknown(),
        }
    }

    fn enter_pin(&mut self, args: &str) -> Reply {
        let f = fields(args);
        let given = f.first().map(String::as_str).unwrap_or("");
        match self.lock {
            Lock::Ready => cme(self.cmee, 3, "operation not allowed"),
            Lock::Puk => cme(self.cmee, 12, "SIM PUK required"),
            Lock::Pin { attempts } => {
                if Some(given) == self.config.pin.as_deref() {
                    self.lock = Lock::Ready;
                    Reply::ok()
                } else {
                    self.lock = if attempts <= 1 {
                        Lock::Puk
                    } else {
                        Lock::Pin {
                            attempts: attempts - 1,
                        }
                    };
                    cme(self.cmee, 16, "incorrect password")
                }
            }
        }
    }

    fn read(&mut self, args: &str) -> Reply {
        if let Some(e) = self.sim_error(true) {
            return e;
        }
        if !self.pdu_mode {
            return cms(self.cmee, 302, "operation not allowed");
        }
        let Some(i) = self.slot_index(args) else {
            return cms(self.cmee, 321, "invalid memory index");
        };
        let Some(slot) = self.slots[i].as_mut() else {
            // SIM800, Quectel and others answer an empty slot with a bare OK.
            return Reply::ok();
        };
        let stat = slot.stat;
        let changed = slot.stat == 0;
        if changed {
            slot.stat = 1;
        }
        let length = tpdu_len_of(&slot.hex).unwrap_or(0);
        let reply = Reply::Lines {
            parts: vec![vec![format!("+CMGR: {stat},,{length}"), slot.hex.clone()]],
            result: "OK".into(),
        };
        if changed {
            self.persist();
        }
        reply
    }

    fn list(&mut self, args: &str) -> Reply {
        if let Some(e) = self.sim_error(true) {
            return e;
        }
        let wanted = match (self.pdu_mode, args.trim().parse::<u8>()) {
            (true, Ok(n @ 0..=4)) => n,
            // A text-mode `"ALL"` in PDU mode, or anything odd: plain ERROR as the
            // python-gsmmodem fixture shows.
            _ => return Reply::final_code("ERROR"),
        };
        let mut parts = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(slot) = slot else { continue };
            if wanted != 4 && slot.stat != wanted {
                continue;
            }
            let length = tpdu_len_of(&slot.hex).unwrap_or(0);
            parts.push(vec![
                format!("+CMGL: {},{},,{length}", i + 1, slot.stat),
                slot.hex.clone(),
            ]);
            if slot.stat == 0 {
                slot.stat = 1;
            }
        }
        if !parts.is_empty() {
            self.persist();
        }
        Reply::Lines {
            parts,
            result: "OK".into(),
        }
    }

    fn delete(&mut self, args: &str) -> Reply {
        if let Some(e) = self.sim_error(true) {
            return e;
        }
        let f = fields(args);
        let flag: u8 = f.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        if flag == 0 {
            let Some(i) = f.first().and_then(|a| self.slot_index(a)) else {
                return cms(self.cmee, 321, "invalid memory index");
            };
            self.slots[i] = None;
            self.persist();
            return Reply::ok();
        }
        if flag > 4 {
            return cms(self.cmee, 302, "operation not allowed");
        }
        for slot in self.slots.iter_mut() {
            let remove = match slot {
                Some(s) => match flag {
                    1 => s.stat == 1,
                    2 => s.stat == 1 || s.stat == 3,
                    3 => s.stat != 0,
                    _ => true,
                },
                None => false,
            };
            if remove {
                *slot = None;
            }
        }
        self.persist();
        Reply::ok()
    }

    /// The PDU written after the prompt of `AT+CMGS=<length>`.
    pub fn submit(&mut self, length: usize, hex: &str) -> Reply {
        let hex = hex.trim();
        if tpdu_len_of(hex) != Some(length) || message_type_indicator(hex) != Some(1) {
            return cms(self.cmee, 304, "invalid PDU mode parameter");
        }
        if !self.registered {
            return cms(self.cmee, 331, "no network service");
        }
        if let Some(code) = self.send_error {
            return cms(self.cmee, code, "unknown error");
        }
        let submit = match pdu::decode_hex(hex, true).map(|p| p.tpdu) {
            Ok(pdu::Tpdu::Submit(s)) => s,
            _ => return cms(self.cmee, 304, "invalid PDU mode parameter"),
        };
        self.next_mr = self.next_mr.wrapping_add(1);
        let mr = self.next_mr;
        self.sent.push((mr, hex.to_ascii_uppercase()));
        if let (true, Some(status)) = (submit.status_report_request, self.report_status) {
            let report = status_report(mr, &submit.recipient, status);
            self.later.push((self.report_delay, Later::Report(report)));
        }
        Reply::line(format!("+CMGS: {mr}"))
    }

    /// `AT+CUSD=<n>[,<str>[,<dcs>]]`.
    fn ussd_request(&mut self, args: &str) -> Reply {
        let f = fields(args);
        match f.first().map(|n| n.trim()) {
            Some("0") | Some("2") => return Reply::ok(),
            Some("1") => {}
            _ => return cme(self.cmee, 50, "incorrect parameters"),
        }
        let Some(code) = f.get(1).filter(|c| !c.is_empty()) else {
            return Reply::ok();
        };
        if !self.registered {
            return cme(self.cmee, 30, "no network service");
        }
        let script = &self.ussd;
        let text = script
            .text
            .replace("{code}", code)
            .replace("{number}", &self.config.number);
        let (body, dcs) = match script.coding {
            UssdCoding::Text => (text, 15),
            UssdCoding::Ucs2Hex => (
                text.encode_utf16()
                    .map(|u| format!("{u:04X}"))
                    .collect::<String>(),
                72,
            ),
            UssdCoding::Gsm7Hex => (gsm7_packed_hex(&text), 15),
        };
        let line = format!("+CUSD: {},\"{body}\",{dcs}", script.mode);
        if script.before_ok {
            Reply::line(line)
        } else {
            self.later
                .push((Duration::from_millis(50), Later::Line(line)));
            Reply::ok()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Action,
    Read,
    Test,
    Set,
}

/// `+CMGR=3` → (`+CMGR`, Set, `3`); `+CPIN?` → (`+CPIN`, Read, ``).
fn split_extended(rest: &str) -> (&str, Form, &str) {
    if let Some(name) = rest.strip_suffix("=?") {
        return (name, Form::Test, "");
    }
    if let Some(name) = rest.strip_suffix('?') {
        if !name.contains('=') {
            return (name, Form::Read, "");
        }
    }
    match rest.split_once('=') {
        Some((name, args)) => (name, Form::Set, args),
        None => (rest, Form::Action, ""),
    }
}

/// Hex of `text` as packed GSM 7-bit septets (what Huawei sticks put in `+CUSD`), through
/// the PDU encoder: the user data of an SMS-DELIVER of the text.
fn gsm7_packed_hex(text: &str) -> String {
    let ts = pdu::Timestamp::from_datetime(chrono::Utc::now().fixed_offset());
    let packed = pdu::encode_deliver("1", text, ts, 0)
        .ok()
        .and_then(|parts| parts.into_iter().next())
        .and_then(|p| pdu::decode_hex(&p.hex, true).ok())
        .and_then(|p| match p.tpdu {
            pdu::Tpdu::Deliver(d) if d.udh.is_none() && d.dcs.is_septets() => Some(d.data),
            _ => None,
        });
    match packed {
        Some(octets) => pdu::to_hex(&octets),
        // Not GSM 7-bit or too long for one part: say so in plain text.
        None => text.to_string(),
    }
}

/// An SMS-STATUS-REPORT for message reference `mr` to `recipient`, as the network
/// would send it: empty SMSC field, SCTS and discharge time now.
fn status_report(mr: u8, recipient: &pdu::Address, status: u8) -> String {
    let now = pdu::Timestamp::from_datetime(chrono::Local::now().fixed_offset()).to_octets();
    // TP-MTI 10 (status report), TP-MMS set (no more messages).
    let mut out = vec![0x00, 0x06, mr];
    recipient.encode_tp(&mut out);
    out.extend_from_slice(&now);
    out.extend_from_slice(&now);
    out.push(status);
    pdu::to_hex(&out)
}

fn load_sim(path: &Path) -> std::io::Result<Option<Vec<Option<Slot>>>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn save_sim(path: &Path, slots: &[Option<Slot>]) -> std::io::Result<()> {
    let json = serde_json::to_vec(slots).map_err(std::io::Error::other)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}
