//! HTTP and Socket.IO. Holds no business rules: each seed's router translates the
//! gateway's domain into that seed's shapes.
//!
//! # Layout
//!
//! - [`auth`]: argon2 passwords, JWT access/refresh tokens, the bearer-token caller.
//! - [`disposms`]: the DispoSMS seed (`/api/auth`, `/api/numbers`, `/api/messages`).
//! - [`socket`]: Socket.IO at `/socket.io/`: token auth, rooms, live events.
//! - [`admin`]: the box's own admin API (`/api/admin/...`), e.g. the emulator's inject.
//! - [`health`]: `/api/health` in the NexNum seed's shape.
//!
//! [`router`] composes them on one axum server.

pub mod admin;
pub mod auth;
pub mod disposms;
pub mod health;
pub mod socket;

use std::sync::Arc;

use axum::Router;
use socketioxide::SocketIo;
use tower_http::trace::TraceLayer;

use auth::{AuthKeys, Caller, Claims};
use gateway::Gateway;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Gateway,
    pub auth: Arc<AuthKeys>,
    pub io: SocketIo,
}

impl AppState {
    pub async fn caller(&self, claims: Claims) -> Result<Caller, String> {
        auth::resolve_caller(&self.gateway, claims).await
    }
}

/// The whole HTTP surface. Socket.IO is layered on the same server at `/socket.io/`.
pub fn router(gateway: Gateway, auth: Arc<AuthKeys>) -> Router {
    let (layer, io) = socket::layer(gateway.clone(), auth.clone());
    let state = AppState { gateway, auth, io };
    socket::forward_events(state.clone());
    Router::new()
        .nest(
            "/api",
            disposms::router()
                .merge(admin::router())
                .merge(health::router()),
        )
        .with_state(state)
        .layer(layer)
        .layer(TraceLayer::new_for_http())
}
