//! Request ids without a system call per request: a random prefix drawn
//! once per router plus a counter, unique across restarts and processes.

use axum::http::{HeaderName, HeaderValue, Request};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The request id header, parsed once.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes `x-request-id` values `<16 random hex digits>-<counter>`.
#[derive(Clone)]
pub(crate) struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let random = uuid::Uuid::new_v4().as_u64_pair().0;
        RequestIds {
            prefix: format!("{random:016x}").into(),
            next: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}
