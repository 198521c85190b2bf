//! `[worker]`, `[limits]` and `auto_approve_read_only`: the engine's
//! tunables.

use super::layers::Layers;
use super::{parse_duration, parse_number};
use crate::engine::EngineConfig;
use crate::{Error, Result};
use serde::Deserialize;
use std::time::Duration;

/// `[worker]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkerSection {
    lease: Option<String>,
    heartbeat: Option<String>,
    poll_interval: Option<String>,
    max_attempts: Option<u32>,
    offline_after: Option<String>,
}

/// `[limits]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    /// The timeout levels ([`super::timeouts`]).
    pub(super) job_timeout: Option<String>,
    pub(super) step_timeout: Option<String>,
    pub(super) read_only_step_timeout: Option<String>,
    /// `[limits.provider_timeout]`.
    #[serde(default)]
    pub(super) provider_timeout: super::timeouts::ProviderTimeouts,
    /// `[limits.action_timeout]`: catalog name = duration or `off`.
    #[serde(default)]
    pub(super) action_timeout: std::collections::BTreeMap<String, String>,
    /// CPU time per process of a READ_ONLY local step (`off`: none).
    pub(super) read_only_cpu: Option<String>,
    max_output_bytes: Option<u64>,
    approval_ttl: Option<String>,
    /// Memories kept per principal (`off`: no cap).
    memory_max: Option<toml::Value>,
    /// Embedded memories from which searches use the vector index
    /// (`off`: always exact).
    memory_index_threshold: Option<toml::Value>,
    /// Vectors the index holds at most.
    memory_index_max_vectors: Option<u64>,
    /// Candidates an index search explores.
    memory_index_ef: Option<u64>,
}

/// The engine's tunables: defaults, then the file, then the environment;
/// the heartbeat must be shorter than the lease.
pub(super) fn engine_config(
    layers: &Layers,
    worker: WorkerSection,
    limits: &LimitsSection,
    auto_approve_read_only: Option<bool>,
) -> Result<EngineConfig> {
    let mut engine = EngineConfig::default();
    if let Some(v) = layers.pick("SKYNET_LEASE", worker.lease) {
        engine.lease = parse_duration("lease", &v)?;
    }
    if let Some(v) = layers.pick("SKYNET_HEARTBEAT", worker.heartbeat) {
        engine.heartbeat = parse_duration("heartbeat", &v)?;
    }
    if let Some(v) = layers.pick("SKYNET_POLL_INTERVAL", worker.poll_interval) {
        engine.poll_interval = parse_duration("poll_interval", &v)?;
    }
    if let Some(v) = layers.pick("SKYNET_MAX_ATTEMPTS", worker.max_attempts) {
        engine.max_attempts = parse_number("max_attempts", &v)?;
    }
    if let Some(v) = layers.pick("SKYNET_WORKER_OFFLINE_AFTER", worker.offline_after) {
        engine.worker_offline_after = parse_duration("worker offline_after", &v)?;
    }
    engine.timeouts = super::timeouts::timeout_config(layers, limits)?;
    if let Some(v) = layers.pick("SKYNET_APPROVAL_TTL", limits.approval_ttl.clone()) {
        engine.approval_ttl = parse_duration("approval_ttl", &v)?;
    }
    let memory_max = limits.memory_max.clone().map(|v| match v {
        toml::Value::String(s) => s,
        other => other.to_string(),
    });
    if let Some(v) = layers.pick("SKYNET_MEMORY_MAX", memory_max) {
        engine.memory_max = match v.trim() {
            "off" | "none" => None,
            n => match parse_number::<u64>("memory_max", n)? {
                0 => {
                    return Err(Error::Config(
                        "memory_max must be at least 1 (or `off` for no cap)".into(),
                    ));
                }
                n => Some(n),
            },
        };
    }
    let threshold = limits.memory_index_threshold.clone().map(|v| match v {
        toml::Value::String(s) => s,
        other => other.to_string(),
    });
    if let Some(v) = layers.pick("SKYNET_MEMORY_INDEX_THRESHOLD", threshold) {
        engine.memory_index.threshold = match v.trim() {
            "off" | "none" => None,
            n => Some(parse_number("memory_index_threshold", n)?),
        };
    }
    if let Some(v) = layers.pick(
        "SKYNET_MEMORY_INDEX_MAX_VECTORS",
        limits.memory_index_max_vectors,
    ) {
        engine.memory_index.max_vectors = parse_number("memory_index_max_vectors", &v)?;
    }
    if let Some(v) = layers.pick("SKYNET_MEMORY_INDEX_EF", limits.memory_index_ef) {
        engine.memory_index.ef_search = match parse_number::<usize>("memory_index_ef", &v)? {
            0 | 10_001.. => {
                return Err(Error::Config(
                    "memory_index_ef is 1 to 10000 (candidates an index search explores)".into(),
                ));
            }
            n => n,
        };
    }
    if let Some(v) = layers.pick("SKYNET_MAX_OUTPUT_BYTES", limits.max_output_bytes) {
        engine.max_output_bytes = parse_number("max_output_bytes", &v)?;
    }
    if let Some(v) = layers.pick("SKYNET_AUTO_APPROVE_READ_ONLY", auto_approve_read_only) {
        engine.auto_approve_read_only = parse_bool("auto_approve_read_only", &v)?;
    }
    if engine.heartbeat >= engine.lease {
        return Err(Error::Config(format!(
            "heartbeat ({:?}) must be shorter than the lease ({:?})",
            engine.heartbeat, engine.lease
        )));
    }
    Ok(engine)
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`), naming the setting on error.
pub(crate) fn parse_bool(what: &str, v: &str) -> Result<bool> {
    match v.trim() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => Err(Error::Config(format!(
            "{what}: {other:?} is not true/false"
        ))),
    }
}

/// The CPU limit of READ_ONLY local steps: a duration, or `off`.
pub(super) fn read_only_cpu(layers: &Layers, limits: &LimitsSection) -> Result<Option<Duration>> {
    match layers.pick("SKYNET_READ_ONLY_CPU", limits.read_only_cpu.clone()) {
        None => Ok(Some(crate::provider::local::DEFAULT_READ_ONLY_CPU)),
        Some(v) => super::duration_or_off("read_only_cpu", &v),
    }
}
