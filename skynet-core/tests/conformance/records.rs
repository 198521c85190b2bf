//! Step checkpoints, logs and the hash-chained event log.

use super::*;
use skynet_core::job::Approval;
use skynet_core::provider::Stream;
use skynet_core::store::{Completion, LogQuery, NewLogLine, StatusChange};

const RO: RiskLevel = RiskLevel::ReadOnly;
const W: RiskLevel = RiskLevel::Write;

/// Steps record their outcome under the lease; another lease is refused.
pub async fn steps_are_fenced_by_the_lease(store: SharedStore) {
    let (job, lease) = running(&store, &[RO, W], LONG).await;
    assert_lease_lost(store.start_step(&job.id, "forged", 0).await);
    store.start_step(&job.id, &lease, 0).await.expect("start");
    let started = store.steps(&job.id).await.expect("steps");
    assert_eq!(started[0].status, StepStatus::Running);
    assert!(started[0].started_at.is_some());
    let tail = [NewLogLine {
        step: 0,
        stream: Stream::Stdout,
        text: "last words".into(),
    }];
    assert_lease_lost(
        store
            .finish_step(&job.id, "forged", 0, outcome(StepStatus::Succeeded), &tail)
            .await,
    );
    let no_logs = store
        .logs(&job.id, &LogQuery::default())
        .await
        .expect("logs");
    assert!(no_logs.is_empty(), "a refused finish writes no log lines");
    let failed = StepOutcome {
        status: StepStatus::Failed,
        exit_code: Some(2),
        output_bytes: 1234,
        truncated: true,
        error: Some("exit 2".into()),
    };
    store
        .finish_step(&job.id, &lease, 0, failed, &tail)
        .await
        .expect("finish");
    let logs = store
        .logs(&job.id, &LogQuery::default())
        .await
        .expect("logs");
    assert_eq!(logs.len(), 1, "the tail lines land with the checkpoint");
    assert_eq!(logs[0].text, "last words");
    let step = store.steps(&job.id).await.expect("steps").remove(0);
    assert_eq!(step.status, StepStatus::Failed);
    assert_eq!(step.exit_code, Some(2));
    assert_eq!(step.output_bytes, 1234);
    assert!(step.truncated);
    assert_eq!(step.error.as_deref(), Some("exit 2"));
    assert!(step.finished_at.is_some());
    assert!(
        store
            .finish_step(&job.id, &lease, 1, outcome(StepStatus::Running), &[])
            .await
            .is_err(),
        "a finished step cannot be running"
    );
    assert!(
        store.start_step(&job.id, &lease, 7).await.is_err(),
        "no such step"
    );
}

fn line(step: u32, stream: Stream, text: &str) -> NewLogLine {
    NewLogLine {
        step,
        stream,
        text: text.into(),
    }
}

/// Logs come back in order and filter by step, literal text, position and tail.
pub async fn logs_append_tail_search_after_step(store: SharedStore) {
    let job = insert(&store, test_job(&[RO, RO])).await;
    let other = insert(&store, test_job(&[RO])).await;
    let first: Vec<NewLogLine> = (1..=5)
        .map(|i| line(0, Stream::Stdout, &format!("hello {i}")))
        .collect();
    store.append_logs(&job.id, &first).await.expect("append");
    store
        .append_logs(
            &job.id,
            &[
                line(1, Stream::Stderr, "disk 100% full"),
                line(1, Stream::Stderr, "disk 1000 full"),
                line(1, Stream::System, "[output truncated]"),
            ],
        )
        .await
        .expect("append");
    store
        .append_logs(
            &other.id,
            &[line(0, Stream::Stdout, "hello from elsewhere")],
        )
        .await
        .expect("append");
    store.append_logs(&job.id, &[]).await.expect("empty batch");

    let all = store
        .logs(&job.id, &LogQuery::default())
        .await
        .expect("logs");
    assert_eq!(all.len(), 8);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "ascending seq");
    assert_eq!(all[0].text, "hello 1");
    assert_eq!(all[5].stream, Stream::Stderr);
    assert_eq!(all[7].stream, Stream::System);

    let q = |f: fn(&mut LogQuery)| {
        let mut q = LogQuery::default();
        f(&mut q);
        q
    };
    let texts = |lines: Vec<skynet_core::store::LogLine>| {
        lines.into_iter().map(|l| l.text).collect::<Vec<_>>()
    };
    let tail = store
        .logs(&job.id, &q(|q| q.tail = Some(2)))
        .await
        .expect("tail");
    assert_eq!(texts(tail), vec!["disk 1000 full", "[output truncated]"]);
    let step0 = store
        .logs(&job.id, &q(|q| q.step = Some(0)))
        .await
        .expect("step");
    assert_eq!(step0.len(), 5);
    let both = q(|q| {
        q.step = Some(0);
        q.tail = Some(2);
    });
    assert_eq!(
        texts(store.logs(&job.id, &both).await.expect("logs")),
        vec!["hello 4", "hello 5"]
    );
    // The search text is literal: `%` and `_` are not wildcards, and case counts.
    let found = store
        .logs(&job.id, &q(|q| q.search = Some("100%".into())))
        .await
        .expect("search");
    assert_eq!(texts(found), vec!["disk 100% full"]);
    let found = store
        .logs(&job.id, &q(|q| q.search = Some("disk 1_0".into())))
        .await
        .expect("search");
    assert!(found.is_empty());
    let found = store
        .logs(&job.id, &q(|q| q.search = Some("HELLO".into())))
        .await
        .expect("search");
    assert!(found.is_empty());
    let after = LogQuery {
        after_seq: Some(all[5].seq),
        ..LogQuery::default()
    };
    let rest = store.logs(&job.id, &after).await.expect("after");
    assert_eq!(rest, all[6..].to_vec());

    // A large batch lands whole and in order.
    let many: Vec<NewLogLine> = (0..1200)
        .map(|i| line(0, Stream::Stdout, &format!("line {i}")))
        .collect();
    store
        .append_logs(&other.id, &many)
        .await
        .expect("append many");
    let got = store
        .logs(&other.id, &LogQuery::default())
        .await
        .expect("logs");
    assert_eq!(got.len(), 1201);
    assert_eq!(got[1].text, "line 0");
    assert_eq!(got[1200].text, "line 1199");
}

/// A job's life is a linked, verifiable chain of events.
pub async fn event_chain_verifies(store: SharedStore) {
    let job = insert(&store, job_in(JobStatus::Planned, &[W])).await;
    let approval = Approval {
        approver: "alice".into(),
        plan_hash: job.plan.as_ref().expect("plan").hash.clone(),
        at: Utc::now(),
    };
    store.approve(&job.id, approval).await.expect("approve");
    let (_, lease) = claimed(&store, &job.id, LONG).await;
    let custom = store
        .append_event(&job.id, "step_started", serde_json::json!({"step": 0}))
        .await
        .expect("append_event");
    assert_eq!(custom.kind, "step_started");
    store
        .complete(&job.id, &lease, Completion::Succeeded)
        .await
        .expect("complete");

    let events = store.events(&job.id).await.expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["submitted", "status", "status", "step_started", "status"]
    );
    assert_eq!(events[0].data["status"], "planned");
    assert_eq!(
        events[0].data["plan_hash"],
        job.plan.as_ref().expect("plan").hash.as_str()
    );
    assert_eq!(
        events[0].prev_hash,
        skynet_core::store::chain::genesis(&job.id)
    );
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].prev_hash, pair[0].hash,
            "each event links to the last"
        );
        assert!(pair[0].seq < pair[1].seq);
    }
    assert_eq!(events[3], custom);
    assert_eq!(events[4].data["to"], "succeeded");
    let report = store.verify_events(&job.id).await.expect("verify");
    assert!(report.intact, "{report:?}");
    assert_eq!(report.events, 5);
    assert!(report.problem.is_none());

    assert!(
        store
            .append_event(&job.id, "status", serde_json::json!({"to": "succeeded"}))
            .await
            .is_err(),
        "status events come only from status changes"
    );
    assert_eq!(event_count(&store, &job.id).await, 5);
}

/// A job with a few events, for tampering.
async fn chained_job(store: &SharedStore) -> (JobId, Vec<skynet_core::store::Event>) {
    let (job, lease) = running(store, &[RO], LONG).await;
    store
        .complete(&job.id, &lease, Completion::Succeeded)
        .await
        .expect("complete");
    let events = store.events(&job.id).await.expect("events");
    assert_eq!(events.len(), 3);
    assert!(store.verify_events(&job.id).await.expect("verify").intact);
    (job.id, events)
}

/// Editing an event's data behind the store's back is detected at that event.
pub async fn tampered_event_data_is_detected(backend: &Backend) {
    let store = &backend.store;
    let raw = backend
        .raw_sql
        .as_ref()
        .expect("this backend allows raw SQL");
    let (id, events) = chained_job(store).await;
    let (untouched, _) = chained_job(store).await;
    let victim = events[1].seq;
    raw(format!(
        "UPDATE events SET data = '{{\"from\":\"queued\",\"to\":\"running\",\"worker\":\"mallory\"}}' WHERE seq = {victim}"
    ))
    .await;
    let report = store.verify_events(&id).await.expect("verify");
    assert!(!report.intact);
    let problem = report.problem.expect("a problem");
    assert!(
        problem.contains(&format!("event {victim}")) && problem.contains("hash mismatch"),
        "{problem}"
    );
    assert!(
        store
            .verify_events(&untouched)
            .await
            .expect("verify")
            .intact
    );
}

/// Deleting the last event is detected by the recorded chain head.
pub async fn removed_last_event_is_detected(backend: &Backend) {
    let store = &backend.store;
    let raw = backend
        .raw_sql
        .as_ref()
        .expect("this backend allows raw SQL");
    let (id, events) = chained_job(store).await;
    let last = events.last().expect("event").seq;
    raw(format!("DELETE FROM events WHERE seq = {last}")).await;
    let report = store.verify_events(&id).await.expect("verify");
    assert!(!report.intact);
    assert_eq!(report.events, 2);
    let problem = report.problem.expect("a problem");
    assert!(problem.contains("chain head mismatch"), "{problem}");

    // Removing one in the middle breaks the link instead.
    let (id, events) = chained_job(store).await;
    raw(format!("DELETE FROM events WHERE seq = {}", events[1].seq)).await;
    let report = store.verify_events(&id).await.expect("verify");
    assert!(!report.intact);
    let problem = report.problem.expect("a problem");
    assert!(
        problem.contains(&format!("event {}", events[2].seq)),
        "{problem}"
    );
}

/// Every method given an unknown id says JobNotFound.
pub async fn unknown_id_is_not_found_everywhere(store: SharedStore) {
    let id = JobId::new();
    let d = Duration::from_secs(1);
    assert_not_found(store.get_job(&id).await);
    assert_not_found(
        store
            .set_status(&id, JobStatus::Cancelled, StatusChange::default())
            .await,
    );
    let approval = Approval {
        approver: "a".into(),
        plan_hash: "0".repeat(64),
        at: Utc::now(),
    };
    assert_not_found(store.approve(&id, approval).await);
    assert_not_found(store.claim_job(&id, "w", d).await);
    assert_not_found(store.heartbeat(&id, "l", d).await);
    assert_not_found(store.complete(&id, "l", Completion::Succeeded).await);
    assert_not_found(store.steps(&id).await);
    assert_not_found(store.start_step(&id, "l", 0).await);
    assert_not_found(
        store
            .finish_step(&id, "l", 0, outcome(StepStatus::Succeeded), &[])
            .await,
    );
    assert_not_found(
        store
            .append_logs(&id, &[line(0, Stream::Stdout, "x")])
            .await,
    );
    assert_not_found(store.logs(&id, &LogQuery::default()).await);
    assert_not_found(store.append_event(&id, "note", serde_json::json!({})).await);
    assert_not_found(store.events(&id).await);
    assert_not_found(store.verify_events(&id).await);
}
