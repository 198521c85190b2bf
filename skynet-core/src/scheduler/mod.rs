//! The provider scheduler: which registered provider runs a job.
//!
//! A request that names a provider gets it (if it can run every action of
//! the plan). Otherwise the job is placed among the *candidates*
//! (`SKYNET_PROVIDERS`, or `providers = [...]` in `skynet.toml`; by default
//! only the default provider, which is then taken without scoring, as
//! before the scheduler existed).
//!
//! With several candidates each one gets five scores, each in `0..=1`:
//!
//! | score | from |
//! |---|---|
//! | health | a plugged-in [`HealthSource`], else a live `Provider::health` check (2 s timeout, cached 5 s): healthy 1, unhealthy 0 |
//! | load | 1 − (steps running on it in this engine / its `max_concurrency`) |
//! | capability | share of the plan's actions it runs; for a WRITE/ADMIN plan a provider that is not isolated gets 0.9 instead of 1 |
//! | success | (succeeded + 1) / (finished + 2) over its last 100 finished jobs: 0.5 with no history |
//! | latency | 1 / (1 + median seconds of its recent successful jobs): 0.5 when unknown |
//!
//! `total_score` = the weighted sum / the sum of the [`Weights`], so it is
//! in `0..=1` too. A candidate that lacks a required action or whose
//! health is below 0.5 cannot be chosen and its total is 0. The highest
//! total wins; equal totals go to the candidate listed first. The ledger
//! history is re-read at most every 10 s.

mod capability;
mod health;
mod history;
mod load;
mod score;
mod spec;
mod weights;

pub use capability::{CapabilityMatrix, PIPELINE, required_capabilities, required_of};
pub use health::{HealthSource, LIVE_CHECK_TIMEOUT, LIVE_CHECK_TTL};
pub use history::{HISTORY_JOBS, HISTORY_TTL};
pub use load::{LoadGuard, LoadTracker};
pub use score::{HEALTHY_FROM, NEUTRAL, NOT_ISOLATED_FOR_WRITES};
pub use spec::{ExecutionSpec, MAX_SPEC_STEPS, SpecStep};
pub use weights::Weights;

use crate::provider::Provider;
use crate::risk::RiskLevel;
use crate::store::SharedStore;
use crate::{Error, Result};
use health::LiveHealth;
use history::HistoryCache;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One candidate's scores, each in `0..=1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ProviderScoreView))]
pub struct ProviderScore {
    /// The provider.
    pub provider: String,
    /// Weighted mean of the five scores; 0 when it cannot be chosen
    /// (lacks a required action, or health below 0.5).
    pub total_score: f64,
    /// 1 healthy, 0 unhealthy (or a monitor's ratio).
    pub health_score: f64,
    /// 1 − running steps / its concurrency.
    pub load_score: f64,
    /// Share of the required actions it runs; 0.9 for a non-isolated
    /// provider on WRITE/ADMIN work.
    pub capability_score: f64,
    /// (succeeded + 1) / (finished + 2) over its recent jobs.
    pub success_score: f64,
    /// 1 / (1 + median seconds) of its recent successes; 0.5 unknown.
    pub latency_score: f64,
}

/// Where the work would run, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DiagnosisView))]
pub struct Diagnosis {
    /// The chosen provider.
    pub selected_provider: String,
    /// No candidate was eligible and healthy: the fallback was taken.
    pub fallback_used: bool,
    /// Catalog actions the work needs, sorted.
    pub required_capabilities: Vec<String>,
    /// The scheduler's candidates, in configured order.
    pub candidates: Vec<String>,
    /// Every candidate's scores, best first.
    pub scores: Vec<ProviderScore>,
    /// Parameters the spec gave that its actions do not take: they change
    /// nothing that would run, so they are reported, not refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_params: Vec<crate::action::Ignored>,
}

/// The setting that configures a built-in provider, for messages about a
/// listed provider that is not registered.
pub fn configured_by(provider: &str) -> Option<&'static str> {
    match provider {
        "docker" => Some("SKYNET_DOCKER_IMAGE"),
        "ssh" => Some("SKYNET_SSH_HOST"),
        "gateway" => Some("OPENCLAW_GATEWAY_URL"),
        _ => None,
    }
}

/// The scheduler of one engine: candidates, weights, the capability
/// matrix, the load counters and the cached health and history.
pub struct Scheduler {
    weights: Weights,
    candidates: Vec<String>,
    matrix: CapabilityMatrix,
    health_source: Option<Arc<dyn HealthSource>>,
    live: LiveHealth,
    load: LoadTracker,
    history: HistoryCache,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("weights", &self.weights)
            .field("candidates", &self.candidates)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler over `providers`. Every candidate must be registered
    /// ([`Error::Config`] naming the setting that configures it otherwise).
    pub(crate) fn new(
        providers: &BTreeMap<String, Arc<dyn Provider>>,
        candidates: Vec<String>,
        unusable: &BTreeMap<String, String>,
        weights: Weights,
        health_source: Option<Arc<dyn HealthSource>>,
    ) -> Result<Scheduler> {
        let weights = weights.validate("scheduler weights")?;
        for c in &candidates {
            // An unusable default stays a candidate: jobs for it are
            // refused with its configuration error, never moved elsewhere.
            if !providers.contains_key(c) && !unusable.contains_key(c) {
                let hint = match configured_by(c) {
                    Some(var) => format!(", which is not configured: set {var} to configure it"),
                    None => ", which is not a registered provider".to_string(),
                };
                return Err(Error::Config(format!(
                    "the scheduler's candidates (SKYNET_PROVIDERS) list {c:?}{hint}; registered: {}",
                    providers.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(Scheduler {
            weights,
            candidates,
            matrix: CapabilityMatrix::new(providers.values()),
            health_source,
            live: LiveHealth::default(),
            load: LoadTracker::new(providers.keys().map(String::as_str)),
            history: HistoryCache::default(),
        })
    }

    /// The weights in force.
    pub fn weights(&self) -> Weights {
        self.weights
    }

    /// The candidates, in their configured order.
    pub fn candidates(&self) -> &[String] {
        &self.candidates
    }

    /// Which actions each provider runs.
    pub fn matrix(&self) -> &CapabilityMatrix {
        &self.matrix
    }

    /// Steps running on each provider in this engine.
    pub fn load(&self) -> &LoadTracker {
        &self.load
    }

    /// The provider's health ratio: the plugged-in source if it knows,
    /// else a live check.
    async fn health(&self, provider: &Arc<dyn Provider>) -> f64 {
        if let Some(ratio) = self
            .health_source
            .as_ref()
            .and_then(|s| s.health_ratio(provider.name()))
        {
            return ratio;
        }
        self.live.ratio(provider).await
    }

    /// Score every candidate for work needing `required` at `risk`, and
    /// pick one; with none eligible and healthy, take `fallback` if it can
    /// run the work, else fail with [`Error::NoEligibleProvider`].
    pub(crate) async fn diagnose(
        &self,
        providers: &BTreeMap<String, Arc<dyn Provider>>,
        store: &SharedStore,
        required: Vec<String>,
        risk: RiskLevel,
        fallback: Option<&str>,
    ) -> Result<Diagnosis> {
        let fallback = fallback.map(crate::provider::canonical_name);
        if let Some(f) = fallback
            && !providers.contains_key(f)
        {
            return Err(Error::InvalidInput(format!(
                "fallback provider {f:?} is not registered; registered: {}",
                providers.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let history = self.history.get(store).await?;
        let listed: Vec<&Arc<dyn Provider>> = self
            .candidates
            .iter()
            .filter_map(|c| providers.get(c))
            .collect();
        let healths = futures::future::join_all(listed.iter().map(|p| self.health(p))).await;
        let scored = listed
            .iter()
            .zip(healths)
            .map(|(p, health)| {
                let caps = p.capabilities();
                let facts = score::Facts {
                    name: p.name(),
                    required: required.len(),
                    missing: self.matrix.missing(p.name(), &required),
                    isolated: caps.isolated,
                    health,
                    running: self.load.running(p.name()),
                    max_concurrency: caps.max_concurrency,
                    stats: history.get(p.name()),
                };
                score::score(&self.weights, risk, &facts)
            })
            .collect();
        let ranked = score::rank(scored);
        let (selected, fallback_used) = match score::best(&ranked) {
            Some(best) => (best.score.provider.clone(), false),
            None => match fallback {
                Some(f) if self.matrix.missing(f, &required).is_empty() => (f.to_string(), true),
                _ => return Err(nothing_eligible(&ranked, &required, fallback, &self.matrix)),
            },
        };
        Ok(Diagnosis {
            selected_provider: selected,
            fallback_used,
            required_capabilities: required,
            candidates: self.candidates.clone(),
            scores: ranked.into_iter().map(|s| s.score).collect(),
            ignored_params: Vec::new(),
        })
    }
}

/// Why nothing can run the work, candidate by candidate.
fn nothing_eligible(
    ranked: &[score::Scored],
    required: &[String],
    fallback: Option<&str>,
    matrix: &CapabilityMatrix,
) -> Error {
    let mut why: Vec<String> = ranked.iter().filter_map(|s| s.problem.clone()).collect();
    if ranked.is_empty() {
        why.push("there are no candidates".into());
    }
    match fallback {
        Some(f) => why.push(format!(
            "the fallback {f} cannot run {}",
            matrix.missing(f, required).join(", ")
        )),
        None => why.push("no fallback was given".into()),
    }
    let capable = matrix.capable_of(required);
    Error::NoEligibleProvider(format!(
        "no provider can run work needing {} now: {}. Providers that run all of it: {}; \
         check their health, or list them in SKYNET_PROVIDERS",
        required.join(", "),
        why.join("; "),
        if capable.is_empty() {
            "none".to_string()
        } else {
            capable.join(", ")
        }
    ))
}
