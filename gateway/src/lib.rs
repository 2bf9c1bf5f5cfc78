//! The engine between the drivers and the APIs. Knows nothing of HTTP.
//!
//! # Layout
//!
//! - [`store`]: SQLite (WAL) with one writer thread doing group commits, and readers.
//! - [`model`]: the records the store returns (users, numbers, assignments, messages).
//! - [`inbound`]: a received PDU becomes a stored, classified, routed message.
//! - [`inbound_text`]: provider-delivered texts (Twilio) once per id; SMS Router tables.
//! - [`outbound`]: the send queue, channel choice with failover, delivery status.
//! - [`otp`]: verification-code extraction and message classification. Pure, no I/O.
//! - [`phone_auth`]: phone + one-time-code sign-in: E.164, hashed codes, limits.
//! - [`numbers`]: the number pool, leases (assignments) and their expiry.
//! - [`leases`]: extending and releasing a lease, checked against its owner.
//! - [`messages`]: listing and marking messages.
//! - [`users`]: users and refresh-token families.
//! - [`api_keys`]: hashed API keys for server-to-server clients.
//! - [`events`]: events written with the change they report, then fanned out live.
//! - [`scheduler`]: lease expiry and the incomplete-message timeout, on time.
//! - [`mqtt`]: events out to an MQTT broker (QoS 1, no loss), send requests in.
//! - [`webhooks`]: signed HTTP deliveries of events, retried, in order per webhook.
//! - [`providers`]: Twilio and Vonage accounts as send channels, the circuit breaker,
//!   channel health.
//! - [`channels`]: runs modem drivers and emulators and feeds their PDUs to [`inbound`].
//! - [`time`]: the timestamp format every API and table uses.
//!
//! The central type is [`Gateway`]: a cheap handle over the store and the event bus.

pub mod api_keys;
pub mod channels;
pub mod events;
pub mod inbound;
pub mod inbound_text;
pub mod leases;
pub mod messages;
pub mod model;
pub mod mqtt;
pub mod numbers;
pub mod otp;
pub mod outbound;
pub mod phone_auth;
pub mod providers;
pub mod scheduler;
pub mod stats;
pub mod store;
pub mod time;
pub mod users;
pub mod webhooks;

use std::path::Path;
use std::sync::Arc;

pub use events::{Event, EventBus};
pub use store::{Store, StoreError};

/// Errors of the domain, which each API maps to its own envelope.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotAvailable(String),
    #[error("{0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for GatewayError {
    fn from(e: rusqlite::Error) -> Self {
        GatewayError::Store(StoreError::Sqlite(e))
    }
}

pub type GatewayResult<T> = Result<T, GatewayError>;

/// The engine: storage, event bus and the live channels. Clone it freely.
#[derive(Clone)]
pub struct Gateway {
    pub(crate) store: Store,
    pub(crate) events: EventBus,
    pub(crate) channels: Arc<channels::Channels>,
    pub(crate) outbound: Arc<outbound::Outbound>,
}

impl Gateway {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> GatewayResult<Gateway> {
        Ok(Gateway {
            store: Store::open(path)?,
            events: EventBus::new(),
            channels: Arc::new(channels::Channels::default()),
            outbound: Arc::new(outbound::Outbound::default()),
        })
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}
