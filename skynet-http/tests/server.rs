//! A real server on a loopback TCP port: requests with reqwest, graceful
//! shutdown, SSE resume with `Last-Event-ID`, and a client that never reads.

#[macro_use]
mod common;

use common::{Db, TestApp};
use serde_json::json;
use skynet_core::JobId;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Serve `t.app` on 127.0.0.1 until `t.config.shutdown` is cancelled.
async fn start(t: &TestApp) -> (SocketAddr, JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = t.config.shutdown.clone();
    let server = tokio::spawn(skynet_http::serve(listener, t.app.clone(), async move {
        stop.cancelled().await
    }));
    (addr, server)
}

/// The `id:` of every complete SSE event in `text`, in order.
fn event_ids(text: &str) -> Vec<i64> {
    event_positions(text)
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// Read SSE from `resp` until `want` returns true for the ids so far.
async fn read_events(resp: &mut reqwest::Response, want: impl Fn(&[i64]) -> bool) -> Vec<i64> {
    read_sse(resp, event_ids, want).await
}

/// Read SSE from `resp` until `want` returns true for the ids `ids_of`
/// finds in the complete events so far.
async fn read_sse<T: std::fmt::Debug>(
    resp: &mut reqwest::Response,
    ids_of: impl Fn(&str) -> Vec<T>,
    want: impl Fn(&[T]) -> bool,
) -> Vec<T> {
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ids = ids_of(&text[..text.rfind("\n\n").map_or(0, |i| i + 2)]);
        if want(&ids) {
            return ids;
        }
        assert!(Instant::now() < deadline, "events did not arrive: {ids:?}");
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("a chunk in time")
            .expect("stream ok")
            .expect("stream still open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

async fn real_server_serves_jobs_over_tcp_and_shuts_down_gracefully_with_a_stream_open(db: Db) {
    let t = TestApp::new(db).await;
    let (addr, server) = start(&t).await;
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let health = http
        .get(format!("{base}/v1/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), 200);
    let job: serde_json::Value = http
        .post(format!("{base}/v1/jobs"))
        .bearer_auth(&t.submit)
        .json(&json!({ "intent": "write 'x' to a.txt" }))
        .send()
        .await
        .expect("submit")
        .json()
        .await
        .expect("json");
    let id = job["id"].as_str().expect("id");
    let shown = http
        .get(format!("{base}/v1/jobs/{id}"))
        .bearer_auth(&t.read)
        .send()
        .await
        .expect("show");
    assert_eq!(shown.status(), 200);
    assert!(shown.headers().contains_key("x-request-id"));
    let unauth = http
        .get(format!("{base}/v1/jobs"))
        .send()
        .await
        .expect("list");
    assert_eq!(unauth.status(), 401);
    assert_eq!(unauth.headers()["content-type"], "application/problem+json");
    // An open event stream must not hold the shutdown up.
    let mut stream = http
        .get(format!(
            "{base}/v1/jobs/{}/events",
            job["id"].as_str().expect("id")
        ))
        .bearer_auth(&t.read)
        .send()
        .await
        .expect("events");
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    read_events(&mut stream, |ids| !ids.is_empty()).await;
    t.config.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops within 10 s")
        .expect("server task")
        .expect("served");
    assert!(
        http.get(format!("{base}/v1/health")).send().await.is_err(),
        "no longer accepting"
    );
}

async fn sse_resume_with_last_event_id_loses_nothing(db: Db) {
    let t = TestApp::new(db).await;
    let (addr, _server) = start(&t).await;
    let job = t.submit_job("write 'x' to a.txt").await;
    let id = JobId::parse(job["id"].as_str().expect("id")).expect("id");
    for i in 0..20 {
        t.sk.store()
            .append_event(&id, "note", json!({ "i": i }))
            .await
            .expect("append");
    }
    let http = reqwest::Client::new();
    let open = |last: Option<i64>, path: &'static str| {
        let mut req = http
            .get(format!("http://{addr}{path}"))
            .bearer_auth(&t.read);
        if let Some(l) = last {
            req = req.header("last-event-id", l.to_string());
        }
        req.send()
    };
    for path in ["/v1/jobs/JOB/events"] {
        let path: &'static str = if path.contains("JOB") {
            Box::leak(format!("/v1/jobs/{id}/events").into_boxed_str())
        } else {
            path
        };
        let all = event_seqs(&t.sk, &id).await;
        // Read part of the stream, then drop the connection.
        let mut first = open(None, path).await.expect("open");
        let seen = read_events(&mut first, |ids| ids.len() >= 7).await;
        drop(first);
        let last = *seen.last().expect("some events");
        // More events happen while the client is away.
        for i in 0..10 {
            t.sk.store()
                .append_event(&id, "away", json!({ "i": i }))
                .await
                .expect("append");
        }
        let all_now = event_seqs(&t.sk, &id).await;
        assert!(all_now.len() == all.len() + 10);
        let end = *all_now.last().expect("events");
        let mut second = open(Some(last), path).await.expect("reopen");
        let rest = read_events(&mut second, |ids| ids.last() == Some(&end)).await;
        let mut got = seen.clone();
        got.extend(rest);
        assert_eq!(got, all_now, "{path}: every event exactly once, in order");
    }
}

/// The `id:` of every complete SSE event in `text`, as written (global log
/// positions, `XID-ID`).
fn event_positions(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .map(|v| v.trim().to_string())
        })
        .collect()
}

/// Read the global log's SSE from `resp` until `want` holds.
async fn read_positions(
    resp: &mut reqwest::Response,
    want: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    read_sse(resp, event_positions, want).await
}

/// `/v1/events` is the global log: system events for an admin (a `read`
/// key sees none of them), filtered by `?type=`, resumed with
/// `Last-Event-ID` without loss.
async fn global_log_sse_filters_by_type_and_resumes_without_loss(db: Db) {
    use skynet_core::events::{EventPayload, NewSystemEvent, Notice, WorkerChange};
    let t = TestApp::new(db).await;
    let (addr, _server) = start(&t).await;
    let record = |i: usize| {
        let sk = t.sk.clone();
        async move {
            let notice = EventPayload::Error(Notice {
                subject: format!("e{i}"),
                message: "m".into(),
            });
            sk.record_event(&NewSystemEvent::now("test", notice))
                .await
                .expect("record");
            let worker = EventPayload::WorkerOnline(WorkerChange {
                worker: format!("w{i}"),
                running: 0,
            });
            sk.record_event(&NewSystemEvent::now("test", worker))
                .await
                .expect("record");
        }
    };
    for i in 0..10 {
        record(i).await;
    }
    let http = reqwest::Client::new();
    let open = |last: Option<String>, key: &str| {
        let mut req = http
            .get(format!("http://{addr}/v1/events?type=error"))
            .bearer_auth(key);
        if let Some(l) = last {
            req = req.header("last-event-id", l);
        }
        req.send()
    };
    let bad = http
        .get(format!("http://{addr}/v1/events?type=nope"))
        .bearer_auth(&t.admin)
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);
    let mut first = open(None, &t.admin).await.expect("open");
    let seen = read_positions(&mut first, |ids| ids.len() >= 4).await;
    drop(first);
    for i in 10..20 {
        record(i).await;
    }
    // On PostgreSQL an event is read once every older transaction in the
    // cluster has ended (commit order), so the last ones may show a
    // moment after their commit: read until all 20 are there.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let all: Vec<String> = loop {
        let page = error_events(&t).await;
        if page.events.len() >= 20 || std::time::Instant::now() > deadline {
            break page.events.iter().map(|e| e.position.clone()).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(all.len(), 20);
    let mut second = open(seen.last().cloned(), &t.admin).await.expect("reopen");
    let end = all.last().cloned();
    let rest = read_positions(&mut second, |ids| ids.last() == end.as_ref()).await;
    let mut got = seen.clone();
    got.extend(rest);
    assert_eq!(got, all, "every error event exactly once, in order");
    // A key with plain `read` sees no system events: its stream carries
    // nothing (keep-alive comments at most) while the admin's has 20.
    let (_, plain) = skynet_core::store::keys::create(
        t.keys.as_ref(),
        "plain",
        &[skynet_core::store::keys::Scope::Read],
        None,
    )
    .await
    .expect("key");
    let mut reader = open(None, &plain).await.expect("open");
    assert_eq!(reader.status(), 200);
    let mut text = String::new();
    let until = Instant::now() + Duration::from_millis(700);
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until.into(), reader.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        event_positions(&text).is_empty(),
        "a read key got system events: {text}"
    );
}

/// Sum of a metric's samples in a Prometheus text page.
/// The `error` events of the global log, as its reader sees them now.
async fn error_events(t: &TestApp) -> skynet_core::store::event_log::EventPage {
    t.sk.event_log(skynet_core::store::event_log::EventLogQuery {
        types: vec![skynet_core::events::EventType::Error],
        limit: 1000,
        ..Default::default()
    })
    .await
    .expect("log")
}

fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn sse_client_that_never_reads_does_not_make_the_server_buffer_events(db: Db) {
    const EVENTS: usize = 3000;
    let t = TestApp::new(db).await;
    let (addr, _server) = start(&t).await;
    let job = t.submit_job("write 'x' to a.txt").await;
    let id = JobId::parse(job["id"].as_str().expect("id")).expect("id");
    // A client with a tiny receive window sends its request, then reads nothing.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut client = socket.connect(addr).await.expect("connect");
    let request = format!(
        "GET /v1/jobs/{id}/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\r\n",
        t.read
    );
    client.write_all(request.as_bytes()).await.expect("request");
    // ~13 MB of events: far more than the socket buffers hold.
    let pad = "x".repeat(4096);
    for i in 0..EVENTS {
        t.sk.store()
            .append_event(&id, "bulk", json!({ "i": i, "pad": pad }))
            .await
            .expect("append");
    }
    let http = reqwest::Client::new();
    let scrape = || async {
        http.get(format!("http://{addr}/metrics"))
            .bearer_auth(&t.read)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    // Wait until the server stops writing (the socket is full).
    let mut last = -1.0;
    let mut still_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = scrape().await;
        let sent = metric(&page, "skynet_http_sse_events_sent_total");
        if sent != last {
            last = sent;
            still_since = Instant::now();
        } else if still_since.elapsed() > Duration::from_millis(1500) {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled stream never settled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let sent = metric(&page, "skynet_http_sse_events_sent_total");
    let buffered = metric(&page, "skynet_http_sse_buffered_events");
    eprintln!("stalled client: {sent} of {EVENTS} events written, {buffered} buffered");
    assert!(
        sent < (EVENTS as f64) / 2.0,
        "backpressure stopped the reads: {sent} sent"
    );
    assert!(buffered <= 100.0, "at most one page held: {buffered}");
    // Reading now delivers every event, in order: slow is not lossy.
    let all = event_seqs(&t.sk, &id).await;
    let end = format!("id: {}\n", all.last().expect("events"));
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&raw[raw.len().saturating_sub(20_000)..]).contains(&end) {
        assert!(Instant::now() < deadline, "the rest never arrived");
        let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf))
            .await
            .expect("data in time")
            .expect("read");
        assert!(n > 0, "stream closed early");
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw);
    let ids: Vec<i64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: ")?.trim().parse().ok())
        .collect();
    assert_eq!(ids, all, "every event once, in order");
}

async fn a_declared_oversize_body_gets_413_before_it_is_sent(db: Db) {
    let t = TestApp::new(db).await;
    let (addr, _server) = start(&t).await;
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n",
        t.submit
    );
    conn.write_all(head.as_bytes()).await.expect("head");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf))
        .await
        .expect("an answer without the body")
        .expect("read");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 413"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    t.config.shutdown.cancel();
}

/// The `(event, id, data)` of every complete SSE event in `text`.
fn sse_blocks(text: &str) -> Vec<(String, String, String)> {
    text.split("\n\n")
        .filter_map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.trim().to_string())
            };
            Some((field("event: ")?, field("id: ")?, field("data: ")?))
        })
        .collect()
}

/// gc removes the global log's old prefix (events older than the default
/// 30 days) over `POST /v1/gc`, the dry run counting what the run
/// removes; an SSE client from the start gets a `pruned` event first (the
/// anchor as data, the end of the gap as id), then the events after it;
/// one that resumes after the gap gets no marker.
async fn global_log_sse_marks_the_gap_gc_left(db: Db) {
    use skynet_core::events::{EventPayload, NewSystemEvent, Notice};
    let t = TestApp::new(db).await;
    let (addr, _server) = start(&t).await;
    let old = chrono::Utc::now() - chrono::Duration::days(40);
    for (i, name) in ["old0", "old1", "old2", "young"].iter().enumerate() {
        let mut event = NewSystemEvent::now(
            "test",
            EventPayload::Error(Notice {
                subject: (*name).into(),
                message: "m".into(),
            }),
        );
        if *name != "young" {
            event.at = old + chrono::Duration::seconds(i as i64);
        }
        t.sk.record_event(&event).await.expect("record");
    }
    // Readable once every older transaction in the cluster has ended.
    let deadline = Instant::now() + Duration::from_secs(10);
    let young = loop {
        let page = error_events(&t).await;
        if page.events.len() == 4 {
            break page.events[3].position.clone();
        }
        assert!(Instant::now() < deadline, "{page:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let gc = |query: &'static str| {
        let http = reqwest::Client::new();
        let admin = t.admin.clone();
        async move {
            let r = http
                .post(format!("http://{addr}/v1/gc{query}"))
                .bearer_auth(admin)
                .send()
                .await
                .expect("gc");
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.expect("json")["events"].clone()
        }
    };
    let dry = gc("?dry_run=true").await;
    assert_eq!(dry["count"], 3, "{dry}");
    let real = gc("").await;
    for field in ["count", "first_id", "last_id", "first_at", "last_at"] {
        assert_eq!(dry[field], real[field], "{field}: {dry} {real}");
    }

    let http = reqwest::Client::new();
    let mut from_start = http
        .get(format!("http://{addr}/v1/events?type=error"))
        .bearer_auth(&t.admin)
        .send()
        .await
        .expect("open");
    let blocks = read_sse(&mut from_start, sse_blocks, |b| b.len() >= 2).await;
    let (event, id, data) = &blocks[0];
    assert_eq!(event, "pruned", "{blocks:?}");
    let anchor: serde_json::Value = serde_json::from_str(data).expect("anchor JSON");
    assert_eq!(anchor["count"], 3);
    assert_eq!(anchor["first_id"], real["first_id"]);
    assert_eq!(anchor["last_id"], real["last_id"]);
    assert_eq!(&anchor["through"], id);
    assert_eq!(blocks[1].0, "error");
    assert_eq!(blocks[1].1, young);
    drop(from_start);
    let mut resumed = http
        .get(format!("http://{addr}/v1/events?type=error"))
        .bearer_auth(&t.admin)
        .header("last-event-id", id.as_str())
        .send()
        .await
        .expect("reopen");
    let blocks = read_sse(&mut resumed, sse_blocks, |b| !b.is_empty()).await;
    assert_eq!(blocks[0].0, "error", "{blocks:?}");
    assert_eq!(blocks[0].1, young);
}

on_every_backend!(
    a_declared_oversize_body_gets_413_before_it_is_sent,
    real_server_serves_jobs_over_tcp_and_shuts_down_gracefully_with_a_stream_open,
    sse_resume_with_last_event_id_loses_nothing,
    global_log_sse_filters_by_type_and_resumes_without_loss,
    global_log_sse_marks_the_gap_gc_left,
    sse_client_that_never_reads_does_not_make_the_server_buffer_events,
);

/// The sequence numbers of a job's events, in order.
async fn event_seqs(sk: &skynet_core::Skynet, id: &skynet_core::JobId) -> Vec<i64> {
    sk.events(id)
        .await
        .expect("events")
        .iter()
        .map(|e| e.seq)
        .collect()
}
