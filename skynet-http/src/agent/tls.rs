//! HTTPS for the agent: a listener whose connections are TLS streams,
//! handshaking off the accept loop so a slow client delays nobody else,
//! admitted within the same connection caps as plain HTTP.

use crate::conn::{ConnLimits, LimitedListener, LimitedStream};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// Limit on one TLS handshake.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);

/// Accepted, handshaken TLS connections (an axum listener).
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<LimitedStream>, SocketAddr)>,
}

/// Wrap `listener` so it serves TLS with the PEM certificate chain
/// `cert` and private key `key`.
pub fn tls_listener(
    listener: TcpListener,
    cert: &Path,
    key: &Path,
) -> skynet_core::Result<TlsListener> {
    let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        skynet_core::Error::Config(format!("TLS {what} {}: {e}", path.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate", cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", cert, &e))?;
    if chain.is_empty() {
        return Err(bad("certificate", cert, &"no PEM certificate in it"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, &e))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("setup for", cert, &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| bad("certificate and key", cert, &e))?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let local = listener.local_addr()?;
    let mut listener = LimitedListener::new(listener, ConnLimits::default());
    let (tx, ready) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            // Within the connection caps (retrying transient accept
            // errors such as EMFILE), before any handshake work.
            let (tcp, peer) = axum::serve::Listener::accept(&mut listener).await;
            if tx.is_closed() {
                break;
            }
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_LIMIT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    Ok(TlsListener { local, ready })
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<LimitedStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop ended: no more connections, ever.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
