//! Servers that cannot be starved, on a real TCP server: a connection that
//! sends nothing, a trickle of header bytes, an idle keep-alive connection
//! and a declared body that never comes are all closed by their deadlines;
//! failed authentications from one address are cut off with 429 before
//! they cost a store lookup each.

#[macro_use]
mod common;

use axum::http::StatusCode;
use common::{Db, TestApp};
use skynet_http::serve::Timeouts;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: Timeouts = Timeouts {
    header_read: Duration::from_millis(300),
    body_idle: Duration::from_millis(300),
};

/// Read until the server closes the connection; what it sent, and how long
/// it took. Panics if it stays open for 10 s.
async fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection is still open after 10 s"),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

async fn silent_partial_and_idle_connections_are_closed(db: Db) {
    let t = TestApp::new(db).await;
    let tcp = t.serve_tcp_with(SHORT).await;

    // A bare connect that never sends a byte.
    let mut bare = TcpStream::connect(tcp.addr).await.expect("connect");
    let (sent, took) = until_closed(&mut bare).await;
    assert!(
        took < Duration::from_secs(5),
        "bare connect open for {took:?}"
    );
    assert!(!sent.contains("200"), "{sent}");

    // Headers that never finish.
    let mut partial = TcpStream::connect(tcp.addr).await.expect("connect");
    partial
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: skynet\r\nX-Slow: ")
        .await
        .expect("write");
    let (_, took) = until_closed(&mut partial).await;
    assert!(
        took < Duration::from_secs(5),
        "partial headers open for {took:?}"
    );

    // A kept-alive connection that goes quiet after its answer.
    let mut idle = TcpStream::connect(tcp.addr).await.expect("connect");
    idle.write_all(b"GET /v1/health HTTP/1.1\r\nHost: skynet\r\n\r\n")
        .await
        .expect("write");
    let (sent, took) = until_closed(&mut idle).await;
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
    assert!(
        took < Duration::from_secs(5),
        "idle keep-alive open for {took:?}"
    );
}

async fn a_declared_body_that_never_comes_fails_the_request(db: Db) {
    let t = TestApp::new(db).await;
    let tcp = t.serve_tcp_with(SHORT).await;
    let before = t.ledger_snapshot().await;
    let mut slow = TcpStream::connect(tcp.addr).await.expect("connect");
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: skynet\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"intent\":",
        t.submit
    );
    slow.write_all(head.as_bytes()).await.expect("write");
    let (sent, took) = until_closed(&mut slow).await;
    assert!(took < Duration::from_secs(5), "body wait open for {took:?}");
    assert!(
        sent.is_empty() || sent.starts_with("HTTP/1.1 4"),
        "a half-sent body is refused or dropped: {sent}"
    );
    assert_eq!(t.ledger_snapshot().await, before, "nothing stored");
}

async fn failed_authentications_from_one_address_are_cut_off(db: Db) {
    let t = TestApp::with(db, |c| {
        c.failed_auth_limit = 5;
        c.failed_auth_window = Duration::from_secs(60);
    })
    .await;
    let tcp = t.serve_tcp().await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let wrong = format!("sk_0a1b2c3d4e5f_{i:064}");
        let r = tcp.call("GET", "/v1/jobs", &wrong, None, &[]).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = r.headers["retry-after"]
                .to_str()
                .expect("header")
                .parse()
                .expect("seconds");
            assert!((1..=60).contains(&wait), "{wait}");
            assert_eq!(r.code(), "rate_limited");
        }
        statuses.push(r.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
}

on_every_backend!(
    silent_partial_and_idle_connections_are_closed,
    a_declared_body_that_never_comes_fails_the_request,
    failed_authentications_from_one_address_are_cut_off,
);
