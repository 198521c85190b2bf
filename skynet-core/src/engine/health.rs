//! One health summary, with one verdict, for every front-end.

use super::Skynet;
use crate::sentinel::{ComponentReport, HealthReport, HealthStatus, ProviderReport, Sentinel};
use serde::Serialize;
use std::collections::BTreeMap;

/// How fresh [`Skynet::health`] must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheck {
    /// A server answering often: the ledger is asked live; queue, workers
    /// and providers come from the sentinel's latest round while it is
    /// fresh (two intervals), else a system round runs now. Providers not
    /// checked yet are no fault.
    Latest,
    /// Check everything once, now, with a sentinel of its own that sends
    /// no alerts (a one-shot check has no history, so its verdicts are not
    /// news: a cron job must not post an alert every time).
    Now,
}

/// Everything's health, and the verdict front-ends act on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSummary {
    /// The verdict: the worst component (providers never checked count as
    /// healthy). Also in `report.status`.
    pub verdict: HealthStatus,
    /// The components and providers.
    pub report: HealthReport,
    /// The ledger's backend (`sqlite`, `postgres`).
    pub backend: &'static str,
    /// What the ledger and the artifact store hold (`None`: could not be
    /// measured; the database component says why).
    pub storage: Option<crate::retention::StorageReport>,
}

impl HealthSummary {
    /// Whether everything is healthy.
    pub fn is_healthy(&self) -> bool {
        self.verdict == HealthStatus::Healthy
    }

    /// The components as anyone may read them, keyless: the database is
    /// named `store` and described by its backend only (its message may
    /// quote a driver error), and each status is the one the verdict counts
    /// (providers not checked yet are no fault).
    pub fn public_components(&self) -> BTreeMap<String, PublicComponent> {
        self.report
            .components
            .iter()
            .map(|(name, c)| {
                let status = counted(name, c.status);
                let (name, detail) = match name.as_str() {
                    "database" => ("store", self.backend.to_string()),
                    other => (other, c.message.clone()),
                };
                (name.to_string(), PublicComponent { status, detail })
            })
            .chain(self.storage.iter().map(|s| {
                let component = PublicComponent {
                    status: HealthStatus::Healthy,
                    detail: s.summary(),
                };
                ("storage".to_string(), component)
            }))
            .collect()
    }
}

/// One component of [`HealthSummary::public_components`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicComponent {
    /// The status the verdict counts.
    pub status: HealthStatus,
    /// What anyone may read about it.
    pub detail: String,
}

/// A component's status as the verdict counts it: providers not checked
/// yet are not a fault of the server.
fn counted(component: &str, status: HealthStatus) -> HealthStatus {
    match (component, status) {
        ("providers", HealthStatus::Unknown) => HealthStatus::Healthy,
        (_, s) => s,
    }
}

impl Skynet {
    /// Every provider's health: with [`HealthCheck::Latest`] the
    /// sentinel's background round while it is fresh (two intervals, so a
    /// round in progress is not duplicated), else a round run now.
    pub async fn provider_health(&self, check: HealthCheck) -> Vec<ProviderReport> {
        match check {
            HealthCheck::Now => self.one_shot().check_providers().await,
            HealthCheck::Latest => {
                let sentinel = &self.inner.sentinel;
                let fresh = sentinel
                    .rounds()
                    .last()
                    .is_some_and(|r| self.is_fresh(r.at));
                if fresh {
                    sentinel.provider_reports()
                } else {
                    sentinel.check_providers().await
                }
            }
        }
    }

    /// A sentinel of its own, with no alert sinks.
    fn one_shot(&self) -> Sentinel {
        Sentinel::new(
            self.inner.store.clone(),
            self.providers(),
            self.inner.sentinel.config().clone(),
        )
        .with_worker_offline_after(self.inner.config.worker_offline_after)
    }

    /// Whether a check made `at` is recent enough to answer with.
    fn is_fresh(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        (chrono::Utc::now() - at)
            .to_std()
            .is_ok_and(|age| age < self.inner.sentinel.config().interval * 2)
    }

    /// The health of the ledger, queue, workers and providers.
    pub async fn health(&self, check: HealthCheck) -> HealthSummary {
        let mut report = match check {
            HealthCheck::Now => self.one_shot().check_now().await,
            HealthCheck::Latest => self.latest_health().await,
        };
        let verdict = report
            .components
            .iter()
            .map(|(name, c)| counted(name, c.status))
            .max()
            .unwrap_or(HealthStatus::Healthy);
        report.status = verdict;
        let storage = match self.storage().await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "health: could not measure storage");
                None
            }
        };
        HealthSummary {
            verdict,
            report,
            backend: self.inner.store.backend(),
            storage,
        }
    }

    async fn latest_health(&self) -> HealthReport {
        let sentinel = &self.inner.sentinel;
        let store_ok = match self.inner.store.count_jobs_by_status().await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "health: the store is not answering");
                false
            }
        };
        let fresh = sentinel
            .system_report()
            .is_some_and(|r| self.is_fresh(r.at));
        if !fresh && store_ok {
            sentinel.check_system().await;
        }
        let mut report = sentinel.latest().unwrap_or_else(|| HealthReport {
            status: HealthStatus::Unknown,
            at: chrono::Utc::now(),
            components: Default::default(),
            queue_depth: None,
            oldest_queued_age_secs: None,
            workers_online: None,
            providers: sentinel.provider_reports(),
        });
        let database = if store_ok {
            ComponentReport {
                status: HealthStatus::Healthy,
                message: format!("{} answers", self.inner.store.backend()),
            }
        } else {
            ComponentReport {
                status: HealthStatus::Unhealthy,
                message: format!("{} is not answering", self.inner.store.backend()),
            }
        };
        report.components.insert("database".into(), database);
        for name in ["queue", "workers"] {
            report
                .components
                .entry(name.into())
                .or_insert_with(|| ComponentReport {
                    status: HealthStatus::Unknown,
                    message: "not checked: the store is not answering".into(),
                });
        }
        if !report.components.contains_key("providers") {
            let worst = report
                .providers
                .iter()
                .map(|p| p.status)
                .max()
                .unwrap_or(HealthStatus::Healthy);
            report.components.insert(
                "providers".into(),
                ComponentReport {
                    status: worst,
                    message: String::new(),
                },
            );
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyless_view_names_the_backend_only_and_counts_unchecked_providers_healthy() {
        let component = |status, message: &str| ComponentReport {
            status,
            message: message.into(),
        };
        let components = BTreeMap::from([
            (
                "database".to_string(),
                component(
                    HealthStatus::Unhealthy,
                    "error connecting to postgres://app:hunter2@10.0.0.5/ledger",
                ),
            ),
            (
                "providers".to_string(),
                component(HealthStatus::Unknown, "not checked yet"),
            ),
        ]);
        let summary = HealthSummary {
            verdict: HealthStatus::Unhealthy,
            report: HealthReport {
                status: HealthStatus::Unhealthy,
                at: chrono::Utc::now(),
                components,
                queue_depth: None,
                oldest_queued_age_secs: None,
                workers_online: None,
                providers: Vec::new(),
            },
            backend: "postgres",
            storage: None,
        };
        let shown = summary.public_components();
        assert_eq!(
            shown.keys().collect::<Vec<_>>(),
            ["providers", "store"],
            "the database is shown as `store`"
        );
        assert_eq!(shown["store"].detail, "postgres");
        assert_eq!(shown["store"].status, HealthStatus::Unhealthy);
        assert_eq!(shown["providers"].status, HealthStatus::Healthy);
    }
}
