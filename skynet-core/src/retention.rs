//! Retention: what gc keeps and what it removes ([`RetentionSettings`],
//! `[retention]` in `skynet.toml`), how to ask for a run ([`GcOptions`])
//! and what a run did or would do ([`GcReport`]). The run itself is
//! [`crate::Skynet::gc`] (`engine/gc.rs`); its ledger side is
//! [`crate::store::retention`].

use crate::job::JobId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What gc removes. Each limit is off (`None`) unless set, except logs
/// (30 days, as the original system kept them) and the global event log
/// (30 days too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Log lines older than this are removed (default 30 days).
    pub logs: Option<Duration>,
    /// The global event log's prefix of events older than this is removed,
    /// leaving an anchor (default 30 days).
    pub events: Option<Duration>,
    /// Artifact records older than this are removed (default: kept).
    pub artifacts_age: Option<Duration>,
    /// The oldest artifact records are removed until the rest name at most
    /// this many bytes (default: no cap).
    pub artifacts_max_bytes: Option<u64>,
    /// Jobs that finished longer ago than this are removed, each leaving a
    /// tombstone (default: kept).
    pub jobs: Option<Duration>,
    /// Unreferenced objects and unfinished uploads younger than this are
    /// left alone: a writer may be about to record them (default 1 h).
    pub grace: Duration,
    /// How often `serve` and `worker` run gc (default 1 h; `None`: never
    /// by themselves).
    pub interval: Option<Duration>,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            logs: Some(Duration::from_secs(30 * 24 * 3600)),
            events: Some(Duration::from_secs(30 * 24 * 3600)),
            artifacts_age: None,
            artifacts_max_bytes: None,
            jobs: None,
            grace: Duration::from_secs(3600),
            interval: Some(Duration::from_secs(3600)),
        }
    }
}

/// How to run gc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GcOptions {
    /// Only say what would be removed; change nothing.
    pub dry_run: bool,
}

/// Jobs removed (or to remove), each leaving a tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GcJobs {
    /// How many.
    pub count: u64,
    /// Which, oldest first.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub job_ids: Vec<JobId>,
    /// Their log lines, artifact records and events, removed with them.
    pub log_lines: u64,
    /// Their artifact records.
    pub artifacts: u64,
}

/// Log lines of kept jobs removed (or to remove).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GcLogs {
    /// Lines older than this.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub before: Option<DateTime<Utc>>,
    /// How many lines.
    pub lines: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The jobs they belonged to.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub job_ids: Vec<JobId>,
}

/// The old prefix of the global event log removed (or to remove); the
/// real run leaves an anchor with these numbers
/// ([`crate::store::event_log_anchors::EventLogAnchor`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GcEvents {
    /// Events older than this (with none younger before them in commit
    /// order).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub before: Option<DateTime<Utc>>,
    /// How many events.
    pub count: u64,
    /// The smallest id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_id: Option<i64>,
    /// The largest id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_id: Option<i64>,
    /// The oldest event's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub first_at: Option<DateTime<Utc>>,
    /// The newest event's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_at: Option<DateTime<Utc>>,
}

/// One artifact record removed from a kept job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GcArtifact {
    /// The job.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub job_id: JobId,
    /// The artifact's name.
    pub name: String,
    /// Its size.
    pub size: u64,
    /// Its object's address.
    pub sha256: String,
}

/// Artifact records of kept jobs removed (or to remove).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GcArtifacts {
    /// How many records.
    pub count: u64,
    /// The bytes they named.
    pub bytes: u64,
    /// Which, oldest first.
    pub records: Vec<GcArtifact>,
}

/// Stored objects (or unfinished uploads) removed (or to remove).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GcFiles {
    /// How many.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their names (object addresses, or temporary file names).
    pub names: Vec<String>,
}

/// What one gc run removed, or with `dry_run` would remove: a real run
/// at the same instant on the same ledger removes exactly this.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GcReport {
    /// Nothing was changed.
    pub dry_run: bool,
    /// The instant the limits were measured from.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: DateTime<Utc>,
    /// Set when the run did nothing because another process was running
    /// gc (or when there was nothing configured to remove).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Finished jobs removed.
    pub jobs: GcJobs,
    /// Old log lines of kept jobs removed.
    pub logs: GcLogs,
    /// The global event log's old prefix removed.
    #[serde(default)]
    pub events: GcEvents,
    /// Artifact records of kept jobs removed (by age or total size).
    pub artifacts: GcArtifacts,
    /// Objects no record names any more.
    pub objects: GcFiles,
    /// Uploads never finished (a killed worker's temporary files).
    pub uploads: GcFiles,
    /// Unpinned memories of the removed jobs (removed with them).
    pub memories: u64,
}

impl GcReport {
    /// Whether the run removed (or would remove) nothing.
    pub fn is_empty(&self) -> bool {
        self.jobs.count == 0
            && self.logs.lines == 0
            && self.events.count == 0
            && self.artifacts.count == 0
            && self.objects.count == 0
            && self.uploads.count == 0
            && self.memories == 0
    }

    /// One line for a person.
    pub fn summary(&self) -> String {
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        format!(
            "gc {verb}: {} jobs, {} log lines ({} bytes), {} events of the global log, \
             {} artifact records ({} bytes), {} objects ({} bytes), {} unfinished uploads \
             ({} bytes), {} memories of removed jobs",
            self.jobs.count,
            self.logs.lines,
            self.logs.bytes,
            self.events.count,
            self.artifacts.count,
            self.artifacts.bytes,
            self.objects.count,
            self.objects.bytes,
            self.uploads.count,
            self.uploads.bytes,
            self.memories,
        )
    }
}

/// What the ledger and the artifact store hold (`skynet health`,
/// `/v1/health`, `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StorageReport {
    /// The ledger's rows and bytes.
    pub ledger: crate::store::retention::StorageUsage,
    /// Objects in the artifact store (`None`: no artifact store).
    pub objects: Option<u64>,
    /// Their bytes.
    pub object_bytes: Option<u64>,
    /// Unfinished uploads waiting for gc.
    pub unfinished_uploads: Option<u64>,
}

impl StorageReport {
    /// One line for a person.
    pub fn summary(&self) -> String {
        let l = &self.ledger;
        let mut text = format!(
            "{} jobs, {} tombstones, {} log lines ({} bytes), {} artifact records ({} bytes)",
            l.jobs, l.tombstones, l.log_lines, l.log_bytes, l.artifacts, l.artifact_bytes
        );
        if let (Some(n), Some(bytes)) = (self.objects, self.object_bytes) {
            text.push_str(&format!("; {n} stored objects ({bytes} bytes)"));
        }
        if let Some(n) = self.unfinished_uploads.filter(|n| *n > 0) {
            text.push_str(&format!(", {n} unfinished uploads"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_the_memories_removed_with_their_jobs() {
        let mut report = GcReport {
            memories: 3,
            ..GcReport::default()
        };
        report.jobs.count = 2;
        assert!(!report.is_empty());
        let line = report.summary();
        assert!(line.starts_with("gc removed: 2 jobs"), "{line}");
        assert!(line.ends_with(", 3 memories of removed jobs"), "{line}");
        report.dry_run = true;
        assert!(report.summary().starts_with("gc would remove: 2 jobs"));
    }
}
