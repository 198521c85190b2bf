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
//!   never comes fails the request instead of parking its handler).
//! - **Who**: every request carries its peer address
//!   (`ConnectInfo<SocketAddr>`), which failed-authentication limits key on.
//!
//! Shutdown stops accepting, lets each connection finish its request in
//! flight, and waits for them.

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::time::Duration;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

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
                .oneshot(req.map(|body| TimeoutBody::new(body_idle, body)))
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
