//! Retention's table family: tombstones, prune marks, the gc lease, and
//! log reads by time and stream.

use super::*;
use skynet_core::Visibility;
use skynet_core::provider::Stream;
use skynet_core::store::artifacts::NewArtifact;
use skynet_core::store::{Completion, LogQuery, NewLogLine};

fn line(step: u32, stream: Stream, text: &str) -> NewLogLine {
    NewLogLine {
        step,
        stream,
        text: text.into(),
    }
}

/// A job run to success with a few log lines, by `principal`.
async fn finished(store: &SharedStore, principal: &str, lines: &[&str]) -> Job {
    let job = Job {
        principal: skynet_core::Principal::new(principal).expect("principal"),
        ..test_job(&[RiskLevel::ReadOnly])
    };
    let job = insert(store, job).await;
    let (job, lease) = claimed(store, &job.id, LONG).await;
    let new: Vec<NewLogLine> = lines.iter().map(|t| line(0, Stream::Stdout, t)).collect();
    store.append_logs(&job.id, &new).await.expect("logs");
    run_step(store, &job.id, &lease, 0).await;
    store
        .complete(&job.id, &lease, Completion::Succeeded)
        .await
        .expect("complete")
}

/// An instant strictly after every time the store has handed out so far.
async fn past(at: chrono::DateTime<Utc>) {
    while Utc::now() <= at {
        tokio::task::yield_now().await;
    }
}

/// Lines are read by time range (`since` inclusive, `until` exclusive)
/// and by stream, beside the other filters.
pub async fn logs_are_read_by_time_and_stream(store: SharedStore) {
    let (job, _lease) = running(&store, &[RiskLevel::ReadOnly], LONG).await;
    store
        .append_logs(
            &job.id,
            &[
                line(0, Stream::Stdout, "early out"),
                line(0, Stream::Stderr, "early err"),
            ],
        )
        .await
        .expect("first batch");
    let first = store
        .logs(&job.id, &LogQuery::default())
        .await
        .expect("read");
    past(first[1].at).await;
    store
        .append_logs(
            &job.id,
            &[
                line(0, Stream::Stdout, "late out"),
                line(0, Stream::Stderr, "late err"),
                line(0, Stream::System, "late note"),
            ],
        )
        .await
        .expect("second batch");
    let all = store
        .logs(&job.id, &LogQuery::default())
        .await
        .expect("read");
    assert_eq!(all.len(), 5);
    let split = all[2].at;
    assert!(split > all[1].at, "the batches are apart in time");
    let texts = |q: LogQuery| {
        let store = store.clone();
        let id = job.id.clone();
        async move {
            store
                .logs(&id, &q)
                .await
                .expect("query")
                .into_iter()
                .map(|l| l.text)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        texts(LogQuery {
            since: Some(split),
            ..Default::default()
        })
        .await,
        ["late out", "late err", "late note"]
    );
    assert_eq!(
        texts(LogQuery {
            until: Some(split),
            ..Default::default()
        })
        .await,
        ["early out", "early err"]
    );
    assert_eq!(
        texts(LogQuery {
            stream: Some(Stream::Stderr),
            ..Default::default()
        })
        .await,
        ["early err", "late err"]
    );
    assert_eq!(
        texts(LogQuery {
            since: Some(split),
            stream: Some(Stream::Stdout),
            ..Default::default()
        })
        .await,
        ["late out"]
    );
    assert_eq!(
        texts(LogQuery {
            since: Some(split),
            tail: Some(1),
            ..Default::default()
        })
        .await,
        ["late note"]
    );
    assert!(
        texts(LogQuery {
            since: Some(split),
            until: Some(split),
            ..Default::default()
        })
        .await
        .is_empty(),
        "an empty range"
    );
}

/// A pruned job goes whole (row, steps, logs, events, artifact records)
/// and leaves a tombstone with its chain's head and length; every other
/// chain still verifies; only the owner (or an all-seeing caller) sees
/// the tombstone.
pub async fn pruned_jobs_leave_tombstones_and_other_chains_verify(store: SharedStore) {
    let old = finished(&store, "alice", &["a1", "a2"]).await;
    let kept = finished(&store, "bob", &["b1"]).await;
    let (running_job, lease) = running(&store, &[RiskLevel::ReadOnly], LONG).await;
    store
        .record_artifact(
            &lease,
            &NewArtifact {
                job: running_job.id.clone(),
                step: 0,
                name: "out.txt".into(),
                size: 3,
                sha256: format!("{:064x}", 3),
                content_type: "text/plain".into(),
                principal: running_job.principal.clone(),
            },
        )
        .await
        .expect("artifact");
    let head = store.events(&old.id).await.expect("events");
    let before = old.finished_at.expect("finished") + chrono::Duration::microseconds(1);
    let candidates = store.prunable_jobs(before, 100).await.expect("prunable");
    assert_eq!(
        candidates.iter().map(|c| &c.job_id).collect::<Vec<_>>(),
        [&old.id],
        "only the job finished before the cut, never a running one"
    );
    let at = Utc::now();
    let stones = store
        .prune_jobs(&[old.id.clone(), running_job.id.clone()], before, at)
        .await
        .expect("prune");
    assert_eq!(stones.len(), 1, "a running job is never pruned");
    let stone = &stones[0];
    assert_eq!(stone.job_id, old.id);
    assert_eq!(stone.status, JobStatus::Succeeded);
    assert_eq!(stone.event_count, head.len() as u64);
    assert_eq!(
        stone.event_head.as_deref(),
        head.last().map(|e| e.hash.as_str()),
        "the tombstone keeps the chain's head"
    );
    assert_not_found(store.get_job(&old.id).await);
    assert_not_found(store.events(&old.id).await);
    assert_not_found(store.logs(&old.id, &LogQuery::default()).await);
    for id in [&kept.id, &running_job.id] {
        let report = store.verify_events(id).await.expect("verify");
        assert!(report.intact, "{id}: {report:?}");
    }
    let alice = Visibility::Own(old.principal.clone());
    let bob = Visibility::Own(kept.principal.clone());
    assert_eq!(
        store.tombstone(&old.id, &alice).await.expect("own"),
        Some(stone.clone())
    );
    assert_eq!(
        store
            .tombstone(&old.id, &Visibility::All)
            .await
            .expect("all"),
        Some(stone.clone())
    );
    assert_eq!(store.tombstone(&old.id, &bob).await.expect("other"), None);
    assert!(store.tombstones(&bob, 10).await.expect("list").is_empty());
    assert_eq!(store.tombstones(&alice, 10).await.expect("list").len(), 1);
    let usage = store.storage_usage().await.expect("usage");
    assert_eq!((usage.jobs, usage.tombstones), (2, 1));
    assert_eq!((usage.artifacts, usage.artifact_bytes), (1, 3));
    // Pruning again changes nothing (the job is gone).
    assert!(
        store
            .prune_jobs(std::slice::from_ref(&old.id), before, at)
            .await
            .expect("again")
            .is_empty()
    );
}

/// Old log lines of kept jobs go with a mark on each job that says how
/// many and from before when; chains (logs are not in them) verify; the
/// marks are the owner's to read.
pub async fn pruned_logs_leave_marks_and_chains_verify(store: SharedStore) {
    let a = finished(&store, "alice", &["one", "two"]).await;
    let b = finished(&store, "bob", &["three"]).await;
    let lines = store.logs(&b.id, &LogQuery::default()).await.expect("read");
    past(lines[0].at).await;
    let cut = Utc::now();
    past(cut).await;
    store
        .append_logs(&a.id, &[line(0, Stream::Stdout, "late")])
        .await
        .expect("late line");
    let old = store.old_logs(cut).await.expect("old");
    assert_eq!(
        old.iter().map(|l| l.lines).sum::<u64>(),
        3,
        "the lines before the cut"
    );
    let usage = store.storage_usage().await.expect("usage");
    assert_eq!(usage.log_lines, 4);
    assert_eq!(
        usage.log_bytes,
        ("one".len() + "two".len() + "three".len() + "late".len()) as u64
    );
    let at = Utc::now();
    let pruned = store.prune_logs(cut, at).await.expect("prune");
    assert_eq!(pruned, old, "what was measured is what went");
    let left: Vec<String> = store
        .logs(&a.id, &LogQuery::default())
        .await
        .expect("read")
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(left, ["late"]);
    for id in [&a.id, &b.id] {
        assert!(store.verify_events(id).await.expect("verify").intact);
    }
    let marks = store
        .prune_marks(&a.id, &Visibility::Own(a.principal.clone()))
        .await
        .expect("marks");
    assert_eq!(marks.len(), 1);
    assert_eq!(
        (marks[0].what.as_str(), marks[0].count, marks[0].bytes),
        ("logs", 2, 6)
    );
    assert_eq!(
        marks[0].before,
        skynet_core::store::chain::truncate_to_micros(cut)
    );
    assert_not_found(
        store
            .prune_marks(&a.id, &Visibility::Own(b.principal.clone()))
            .await,
    );
    assert!(store.prune_logs(cut, at).await.expect("again").is_empty());
}

/// An artifact record goes only while its name still points at the same
/// event, leaving a mark; the chain keeps its `artifact` event.
pub async fn pruned_artifact_records_leave_marks(store: SharedStore) {
    let (job, lease) = running(&store, &[RiskLevel::ReadOnly], LONG).await;
    let new = |name: &str, size: u64| NewArtifact {
        job: job.id.clone(),
        step: 0,
        name: name.into(),
        size,
        sha256: format!("{size:064x}"),
        content_type: "text/plain".into(),
        principal: job.principal.clone(),
    };
    let first = store
        .record_artifact(&lease, &new("a", 1))
        .await
        .expect("a");
    store
        .record_artifact(&lease, &new("b", 2))
        .await
        .expect("b");
    let records = store.artifact_records().await.expect("all");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].name, "a", "oldest first");
    // "a" is recorded again: the old record no longer matches.
    let again = store
        .record_artifact(&lease, &new("a", 4))
        .await
        .expect("a again");
    let removed = store
        .prune_artifacts(&[first.clone(), records[1].clone()], Utc::now())
        .await
        .expect("prune");
    assert_eq!(
        removed.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    let left = store
        .artifacts(&job.id, &Visibility::All)
        .await
        .expect("list");
    assert_eq!(left, vec![again]);
    let marks = store
        .prune_marks(&job.id, &Visibility::All)
        .await
        .expect("marks");
    assert_eq!(
        marks
            .iter()
            .map(|m| (m.what.as_str(), m.detail.as_str(), m.bytes))
            .collect::<Vec<_>>(),
        [("artifact", "b", 2)]
    );
    assert!(store.verify_events(&job.id).await.expect("verify").intact);
}

/// One holder at a time: the lease is refused to another until released
/// or expired, and renewed for its holder.
pub async fn the_gc_lease_has_one_holder(store: SharedStore) {
    let now = Utc::now();
    assert!(store.take_gc_lease("a", now, 60_000).await.expect("take"));
    assert!(!store.take_gc_lease("b", now, 60_000).await.expect("held"));
    assert!(store.take_gc_lease("a", now, 60_000).await.expect("renew"));
    store.release_gc_lease("b").await.expect("not b's");
    assert!(
        !store
            .take_gc_lease("b", now, 60_000)
            .await
            .expect("still held")
    );
    let later = now + chrono::Duration::minutes(2);
    assert!(
        store
            .take_gc_lease("b", later, 60_000)
            .await
            .expect("expired"),
        "an expired lease is taken over"
    );
    store.release_gc_lease("b").await.expect("release");
    assert!(store.take_gc_lease("c", now, 60_000).await.expect("free"));
}
