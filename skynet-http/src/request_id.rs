//! Request ids without a system call per request: a random prefix drawn
//! once per router plus a counter, unique across restarts and processes.
//! One layer sets the id on the request (keeping one the client sent) and
//! copies it to the response.

use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tower::{Layer, Service};

/// The request id header, parsed once.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes `x-request-id` values `<16 random hex digits>-<counter in hex>`.
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

    /// The next id, written straight into one exactly sized buffer.
    fn next_id(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1) as usize;
        let mut id = Vec::with_capacity(self.prefix.len() + 1 + digits);
        id.extend_from_slice(self.prefix.as_bytes());
        id.push(b'-');
        for shift in (0..digits).rev() {
            id.push(b"0123456789abcdef"[((n >> (shift * 4)) & 0xf) as usize]);
        }
        // Length equal to capacity: `Bytes` takes the buffer as it is.
        HeaderValue::from_maybe_shared(Bytes::from(id))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

impl<S> Layer<S> for RequestIds {
    type Service = SetRequestId<S>;

    fn layer(&self, inner: S) -> SetRequestId<S> {
        SetRequestId {
            inner,
            ids: self.clone(),
        }
    }
}

/// Gives each request an `x-request-id` (unless it has one) and its
/// response the same header (unless the handler set one).
#[derive(Clone)]
pub(crate) struct SetRequestId<S> {
    inner: S,
    ids: RequestIds,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SetRequestId<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Unpin,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = WithRequestId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let id = match req.headers().get(&X_REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = self.ids.next_id();
                req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
                id
            }
        };
        WithRequestId {
            inner: self.inner.call(req),
            id: Some(id),
        }
    }
}

/// The response future of [`SetRequestId`].
pub(crate) struct WithRequestId<F> {
    inner: F,
    id: Option<HeaderValue>,
}

impl<F, B, E> Future for WithRequestId<F>
where
    F: Future<Output = Result<Response<B>, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut resp = std::task::ready!(Pin::new(&mut self.inner).poll(cx))?;
        if let Some(id) = self.id.take()
            && !resp.headers().contains_key(&X_REQUEST_ID)
        {
            resp.headers_mut().insert(X_REQUEST_ID.clone(), id);
        }
        Poll::Ready(Ok(resp))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefix_dash_hex_counter() {
        let ids = RequestIds::new();
        let prefix = ids.prefix.to_string();
        for (n, want) in [(0u64, "0"), (1, "1"), (15, "f"), (16, "10"), (0xabc, "abc")] {
            ids.next.store(n, Ordering::Relaxed);
            assert_eq!(ids.next_id().to_str().unwrap(), format!("{prefix}-{want}"));
        }
        ids.next.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(
            ids.next_id().to_str().unwrap(),
            format!("{prefix}-ffffffffffffffff")
        );
    }
}
