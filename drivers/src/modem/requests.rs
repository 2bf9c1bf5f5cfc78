//! What an owner asks of a modem (send an SMS, run a USSD code) and the answers.

use serde::Serialize;
use tokio::sync::oneshot;

use super::ModemState;
use crate::at::parse::UssdEncoding;
use crate::pdu;

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// `+12025550123`, or national digits as the network accepts them.
    pub to: String,
    pub text: String,
    /// Ask the network for a status report (TP-SRR): it comes back as
    /// [`super::ModemEvent::StatusReport`] with one of the receipt's references.
    pub status_report: bool,
    /// TP-VP; `None` leaves the service centre's default.
    pub validity: Option<pdu::Validity>,
    /// Concatenation reference shared by the parts of a long text (8-bit IE below 256).
    pub reference: u16,
}

/// What the modem answered for a sent SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendReceipt {
    /// TP-MR of each part from `+CMGS: <mr>`, in part order; status reports carry them.
    /// A part the modem accepted without a `+CMGS` line (logged) has no entry.
    pub message_references: Vec<u8>,
    pub parts: usize,
}

/// Why a send failed. `part` counts from 1; `sent` holds the references of the parts
/// the network had already accepted (a retry elsewhere repeats them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The number or text cannot be encoded: no channel can send it.
    #[error("cannot encode the message: {0}")]
    Encode(String),
    /// The modem is not ready (connecting, no SIM, not registered...).
    #[error("modem {modem} is not ready to send ({state:?})")]
    NotReady { modem: String, state: ModemState },
    /// The modem or network refused a part (`+CMS ERROR`, `+CME ERROR`, `ERROR`).
    #[error("part {part} of {parts} refused: {result}")]
    Rejected {
        part: usize,
        parts: usize,
        /// The numeric `+CMS`/`+CME` code, when there was one.
        code: Option<u16>,
        /// The final result code with its standard meaning
        /// (`+CMS ERROR: 38 (network out of order)`).
        result: String,
        sent: Vec<u8>,
    },
    /// No final result in time: the part may or may not have gone out.
    #[error("part {part} of {parts}: no answer from the modem in time (it may have been sent)")]
    Timeout {
        part: usize,
        parts: usize,
        sent: Vec<u8>,
    },
    /// The port failed during the send.
    #[error("part {part} of {parts}: connection to the modem lost ({reason})")]
    ConnectionLost {
        part: usize,
        parts: usize,
        sent: Vec<u8>,
        reason: String,
    },
    /// The modem task has stopped.
    #[error("the modem task has stopped")]
    Stopped,
}

impl SendError {
    /// Whether trying the same message on another channel makes sense: not when the
    /// message or its recipient is at fault (bad number, unsupported content, barred
    /// destination), yes when this SIM, modem or its network is (out of order, no
    /// service, SIM barred or out of credit, unknown errors, timeouts).
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Encode(_) => false,
            SendError::Rejected { code: Some(c), .. } => !message_at_fault(*c),
            _ => true,
        }
    }

    /// References of the parts already accepted before the failure.
    pub fn sent_references(&self) -> &[u8] {
        match self {
            SendError::Rejected { sent, .. }
            | SendError::Timeout { sent, .. }
            | SendError::ConnectionLost { sent, .. } => sent,
            _ => &[],
        }
    }
}

/// `+CMS ERROR` codes (TS 24.011 §E.2 RP causes, TS 23.040 §9.2.3.22 TP-FCS, TS 27.005
/// §3.2.5) that blame the message or the recipient, so another channel fails alike.
fn message_at_fault(code: u16) -> bool {
    matches!(
        code,
        1       // unassigned (unallocated) number
        | 28    // unidentified subscriber
        | 95..=99 // invalid / unknown message
        | 0x80..=0xBF // TP-PID, TP-DCS and TPDU errors
        | 0xC3  // invalid SME address
        | 0xC4  // destination SME barred
        | 0xC5  // SM rejected: duplicate
        | 304   // invalid PDU mode parameter
        | 305 // invalid text mode parameter
    )
}

/// A USSD reply, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UssdReply {
    /// `<m>` of the `+CUSD` line: 0 done, 1 the network waits for an answer (the
    /// driver closes the session with `AT+CUSD=2`), 2 terminated by the network.
    pub mode: u8,
    pub text: String,
    pub dcs: Option<u8>,
    pub encoding: UssdEncoding,
    /// `<str>` as the modem sent it.
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UssdError {
    #[error("not a USSD code: {0:?} (digits, * and # only)")]
    InvalidCode(String),
    #[error("modem {modem} is not ready ({state:?})")]
    NotReady { modem: String, state: ModemState },
    #[error("another USSD request is in progress")]
    Busy,
    /// The modem refused `AT+CUSD` (Huawei with `^USSDMODE=1` answers `ERROR`).
    #[error("the modem refused the USSD request: {0}")]
    Refused(String),
    /// `+CUSD: 2` without text, 3, 4 or 5.
    #[error("USSD failed: {meaning} (+CUSD: {mode})")]
    Network { mode: u8, meaning: String },
    #[error("no USSD reply in time")]
    Timeout,
    #[error("connection to the modem lost ({0})")]
    ConnectionLost(String),
    #[error("the modem task has stopped")]
    Stopped,
}

/// Requests travelling from a handle to its modem task.
#[derive(Debug)]
pub(crate) enum Request {
    Send(SendRequest, oneshot::Sender<Result<SendReceipt, SendError>>),
    Ussd(String, oneshot::Sender<Result<UssdReply, UssdError>>),
}
