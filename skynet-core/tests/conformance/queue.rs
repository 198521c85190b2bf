//! The queue: claims, leases, heartbeats, fenced completion, retries and
//! the reaper.

use super::*;
use skynet_core::store::{Completion, StatusChange, chain::truncate_to_micros};
use std::collections::HashSet;

const RO: RiskLevel = RiskLevel::ReadOnly;
const W: RiskLevel = RiskLevel::Write;

/// Claims take the highest priority first, then the oldest `run_at`.
pub async fn claim_orders_by_priority_then_age(store: SharedStore) {
    let base = Utc::now() - chrono::Duration::hours(1);
    let at = |s: i64| base + chrono::Duration::seconds(s);
    let make = |priority: i32, secs: i64| {
        let mut job = test_job(&[RO]);
        job.priority = priority;
        job.run_at = at(secs);
        job.created_at = at(secs);
        job
    };
    let low_old = make(0, 1);
    let high_new = make(5, 3);
    let high_old = make(5, 2);
    let low_new = make(0, 4);
    for job in [&low_old, &high_new, &high_old, &low_new] {
        insert(&store, job.clone()).await;
    }
    let expected = [&high_old, &high_new, &low_old, &low_new];
    let first = store.claim("w", LONG, 1).await.expect("claim");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, expected[0].id);
    let rest = store.claim("w", LONG, 10).await.expect("claim");
    assert_eq!(
        rest.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        expected[1..]
            .iter()
            .map(|j| j.id.clone())
            .collect::<Vec<_>>()
    );
    for job in first.iter().chain(&rest) {
        assert_eq!(job.status, JobStatus::Running);
        assert_eq!(job.attempts, 1);
        let lease = job.lease.as_ref().expect("lease");
        assert_eq!(lease.worker, "w");
        assert!(lease.expires_at > Utc::now() + chrono::Duration::minutes(59));
        assert!(job.started_at.is_some());
    }
    let leases: HashSet<_> = first
        .iter()
        .chain(&rest)
        .map(|j| j.lease.clone().expect("lease").id)
        .collect();
    assert_eq!(leases.len(), 4, "every claim gets its own lease id");
    assert!(store.claim("w", LONG, 10).await.expect("claim").is_empty());
    assert!(store.claim("w", LONG, 0).await.expect("claim").is_empty());
}

/// A job whose `run_at` is in the future is not claimed, by either claim call.
pub async fn future_run_at_is_not_claimable(store: SharedStore) {
    let mut later = test_job(&[RO]);
    later.run_at = Utc::now() + chrono::Duration::hours(1);
    let later = insert(&store, later).await;
    let now = insert(&store, test_job(&[RO])).await;
    let claimed = store.claim("w", LONG, 10).await.expect("claim");
    assert_eq!(
        claimed.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        vec![now.id]
    );
    assert!(
        store
            .claim_job(&later.id, "w", LONG)
            .await
            .expect("claim_job")
            .is_none()
    );
    assert_eq!(
        store.get_job(&later.id).await.expect("get").status,
        JobStatus::Queued
    );
}

/// `claim_job` claims one queued job once; otherwise `None` (unknown: NotFound).
pub async fn claim_job_claims_only_queued_jobs(store: SharedStore) {
    let planned = insert(&store, job_in(JobStatus::Planned, &[W])).await;
    assert!(
        store
            .claim_job(&planned.id, "w", LONG)
            .await
            .expect("claim_job")
            .is_none()
    );
    let queued = insert(&store, test_job(&[RO])).await;
    let (job, _) = claimed(&store, &queued.id, LONG).await;
    assert_eq!(job.attempts, 1);
    assert!(
        store
            .claim_job(&queued.id, "other", LONG)
            .await
            .expect("claim_job")
            .is_none(),
        "a running job cannot be claimed twice"
    );
    let events = store.events(&queued.id).await.expect("events");
    let last = events.last().expect("event");
    assert_eq!(last.data["to"], "running");
    assert_eq!(last.data["worker"], "worker-a");
    assert_eq!(last.data["attempt"], 1);
    assert_not_found(store.claim_job(&JobId::new(), "w", LONG).await);
}

/// Insert `n` jobs, then run `claimers` claim loops on the given handles
/// (round robin) and check that every job was claimed exactly once.
async fn claim_race(handles: &[SharedStore], n: usize, claimers: usize) {
    let mut ids = HashSet::new();
    for _ in 0..n {
        ids.insert(insert(&handles[0], test_job(&[RO])).await.id);
    }
    let mut tasks = Vec::new();
    for c in 0..claimers {
        let store = handles[c % handles.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store
                    .claim(&format!("claimer-{c}"), LONG, 3)
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                for job in batch {
                    let lease = job.lease.clone().expect("lease").id;
                    store
                        .complete(&job.id, &lease, Completion::Succeeded)
                        .await
                        .expect("complete");
                    mine.push(job.id);
                }
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut per_claimer = Vec::new();
    for task in tasks {
        let mine = task.await.expect("claimer task");
        per_claimer.push(mine.len());
        for id in mine {
            assert!(seen.insert(id.clone()), "job {id} was claimed twice");
        }
    }
    assert_eq!(seen, ids, "every job is claimed exactly once");
    for id in &ids {
        let job = handles[0].get_job(id).await.expect("get");
        assert_eq!(job.status, JobStatus::Succeeded);
        assert_eq!(job.attempts, 1);
    }
    assert_eq!(per_claimer.iter().sum::<usize>(), n, "{per_claimer:?}");
}

/// Four concurrent claimers on one handle never claim the same job.
pub async fn concurrent_claimers_claim_each_job_once(store: SharedStore) {
    claim_race(&[store], 200, 4).await;
}

/// Claimers on two independent handles of one database never claim the same job.
pub async fn concurrent_claimers_on_two_handles(backend: &Backend) {
    let reopen = backend.reopen.as_ref().expect("this backend can reopen");
    let second = reopen().await;
    claim_race(&[backend.store.clone(), second], 200, 4).await;
}

/// A heartbeat extends the lease; after a cancel the lease is lost for
/// heartbeats, steps and completion.
pub async fn heartbeat_extends_until_cancel(store: SharedStore) {
    let (job, lease) = running(&store, &[RO, RO], Duration::from_secs(10)).await;
    let before = job.lease.clone().expect("lease").expires_at;
    store
        .heartbeat(&job.id, &lease, LONG)
        .await
        .expect("heartbeat");
    let after = store.get_job(&job.id).await.expect("get");
    let extended = after.lease.clone().expect("lease");
    assert!(extended.expires_at > before + chrono::Duration::minutes(30));
    assert_eq!(extended.id, lease, "a heartbeat keeps the lease id");
    assert_lease_lost(store.heartbeat(&job.id, "not-my-lease", LONG).await);
    store.start_step(&job.id, &lease, 0).await.expect("start");

    let cancel = StatusChange {
        error: Some("cancelled by bob".into()),
        actor: Some("bob".into()),
    };
    let cancelled = store
        .set_status(&job.id, JobStatus::Cancelled, cancel)
        .await
        .expect("cancel");
    assert!(cancelled.lease.is_none());
    let events = event_count(&store, &job.id).await;
    assert_lease_lost(store.heartbeat(&job.id, &lease, LONG).await);
    assert_lease_lost(store.start_step(&job.id, &lease, 1).await);
    assert_lease_lost(
        store
            .finish_step(&job.id, &lease, 0, outcome(StepStatus::Succeeded), &[])
            .await,
    );
    assert_lease_lost(store.complete(&job.id, &lease, Completion::Succeeded).await);
    let after = store.get_job(&job.id).await.expect("get");
    assert_eq!(after.status, JobStatus::Cancelled);
    assert_eq!(after.error.as_deref(), Some("cancelled by bob"));
    assert_eq!(event_count(&store, &job.id).await, events);
}

/// After the reaper re-queued a job, the old lease can complete nothing.
pub async fn complete_is_fenced_after_reaper_requeue(store: SharedStore) {
    let (job, old) = running(&store, &[RO], Duration::ZERO).await;
    let reaped = reap_now(&store).await;
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].job, job.id);
    assert_eq!(reaped[0].status, JobStatus::Queued);
    let events = event_count(&store, &job.id).await;
    assert_lease_lost(store.complete(&job.id, &old, Completion::Succeeded).await);
    let after = store.get_job(&job.id).await.expect("get");
    assert_eq!(after.status, JobStatus::Queued);
    assert_eq!(event_count(&store, &job.id).await, events);

    let (again, new) = claimed(&store, &job.id, LONG).await;
    assert_eq!(again.attempts, 2);
    assert_ne!(new, old);
    assert_lease_lost(store.complete(&job.id, &old, Completion::Succeeded).await);
    assert_lease_lost(store.heartbeat(&job.id, &old, LONG).await);
    let done = store
        .complete(&job.id, &new, Completion::Succeeded)
        .await
        .expect("complete with the current lease");
    assert_eq!(done.status, JobStatus::Succeeded);
    assert!(done.lease.is_none() && done.finished_at.is_some());
}

/// Retry re-queues (in-flight step back to pending, error kept, run_at
/// honoured) until attempts run out, then the job fails as a dead letter.
pub async fn retry_requeues_until_attempts_exhausted(store: SharedStore) {
    let job = insert(&store, test_job(&[RO, RO])).await;
    for attempt in 1..=3u32 {
        let (claimed_job, lease) = claimed(&store, &job.id, LONG).await;
        assert_eq!(claimed_job.attempts, attempt);
        store.start_step(&job.id, &lease, 0).await.expect("start");
        // The runner records the failed step first, then asks for a retry:
        // the retry must run that step again.
        let failed = StepOutcome {
            status: StepStatus::Failed,
            exit_code: None,
            output_bytes: 0,
            truncated: false,
            error: Some("connection reset".into()),
        };
        store
            .finish_step(&job.id, &lease, 0, failed, &[])
            .await
            .expect("finish");
        let retry = Completion::Retry {
            error: "connection reset".into(),
            run_at: Utc::now() - chrono::Duration::milliseconds(1),
        };
        let after = store.complete(&job.id, &lease, retry).await.expect("retry");
        assert!(after.lease.is_none());
        if attempt < 3 {
            assert_eq!(after.status, JobStatus::Queued);
            assert_eq!(after.error.as_deref(), Some("connection reset"));
            assert_eq!(
                step_statuses(&store, &job.id).await,
                vec![StepStatus::Pending, StepStatus::Pending]
            );
        } else {
            assert_eq!(after.status, JobStatus::Failed);
            let error = after.error.expect("error");
            assert!(
                error.starts_with("attempts exhausted (3/3)") && error.contains("connection reset"),
                "{error}"
            );
            assert_eq!(
                step_statuses(&store, &job.id).await,
                vec![StepStatus::Failed, StepStatus::Skipped]
            );
            assert!(after.finished_at.is_some());
        }
    }

    // It is a dead letter; a job that failed on its first attempt is not.
    let plain = insert(&store, test_job(&[RO])).await;
    let (_, lease) = claimed(&store, &plain.id, LONG).await;
    store
        .complete(&plain.id, &lease, Completion::Failed("exit 1".into()))
        .await
        .expect("fail");
    let dead = store
        .list_jobs(&skynet_core::store::JobFilter {
            dead_letter: true,
            ..Default::default()
        })
        .await
        .expect("list dead letters");
    let dead: Vec<_> = dead.into_iter().map(|j| j.id).collect();
    assert_eq!(dead, vec![job.id.clone()]);

    // A backoff in the future holds the job back.
    let job = insert(&store, test_job(&[RO])).await;
    let (_, lease) = claimed(&store, &job.id, LONG).await;
    let run_at = Utc::now() + chrono::Duration::hours(1);
    let after = store
        .complete(
            &job.id,
            &lease,
            Completion::Retry {
                error: "busy".into(),
                run_at,
            },
        )
        .await
        .expect("retry");
    assert_eq!(after.status, JobStatus::Queued);
    assert_eq!(after.run_at, truncate_to_micros(run_at));
    assert!(store.claim("w", LONG, 10).await.expect("claim").is_empty());
}

/// Reaper: an expired lease with a READ_ONLY step in flight re-queues the
/// job and puts the step back to pending.
pub async fn reaper_requeues_read_only_step(store: SharedStore) {
    let (job, lease) = running(&store, &[RO, RO], Duration::ZERO).await;
    run_step(&store, &job.id, &lease, 0).await;
    store.start_step(&job.id, &lease, 1).await.expect("start");
    let reaped = reap_now(&store).await;
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].status, JobStatus::Queued);
    let after = store.get_job(&job.id).await.expect("get");
    assert_eq!(after.status, JobStatus::Queued);
    assert!(after.lease.is_none());
    assert!(after.run_at <= Utc::now());
    assert_eq!(
        step_statuses(&store, &job.id).await,
        vec![StepStatus::Succeeded, StepStatus::Pending]
    );
    let events = store.events(&job.id).await.expect("events");
    let last = events.last().expect("event");
    assert_eq!(last.data["to"], "queued");
    assert!(last.data["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let (again, _) = claimed(&store, &job.id, LONG).await;
    assert_eq!(again.attempts, 2);
}

/// Reaper: a WRITE step in flight is never re-run: the job needs review
/// and the error names the step.
pub async fn reaper_sends_write_step_to_review(store: SharedStore) {
    let (job, lease) = running(&store, &[RO, W], Duration::ZERO).await;
    run_step(&store, &job.id, &lease, 0).await;
    store.start_step(&job.id, &lease, 1).await.expect("start");
    let reaped = reap_now(&store).await;
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].status, JobStatus::NeedsReview);
    let after = store.get_job(&job.id).await.expect("get");
    assert_eq!(after.status, JobStatus::NeedsReview);
    let error = after.error.expect("error");
    assert!(
        error.contains("step 2") && error.contains("WRITE"),
        "{error}"
    );
    assert!(after.lease.is_none());
    assert!(
        store.claim("w", LONG, 10).await.expect("claim").is_empty(),
        "a job under review is not re-run"
    );
}

/// Reaper: a worker that recorded a failed step and died before finishing
/// the job leaves a known outcome: the job fails, nothing is re-run.
pub async fn reaper_finishes_a_job_whose_step_already_failed(store: SharedStore) {
    let (job, lease) = running(&store, &[W, RO], Duration::ZERO).await;
    store.start_step(&job.id, &lease, 0).await.expect("start");
    let failed = StepOutcome {
        status: StepStatus::Failed,
        exit_code: Some(1),
        output_bytes: 0,
        truncated: false,
        error: Some("step 1 (echo 0) exited with code 1".into()),
    };
    store
        .finish_step(&job.id, &lease, 0, failed, &[])
        .await
        .expect("finish");
    let reaped = reap_now(&store).await;
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].status, JobStatus::Failed);
    let after = store.get_job(&job.id).await.expect("get");
    assert_eq!(after.status, JobStatus::Failed);
    assert!(after.error.expect("error").contains("exited with code 1"));
    let steps = store.steps(&job.id).await.expect("steps");
    assert_eq!(steps[1].status, StepStatus::Skipped);
    assert!(store.claim("w", LONG, 10).await.expect("claim").is_empty());
}

/// Reaper: a succeeded WRITE step followed by a never-started step is a
/// safe resume point: the job is re-queued.
pub async fn reaper_requeues_after_succeeded_write_step(store: SharedStore) {
    let (job, lease) = running(&store, &[W, RO], Duration::ZERO).await;
    run_step(&store, &job.id, &lease, 0).await;
    let reaped = reap_now(&store).await;
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].status, JobStatus::Queued);
    assert_eq!(
        step_statuses(&store, &job.id).await,
        vec![StepStatus::Succeeded, StepStatus::Pending]
    );
}

/// Reaper: with no attempts left the job fails (dead letter).
pub async fn reaper_dead_letters_exhausted_job(store: SharedStore) {
    let mut job = test_job(&[RO, RO]);
    job.max_attempts = 1;
    let job = insert(&store, job).await;
    let (_, lease) = claimed(&store, &job.id, Duration::ZERO).await;
    store.start_step(&job.id, &lease, 0).await.expect("start");
    let reaped = reap_now(&store).await;
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].status, JobStatus::Failed);
    let after = store.get_job(&job.id).await.expect("get");
    assert_eq!(after.status, JobStatus::Failed);
    assert!(
        after
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("attempts exhausted (1/1)")),
        "{:?}",
        after.error
    );
    assert_eq!(
        step_statuses(&store, &job.id).await,
        vec![StepStatus::Failed, StepStatus::Skipped]
    );
}

/// Reaper: a lease that has not expired is left alone.
pub async fn reaper_leaves_live_leases_alone(store: SharedStore) {
    let (job, lease) = running(&store, &[W], LONG).await;
    store.start_step(&job.id, &lease, 0).await.expect("start");
    assert!(reap_now(&store).await.is_empty());
    let after = store.get_job(&job.id).await.expect("get");
    assert_eq!(after.status, JobStatus::Running);
    store
        .heartbeat(&job.id, &lease, LONG)
        .await
        .expect("still ours");
}

/// Cancelling a running job stops the in-flight step and skips the rest.
pub async fn cancel_of_running_job_marks_steps(store: SharedStore) {
    let (job, lease) = running(&store, &[RO, W, RO], LONG).await;
    run_step(&store, &job.id, &lease, 0).await;
    store.start_step(&job.id, &lease, 1).await.expect("start");
    let change = StatusChange {
        error: Some("cancelled by carol".into()),
        actor: Some("carol".into()),
    };
    let after = store
        .set_status(&job.id, JobStatus::Cancelled, change)
        .await
        .expect("cancel");
    assert_eq!(after.status, JobStatus::Cancelled);
    assert!(after.lease.is_none() && after.finished_at.is_some());
    assert_eq!(
        step_statuses(&store, &job.id).await,
        vec![
            StepStatus::Succeeded,
            StepStatus::Cancelled,
            StepStatus::Skipped
        ]
    );
    let events = store.events(&job.id).await.expect("events");
    let last = events.last().expect("event");
    assert_eq!(last.data["from"], "running");
    assert_eq!(last.data["to"], "cancelled");
    assert_eq!(last.data["actor"], "carol");
}
