//! What every API request passes through besides the rate limiter: the body-size and
//! body-on-GET checks, the request timeout, a structured log line and latency metrics
//! per request, and the DispoSMS-envelope answers for unknown routes and methods.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::disposms::error::{Code, DispoError};
use crate::AppState;

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Refuses oversized bodies before reading them (413), bodies on GET and HEAD (400:
/// filters go in the query string), and ends a request that runs past the timeout
/// (503). Chunked bodies are capped by `DefaultBodyLimit` as they are read.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let max = state.config.max_body_bytes;
    let declared = content_length(req.headers());
    if declared.is_some_and(|n| n > max as u64) {
        return DispoError::new(
            Code::PayloadTooLarge,
            format!("The request body is larger than {max} bytes"),
        )
        .with_details(json!({ "max_bytes": max, "content_length": declared }))
        .into_response();
    }
    let has_body =
        declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body && matches!(*req.method(), Method::GET | Method::HEAD) {
        return DispoError::new(
            Code::Validation,
            format!(
                "A {} request takes no body: give filters in the query string",
                req.method()
            ),
        )
        .into_response();
    }
    let timeout = state.config.request_timeout();
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => DispoError::new(
            Code::Unavailable,
            format!("The request did not finish within {} s", timeout.as_secs()),
        )
        .into_response(),
    }
}

/// One structured log line and the latency histogram per routed request, labelled
/// with the route's pattern.
pub async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    metrics::histogram!(
        "simgate_http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route.clone()
    )
    .record(elapsed.as_secs_f64());
    metrics::counter!(
        "simgate_http_requests_total",
        "method" => method.to_string(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    tracing::info!(
        target: "simgate::http",
        method = %method,
        route = %route,
        status,
        latency_us = elapsed.as_micros() as u64,
        "request"
    );
    resp
}

/// Unknown paths under `/api`: 404 in the envelope.
pub async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    DispoError::new(
        Code::NotFound,
        format!("No endpoint {method} {}", uri.path()),
    )
    .into_response()
}

/// A known path with a method it does not take: 405 in the envelope.
pub async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    DispoError::new(
        Code::MethodNotAllowed,
        format!("{} does not take {method}", uri.path()),
    )
    .into_response()
}
