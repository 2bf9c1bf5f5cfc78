//! HTTP and Socket.IO. Holds no business rules: each seed's router translates the
//! gateway's domain into that seed's shapes.
//!
//! # Layout
//!
//! - [`auth`]: argon2 passwords, JWT access/refresh tokens, API keys, the caller.
//! - [`disposms`]: the DispoSMS seed (`/api/auth`, `/api/numbers`, `/api/messages`).
//! - [`account`]: the box's own account API (`/api/account/api-keys`).
//! - [`socket`]: Socket.IO at `/socket.io/`: token auth, rooms, live events.
//! - [`admin`]: the box's own admin API (`/api/admin/...`): the emulator's inject,
//!   system notifications.
//! - [`health`]: `/api/health` and `/api/health/ready` in the NexNum seed's shape.
//! - [`metrics`]: `/api/metrics` in the Prometheus text format.
//! - [`openapi`]: `/api/openapi.json` and the Swagger UI at `/docs`, from the binary.
//! - [`limits`]: rate limits per caller and endpoint class, with `X-RateLimit-*`.
//! - [`middleware`]: body limits, no body on GET, timeouts, request logs, fallbacks.
//! - [`sms_auth`]: the SMS Auth seed (phone + one-time code), sharing `/api/auth`.
//! - [`sms_router`]: the SMS Router seed: Twilio webhooks, TwiML, reply webhooks, admin
//!   (`/api/v1/sms-router`).
//! - [`provider_webhooks`]: Vonage's inbound SMS and delivery receipts (`/api/v1/providers`).
//! - [`settings`]: [`ApiConfig`]: rate limits, CORS, body size, timeout, SMS Auth/Router.
//!
//! [`router`] composes them on one axum server.

pub mod account;
pub mod admin;
pub mod auth;
pub mod disposms;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod operator;
pub mod provider_webhooks;
pub mod settings;
pub mod sms_auth;
pub mod sms_router;
pub mod socket;
pub mod web;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::Router;
use socketioxide::SocketIo;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use auth::{AuthKeys, Caller, Claims};
use gateway::Gateway;
pub use settings::{ApiConfig, Cors, Rate, RateLimits};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    pub gateway: Gateway,
    pub auth: Arc<AuthKeys>,
    pub io: SocketIo,
    pub limiter: Arc<limits::Limiter>,
    pub config: Arc<ApiConfig>,
}

impl AppState {
    pub async fn caller(&self, claims: Claims) -> Result<Caller, String> {
        auth::resolve_caller(&self.gateway, claims).await
    }
}

/// The whole HTTP surface with the default settings and the `SIMGATE_*` environment
/// variables of [`ApiConfig::with_env`] (an invalid one is logged and ignored).
pub fn router(gateway: Gateway, auth: Arc<AuthKeys>) -> Router {
    let config = match ApiConfig::default().with_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("ignoring the API environment settings: {e}");
            ApiConfig::default()
        }
    };
    router_with(gateway, auth, config)
}

/// The whole HTTP surface. Socket.IO is layered on the same server at `/socket.io/`.
/// Must be called inside a tokio runtime (it starts the event bridges).
///
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so that
/// anonymous callers are rate-limited per IP address.
pub fn router_with(gateway: Gateway, auth: Arc<AuthKeys>, config: ApiConfig) -> Router {
    let (layer, io) = socket::layer(gateway.clone(), auth.clone());
    let limiter = limits::Limiter::new(&config.rate_limits);
    limiter.spawn_pruning();
    let state = AppState {
        gateway,
        auth,
        io,
        limiter,
        config: Arc::new(config),
    };
    socket::forward_events(state.clone());
    metrics::count_events(&state.gateway);
    let api = disposms::router()
        .merge(account::router())
        .merge(admin::router())
        .merge(health::router())
        .merge(metrics::router())
        .merge(webhooks::router())
        .merge(operator::router())
        .merge(sms_auth::router())
        .merge(sms_router::router())
        .merge(provider_webhooks::router())
        .route_layer(axum::middleware::from_fn(middleware::observe))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed);
    let mut app = Router::new()
        .nest("/api", api)
        .merge(openapi::router())
        .merge(web::router())
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::rate_limit,
        ));
    if let Some(cors) = cors_layer(&state.config.cors) {
        app = app.layer(cors);
    }
    app.with_state(state)
        .layer(layer)
        .layer(TraceLayer::new_for_http())
}

fn cors_layer(cors: &Cors) -> Option<CorsLayer> {
    if cors.allowed_origins.is_empty() {
        return None;
    }
    let origin = if cors.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let origins: Vec<HeaderValue> = cors
            .allowed_origins
            .iter()
            .filter_map(|o| match HeaderValue::from_str(o) {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::warn!("ignoring the CORS origin {o:?}: not a valid header value");
                    None
                }
            })
            .collect();
        AllowOrigin::list(origins)
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-api-key"),
            ])
            .expose_headers([
                HeaderName::from_static("x-ratelimit-limit"),
                HeaderName::from_static("x-ratelimit-remaining"),
                HeaderName::from_static("x-ratelimit-reset"),
                header::RETRY_AFTER,
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
