//! One GSM modem on a serial port, driven through the [`crate::at`] engine.
//!
//! # Map
//!
//! - this file: the public face. [`ModemConfig`] in, [`spawn`] starts one tokio task per
//!   modem that owns its port, [`ModemEvent`]s out, a [`ModemHandle`] to read its
//!   [`ModemStatus`] and stop it.
//! - [`link`]: the port plus the engine: write a command, read until its response, keep
//!   the URCs that arrive meanwhile.
//! - [`session`]: one connection's life: initialisation (echo off, errors numeric, SIM
//!   PIN with a guard, PDU mode, storage, indications, identity), the sweep, reacting to
//!   `+CMTI`/`+CMT`, deleting after the gateway's commit, the safety sweep and status
//!   refresh.
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
//! [`ModemConfig::ack_direct`] asked for `AT+CSMS=1`.
//!
//! The task reconnects with exponential backoff when the port fails or the modem stops
//! answering; nothing a modem sends can panic it.

mod link;
mod session;

use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

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
        }
    }
}

/// What a modem task reports to its owner.
#[derive(Debug)]
pub enum ModemEvent {
    Received(ReceivedPdu),
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

/// The gateway's answer for one [`ReceivedPdu`].
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
    /// `+CREG` state: 1 home, 5 roaming, others not registered.
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
        }
    }
}

/// The owner's side of a modem task. Dropping it detaches the task (it keeps running);
/// [`ModemHandle::shutdown`] stops it and closes the port.
#[derive(Debug)]
pub struct ModemHandle {
    name: String,
    status: watch::Receiver<ModemStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ModemHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn status(&self) -> ModemStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<ModemStatus> {
        self.status.clone()
    }

    /// Stops the task and waits until the port is closed. Messages handed over but not
    /// yet acknowledged stay on the SIM.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(modem = %self.name, "modem task ended abnormally: {e}");
        }
    }
}

/// Starts the task that owns `config.port`. Must be called within a tokio runtime.
pub fn spawn(config: ModemConfig, events: mpsc::Sender<ModemEvent>) -> ModemHandle {
    let (status_tx, status_rx) = watch::channel(ModemStatus::new(&config));
    let (stop_tx, stop_rx) = watch::channel(false);
    let name = config.name.clone();
    let task = tokio::spawn(session::run(config, events, status_tx, stop_rx));
    ModemHandle {
        name,
        status: status_rx,
        stop: stop_tx,
        task,
    }
}
