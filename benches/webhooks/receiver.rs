//! `webhook-receiver`: the webhook benches' endpoint in a process of its
//! own (see `skynet_benches::receiver`). Listens on 127.0.0.1 (a free
//! port), prints the address as its first line, serves until killed. One
//! thread, as a small real endpoint might run.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    println!("{addr}");
    std::io::stdout().flush().expect("stdout");
    let app = skynet_benches::receiver::router(Arc::new(AtomicUsize::new(0)));
    axum::serve(listener, app).await.expect("serve");
}
