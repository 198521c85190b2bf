//! Building a [`Skynet`].

use super::{EngineConfig, Inner, Skynet};
use crate::planner::{LlmPlanner, Planner, RulePlanner};
use crate::policy::Policy;
use crate::provider::{LocalProvider, MockProvider, Provider};
use crate::redact::Redactor;
use crate::scheduler::{HealthSource, Scheduler, Weights};
use crate::sentinel::{AlertSink, LogSink, Sentinel, SentinelConfig, Severity, WebhookSink};
use crate::store::SharedStore;
use crate::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Builder for [`Skynet`]. Defaults: SQLite at `sqlite::memory:` unless a
/// store or URL is given, the rule planner, the built-in policy, the
/// `local` and `mock` providers with `local` as default.
#[derive(Default)]
pub struct SkynetBuilder {
    store: Option<SharedStore>,
    database_url: Option<String>,
    planner: Option<Arc<dyn Planner>>,
    llm: Option<Arc<LlmPlanner>>,
    policy: Option<Policy>,
    providers: Vec<Arc<dyn Provider>>,
    default_provider: Option<String>,
    candidates: Vec<String>,
    weights: Weights,
    health_source: Option<Arc<dyn HealthSource>>,
    config: EngineConfig,
    secrets: Vec<String>,
    redact_patterns: Vec<String>,
    embedder: Option<Arc<dyn crate::memory::Embedder>>,
    sentinel: SentinelConfig,
    alert_sinks: Vec<(Arc<dyn AlertSink>, Severity)>,
    unusable: BTreeMap<String, String>,
    initiative: crate::initiative::InitiativeConfig,
    webhooks: crate::events::webhooks::WebhookConfig,
    strategies: Vec<Arc<dyn crate::initiative::Strategy>>,
    artifact_store: Option<crate::artifact::SharedArtifactStore>,
}

impl SkynetBuilder {
    /// Use this store.
    pub fn store(mut self, store: SharedStore) -> Self {
        self.store = Some(store);
        self
    }
    /// Open the store at this URL (`sqlite://PATH`).
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }
    /// Keep collected artifacts in this store (without one, steps'
    /// declared artifacts are not kept, and their logs say so).
    pub fn artifact_store(mut self, store: crate::artifact::SharedArtifactStore) -> Self {
        self.artifact_store = Some(store);
        self
    }
    /// Use this planner.
    pub fn planner(mut self, planner: Arc<dyn Planner>) -> Self {
        self.planner = Some(planner);
        self
    }
    /// A provider whose configuration is broken: it is left out, commands
    /// that do not use it work, and a job that asks for it (or a default
    /// that is it) is refused with `why`.
    pub fn unusable_provider(mut self, name: impl Into<String>, why: impl Into<String>) -> Self {
        self.unusable.insert(name.into(), why.into());
        self
    }
    /// Use this model for [`Skynet::chat`] (it may also be the planner).
    pub fn llm(mut self, llm: Arc<LlmPlanner>) -> Self {
        self.llm = Some(llm);
        self
    }
    /// Use this policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }
    /// Register a provider (replacing one of the same name).
    pub fn provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.push(provider);
        self
    }
    /// Run jobs on this provider unless a request names another.
    pub fn default_provider(mut self, name: impl Into<String>) -> Self {
        self.default_provider = Some(name.into());
        self
    }
    /// Schedule jobs that name no provider among these (in order of
    /// preference on equal scores). Default: only the default provider.
    pub fn candidates(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.candidates = names.into_iter().map(Into::into).collect();
        self
    }
    /// Weigh the scheduler's scores this way (default 30/25/25/15/5).
    pub fn scheduler_weights(mut self, weights: Weights) -> Self {
        self.weights = weights;
        self
    }
    /// Take providers' health from this source (for example a monitor with
    /// a history) instead of live checks, where it knows.
    pub fn health_source(mut self, source: Arc<dyn HealthSource>) -> Self {
        self.health_source = Some(source);
        self
    }
    /// Engine tunables.
    pub fn config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }
    /// The embedder of memories (default: the offline
    /// [`HashEmbedder`](crate::memory::HashEmbedder)).
    pub fn embedder(mut self, embedder: Arc<dyn crate::memory::Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    /// Values to redact from logs, events and errors (in addition to
    /// secret-looking environment variables).
    pub fn secrets(mut self, secrets: impl IntoIterator<Item = String>) -> Self {
        self.secrets.extend(secrets);
        self
    }

    /// Extra secret patterns (regular expressions; each match is hidden
    /// whole). An invalid one fails [`SkynetBuilder::build`].
    pub fn redact_patterns(mut self, patterns: impl IntoIterator<Item = String>) -> Self {
        self.redact_patterns.extend(patterns);
        self
    }

    /// Health sentinel settings (a configured webhook becomes a sink).
    pub fn sentinel(mut self, config: SentinelConfig) -> Self {
        self.sentinel = config;
        self
    }
    /// The initiative engine's settings (off by default).
    pub fn initiative(mut self, config: crate::initiative::InitiativeConfig) -> Self {
        self.initiative = config;
        self
    }
    /// How webhooks are delivered (what they may reach, timeouts, attempts).
    pub fn webhooks(mut self, config: crate::events::webhooks::WebhookConfig) -> Self {
        self.webhooks = config;
        self
    }

    /// Use `strategy` in the initiative engine; the first one given
    /// replaces the built-in ones (maintenance, recovery, optimization).
    pub fn initiative_strategy(mut self, strategy: Arc<dyn crate::initiative::Strategy>) -> Self {
        self.strategies.push(strategy);
        self
    }
    /// Also deliver alerts of at least `min` severity to `sink` (the log
    /// gets every alert without asking).
    pub fn alert_sink(mut self, sink: Arc<dyn AlertSink>, min: Severity) -> Self {
        self.alert_sinks.push((sink, min));
        self
    }

    /// Build the engine (opens and migrates the store if given a URL).
    pub async fn build(self) -> Result<Skynet> {
        let store = match (self.store, self.database_url) {
            (Some(s), _) => s,
            (None, Some(url)) => crate::store::connect(&url).await?,
            (None, None) => crate::store::connect("sqlite::memory:").await?,
        };
        let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
        providers.insert("local".into(), Arc::new(LocalProvider::new()));
        providers.insert("mock".into(), Arc::new(MockProvider::new()));
        for p in self.providers {
            providers.insert(p.name().to_string(), p);
        }
        let default_provider = self.default_provider.map_or_else(
            || "local".into(),
            |p| crate::provider::canonical_name(&p).to_string(),
        );
        if !providers.contains_key(&default_provider)
            && !self.unusable.contains_key(&default_provider)
        {
            return Err(Error::Config(format!(
                "default provider {default_provider:?} is not registered; registered: {}",
                providers.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        if self.config.heartbeat >= self.config.lease {
            return Err(Error::Config(
                "heartbeat interval must be shorter than the lease".into(),
            ));
        }
        let candidates = if self.candidates.is_empty() {
            vec![default_provider.clone()]
        } else {
            self.candidates
        };
        let (bus, _) = broadcast::channel(4096);
        let mut secrets = self.secrets;
        let sentinel = Sentinel::new(
            store.clone(),
            providers.values().cloned().collect(),
            self.sentinel.clone(),
        )
        .with_worker_offline_after(self.config.worker_offline_after);
        sentinel.add_sink(Arc::new(LogSink), Severity::Info);
        sentinel.add_sink(
            Arc::new(crate::sentinel::EventLogSink::new(store.clone())),
            Severity::Info,
        );
        if let Some(url) = &self.sentinel.webhook {
            secrets.push(url.expose().to_string());
            sentinel.add_sink(
                Arc::new(WebhookSink::new(url.clone())),
                self.sentinel.min_severity,
            );
        }
        for (sink, min) in self.alert_sinks {
            sentinel.add_sink(sink, min);
        }
        let sentinel = Arc::new(sentinel);
        let redactor = if self.redact_patterns.is_empty() {
            Redactor::from_env(secrets)
        } else {
            Redactor::from_env_with_patterns(secrets, &self.redact_patterns)?
        };
        // The sentinel's history is the scheduler's health score unless the
        // caller plugged in another source; before its first round the
        // scheduler checks providers live.
        let health_source = self
            .health_source
            .unwrap_or_else(|| sentinel.clone() as Arc<dyn HealthSource>);
        let scheduler = Scheduler::new(
            &providers,
            candidates,
            &self.unusable,
            self.weights,
            Some(health_source),
        )?;
        let memory_index = self.config.memory_index;
        Ok(Skynet {
            inner: Arc::new(Inner {
                store,
                planner: self.planner.unwrap_or_else(|| Arc::new(RulePlanner::new())),
                llm: self.llm,
                policy: Arc::new(self.policy.unwrap_or_default()),
                providers,
                default_provider,
                scheduler,
                config: self.config,
                bus,
                redactor,
                sentinel,
                running: Mutex::new(HashMap::new()),
                memory: super::memory::EngineMemory::new(self.embedder, memory_index),
                unusable: self.unusable,
                estimates: Default::default(),
                initiative: crate::initiative::Initiative::new(self.initiative, self.strategies),
                webhooks: super::webhooks::Webhooks::new(self.webhooks),
                artifact_store: self.artifact_store,
            }),
        })
    }
}
