//! The modem task: connect, initialise, receive, reconnect.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::MissedTickBehavior;

use super::link::{Link, LinkError};
use super::{
    ModemConfig, ModemEvent, ModemState, ModemStatus, PduSource, ReceivedPdu, StoreOutcome,
};
use crate::at::parse::{
    csq_to_dbm, dbm_to_bars, message_type_indicator, parse_cmgl, parse_cmgr, parse_cnum,
    parse_cops, parse_cpin, parse_cpms, parse_creg, parse_csq, single_value, tpdu_len_of, PinState,
    StoredPdu,
};
use crate::at::{Command, FinalResult, Response, Urc};

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
            ended = session(&config, &events, &reporter, &mut memory) => ended,
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
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped(&mut stop) => break,
        }
        backoff = (backoff * 2).min(config.reconnect_max);
    }
    reporter.state(ModemState::Stopped, None);
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
type Ack = (PduSource, Option<StoreOutcome>);

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
}

async fn session(
    config: &ModemConfig,
    events: &mpsc::Sender<ModemEvent>,
    reporter: &Reporter,
    memory: &mut Memory,
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
        self.link.write_raw(b"\x1b\r").await?;
        let mut alive = false;
        for _ in 0..5 {
            let r = self
                .run(cmd("AT").timeout(Duration::from_millis(1500)))
                .await;
            match r {
                Ok(r) if r.is_ok() => {
                    alive = true;
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
        for extra in self.config.init_commands.clone() {
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
        if self.config.ack_direct {
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

    async fn select_storage(&mut self) -> Result<(), LinkError> {
        let m = self.config.storage.clone();
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
        tried.extend(CNMI_FALLBACKS.iter().map(|s| s.to_string()));
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
        let manufacturer = value(self.optional("AT+CGMI").await?);
        let model = value(self.optional("AT+CGMM").await?);
        let revision = value(self.optional("AT+CGMR").await?);
        let imei = value(self.optional("AT+CGSN").await?);
        let imsi = value(self.optional("AT+CIMI").await?);
        let mut iccid = None;
        for text in ["AT+CCID", "AT^ICCID?", "AT+QCCID", "AT+ICCID"] {
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
            s.manufacturer = manufacturer;
            s.model = model;
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
            s.roaming = stat.map(|st| st == 5);
            // Unknown registration (no +CREG support) does not hold back receiving.
            s.state = match stat {
                Some(1 | 5) | None => ModemState::Ready,
                Some(_) => ModemState::NotRegistered,
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
            tokio::select! {
                read = self.link.idle_read() => read?,
                Some(ack) = self.ack_rx.recv() => self.handle_ack(ack).await?,
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
                tracing::info!(modem = %self.name(), %storage, index, "status report stored (not handled yet)");
            }
            Urc::StatusReport { header, .. } => {
                tracing::info!(modem = %self.name(), %header, "status report (not handled yet)");
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
            Urc::Ussd { line } => tracing::info!(modem = %self.name(), %line, "USSD"),
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

    async fn sweep(&mut self) -> Result<(), LinkError> {
        let storage = self.config.storage.clone();
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

    /// Hands a stored message over if it is a received SMS-DELIVER; sent messages and
    /// status reports stay where they are.
    async fn offer(&mut self, storage: &str, stored: StoredPdu) {
        if matches!(stored.stat, Some(2 | 3)) {
            return;
        }
        match message_type_indicator(&stored.hex) {
            Some(0) => {}
            other => {
                tracing::debug!(modem = %self.name(), index = stored.index, mti = ?other, "not an SMS-DELIVER; left in storage");
                return;
            }
        }
        let source = PduSource::Sim {
            storage: storage.to_string(),
            index: stored.index,
        };
        self.awaiting.insert((storage.to_string(), stored.index));
        self.hand_over(stored.hex, stored.length, source).await;
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
        let acks = self.ack_tx.clone();
        tokio::spawn(async move {
            let outcome = answer.await.ok();
            // The session may be gone (reconnect): then nothing is deleted, by design.
            let _ = acks.send((source, outcome));
        });
    }

    async fn handle_ack(&mut self, (source, outcome): Ack) -> Result<(), LinkError> {
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
                tracing::warn!(modem = %self.name(), %storage, index, "not stored ({why}); kept on the SIM for the next sweep");
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
                tracing::warn!(modem = %self.name(), ?outcome, "direct message not stored; not acknowledged");
            }
        }
        Ok(())
    }
}

/// ICCIDs are 18 to 22 digits, sometimes padded with `F`.
fn clean_iccid(value: &str) -> Option<String> {
    let v = value.trim().trim_end_matches(['F', 'f']);
    (v.len() >= 18 && v.len() <= 22 && v.bytes().all(|b| b.is_ascii_digit())).then(|| v.to_string())
}
