//! One GSM modem on a serial port, driven through the [`crate::at`] engine.
//!
//! # Map
//!
//! - this file: the public face. [`ModemConfig`] in, [`spawn`] starts one tokio task per
//!   modem that owns its port, [`ModemEvent`]s out, a [`ModemHandle`] to read its
//!   [`ModemStatus`] and stop it.
//! - [`link`]: the port plus the engine: write a command, read until its response, keep
//!   the URCs that arrive meanwhile.
//! - [`session`]: one connection's life: initialisation (echo off, errors numeric, model
//!   profile, SIM PIN with a guard, PDU mode, storage, indications, identity), the sweep,
//!   reacting to `+CMTI`/`+CMT`/`+CDSI`/`+CDS`, deleting after the gateway's commit,
//!   sending (`AT+CMGS`), USSD, the safety sweep and status refresh.
//! - [`requests`]: [`SendRequest`]/[`SendReceipt`]/[`SendError`], [`UssdReply`]/
//!   [`UssdError`]: what a [`ModemHandle`] (or a cloned [`ModemClient`]) asks the task.
//! - [`profile`]: [`Profile`]s per manufacturer (ICCID command, extra init, quirks),
//!   chosen from `AT+CGMI`/`AT+CGMM` or by name, and [`probe`] to identify a modem.
//! - [`report`]: status report PDUs to [`StatusReportEvent`] fields.
//!
//! Requests and reception share the one command channel to the modem: a request runs
//! between two URC batches, the URCs that arrive during it (`+CMTI` in the middle of an
//! `AT+CMGS`) are kept by the link and handled right after. A USSD request waits for its
//! `+CUSD` without holding the port.
//!
//! # The invariant
//!
//! Every received PDU goes out as [`ReceivedPdu`] with a oneshot `ack`. `AT+CMGD` is sent
//! only after [`StoreOutcome::Stored`] comes back on it; on `Failed`, or when the gateway
//! drops the sender, the message stays on the SIM and the next sweep hands it over
//! again (the gateway drops the duplicate). Acknowledgements belong to the connection
//! that read the message: one that arrives after a reconnect deletes nothing, because
//! the slot may hold another message by then; the sweep of the new connection re-reads
//! it instead. `+CMT` is acknowledged with `AT+CNMA` only after `Stored`, when
//! [`ModemConfig::ack_direct`] (or the profile) asked for `AT+CSMS=1`. Status reports
//! (`+CDSI`, `+CDS`, or found by a sweep) follow the same rule through
//! [`StatusReportEvent::ack`].
//!
//! The task reconnects with exponential backoff when the port fails or the modem stops
//! answering; nothing a modem sends can panic it.

mod link;
mod profile;
mod report;
mod requests;
mod session;

pub use profile::{probe, ProbeError, ProbeResult, Profile, PROFILES};
pub use report::{decode_status_report, DecodedReport, ReportOutcome};
pub use requests::{SendError, SendReceipt, SendRequest, UssdError, UssdReply};

use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::pdu;
use requests::Request;

/// How to reach and drive one modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModemConfig {
    /// Names the modem in logs, events and status.
    pub name: String,
    /// Device path: `/dev/ttyUSB0`, `/dev/serial/by-id/...`, `/dev/ttyAMA0`, `/dev/pts/N`.
    pub port: String,
    pub baud: u32,
    /// The SIM's number when known; else read with `AT+CNUM`.
    pub number: Option<String>,
    /// SIM PIN, entered once when the SIM asks; never retried after the SIM rejected it.
    pub pin: Option<String>,
    /// Message storage read and deleted from (`"SM"` = SIM).
    pub storage: String,
    /// `AT+CNMI` parameters tried first; common fallbacks follow if the modem refuses.
    pub cnmi: String,
    /// Profile commands sent after `AT+CMEE=1` (their failures are logged, not fatal).
    pub init_commands: Vec<String>,
    /// Use `AT+CSMS=1` and acknowledge `+CMT` with `AT+CNMA` after the commit.
    pub ack_direct: bool,
    /// Period of the safety sweep (`AT+CMGL=4`) for modems that drop indications.
    pub sweep_interval: Duration,
    /// Period of the signal / registration refresh.
    pub status_interval: Duration,
    /// Default command timeout.
    pub command_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Force a [`Profile`] by name (`huawei`, `quectel`, `simcom`, `zte`, `sierra`,
    /// `telit`, `wavecom`, `siemens`, `generic`); `None` detects it from `AT+CGMI`/`AT+CGMM`.
    pub profile: Option<String>,
    /// How long one `AT+CMGS` part may take (the network answers within a minute).
    pub send_timeout: Duration,
    /// How long a USSD reply may take.
    pub ussd_timeout: Duration,
}

impl Default for ModemConfig {
    fn default() -> Self {
        ModemConfig {
            name: "modem".to_string(),
            port: "/dev/ttyUSB0".to_string(),
            baud: 115_200,
            number: None,
            pin: None,
            storage: "SM".to_string(),
            cnmi: "2,1,0,2,0".to_string(),
            init_commands: Vec::new(),
            ack_direct: false,
            sweep_interval: Duration::from_secs(60),
            status_interval: Duration::from_secs(30),
            command_timeout: Duration::from_secs(5),
            reconnect_min: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            profile: None,
            send_timeout: Duration::from_secs(60),
            ussd_timeout: Duration::from_secs(30),
        }
    }
}

/// What a modem task reports to its owner.
#[derive(Debug)]
pub enum ModemEvent {
    Received(ReceivedPdu),
    /// The network reports on an SMS sent with [`SendRequest::status_report`].
    StatusReport(StatusReportEvent),
    /// The state changed (connecting, ready, no SIM...).
    Status(ModemStatus),
}

/// Where a received PDU is kept until the gateway has stored it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PduSource {
    /// In message storage, to be deleted with `AT+CMGD=index` after the commit.
    Sim { storage: String, index: u32 },
    /// Delivered directly with `+CMT`; acknowledged with `AT+CNMA` after the commit when
    /// the profile asks for it.
    Direct,
}

/// One received PDU, handed to the gateway.
#[derive(Debug)]
pub struct ReceivedPdu {
    /// [`ModemConfig::name`].
    pub modem: String,
    /// The configured number, else the one `AT+CNUM` gave.
    pub own_number: Option<String>,
    /// PDU hex as the modem gave it, with the SMSC prefix.
    pub hex: String,
    /// `<length>` of the modem's header (TPDU octets), when it gave one.
    pub tpdu_len: Option<usize>,
    pub source: PduSource,
    /// Answer after the commit; the message is deleted only on [`StoreOutcome::Stored`].
    pub ack: oneshot::Sender<StoreOutcome>,
}

/// A status report for a message this modem sent, matched by `(modem,
/// message_reference, recipient)` to a [`SendReceipt`]. It stays on the SIM (or, for
/// `+CDS`, unacknowledged) until `ack` answers [`StoreOutcome::Stored`].
#[derive(Debug)]
pub struct StatusReportEvent {
    pub modem: String,
    /// TP-MR of the SMS-SUBMIT this reports on (one of [`SendReceipt::message_references`]).
    pub message_reference: u8,
    /// Recipient as the report gives it (`+12025550123`).
    pub recipient: String,
    /// TP-ST: [`pdu::Status::code`], [`pdu::Status::meaning`], [`pdu::Status::category`].
    pub status: pdu::Status,
    /// Delivered, pending (the service centre still tries) or failed.
    pub outcome: ReportOutcome,
    /// TP-DT, when the status was reached: UTC ISO-8601 (`...T12:00:00.000Z`).
    pub discharge_time: Option<String>,
    /// TP-SCTS, when the service centre took the message: UTC ISO-8601.
    pub submitted_time: Option<String>,
    /// The report PDU, hex with the SMSC prefix.
    pub hex: String,
    pub source: PduSource,
    pub ack: oneshot::Sender<StoreOutcome>,
}

/// The gateway's answer for one [`ReceivedPdu`] or [`StatusReportEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    Failed(String),
}

/// Where the modem is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModemState {
    Connecting,
    Initializing,
    Ready,
    NoSim,
    PinRequired,
    NotRegistered,
    Failed,
    Stopped,
}

/// What is known about a modem now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModemStatus {
    pub name: String,
    pub port: String,
    pub state: ModemState,
    /// Why the modem is not ready, or the last error it recovered from.
    pub last_error: Option<String>,
    pub number: Option<String>,
    pub signal_dbm: Option<i32>,
    pub signal_bars: Option<u8>,
    /// `+CREG` state: 1 home, 5 roaming, 6/7 SMS only and 9/10 CSFB not preferred (home/
    /// roaming, LTE), others not registered.
    pub registration: Option<u8>,
    pub roaming: Option<bool>,
    pub operator: Option<String>,
    pub imei: Option<String>,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub revision: Option<String>,
    pub sim_used: Option<u32>,
    pub sim_total: Option<u32>,
    /// Name of the [`Profile`] in use.
    pub profile: Option<String>,
}

impl ModemStatus {
    fn new(config: &ModemConfig) -> ModemStatus {
        ModemStatus {
            name: config.name.clone(),
            port: config.port.clone(),
            state: ModemState::Connecting,
            last_error: None,
            number: config.number.clone(),
            signal_dbm: None,
            signal_bars: None,
            registration: None,
            roaming: None,
            operator: None,
            imei: None,
            imsi: None,
            iccid: None,
            manufacturer: None,
            model: None,
            revision: None,
            sim_used: None,
            sim_total: None,
            profile: config.profile.clone(),
        }
    }
}

/// The owner's side of a modem task. Dropping it detaches the task (it keeps running);
/// [`ModemHandle::shutdown`] stops it and closes the port.
#[derive(Debug)]
pub struct ModemHandle {
    client: ModemClient,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A cloneable way to ask a running modem to send and to read its status (for an
/// outbound queue that must not own the [`ModemHandle`]).
#[derive(Debug, Clone)]
pub struct ModemClient {
    name: String,
    status: watch::Receiver<ModemStatus>,
    requests: mpsc::Sender<Request>,
}

impl ModemClient {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn status(&self) -> ModemStatus {
        self.status.borrow().clone()
    }

    /// The state allows sending (ready).
    fn ready(&self) -> Result<(), ModemState> {
        match self.status.borrow().state {
            ModemState::Ready => Ok(()),
            other => Err(other),
        }
    }

    /// Sends an SMS (several `AT+CMGS` for a long text), one command at a time with
    /// everything else the modem does. Fails fast when the modem is not ready.
    pub async fn send(&self, request: SendRequest) -> Result<SendReceipt, SendError> {
        if let Err(state) = self.ready() {
            return Err(SendError::NotReady {
                modem: self.name.clone(),
                state,
            });
        }
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Send(request, tx))
            .await
            .map_err(|_| SendError::Stopped)?;
        rx.await.unwrap_or(Err(SendError::Stopped))
    }

    /// Runs a USSD code (`*100#`) and returns the network's reply, decoded.
    pub async fn ussd(&self, code: &str) -> Result<UssdReply, UssdError> {
        let valid = !code.is_empty()
            && code.len() <= 160
            && code
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#' || b == b'+');
        if !valid {
            return Err(UssdError::InvalidCode(code.to_string()));
        }
        if let Err(state) = self.ready() {
            return Err(UssdError::NotReady {
                modem: self.name.clone(),
                state,
            });
        }
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::Ussd(code.to_string(), tx))
            .await
            .map_err(|_| UssdError::Stopped)?;
        rx.await.unwrap_or(Err(UssdError::Stopped))
    }
}

impl ModemHandle {
    pub fn name(&self) -> &str {
        &self.client.name
    }

    pub async fn status(&self) -> ModemStatus {
        self.client.status()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<ModemStatus> {
        self.client.status.clone()
    }

    /// A cloneable client for sending and USSD.
    pub fn client(&self) -> ModemClient {
        self.client.clone()
    }

    /// See [`ModemClient::send`].
    pub async fn send(&self, request: SendRequest) -> Result<SendReceipt, SendError> {
        self.client.send(request).await
    }

    /// See [`ModemClient::ussd`].
    pub async fn ussd(&self, code: &str) -> Result<UssdReply, UssdError> {
        self.client.ussd(code).await
    }

    /// Stops the task and waits until the port is closed. Messages handed over but not
    /// yet acknowledged stay on the SIM.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(modem = %self.client.name, "modem task ended abnormally: {e}");
        }
    }
}

/// Starts the task that owns `config.port`. Must be called within a tokio runtime.
pub fn spawn(config: ModemConfig, events: mpsc::Sender<ModemEvent>) -> ModemHandle {
    let (status_tx, status_rx) = watch::channel(ModemStatus::new(&config));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (requests, request_rx) = mpsc::channel(32);
    let name = config.name.clone();
    let task = tokio::spawn(session::run(config, events, status_tx, stop_rx, request_rx));
    ModemHandle {
        client: ModemClient {
            name,
            status: status_rx,
            requests,
        },
        stop: stop_tx,
        task,
    }
}
