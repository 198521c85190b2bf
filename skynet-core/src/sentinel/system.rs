//! System checks: the ledger answers, the queue moves, workers are there.

use super::config::SentinelConfig;
use super::history::HealthStatus;
use crate::JobStatus;
use crate::store::{SharedStore, WorkerState};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

/// One component's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentReport {
    /// The verdict.
    pub status: HealthStatus,
    /// Why, for a person (counts and ages, no secrets).
    pub message: String,
}

impl ComponentReport {
    fn new(status: HealthStatus, message: impl Into<String>) -> Self {
        ComponentReport {
            status,
            message: message.into(),
        }
    }
}

/// The outcome of one round of system checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemReport {
    /// When the round ran.
    pub at: DateTime<Utc>,
    /// The ledger answers: unhealthy when a query fails or times out.
    pub database: ComponentReport,
    /// The queue moves: degraded when a due job has waited longer than
    /// `queue_age_warning`, unhealthy past `queue_age_critical`.
    pub queue: ComponentReport,
    /// Workers are there: unhealthy when jobs are queued and no worker is
    /// online; healthy otherwise (no workers and nothing queued is fine).
    pub workers: ComponentReport,
    /// Jobs in `queued` (`None` when the ledger did not answer).
    pub queue_depth: Option<u64>,
    /// How long the longest-waiting due job has waited, in seconds.
    pub oldest_queued_age_secs: Option<u64>,
    /// Workers online or busy.
    pub workers_online: Option<u32>,
}

/// Run `query` within `timeout`, folding a timeout into the error text.
async fn bounded<T>(
    timeout: Duration,
    query: impl Future<Output = crate::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, query).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Check the ledger, the queue and the workers once.
/// Workers silent for `offline_after` are marked offline first (as
/// `skynet workers` does).
pub(crate) async fn check(
    store: &SharedStore,
    config: &SentinelConfig,
    offline_after: Duration,
) -> SystemReport {
    let now = Utc::now();
    let t = config.check_timeout;
    let unknown = |why: &str| ComponentReport::new(HealthStatus::Unknown, why);
    let counts = match bounded(t, store.count_jobs_by_status()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "sentinel: the ledger is not answering");
            return SystemReport {
                at: now,
                database: ComponentReport::new(
                    HealthStatus::Unhealthy,
                    format!("the {} ledger is not answering: {e}", store.backend()),
                ),
                queue: unknown("the ledger is not answering"),
                workers: unknown("the ledger is not answering"),
                queue_depth: None,
                oldest_queued_age_secs: None,
                workers_online: None,
            };
        }
    };
    let depth = crate::store::jobs_in(&counts, JobStatus::Queued);
    let database = ComponentReport::new(
        HealthStatus::Healthy,
        format!("the {} ledger answers", store.backend()),
    );
    let (queue, age) = match bounded(t, store.oldest_queued_since(now)).await {
        Ok(since) => {
            let age = since.map(|s| (now - s).to_std().unwrap_or_default());
            (queue_verdict(depth, age, config), age.map(|a| a.as_secs()))
        }
        Err(e) => (
            ComponentReport::new(HealthStatus::Unknown, format!("queue age unknown: {e}")),
            None,
        ),
    };
    let (workers, online) = match bounded(t, online_workers(store, now, offline_after)).await {
        Ok(n) => (workers_verdict(n, depth), Some(n)),
        Err(e) => (
            ComponentReport::new(HealthStatus::Unknown, format!("workers unknown: {e}")),
            None,
        ),
    };
    SystemReport {
        at: now,
        database,
        queue,
        workers,
        queue_depth: Some(depth),
        oldest_queued_age_secs: age,
        workers_online: online,
    }
}

async fn online_workers(
    store: &SharedStore,
    now: DateTime<Utc>,
    offline_after: Duration,
) -> crate::Result<u32> {
    let before = now - chrono::Duration::from_std(offline_after).unwrap_or_default();
    store.mark_stale_workers(before).await?;
    let workers = store.workers().await?;
    let online = workers
        .iter()
        .filter(|w| w.state != WorkerState::Offline)
        .count();
    Ok(u32::try_from(online).unwrap_or(u32::MAX))
}

fn queue_verdict(depth: u64, age: Option<Duration>, config: &SentinelConfig) -> ComponentReport {
    let Some(age) = age else {
        return ComponentReport::new(
            HealthStatus::Healthy,
            format!("{depth} queued, none waiting"),
        );
    };
    let waited = humantime::format_duration(Duration::from_secs(age.as_secs()));
    let message = format!("{depth} queued, the oldest due job has waited {waited}");
    let status = if age > config.queue_age_critical {
        HealthStatus::Unhealthy
    } else if age > config.queue_age_warning {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    };
    ComponentReport::new(status, message)
}

fn workers_verdict(online: u32, depth: u64) -> ComponentReport {
    match (online, depth) {
        (0, 0) => ComponentReport::new(HealthStatus::Healthy, "no worker online, nothing queued"),
        (0, n) => ComponentReport::new(
            HealthStatus::Unhealthy,
            format!(
                "no worker online while {n} {} queued: start a worker",
                if n == 1 { "job is" } else { "jobs are" }
            ),
        ),
        (n, _) => ComponentReport::new(HealthStatus::Healthy, format!("{n} online")),
    }
}
