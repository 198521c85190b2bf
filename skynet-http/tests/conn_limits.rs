//! Connection caps on a real loopback server: a connection beyond the
//! per-address cap is closed at once, those within it keep working, and
//! a closed connection frees its place.

use axum::Router;
use axum::routing::get;
use skynet_http::conn::ConnLimits;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// How long any single outcome may take.
const DEADLINE: Duration = Duration::from_secs(5);

async fn start(limits: ConnLimits) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let app = Router::new().route("/", get(|| async { "ok" }));
    let s = stop.clone();
    tokio::spawn(skynet_http::serve_limited(
        listener,
        app,
        limits,
        async move { s.cancelled().await },
    ));
    (addr, stop)
}

/// One keep-alive request on `conn`; whether a 200 came back.
async fn answers(conn: &mut TcpStream) -> bool {
    let req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    if conn.write_all(req).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    match tokio::time::timeout(DEADLINE, conn.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => buf[..n].starts_with(b"HTTP/1.1 200"),
        _ => false,
    }
}

/// Whether the server closes `conn` (EOF or reset) within the deadline.
async fn closed_by_server(conn: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(DEADLINE, conn.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn a_connection_beyond_the_per_address_cap_is_closed_and_others_keep_working() {
    let (addr, stop) = start(ConnLimits {
        max_connections: 100,
        max_per_address: 2,
    })
    .await;
    let mut a = TcpStream::connect(addr).await.expect("a");
    let mut b = TcpStream::connect(addr).await.expect("b");
    assert!(answers(&mut a).await && answers(&mut b).await);
    let mut c = TcpStream::connect(addr).await.expect("c connects (kernel)");
    assert!(closed_by_server(&mut c).await, "the 3rd is closed");
    assert!(answers(&mut a).await, "the first two still work");
    // Closing one frees its place (the server notices the close).
    drop(b);
    let freed = tokio::time::timeout(DEADLINE, async {
        loop {
            let mut d = TcpStream::connect(addr).await.expect("d");
            if answers(&mut d).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(freed.is_ok(), "a place freed by a close is reused");
    stop.cancel();
}

#[tokio::test]
async fn the_total_cap_closes_connections_from_any_address() {
    let (addr, stop) = start(ConnLimits {
        max_connections: 1,
        max_per_address: 10,
    })
    .await;
    let mut a = TcpStream::connect(addr).await.expect("a");
    assert!(answers(&mut a).await);
    let mut b = TcpStream::connect(addr).await.expect("b");
    assert!(closed_by_server(&mut b).await);
    stop.cancel();
}
