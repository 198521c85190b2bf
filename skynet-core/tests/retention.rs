//! gc on both backends: a dry run lists exactly what a real run at the
//! same instant removes; pruned jobs leave tombstones; every remaining
//! chain verifies; objects go only when no record names them; one gc at a
//! time; another principal sees nothing of what is left.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod backends;
mod job_support;
mod service;

use backends::Db;
use chrono::{DateTime, Utc};
use skynet_core::artifact::{ArtifactStore, LocalArtifactStore};
use skynet_core::engine::EngineConfig;
use skynet_core::events::EventType;
use skynet_core::provider::Stream;
use skynet_core::provider::mock::MockProvider;
use skynet_core::retention::{GcOptions, RetentionSettings};
use skynet_core::store::artifacts::NewArtifact;
use skynet_core::store::keys::{Grant, Scope};
use skynet_core::store::{Completion, JobFilter, LogQuery, NewLogLine};
use skynet_core::{Error, Job, JobId, JobStatus, Principal, Skynet};
use std::sync::Arc;
use std::time::Duration;

on_every_backend!(
    a_dry_run_lists_exactly_what_the_real_run_removes,
    the_global_log_prefix_goes_with_an_anchor_and_every_chain_verifies,
    one_gc_at_a_time,
    another_principal_sees_nothing_of_what_is_left,
);

const HOUR: Duration = Duration::from_secs(3600);

impl Db {
    /// An engine on this ledger with a local artifact store under the
    /// case's directory and these retention settings.
    async fn engine(&self, retention: RetentionSettings) -> (Skynet, Arc<LocalArtifactStore>) {
        let objects = Arc::new(LocalArtifactStore::new(self.dir.path().join("artifacts")));
        let sk = Skynet::builder()
            .database_url(&self.url)
            .provider(Arc::new(MockProvider::new()))
            .default_provider("mock")
            .artifact_store(objects.clone())
            .config(EngineConfig {
                retention,
                ..Default::default()
            })
            .build()
            .await
            .unwrap();
        (sk, objects)
    }
}

/// Everything on: finished jobs, logs and artifacts older than an hour,
/// at most `cap` artifact bytes, no grace.
fn everything(cap: Option<u64>) -> RetentionSettings {
    RetentionSettings {
        logs: Some(HOUR),
        events: None,
        artifacts_age: None,
        artifacts_max_bytes: cap,
        jobs: Some(HOUR),
        grace: Duration::ZERO,
        interval: None,
    }
}

/// A job of `principal` claimed by a worker, with log lines and artifacts
/// (name, bytes) stored and recorded; completed when `finish`.
async fn job_with(
    sk: &Skynet,
    objects: &LocalArtifactStore,
    principal: &str,
    artifacts: &[(&str, &[u8])],
    finish: bool,
) -> Job {
    let store = sk.store();
    let mut job = skynet_core::Job {
        principal: Principal::new(principal).unwrap(),
        ..conformance_job()
    };
    job.id = JobId::new();
    let (job, _) = store.insert_job(&job).await.unwrap();
    let job = store
        .claim_job(&job.id, "w", HOUR)
        .await
        .unwrap()
        .expect("claimable");
    let lease = job.lease.clone().unwrap().id;
    store
        .append_logs(
            &job.id,
            &[
                NewLogLine {
                    step: 0,
                    stream: Stream::Stdout,
                    text: format!("{principal} out"),
                },
                NewLogLine {
                    step: 0,
                    stream: Stream::Stderr,
                    text: format!("{principal} err"),
                },
            ],
        )
        .await
        .unwrap();
    for (name, bytes) in artifacts {
        let stored = objects.put(&mut &bytes[..], 1 << 20).await.unwrap();
        store
            .record_artifact(
                &lease,
                &NewArtifact {
                    job: job.id.clone(),
                    step: 0,
                    name: (*name).into(),
                    size: stored.size,
                    sha256: stored.sha256,
                    content_type: "text/plain".into(),
                    principal: job.principal.clone(),
                },
            )
            .await
            .unwrap();
    }
    if finish {
        store.start_step(&job.id, &lease, 0).await.unwrap();
        store
            .finish_step(
                &job.id,
                &lease,
                0,
                skynet_core::store::StepOutcome {
                    status: skynet_core::store::StepStatus::Succeeded,
                    exit_code: Some(0),
                    output_bytes: 0,
                    truncated: false,
                    error: None,
                },
                &[],
            )
            .await
            .unwrap();
        return store
            .complete(&job.id, &lease, Completion::Succeeded)
            .await
            .unwrap();
    }
    job
}

/// A queued one-step READ_ONLY job on the mock provider.
fn conformance_job() -> Job {
    let argv = vec!["echo".to_string(), "hi".to_string()];
    let step = job_support::command_step("echo".into(), argv, skynet_core::RiskLevel::ReadOnly);
    let plan = skynet_core::plan::Plan::new("echo", vec![step], "test");
    job_support::queued_job("echo", plan)
}

/// Write an unfinished upload (a killed writer's temporary file).
async fn leftover_upload(objects: &LocalArtifactStore) -> String {
    let tmp = objects.tmp_dir();
    tokio::fs::create_dir_all(&tmp).await.unwrap();
    let name = format!("{}.part", uuid::Uuid::now_v7().simple());
    tokio::fs::write(tmp.join(&name), b"half an upl")
        .await
        .unwrap();
    name
}

async fn every_chain_verifies(sk: &Skynet) -> usize {
    let jobs = sk
        .store()
        .list_jobs(&JobFilter {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    for job in &jobs {
        let report = sk.verify_events(&job.id).await.unwrap();
        assert!(report.intact, "{}: {report:?}", job.id);
    }
    jobs.len()
}

/// The dry run and the real run at the same instant report the same
/// removals, and the real run did remove them: old finished jobs (with
/// tombstones), the old lines of kept jobs, the oldest artifact records
/// past the cap, objects no longer named (a shared one stays), unfinished
/// uploads. Every remaining chain verifies; `skynet events` has a
/// `gc.completed` event.
async fn a_dry_run_lists_exactly_what_the_real_run_removes(db: Db) {
    let (sk, objects) = db.engine(everything(Some(10))).await;
    let old = job_with(&sk, &objects, "alice", &[("old.txt", b"old bytes")], true).await;
    let kept_a = job_with(
        &sk,
        &objects,
        "alice",
        &[("a1.txt", b"aaaaaa"), ("shared.txt", b"shared")],
        false,
    )
    .await;
    let kept_b = job_with(&sk, &objects, "bob", &[("b1.txt", b"shared")], false).await;
    let orphan = objects.put(&mut &b"nobody's"[..], 1 << 20).await.unwrap();
    let upload = leftover_upload(&objects).await;
    let now =
        skynet_core::store::chain::truncate_to_micros(Utc::now() + chrono::Duration::hours(2));

    let dry = sk.gc_at(GcOptions { dry_run: true }, now).await.unwrap();
    assert!(dry.dry_run);
    // Nothing changed.
    assert!(sk.get(&old.id).await.is_ok());
    assert_eq!(objects.objects().await.unwrap().len(), 4);

    let real = sk.gc_at(GcOptions { dry_run: false }, now).await.unwrap();
    assert!(!real.dry_run && real.skipped.is_none(), "{real:?}");
    assert_eq!(
        serde_json::to_value(&dry).unwrap()["jobs"],
        serde_json::to_value(&real).unwrap()["jobs"]
    );
    let strip = |mut r: skynet_core::retention::GcReport| {
        r.dry_run = false;
        r
    };
    assert_eq!(
        strip(dry.clone()),
        real,
        "the dry run lists what the run removes"
    );

    // What went.
    assert_eq!(real.jobs.job_ids, vec![old.id.clone()]);
    assert_eq!((real.jobs.log_lines, real.jobs.artifacts), (2, 1));
    assert!(matches!(sk.get(&old.id).await, Err(Error::JobNotFound(_))));
    let stone = sk.tombstone(&old.id).await.unwrap().expect("a tombstone");
    assert_eq!(stone.status, JobStatus::Succeeded);
    assert!(stone.event_count > 0 && stone.event_head.is_some());
    assert_eq!(real.logs.lines, 4, "the kept jobs' old lines");
    assert_eq!(
        real.logs.job_ids.len(),
        2,
        "each kept job's lines: {:?}",
        real.logs
    );
    // 6 + 6 + 6 bytes recorded, cap 10: the two oldest go.
    let names: Vec<&str> = real
        .artifacts
        .records
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["a1.txt", "shared.txt"]);
    let sha = |b: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    };
    let mut gone = real.objects.names.clone();
    gone.sort();
    let mut want = vec![sha(b"old bytes"), sha(b"aaaaaa"), orphan.sha256.clone()];
    want.sort();
    assert_eq!(
        gone, want,
        "the shared object is still named by bob's record"
    );
    let left: Vec<String> = objects
        .objects()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.sha256)
        .collect();
    assert_eq!(left, vec![sha(b"shared")]);
    assert_eq!(real.uploads.names, vec![upload]);
    assert!(objects.unfinished_uploads().await.unwrap().is_empty());
    // bob's artifact is whole and readable.
    let (_, mut reader) = sk.open_artifact(&kept_b.id, "b1.txt", None).await.unwrap();
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut bytes)
        .await
        .unwrap();
    assert_eq!(bytes, b"shared");

    assert_eq!(every_chain_verifies(&sk).await, 2);
    let marks = sk.prune_marks(&kept_a.id).await.unwrap();
    let what: Vec<(&str, &str)> = marks
        .iter()
        .map(|m| (m.what.as_str(), m.detail.as_str()))
        .collect();
    assert!(what.contains(&("logs", "")), "{what:?}");
    assert!(what.contains(&("artifact", "a1.txt")), "{what:?}");
    assert_eq!(
        backends::count_events(&sk, EventType::GcCompleted, 1).await,
        1
    );

    // A second run finds nothing left to do.
    let again = sk.gc_at(GcOptions { dry_run: false }, now).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
    let usage = sk.storage().await.unwrap();
    assert_eq!((usage.ledger.jobs, usage.ledger.tombstones), (2, 1));
    assert_eq!((usage.ledger.log_lines, usage.objects), (0, Some(1)));
}

/// With event retention on, gc removes the global log's old prefix: the
/// dry run lists exactly what the run removes, an anchor takes its place
/// (a reader from the start gets it before the events left),
/// `gc.completed` counts the events, and every job chain still verifies.
async fn the_global_log_prefix_goes_with_an_anchor_and_every_chain_verifies(db: Db) {
    use skynet_core::events::{EventPayload, EventPosition, NewSystemEvent, Notice};
    use skynet_core::store::event_log::EventLogQuery;
    let settings = RetentionSettings {
        logs: None,
        events: Some(HOUR),
        jobs: None,
        ..everything(None)
    };
    let (sk, objects) = db.engine(settings).await;
    job_with(&sk, &objects, "alice", &[], true).await;
    job_with(&sk, &objects, "bob", &[], false).await;
    // Written last: once it is readable, so is everything before it.
    let marker = NewSystemEvent::now(
        "test",
        EventPayload::Error(Notice {
            subject: "marker".into(),
            message: String::new(),
        }),
    );
    sk.record_event(&marker).await.unwrap();
    assert_eq!(backends::count_events(&sk, EventType::Error, 1).await, 1);
    let read_all = || async {
        sk.event_log(EventLogQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
    };
    let before = read_all().await;
    assert!(before.pruned.is_empty());
    let total = before.events.len() as u64;
    assert!(total > 5, "{before:?}");
    let now =
        skynet_core::store::chain::truncate_to_micros(Utc::now() + chrono::Duration::hours(2));

    let dry = sk.gc_at(GcOptions { dry_run: true }, now).await.unwrap();
    assert_eq!(
        read_all().await.events.len() as u64,
        total,
        "a dry run changes nothing"
    );
    let real = sk.gc_at(GcOptions { dry_run: false }, now).await.unwrap();
    let mut same = dry.clone();
    same.dry_run = false;
    assert_eq!(same, real, "the dry run lists what the run removes");
    assert_eq!(real.events.count, total);
    assert_eq!(real.events.first_id, Some(before.events[0].id));
    assert_eq!(real.events.last_id, before.events.last().map(|e| e.id));

    assert_eq!(
        backends::count_events(&sk, EventType::GcCompleted, 1).await,
        1
    );
    let after = read_all().await;
    assert_eq!(after.pruned.len(), 1);
    let anchor = &after.pruned[0];
    assert_eq!((anchor.count, anchor.pruned_at), (total, now));
    assert_eq!(
        anchor.through().unwrap(),
        before.events.last().unwrap().position().unwrap()
    );
    let types: Vec<EventType> = after.events.iter().map(|e| e.event_type).collect();
    assert_eq!(types, [EventType::GcCompleted]);
    match &after.events[0].payload {
        EventPayload::GcCompleted(done) => assert_eq!(done.events, total),
        other => panic!("{other:?}"),
    }
    assert!(after.next > EventPosition::START);
    assert_eq!(every_chain_verifies(&sk).await, 2);
    // The gc.completed event is young: nothing more to remove.
    let again = sk.gc_at(GcOptions { dry_run: false }, now).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
}

/// While another process holds the gc lease a run does nothing and says
/// so; two engines running gc at once on one ledger remove each job once.
async fn one_gc_at_a_time(db: Db) {
    let (sk, objects) = db.engine(everything(None)).await;
    let (other, _) = db.engine(everything(None)).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(job_with(&sk, &objects, "alice", &[], true).await.id);
    }
    let now = Utc::now() + chrono::Duration::hours(2);
    assert!(
        sk.store()
            .take_gc_lease("someone", now, 60_000)
            .await
            .unwrap()
    );
    let held = sk.gc_at(GcOptions::default(), now).await.unwrap();
    assert!(held.skipped.is_some() && held.is_empty(), "{held:?}");
    assert_eq!(
        sk.store()
            .list_jobs(&JobFilter::default())
            .await
            .unwrap()
            .len(),
        6
    );
    sk.store().release_gc_lease("someone").await.unwrap();

    let (a, b) = tokio::join!(
        sk.gc_at(GcOptions::default(), now),
        other.gc_at(GcOptions::default(), now)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut removed: Vec<JobId> = a
        .jobs
        .job_ids
        .iter()
        .chain(&b.jobs.job_ids)
        .cloned()
        .collect();
    removed.sort();
    ids.sort();
    assert_eq!(removed, ids, "each job removed once: {a:?} {b:?}");
    assert!(
        a.skipped.is_some() || b.skipped.is_some() || a.is_empty() || b.is_empty(),
        "one of the two did the work: {a:?} {b:?}"
    );
    for id in &ids {
        assert!(sk.tombstone(id).await.unwrap().is_some());
    }
}

/// Logs by time and stream through the engine as a caller; another
/// principal gets "not found" for the job's logs, artifacts and marks, and
/// no tombstone of a pruned job.
async fn another_principal_sees_nothing_of_what_is_left(db: Db) {
    let (sk, objects) = db.engine(everything(None)).await;
    let alice = job_with(&sk, &objects, "alice", &[("r.txt", b"report")], false).await;
    let gone = job_with(&sk, &objects, "alice", &[], true).await;
    let as_ = |who: &str| Grant {
        principal: Principal::new(who).unwrap(),
        scopes: vec![Scope::Read, Scope::Submit],
        actor: format!("test:{who}"),
    };
    let (mine, theirs) = (sk.acting_as(as_("alice")), sk.acting_as(as_("mallory")));
    let errs = mine
        .logs(
            &alice.id,
            &LogQuery {
                stream: Some(Stream::Stderr),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        errs.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["alice err"]
    );
    let future: DateTime<Utc> = Utc::now() + chrono::Duration::hours(1);
    assert!(
        mine.logs(
            &alice.id,
            &LogQuery {
                since: Some(future),
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_empty()
    );
    let not_found = |r: skynet_core::Result<_>| matches!(r, Err(Error::JobNotFound(_)));
    assert!(not_found(
        theirs
            .logs(
                &alice.id,
                &LogQuery {
                    stream: Some(Stream::Stdout),
                    ..Default::default()
                }
            )
            .await
            .map(|_| ())
    ));
    assert!(not_found(theirs.artifacts(&alice.id).await.map(|_| ())));
    let report = sk
        .gc_at(
            GcOptions::default(),
            Utc::now() + chrono::Duration::hours(2),
        )
        .await
        .unwrap();
    assert_eq!(report.jobs.job_ids, vec![gone.id.clone()]);
    assert!(mine.tombstone(&gone.id).await.unwrap().is_some());
    assert_eq!(theirs.tombstone(&gone.id).await.unwrap(), None);
    assert!(!mine.prune_marks(&alice.id).await.unwrap().is_empty());
    assert!(not_found(theirs.prune_marks(&alice.id).await.map(|_| ())));
}
