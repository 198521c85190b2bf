//! The accept loop both servers run (the control plane and the agent):
//! HTTP/1 connections with deadlines, so no client can hold a connection
//! without using it.
//!
//! - **Headers**: a connection must send a request's complete headers
//!   within [`Timeouts::header_read`] of opening or of its last response
//!   (hyper's header read timer restarts while a kept-alive connection
//!   waits), so a bare TCP connect, a trickle of header bytes and an idle
//!   keep-alive connection are all closed.
//! - **Bodies**: each chunk of a request body must arrive within
//!   [`Timeouts::body_idle`] of the previous one (a declared body that
//!   never comes fails the request instead of parking its handler); the
//!   timer is armed only while the body waits.
//! - **Who**: every request carries its peer address
//!   (`ConnectInfo<SocketAddr>`), which failed-authentication limits key on.
//!
//! Shutdown stops accepting, lets each connection finish its request in
//! flight, and waits for them.

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;
use tower::ServiceExt;

/// How long a connection may keep the server waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For a request's complete headers, from the connection's start or
    /// its last response (default 30 s).
    pub header_read: Duration,
    /// Between two chunks of a request body (default 30 s).
    pub body_idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(30),
            body_idle: Duration::from_secs(30),
        }
    }
}

/// Serve `app` on the connections `listener` admits until `shutdown`
/// resolves, within `timeouts`.
pub async fn serve_connections<L>(
    mut listener: L,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            conn = listener.accept() => conn,
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let body_idle = timeouts.body_idle;
        let service = tower::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone()
                .oneshot(req.map(|body| IdleBody::new(body, body_idle)))
        });
        let conn = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A request body that fails when the client sends nothing for `idle`.
/// The timer is armed only while the body is actually waiting: a body
/// already read with the headers (most API calls) costs no timer at all.
struct IdleBody {
    inner: Incoming,
    idle: Duration,
    /// Armed when the body last had nothing ready.
    timer: Option<Pin<Box<Sleep>>>,
}

impl IdleBody {
    fn new(inner: Incoming, idle: Duration) -> Self {
        IdleBody {
            inner,
            idle,
            timer: None,
        }
    }
}

/// The body stopped arriving.
#[derive(Debug)]
struct BodyIdle(Duration);

impl std::fmt::Display for BodyIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body stopped arriving for {:?}", self.0)
    }
}

impl std::error::Error for BodyIdle {}

impl Body for IdleBody {
    type Data = hyper::body::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.timer = None;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let idle = this.idle;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyIdle(idle))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
