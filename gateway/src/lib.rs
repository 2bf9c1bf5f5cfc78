//! The engine between the drivers and the APIs. Knows nothing of HTTP.
//!
//! # Layout
//!
//! - [`otp`]: verification-code extraction and message classification. Pure, no I/O.
pub mod otp;
