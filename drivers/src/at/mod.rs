//! The AT command engine: a deterministic state machine with no I/O of its own.
//!
//! # Map
//!
//! - [`engine`]: [`AtEngine`] frames bytes into lines (CR, LF, CR LF, CR CR LF; echo on or
//!   off), matches them to the one [`Command`] in flight, answers the `> ` prompt with the
//!   command's payload and Ctrl-Z, and yields [`AtEvent`]s: complete [`Response`]s,
//!   [`Urc`]s (recognised even in the middle of a response, `+CMT`/`+CDS` together with
//!   the PDU line that follows them) and lines it had to drop. Time is passed in
//!   (`Instant`), never read: timeouts are [`AtEngine::poll_timeout`] /
//!   [`AtEngine::handle_timeout`].
//! - [`errors`]: [`FinalResult`] and the standard meanings of `+CME ERROR` / `+CMS ERROR`.
//! - [`urc`]: which lines are unsolicited and what the ones we act on say.
//! - [`parse`]: total parsers for the information lines the driver reads (`+CSQ`,
//!   `+CMGL`, `+CMGR`, `+CPMS`, `+CNUM`, ...).
//!
//! How a line is classified while a command is in flight: its echo is dropped; a final
//! result code ends the command; a line named like the command's answer (`+CPIN` for
//! `AT+CPIN?`) belongs to it even if that name is also a URC; any other known URC is
//! unsolicited; everything else is an information line of the command. With no command
//! in flight every line is unsolicited (unknown ones as [`Urc::Other`]).

pub mod engine;
pub mod errors;
pub mod parse;
pub mod urc;

pub use engine::{AtEngine, AtEvent, Busy, Command, Response};
pub use errors::{cme_meaning, cms_meaning, ErrorCode, FinalResult};
pub use urc::Urc;

#[cfg(test)]
mod tests;
