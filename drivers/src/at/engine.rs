//! The sans-IO AT state machine: bytes in, events and bytes to write out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::errors::{parse_final, FinalResult};
use super::urc::{
    is_hex_line, is_known_urc, line_name, opens_multiline_string, parse_urc, two_line_header, Body,
    TwoLine, Urc,
};

/// Longest line kept; longer ones are noise (a PDU line is at most 352 hex digits, a
/// UCS2 USSD reply a few hundred characters).
const MAX_LINE: usize = 4096;
/// Most information lines one command may collect (a full 255-slot `+CMGL` is 510).
const MAX_LINES: usize = 2048;
/// Most continuation lines of one multi-line `+CUSD` string.
const MAX_CONTINUATION: usize = 64;
const CTRL_Z: u8 = 0x1A;
const ESC: u8 = 0x1B;

/// A command to send. `text` is the whole command (`AT+CMGR=3`), without the CR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub text: String,
    pub timeout: Duration,
    /// Written after the modem's `> ` prompt, followed by Ctrl-Z (`AT+CMGS`).
    pub payload: Option<String>,
}

impl Command {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    pub fn new(text: impl Into<String>) -> Command {
        Command {
            text: text.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            payload: None,
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> Command {
        self.timeout = timeout;
        self
    }

    pub fn payload(mut self, payload: impl Into<String>) -> Command {
        self.payload = Some(payload.into());
        self
    }
}

/// The complete answer to one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub command: String,
    /// Information lines, without echo, empty lines and URCs.
    pub lines: Vec<String>,
    pub result: FinalResult,
}

impl Response {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// What the engine tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtEvent {
    /// The command in flight finished (or timed out).
    Response(Response),
    /// An unsolicited result code.
    Urc(Urc),
    /// A final result code with no command in flight, or a line the engine dropped
    /// (too long, too many): logged, never fatal.
    Unexpected { line: String, reason: &'static str },
}

/// `send` was called while another command is in flight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a command is already in flight: {0}")]
pub struct Busy(pub String);

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    AwaitingPrompt,
    AwaitingResult,
}

#[derive(Debug)]
struct InFlight {
    command: Command,
    /// `+CMGR` for `AT+CMGR=3`: lines with this name answer the command even when the
    /// name is also a URC (`+CPIN`, `+CREG`, `+CUSD`).
    answer_name: Option<String>,
    call: bool,
    lines: Vec<String>,
    deadline: Instant,
    phase: Phase,
}

/// A URC header waiting for the line after it.
#[derive(Debug)]
enum Pending {
    /// `+CMT`/`+CDS` waiting for its PDU (hex expected) or text line.
    Body {
        kind: TwoLine,
        header: String,
        length: Option<usize>,
        hex: bool,
    },
    /// A `+CUSD` line whose quoted string continues on the next lines.
    Continuation { text: String, lines: usize },
}

/// The AT engine. Feed it bytes with [`AtEngine::handle_input`], take events with
/// [`AtEngine::poll_event`] and bytes to write with [`AtEngine::poll_transmit`]; it never
/// reads a clock: time comes in as `now`.
#[derive(Debug, Default)]
pub struct AtEngine {
    partial: Vec<u8>,
    /// Set when the partial line overflowed: the rest of it is skipped.
    skipping: bool,
    in_flight: Option<InFlight>,
    pending: Option<Pending>,
    /// The last command sent, to drop an echo that arrives after its response.
    last_command: Option<String>,
    events: VecDeque<AtEvent>,
    transmit: VecDeque<Vec<u8>>,
}

impl AtEngine {
    pub fn new() -> AtEngine {
        AtEngine::default()
    }

    /// Whether a command is in flight.
    pub fn is_busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Starts `command`; its bytes are then in [`AtEngine::poll_transmit`].
    pub fn send(&mut self, command: Command, now: Instant) -> Result<(), Busy> {
        if let Some(current) = &self.in_flight {
            return Err(Busy(current.command.text.clone()));
        }
        let mut bytes = command.text.clone().into_bytes();
        bytes.push(b'\r');
        self.transmit.push_back(bytes);
        let answer_name = answer_name(&command.text);
        let upper = command.text.to_ascii_uppercase();
        let call = upper.starts_with("ATD") || upper == "ATA" || upper.starts_with("ATO");
        let phase = if command.payload.is_some() {
            Phase::AwaitingPrompt
        } else {
            Phase::AwaitingResult
        };
        self.last_command = Some(command.text.clone());
        self.in_flight = Some(InFlight {
            deadline: now + command.timeout,
            command,
            answer_name,
            call,
            lines: Vec::new(),
            phase,
        });
        Ok(())
    }

    /// Next bytes to write to the modem.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<AtEvent> {
        self.events.pop_front()
    }

    /// When [`AtEngine::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.as_ref().map(|f| f.deadline)
    }

    /// Ends the command in flight with [`FinalResult::Timeout`] if its deadline passed.
    /// A prompt that never came is cancelled with ESC so the modem leaves input mode.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired = matches!(&self.in_flight, Some(f) if now >= f.deadline);
        if !expired {
            return;
        }
        if let Some(flight) = self.in_flight.take() {
            if flight.phase == Phase::AwaitingPrompt {
                self.transmit.push_back(vec![ESC]);
            }
            self.events.push_back(AtEvent::Response(Response {
                command: flight.command.text,
                lines: flight.lines,
                result: FinalResult::Timeout,
            }));
        }
    }

    /// Feeds bytes read from the modem, in any split.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            match byte {
                b'\r' | b'\n' => {
                    if !self.skipping {
                        let line = std::mem::take(&mut self.partial);
                        self.handle_line(&line);
                    }
                    self.partial.clear();
                    self.skipping = false;
                }
                // The echo of our own Ctrl-Z after a PDU, or NUL noise: never part of a line.
                CTRL_Z | 0 => {}
                _ if self.skipping => {}
                _ => {
                    self.partial.push(byte);
                    if self.partial.len() > MAX_LINE {
                        self.partial.clear();
                        self.skipping = true;
                        self.events.push_back(AtEvent::Unexpected {
                            line: String::new(),
                            reason: "line longer than 4096 bytes dropped",
                        });
                    } else {
                        self.check_prompt();
                    }
                }
            }
        }
    }

    /// The `> ` prompt has no line end: recognise it as soon as it is the whole partial
    /// line while a prompt is awaited.
    fn check_prompt(&mut self) {
        let Some(flight) = &mut self.in_flight else {
            return;
        };
        if flight.phase != Phase::AwaitingPrompt || self.partial.trim_ascii() != b">" {
            return;
        }
        self.partial.clear();
        flight.phase = Phase::AwaitingResult;
        let mut bytes = flight
            .command
            .payload
            .clone()
            .unwrap_or_default()
            .into_bytes();
        bytes.push(CTRL_Z);
        self.transmit.push_back(bytes);
    }

    fn handle_line(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let line = text.trim();
        if line.is_empty() {
            return;
        }
        match self.pending.take() {
            Some(Pending::Body {
                kind,
                header,
                length,
                hex,
            }) => {
                if !hex || is_hex_line(line) {
                    let body = line.to_string();
                    self.events.push_back(AtEvent::Urc(match kind {
                        TwoLine::Cmt => Urc::Message {
                            header,
                            length,
                            body,
                        },
                        TwoLine::Cds => Urc::StatusReport {
                            header,
                            length,
                            body,
                        },
                    }));
                    return;
                }
                self.events.push_back(AtEvent::Urc(Urc::Malformed {
                    line: header,
                    reason: "PDU line after the header is not hex",
                }));
                // The line itself is something else: classify it normally below.
            }
            Some(Pending::Continuation { mut text, lines }) => {
                text.push('\n');
                text.push_str(line);
                if line.contains('"') || lines + 1 >= MAX_CONTINUATION {
                    self.classify(&text);
                } else {
                    self.pending = Some(Pending::Continuation {
                        text,
                        lines: lines + 1,
                    });
                }
                return;
            }
            None => {}
        }
        if opens_multiline_string(line) {
            self.pending = Some(Pending::Continuation {
                text: line.to_string(),
                lines: 0,
            });
            return;
        }
        self.classify(line);
    }

    /// Decides what one complete logical line is.
    fn classify(&mut self, line: &str) {
        if let Some(flight) = &mut self.in_flight {
            if is_echo(line, &flight.command) {
                return;
            }
            if let Some(result) = parse_final(line, flight.call) {
                if let Some(flight) = self.in_flight.take() {
                    self.events.push_back(AtEvent::Response(Response {
                        command: flight.command.text,
                        lines: flight.lines,
                        result,
                    }));
                }
                return;
            }
            let answers = flight
                .answer_name
                .as_deref()
                .is_some_and(|name| line_name(line).eq_ignore_ascii_case(name));
            if !answers && is_known_urc(line) {
                self.unsolicited(line);
                return;
            }
            if flight.lines.len() >= MAX_LINES {
                self.events.push_back(AtEvent::Unexpected {
                    line: line.to_string(),
                    reason: "too many lines in one response; dropped",
                });
            } else {
                flight.lines.push(line.to_string());
            }
            return;
        }
        if self
            .last_command
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(line))
        {
            // A late echo of a command that has already finished.
            return;
        }
        if parse_final(line, false).is_some() {
            self.events.push_back(AtEvent::Unexpected {
                line: line.to_string(),
                reason: "final result code with no command in flight",
            });
            return;
        }
        self.unsolicited(line);
    }

    fn unsolicited(&mut self, line: &str) {
        if let Some((kind, body)) = two_line_header(line) {
            match body {
                Body::Pdu(length) => {
                    self.pending = Some(Pending::Body {
                        kind,
                        header: line.to_string(),
                        length,
                        hex: true,
                    })
                }
                Body::Text => {
                    self.pending = Some(Pending::Body {
                        kind,
                        header: line.to_string(),
                        length: None,
                        hex: false,
                    })
                }
                Body::None => self.events.push_back(AtEvent::Urc(Urc::StatusReport {
                    header: line.to_string(),
                    length: None,
                    body: String::new(),
                })),
            }
            return;
        }
        let known = is_known_urc(line);
        self.events.push_back(AtEvent::Urc(parse_urc(line, known)));
    }
}

/// The name of the information lines that answer `text`: `+CMGR` for `AT+CMGR=3`,
/// `^ICCID` for `AT^ICCID?`; `None` for basic commands (`ATI`, `ATE0`).
fn answer_name(text: &str) -> Option<String> {
    let rest = text.get(2..)?;
    if !text.get(..2)?.eq_ignore_ascii_case("AT") {
        return None;
    }
    let first = rest.chars().next()?;
    if !matches!(first, '+' | '^' | '$' | '*' | '%' | '#') {
        return None;
    }
    let end = rest.find(['=', '?', ';']).unwrap_or(rest.len());
    Some(rest[..end].to_ascii_uppercase())
}

/// Whether `line` echoes the command (or its PDU payload) back.
fn is_echo(line: &str, command: &Command) -> bool {
    line.eq_ignore_ascii_case(command.text.trim())
        || command
            .payload
            .as_deref()
            .is_some_and(|p| line.eq_ignore_ascii_case(p.trim()))
}
