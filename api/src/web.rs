//! The operator's web UI (`web/` at the workspace root), embedded into the binary at
//! build time and served at `/`. Nothing loads from elsewhere: no CDN, no fonts.
//!
//! - Every file has a strong `ETag` (its SHA-256) and `Cache-Control: no-cache`, so a
//!   browser revalidates and gets `304 Not Modified` until the binary changes.
//! - Text files are gzipped once, on first use, and sent gzipped to clients that
//!   accept it (`Vary: Accept-Encoding`).
//! - A path without a file extension that is not a file (`/inbox`, `/numbers`) is a
//!   client-side route: it gets `index.html`. A missing file with an extension is 404.
//! - `index.html` carries a Content-Security-Policy that lets the page reach only the
//!   box itself.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::AppState;

#[derive(rust_embed::Embed)]
#[folder = "../web/"]
struct Files;

struct Asset {
    body: Vec<u8>,
    gzip: Option<Vec<u8>>,
    mime: String,
    etag: String,
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self' ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime.contains("javascript")
        || mime.contains("json")
        || mime.contains("svg")
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    let out = enc.finish().ok()?;
    (out.len() + 64 < data.len()).then_some(out)
}

fn assets() -> &'static HashMap<String, Asset> {
    static ASSETS: OnceLock<HashMap<String, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        Files::iter()
            .filter(|name| !name.ends_with(".md"))
            .filter_map(|name| {
                let file = Files::get(&name)?;
                let mime = file.metadata.mimetype().to_string();
                let mime = if mime.starts_with("text/") || mime.contains("javascript") {
                    format!("{mime}; charset=utf-8")
                } else {
                    mime
                };
                let body = file.data.into_owned();
                let gzip = compressible(&mime).then(|| gzip(&body)).flatten();
                let etag = hex::encode(&file.metadata.sha256_hash()[..12]);
                Some((
                    name.to_string(),
                    Asset {
                        body,
                        gzip,
                        mime,
                        etag,
                    },
                ))
            })
            .collect()
    })
}

/// The UI's files as a fallback of the whole server: whatever no other route took.
pub fn router() -> Router<AppState> {
    Router::new().fallback(serve)
}

/// The names and gzipped sizes of the embedded files (for budgets and tests).
pub fn asset_sizes() -> Vec<(String, usize, usize)> {
    let mut v: Vec<_> = assets()
        .iter()
        .map(|(name, a)| {
            (
                name.clone(),
                a.body.len(),
                a.gzip.as_ref().map_or(a.body.len(), Vec::len),
            )
        })
        .collect();
    v.sort();
    v
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.trim().split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag || t.strip_suffix("-gz") == Some(etag))
}

async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed").into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let path = uri.path().trim_start_matches('/');
    let files = assets();
    let (name, asset) = match files.get(path) {
        Some(a) if !path.is_empty() => (path, a),
        _ => {
            let last = path.rsplit('/').next().unwrap_or("");
            if last.contains('.') {
                return (StatusCode::NOT_FOUND, "Not found").into_response();
            }
            match files.get("index.html") {
                Some(a) => ("index.html", a),
                None => {
                    return (StatusCode::NOT_FOUND, "The web UI is not built in").into_response()
                }
            }
        }
    };
    let gz = asset.gzip.as_ref().filter(|_| accepts_gzip(&headers));
    let etag = if gz.is_some() {
        format!("\"{}-gz\"", asset.etag)
    } else {
        format!("\"{}\"", asset.etag)
    };
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::VARY, "Accept-Encoding")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if name == "index.html" {
        builder = builder
            .header(header::CONTENT_SECURITY_POLICY, CSP)
            .header(header::REFERRER_POLICY, "no-referrer");
    }
    if etag_matches(&headers, &asset.etag) {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::NOT_MODIFIED.into_response());
    }
    builder = builder.header(header::CONTENT_TYPE, &asset.mime);
    let body = match gz {
        Some(g) => {
            builder = builder.header(header::CONTENT_ENCODING, "gzip");
            g.clone()
        }
        None => asset.body.clone(),
    };
    builder
        .status(StatusCode::OK)
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ui_is_embedded_and_within_its_budget() {
        let sizes = asset_sizes();
        assert!(sizes.iter().any(|(n, _, _)| n == "index.html"), "{sizes:?}");
        assert!(!sizes.iter().any(|(n, _, _)| n.ends_with(".md")));
        let total: usize = sizes.iter().map(|(_, _, gz)| gz).sum();
        assert!(total < 300 * 1024, "the UI weighs {total} bytes gzipped");
    }

    #[test]
    fn accept_encoding_and_if_none_match_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("W/\"abc-gz\", \"x\""),
        );
        assert!(etag_matches(&h, "abc"));
        assert!(!etag_matches(&h, "ab"));
    }
}
