//! Group commit: many jobs' checkpoints in one transaction, each fenced by
//! its own lease, each job's chain intact.

use super::*;
use skynet_core::provider::Stream;
use skynet_core::store::{
    Completion, FinishedStep, NewLogLine, RunCheckpoint, StatusChange, chain::truncate_to_micros,
};

const RO: RiskLevel = RiskLevel::ReadOnly;

fn step_end(
    index: u32,
    status: StepStatus,
    started_at: Option<chrono::DateTime<Utc>>,
) -> FinishedStep {
    FinishedStep {
        index,
        started_at,
        outcome: outcome(status),
        logs: vec![NewLogLine {
            step: index,
            stream: Stream::Stdout,
            text: format!("step {index} done"),
        }],
    }
}

fn checkpoint(
    id: &JobId,
    lease: &str,
    step: Option<FinishedStep>,
    completion: Option<Completion>,
) -> RunCheckpoint {
    RunCheckpoint {
        job: id.clone(),
        lease_id: lease.to_string(),
        step,
        completion,
    }
}

fn kinds(events: &[skynet_core::store::Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

/// One batch: a finished run whose step start was deferred, a run finished
/// without a step, a step that lets its run go on, a run whose lease was
/// lost and a malformed checkpoint. Each gets its own answer; the refused
/// ones write nothing; every chain verifies.
pub async fn group_commit_fences_each_job_by_its_lease(store: SharedStore) {
    let (done, done_lease) = running(&store, &[RO], LONG).await;
    let (failed, failed_lease) = running(&store, &[RO], LONG).await;
    let (going, going_lease) = running(&store, &[RO, RO], LONG).await;
    let (stale, stale_lease) = running(&store, &[RO], LONG).await;
    let (bad, bad_lease) = running(&store, &[RO], LONG).await;
    store
        .set_status(&stale.id, JobStatus::Cancelled, StatusChange::default())
        .await
        .expect("cancel");
    let stale_events = event_count(&store, &stale.id).await;
    let bad_events = event_count(&store, &bad.id).await;
    let started = truncate_to_micros(Utc::now() - chrono::Duration::milliseconds(5));
    let batch = vec![
        checkpoint(
            &done.id,
            &done_lease,
            Some(step_end(0, StepStatus::Succeeded, Some(started))),
            Some(Completion::Succeeded),
        ),
        checkpoint(
            &stale.id,
            &stale_lease,
            Some(step_end(0, StepStatus::Succeeded, None)),
            Some(Completion::Succeeded),
        ),
        checkpoint(
            &failed.id,
            &failed_lease,
            None,
            Some(Completion::Failed("boom".into())),
        ),
        checkpoint(
            &going.id,
            &going_lease,
            Some(step_end(0, StepStatus::Succeeded, Some(started))),
            None,
        ),
        checkpoint(
            &bad.id,
            &bad_lease,
            Some(step_end(0, StepStatus::Running, None)),
            Some(Completion::Succeeded),
        ),
    ];
    let results = store
        .record_checkpoints(&batch)
        .await
        .expect("record_checkpoints");
    assert_eq!(results.len(), batch.len());
    let mut results = results.into_iter();
    let mut next = || results.next().expect("one result per checkpoint");

    let job = next().expect("done").expect("a completion returns the job");
    assert_eq!(job.status, JobStatus::Succeeded);
    assert!(job.lease.is_none());
    let steps = store.steps(&done.id).await.expect("steps");
    assert_eq!(steps[0].status, StepStatus::Succeeded);
    assert_eq!(steps[0].started_at, Some(started), "the deferred start");
    let events = store.events(&done.id).await.expect("events");
    assert_eq!(
        kinds(&events)[events.len() - 3..],
        ["step_started", "step_finished", "status"]
    );
    assert_eq!(events[events.len() - 3].at, started);
    assert_eq!(events[events.len() - 1].data["to"], "succeeded");
    let logs = store
        .logs(&done.id, &Default::default())
        .await
        .expect("logs");
    assert_eq!(logs.len(), 1);

    assert!(matches!(next(), Err(Error::LeaseLost(_))), "stale lease");
    assert_eq!(
        store.get_job(&stale.id).await.expect("get").status,
        JobStatus::Cancelled
    );
    assert_eq!(event_count(&store, &stale.id).await, stale_events);
    assert_ne!(
        step_statuses(&store, &stale.id).await[0],
        StepStatus::Succeeded
    );
    let logs = store
        .logs(&stale.id, &Default::default())
        .await
        .expect("logs");
    assert!(logs.is_empty(), "a refused checkpoint writes nothing");

    let job = next().expect("failed").expect("the job");
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("boom"));

    assert!(next().expect("going").is_none(), "the run goes on");
    let job = store.get_job(&going.id).await.expect("get");
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(
        step_statuses(&store, &going.id).await,
        [StepStatus::Succeeded, StepStatus::Pending]
    );
    let events = store.events(&going.id).await.expect("events");
    assert_eq!(
        kinds(&events)[events.len() - 2..],
        ["step_started", "step_finished"]
    );

    assert!(matches!(next(), Err(Error::InvalidInput(_))), "bad outcome");
    assert_eq!(
        store.get_job(&bad.id).await.expect("get").status,
        JobStatus::Running
    );
    assert_eq!(event_count(&store, &bad.id).await, bad_events);

    for id in [&done.id, &failed.id, &going.id, &stale.id, &bad.id] {
        let report = store.verify_events(id).await.expect("verify");
        assert!(report.intact, "{id}: {report:?}");
    }
    assert!(
        store
            .record_checkpoints(&[])
            .await
            .expect("empty batch")
            .is_empty()
    );
}

/// Forty runs finished in one transaction, in an order unlike their ids:
/// every job ends, with its chain intact and its events in order.
pub async fn group_commit_of_many_runs_keeps_every_chain(store: SharedStore) {
    let mut batch = Vec::new();
    for _ in 0..40 {
        let (job, lease) = running(&store, &[RO], LONG).await;
        store.start_step(&job.id, &lease, 0).await.expect("start");
        batch.push(checkpoint(
            &job.id,
            &lease,
            Some(step_end(0, StepStatus::Succeeded, None)),
            Some(Completion::Succeeded),
        ));
    }
    batch.reverse();
    let results = store
        .record_checkpoints(&batch)
        .await
        .expect("record_checkpoints");
    for (cp, result) in batch.iter().zip(results) {
        let job = result.expect("completed").expect("the job");
        assert_eq!(job.id, cp.job);
        assert_eq!(job.status, JobStatus::Succeeded);
        assert!(job.lease.is_none() && job.error.is_none(), "{job:?}");
        assert!(job.finished_at.is_some());
        assert_eq!(job.attempts, 1);
        let stored = store.get_job(&cp.job).await.expect("get");
        assert_eq!(
            (stored.status, stored.finished_at, stored.lease.is_none()),
            (job.status, job.finished_at, true)
        );
        let events = store.events(&cp.job).await.expect("events");
        assert_eq!(
            kinds(&events),
            [
                "submitted",
                "status",
                "step_started",
                "step_finished",
                "status"
            ]
        );
        let report = store.verify_events(&cp.job).await.expect("verify");
        assert!(report.intact, "{report:?}");
    }
}

/// Every way a worker's job moves its chain, one after another (a batch
/// claim, a step start, a step end without completion, an expired lease
/// handed back by the reaper, a second batch claim, a completion, a
/// cancel): each chain stays intact, its head on its newest event.
pub async fn every_writer_moves_the_chain_head(store: SharedStore) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(insert(&store, test_job(&[RO, RO])).await.id);
    }
    let short = Duration::from_millis(1);
    let first = store.claim("w", short, 10).await.expect("claim");
    assert_eq!(first.len(), 3);
    for job in &first {
        let lease = job.lease.clone().expect("lease").id;
        store.start_step(&job.id, &lease, 0).await.expect("start");
        let cp = checkpoint(
            &job.id,
            &lease,
            Some(step_end(0, StepStatus::Succeeded, None)),
            None,
        );
        let results = store.record_checkpoints(&[cp]).await.expect("record");
        assert!(results[0].as_ref().expect("recorded").is_none());
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reaped = reap_now(&store).await;
    assert_eq!(reaped.len(), 3, "{reaped:?}");
    let again = store.claim("w", LONG, 10).await.expect("claim again");
    assert_eq!(again.len(), 3);
    let (done, rest) = again.split_first().expect("three");
    let lease = done.lease.clone().expect("lease").id;
    let cp = checkpoint(
        &done.id,
        &lease,
        Some(step_end(1, StepStatus::Succeeded, Some(Utc::now()))),
        Some(Completion::Succeeded),
    );
    let finished = store.record_checkpoints(&[cp]).await.expect("record");
    assert_eq!(
        finished[0]
            .as_ref()
            .expect("completed")
            .as_ref()
            .expect("job")
            .status,
        JobStatus::Succeeded
    );
    for job in rest {
        store
            .set_status(&job.id, JobStatus::Cancelled, StatusChange::default())
            .await
            .expect("cancel");
    }
    for id in &ids {
        let events = store.events(id).await.expect("events");
        assert!(events.len() >= 7, "{id}: {events:?}");
        let report = store.verify_events(id).await.expect("verify");
        assert!(report.intact, "{id}: {report:?}");
        assert_eq!(report.events, events.len());
    }
}

/// A batch naming a step its job does not have is refused as a whole:
/// nothing of it is written (the group committer then writes each
/// checkpoint alone, so only the bad one fails).
pub async fn group_commit_with_a_missing_step_writes_nothing(store: SharedStore) {
    let (good, good_lease) = running(&store, &[RO], LONG).await;
    let (bad, bad_lease) = running(&store, &[RO], LONG).await;
    let before = (
        event_count(&store, &good.id).await,
        event_count(&store, &bad.id).await,
    );
    let batch = vec![
        checkpoint(
            &good.id,
            &good_lease,
            Some(step_end(0, StepStatus::Succeeded, Some(Utc::now()))),
            Some(Completion::Succeeded),
        ),
        checkpoint(
            &bad.id,
            &bad_lease,
            Some(step_end(7, StepStatus::Succeeded, Some(Utc::now()))),
            Some(Completion::Succeeded),
        ),
    ];
    assert!(store.record_checkpoints(&batch).await.is_err());
    for (id, events) in [(&good.id, before.0), (&bad.id, before.1)] {
        assert_eq!(
            store.get_job(id).await.expect("get").status,
            JobStatus::Running
        );
        assert_eq!(event_count(&store, id).await, events);
        assert!(
            store
                .logs(id, &Default::default())
                .await
                .expect("logs")
                .is_empty()
        );
    }
    let alone = store.record_checkpoints(&batch[1..]).await;
    assert!(matches!(alone, Err(Error::InvalidInput(_))), "{alone:?}");
    let results = store
        .record_checkpoints(&batch[..1])
        .await
        .expect("good alone");
    let job = results
        .into_iter()
        .next()
        .expect("one")
        .expect("ok")
        .expect("job");
    assert_eq!(job.status, JobStatus::Succeeded);
}

/// Two checkpoints of one job in one batch (a step end, then the
/// completion) are written in order, each seeing the other's chain.
pub async fn group_commit_of_one_job_twice_keeps_its_chain(store: SharedStore) {
    let (job, lease) = running(&store, &[RO, RO], LONG).await;
    let batch = vec![
        checkpoint(
            &job.id,
            &lease,
            Some(step_end(0, StepStatus::Succeeded, Some(Utc::now()))),
            None,
        ),
        checkpoint(
            &job.id,
            &lease,
            Some(step_end(1, StepStatus::Succeeded, Some(Utc::now()))),
            Some(Completion::Succeeded),
        ),
    ];
    let results = store.record_checkpoints(&batch).await.expect("record");
    assert!(results[0].as_ref().expect("step end").is_none());
    let done = results[1]
        .as_ref()
        .expect("completion")
        .as_ref()
        .expect("job");
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(
        step_statuses(&store, &job.id).await,
        [StepStatus::Succeeded, StepStatus::Succeeded]
    );
    let report = store.verify_events(&job.id).await.expect("verify");
    assert!(report.intact, "{report:?}");
}
