//! The Telegram benchmark (issue 20): a local stand-in for the Bot API,
//! then 1,000 `/status` commands over 10 chats answered by `skynet
//! telegram`'s bot and by a python-telegram-bot peer (`ptb_bot.py`,
//! `concurrent_updates` on) from the same SQLite ledger, in one run.
//! Run by `benches/telegram/run.sh`; results go in `benches/RESULTS.md`.
//!
//! Latency is measured by the stand-in: from the moment it served an update
//! in a `getUpdates` answer to the moment the reply for it arrived (replies
//! of one chat are matched to its updates in order).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const TOKEN: &str = "123456:BENCH-token";
const CHATS: i64 = 10;
const COMMANDS: usize = 1000;

#[derive(Default)]
struct Inner {
    queue: VecDeque<Value>,
    next_update: i64,
    /// Per chat: when each served update went out, oldest first.
    served: HashMap<i64, VecDeque<Instant>>,
    latencies: Vec<Duration>,
    replies: usize,
    first_served: Option<Instant>,
    last_reply: Option<Instant>,
}

#[derive(Clone)]
struct Standin {
    inner: Arc<Mutex<Inner>>,
    wake: Arc<Notify>,
    done: Arc<Notify>,
}

fn field(headers: &HeaderMap, body: &[u8], name: &str) -> Option<i64> {
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        let v: Value = serde_json::from_slice(body).ok()?;
        return v[name].as_i64().or_else(|| v[name].as_str()?.parse().ok());
    }
    // application/x-www-form-urlencoded (python-telegram-bot)
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
}

fn ok(result: Value) -> axum::Json<Value> {
    axum::Json(json!({"ok": true, "result": result}))
}

async fn handle(
    State(s): State<Standin>,
    Path((_bot, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(json!({"id": 42, "is_bot": true, "first_name": "B", "username": "b_bot"})),
        "getupdates" => {
            let offset = field(&headers, &body, "offset").unwrap_or(0);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
            loop {
                let notified = s.wake.notified();
                {
                    let mut st = s.inner.lock().expect("state");
                    st.queue
                        .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    if !st.queue.is_empty() {
                        let batch: Vec<Value> = st.queue.iter().take(100).cloned().collect();
                        let now = Instant::now();
                        st.first_served.get_or_insert(now);
                        for u in &batch {
                            let chat = u["message"]["chat"]["id"].as_i64().unwrap_or(0);
                            st.served.entry(chat).or_default().push_back(now);
                        }
                        // Served updates stay queued until confirmed by the
                        // next offset, as Telegram does; mark them so a
                        // re-read does not count them twice.
                        let last = batch
                            .last()
                            .and_then(|u| u["update_id"].as_i64())
                            .unwrap_or(0);
                        st.queue
                            .retain(|u| u["update_id"].as_i64().unwrap_or(0) > last);
                        return ok(Value::Array(batch));
                    }
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return ok(json!([]));
                }
            }
        }
        "sendmessage" => {
            let chat = field(&headers, &body, "chat_id").unwrap_or(0);
            let now = Instant::now();
            let mut st = s.inner.lock().expect("state");
            if let Some(at) = st.served.get_mut(&chat).and_then(|q| q.pop_front()) {
                st.latencies.push(now - at);
            }
            st.replies += 1;
            st.last_reply = Some(now);
            if st.replies == COMMANDS {
                s.done.notify_one();
            }
            ok(json!({"message_id": st.replies, "date": 0,
                "chat": {"id": chat, "type": "private", "first_name": "U"}, "text": "ok"}))
        }
        _ => ok(json!(true)),
    }
}

impl Standin {
    async fn start() -> (Standin, String) {
        let s = Standin {
            inner: Arc::new(Mutex::new(Inner {
                next_update: 1,
                ..Inner::default()
            })),
            wake: Arc::new(Notify::new()),
            done: Arc::new(Notify::new()),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .with_state(s.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (s, url)
    }

    fn push_commands(&self, prefix: &str) {
        let mut st = self.inner.lock().expect("state");
        for i in 0..COMMANDS {
            let chat = 1000 + (i as i64 % CHATS);
            let id = st.next_update;
            st.next_update += 1;
            st.queue.push_back(json!({"update_id": id, "message": {
                "message_id": id, "date": 0,
                "chat": {"id": chat, "type": "private", "first_name": "U"},
                "from": {"id": chat, "is_bot": false, "first_name": "U"},
                "text": format!("/status {prefix}"),
                "entities": [{"type": "bot_command", "offset": 0, "length": 7}]}}));
        }
        drop(st);
        self.wake.notify_waiters();
    }

    /// Wait for every reply; (commands per second, p50, p99).
    async fn measure(&self) -> (f64, Duration, Duration) {
        tokio::time::timeout(Duration::from_secs(300), self.done.notified())
            .await
            .expect("every reply within 5 minutes");
        let st = self.inner.lock().expect("state");
        let span = st.last_reply.expect("replies") - st.first_served.expect("served");
        let mut l = st.latencies.clone();
        l.sort();
        let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
        (COMMANDS as f64 / span.as_secs_f64(), pct(0.5), pct(0.99))
    }
}

/// The stand-in's own capacity: sendMessage answered per second to 10
/// concurrent clients.
async fn capacity(url: &str) -> f64 {
    let client = reqwest::Client::new();
    let n = 5000;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..10 {
        let (client, url) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            for _ in 0..n / 10 {
                client
                    .post(format!("{url}/bot{TOKEN}/sendMessage"))
                    .json(&json!({"chat_id": 5000 + c, "text": "x"}))
                    .send()
                    .await
                    .expect("send");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let python = args.get(1).cloned().unwrap_or_else(|| "python3".into());
    let script = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "benches/telegram/ptb_bot.py".into());
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("skynet.db");
    let sk = skynet_core::Skynet::builder()
        .database_url(format!("sqlite://{}", db.display()))
        .build()
        .await
        .expect("engine");
    let job = sk
        .submit(skynet_core::SubmitRequest::new("write hi to a.txt").root(dir.path()))
        .await
        .expect("job");
    let prefix = &job.id.as_str()[..8];

    let (probe, url) = Standin::start().await;
    let cap = capacity(&url).await;
    drop(probe);
    println!("stand-in capacity: {cap:.0} sendMessage/s (10 clients)");

    // SKYNET's bot.
    let (standin, url) = Standin::start().await;
    let settings = skynet_core::config::TelegramSettings {
        token: Some(skynet_core::llm::ApiKey::new(TOKEN)),
        api_url: url.clone(),
        users: (0..CHATS)
            .map(|c| (1000 + c, skynet_core::config::TelegramRole::Viewer))
            .collect(),
        allow_groups: false,
        personality: None,
        root: Some(dir.path().to_path_buf()),
        webhook_url: None,
        webhook_secret: None,
    };
    let options = skynet_telegram::BotOptions {
        poll_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let bot = skynet_telegram::TelegramBot::new(sk.clone(), &settings, options).expect("bot");
    let stop = tokio_util::sync::CancellationToken::new();
    let run = tokio::spawn({
        let stop = stop.clone();
        async move { bot.run(stop).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    standin.push_commands(prefix);
    let (sk_rate, sk_p50, sk_p99) = standin.measure().await;
    stop.cancel();
    let _ = run.await;
    println!("skynet telegram: {sk_rate:.0} commands/s, p50 {sk_p50:?}, p99 {sk_p99:?}");

    // python-telegram-bot.
    let (standin, url) = Standin::start().await;
    let mut child = tokio::process::Command::new(&python)
        .args([&script, &url, &db.display().to_string(), &TOKEN.to_string()])
        .kill_on_drop(true)
        .spawn()
        .expect("python-telegram-bot peer");
    tokio::time::sleep(Duration::from_secs(3)).await;
    standin.push_commands(prefix);
    let (py_rate, py_p50, py_p99) = standin.measure().await;
    let _ = child.kill().await;
    println!("python-telegram-bot: {py_rate:.0} commands/s, p50 {py_p50:?}, p99 {py_p99:?}");
    println!("throughput ratio: {:.1}x", sk_rate / py_rate);
}
