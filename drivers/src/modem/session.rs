//! The modem task: connect, initialise, receive, reconnect.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::link::{Link, LinkError};
use super::profile::Profile;
use super::report::decode_status_report;
use super::requests::{Request, SendError, SendReceipt, SendRequest, UssdError, UssdReply};
use super::{
    ModemConfig, ModemEvent, ModemState, ModemStatus, PduSource, ReceivedPdu, StatusReportEvent,
    StoreOutcome,
};
use crate::at::parse::{
    csq_to_dbm, cusd_mode_meaning, dbm_to_bars, decode_ussd, info, message_type_indicator,
    parse_cmgl, parse_cmgr, parse_cnum, parse_cops, parse_cpin, parse_cpms, parse_creg, parse_csq,
    parse_cusd, single_value, tpdu_len_of, CusdLine, PinState, StoredPdu,
};
use crate::at::{Command, FinalResult, Response, Urc};
use crate::pdu;

/// After a `+CUSD` with `<m>` 2-5, how long a better one (`<m>` 0/1) may still come:
/// some modems send `+CUSD: 2,"Initiating Release"` before the real reply.
const USSD_GRACE: Duration = Duration::from_millis(400);

/// How long a modem must stay quiet before its stream counts as in step with ours
/// (after the ESC at start), and the most that waiting may take.
pub(crate) const SETTLE_QUIET: Duration = Duration::from_millis(150);
pub(crate) const SETTLE_MAX: Duration = Duration::from_millis(1500);

/// `AT+CNMI` settings tried after the configured one: SIM800 refuses `<ds>=2`, some
/// modems any `<bm>`.
const CNMI_FALLBACKS: &[&str] = &["2,1,0,1,0", "2,1,0,0,0", "1,1,0,0,0", "2,1"];

/// Things the task remembers across connections.
struct Memory {
    /// The SIM refused the configured PIN once: never offer it again (three wrong
    /// entries lock the SIM behind its PUK).
    pin_rejected: bool,
    /// The last connection reached the receive loop (resets the backoff).
    reached_ready: bool,
}

/// Publishes status changes to the watch and, when the state changes, as an event.
struct Reporter {
    name: String,
    status: watch::Sender<ModemStatus>,
    events: mpsc::Sender<ModemEvent>,
}

impl Reporter {
    fn update(&self, change: impl FnOnce(&mut ModemStatus)) {
        let mut state_changed = None;
        self.status.send_modify(|s| {
            let before = s.state;
            change(s);
            if s.state != before {
                state_changed = Some(s.clone());
            }
        });
        if let Some(snapshot) = state_changed {
            tracing::info!(modem = %self.name, state = ?snapshot.state, "modem state");
            // Status events are informational: a full channel must not stall the modem.
            let _ = self.events.try_send(ModemEvent::Status(snapshot));
        }
    }

    fn state(&self, state: ModemState, error: Option<String>) {
        self.update(|s| {
            s.state = state;
            if error.is_some() {
                s.last_error = error;
            }
        });
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // A dropped handle detaches the task: only an explicit shutdown stops it.
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The whole life of one modem task.
pub(super) async fn run(
    config: ModemConfig,
    events: mpsc::Sender<ModemEvent>,
    status: watch::Sender<ModemStatus>,
    mut stop: watch::Receiver<bool>,
    mut requests: mpsc::Receiver<Request>,
) {
    let reporter = Reporter {
        name: config.name.clone(),
        status,
        events: events.clone(),
    };
    let mut memory = Memory {
        pin_rejected: false,
        reached_ready: false,
    };
    let mut backoff = config.reconnect_min;
    loop {
        reporter.state(ModemState::Connecting, None);
        memory.reached_ready = false;
        let ended = tokio::select! {
            ended = session(&config, &events, &reporter, &mut memory, &mut requests) => ended,
            _ = stopped(&mut stop) => break,
        };
        let parked = match &ended {
            SessionEnd::Parked(state, why) => {
                tracing::error!(modem = %config.name, "{why}");
                reporter.state(*state, Some(why.clone()));
                true
            }
            SessionEnd::Lost(e) => {
                tracing::warn!(modem = %config.name, port = %config.port, "connection lost: {e}");
                reporter.state(ModemState::Connecting, Some(e.to_string()));
                false
            }
        };
        if memory.reached_ready {
            backoff = config.reconnect_min;
        }
        // A SIM that needs a person (no SIM, PIN) is re-checked slowly.
        let wait = if parked {
            config.reconnect_max
        } else {
            backoff
        };
        // Requests meanwhile are answered at once: the modem is not there.
        let pause = tokio::time::sleep(wait);
        tokio::pin!(pause);
        let stop_now = loop {
            tokio::select! {
                _ = &mut pause => break false,
                _ = stopped(&mut stop) => break true,
                Some(request) = requests.recv() => refuse(&config.name, request, reporter.status.borrow().state),
            }
        };
        if stop_now {
            break;
        }
        backoff = (backoff * 2).min(config.reconnect_max);
    }
    reporter.state(ModemState::Stopped, None);
}

fn refuse(modem: &str, request: Request, state: ModemState) {
    let modem = modem.to_string();
    match request {
        Request::Send(_, reply) => {
            let _ = reply.send(Err(SendError::NotReady { modem, state }));
        }
        Request::Ussd(_, reply) => {
            let _ = reply.send(Err(UssdError::NotReady { modem, state }));
        }
    }
}

/// A USSD request waiting for its `+CUSD`.
struct PendingUssd {
    reply: oneshot::Sender<Result<UssdReply, UssdError>>,
    deadline: Instant,
    /// A `+CUSD` with `<m>` 2-5 seen first, used if no better one comes.
    fallback: Option<CusdLine>,
}

/// What kind of PDU an acknowledgement is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sms,
    Report,
}

enum SessionEnd {
    /// The port or the modem failed: reconnect with backoff.
    Lost(LinkError),
    /// The SIM needs a person (no SIM, PIN missing or rejected, PUK): state to report.
    Parked(ModemState, String),
}

impl From<LinkError> for SessionEnd {
    fn from(e: LinkError) -> Self {
        SessionEnd::Lost(e)
    }
}

/// Acknowledgements of one connection; see the invariant in mod.rs.
type Ack = (PduSource, Kind, Option<StoreOutcome>);

struct Session<'a> {
    config: &'a ModemConfig,
    events: &'a mpsc::Sender<ModemEvent>,
    reporter: &'a Reporter,
    link: Link,
    /// Memory `AT+CMGR`/`AT+CMGD` address now (`AT+CPMS` first parameter).
    current_storage: String,
    own_number: Option<String>,
    /// Handed to the gateway, not yet answered: not handed over again meanwhile.
    awaiting: HashSet<(String, u32)>,
    ack_tx: mpsc::UnboundedSender<Ack>,
    ack_rx: mpsc::UnboundedReceiver<Ack>,
    /// `AT+CSMS=1` took: `+CMT` wants `AT+CNMA`.
    cnma: bool,
    profile: &'static Profile,
    /// Message storage swept and read (the configured one, or the profile's).
    storage: String,
    requests: &'a mut mpsc::Receiver<Request>,
    ussd: Option<PendingUssd>,
}

async fn session(
    config: &ModemConfig,
    events: &mpsc::Sender<ModemEvent>,
    reporter: &Reporter,
    memory: &mut Memory,
    requests: &mut mpsc::Receiver<Request>,
) -> SessionEnd {
    let link = match Link::open(&config.name, &config.port, config.baud) {
        Ok(link) => link,
        Err(e) => return SessionEnd::Lost(e),
    };
    tracing::info!(modem = %config.name, port = %config.port, baud = config.baud, "port open");
    reporter.state(ModemState::Initializing, None);
    let (ack_tx, ack_rx) = mpsc::unbounded_channel();
    let mut s = Session {
        config,
        events,
        reporter,
        link,
        current_storage: String::new(),
        own_number: config.number.clone(),
        awaiting: HashSet::new(),
        ack_tx,
        ack_rx,
        cnma: false,
        profile: Profile::generic(),
        storage: config.storage.clone(),
        requests,
        ussd: None,
    };
    let mut sweep_interval = config.sweep_interval;
    match s.initialise(memory).await {
        Ok(indications) => {
            if !indications {
                // Without indications the sweep is the only way in: make it frequent.
                sweep_interval = sweep_interval.min(Duration::from_secs(10));
            }
        }
        Err(end) => return end,
    }
    memory.reached_ready = true;
    match s.receive_loop(sweep_interval).await {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn cmd(text: impl Into<String>) -> Command {
    Command::new(text)
}

impl Session<'_> {
    fn name(&self) -> &str {
        &self.config.name
    }

    async fn run(&mut self, command: Command) -> Result<Response, LinkError> {
        self.link.command(command).await
    }

    async fn run_text(&mut self, text: &str) -> Result<Response, LinkError> {
        let command = cmd(text).timeout(self.config.command_timeout);
        self.link.command(command).await
    }

    /// Runs a command whose failure is worth a log line but not the connection.
    async fn optional(&mut self, text: &str) -> Result<Option<Response>, LinkError> {
        let r = self.run_text(text).await?;
        if r.is_ok() {
            Ok(Some(r))
        } else {
            tracing::debug!(modem = %self.name(), command = text, result = %r.result, "optional command failed");
            Ok(None)
        }
    }

    /// Returns whether new-message indications are on.
    async fn initialise(&mut self, memory: &mut Memory) -> Result<bool, SessionEnd> {
        // A crash in the middle of AT+CMGS leaves the modem waiting for a PDU: ESC ends it.
        // Outside a prompt many modems answer it (ERROR or OK): that answer, and any late
        // answer to an `AT` below, must be read off before the next command, or every
        // response after it would be taken for the one before's.
        self.link.write_raw(b"\x1b\r").await?;
        self.link.settle(SETTLE_QUIET, SETTLE_MAX).await?;
        let mut alive = false;
        for attempt in 0..5 {
            let r = self
                .run(cmd("AT").timeout(Duration::from_millis(1500)))
                .await;
            match r {
                Ok(r) if r.is_ok() => {
                    alive = true;
                    if attempt > 0 {
                        self.link.settle(SETTLE_QUIET, SETTLE_MAX).await?;
                    }
                    break;
                }
                Ok(_) => {}
                Err(LinkError::Unresponsive(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !alive {
            return Err(LinkError::Modem("no answer to AT".into()).into());
        }
        self.optional("ATE0").await?;
        self.optional("AT+CMEE=1").await?;
        self.choose_profile().await?;
        let profile_init = self.profile.init_commands.iter().map(|c| c.to_string());
        let init: Vec<String> = profile_init
            .chain(self.config.init_commands.iter().cloned())
            .collect();
        for extra in init {
            if self.optional(&extra).await?.is_none() {
                tracing::warn!(modem = %self.name(), command = %extra, "profile command refused");
            }
        }
        self.unlock_sim(memory).await?;

        let r = self.run_text("AT+CMGF=0").await?;
        if !r.is_ok() {
            return Err(SessionEnd::Parked(
                ModemState::Failed,
                format!("modem refuses PDU mode (AT+CMGF=0: {})", r.result),
            ));
        }
        self.select_storage().await?;
        if self.config.ack_direct || self.profile.cmt_needs_cnma {
            self.cnma = self.optional("AT+CSMS=1").await?.is_some();
            if !self.cnma {
                tracing::warn!(modem = %self.name(), "AT+CSMS=1 refused: +CMT will not be acknowledged");
            }
        }
        let indications = self.enable_indications().await?;
        self.read_identity().await?;
        self.refresh_status().await?;
        Ok(indications)
    }

    async fn unlock_sim(&mut self, memory: &mut Memory) -> Result<(), SessionEnd> {
        let mut busy_retries = 0;
        let mut pin_sent = false;
        loop {
            let r = self
                .run(cmd("AT+CPIN?").timeout(Duration::from_secs(5)))
                .await?;
            // Wavecom answers `+CPIN: READY` without OK: the timeout keeps the line.
            match (parse_cpin(&r.lines), &r.result) {
                (Some(PinState::Ready), _) => return Ok(()),
                (Some(PinState::SimPin), _) => {
                    if memory.pin_rejected {
                        return Err(SessionEnd::Parked(
                            ModemState::PinRequired,
                            "SIM PIN required; the configured PIN was rejected before and is not retried".into(),
                        ));
                    }
                    let Some(pin) = self.config.pin.clone() else {
                        return Err(SessionEnd::Parked(
                            ModemState::PinRequired,
                            "SIM PIN required and none configured".into(),
                        ));
                    };
                    if pin_sent {
                        // Accepted a moment ago, still initialising: ask again below.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        busy_retries += 1;
                        if busy_retries > 10 {
                            return Err(
                                LinkError::Modem("SIM stays locked after PIN".into()).into()
                            );
                        }
                        continue;
                    }
                    let entry = self
                        .run(cmd(format!("AT+CPIN=\"{pin}\"")).timeout(Duration::from_secs(20)))
                        .await?;
                    pin_sent = true;
                    match &entry.result {
                        FinalResult::Ok => {
                            tracing::info!(modem = %self.name(), "SIM PIN accepted");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        FinalResult::Timeout => {
                            return Err(LinkError::Modem("no answer to PIN entry".into()).into())
                        }
                        other => {
                            // Anything but OK counts as a rejection: offering the PIN again
                            // could use up the SIM's last attempt.
                            memory.pin_rejected = true;
                            return Err(SessionEnd::Parked(
                                ModemState::PinRequired,
                                format!("SIM rejected the configured PIN ({other}); not retrying"),
                            ));
                        }
                    }
                }
                (Some(PinState::SimPuk), _) => {
                    return Err(SessionEnd::Parked(
                        ModemState::PinRequired,
                        "SIM PUK required: the SIM is locked".into(),
                    ))
                }
                (Some(PinState::Other(code)), _) => {
                    return Err(SessionEnd::Parked(
                        ModemState::PinRequired,
                        format!("SIM asks for {code}"),
                    ))
                }
                (None, result) if result.has_code(10) || result.has_code(310) => {
                    return Err(SessionEnd::Parked(
                        ModemState::NoSim,
                        "SIM not inserted".into(),
                    ))
                }
                (None, result)
                    if result.has_code(14)
                        || result.has_code(515)
                        || result.has_code(314)
                        || matches!(result, FinalResult::CmeError(crate::at::ErrorCode::Text(t)) if t.to_ascii_lowercase().contains("busy")) =>
                {
                    busy_retries += 1;
                    if busy_retries > 10 {
                        return Err(LinkError::Modem("SIM stays busy".into()).into());
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                (None, result) if result.has_code(13) => {
                    return Err(SessionEnd::Parked(ModemState::NoSim, "SIM failure".into()))
                }
                (None, result) => {
                    // Phones used as modems may not know AT+CPIN?: carry on and let the
                    // SMS commands tell.
                    tracing::warn!(modem = %self.name(), result = %result, "AT+CPIN? gave no state");
                    return Ok(());
                }
            }
        }
    }

    /// Reads `AT+CGMI`/`AT+CGMM` and picks the configured or the matching profile.
    async fn choose_profile(&mut self) -> Result<(), LinkError> {
        let value = |r: Option<Response>| r.and_then(|r| single_value(&r.lines));
        let manufacturer = value(self.optional("AT+CGMI").await?);
        let model = value(self.optional("AT+CGMM").await?);
        let forced = self.config.profile.as_deref().and_then(|name| {
            let found = Profile::by_name(name);
            if found.is_none() {
                tracing::warn!(modem = %self.name(), profile = name, "unknown profile; detecting instead");
            }
            found
        });
        self.profile =
            forced.unwrap_or_else(|| Profile::detect(manufacturer.as_deref(), model.as_deref()));
        if self.storage.trim().is_empty() {
            self.storage = self.profile.storage.to_string();
        }
        tracing::info!(modem = %self.name(), profile = self.profile.name, ?manufacturer, ?model, "model profile");
        let name = self.profile.name.to_string();
        self.reporter.update(|s| {
            s.manufacturer = manufacturer;
            s.model = model;
            s.profile = Some(name);
        });
        Ok(())
    }

    async fn select_storage(&mut self) -> Result<(), LinkError> {
        let m = self.storage.clone();
        for text in [
            format!("AT+CPMS=\"{m}\",\"{m}\",\"{m}\""),
            format!("AT+CPMS=\"{m}\",\"{m}\""),
            format!("AT+CPMS=\"{m}\""),
        ] {
            let r = self.run_text(&text).await?;
            if r.is_ok() {
                self.current_storage = m;
                if let Some((used, total)) = parse_cpms(&r.lines) {
                    self.reporter.update(|s| {
                        s.sim_used = Some(used);
                        s.sim_total = Some(total);
                    });
                }
                return Ok(());
            }
        }
        tracing::warn!(modem = %self.name(), storage = %m, "modem refuses the storage; using its default");
        self.current_storage = m;
        Ok(())
    }

    async fn enable_indications(&mut self) -> Result<bool, LinkError> {
        let mut tried = vec![self.config.cnmi.clone()];
        tried.extend(self.profile.cnmi.map(str::to_string));
        tried.extend(CNMI_FALLBACKS.iter().map(|s| s.to_string()));
        tried.dedup();
        for params in tried {
            if self.optional(&format!("AT+CNMI={params}")).await?.is_some() {
                return Ok(true);
            }
        }
        tracing::warn!(modem = %self.name(), "modem refuses every AT+CNMI: relying on sweeps");
        Ok(false)
    }

    async fn read_identity(&mut self) -> Result<(), LinkError> {
        let value = |r: Option<Response>| r.and_then(|r| single_value(&r.lines));
        let revision = value(self.optional("AT+CGMR").await?);
        let imei = value(self.optional("AT+CGSN").await?);
        let imsi = value(self.optional("AT+CIMI").await?);
        let mut iccid = None;
        for text in self.profile.iccid_commands() {
            if let Some(found) = value(self.optional(text).await?).and_then(|v| clean_iccid(&v)) {
                iccid = Some(found);
                break;
            }
        }
        let sim_number = self
            .optional("AT+CNUM")
            .await?
            .and_then(|r| parse_cnum(&r.lines));
        if self.own_number.is_none() {
            self.own_number = sim_number;
        }
        self.optional("AT+COPS=3,0").await?;
        let number = self.own_number.clone();
        self.reporter.update(|s| {
            s.revision = revision;
            s.imei = imei;
            s.imsi = imsi;
            s.iccid = iccid;
            s.number = number;
        });
        Ok(())
    }

    /// Signal, registration and operator; decides between Ready and NotRegistered.
    async fn refresh_status(&mut self) -> Result<(), LinkError> {
        let signal = self
            .optional("AT+CSQ")
            .await?
            .and_then(|r| parse_csq(&r.lines))
            .and_then(csq_to_dbm);
        let creg = self
            .optional("AT+CREG?")
            .await?
            .and_then(|r| parse_creg(&r.lines, "+CREG"));
        let operator = self
            .optional("AT+COPS?")
            .await?
            .and_then(|r| parse_cops(&r.lines));
        self.apply_registration(creg);
        self.reporter.update(|s| {
            s.signal_dbm = signal;
            s.signal_bars = signal.map(dbm_to_bars);
            s.operator = operator;
        });
        Ok(())
    }

    fn apply_registration(&self, stat: Option<u8>) {
        self.reporter.update(|s| {
            s.registration = stat;
            s.roaming = stat.map(|st| registered(st) == Some(true));
            // Unknown registration (no +CREG support) does not hold back receiving.
            s.state = match stat.map(registered) {
                Some(Some(_)) | None => ModemState::Ready,
                Some(None) => ModemState::NotRegistered,
            };
        });
    }

    async fn receive_loop(
        &mut self,
        sweep_interval: Duration,
    ) -> Result<std::convert::Infallible, SessionEnd> {
        // The full sweep at start and after every reconnect.
        self.sweep().await?;
        let mut sweep = tokio::time::interval(sweep_interval);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        sweep.reset();
        let mut status = tokio::time::interval(self.config.status_interval);
        status.set_missed_tick_behavior(MissedTickBehavior::Delay);
        status.reset();
        loop {
            while let Some(urc) = self.link.urcs.pop_front() {
                self.handle_urc(urc).await?;
            }
            while let Ok(ack) = self.ack_rx.try_recv() {
                self.handle_ack(ack).await?;
            }
            if !self.link.urcs.is_empty() {
                continue;
            }
            let ussd_deadline = self.ussd.as_ref().map(|u| u.deadline);
            tokio::select! {
                read = self.link.idle_read() => read?,
                Some(ack) = self.ack_rx.recv() => self.handle_ack(ack).await?,
                Some(request) = self.requests.recv() => self.handle_request(request).await?,
                _ = tokio::time::sleep_until(ussd_deadline.unwrap_or_else(Instant::now)), if ussd_deadline.is_some() => {
                    self.ussd_deadline().await?;
                }
                _ = sweep.tick() => self.sweep().await?,
                _ = status.tick() => self.refresh_status().await?,
            }
        }
    }

    async fn handle_urc(&mut self, urc: Urc) -> Result<(), LinkError> {
        match urc {
            Urc::NewMessage { storage, index } => {
                tracing::debug!(modem = %self.name(), %storage, index, "+CMTI");
                self.read_one(&storage, index).await?;
            }
            Urc::Message {
                header,
                length,
                body,
            } => {
                if length.is_none() {
                    tracing::warn!(modem = %self.name(), %header, "text-mode +CMT ignored (PDU mode expected)");
                } else {
                    self.hand_over(body, length, PduSource::Direct).await;
                }
            }
            Urc::NewStatusReport { storage, index } => {
                tracing::debug!(modem = %self.name(), %storage, index, "+CDSI");
                self.read_report(&storage, index).await?;
            }
            Urc::StatusReport {
                header,
                length,
                body,
            } => {
                if length.is_none() {
                    tracing::warn!(modem = %self.name(), %header, "text-mode +CDS ignored (PDU mode expected)");
                } else {
                    self.hand_over_report(body, PduSource::Direct).await;
                }
            }
            Urc::Registration { stat, .. } => self.apply_registration(stat),
            Urc::Malformed { line, reason } => {
                tracing::warn!(modem = %self.name(), %line, "malformed URC: {reason}");
            }
            Urc::Other { line, known } => {
                if known {
                    tracing::debug!(modem = %self.name(), %line, "URC");
                } else {
                    tracing::debug!(modem = %self.name(), %line, "unexpected line from modem");
                }
            }
            Urc::Ussd { line } => self.ussd_line(&line).await?,
            Urc::Ring { .. } => {}
        }
        Ok(())
    }

    async fn use_storage(&mut self, storage: &str) -> Result<bool, LinkError> {
        if self.current_storage.eq_ignore_ascii_case(storage) {
            return Ok(true);
        }
        let r = self.run_text(&format!("AT+CPMS=\"{storage}\"")).await?;
        if r.is_ok() {
            self.current_storage = storage.to_string();
        } else {
            tracing::warn!(modem = %self.name(), %storage, result = %r.result, "cannot select storage");
        }
        Ok(r.is_ok())
    }

    async fn read_one(&mut self, storage: &str, index: u32) -> Result<(), LinkError> {
        if self.awaiting.contains(&(storage.to_string(), index)) {
            return Ok(());
        }
        if !self.use_storage(storage).await? {
            return Ok(());
        }
        let r = self
            .run(cmd(format!("AT+CMGR={index}")).timeout(Duration::from_secs(10)))
            .await?;
        if !r.is_ok() {
            tracing::warn!(modem = %self.name(), %storage, index, result = %r.result, "AT+CMGR failed; the sweep will retry");
            return Ok(());
        }
        match parse_cmgr(&r.lines, index) {
            Some(stored) => self.offer(storage, stored).await,
            None if r.lines.is_empty() => {
                tracing::debug!(modem = %self.name(), %storage, index, "slot empty");
            }
            None => {
                tracing::warn!(modem = %self.name(), lines = ?r.lines, "unreadable +CMGR reply");
            }
        }
        Ok(())
    }

    /// Reads a status report that `+CDSI` announced. When the slot is empty and the
    /// profile knows where such reports really go (Quectel: `"SR"`), it looks there.
    async fn read_report(&mut self, storage: &str, index: u32) -> Result<(), LinkError> {
        let mut places = vec![storage.to_string()];
        if let Some(other) = self.profile.status_report_storage {
            if !other.eq_ignore_ascii_case(storage) {
                places.push(other.to_string());
            }
        }
        for place in places {
            if self.awaiting.contains(&(place.clone(), index)) {
                return Ok(());
            }
            if !self.use_storage(&place).await? {
                continue;
            }
            let r = self
                .run(cmd(format!("AT+CMGR={index}")).timeout(Duration::from_secs(10)))
                .await?;
            if !r.is_ok() {
                tracing::warn!(modem = %self.name(), storage = %place, index, result = %r.result, "AT+CMGR of a status report failed");
                continue;
            }
            if let Some(stored) = parse_cmgr(&r.lines, index) {
                self.offer(&place, stored).await;
                return Ok(());
            }
            tracing::debug!(modem = %self.name(), storage = %place, index, "no status report there");
        }
        Ok(())
    }

    async fn sweep(&mut self) -> Result<(), LinkError> {
        let storage = self.storage.clone();
        if !self.use_storage(&storage).await? {
            return Ok(());
        }
        let r = self
            .run(cmd("AT+CMGL=4").timeout(Duration::from_secs(60)))
            .await?;
        if !r.is_ok() {
            tracing::warn!(modem = %self.name(), result = %r.result, "sweep failed");
            return Ok(());
        }
        let (found, problems) = parse_cmgl(&r.lines);
        for p in problems {
            tracing::warn!(modem = %self.name(), line = %p.line, "listing: {}", p.reason);
        }
        tracing::debug!(modem = %self.name(), count = found.len(), "sweep");
        for stored in found {
            if !self.awaiting.contains(&(storage.clone(), stored.index)) {
                self.offer(&storage, stored).await;
            }
        }
        Ok(())
    }

    /// Hands a stored message over if it is a received SMS-DELIVER or a status report;
    /// sent messages stay where they are.
    async fn offer(&mut self, storage: &str, stored: StoredPdu) {
        if matches!(stored.stat, Some(2 | 3)) {
            return;
        }
        let source = PduSource::Sim {
            storage: storage.to_string(),
            index: stored.index,
        };
        match message_type_indicator(&stored.hex) {
            Some(0) => {
                self.awaiting.insert((storage.to_string(), stored.index));
                self.hand_over(stored.hex, stored.length, source).await;
            }
            Some(2) => {
                self.awaiting.insert((storage.to_string(), stored.index));
                self.hand_over_report(stored.hex, source).await;
            }
            other => {
                tracing::debug!(modem = %self.name(), index = stored.index, mti = ?other, "not an SMS-DELIVER or status report; left in storage");
            }
        }
    }

    /// Hands a status report over; it is deleted (or acknowledged) only after `Stored`.
    /// One that does not decode is logged and left where it is.
    async fn hand_over_report(&mut self, hex: String, source: PduSource) {
        let forget = |s: &mut Self, source: &PduSource| {
            if let PduSource::Sim { storage, index } = source {
                s.awaiting.remove(&(storage.clone(), *index));
            }
        };
        let report = match decode_status_report(&hex) {
            Ok(report) => report,
            Err(why) => {
                tracing::warn!(modem = %self.name(), pdu = %hex, ?source, "status report does not decode ({why}); left on the modem");
                forget(self, &source);
                return;
            }
        };
        let (ack, answer) = oneshot::channel();
        let event = StatusReportEvent {
            modem: self.config.name.clone(),
            message_reference: report.message_reference,
            recipient: report.recipient,
            status: report.status,
            outcome: report.outcome,
            discharge_time: report.discharge_time,
            submitted_time: report.submitted_time,
            hex,
            source: source.clone(),
            ack,
        };
        if self
            .events
            .send(ModemEvent::StatusReport(event))
            .await
            .is_err()
        {
            tracing::error!(modem = %self.name(), "nobody receives modem events; status report stays on the modem");
            forget(self, &source);
            return;
        }
        self.wait_for_ack(source, Kind::Report, answer);
    }

    fn wait_for_ack(&self, source: PduSource, kind: Kind, answer: oneshot::Receiver<StoreOutcome>) {
        let acks = self.ack_tx.clone();
        tokio::spawn(async move {
            let outcome = answer.await.ok();
            // The session may be gone (reconnect): then nothing is deleted, by design.
            let _ = acks.send((source, kind, outcome));
        });
    }

    async fn hand_over(&mut self, hex: String, length: Option<usize>, source: PduSource) {
        let actual = tpdu_len_of(&hex);
        if length.is_some() && actual != length {
            tracing::warn!(modem = %self.name(), ?length, ?actual, "modem's length does not match the PDU");
        }
        let (ack, answer) = oneshot::channel();
        let received = ReceivedPdu {
            modem: self.config.name.clone(),
            own_number: self.own_number.clone(),
            hex,
            tpdu_len: length,
            source: source.clone(),
            ack,
        };
        if self
            .events
            .send(ModemEvent::Received(received))
            .await
            .is_err()
        {
            tracing::error!(modem = %self.name(), "nobody receives modem events; message stays on the modem");
            if let PduSource::Sim { storage, index } = &source {
                self.awaiting.remove(&(storage.clone(), *index));
            }
            return;
        }
        self.wait_for_ack(source, Kind::Sms, answer);
    }

    async fn handle_ack(&mut self, (source, kind, outcome): Ack) -> Result<(), LinkError> {
        match (source, outcome) {
            (PduSource::Sim { storage, index }, Some(StoreOutcome::Stored)) => {
                self.awaiting.remove(&(storage.clone(), index));
                if !self.use_storage(&storage).await? {
                    return Ok(());
                }
                let r = self
                    .run(cmd(format!("AT+CMGD={index}")).timeout(Duration::from_secs(10)))
                    .await?;
                if r.is_ok() {
                    tracing::debug!(modem = %self.name(), %storage, index, "deleted after commit");
                } else {
                    tracing::warn!(modem = %self.name(), %storage, index, result = %r.result, "delete failed; the message will be seen again");
                }
            }
            (PduSource::Sim { storage, index }, outcome) => {
                self.awaiting.remove(&(storage.clone(), index));
                let why = match outcome {
                    Some(StoreOutcome::Failed(why)) => why,
                    _ => "gateway dropped the acknowledgement".to_string(),
                };
                tracing::warn!(modem = %self.name(), %storage, index, ?kind, "not stored ({why}); kept on the SIM for the next sweep");
            }
            (PduSource::Direct, Some(StoreOutcome::Stored)) => {
                if self.cnma {
                    let r = self.run_text("AT+CNMA").await?;
                    if !r.is_ok() {
                        tracing::warn!(modem = %self.name(), result = %r.result, "AT+CNMA failed");
                    }
                }
            }
            (PduSource::Direct, outcome) => {
                // Without AT+CNMA the network delivers it again.
                tracing::warn!(modem = %self.name(), ?outcome, ?kind, "direct delivery not stored; not acknowledged");
            }
        }
        Ok(())
    }

    async fn handle_request(&mut self, request: Request) -> Result<(), LinkError> {
        match request {
            Request::Send(send, reply) => {
                let (outcome, lost) = self.send_sms(send).await;
                let _ = reply.send(outcome);
                match lost {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
            Request::Ussd(code, reply) => self.start_ussd(code, reply).await,
        }
    }

    /// Sends every part; the answer for the owner, and the link error that ends the
    /// connection if the port failed meanwhile.
    async fn send_sms(
        &mut self,
        request: SendRequest,
    ) -> (Result<SendReceipt, SendError>, Option<LinkError>) {
        let options = pdu::SubmitOptions {
            status_report: request.status_report,
            validity: request.validity,
            reference: request.reference,
            ..pdu::SubmitOptions::default()
        };
        let parts = match pdu::encode_submit(&request.to, &request.text, &options) {
            Ok(parts) => parts,
            Err(e) => return (Err(SendError::Encode(e.to_string())), None),
        };
        let total = parts.len();
        let mut sent = Vec::with_capacity(total);
        for (i, part) in parts.into_iter().enumerate() {
            let number = i + 1;
            let command = cmd(format!("AT+CMGS={}", part.tpdu_len))
                .timeout(self.config.send_timeout)
                .payload(part.hex);
            let r = match self.run(command).await {
                Ok(r) => r,
                Err(e) => {
                    let error = SendError::ConnectionLost {
                        part: number,
                        parts: total,
                        sent,
                        reason: e.to_string(),
                    };
                    return (Err(error), Some(e));
                }
            };
            match &r.result {
                FinalResult::Ok => match info(&r.lines, "+CMGS").and_then(|v| {
                    v.split(',')
                        .next()
                        .and_then(|mr| mr.trim().parse::<u16>().ok())
                }) {
                    // TP-MR is one octet; a modem counting past 255 means it modulo 256.
                    Some(mr) => sent.push((mr % 256) as u8),
                    None => {
                        tracing::warn!(modem = %self.name(), lines = ?r.lines, "part {number}/{total} sent without +CMGS: <mr>")
                    }
                },
                FinalResult::Timeout => {
                    tracing::warn!(modem = %self.name(), to = %request.to, "part {number}/{total}: AT+CMGS timed out");
                    return (
                        Err(SendError::Timeout {
                            part: number,
                            parts: total,
                            sent,
                        }),
                        None,
                    );
                }
                other => {
                    let code = match other {
                        FinalResult::CmsError(c) | FinalResult::CmeError(c) => c.numeric(),
                        _ => None,
                    };
                    tracing::warn!(modem = %self.name(), to = %request.to, result = %other, "part {number}/{total} refused");
                    return (
                        Err(SendError::Rejected {
                            part: number,
                            parts: total,
                            code,
                            result: other.describe(),
                            sent,
                        }),
                        None,
                    );
                }
            }
        }
        tracing::info!(modem = %self.name(), to = %request.to, parts = total, references = ?sent, "sent");
        (
            Ok(SendReceipt {
                message_references: sent,
                parts: total,
            }),
            None,
        )
    }

    /// Sends `AT+CUSD=1,"<code>",15`; the reply may be among the response lines (before
    /// `OK`) or come later as a URC, which [`Session::ussd_line`] takes.
    async fn start_ussd(
        &mut self,
        code: String,
        reply: oneshot::Sender<Result<UssdReply, UssdError>>,
    ) -> Result<(), LinkError> {
        if self.ussd.is_some() {
            let _ = reply.send(Err(UssdError::Busy));
            return Ok(());
        }
        self.ussd = Some(PendingUssd {
            reply,
            deadline: Instant::now() + self.config.ussd_timeout,
            fallback: None,
        });
        let command = cmd(format!("AT+CUSD=1,\"{code}\",15")).timeout(self.config.ussd_timeout);
        let r = match self.run(command).await {
            Ok(r) => r,
            Err(e) => {
                self.finish_ussd(Err(UssdError::ConnectionLost(e.to_string())))
                    .await?;
                return Err(e);
            }
        };
        if !r.is_ok() {
            let why = r.result.describe();
            return self.finish_ussd(Err(UssdError::Refused(why))).await;
        }
        for line in &r.lines {
            if parse_cusd(line).is_some() {
                self.ussd_line(line).await?;
            }
        }
        Ok(())
    }

    /// A `+CUSD` line, solicited or not.
    async fn ussd_line(&mut self, line: &str) -> Result<(), LinkError> {
        let Some(cusd) = parse_cusd(line) else {
            tracing::warn!(modem = %self.name(), %line, "malformed +CUSD");
            return Ok(());
        };
        let Some(pending) = self.ussd.as_mut() else {
            tracing::info!(modem = %self.name(), %line, "unsolicited USSD");
            return Ok(());
        };
        if matches!(cusd.mode, 0 | 1) {
            return self.finish_ussd(Ok(cusd_reply(cusd))).await;
        }
        // 2-5: a better line may follow at once ("Initiating Release" then the reply).
        pending.fallback = Some(cusd);
        pending.deadline = pending.deadline.min(Instant::now() + USSD_GRACE);
        Ok(())
    }

    async fn ussd_deadline(&mut self) -> Result<(), LinkError> {
        let Some(pending) = self.ussd.as_mut() else {
            return Ok(());
        };
        let outcome = match pending.fallback.take() {
            Some(cusd) if cusd.mode == 2 && cusd.raw.is_some() => Ok(cusd_reply(cusd)),
            Some(cusd) => Err(UssdError::Network {
                mode: cusd.mode,
                meaning: cusd_mode_meaning(cusd.mode).to_string(),
            }),
            None => Err(UssdError::Timeout),
        };
        if matches!(outcome, Err(UssdError::Timeout)) {
            // Close whatever the network may still have open.
            self.optional("AT+CUSD=2").await?;
        }
        self.finish_ussd(outcome).await
    }

    async fn finish_ussd(
        &mut self,
        outcome: Result<UssdReply, UssdError>,
    ) -> Result<(), LinkError> {
        let Some(pending) = self.ussd.take() else {
            return Ok(());
        };
        let open_session = matches!(&outcome, Ok(r) if r.mode == 1);
        match &outcome {
            Ok(r) => tracing::info!(modem = %self.name(), text = %r.text, "USSD reply"),
            Err(e) => tracing::warn!(modem = %self.name(), "USSD failed: {e}"),
        }
        let _ = pending.reply.send(outcome);
        if open_session {
            // The network waits for an answer we will not give: release the session
            // so that the next code is not refused.
            self.optional("AT+CUSD=2").await?;
        }
        Ok(())
    }
}

fn cusd_reply(cusd: CusdLine) -> UssdReply {
    let raw = cusd.raw.unwrap_or_default();
    let (text, encoding) = decode_ussd(&raw, cusd.dcs);
    UssdReply {
        mode: cusd.mode,
        text,
        dcs: cusd.dcs,
        encoding,
        raw,
    }
}

/// Whether a `+CREG`/`+CGREG`/`+CEREG` `<stat>` (TS 27.007 §7.2) is registered, and if so
/// whether roaming: 1 home, 5 roaming, and on LTE 6/7 "SMS only" (home/roaming) and 9/10
/// "CSFB not preferred" (home/roaming), which all carry SMS. 0 idle, 2 searching,
/// 3 denied, 4 unknown, 8 emergency only and 11 RLOS are not registered.
fn registered(stat: u8) -> Option<bool> {
    match stat {
        1 | 6 | 9 => Some(false),
        5 | 7 | 10 => Some(true),
        _ => None,
    }
}

/// ICCIDs are 18 to 22 digits, sometimes padded with `F`.
fn clean_iccid(value: &str) -> Option<String> {
    // `!ICCID: 89...`, `#CCID: 89...`: a prefix `single_value` does not know.
    let v = value.rsplit(':').next().unwrap_or(value);
    let v = v
        .trim()
        .trim_matches('"')
        .trim()
        .trim_end_matches(['F', 'f']);
    (v.len() >= 18 && v.len() <= 22 && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_only_and_csfb_not_preferred_registrations_are_registered() {
        // u-blox Toby-L2 on LTE answers `+CREG: 2,6,"8B37","0A265185",7` and sends
        // `+CREG: 6,...` (../shared/corpus/at/modemmanager-device-replies.txt): registered
        // for SMS only, which is all an SMS gateway needs.
        assert_eq!(registered(6), Some(false));
        assert_eq!(registered(7), Some(true));
        assert_eq!(registered(9), Some(false));
        assert_eq!(registered(10), Some(true));
        assert_eq!(registered(1), Some(false));
        assert_eq!(registered(5), Some(true));
        for not in [0, 2, 3, 4, 8, 11, 99] {
            assert_eq!(registered(not), None, "{not}");
        }
    }
}
