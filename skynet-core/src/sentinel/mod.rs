//! The sentinel: provider and system health over time, and alerts on
//! changes.
//!
//! Every `interval` it checks every provider at once (each bounded by
//! `check_timeout`; a hung check fails with "timed out") and the system
//! (ledger, queue age, workers), keeps each provider's last
//! [`history::HISTORY_LEN`] checks, derives a status
//! ([`ProviderHistory::status`] documents the rules) and raises an
//! [`Alert`] when a status changes, once per condition until it clears.
//! The scheduler reads [`Sentinel::health_ratio`].

pub mod alert;
pub mod config;
pub mod event_sink;
pub mod history;
pub mod system;
pub mod webhook;

pub use alert::{Alert, AlertSink, LogSink, Severity};
pub use config::SentinelConfig;
pub use event_sink::EventLogSink;
pub use history::{CheckRecord, HealthStatus, ProviderHistory};
pub use system::{ComponentReport, SystemReport};
pub use webhook::{WebhookSink, WebhookUrl};

use crate::provider::Provider;
use crate::store::SharedStore;
use alert::Conditions;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Rounds of provider checks kept for [`Sentinel::rounds`].
const ROUNDS_KEPT: usize = 100;

/// One provider's health as the sentinel sees it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderReport {
    /// Registered name.
    pub name: String,
    /// Status over the recent checks.
    pub status: HealthStatus,
    /// Whether the newest check passed (`None` before the first).
    pub healthy: Option<bool>,
    /// The newest check's message.
    pub message: String,
    /// The newest check's duration.
    pub latency_ms: Option<u64>,
    /// Failed checks in a row.
    pub consecutive_failures: u32,
    /// Healthy fraction of the last ten checks.
    pub health_ratio: Option<f64>,
    /// When the newest check ran.
    pub checked_at: Option<DateTime<Utc>>,
}

/// One round of provider checks, summarized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundSample {
    /// When the round ran.
    pub at: DateTime<Utc>,
    /// Providers whose check passed.
    pub healthy_count: usize,
    /// Providers whose check failed.
    pub unhealthy_count: usize,
}

/// Everything at once: what `skynet health` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// The worst component status.
    pub status: HealthStatus,
    /// When the checks ran.
    pub at: DateTime<Utc>,
    /// `database`, `queue`, `workers`, `providers`.
    pub components: BTreeMap<String, ComponentReport>,
    /// Jobs in `queued`.
    pub queue_depth: Option<u64>,
    /// How long the longest-waiting due job has waited, in seconds.
    pub oldest_queued_age_secs: Option<u64>,
    /// Workers online or busy.
    pub workers_online: Option<u32>,
    /// Each provider.
    pub providers: Vec<ProviderReport>,
}

struct SinkEntry {
    sink: Arc<dyn AlertSink>,
    min: Severity,
}

#[derive(Default)]
struct State {
    providers: BTreeMap<String, ProviderHistory>,
    rounds: VecDeque<RoundSample>,
    system: Option<SystemReport>,
    conditions: Conditions,
}

/// Watches providers and the system; see the module docs.
pub struct Sentinel {
    store: SharedStore,
    providers: Vec<Arc<dyn Provider>>,
    config: SentinelConfig,
    /// Workers silent this long count as offline (the engine's setting).
    worker_offline_after: Duration,
    state: Mutex<State>,
    sinks: Mutex<Vec<SinkEntry>>,
}

impl std::fmt::Debug for Sentinel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sentinel")
            .field("config", &self.config)
            .field(
                "providers",
                &self.providers.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Sentinel {
    /// Count workers silent for `after` as offline (default 10 s; the
    /// engine passes [`crate::engine::EngineConfig::worker_offline_after`]).
    pub fn with_worker_offline_after(mut self, after: Duration) -> Self {
        self.worker_offline_after = after;
        self
    }

    /// A sentinel over `store` and `providers` with no sinks (add them with
    /// [`Sentinel::add_sink`]; [`crate::Skynet`] adds the log and the
    /// configured webhook).
    pub fn new(
        store: SharedStore,
        providers: Vec<Arc<dyn Provider>>,
        config: SentinelConfig,
    ) -> Self {
        let conditions = Conditions::new(config.renotify);
        Sentinel {
            store,
            providers,
            config,
            worker_offline_after: crate::engine::EngineConfig::default().worker_offline_after,
            state: Mutex::new(State {
                conditions,
                ..State::default()
            }),
            sinks: Mutex::new(Vec::new()),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &SentinelConfig {
        &self.config
    }

    /// Deliver alerts of at least `min` severity to `sink` from now on.
    pub fn add_sink(&self, sink: Arc<dyn AlertSink>, min: Severity) {
        lock(&self.sinks).push(SinkEntry { sink, min });
    }

    /// Check every provider now (concurrently, each within
    /// `check_timeout`), record the results, alert on status changes, and
    /// return every provider's report.
    pub async fn check_providers(&self) -> Vec<ProviderReport> {
        let timeout = self.config.check_timeout;
        let checks = futures::future::join_all(self.providers.iter().map(|p| async move {
            let at = Utc::now();
            let started = Instant::now();
            let (healthy, message) = match tokio::time::timeout(timeout, p.health()).await {
                Ok(h) => (h.healthy, h.message),
                Err(_) => (
                    false,
                    format!(
                        "health check timed out after {}",
                        humantime::format_duration(timeout)
                    ),
                ),
            };
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            (
                p.name().to_string(),
                CheckRecord {
                    at,
                    healthy,
                    message,
                    latency_ms,
                },
            )
        }))
        .await;
        let now = Utc::now();
        let alerts = {
            let mut state = lock(&self.state);
            let state = &mut *state;
            let mut alerts = Vec::new();
            let healthy_count = checks.iter().filter(|(_, c)| c.healthy).count();
            for (name, check) in checks {
                let history = state.providers.entry(name.clone()).or_default();
                let before = history.status();
                let message = check.message.clone();
                history.record(check);
                let after = history.status();
                if before != after {
                    alerts.extend(provider_alert(
                        &mut state.conditions,
                        &name,
                        before,
                        after,
                        &message,
                        now,
                    ));
                }
            }
            if state.rounds.len() == ROUNDS_KEPT {
                state.rounds.pop_front();
            }
            state.rounds.push_back(RoundSample {
                at: now,
                healthy_count,
                unhealthy_count: self.providers.len() - healthy_count,
            });
            alerts
        };
        self.deliver(alerts).await;
        self.provider_reports()
    }

    /// Check the ledger, the queue and the workers now, alert on changes,
    /// and return the report.
    pub async fn check_system(&self) -> SystemReport {
        let report = system::check(&self.store, &self.config, self.worker_offline_after).await;
        let now = report.at;
        let alerts = {
            let mut state = lock(&self.state);
            let c = &mut state.conditions;
            let mut alerts = Vec::new();
            for (source, component, severity_when_unhealthy) in [
                ("database", &report.database, Severity::Critical),
                ("queue", &report.queue, Severity::Critical),
                ("workers", &report.workers, Severity::Critical),
            ] {
                let alert = match component.status {
                    HealthStatus::Unhealthy => c.raise(
                        source,
                        severity_when_unhealthy,
                        component.message.clone(),
                        now,
                    ),
                    HealthStatus::Degraded => {
                        c.raise(source, Severity::Warning, component.message.clone(), now)
                    }
                    HealthStatus::Healthy => c.clear(
                        source,
                        format!("{source} recovered: {}", component.message),
                        now,
                    ),
                    // Unknown because something else failed: no news.
                    HealthStatus::Unknown => None,
                };
                alerts.extend(alert);
            }
            state.system = Some(report.clone());
            alerts
        };
        self.deliver(alerts).await;
        report
    }

    /// One round of every check now; the combined report.
    pub async fn check_now(&self) -> HealthReport {
        let (providers, system) = tokio::join!(self.check_providers(), self.check_system());
        combine(system, providers)
    }

    /// The combined report from the latest round, without checking
    /// (`None` before the first system check).
    pub fn latest(&self) -> Option<HealthReport> {
        let system = lock(&self.state).system.clone()?;
        Some(combine(system, self.provider_reports()))
    }

    /// Every provider's report from the checks so far (without checking).
    pub fn provider_reports(&self) -> Vec<ProviderReport> {
        let state = lock(&self.state);
        self.providers
            .iter()
            .map(|p| {
                let name = p.name().to_string();
                match state.providers.get(&name) {
                    Some(h) => report(name, h),
                    None => report(name, &ProviderHistory::default()),
                }
            })
            .collect()
    }

    /// The latest system report (`None` before the first system check).
    pub fn system_report(&self) -> Option<SystemReport> {
        lock(&self.state).system.clone()
    }

    /// The last rounds of provider checks, oldest first (at most 100).
    pub fn rounds(&self) -> Vec<RoundSample> {
        lock(&self.state).rounds.iter().cloned().collect()
    }

    /// A provider's recorded checks, oldest first (at most 100).
    pub fn history(&self, provider: &str) -> Vec<CheckRecord> {
        lock(&self.state)
            .providers
            .get(provider)
            .map(|h| h.checks().cloned().collect())
            .unwrap_or_default()
    }

    /// A provider's status (`None` for an unknown name).
    pub fn status(&self, provider: &str) -> Option<HealthStatus> {
        if !self.providers.iter().any(|p| p.name() == provider) {
            return None;
        }
        Some(
            lock(&self.state)
                .providers
                .get(provider)
                .map_or(HealthStatus::Unknown, ProviderHistory::status),
        )
    }

    /// The healthy fraction of a provider's last ten checks, in `0..=1`
    /// (`None` for an unknown name or before its first check).
    pub fn health_ratio(&self, provider: &str) -> Option<f64> {
        lock(&self.state)
            .providers
            .get(provider)
            .and_then(ProviderHistory::health_ratio)
    }

    /// The alert conditions that hold now: `(source, severity)`.
    pub fn active_alerts(&self) -> Vec<(String, Severity)> {
        lock(&self.state).conditions.active()
    }

    /// Check every `interval` until `shutdown` (the first round at once).
    pub async fn run(&self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.check_now() => {}
            }
        }
    }

    /// [`Sentinel::run`] on a background task.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run(shutdown).await })
    }

    async fn deliver(&self, alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        let sinks: Vec<(Arc<dyn AlertSink>, Severity)> = lock(&self.sinks)
            .iter()
            .map(|s| (s.sink.clone(), s.min))
            .collect();
        for alert in &alerts {
            let sends = sinks.iter().filter(|(_, min)| alert.severity >= *min).map(
                |(sink, _)| async move {
                    if let Err(e) = sink.deliver(alert).await {
                        tracing::warn!(sink = sink.name(), error = %e, "alert not delivered");
                    }
                },
            );
            futures::future::join_all(sends).await;
        }
    }
}

/// The alert for a provider whose status went from `before` to `after`.
fn provider_alert(
    conditions: &mut Conditions,
    name: &str,
    before: HealthStatus,
    after: HealthStatus,
    message: &str,
    now: DateTime<Utc>,
) -> Option<Alert> {
    let source = format!("provider:{name}");
    match after {
        HealthStatus::Healthy => conditions.clear(
            &source,
            format!("provider {name} recovered ({before} -> healthy): {message}"),
            now,
        ),
        HealthStatus::Degraded => conditions.raise(
            &source,
            Severity::Warning,
            format!("provider {name} is degraded ({before} -> degraded): {message}"),
            now,
        ),
        HealthStatus::Unhealthy => conditions.raise(
            &source,
            Severity::Critical,
            format!("provider {name} is unhealthy ({before} -> unhealthy): {message}"),
            now,
        ),
        HealthStatus::Unknown => None,
    }
}

fn report(name: String, h: &ProviderHistory) -> ProviderReport {
    let last = h.last();
    ProviderReport {
        name,
        status: h.status(),
        healthy: last.map(|c| c.healthy),
        message: last.map_or_else(|| "not checked yet".into(), |c| c.message.clone()),
        latency_ms: last.map(|c| c.latency_ms),
        consecutive_failures: h.consecutive_failures(),
        health_ratio: h.health_ratio(),
        checked_at: last.map(|c| c.at),
    }
}

fn combine(system: SystemReport, providers: Vec<ProviderReport>) -> HealthReport {
    let worst = providers
        .iter()
        .map(|p| p.status)
        .max()
        .unwrap_or(HealthStatus::Healthy);
    let summary = providers
        .iter()
        .map(|p| format!("{} {}", p.name, p.status))
        .collect::<Vec<_>>()
        .join(", ");
    let mut components = BTreeMap::new();
    components.insert("database".to_string(), system.database);
    components.insert("queue".to_string(), system.queue);
    components.insert("workers".to_string(), system.workers);
    components.insert(
        "providers".to_string(),
        ComponentReport {
            status: worst,
            message: if summary.is_empty() {
                "none registered".into()
            } else {
                summary
            },
        },
    );
    HealthReport {
        status: components
            .values()
            .map(|c| c.status)
            .max()
            .unwrap_or(HealthStatus::Healthy),
        at: system.at,
        components,
        queue_depth: system.queue_depth,
        oldest_queued_age_secs: system.oldest_queued_age_secs,
        workers_online: system.workers_online,
        providers,
    }
}

/// The state stays consistent even if a holder panicked (every update is
/// a single push or insert), so a poisoned lock is used as is.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scheduler scores a provider's health by its recent checks.
impl crate::scheduler::HealthSource for Sentinel {
    fn health_ratio(&self, provider: &str) -> Option<f64> {
        Sentinel::health_ratio(self, provider)
    }
}
