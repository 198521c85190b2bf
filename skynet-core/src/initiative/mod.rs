//! The initiative engine: work nobody asked for, under hard limits.
//!
//! Every round ([`crate::Skynet::run_initiative`], default every 5
//! minutes, off unless enabled) reads the system's state
//! ([`SystemState`]: idle, recent failures, degraded providers, queue
//! backlog, disk and memory pressure read in-process) and asks each
//! [`Strategy`] for [`Proposal`]s. A proposal is an intent with a reason;
//! it becomes a job through the normal plan and policy pipeline, with
//! source `initiative` and an origin naming the strategy and the reason.
//! The limits live in core and in the ledger
//! ([`crate::store::initiative`]): only a READ_ONLY plan is queued
//! without a human, anything riskier waits for approval and is never
//! auto-approved; the budgets (per hour, per day, waiting at once) count
//! every initiative job in the ledger under one lock; a kill switch in the
//! ledger stops it within one round.

pub mod config;
mod strategies;

pub use config::InitiativeConfig;
pub use strategies::{Maintenance, Optimization, Recovery, default_strategies};

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What the initiative engine sees of the system in one round.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SystemState {
    /// Jobs queued (due or not).
    pub queued: u64,
    /// Jobs running.
    pub running: u64,
    /// Jobs that failed or timed out in the last hour.
    pub recent_failures: u64,
    /// Providers whose recent checks are degraded or unhealthy.
    pub degraded_providers: Vec<String>,
    /// How long the longest-waiting due job has waited, in seconds.
    pub oldest_queued_secs: Option<u64>,
    /// Share of the root's file system in use (0 to 1), if read.
    pub disk_used: Option<f64>,
    /// Share of memory in use (1 - MemAvailable/MemTotal), if read.
    pub memory_used: Option<f64>,
}

impl SystemState {
    /// Nothing queued and nothing running.
    pub fn idle(&self) -> bool {
        self.queued == 0 && self.running == 0
    }
}

/// An intent a strategy proposes, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// What to do, in plain words (planned like any intent).
    pub intent: String,
    /// What in the state made the strategy propose it.
    pub reason: String,
}

/// A source of proposals.
pub trait Strategy: Send + Sync + std::fmt::Debug {
    /// Its name, recorded on every job it proposes.
    fn name(&self) -> &str;
    /// What it proposes given `state` (nothing is fine).
    fn propose(&self, state: &SystemState) -> Vec<Proposal>;
}

/// The engine's settings and strategies, held by [`crate::Skynet`].
#[derive(Debug, Clone)]
pub struct Initiative {
    /// The settings.
    pub config: InitiativeConfig,
    /// The strategies, asked in order.
    pub strategies: Vec<Arc<dyn Strategy>>,
}

impl Initiative {
    /// `strategies`, or the built-in ones when none are given.
    pub fn new(config: InitiativeConfig, strategies: Vec<Arc<dyn Strategy>>) -> Self {
        let strategies = if strategies.is_empty() {
            default_strategies()
        } else {
            strategies
        };
        Initiative { config, strategies }
    }
}

/// Disk use of the file system holding `path` (0 to 1).
pub fn disk_used(path: &std::path::Path) -> Option<f64> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    let total = st.blocks() as f64;
    if total <= 0.0 {
        return None;
    }
    Some(1.0 - st.blocks_available() as f64 / total)
}

/// Memory in use, from `/proc/meminfo` (0 to 1).
pub fn memory_used() -> Option<f64> {
    memory_used_from(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// Memory in use as `/proc/meminfo`'s text says it.
pub fn memory_used_from(meminfo: &str) -> Option<f64> {
    let field = |name: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    (total > 0.0).then(|| (1.0 - available / total).clamp(0.0, 1.0))
}
