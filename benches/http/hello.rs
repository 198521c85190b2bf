//! The peer of the HTTP benchmark: an axum hello-world server on the same
//! runtime defaults as `skynet serve`. Usage: `hello-axum 127.0.0.1:8001`.

use axum::Router;
use axum::routing::{get, post};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8001".into());
    let app = Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/hello", post(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(bind).await?;
    axum::serve(listener, app).await
}
