//! The health sentinel against real parts: providers whose health we
//! control, a real SQLite ledger, and a real local HTTP server for the
//! webhook.
#![allow(clippy::unwrap_used)]

mod job_support;
mod service;

use async_trait::async_trait;
use chrono::Utc;
use skynet_core::plan::Command;
use skynet_core::provider::{Capabilities, ExecContext, Health, Output, Provider};
use skynet_core::sentinel::{
    Alert, AlertSink, HealthStatus, Sentinel, SentinelConfig, Severity, WebhookSink, WebhookUrl,
};
use skynet_core::store::{self, SharedStore, WorkerInfo};
use skynet_core::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A provider whose health the test flips.
struct Flipping {
    name: &'static str,
    healthy: AtomicBool,
}

impl Flipping {
    fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Flipping {
            name,
            healthy: AtomicBool::new(true),
        })
    }
    fn set(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }
}

#[async_trait]
impl Provider for Flipping {
    fn name(&self) -> &str {
        self.name
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn health(&self) -> Health {
        let healthy = self.healthy.load(Ordering::SeqCst);
        Health {
            healthy,
            message: if healthy { "fine" } else { "daemon gone" }.into(),
        }
    }
    async fn execute(&self, _: &Command, _: ExecContext) -> Result<Output> {
        Err(Error::Provider {
            provider: self.name.into(),
            message: "runs nothing".into(),
        })
    }
}

/// A provider whose health check never answers.
struct Hung;

#[async_trait]
impl Provider for Hung {
    fn name(&self) -> &str {
        "hung"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn health(&self) -> Health {
        std::future::pending().await
    }
    async fn execute(&self, _: &Command, _: ExecContext) -> Result<Output> {
        std::future::pending().await
    }
}

/// Collects what it is given.
#[derive(Default)]
struct Collect(Mutex<Vec<Alert>>);

impl Collect {
    fn taken(&self) -> Vec<(Severity, String)> {
        std::mem::take(&mut *self.0.lock().unwrap())
            .into_iter()
            .map(|a| (a.severity, a.source))
            .collect()
    }
}

#[async_trait]
impl AlertSink for Collect {
    fn name(&self) -> &str {
        "collect"
    }
    async fn deliver(&self, alert: &Alert) -> Result<()> {
        self.0.lock().unwrap().push(alert.clone());
        Ok(())
    }
}

async fn memory_store() -> SharedStore {
    store::connect("sqlite::memory:").await.unwrap()
}

fn config() -> SentinelConfig {
    SentinelConfig {
        check_timeout: Duration::from_millis(300),
        ..SentinelConfig::default()
    }
}

#[tokio::test]
async fn a_flipping_provider_alerts_once_per_change_and_sinks_filter_by_severity() {
    let flip = Flipping::new("flip");
    let sentinel = Sentinel::new(memory_store().await, vec![flip.clone()], config());
    let (all, warnings) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    sentinel.add_sink(all.clone(), Severity::Info);
    sentinel.add_sink(warnings.clone(), Severity::Warning);
    let source = "provider:flip".to_string();

    assert_eq!(sentinel.status("flip"), Some(HealthStatus::Unknown));
    assert_eq!(sentinel.health_ratio("flip"), None);
    for _ in 0..2 {
        sentinel.check_providers().await;
    }
    assert_eq!(sentinel.status("flip"), Some(HealthStatus::Healthy));
    assert!(all.taken().is_empty(), "a healthy start is no news");

    flip.set(false);
    let reports = sentinel.check_providers().await;
    assert_eq!(reports[0].status, HealthStatus::Degraded);
    assert_eq!(reports[0].message, "daemon gone");
    assert_eq!(reports[0].consecutive_failures, 1);
    sentinel.check_providers().await;
    assert_eq!(sentinel.status("flip"), Some(HealthStatus::Degraded));
    assert_eq!(
        all.taken(),
        vec![(Severity::Warning, source.clone())],
        "two degraded rounds, one alert"
    );
    assert_eq!(warnings.taken(), vec![(Severity::Warning, source.clone())]);

    flip.set(true);
    sentinel.check_providers().await;
    sentinel.check_providers().await;
    assert_eq!(sentinel.status("flip"), Some(HealthStatus::Healthy));
    assert_eq!(all.taken(), vec![(Severity::Info, source.clone())]);
    assert!(
        warnings.taken().is_empty(),
        "info is below the warning sink"
    );
    assert_eq!(sentinel.health_ratio("flip"), Some(4.0 / 6.0));
    assert!(sentinel.active_alerts().is_empty());

    // Three failures in a row: degraded, then unhealthy (critical); a pass
    // after that is degraded again (three failures still in the window).
    flip.set(false);
    for _ in 0..4 {
        sentinel.check_providers().await;
    }
    assert_eq!(sentinel.status("flip"), Some(HealthStatus::Unhealthy));
    assert_eq!(
        all.taken(),
        vec![
            (Severity::Warning, source.clone()),
            (Severity::Critical, source.clone())
        ]
    );
    assert_eq!(
        sentinel.active_alerts(),
        vec![(source.clone(), Severity::Critical)]
    );
    flip.set(true);
    sentinel.check_providers().await;
    assert_eq!(sentinel.status("flip"), Some(HealthStatus::Degraded));
    assert_eq!(all.taken(), vec![(Severity::Warning, source.clone())]);

    assert_eq!(sentinel.history("flip").len(), 11);
    let rounds = sentinel.rounds();
    assert_eq!(rounds.len(), 11);
    assert_eq!((rounds[2].healthy_count, rounds[2].unhealthy_count), (0, 1));
    assert_eq!(sentinel.status("nope"), None);
}

#[tokio::test]
async fn a_hung_health_check_times_out_without_holding_up_the_others() {
    let ok = Flipping::new("ok");
    let sentinel = Sentinel::new(memory_store().await, vec![Arc::new(Hung), ok], config());
    let sink = Arc::new(Collect::default());
    sentinel.add_sink(sink.clone(), Severity::Info);
    let reports = sentinel.check_providers().await;
    let hung = reports.iter().find(|r| r.name == "hung").unwrap();
    assert_eq!(hung.healthy, Some(false));
    assert!(hung.message.contains("timed out"), "{}", hung.message);
    assert_eq!(hung.status, HealthStatus::Unhealthy, "never seen working");
    let ok = reports.iter().find(|r| r.name == "ok").unwrap();
    assert_eq!((ok.healthy, ok.status), (Some(true), HealthStatus::Healthy));
    assert_eq!(
        sink.taken(),
        vec![(Severity::Critical, "provider:hung".to_string())]
    );
}

#[tokio::test]
async fn the_webhook_receives_each_alert_as_json_and_a_dead_one_is_not_fatal() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/T0/SECRET"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let flip = Flipping::new("flip");
    let sentinel = Sentinel::new(memory_store().await, vec![flip.clone()], config());
    let url = WebhookUrl::parse(&format!("{}/hooks/T0/SECRET", server.uri())).unwrap();
    sentinel.add_sink(Arc::new(WebhookSink::new(url)), Severity::Warning);
    // A webhook nobody listens on: logged, and the others still get it.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = WebhookUrl::parse(&format!("http://127.0.0.1:{dead}/x")).unwrap();
    sentinel.add_sink(Arc::new(WebhookSink::new(dead)), Severity::Info);
    let after = Arc::new(Collect::default());
    sentinel.add_sink(after.clone(), Severity::Info);

    sentinel.check_providers().await;
    flip.set(false);
    sentinel.check_providers().await;
    flip.set(true);
    sentinel.check_providers().await;

    assert_eq!(after.taken().len(), 2, "degraded, then recovered");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "the recovery (info) is below warning");
    let body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["severity"], "warning");
    assert_eq!(body["source"], "provider:flip");
    assert!(
        body["message"].as_str().unwrap().contains("daemon gone"),
        "{body}"
    );
    let at = body["at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
    assert_eq!(
        received[0].headers.get("content-type").unwrap(),
        "application/json"
    );
}

fn queued_job(waited: chrono::Duration) -> skynet_core::Job {
    let plan = skynet_core::Plan::new("nothing", vec![], "test");
    let since = Utc::now() - waited;
    skynet_core::Job {
        run_at: since,
        created_at: since,
        queued_at: Some(since),
        ..job_support::queued_job("list", plan)
    }
}

#[tokio::test]
async fn system_checks_read_the_ledger_and_alert_on_old_queues_and_missing_workers() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::connect(&format!("sqlite://{}", dir.path().join("s.db").display()))
        .await
        .unwrap();
    let sentinel = Sentinel::new(store.clone(), vec![], config());
    let sink = Arc::new(Collect::default());
    sentinel.add_sink(sink.clone(), Severity::Info);

    let r = sentinel.check_system().await;
    assert_eq!(r.database.status, HealthStatus::Healthy);
    assert_eq!(r.queue.status, HealthStatus::Healthy);
    assert_eq!(r.workers.status, HealthStatus::Healthy);
    assert_eq!(
        (r.queue_depth, r.oldest_queued_age_secs, r.workers_online),
        (Some(0), None, Some(0))
    );
    assert!(sink.taken().is_empty());

    store
        .insert_job(&queued_job(chrono::Duration::minutes(10)))
        .await
        .unwrap();
    let r = sentinel.check_system().await;
    assert_eq!(r.queue_depth, Some(1));
    assert!(r.oldest_queued_age_secs.unwrap() >= 600);
    assert_eq!(r.queue.status, HealthStatus::Degraded, "past 5 min");
    assert_eq!(r.workers.status, HealthStatus::Unhealthy);
    sentinel.check_system().await;
    assert_eq!(
        sink.taken(),
        vec![
            (Severity::Warning, "queue".to_string()),
            (Severity::Critical, "workers".to_string())
        ],
        "two rounds, one alert per condition"
    );

    store
        .register_worker(&WorkerInfo {
            id: "w1".into(),
            host: "h".into(),
            pid: 1,
            version: "t".into(),
            providers: vec!["mock".into()],
            capacity: 1,
        })
        .await
        .unwrap();
    let r = sentinel.check_system().await;
    assert_eq!(
        (r.workers.status, r.workers_online),
        (HealthStatus::Healthy, Some(1))
    );
    assert_eq!(sink.taken(), vec![(Severity::Info, "workers".to_string())]);
    let report = sentinel.latest().unwrap();
    assert_eq!(report.status, HealthStatus::Degraded, "the old queue");
    assert_eq!(report.components["database"].status, HealthStatus::Healthy);
}

#[tokio::test]
async fn the_engine_carries_a_sentinel_over_its_providers() {
    let sk = skynet_core::Skynet::builder().build().await.unwrap();
    let report = sk.sentinel().check_now().await;
    let names: Vec<_> = report.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["local", "mock"]);
    assert_eq!(report.components["database"].status, HealthStatus::Healthy);
    assert_eq!(sk.sentinel().health_ratio("mock"), Some(1.0));
    // The background loop checks at once, then every interval.
    let stop = tokio_util::sync::CancellationToken::new();
    let task = sk.sentinel().spawn(stop.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sk.sentinel().rounds().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no round ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await.unwrap();
}

/// A ledger that stops answering (its PostgreSQL database is dropped under
/// it) is a critical `database` alert, raised once. Needs
/// `SKYNET_TEST_POSTGRES_URL`.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_raises_one_critical_alert() {
    use sqlx::Connection;
    let Some(server) = service::service_var(
        "an_unreachable_database_raises_one_critical_alert",
        "SKYNET_TEST_POSTGRES_URL",
    ) else {
        return;
    };
    let base = server.split('?').next().unwrap();
    let (root, _) = base.rsplit_once('/').unwrap();
    let name = format!("skynet_sentinel_{}", uuid::Uuid::now_v7().simple());
    let url = format!("{root}/{name}");
    assert!(store::postgres::create_database(&url).await.unwrap());
    let store = store::connect(&url).await.unwrap();
    let sentinel = Sentinel::new(store, vec![], config());
    let sink = Arc::new(Collect::default());
    sentinel.add_sink(sink.clone(), Severity::Info);
    assert_eq!(
        sentinel.check_system().await.database.status,
        HealthStatus::Healthy
    );

    let mut admin = sqlx::PgConnection::connect(base).await.unwrap();
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    for _ in 0..2 {
        let r = sentinel.check_system().await;
        assert_eq!(r.database.status, HealthStatus::Unhealthy, "{r:?}");
        assert_eq!(r.queue.status, HealthStatus::Unknown);
        assert_eq!(r.queue_depth, None);
    }
    assert_eq!(
        sink.taken(),
        vec![(Severity::Critical, "database".to_string())]
    );
}
