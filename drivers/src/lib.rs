//! Everything that talks to hardware or a provider. No storage, no HTTP, no users.
//!
//! # Layout
//!
//! - [`pdu`]: 3GPP TS 23.040 / TS 23.038 codec. Pure functions, bytes in and values out.
//! - [`at`]: the AT command engine, a state machine fed bytes; it frames lines, matches
//!   final result codes to the command in flight and picks out unsolicited result codes.
//! - [`modem`]: one GSM modem on a serial port (tokio-serial), driven through [`at`];
//!   hands every received PDU to its owner and deletes it only once told it is stored.
//! - [`emulator`]: a virtual modem on a pseudo-terminal that speaks the same AT dialect,
//!   used by `simgate demo` and by the tests.
//! - [`cloud`]: cloud SMS providers (Twilio, Vonage) in their own wire formats: send,
//!   number listing, webhook parsing and signature checks.
//!
//! The protocol cores ([`pdu`], [`at`]) do no I/O; the async layers around them are thin.

pub mod at;
pub mod cloud;
pub mod emulator;
pub mod modem;
pub mod pdu;
