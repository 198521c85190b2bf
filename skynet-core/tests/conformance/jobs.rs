//! Jobs: insert, list, idempotency, the transition table, approval.

use super::*;
use skynet_core::job::{ALL_STATUSES, Approval};
use skynet_core::store::{Completion, JobFilter, StatusChange, chain::truncate_to_micros};
use skynet_core::{Error, JobStatus, RiskLevel};

const RO: RiskLevel = RiskLevel::ReadOnly;
const W: RiskLevel = RiskLevel::Write;

/// Inserted jobs read back field by field; listing is newest first and
/// filters by status; step checkpoints are created pending with the steps' risks.
pub async fn insert_get_list_filter(store: SharedStore) {
    let base = Utc::now() - chrono::Duration::minutes(10);
    let mut inserted = Vec::new();
    for (i, status) in [JobStatus::Created, JobStatus::Planned, JobStatus::Queued]
        .into_iter()
        .enumerate()
    {
        let mut job = job_in(status, &[RO, W]);
        job.created_at = base + chrono::Duration::seconds(i as i64);
        job.priority = i as i32;
        job.timeout_ms = Some(5_000);
        job.idempotency_key = Some(format!("key-{i}"));
        inserted.push((job.clone(), insert(&store, job).await));
    }
    for (given, stored) in &inserted {
        let got = store.get_job(&given.id).await.expect("get_job");
        for job in [stored, &got] {
            assert_eq!(job.id, given.id);
            assert_eq!(job.intent, given.intent);
            assert_eq!(job.status, given.status);
            assert_eq!(job.plan, given.plan);
            assert_eq!(job.risk, RiskLevel::Write);
            assert_eq!(job.root, given.root);
            assert_eq!(job.provider, given.provider);
            assert_eq!(job.priority, given.priority);
            assert_eq!(job.max_attempts, given.max_attempts);
            assert_eq!(job.attempts, 0);
            assert_eq!(job.timeout_ms, Some(5_000));
            assert_eq!(job.source, given.source);
            assert_eq!(job.idempotency_key, given.idempotency_key);
            assert_eq!(job.created_at, truncate_to_micros(given.created_at));
            assert_eq!(job.run_at, truncate_to_micros(given.run_at));
            assert!(job.lease.is_none() && job.finished_at.is_none());
        }
        assert_eq!(
            got.queued_at.is_some(),
            given.status == JobStatus::Queued,
            "queued_at is set exactly for a queued insert"
        );
        let steps = store.steps(&given.id).await.expect("steps");
        assert_eq!(steps.len(), 2);
        assert_eq!(
            steps
                .iter()
                .map(|s| (s.index, s.status, s.risk))
                .collect::<Vec<_>>(),
            vec![(0, StepStatus::Pending, RO), (1, StepStatus::Pending, W)]
        );
    }
    let ids: Vec<JobId> = inserted.iter().map(|(g, _)| g.id.clone()).collect();

    let all = store.list_jobs(&JobFilter::default()).await.expect("list");
    let listed: Vec<JobId> = all.iter().map(|j| j.id.clone()).collect();
    assert_eq!(
        listed,
        ids.iter().rev().cloned().collect::<Vec<_>>(),
        "newest first"
    );

    let filter = JobFilter {
        statuses: vec![JobStatus::Planned, JobStatus::Queued],
        limit: None,
        ..Default::default()
    };
    let some = store.list_jobs(&filter).await.expect("list filtered");
    assert_eq!(
        some.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
        vec![ids[2].clone(), ids[1].clone()]
    );
    let filter = JobFilter {
        statuses: vec![JobStatus::Running],
        limit: None,
        ..Default::default()
    };
    assert!(store.list_jobs(&filter).await.expect("list").is_empty());
    let filter = JobFilter {
        statuses: vec![],
        limit: Some(1),
        ..Default::default()
    };
    let newest = store.list_jobs(&filter).await.expect("list limited");
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].id, ids[2]);
}

/// A second insert with a used idempotency key returns the first job and
/// `false`, and records nothing new.
pub async fn idempotent_insert_returns_existing(store: SharedStore) {
    let mut first = test_job(&[RO]);
    first.idempotency_key = Some("deploy-42".into());
    let first = insert(&store, first).await;
    let mut again = test_job(&[W, W]);
    again.idempotency_key = Some("deploy-42".into());
    let (existing, created) = store.insert_job(&again).await.expect("insert again");
    assert!(!created);
    assert_eq!(existing.id, first.id);
    assert_eq!(existing.plan, first.plan);
    assert_not_found(store.get_job(&again.id).await);
    assert_eq!(event_count(&store, &first.id).await, 1);
    assert_eq!(job_count(&store).await, 1);
}

/// Only created, planned or queued jobs can be inserted; a duplicate id is a conflict.
pub async fn insert_refuses_running_and_terminal(store: SharedStore) {
    for status in [
        JobStatus::Running,
        JobStatus::Succeeded,
        JobStatus::Cancelled,
    ] {
        let job = job_in(status, &[RO]);
        assert!(
            matches!(store.insert_job(&job).await, Err(Error::InvalidInput(_))),
            "inserting a {status} job must be refused"
        );
        assert_not_found(store.get_job(&job.id).await);
    }
    let job = insert(&store, test_job(&[RO])).await;
    let mut dup = test_job(&[RO]);
    dup.id = job.id.clone();
    assert!(matches!(
        store.insert_job(&dup).await,
        Err(Error::Conflict(_))
    ));
}

/// Put a fresh job into `status` through the public API only.
pub async fn job_with_status(store: &SharedStore, status: JobStatus) -> Job {
    let change = || StatusChange {
        error: Some("test".into()),
        actor: Some("tester".into()),
    };
    let id = match status {
        JobStatus::Created | JobStatus::Planned | JobStatus::Queued => {
            return insert(store, job_in(status, &[W])).await;
        }
        JobStatus::Running => return running(store, &[W], LONG).await.0,
        JobStatus::Succeeded | JobStatus::Failed | JobStatus::TimedOut => {
            let (job, lease) = running(store, &[W], LONG).await;
            let completion = match status {
                JobStatus::Succeeded => Completion::Succeeded,
                JobStatus::Failed => Completion::Failed("boom".into()),
                _ => Completion::TimedOut("too slow".into()),
            };
            store
                .complete(&job.id, &lease, completion)
                .await
                .expect("complete");
            job.id
        }
        JobStatus::Denied => {
            let job = insert(store, job_in(JobStatus::Planned, &[W])).await;
            store
                .set_status(&job.id, JobStatus::Denied, change())
                .await
                .expect("deny");
            job.id
        }
        JobStatus::Cancelled => {
            let job = insert(store, job_in(JobStatus::Created, &[W])).await;
            store
                .set_status(&job.id, JobStatus::Cancelled, change())
                .await
                .expect("cancel");
            job.id
        }
        JobStatus::NeedsReview => {
            let (job, lease) = running(store, &[W], Duration::ZERO).await;
            store.start_step(&job.id, &lease, 0).await.expect("start");
            let reaped = reap_now(store).await;
            assert!(reaped.iter().any(|r| r.job == job.id));
            job.id
        }
    };
    let job = store.get_job(&id).await.expect("get");
    assert_eq!(job.status, status, "could not build a {status} job");
    job
}

/// Try `job -> to` the way the API allows: claim for running, approve for
/// planned -> queued, set_status otherwise.
async fn attempt(store: &SharedStore, job: &Job, to: JobStatus) -> skynet_core::Result<Job> {
    match to {
        JobStatus::Running => match store.claim_job(&job.id, "w", LONG).await? {
            Some(job) => Ok(job),
            None => Err(Error::InvalidTransition {
                job: job.id.clone(),
                from: job.status,
                to,
            }),
        },
        JobStatus::Queued if matches!(job.status, JobStatus::Planned | JobStatus::Created) => {
            let approval = Approval {
                approver: "alice".into(),
                plan_hash: job.plan.as_ref().expect("plan").hash.clone(),
                at: Utc::now(),
            };
            store.approve(&job.id, approval).await
        }
        _ => {
            let change = StatusChange {
                error: Some(format!("to {to}")),
                actor: Some("tester".into()),
            };
            store.set_status(&job.id, to, change).await
        }
    }
}

/// Every (from, to) pair: the legal ones succeed (and record an event),
/// the rest are refused with InvalidTransition and change nothing.
pub async fn transition_table_is_enforced_for_every_pair(store: SharedStore) {
    let (mut legal, mut illegal) = (0, 0);
    for from in ALL_STATUSES {
        for to in ALL_STATUSES {
            let job = job_with_status(&store, from).await;
            let events = event_count(&store, &job.id).await;
            let result = attempt(&store, &job, to).await;
            if from.can_become(to) {
                legal += 1;
                let job = result.unwrap_or_else(|e| panic!("{from} -> {to} refused: {e}"));
                assert_eq!(job.status, to);
                assert_eq!(store.get_job(&job.id).await.expect("get").status, to);
                let all = store.events(&job.id).await.expect("events");
                assert_eq!(all.len(), events + 1, "{from} -> {to} appends one event");
                let last = all.last().expect("an event");
                assert_eq!(last.kind, "status");
                assert_eq!(last.data["from"], from.as_str());
                assert_eq!(last.data["to"], to.as_str());
                if to.is_terminal() {
                    assert!(job.finished_at.is_some(), "{to} sets finished_at");
                }
                if to != JobStatus::Running {
                    assert!(job.lease.is_none(), "{to} holds no lease");
                }
            } else {
                illegal += 1;
                assert_invalid(result, from, to);
                let after = store.get_job(&job.id).await.expect("get");
                assert_eq!(after.status, from, "{from} -> {to} changed the status");
                assert_eq!(after.lease, job.lease);
                assert_eq!(event_count(&store, &job.id).await, events);
            }
        }
    }
    assert_eq!(legal + illegal, 100);
    assert_eq!(legal, 15, "every legal pair of the table was exercised");
}

/// `set_status` never enters running (claims do) nor approves (planned -> queued).
pub async fn reserved_transitions_are_refused(store: SharedStore) {
    let queued = insert(&store, test_job(&[RO])).await;
    let r = store
        .set_status(&queued.id, JobStatus::Running, StatusChange::default())
        .await;
    assert_invalid(r, JobStatus::Queued, JobStatus::Running);
    let planned = insert(&store, job_in(JobStatus::Planned, &[W])).await;
    let r = store
        .set_status(&planned.id, JobStatus::Queued, StatusChange::default())
        .await;
    assert_invalid(r, JobStatus::Planned, JobStatus::Queued);
    assert_eq!(
        store.get_job(&planned.id).await.expect("get").status,
        JobStatus::Planned
    );
    // created -> queued needs an approval too.
    let created = insert(&store, job_in(JobStatus::Created, &[RO])).await;
    let r = store
        .set_status(&created.id, JobStatus::Queued, StatusChange::default())
        .await;
    assert_invalid(r, JobStatus::Created, JobStatus::Queued);
    // And nothing can be inserted as queued without an approval of its plan.
    let mut unapproved = job_in(JobStatus::Queued, &[W]);
    unapproved.approval = None;
    assert!(matches!(
        store.insert_job(&unapproved).await,
        Err(Error::InvalidInput(_))
    ));
    let mut wrong = job_in(JobStatus::Queued, &[W]);
    if let Some(a) = wrong.approval.as_mut() {
        a.plan_hash = "0".repeat(64);
    }
    assert!(matches!(
        store.insert_job(&wrong).await,
        Err(Error::InvalidInput(_))
    ));
}

/// Approving another plan's hash is StaleApproval and changes nothing; the
/// right hash queues the job once.
pub async fn stale_approval_changes_nothing(store: SharedStore) {
    let job = insert(&store, job_in(JobStatus::Planned, &[W])).await;
    let actual = job.plan.as_ref().expect("plan").hash.clone();
    let stale = Approval {
        approver: "mallory".into(),
        plan_hash: "0".repeat(64),
        at: Utc::now(),
    };
    match store.approve(&job.id, stale).await {
        Err(Error::StaleApproval {
            given, actual: a, ..
        }) => {
            assert_eq!(given, "0".repeat(64));
            assert_eq!(a, actual);
        }
        other => panic!("expected StaleApproval, got {other:?}"),
    }
    let after = store.get_job(&job.id).await.expect("get");
    assert_eq!(after.status, JobStatus::Planned);
    assert!(after.approval.is_none() && after.queued_at.is_none());
    assert_eq!(event_count(&store, &job.id).await, 1);

    let approval = Approval {
        approver: "alice".into(),
        plan_hash: actual.clone(),
        at: truncate_to_micros(Utc::now()),
    };
    let approved = store
        .approve(&job.id, approval.clone())
        .await
        .expect("approve");
    assert_eq!(approved.status, JobStatus::Queued);
    assert_eq!(approved.approval, Some(approval.clone()));
    assert!(approved.queued_at.is_some());
    let events = store.events(&job.id).await.expect("events");
    let last = events.last().expect("event");
    assert_eq!(last.data["approver"], "alice");
    assert_eq!(last.data["to"], "queued");

    let again = store.approve(&job.id, approval).await;
    assert_invalid(again, JobStatus::Queued, JobStatus::Queued);
}

/// A plan whose approval request expired cannot be approved (a clear
/// `ApprovalExpired`, nothing changes); one still within its time can, and
/// `expires_at` reads back as stored. Denying an expired request still works.
pub async fn expired_approval_request_is_refused(store: SharedStore) {
    let mut lapsed = job_in(JobStatus::Planned, &[W]);
    let expired_at = truncate_to_micros(Utc::now() - chrono::Duration::seconds(1));
    lapsed.expires_at = Some(expired_at);
    let lapsed = insert(&store, lapsed).await;
    assert_eq!(lapsed.expires_at, Some(expired_at));
    let hash = lapsed.plan.as_ref().expect("plan").hash.clone();
    let approval = |plan_hash: &str| Approval {
        approver: "alice".into(),
        plan_hash: plan_hash.to_string(),
        at: truncate_to_micros(Utc::now()),
    };
    match store.approve(&lapsed.id, approval(&hash)).await {
        Err(e @ Error::ApprovalExpired { .. }) => {
            assert!(e.to_string().contains("expired"), "{e}");
            assert_eq!(e.kind(), skynet_core::ErrorKind::Conflict);
        }
        other => panic!("expected ApprovalExpired, got {other:?}"),
    }
    let after = store.get_job(&lapsed.id).await.expect("get");
    assert_eq!(after.status, JobStatus::Planned);
    assert!(after.approval.is_none());
    assert_eq!(event_count(&store, &lapsed.id).await, 1);

    let mut fresh = job_in(JobStatus::Planned, &[W]);
    fresh.expires_at = Some(truncate_to_micros(Utc::now() + chrono::Duration::hours(1)));
    let fresh = insert(&store, fresh).await;
    let hash = fresh.plan.as_ref().expect("plan").hash.clone();
    let approved = store
        .approve(&fresh.id, approval(&hash))
        .await
        .expect("approve");
    assert_eq!(approved.status, JobStatus::Queued);
}
