//! CORS for browser clients: off unless origins are configured
//! (`[http] cors_origins`, `SKYNET_HTTP_CORS_ORIGINS`). A configured origin
//! may send the API's own headers (the key, an idempotency key, a resume
//! point) and read the request id and `Retry-After`; credentials
//! (cookies) are never involved, since keys travel in headers.

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The layer for `origins`, or none when the list is empty. Entries that
/// are not header values are skipped with a warning (settings are checked
/// when they load; this guards an `HttpConfig` built by hand).
pub(crate) fn layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| {
            HeaderValue::from_str(o)
                .inspect_err(
                    |_| tracing::warn!(origin = %o, "CORS origin skipped: not a header value"),
                )
                .ok()
        }))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                AUTHORIZATION,
                CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-api-key"),
                crate::request_id::X_REQUEST_ID.clone(),
            ])
            .expose_headers([crate::request_id::X_REQUEST_ID.clone(), RETRY_AFTER])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
