//! Rate limits per caller and per endpoint class (governor's GCRA, keyed).
//!
//! The caller is the user of a valid access token (`u:<id>`), an API key (`k:<hash
//! prefix>`), or else the client's IP address (`ip:<addr>`, which needs the server to
//! be run with `into_make_service_with_connect_info::<SocketAddr>()`; without it every
//! anonymous client shares one bucket). The class is `auth` for `/api/auth/...`,
//! `read` for GET/HEAD/OPTIONS and `write` for the rest.
//!
//! Every limited response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (Unix time, in seconds, when the caller's bucket is full again);
//! a refused one is 429 `RATE_LIMIT_EXCEEDED` in the DispoSMS envelope with
//! `Retry-After`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde_json::json;

use crate::auth::{api_key, api_key_hash, bearer};
use crate::disposms::error::{Code, DispoError};
use crate::disposms::extract::VerifiedClaims;
use crate::settings::{Rate, RateLimits};
use crate::AppState;

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Auth,
    Read,
    Write,
}

impl Class {
    pub fn of(method: &Method, path: &str) -> Class {
        if path.starts_with("/api/auth/") {
            Class::Auth
        } else if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            Class::Read
        } else {
            Class::Write
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Auth => "auth",
            Class::Read => "read",
            Class::Write => "write",
        }
    }
}

struct Bucket {
    rate: Rate,
    limiter: Keyed,
}

impl Bucket {
    fn new(rate: Rate) -> Bucket {
        let requests = std::num::NonZeroU32::new(rate.requests.max(1)).unwrap_or(nonzero_one());
        let per_cell =
            Duration::from_secs_f64(f64::from(rate.window_secs.max(1)) / f64::from(requests.get()))
                .max(Duration::from_nanos(1));
        let quota = Quota::with_period(per_cell)
            .unwrap_or_else(|| Quota::per_second(requests))
            .allow_burst(requests);
        Bucket {
            rate,
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
        }
    }
}

fn nonzero_one() -> std::num::NonZeroU32 {
    std::num::NonZeroU32::MIN
}

/// The three buckets, or none when limits are off.
pub struct Limiter {
    buckets: Option<[Bucket; 3]>,
    clock: DefaultClock,
}

/// The verdict for one request.
pub enum Verdict {
    Allowed {
        limit: u32,
        remaining: u32,
        reset_in: Duration,
    },
    Refused {
        limit: u32,
        retry_in: Duration,
    },
}

impl Limiter {
    pub fn new(limits: &RateLimits) -> Arc<Limiter> {
        Arc::new(Limiter {
            buckets: limits.enabled.then(|| {
                [
                    Bucket::new(limits.auth),
                    Bucket::new(limits.read),
                    Bucket::new(limits.write),
                ]
            }),
            clock: DefaultClock::default(),
        })
    }

    pub fn check(&self, class: Class, key: &str) -> Option<Verdict> {
        let buckets = self.buckets.as_ref()?;
        let bucket = &buckets[class as usize];
        let limit = bucket.rate.requests;
        let key = key.to_string();
        Some(match bucket.limiter.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let per_cell = snapshot.quota().replenish_interval();
                let reset_in = per_cell * limit.saturating_sub(remaining);
                Verdict::Allowed {
                    limit,
                    remaining,
                    reset_in,
                }
            }
            Err(not_until) => Verdict::Refused {
                limit,
                retry_in: not_until.wait_time_from(self.clock.now()),
            },
        })
    }

    /// Forgets callers whose buckets are full again (keeps the key table small).
    pub fn retain_recent(&self) {
        if let Some(buckets) = &self.buckets {
            for b in buckets {
                b.limiter.retain_recent();
                b.limiter.shrink_to_fit();
            }
        }
    }

    /// Prunes the key tables every minute for the life of the server.
    pub fn spawn_pruning(self: &Arc<Self>) {
        if self.buckets.is_none() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(l) => l.retain_recent(),
                    None => break,
                }
            }
        });
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn set_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset_in: Duration) {
    let reset = unix_now() + ceil_secs(reset_in);
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
}

/// Who the request counts against. A valid access token is verified here once and
/// handed on to the `Auth` extractor.
fn caller_key(state: &AppState, req: &mut Request) -> String {
    if let Some(key) = api_key(req.headers()) {
        let hash = api_key_hash(key);
        return format!("k:{}", &hash[..16]);
    }
    if let Some(token) = bearer(req.headers()) {
        if let Ok(claims) = state.auth.verify(token, "access") {
            let key = format!("u:{}", claims.sub);
            req.extensions_mut().insert(VerifiedClaims(claims));
            return key;
        }
    }
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
        None => "ip:unknown".into(),
    }
}

/// The middleware: counts the request against its caller's bucket of its class.
pub async fn rate_limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let class = Class::of(req.method(), req.uri().path());
    let key = caller_key(&state, &mut req);
    match state.limiter.check(class, &key) {
        None => next.run(req).await,
        Some(Verdict::Allowed {
            limit,
            remaining,
            reset_in,
        }) => {
            let mut resp = next.run(req).await;
            set_headers(resp.headers_mut(), limit, remaining, reset_in);
            resp
        }
        Some(Verdict::Refused { limit, retry_in }) => {
            let wait = ceil_secs(retry_in).max(1);
            metrics::counter!("simgate_http_rate_limited_total", "class" => class.as_str())
                .increment(1);
            let mut resp = DispoError::new(
                Code::RateLimited,
                format!(
                    "Too many {} requests: try again in {wait} s",
                    class.as_str()
                ),
            )
            .with_details(json!({
                "class": class.as_str(),
                "limit": limit,
                "retry_after": wait,
            }))
            .into_response();
            set_headers(resp.headers_mut(), limit, 0, retry_in);
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(wait));
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_path_and_method() {
        assert_eq!(Class::of(&Method::POST, "/api/auth/login"), Class::Auth);
        assert_eq!(Class::of(&Method::GET, "/api/auth/profile"), Class::Auth);
        assert_eq!(Class::of(&Method::GET, "/api/messages"), Class::Read);
        assert_eq!(
            Class::of(&Method::PATCH, "/api/messages/read-all"),
            Class::Write
        );
    }

    #[test]
    fn a_bucket_refuses_past_its_limit_and_counts_down() {
        let limits = RateLimits {
            enabled: true,
            auth: Rate::new(2, 60),
            read: Rate::new(3, 60),
            write: Rate::new(1, 60),
        };
        let l = Limiter::new(&limits);
        let remaining: Vec<u32> = (0..3)
            .map(|_| match l.check(Class::Read, "u:1") {
                Some(Verdict::Allowed { remaining, .. }) => remaining,
                _ => panic!("allowed"),
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        match l.check(Class::Read, "u:1") {
            Some(Verdict::Refused { limit, retry_in }) => {
                assert_eq!(limit, 3);
                assert!(retry_in > Duration::from_secs(1) && retry_in <= Duration::from_secs(20));
            }
            _ => panic!("refused"),
        }
        // Another caller and another class have their own buckets.
        assert!(matches!(
            l.check(Class::Read, "u:2"),
            Some(Verdict::Allowed { .. })
        ));
        assert!(matches!(
            l.check(Class::Write, "u:1"),
            Some(Verdict::Allowed { .. })
        ));
        let off = Limiter::new(&RateLimits {
            enabled: false,
            ..limits
        });
        assert!(off.check(Class::Read, "u:1").is_none());
    }
}
