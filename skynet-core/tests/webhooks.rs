//! Webhooks against a real receiver on 127.0.0.1 (the tests open
//! loopback with the allow-list explicitly): signatures verify with an
//! HMAC computed here, independently of core; a receiver that is down is
//! retried with backoff and then delivered to; one that keeps failing
//! makes a dead letter (announced as an alert, redeliverable); a redirect
//! is not followed; closed or unlisted addresses are refused when an
//! endpoint is made (nothing stored) and again at delivery; a restart
//! resumes delivery without losing an event (both backends); a hanging
//! receiver is cut by the per-request timeout and holds back no other
//! endpoint; a stalled receiver holds only its endpoint's share of the
//! pool while another endpoint gets everything (both backends); another
//! principal sees none of your endpoints; delivery runs on a thread of
//! its own at the lowest CPU priority and stops when its future is
//! dropped. Backoff is injected short.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod backends;
mod service;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use backends::Db;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use skynet_core::events::webhooks::{DeliveryState, NewWebhook, WebhookConfig};
use skynet_core::events::{EventPayload, EventType, NewSystemEvent, Notice};
use skynet_core::probe::NetworkAllow;
use skynet_core::retry::RetryPolicy;
use skynet_core::store::keys::{Grant, Scope};
use skynet_core::{Error, ErrorKind, Principal, Skynet, Visibility};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

on_every_backend!(
    a_restart_resumes_delivery_without_loss,
    a_request_lost_with_its_process_is_sent_again_with_the_same_body,
    a_stalled_endpoint_holds_only_its_own_lane
);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<Received>>,
    /// The status answered (200 unless a test says otherwise).
    status: AtomicU16,
    /// Requests to `/followed` (a redirect's target).
    followed: AtomicUsize,
    /// How long to wait before answering (ms).
    delay_ms: std::sync::atomic::AtomicU64,
}

impl Receiver {
    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let h = |n: &str| {
        headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    r.got.lock().unwrap().push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
        body,
    });
    let delay = r.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap();
    let mut answer = status.into_response();
    if status.is_redirection() {
        answer
            .headers_mut()
            .insert("location", "/followed".parse().unwrap());
    }
    answer
}

async fn followed(State(r): State<Arc<Receiver>>) -> StatusCode {
    r.followed.fetch_add(1, Ordering::SeqCst);
    StatusCode::OK
}

/// A receiver answering `status` on `addr` (a free port when `None`).
async fn receiver_on(addr: Option<SocketAddr>, status: u16) -> (SocketAddr, Arc<Receiver>) {
    let r = Arc::new(Receiver {
        status: AtomicU16::new(status),
        ..Default::default()
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .route("/followed", axum::routing::any(followed))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, r)
}

/// Short timings, loopback opened explicitly (`127.0.0.1` only).
fn config(max_attempts: u32) -> WebhookConfig {
    WebhookConfig {
        allow: NetworkAllow::parse(&["127.0.0.1"]).unwrap(),
        timeout: Duration::from_secs(2),
        concurrency: 8,
        per_endpoint: 8,
        max_attempts,
        backoff: RetryPolicy {
            max_retries: 0,
            base: Duration::from_millis(40),
            max_delay: Duration::from_millis(200),
        },
        poll: Duration::from_millis(20),
    }
}

async fn engine(url: &str, config: WebhookConfig) -> Skynet {
    Skynet::builder()
        .database_url(url)
        .webhooks(config)
        .build()
        .await
        .unwrap()
}

/// The delivery loop in the background until the token is cancelled.
fn run(sk: &Skynet) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let (sk, s) = (sk.clone(), stop.clone());
    (stop, tokio::spawn(async move { sk.run_webhooks(s).await }))
}

async fn note(sk: &Skynet, n: usize) {
    sk.record_event(&NewSystemEvent::now(
        "test",
        EventPayload::OptimizationOpportunity(Notice {
            subject: format!("n{n}"),
            message: format!("event {n}"),
        }),
    ))
    .await
    .unwrap();
}

/// Poll `check` every 20 ms until it holds or `secs` pass.
async fn until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn add(url: String, types: &[&str]) -> NewWebhook {
    NewWebhook {
        url,
        types: types.iter().map(|t| t.to_string()).collect(),
    }
}

/// HMAC-SHA256 written out from its definition (RFC 2104) over sha2:
/// independent of the `hmac` crate core signs with.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Verify as a receiver would: the base64 key after `whsec_`, the signed
/// content `{id}.{timestamp}.{body}`, one of the `v1,` signatures.
fn verifies(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let content = format!("{}.{}.{}", r.id, r.timestamp, r.body);
    let expected = STANDARD.encode(hmac_sha256(&key, content.as_bytes()));
    r.signature
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

#[test]
fn the_independent_hmac_matches_the_reference_vector() {
    let r = Received {
        id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".into(),
        timestamp: "1649367553".into(),
        signature: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=".into(),
        body: r#"{"email":"test@example.com","username":"test_user"}"#.into(),
    };
    assert!(verifies("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", &r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_as_the_standard_says_and_filtered() {
    let db = Db::sqlite();
    let sk = engine(&db.url, config(3)).await;
    let (addr, rx) = receiver_on(None, 200).await;
    let (sk, rx) = (&sk, &rx);
    let created = sk
        .add_webhook(
            &Principal::local(),
            add(
                format!("http://127.0.0.1:{}/hook?token=T0K", addr.port()),
                &["optimization.*"],
            ),
        )
        .await
        .unwrap();
    assert!(created.secret.starts_with("whsec_"));
    assert_eq!(
        created.webhook.url,
        format!("http://127.0.0.1:{}/hook?…", addr.port())
    );
    let listed = serde_json::to_string(&sk.webhooks(&Visibility::All).await.unwrap()).unwrap();
    assert!(
        !listed.contains(&created.secret) && !listed.contains("T0K"),
        "{listed}"
    );
    let (stop, task) = run(sk);
    // Not in the filter: never delivered.
    sk.record_event(&NewSystemEvent::now(
        "test",
        EventPayload::Error(Notice {
            subject: "x".into(),
            message: "not for this endpoint".into(),
        }),
    ))
    .await
    .unwrap();
    note(sk, 1).await;
    until(10, "the delivery", || async move { !rx.got().is_empty() }).await;
    let r = rx.got()[0].clone();
    assert!(verifies(&created.secret, &r), "{r:?}");
    assert!(r.id.starts_with("msg_") && !r.id.contains('.'));
    let ts: i64 = r.timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 30);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["type"], "optimization.opportunity");
    assert_eq!(body["data"]["payload"]["subject"], "n1");
    assert!(body["timestamp"].is_string());
    // A tampered body fails verification.
    let mut forged = r.clone();
    forged.body = forged.body.replace("n1", "n2");
    assert!(!verifies(&created.secret, &forged));
    until(10, "the attempt recorded", || async move {
        let d = sk
            .webhook_deliveries(None, None, &Visibility::All, 10)
            .await
            .unwrap();
        d.len() == 1 && d[0].state == DeliveryState::Delivered
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.got().len(), 1, "the error event is filtered out");
    // `test` sends a signed message now and says what came back.
    let t = sk
        .test_webhook(&created.webhook.id, &Visibility::All)
        .await
        .unwrap();
    assert!(t.delivered && t.status == Some(200), "{t:?}");
    let last = rx.got().last().unwrap().clone();
    assert!(verifies(&created.secret, &last));
    assert!(last.body.contains("webhook.test"));
    stop.cancel();
    task.await.unwrap();
}

/// The nice values of this process's webhook delivery threads, read from
/// `/proc` (Linux keeps a nice value per thread).
#[cfg(target_os = "linux")]
fn delivery_thread_nices() -> Vec<i64> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let task = task.ok()?.path();
            let name = std::fs::read_to_string(task.join("comm")).ok()?;
            if name.trim() != "skynet-webhooks" {
                return None;
            }
            let stat = std::fs::read_to_string(task.join("stat")).ok()?;
            // After the parenthesised name come fields 3 (state) onwards;
            // field 19 is the nice value.
            let fields = &stat[stat.rfind(')')? + 2..];
            fields.split(' ').nth(16)?.parse().ok()
        })
        .collect()
}

/// Delivery is background work: the loop runs on a thread of its own at
/// the lowest CPU priority, and dropping `run_webhooks` (its task
/// aborted) stops it: a later event is not delivered.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_runs_apart_at_the_lowest_priority_and_stops_when_dropped() {
    let db = Db::sqlite();
    let sk = engine(&db.url, config(3)).await;
    let (addr, rx) = receiver_on(None, 200).await;
    let (sk, rx) = (&sk, &rx);
    let hook = add(format!("http://{addr}/hook"), &["optimization.*"]);
    sk.add_webhook(&Principal::local(), hook).await.unwrap();
    let (_stop, task) = run(sk);
    note(sk, 1).await;
    until(
        10,
        "the first delivery",
        || async move { rx.got().len() == 1 },
    )
    .await;
    let nices = delivery_thread_nices();
    assert!(
        !nices.is_empty() && nices.iter().all(|n| *n == 19),
        "delivery threads' nice values: {nices:?}"
    );
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    note(sk, 2).await;
    // Ten polls' worth of time for a loop that wrongly lived on.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        rx.got().len(),
        1,
        "a dropped loop delivered: {:?}",
        rx.got()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_is_down_is_retried_with_backoff_then_delivered() {
    let db = Db::sqlite();
    // A port nothing listens on (for now).
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sk = engine(&db.url, config(50)).await;
    let w = sk
        .add_webhook(
            &Principal::local(),
            add(format!("http://127.0.0.1:{port}/hook"), &[]),
        )
        .await
        .unwrap();
    let (sk, w) = (&sk, &w);
    let (stop, task) = run(sk);
    note(sk, 1).await;
    let attempts = || async move {
        sk.webhook_deliveries(Some(&w.webhook.id), None, &Visibility::All, 10)
            .await
            .unwrap()
    };
    until(10, "three failed attempts", || async move {
        attempts().await.first().is_some_and(|d| d.attempts >= 3)
    })
    .await;
    let (_, rx) = receiver_on(Some(([127, 0, 0, 1], port).into()), 200).await;
    let rx = &rx;
    until(20, "the delivery", || async move {
        attempts().await[0].state == DeliveryState::Delivered
    })
    .await;
    assert_eq!(rx.got().len(), 1);
    assert!(verifies(&w.secret, &rx.got()[0]));
    let d = attempts().await.remove(0);
    let log = sk.webhook_attempts(&d.id, &Visibility::All).await.unwrap();
    assert!(log.len() >= 4, "{log:?}");
    let (failed, last) = log.split_at(log.len() - 1);
    assert!(failed.iter().all(|a| {
        a.status.is_none()
            && a.error
                .as_deref()
                .is_some_and(|e| e.contains("cannot connect"))
    }));
    assert_eq!(last[0].status, Some(200));
    // Backoff: each wait at least half the doubled base (equal jitter).
    for (i, pair) in failed.windows(2).enumerate() {
        let gap = (pair[1].at - pair[0].at).to_std().unwrap();
        let floor = Duration::from_millis(40 * (1 << i) / 2).min(Duration::from_millis(100));
        assert!(
            gap >= floor,
            "attempt {} came {gap:?} after the one before",
            i + 2
        );
    }
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_makes_a_dead_letter_that_can_be_redelivered() {
    let db = Db::sqlite();
    let (addr, rx) = receiver_on(None, 500).await;
    let sk = engine(&db.url, config(3)).await;
    let w = sk
        .add_webhook(&Principal::local(), add(format!("http://{addr}/hook"), &[]))
        .await
        .unwrap();
    let (sk, rx) = (&sk, &rx);
    let (stop, task) = run(sk);
    note(sk, 1).await;
    let dead = || async move {
        sk.webhook_deliveries(None, Some(DeliveryState::Dead), &Visibility::All, 10)
            .await
            .unwrap()
    };
    until(
        10,
        "the dead letter",
        || async move { dead().await.len() == 1 },
    )
    .await;
    let d = dead().await.remove(0);
    assert_eq!((d.attempts, d.last_status), (3, Some(500)));
    assert_eq!(rx.got().len(), 3, "exactly max_attempts requests");
    assert!(
        rx.got().iter().all(|r| r.id == d.id),
        "one webhook-id for every attempt"
    );
    // Announced as an alert, which webhooks never deliver (no loop).
    until(10, "the alert", || async move {
        backends::count_events(sk, EventType::AlertRaised, 1).await == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sk.webhook_deliveries(None, None, &Visibility::All, 10)
            .await
            .unwrap()
            .len(),
        1,
        "the alert about the dead letter is not delivered"
    );
    rx.status.store(200, Ordering::SeqCst);
    let again = sk.redeliver_webhook(&d.id, &Visibility::All).await.unwrap();
    assert_eq!(again.state, DeliveryState::Pending);
    until(10, "the redelivery", || async move {
        sk.webhook_deliveries(None, Some(DeliveryState::Delivered), &Visibility::All, 10)
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;
    let log = sk.webhook_attempts(&d.id, &Visibility::All).await.unwrap();
    assert_eq!(
        log.iter()
            .map(|a| (a.attempt, a.status))
            .collect::<Vec<_>>(),
        [
            (1, Some(500)),
            (2, Some(500)),
            (3, Some(500)),
            (4, Some(200))
        ]
    );
    assert_eq!(rx.got().last().unwrap().id, d.id);
    assert!(verifies(&w.secret, rx.got().last().unwrap()));
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let db = Db::sqlite();
    let (addr, rx) = receiver_on(None, 302).await;
    let sk = engine(&db.url, config(2)).await;
    sk.add_webhook(&Principal::local(), add(format!("http://{addr}/hook"), &[]))
        .await
        .unwrap();
    let sk = &sk;
    let (stop, task) = run(sk);
    note(sk, 1).await;
    until(10, "the dead letter", || async move {
        sk.webhook_deliveries(None, Some(DeliveryState::Dead), &Visibility::All, 10)
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;
    let d = sk
        .webhook_deliveries(None, None, &Visibility::All, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d.last_status, Some(302));
    assert!(d.last_error.unwrap().contains("redirects are not followed"));
    assert_eq!(rx.got().len(), 2);
    assert_eq!(
        rx.followed.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
    stop.cancel();
    task.await.unwrap();
}

/// A receiver that hangs holds only its own request, and only for the
/// per-request timeout: another endpoint's deliveries go on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_is_cut_by_the_timeout_and_holds_back_nobody() {
    let db = Db::sqlite();
    let (slow_addr, slow) = receiver_on(None, 200).await;
    slow.delay_ms.store(30_000, Ordering::SeqCst);
    let (fast_addr, fast) = receiver_on(None, 200).await;
    let sk = engine(
        &db.url,
        WebhookConfig {
            timeout: Duration::from_millis(300),
            concurrency: 4,
            ..config(1)
        },
    )
    .await;
    for addr in [slow_addr, fast_addr] {
        sk.add_webhook(&Principal::local(), add(format!("http://{addr}/hook"), &[]))
            .await
            .unwrap();
    }
    let (sk, fast) = (&sk, &fast);
    let (stop, task) = run(sk);
    for n in 0..10 {
        note(sk, n).await;
    }
    until(10, "the fast endpoint's deliveries", || async move {
        fast.got().len() == 10
    })
    .await;
    until(10, "the slow endpoint's dead letters", || async move {
        sk.webhook_deliveries(None, Some(DeliveryState::Dead), &Visibility::All, 100)
            .await
            .unwrap()
            .len()
            == 10
    })
    .await;
    // Each hanging request was cut by the 300 ms timeout, not answered
    // after the receiver's 30 s: its recorded duration says so, however
    // loaded the machine (the waits above would have given up first).
    let dead = sk
        .webhook_deliveries(None, Some(DeliveryState::Dead), &Visibility::All, 100)
        .await
        .unwrap();
    for d in &dead {
        assert!(
            d.last_error.as_deref().unwrap().contains("timed out"),
            "{d:?}"
        );
        let attempts = sk.webhook_attempts(&d.id, &Visibility::All).await.unwrap();
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        assert!(
            (200..10_000).contains(&attempts[0].duration_ms),
            "{attempts:?}"
        );
    }
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_and_unlisted_addresses_are_refused_and_nothing_is_stored() {
    let db = Db::sqlite();
    let closed = engine(
        &db.url,
        WebhookConfig {
            allow: NetworkAllow::default(),
            ..config(3)
        },
    )
    .await;
    let me = Principal::local();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
    ] {
        let e = closed
            .add_webhook(&me, add(url.into(), &[]))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{url}: {e}");
        assert!(e.to_string().contains("SKYNET_WEBHOOK_ALLOW"), "{url}: {e}");
    }
    // With 127.0.0.1 allowed, only it opens.
    let open = engine(&db.url, config(3)).await;
    for url in [
        "http://127.0.0.2/hook",
        "http://169.254.169.254/",
        "http://192.168.1.1/",
    ] {
        let e = open
            .add_webhook(&me, add(url.into(), &[]))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{url}: {e}");
    }
    for (url, types) in [
        ("ftp://127.0.0.1/x", vec![]),
        ("not a url", vec![]),
        ("http://127.0.0.1/x", vec!["job.exploded"]),
    ] {
        let e = open
            .add_webhook(&me, add(url.into(), &types))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{url}: {e}");
    }
    assert!(
        open.webhooks(&Visibility::All).await.unwrap().is_empty(),
        "nothing stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_closed_since_creation_is_refused_at_delivery() {
    let db = Db::sqlite();
    let (addr, rx) = receiver_on(None, 200).await;
    let open = engine(&db.url, config(3)).await;
    open.add_webhook(&Principal::local(), add(format!("http://{addr}/hook"), &[]))
        .await
        .unwrap();
    // The operator closes loopback again: the next process refuses to send.
    let closed = engine(
        &db.url,
        WebhookConfig {
            allow: NetworkAllow::default(),
            ..config(3)
        },
    )
    .await;
    let closed = &closed;
    let (stop, task) = run(closed);
    note(closed, 1).await;
    until(10, "the refusal", || async move {
        closed
            .webhook_deliveries(None, Some(DeliveryState::Dead), &Visibility::All, 10)
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;
    let d = closed
        .webhook_deliveries(None, None, &Visibility::All, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d.attempts, 1, "a refusal is final, not retried");
    assert!(d.last_error.unwrap().contains("SKYNET_WEBHOOK_ALLOW"));
    assert!(rx.got().is_empty(), "nothing reached the receiver");
    stop.cancel();
    task.await.unwrap();
}

/// A process with one endpoint at `addr` taking `optimization.*` and its
/// delivery loop running, that has noted events `n0` to `n{count - 1}`;
/// with the endpoint's secret.
async fn noting(
    db: &Db,
    addr: SocketAddr,
    max_attempts: u32,
    count: usize,
) -> (
    Skynet,
    String,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let sk = engine(&db.url, config(max_attempts)).await;
    let w = sk
        .add_webhook(
            &Principal::local(),
            add(format!("http://{addr}/hook"), &["optimization.*"]),
        )
        .await
        .unwrap();
    let (stop, task) = run(&sk);
    for n in 0..count {
        note(&sk, n).await;
    }
    (sk, w.secret, stop, task)
}

/// Wait up to `secs` until `count` deliveries are delivered.
async fn until_delivered(sk: &Skynet, count: usize, secs: u64) {
    until(secs, "every event delivered", || async move {
        sk.webhook_deliveries(None, Some(DeliveryState::Delivered), &Visibility::All, 100)
            .await
            .unwrap()
            .len()
            == count
    })
    .await;
}

/// The subjects of the events of `received` that pass `rx_ok`, sorted,
/// each once.
fn subjects(received: &[Received]) -> Vec<String> {
    let mut subjects: Vec<String> = received
        .iter()
        .filter_map(|r| {
            let b: serde_json::Value = serde_json::from_str(&r.body).ok()?;
            rx_ok(&b).then(|| {
                b["data"]["payload"]["subject"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
        })
        .collect();
    subjects.sort();
    subjects.dedup();
    subjects
}

async fn a_restart_resumes_delivery_without_loss(db: Db) {
    let (addr, rx) = receiver_on(None, 503).await;
    let (first, _, stop, task) = noting(&db, addr, 100, 30).await;
    let firsts = &first;
    until(20, "30 deliveries enqueued", || async move {
        firsts
            .webhook_deliveries(None, None, &Visibility::All, 100)
            .await
            .unwrap()
            .len()
            == 30
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    drop(first);
    // While nothing delivers, more events happen.
    let second = engine(&db.url, config(100)).await;
    for n in 30..50 {
        note(&second, n).await;
    }
    rx.status.store(200, Ordering::SeqCst);
    let (stop, task) = run(&second);
    until_delivered(&second, 50, 30).await;
    let mut want: Vec<String> = (0..50).map(|n| format!("n{n}")).collect();
    want.sort();
    assert_eq!(subjects(&rx.got()), want);
    stop.cancel();
    task.await.unwrap();
}

/// A process stopped while its first requests hang (the deliveries were
/// leased to it when enqueued, so no body was stored and nothing was
/// recorded): once the lease lapses another process claims them, rebuilds
/// each body from the event log and sends the very same bytes, under the
/// same `webhook-id`, with a signature that verifies.
async fn a_request_lost_with_its_process_is_sent_again_with_the_same_body(db: Db) {
    let (addr, rx) = receiver_on(None, 200).await;
    rx.delay_ms.store(60_000, Ordering::SeqCst);
    let (first, secret, stop, task) = noting(&db, addr, 5, 5).await;
    let rx = &rx;
    until(
        20,
        "5 requests hanging",
        || async move { rx.got().len() == 5 },
    )
    .await;
    stop.cancel();
    task.await.unwrap();
    drop(first);
    let second = engine(&db.url, config(5)).await;
    let lost = second
        .webhook_deliveries(None, Some(DeliveryState::Pending), &Visibility::All, 100)
        .await
        .unwrap();
    assert_eq!(lost.len(), 5);
    assert!(
        lost.iter().all(|d| d.attempts == 0),
        "nothing recorded: {lost:?}"
    );
    rx.delay_ms.store(0, Ordering::SeqCst);
    let (stop, task) = run(&second);
    until_delivered(&second, 5, 30).await;
    let got = rx.got();
    assert_eq!(got.len(), 10, "each sent twice: {got:?}");
    for d in &lost {
        let sends: Vec<&Received> = got.iter().filter(|r| r.id == d.id).collect();
        assert_eq!(sends.len(), 2, "{}", d.id);
        assert_eq!(sends[0].body, sends[1].body, "the same bytes");
        assert!(sends.iter().all(|r| verifies(&secret, r)));
    }
    assert_eq!(subjects(&got), ["n0", "n1", "n2", "n3", "n4"]);
    stop.cancel();
    task.await.unwrap();
}

/// A receiver that stalls (answers nothing for a minute, longer than the
/// test) holds only `per_endpoint` requests: the pool's other slots keep
/// delivering to a healthy endpoint, which gets all its deliveries while
/// the stalled one still has exactly its two requests open and no
/// attempt recorded (none timed out yet). With one shared pool the
/// stalled endpoint would take all four slots until the timeout.
async fn a_stalled_endpoint_holds_only_its_own_lane(db: Db) {
    let (stalled_addr, stalled) = receiver_on(None, 200).await;
    stalled.delay_ms.store(60_000, Ordering::SeqCst);
    let (healthy_addr, healthy) = receiver_on(None, 200).await;
    let sk = engine(
        &db.url,
        WebhookConfig {
            timeout: Duration::from_secs(50),
            concurrency: 4,
            per_endpoint: 2,
            ..config(3)
        },
    )
    .await;
    // The stalled endpoint is made first: its deliveries are as old as
    // the healthy one's and come first in any shared queue.
    for addr in [stalled_addr, healthy_addr] {
        sk.add_webhook(&Principal::local(), add(format!("http://{addr}/hook"), &[]))
            .await
            .unwrap();
    }
    for n in 0..20 {
        note(&sk, n).await;
    }
    let (sk, healthy_rx, stalled_rx) = (&sk, &healthy, &stalled);
    let (stop, task) = run(sk);
    until(30, "the healthy endpoint's 20 deliveries", || async move {
        healthy_rx.got().len() >= 20
    })
    .await;
    until(
        10,
        "the healthy endpoint's deliveries recorded",
        || async move {
            sk.webhook_deliveries(None, Some(DeliveryState::Delivered), &Visibility::All, 100)
                .await
                .unwrap()
                .len()
                == 20
        },
    )
    .await;
    assert_eq!(
        stalled_rx.got().len(),
        2,
        "the stalled endpoint holds its two requests, no more"
    );
    let stalled_id = sk.webhooks(&Visibility::All).await.unwrap()[0].id.clone();
    let stalled_deliveries = sk
        .webhook_deliveries(Some(&stalled_id), None, &Visibility::All, 100)
        .await
        .unwrap();
    assert_eq!(stalled_deliveries.len(), 20);
    assert!(
        stalled_deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Pending && d.attempts == 0),
        "no stalled request has ended: {stalled_deliveries:?}"
    );
    stop.cancel();
    task.await.unwrap();
}

/// Every body the receiver got is a webhook of the catalogue's shape.
fn rx_ok(body: &serde_json::Value) -> bool {
    body["type"] == "optimization.opportunity"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_principal_sees_none_of_your_webhooks() {
    let db = Db::sqlite();
    let (addr, _rx) = receiver_on(None, 200).await;
    let sk = engine(&db.url, config(3)).await;
    let grant = |p: &str, scopes: Vec<Scope>| Grant {
        principal: Principal::new(p).unwrap(),
        scopes,
        actor: format!("test:{p}"),
    };
    let alice = sk.acting_as(grant("alice", vec![Scope::Admin]));
    let w = alice
        .add_webhook(add(format!("http://{addr}/hook"), &[]))
        .await
        .unwrap();
    assert_eq!(w.webhook.principal.as_str(), "alice");
    // Bob reads (and submits) but may not change webhooks.
    let bob = sk.acting_as(grant("bob", vec![Scope::Read, Scope::Submit]));
    assert!(bob.webhooks().await.unwrap().is_empty());
    assert!(matches!(
        bob.add_webhook(add(format!("http://{addr}/hook"), &[]))
            .await,
        Err(Error::NotPermitted(_))
    ));
    assert!(matches!(
        bob.remove_webhook(&w.webhook.id).await,
        Err(Error::NotPermitted(_))
    ));
    let bob_owner = Visibility::Own(Principal::new("bob").unwrap());
    assert!(matches!(
        sk.remove_webhook(&w.webhook.id, &bob_owner).await,
        Err(Error::WebhookNotFound(_))
    ));
    assert!(matches!(
        sk.test_webhook(&w.webhook.id, &bob_owner).await,
        Err(Error::WebhookNotFound(_))
    ));
    assert!(matches!(
        sk.webhook_deliveries(Some(&w.webhook.id), None, &bob_owner, 10)
            .await,
        Err(Error::WebhookNotFound(_))
    ));
    assert!(
        bob.webhook_deliveries(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(alice.webhooks().await.unwrap().len(), 1);
    alice.remove_webhook(&w.webhook.id).await.unwrap();
    assert!(sk.webhooks(&Visibility::All).await.unwrap().is_empty());
}
