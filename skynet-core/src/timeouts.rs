//! The timeout hierarchy: how long a step may run, and which level of
//! settings said so.
//!
//! A step's limit is the first of these levels that is set, the most
//! specific first:
//!
//! 1. [`TimeoutLevel::Command`]: the step's own command asked for one
//!    ([`Command::timeout_ms`](crate::plan::Command::timeout_ms));
//! 2. [`TimeoutLevel::Step`]: the request's per-step budget
//!    (`--step-timeout`, `step_timeout_ms`), else `[limits] step_timeout`;
//! 3. [`TimeoutLevel::Action`]: the action's default
//!    ([`Action::default_timeout`], or `[limits.action_timeout]`), so builds
//!    and tests get longer than a provider's default;
//! 4. [`TimeoutLevel::Provider`]: the provider's default
//!    ([`TimeoutConfig::default`]: local 60 s, docker 5 min, ssh 2 min,
//!    gateway 5 min; `[limits.provider_timeout]`).
//!
//! Two caps then bound that limit, each only when it is strictly shorter
//! (so a tie names the more specific level):
//!
//! - [`TimeoutLevel::ReadOnlyCap`]: a READ_ONLY step runs at most
//!   `[limits] read_only_step_timeout` (2 min) unless its request set a
//!   step budget (neither the command's own timeout, which the planner
//!   chose, nor `[limits] step_timeout` lifts the cap): auto-approved work
//!   stays short;
//! - [`TimeoutLevel::Global`]: no step outlives its job's limit (the
//!   request's, else `[limits] job_timeout`): a step gets at most what is
//!   left of it.
//!
//! With no level set a step runs until it ends or is cancelled.
//! [`StepLimits::resolve`] is the one place this is decided; the runner
//! records the [`TimeLimit`] that cut a step in its failure, so every
//! front-end can say which level it was.

use crate::action::Action;
use crate::plan::Step;
use crate::risk::RiskLevel;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A level of the timeout hierarchy. A step's limit is its command's, else
/// the step budget, else its action's default, else its provider's; the
/// READ_ONLY cap and the job's (global) limit bound it (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TimeoutLevel {
    /// The job's whole time limit; bounds every other level.
    Global,
    /// The step's own command set it.
    Command,
    /// The request's per-step budget, or `[limits] step_timeout`.
    Step,
    /// The cap on READ_ONLY steps (`[limits] read_only_step_timeout`).
    ReadOnlyCap,
    /// The default of the step's catalog action.
    Action,
    /// The default of the provider the step runs on.
    Provider,
}

impl TimeoutLevel {
    /// The stable name (`global`, `command`, `step`, `read_only_cap`,
    /// `action`, `provider`).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutLevel::Global => "global",
            TimeoutLevel::Command => "command",
            TimeoutLevel::Step => "step",
            TimeoutLevel::ReadOnlyCap => "read_only_cap",
            TimeoutLevel::Action => "action",
            TimeoutLevel::Provider => "provider",
        }
    }
}

impl std::fmt::Display for TimeoutLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limit a step ran under: how long, and which level set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimeLimit {
    /// The level that set it.
    pub level: TimeoutLevel,
    /// Its length in milliseconds (for [`TimeoutLevel::Global`], what was
    /// left of the job's limit when the step started, or the whole limit
    /// when the job ran out of time between steps).
    pub limit_ms: u64,
}

impl TimeLimit {
    fn new(level: TimeoutLevel, limit: Duration) -> Self {
        TimeLimit {
            level,
            limit_ms: millis(limit),
        }
    }

    /// Its length.
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.limit_ms)
    }

    /// Why a step stopped, in words: `timed out after 1m (provider local
    /// default)`. `provider` and `action` name the step's, `job_limit` is
    /// the job's whole limit.
    pub fn explain(&self, provider: &str, action: &str, job_limit: Option<Duration>) -> String {
        let by = match self.level {
            TimeoutLevel::Global => match job_limit {
                Some(total) => format!("global job limit of {}", human(total)),
                None => "global job limit".to_string(),
            },
            TimeoutLevel::Command => "its command's timeout".to_string(),
            TimeoutLevel::Step => "step timeout".to_string(),
            TimeoutLevel::ReadOnlyCap => "READ_ONLY step cap".to_string(),
            TimeoutLevel::Action => format!("action {action} default"),
            TimeoutLevel::Provider => format!("provider {provider} default"),
        };
        format!("timed out after {} ({by})", human(self.duration()))
    }
}

/// What every level says about one step; [`StepLimits::resolve`] decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepLimits {
    /// The step's command's own timeout.
    pub command: Option<Duration>,
    /// The request's per-step budget (lifts the READ_ONLY cap).
    pub requested_step: Option<Duration>,
    /// `[limits] step_timeout` (does not lift the READ_ONLY cap).
    pub configured_step: Option<Duration>,
    /// The action's default.
    pub action: Option<Duration>,
    /// The provider's default.
    pub provider: Option<Duration>,
    /// The READ_ONLY cap: set for READ_ONLY steps only.
    pub read_only_cap: Option<Duration>,
    /// What is left of the job's limit, if it has one.
    pub job_left: Option<Duration>,
}

impl StepLimits {
    /// The step's limit and the level that set it (`None`: no limit).
    pub fn resolve(&self) -> Option<TimeLimit> {
        use TimeoutLevel as L;
        // Most specific first.
        let mut limit = [
            (self.command, L::Command),
            (self.requested_step, L::Step),
            (self.configured_step, L::Step),
            (self.action, L::Action),
            (self.provider, L::Provider),
        ]
        .into_iter()
        .find_map(|(limit, level)| limit.map(|d| TimeLimit::new(level, d)));
        // Only the request lifts the cap: a command's own timeout comes
        // from the planner (a model's output may be hostile), and
        // `[limits] step_timeout` is for every step.
        if self.requested_step.is_none()
            && let Some(cap) = self.read_only_cap
        {
            limit = tighter(limit, TimeLimit::new(L::ReadOnlyCap, cap));
        }
        if let Some(left) = self.job_left {
            limit = tighter(limit, TimeLimit::new(L::Global, left));
        }
        limit
    }
}

/// `cap` when it is strictly shorter than `limit` (or there is none).
fn tighter(limit: Option<TimeLimit>, cap: TimeLimit) -> Option<TimeLimit> {
    match limit {
        Some(l) if l.limit_ms <= cap.limit_ms => Some(l),
        _ => Some(cap),
    }
}

/// The configured levels (`[limits]` in `skynet.toml`); the request's come
/// with each job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutConfig {
    /// A job's whole limit when its request sets none (`[limits]
    /// job_timeout`; default none).
    pub job: Option<Duration>,
    /// Every step's limit when neither its command nor its request sets
    /// one (`[limits] step_timeout`; default none, so the action's or the
    /// provider's default applies).
    pub step: Option<Duration>,
    /// The longest a READ_ONLY step may run unless its request set a step
    /// budget (default 2 min).
    pub read_only_step: Duration,
    /// Provider defaults by registered name; a provider not listed has
    /// none.
    pub providers: BTreeMap<String, Duration>,
    /// Action defaults by catalog name, over [`Action::default_timeout`]
    /// (`None` removes the catalog's).
    pub actions: BTreeMap<String, Option<Duration>>,
}

/// The providers' defaults, as the original system had them (the gateway,
/// a remote machine's agent, gets Docker's).
pub const PROVIDER_DEFAULTS: [(&str, Duration); 4] = [
    ("local", Duration::from_secs(60)),
    ("docker", Duration::from_secs(300)),
    ("ssh", Duration::from_secs(120)),
    ("gateway", Duration::from_secs(300)),
];

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            job: None,
            step: None,
            read_only_step: Duration::from_secs(120),
            providers: PROVIDER_DEFAULTS
                .iter()
                .map(|(name, d)| (name.to_string(), *d))
                .collect(),
            actions: BTreeMap::new(),
        }
    }
}

impl TimeoutConfig {
    /// The default of `provider` (aliases such as `openclaw` included).
    pub fn provider_default(&self, provider: &str) -> Option<Duration> {
        self.providers
            .get(crate::provider::canonical_name(provider))
            .copied()
    }

    /// The default of `action`: the configured one, else the catalog's.
    pub fn action_default(&self, action: &Action) -> Option<Duration> {
        match self.actions.get(action.name()) {
            Some(configured) => *configured,
            None => action.default_timeout(),
        }
    }

    /// What every level says about `step` of a job whose request asked for
    /// `requested_step`, running on `provider` with `job_left` of its
    /// limit left.
    pub fn step_limits(
        &self,
        step: &Step,
        requested_step: Option<Duration>,
        provider: &str,
        job_left: Option<Duration>,
    ) -> StepLimits {
        StepLimits {
            command: step.command.timeout_ms.map(Duration::from_millis),
            requested_step,
            configured_step: self.step,
            action: self.action_default(&step.action),
            provider: self.provider_default(provider),
            read_only_cap: (step.risk == RiskLevel::ReadOnly).then_some(self.read_only_step),
            job_left,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `1m`, `2s 500ms`: whole milliseconds, as settings are written.
pub(crate) fn human(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(millis(d))).to_string()
}

#[cfg(test)]
mod tests;
