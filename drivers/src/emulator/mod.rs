//! A virtual GSM modem on a pseudo-terminal, speaking the AT dialect of a real one.
//!
//! # Map
//!
//! - this file: [`EmulatorConfig`], [`spawn`] and the [`EmulatorHandle`] a test or
//!   `simgate demo` uses to make SMS arrive and to look into the SIM.
//! - `dialect`: the modem's state (echo, error mode, PDU mode, indications, SIM lock and
//!   SIM storage, faults) and its answer to each command line. No I/O. With
//!   [`EmulatorConfig::sim_file`] the SIM memory is written to a file (atomically, on each
//!   change) and read back at start, so it outlives the process like a real SIM.
//! - `serve`: the task that owns the pty master, frames command lines (and the PDU after
//!   `AT+CMGS`'s `> ` prompt), writes answers framed `\r\n<line>\r\n` like a real modem,
//!   raises `+CMTI`/`+CMT`/`+CDSI`/`+CDS`/`+CUSD`/`+CREG`, sometimes between the lines of
//!   another response, and applies the output faults (garbled bytes, slow answers).
//!
//! Faults, set on the [`EmulatorHandle`]: [`EmulatorHandle::set_silent`] (hung),
//! [`EmulatorHandle::set_garble`], [`EmulatorHandle::set_delay`],
//! [`EmulatorHandle::set_send_error`] (`+CMS ERROR: 500` on `AT+CMGS`),
//! [`EmulatorHandle::set_registered`] (loss of registration).
//!
//! The driver opens the slave **by path**, as it would open `/dev/ttyUSB0`. When the
//! driver closes it, reads on the master fail with EIO: that is a hang-up; the emulator
//! keeps its SIM and settings and waits for the path to be opened again. URCs raised
//! while nobody has the port open are not written (the message waits on the SIM, as on
//! real hardware).
//!
//! Supported: `AT`, `ATE0/1`, `ATZ`, `ATI`, `+CMEE`, `+CGMI/CGMM/CGMR/CGSN`, `+CIMI`,
//! `+CCID`/`+ICCID`/`^ICCID?`, `+CNUM`, `+CPIN` (with a PIN, 3 attempts then PUK),
//! `+CFUN`, `+CSQ`, `+CREG`, `+CEREG`, `+CGREG`, `+COPS`, `+CSCA`, `+CSCS`, `+CMGF`,
//! `+CSMS`, `+CNMI` (`<mt>` 0, 1 or 2; `<ds>` 0, 1 or 2), `+CNMA`, `+CPMS`, `+CMGR`,
//! `+CMGL`, `+CMGD` (with delete flags), `+CMGS` (SUBMIT PDU checked against its length;
//! a status report follows when it asked for one), `+CUSD`. Anything else answers
//! `ERROR` or `+CME ERROR: 100` per `AT+CMEE`.

mod dialect;
mod serve;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_serial::{SerialPort, SerialStream};

use crate::at::parse::tpdu_len_of;
use crate::pdu;
use dialect::Modem;
use serve::{lock, Notice};

/// Who the emulated modem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// The SIM's number (`AT+CNUM`).
    pub number: String,
    pub imei: String,
    pub imsi: String,
    pub iccid: String,
    /// `AT+COPS?` operator name.
    pub operator: String,
    pub manufacturer: String,
    pub model: String,
    pub revision: String,
    /// SMS service centre (`AT+CSCA?`).
    pub smsc: String,
    /// SIM storage slots.
    pub capacity: usize,
    /// `AT+CSQ` rssi (0..=31, 99 unknown).
    pub csq: u8,
    /// When set, the SIM starts locked and wants this PIN (3 attempts, then PUK).
    pub pin: Option<String>,
    /// When set, the SIM memory is kept in this file (JSON, replaced atomically on each
    /// change) and loaded from it at start.
    pub sim_file: Option<PathBuf>,
}

impl EmulatorConfig {
    /// Identity answers (`AT+CGMI`/`AT+CGMM`/`AT+CGMR`) of a real model of the named
    /// [`crate::modem::Profile`], so the driver picks that profile; `None` for an
    /// unknown name. Only the identity changes: the dialect stays the emulator's.
    pub fn with_profile(self, profile: &str) -> Option<EmulatorConfig> {
        let (manufacturer, model, revision) = match profile.trim().to_ascii_lowercase().as_str() {
            "huawei" => ("huawei", "E3372", "22.323.62.00.143"),
            "quectel" => ("Quectel", "EC25", "EC25EFAR06A15M4G"),
            "simcom" => ("SIMCOM_Ltd", "SIMCOM_SIM800", "Revision:1418B04SIM800L24"),
            "zte" => ("ZTE INCORPORATED", "MF626", "BD_P673A2V1.0.0B09"),
            "sierra" => (
                "Sierra Wireless, Incorporated",
                "MC7455",
                "SWI9X30C_02.24.05.06",
            ),
            "telit" => ("Telit", "HE910", "12.00.024"),
            "wavecom" => ("WAVECOM MODEM", "MULTIBAND  900E  1800", "641b09gg.Q2406B"),
            "siemens" => ("SIEMENS", "MC35i", "REVISION 01.02"),
            "generic" | "simgate" => ("simgate", "EMU-1", "1.0.0"),
            _ => return None,
        };
        Some(EmulatorConfig {
            manufacturer: manufacturer.to_string(),
            model: model.to_string(),
            revision: revision.to_string(),
            ..self
        })
    }
}

/// How the emulated network answers `AT+CUSD=1,"<code>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatedUssd {
    /// Reply text; `{code}` and `{number}` are replaced.
    pub text: String,
    /// `<m>` of the reply (0 done, 1 session open, 2 terminated by the network).
    pub mode: u8,
    pub coding: UssdCoding,
    /// `+CUSD` before the `OK` (as some modems do) instead of as a URC after it.
    pub before_ok: bool,
}

impl Default for EmulatedUssd {
    fn default() -> Self {
        EmulatedUssd {
            text: "Your number is {number}. Balance: 10.00".to_string(),
            mode: 0,
            coding: UssdCoding::Text,
            before_ok: false,
        }
    }
}

/// What the emulator puts in the quotes of `+CUSD` (see [`crate::at::parse::decode_ussd`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UssdCoding {
    /// The text itself, DCS 15.
    Text,
    /// Hex of packed GSM 7-bit septets, DCS 15 (Huawei).
    Gsm7Hex,
    /// Hex of UCS2, DCS 72.
    Ucs2Hex,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            number: "+15550100001".to_string(),
            imei: "356938035643809".to_string(),
            imsi: "310150123456789".to_string(),
            iccid: "8901260123456789012".to_string(),
            operator: "simgate emulated".to_string(),
            manufacturer: "simgate".to_string(),
            model: "EMU-1".to_string(),
            revision: "1.0.0".to_string(),
            smsc: "+15550000000".to_string(),
            capacity: 30,
            csq: 21,
            pin: None,
            sim_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("SIM memory full: {needed} slots needed, {free} free")]
    MemoryFull { needed: usize, free: usize },
    #[error("cannot encode the message: {0}")]
    Encode(#[from] pdu::PduError),
    #[error("not a PDU with an SMSC prefix: {0}")]
    BadPdu(String),
    #[error("the emulator has stopped")]
    Stopped,
}

/// A running emulated modem. Dropping it stops the emulator.
#[derive(Debug)]
pub struct EmulatorHandle {
    path: String,
    number: String,
    shared: Arc<Mutex<Modem>>,
    notices: mpsc::UnboundedSender<Notice>,
    task: JoinHandle<()>,
    /// Concatenation reference of the next multi-part text.
    reference: AtomicU16,
}

/// Opens a pty pair, keeps the master and serves AT on it. Call within a tokio runtime.
pub async fn spawn(config: EmulatorConfig) -> std::io::Result<EmulatorHandle> {
    let (master, slave) = SerialStream::pair().map_err(std::io::Error::from)?;
    let path = slave.name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "pty slave has no path")
    })?;
    // The driver opens the slave by its path; ours must be closed for that.
    drop(slave);
    let number = config.number.clone();
    let seed = chrono::Utc::now().timestamp_subsec_nanos() as u16;
    let shared = Arc::new(Mutex::new(Modem::new(config)));
    let (notices, notice_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(serve::serve(
        master,
        shared.clone(),
        notice_rx,
        notices.downgrade(),
    ));
    Ok(EmulatorHandle {
        path,
        number,
        shared,
        notices,
        task,
        reference: AtomicU16::new(seed),
    })
}

impl EmulatorHandle {
    /// The slave device (`/dev/pts/N`) for the driver to open by path.
    pub fn port_path(&self) -> &str {
        &self.path
    }

    pub fn number(&self) -> &str {
        &self.number
    }

    /// An SMS from `from` arrives: encoded as the network would (timestamp now, split
    /// into concatenated parts when long), stored in SIM memory with `+CMTI` per part.
    /// Returns the SIM indices; empty when the host chose direct delivery
    /// (`AT+CNMI=2,2,...`), where the parts go out as `+CMT` instead.
    pub async fn deliver_text(&self, from: &str, text: &str) -> Result<Vec<u32>, EmulatorError> {
        let now = chrono::Local::now().fixed_offset();
        let reference = self.reference.fetch_add(1, Ordering::Relaxed);
        let parts = pdu::encode_deliver(from, text, pdu::Timestamp::from_datetime(now), reference)?;
        self.deliver(parts.into_iter().map(|p| p.hex).collect())
    }

    /// Raw SMS-DELIVER PDUs (hex with the SMSC prefix) arrive as given; only the hex
    /// and its SMSC length are checked.
    pub async fn deliver_pdus(&self, pdus: Vec<String>) -> Result<Vec<u32>, EmulatorError> {
        let mut clean = Vec::with_capacity(pdus.len());
        for hex in pdus {
            let hex = hex.trim().to_ascii_uppercase();
            if tpdu_len_of(&hex).is_none_or(|len| len == 0) {
                return Err(EmulatorError::BadPdu(hex));
            }
            clean.push(hex);
        }
        self.deliver(clean)
    }

    fn deliver(&self, pdus: Vec<String>) -> Result<Vec<u32>, EmulatorError> {
        if self.task.is_finished() {
            return Err(EmulatorError::Stopped);
        }
        let mut modem = lock(&self.shared);
        if modem.cnmi_mt == 2 {
            drop(modem);
            self.notices
                .send(Notice::Direct(pdus))
                .map_err(|_| EmulatorError::Stopped)?;
            return Ok(Vec::new());
        }
        let free = modem.slots.iter().filter(|s| s.is_none()).count();
        let Some(indices) = modem.store(&pdus) else {
            return Err(EmulatorError::MemoryFull {
                needed: pdus.len(),
                free,
            });
        };
        let announce = modem.cnmi_mt == 1;
        drop(modem);
        if announce {
            self.notices
                .send(Notice::Stored(indices.clone()))
                .map_err(|_| EmulatorError::Stopped)?;
        }
        Ok(indices)
    }

    /// What is in SIM memory now: `(index, PDU hex)`.
    pub async fn sim_contents(&self) -> Vec<(u32, String)> {
        lock(&self.shared).contents()
    }

    /// SUBMIT PDUs accepted by `AT+CMGS`, with the message reference answered.
    pub async fn sent_pdus(&self) -> Vec<(u8, String)> {
        lock(&self.shared).sent.clone()
    }

    /// `READY`, `SIM PIN` or `SIM PUK`: proves a driver did not lock the SIM.
    pub async fn sim_lock_state(&self) -> &'static str {
        lock(&self.shared).lock_state()
    }

    /// `+CMT` deliveries the host has not acknowledged with `AT+CNMA` yet.
    pub async fn unacknowledged_direct(&self) -> Vec<String> {
        lock(&self.shared).unacknowledged.clone()
    }

    /// Misbehave: stop answering commands (bytes are still read), or answer again.
    pub async fn set_silent(&self, silent: bool) {
        lock(&self.shared).silent = silent;
    }

    /// Misbehave: answer a line that is not an AT command (a stray ESC) with `ERROR`.
    pub async fn set_error_on_garbage(&self, on: bool) {
        lock(&self.shared).error_on_garbage = on;
    }

    /// Misbehave: replace one byte in `every` written to the host with noise (bytes
    /// 0x80-0xFF, never a hex digit, so a damaged PDU line is recognisably damaged);
    /// 0 stops it.
    pub async fn set_garble(&self, every: u32) {
        let _ = self.notices.send(Notice::Garble(every));
    }

    /// Misbehave: wait this long before each answer (a slow modem); zero stops it.
    pub async fn set_delay(&self, delay: Duration) {
        let _ = self.notices.send(Notice::Delay(delay));
    }

    /// Misbehave: answer every `AT+CMGS` with `+CMS ERROR: <code>` (500: unknown
    /// error; 38: network out of order); `None` sends again.
    pub async fn set_send_error(&self, code: Option<u16>) {
        lock(&self.shared).send_error = code;
    }

    /// Lose (or regain) network registration: `AT+CREG?` says 0 (or 1), `+CREG: <stat>`
    /// is raised when the host asked for it with `AT+CREG=1`, and `AT+CMGS` fails with
    /// `+CMS ERROR: 331` (no network service) meanwhile.
    pub async fn set_registered(&self, registered: bool) {
        let announce = {
            let mut modem = lock(&self.shared);
            let changed = modem.registered != registered;
            modem.registered = registered;
            changed && modem.creg_n() > 0
        };
        if announce {
            let stat = if registered { 1 } else { 0 };
            let _ = self.notices.send(Notice::Line(format!("+CREG: {stat}")));
        }
    }

    /// How `AT+CUSD` is answered from now on.
    pub async fn set_ussd_reply(&self, ussd: EmulatedUssd) {
        lock(&self.shared).ussd = ussd;
    }

    /// TP-ST of the status reports sent for messages that request one (0 delivered,
    /// 0x46 validity expired...), after `delay`; `None`: the network sends none.
    pub async fn set_status_reports(&self, status: Option<u8>, delay: Duration) {
        let mut modem = lock(&self.shared);
        modem.report_status = status;
        modem.report_delay = delay;
    }

    /// Number of free SIM slots.
    pub async fn free_slots(&self) -> usize {
        lock(&self.shared)
            .slots
            .iter()
            .filter(|s| s.is_none())
            .count()
    }

    /// SIM slots in all.
    pub async fn capacity(&self) -> usize {
        lock(&self.shared).slots.len()
    }

    /// Stops serving; the pty closes.
    pub async fn shutdown(self) {
        let mut this = self;
        this.task.abort();
        let _ = (&mut this.task).await;
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests;
