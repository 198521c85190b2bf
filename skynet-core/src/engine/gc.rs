//! gc: retention applied ([`crate::retention`]). A run first PLANS what
//! to remove from the ledger and the artifact store as they are at one
//! instant, then (unless it is a dry run) removes exactly that, each
//! removal re-checked against the rule that chose it, so a dry run lists
//! what a real run at the same instant removes.
//!
//! Order: finished jobs (each leaves a tombstone with its chain's head),
//! then old log lines of kept jobs (logs are not in the hash chain, so
//! every kept chain stays verifiable), then the global event log's old
//! prefix (it carries no hashes; an anchor row takes its place and readers
//! behind it are told of the gap), then artifact records of kept jobs
//! by age and by total size (oldest first), then objects no record names
//! any more and unfinished uploads, both only once older than the grace
//! period. One process runs gc at a time: a real run holds the ledger's gc
//! lease (a row), and a run that finds it held does nothing.

use super::Skynet;
use crate::artifact::SharedArtifactStore;
use crate::job::JobId;
use crate::retention::{GcArtifact, GcFiles, GcOptions, GcReport, RetentionSettings};
use crate::store::artifacts::ArtifactRecord;
use crate::store::event_log_anchors::{EventLogAnchor, EventLogPrefix};
use crate::store::retention::{JobLogUsage, PrunableJob, PruneMark, Tombstone};
use crate::{Error, Result, Visibility};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Jobs removed per run at most (the next run goes on).
const MAX_JOBS_PER_RUN: u32 = 10_000;
/// How long a gc lease lasts if its holder dies without releasing it.
const LEASE_MS: i64 = 15 * 60 * 1000;
/// The most job ids a `gc.completed` event names.
const EVENT_JOB_IDS: usize = 100;
/// How long gc waits for ended jobs' memories still being written.
const MEMORY_SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// What a run decided to remove.
struct Plan {
    jobs: Vec<PrunableJob>,
    job_logs: Vec<JobLogUsage>,
    /// The job of each artifact record removed with its job.
    job_artifacts: Vec<JobId>,
    logs_before: Option<DateTime<Utc>>,
    logs: Vec<JobLogUsage>,
    events_before: Option<DateTime<Utc>>,
    /// The global event log's old prefix.
    events: Option<EventLogPrefix>,
    artifacts: Vec<ArtifactRecord>,
    objects: Vec<crate::artifact::ObjectInfo>,
    uploads: Vec<crate::artifact::UnfinishedUpload>,
    grace_start: DateTime<Utc>,
    /// Unpinned memories of the jobs removed (they go with them).
    memories: u64,
}

fn before(now: DateTime<Utc>, age: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Skynet {
    /// Run gc with the engine's retention settings, now (see the module
    /// docs). With `dry_run`, nothing changes and the report lists what a
    /// real run would remove.
    pub async fn gc(&self, options: GcOptions) -> Result<GcReport> {
        self.gc_at(options, crate::store::chain::truncate_to_micros(Utc::now()))
            .await
    }

    /// [`Skynet::gc`] as if it were `now` (limits are measured back from
    /// it).
    pub async fn gc_at(&self, options: GcOptions, now: DateTime<Utc>) -> Result<GcReport> {
        let settings = &self.inner.config.retention;
        // Ended jobs are remembered in the background: wait for those
        // queued so far, so a job removed now takes its memory with it
        // and a dry run counts the same memories the real run removes.
        self.flush_memories(MEMORY_SETTLE).await;
        if options.dry_run {
            let plan = self.plan_gc(settings, now).await?;
            return Ok(report(&plan, true, now));
        }
        let holder = format!("gc-{}", uuid::Uuid::now_v7().simple());
        let store = &self.inner.store;
        // The lease runs on the wall clock, whatever instant the limits
        // are measured from.
        if !store.take_gc_lease(&holder, Utc::now(), LEASE_MS).await? {
            return Ok(GcReport {
                at: now,
                skipped: Some("another process is running gc".into()),
                ..GcReport::default()
            });
        }
        let result = async {
            let plan = self.plan_gc(settings, now).await?;
            self.apply_gc(plan, now).await
        }
        .await;
        if let Err(e) = store.release_gc_lease(&holder).await {
            tracing::warn!(error = %e, "could not release the gc lease; it expires by itself");
        }
        let report = result?;
        if !report.is_empty() {
            self.announce_gc(&report).await;
        }
        Ok(report)
    }

    /// What the ledger and the artifact store hold now.
    pub async fn storage(&self) -> Result<crate::retention::StorageReport> {
        let ledger = self.inner.store.storage_usage().await?;
        let mut report = crate::retention::StorageReport {
            ledger,
            ..Default::default()
        };
        if let Some(objects) = &self.inner.artifact_store {
            let listed = objects.objects().await?;
            report.objects = Some(listed.len() as u64);
            report.object_bytes = Some(listed.iter().map(|o| o.size).sum());
            report.unfinished_uploads = Some(objects.unfinished_uploads().await?.len() as u64);
        }
        Ok(report)
    }

    async fn plan_gc(&self, settings: &RetentionSettings, now: DateTime<Utc>) -> Result<Plan> {
        let store = &self.inner.store;
        let jobs = match settings.jobs {
            Some(age) => {
                store
                    .prunable_jobs(before(now, age), MAX_JOBS_PER_RUN)
                    .await?
            }
            None => Vec::new(),
        };
        let pruned: HashSet<&JobId> = jobs.iter().map(|j| &j.job_id).collect();
        let logs_before = settings.logs.map(|age| before(now, age));
        // Every line of a job being removed goes with it; the old lines of
        // the others are the log retention's.
        let mut job_logs = Vec::new();
        let mut logs = Vec::new();
        if !pruned.is_empty() {
            job_logs = store
                .old_logs(DateTime::<Utc>::MAX_UTC)
                .await?
                .into_iter()
                .filter(|l| pruned.contains(&l.job_id))
                .collect();
        }
        if let Some(cutoff) = logs_before {
            logs = store
                .old_logs(cutoff)
                .await?
                .into_iter()
                .filter(|l| !pruned.contains(&l.job_id))
                .collect();
        }
        let events_before = settings.events.map(|age| before(now, age));
        let events = match events_before {
            Some(cutoff) => store.old_event_prefix(cutoff).await?,
            None => None,
        };
        let records = store.artifact_records().await?;
        let job_artifacts = records
            .iter()
            .filter(|r| pruned.contains(&r.job_id))
            .map(|r| r.job_id.clone())
            .collect();
        let mut kept: Vec<&ArtifactRecord> = records
            .iter()
            .filter(|r| !pruned.contains(&r.job_id))
            .collect();
        let mut artifacts = Vec::new();
        if let Some(age) = settings.artifacts_age {
            let cutoff = before(now, age);
            let (old, young): (Vec<_>, Vec<_>) =
                kept.into_iter().partition(|r| r.created_at < cutoff);
            artifacts.extend(old.into_iter().cloned());
            kept = young;
        }
        if let Some(cap) = settings.artifacts_max_bytes {
            // Oldest first (records are read in that order) until the rest fit.
            let mut total: u64 = kept.iter().map(|r| r.size).sum();
            for r in kept {
                if total <= cap {
                    break;
                }
                total -= r.size;
                artifacts.push(r.clone());
            }
        }
        let removed: HashSet<(&JobId, &str, i64)> = artifacts
            .iter()
            .map(|r| (&r.job_id, r.name.as_str(), r.event_seq))
            .collect();
        let referenced: HashSet<&str> = records
            .iter()
            .filter(|r| {
                !pruned.contains(&r.job_id)
                    && !removed.contains(&(&r.job_id, r.name.as_str(), r.event_seq))
            })
            .map(|r| r.sha256.as_str())
            .collect();
        let grace_start = before(now, settings.grace);
        let (objects, uploads) = match &self.inner.artifact_store {
            Some(objects) => {
                let unreferenced = objects
                    .objects()
                    .await?
                    .into_iter()
                    .filter(|o| !referenced.contains(o.sha256.as_str()))
                    .filter(|o| o.stored_at <= grace_start)
                    .collect();
                let uploads = objects
                    .unfinished_uploads()
                    .await?
                    .into_iter()
                    .filter(|u| u.written_at <= grace_start)
                    .collect();
                (unreferenced, uploads)
            }
            None => (Vec::new(), Vec::new()),
        };
        let ids: Vec<JobId> = jobs.iter().map(|j| j.job_id.clone()).collect();
        let memories = store.count_job_memories(&ids).await?;
        Ok(Plan {
            memories,
            jobs,
            job_logs,
            job_artifacts,
            logs_before,
            logs,
            events_before,
            events,
            artifacts,
            objects,
            uploads,
            grace_start,
        })
    }

    async fn apply_gc(&self, plan: Plan, now: DateTime<Utc>) -> Result<GcReport> {
        let store = &self.inner.store;
        let settings = &self.inner.config.retention;
        let mut done = Plan {
            jobs: Vec::new(),
            job_logs: Vec::new(),
            job_artifacts: Vec::new(),
            logs_before: plan.logs_before,
            logs: Vec::new(),
            events_before: plan.events_before,
            events: None,
            artifacts: Vec::new(),
            objects: Vec::new(),
            uploads: Vec::new(),
            grace_start: plan.grace_start,
            memories: 0,
        };
        if let Some(age) = settings.jobs {
            let ids: Vec<JobId> = plan.jobs.iter().map(|j| j.job_id.clone()).collect();
            let stones = store.prune_jobs(&ids, before(now, age), now).await?;
            let gone: HashSet<&JobId> = stones.iter().map(|t| &t.job_id).collect();
            // The memories of a removed job go too, unless pinned.
            let gone_ids: Vec<JobId> = gone.iter().map(|id| (*id).clone()).collect();
            done.memories = store.forget_jobs(&gone_ids).await?;
            if done.memories > 0 {
                self.inner.memory.index.changed_many();
            }
            done.jobs = plan
                .jobs
                .into_iter()
                .filter(|j| gone.contains(&j.job_id))
                .collect();
            done.job_logs = plan
                .job_logs
                .into_iter()
                .filter(|l| gone.contains(&l.job_id))
                .collect();
            done.job_artifacts = plan
                .job_artifacts
                .into_iter()
                .filter(|j| gone.contains(j))
                .collect();
        }
        if let Some(cutoff) = plan.logs_before {
            done.logs = store.prune_logs(cutoff, now).await?;
        }
        if let Some(prefix) = &plan.events {
            done.events = store
                .prune_event_prefix(prefix.through, now)
                .await?
                .map(|anchor| prefix_of(&anchor))
                .transpose()?;
        }
        done.artifacts = store.prune_artifacts(&plan.artifacts, now).await?;
        if let Some(objects) = &self.inner.artifact_store {
            done.objects = remove_objects(self, objects, plan.objects, plan.grace_start).await?;
            for upload in plan.uploads {
                match objects.remove_unfinished_upload(&upload.name).await {
                    Ok(true) => done.uploads.push(upload),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, upload = %upload.name,
                        "gc could not remove an unfinished upload"),
                }
            }
        }
        Ok(report(&done, false, now))
    }

    async fn announce_gc(&self, report: &GcReport) {
        use crate::events::{EventPayload, GcCompleted, NewSystemEvent};
        tracing::info!(event = "gc_completed", "{}", report.summary());
        let mut event = NewSystemEvent::now(
            "gc",
            EventPayload::GcCompleted(GcCompleted {
                jobs: report.jobs.count,
                log_lines: report.logs.lines,
                log_bytes: report.logs.bytes,
                events: report.events.count,
                artifacts: report.artifacts.count,
                objects: report.objects.count,
                object_bytes: report.objects.bytes,
                uploads: report.uploads.count,
                job_ids: report
                    .jobs
                    .job_ids
                    .iter()
                    .take(EVENT_JOB_IDS)
                    .map(ToString::to_string)
                    .collect(),
            }),
        );
        event.at = report.at;
        self.note_event(&event).await;
    }

    /// Run gc every `interval` of the retention settings (never, when it
    /// is off) until `shutdown`; `serve` and `worker` run it with the
    /// schedule loop ([`Skynet::spawn_autonomy`]). A failed run is logged
    /// and tried again at the next interval.
    pub(crate) async fn run_gc(&self, shutdown: CancellationToken) {
        let Some(every) = self.inner.config.retention.interval else {
            return;
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            match self.gc(GcOptions::default()).await {
                Ok(report) if report.skipped.is_none() && !report.is_empty() => {
                    tracing::info!("{}", report.summary());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "gc failed; it runs again later"),
            }
        }
    }
}

/// Remove the planned objects still unreferenced, each judged again by
/// the store at the moment it goes.
async fn remove_objects(
    sk: &Skynet,
    objects: &SharedArtifactStore,
    planned: Vec<crate::artifact::ObjectInfo>,
    grace_start: DateTime<Utc>,
) -> Result<Vec<crate::artifact::ObjectInfo>> {
    let mut removed = Vec::new();
    for object in planned {
        if sk
            .inner
            .store
            .artifact_object_referenced(&object.sha256)
            .await?
        {
            continue;
        }
        match objects
            .delete_if_stored_before(&object.sha256, grace_start)
            .await
        {
            Ok(true) => removed.push(object),
            Ok(false) => {}
            Err(e @ Error::InvalidInput(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, object = %object.sha256, "gc could not remove an object")
            }
        }
    }
    Ok(removed)
}

/// The measure of a prefix an anchor records.
fn prefix_of(anchor: &EventLogAnchor) -> Result<EventLogPrefix> {
    Ok(EventLogPrefix {
        through: anchor.through()?,
        count: anchor.count,
        first_id: anchor.first_id,
        last_id: anchor.last_id,
        first_at: anchor.first_at,
        last_at: anchor.last_at,
    })
}

fn report(plan: &Plan, dry_run: bool, at: DateTime<Utc>) -> GcReport {
    let files = |items: Vec<(String, u64)>| GcFiles {
        count: items.len() as u64,
        bytes: items.iter().map(|(_, b)| b).sum(),
        names: items.into_iter().map(|(n, _)| n).collect(),
    };
    let log_jobs: BTreeSet<&JobId> = plan.logs.iter().map(|l| &l.job_id).collect();
    GcReport {
        dry_run,
        at,
        skipped: None,
        jobs: crate::retention::GcJobs {
            count: plan.jobs.len() as u64,
            job_ids: plan.jobs.iter().map(|j| j.job_id.clone()).collect(),
            log_lines: plan.job_logs.iter().map(|l| l.lines).sum(),
            artifacts: plan.job_artifacts.len() as u64,
        },
        logs: crate::retention::GcLogs {
            before: plan.logs_before,
            lines: plan.logs.iter().map(|l| l.lines).sum(),
            bytes: plan.logs.iter().map(|l| l.bytes).sum(),
            job_ids: log_jobs.into_iter().cloned().collect(),
        },
        events: crate::retention::GcEvents {
            before: plan.events_before,
            count: plan.events.map_or(0, |p| p.count),
            first_id: plan.events.map(|p| p.first_id),
            last_id: plan.events.map(|p| p.last_id),
            first_at: plan.events.map(|p| p.first_at),
            last_at: plan.events.map(|p| p.last_at),
        },
        artifacts: crate::retention::GcArtifacts {
            count: plan.artifacts.len() as u64,
            bytes: plan.artifacts.iter().map(|r| r.size).sum(),
            records: plan
                .artifacts
                .iter()
                .map(|r| GcArtifact {
                    job_id: r.job_id.clone(),
                    name: r.name.clone(),
                    size: r.size,
                    sha256: r.sha256.clone(),
                })
                .collect(),
        },
        objects: files(
            plan.objects
                .iter()
                .map(|o| (o.sha256.clone(), o.size))
                .collect(),
        ),
        uploads: files(
            plan.uploads
                .iter()
                .map(|u| (u.name.clone(), u.size))
                .collect(),
        ),
        memories: plan.memories,
    }
}

impl Skynet {
    /// A pruned job's tombstone, if it was pruned.
    pub async fn tombstone(&self, job: &JobId) -> Result<Option<Tombstone>> {
        self.inner.store.tombstone(job, &Visibility::All).await
    }

    /// What gc removed from a kept job (its log lines before a time,
    /// artifact records), oldest first.
    pub async fn prune_marks(&self, job: &JobId) -> Result<Vec<PruneMark>> {
        self.inner.store.prune_marks(job, &Visibility::All).await
    }
}

impl super::Acting<'_> {
    /// A pruned job's tombstone, if the caller saw the job.
    pub async fn tombstone(&self, job: &JobId) -> Result<Option<Tombstone>> {
        self.sk.inner.store.tombstone(job, &self.visibility()).await
    }

    /// What gc removed from a job the caller sees.
    pub async fn prune_marks(&self, job: &JobId) -> Result<Vec<PruneMark>> {
        self.sk
            .inner
            .store
            .prune_marks(job, &self.visibility())
            .await
    }
}
