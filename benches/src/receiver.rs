//! The endpoint the webhook benches deliver to: `POST /hook` answered 204
//! and counted. Either in the bench's own process, on its runtime, or in
//! a process of its own (`webhook-receiver`), as a real endpoint would be:
//! it then shares only the cores with the bench, not its runtime's threads.

use axum::http::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `POST /hook` (counted), `GET /count` (how many so far) and
/// `POST /reset` (back to zero).
pub fn router(count: Arc<AtomicUsize>) -> axum::Router {
    let hook = count.clone();
    let seen = count.clone();
    axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move |_body: String| async move {
                hook.fetch_add(1, Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/count",
            axum::routing::get(move || async move { seen.load(Ordering::SeqCst).to_string() }),
        )
        .route(
            "/reset",
            axum::routing::post(move || async move {
                count.store(0, Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }),
        )
}

/// A running receiver.
pub struct Receiver {
    /// Where it listens (deliver to `http://{addr}/hook`).
    pub addr: SocketAddr,
    counter: Counter,
}

enum Counter {
    Here(Arc<AtomicUsize>),
    /// The child process (killed on drop) and a client to ask it.
    Apart(std::process::Child, reqwest::Client),
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Counter::Apart(child, _) = &mut self.counter {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Receiver {
    /// A receiver on this process's runtime, on 127.0.0.1.
    pub async fn in_process() -> Receiver {
        let count = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let app = router(count.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            addr,
            counter: Counter::Here(count),
        }
    }

    /// A receiver in its own process: the `webhook-receiver` program
    /// built beside the running bench, which prints the address it
    /// listens on as its first line.
    pub fn own_process() -> Receiver {
        use std::io::BufRead;
        let exe = std::env::current_exe().expect("this program's path");
        let program = exe.with_file_name("webhook-receiver");
        let mut child = std::process::Command::new(&program)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e} (build it too)", program.display()));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the receiver's address");
        let addr = line.trim().parse().expect("an address");
        Receiver {
            addr,
            counter: Counter::Apart(child, reqwest::Client::new()),
        }
    }

    /// Requests received since the last reset.
    pub async fn received(&self) -> usize {
        match &self.counter {
            Counter::Here(count) => count.load(Ordering::SeqCst),
            Counter::Apart(_, client) => client
                .get(format!("http://{}/count", self.addr))
                .send()
                .await
                .expect("asking the receiver")
                .text()
                .await
                .expect("its count")
                .parse()
                .expect("a number"),
        }
    }

    /// Count from zero again.
    pub async fn reset(&self) {
        match &self.counter {
            Counter::Here(count) => count.store(0, Ordering::SeqCst),
            Counter::Apart(_, client) => {
                client
                    .post(format!("http://{}/reset", self.addr))
                    .send()
                    .await
                    .expect("resetting the receiver");
            }
        }
    }
}
