//! Connection caps: at most so many open connections in all, and so many
//! from one address; a connection beyond either is closed at once, before
//! any byte is read, so idle connects cannot use up the descriptors the
//! server needs to answer everyone else.
//!
//! The counting is per connection (one map update at accept and at
//! close), never per request: the tuned request path is unchanged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How many connections the server keeps open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Open connections in all (default 1024).
    pub max_connections: usize,
    /// Open connections from one IP address (default 64).
    pub max_per_address: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 1024,
            max_per_address: 64,
        }
    }
}

/// Open connections, in all and by address.
#[derive(Debug, Default)]
struct Counts {
    total: AtomicUsize,
    by_addr: Mutex<HashMap<IpAddr, usize>>,
}

impl Counts {
    /// A slot for a connection from `ip`, or `None` beyond a cap.
    fn admit(self: &Arc<Self>, ip: IpAddr, limits: ConnLimits) -> Option<Slot> {
        let mut by_addr = self.by_addr.lock().ok()?;
        if self.total.load(Ordering::Relaxed) >= limits.max_connections {
            return None;
        }
        let n = by_addr.entry(ip).or_insert(0);
        if *n >= limits.max_per_address {
            return None;
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

/// One admitted connection's place in the counts, given back on drop.
#[derive(Debug)]
struct Slot {
    counts: Arc<Counts>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counts.total.fetch_sub(1, Ordering::Relaxed);
        if let Ok(mut by_addr) = self.counts.by_addr.lock()
            && let Some(n) = by_addr.get_mut(&self.ip)
        {
            *n -= 1;
            // Forget the address: the map holds only open connections.
            if *n == 0 {
                by_addr.remove(&self.ip);
            }
        }
    }
}

/// A TCP listener that admits connections within [`ConnLimits`].
#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    limits: ConnLimits,
    counts: Arc<Counts>,
}

impl LimitedListener {
    /// `inner` within `limits`.
    pub fn new(inner: TcpListener, limits: ConnLimits) -> Self {
        LimitedListener {
            inner,
            limits,
            counts: Arc::default(),
        }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // axum's accept retries transient errors (EMFILE included).
            let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            match self.counts.admit(addr.ip(), self.limits) {
                Some(slot) => {
                    let _ = stream.set_nodelay(true);
                    return (
                        LimitedStream {
                            inner: stream,
                            _slot: slot,
                        },
                        addr,
                    );
                }
                None => {
                    tracing::debug!(%addr, "connection refused: over the connection cap");
                    drop(stream);
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An admitted connection: the TCP stream and its place in the counts.
#[derive(Debug)]
pub struct LimitedStream {
    inner: TcpStream,
    _slot: Slot,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Raise the soft open-file limit to the hard one, so the connection cap
/// (not the descriptor limit) is what refuses connections. Best effort.
pub fn raise_nofile_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::debug!("cannot raise the open-file limit from {soft} to {hard}: {e}");
    }
}
