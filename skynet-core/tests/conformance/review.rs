//! Reviews of jobs a lost worker left in `needs_review`, and the link a
//! retry keeps to its original.

use super::*;
use skynet_core::store::{Review, StepStatus};
use skynet_core::{Principal, ReviewResolution};

const RO: RiskLevel = RiskLevel::ReadOnly;
const W: RiskLevel = RiskLevel::Write;

/// A job whose worker died while its second (WRITE) step ran, after its
/// first (READ_ONLY) step succeeded: reaped into `needs_review`.
async fn in_review(store: &SharedStore) -> Job {
    let (job, lease) = running(store, &[RO, W, RO], Duration::ZERO).await;
    run_step(store, &job.id, &lease, 0).await;
    store.start_step(&job.id, &lease, 1).await.expect("start");
    let reaped = reap_now(store).await;
    assert_eq!(reaped.len(), 1);
    let job = store.get_job(&job.id).await.expect("get");
    assert_eq!(job.status, JobStatus::NeedsReview);
    job
}

fn review(resolution: ReviewResolution, plan_hash: Option<String>) -> Review {
    Review {
        resolution,
        reviewer: "http:ops/0a1b2c".into(),
        principal: "team:ops".parse::<Principal>().expect("principal"),
        reason: Some("checked the host by hand".into()),
        plan_hash,
    }
}

fn hash_of(job: &Job) -> String {
    job.plan.as_ref().expect("plan").hash.clone()
}

/// A requeue is an approval: without a hash, or with one that is not the
/// job's plan, it is refused and nothing changes; with the plan's hash the
/// job is queued under that approval (recorded, with who and why in the
/// event), resumes at the interrupted step and runs to success.
pub async fn review_requeue_needs_a_fresh_approval_of_the_plan(store: SharedStore) {
    let job = in_review(&store).await;
    let events = event_count(&store, &job.id).await;

    let missing = store
        .resolve_review(&job.id, &review(ReviewResolution::Requeue, None))
        .await;
    match missing {
        Err(Error::InvalidInput(m)) => assert!(m.contains("plan hash"), "{m}"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
    let stale = store
        .resolve_review(
            &job.id,
            &review(ReviewResolution::Requeue, Some("0".repeat(64))),
        )
        .await;
    assert!(
        matches!(stale, Err(Error::StaleApproval { ref given, .. }) if *given == "0".repeat(64)),
        "{stale:?}"
    );
    let after = store.get_job(&job.id).await.expect("get");
    assert_eq!(after.status, JobStatus::NeedsReview, "nothing changed");
    assert_eq!(after.approval, job.approval);
    assert_eq!(event_count(&store, &job.id).await, events);
    assert!(store.claim("w", LONG, 10).await.expect("claim").is_empty());

    let queued = store
        .resolve_review(
            &job.id,
            &review(ReviewResolution::Requeue, Some(hash_of(&job))),
        )
        .await
        .expect("requeue");
    assert_eq!(queued.status, JobStatus::Queued);
    assert!(queued.finished_at.is_none(), "it has not finished");
    let approval = queued.approval.clone().expect("approval");
    assert_eq!(approval.approver, "http:ops/0a1b2c");
    assert_eq!(approval.plan_hash, hash_of(&job));
    let last = store.events(&job.id).await.expect("events");
    let last = &last.last().expect("event").data;
    assert_eq!(last["from"], "needs_review");
    assert_eq!(last["to"], "queued");
    assert_eq!(last["review"], "requeue");
    assert_eq!(last["actor"], "http:ops/0a1b2c");
    assert_eq!(last["principal"], "team:ops");
    assert_eq!(last["reason"], "checked the host by hand");
    assert_eq!(last["plan_hash"], hash_of(&job));
    assert_eq!(
        step_statuses(&store, &job.id).await,
        [
            StepStatus::Succeeded,
            StepStatus::Pending,
            StepStatus::Pending
        ],
        "the interrupted step and the rest run again"
    );

    let (_, lease) = claimed(&store, &job.id, LONG).await;
    run_step(&store, &job.id, &lease, 1).await;
    run_step(&store, &job.id, &lease, 2).await;
    let done = store
        .complete(&job.id, &lease, skynet_core::store::Completion::Succeeded)
        .await
        .expect("complete");
    assert_eq!(done.status, JobStatus::Succeeded);
    assert!(store.verify_events(&job.id).await.expect("verify").intact);
}

/// Failing a job on review ends it failed with who and why in its error
/// and event; marking one succeeded ends it succeeded with the interrupted
/// step succeeded. A hash given with either must be the plan's.
pub async fn review_fail_and_mark_succeeded_record_who_and_why(store: SharedStore) {
    let failing = in_review(&store).await;
    let failed = store
        .resolve_review(&failing.id, &review(ReviewResolution::Fail, None))
        .await
        .expect("fail");
    assert_eq!(failed.status, JobStatus::Failed);
    assert!(failed.finished_at.is_some());
    let error = failed.error_message().expect("error");
    assert!(
        error.contains("lost its lease")
            && error.contains("marked failed on review by http:ops/0a1b2c")
            && error.contains("checked the host by hand"),
        "{error}"
    );
    let events = store.events(&failing.id).await.expect("events");
    let last = &events.last().expect("event").data;
    assert_eq!(
        (&last["to"], &last["review"]),
        (&"failed".into(), &"fail".into())
    );
    assert_eq!(last["actor"], "http:ops/0a1b2c");
    assert_eq!(last["reason"], "checked the host by hand");
    assert_eq!(
        step_statuses(&store, &failing.id).await,
        [
            StepStatus::Succeeded,
            StepStatus::Failed,
            StepStatus::Skipped
        ]
    );

    let marking = in_review(&store).await;
    let events = event_count(&store, &marking.id).await;
    let stale = store
        .resolve_review(
            &marking.id,
            &review(ReviewResolution::MarkSucceeded, Some("f".repeat(64))),
        )
        .await;
    assert!(
        matches!(stale, Err(Error::StaleApproval { .. })),
        "{stale:?}"
    );
    assert_eq!(
        event_count(&store, &marking.id).await,
        events,
        "nothing changed"
    );
    let mut unexplained = review(ReviewResolution::MarkSucceeded, Some(hash_of(&marking)));
    unexplained.reason = None;
    let marked = store
        .resolve_review(&marking.id, &unexplained)
        .await
        .expect("mark succeeded");
    assert_eq!(marked.status, JobStatus::Succeeded);
    assert!(marked.error.is_none() && marked.finished_at.is_some());
    let events = store.events(&marking.id).await.expect("events");
    let last = &events.last().expect("event").data;
    assert_eq!(last["review"], "mark_succeeded");
    assert_eq!(last["reason"], serde_json::Value::Null);
    assert_eq!(
        step_statuses(&store, &marking.id).await,
        [
            StepStatus::Succeeded,
            StepStatus::Succeeded,
            StepStatus::Skipped
        ]
    );
    assert!(
        store
            .verify_events(&marking.id)
            .await
            .expect("verify")
            .intact
    );
    assert!(store.claim("w", LONG, 10).await.expect("claim").is_empty());
}

/// Only a job in `needs_review` can be reviewed: any other is refused
/// with `NotUnderReview` naming its status, and nothing changes. A
/// resolved job cannot be reviewed twice, and a plain status change never
/// leaves `needs_review`.
pub async fn review_refuses_a_job_not_in_review(store: SharedStore) {
    let planned = insert(&store, job_in(JobStatus::Planned, &[W])).await;
    let queued = insert(&store, test_job(&[RO])).await;
    for job in [&planned, &queued] {
        let before = event_count(&store, &job.id).await;
        let hash = Some(hash_of(job));
        let refused = store
            .resolve_review(&job.id, &review(ReviewResolution::Requeue, hash))
            .await;
        match refused {
            Err(e @ Error::NotUnderReview { .. }) => {
                assert_eq!(e.kind(), skynet_core::ErrorKind::Conflict);
                let text = e.to_string();
                assert!(
                    text.contains(job.status.as_str()) && text.contains("not needs_review"),
                    "{text}"
                );
            }
            other => panic!("expected NotUnderReview, got {other:?}"),
        }
        let after = store.get_job(&job.id).await.expect("get");
        assert_eq!(after.status, job.status);
        assert_eq!(event_count(&store, &job.id).await, before);
    }

    let reviewed = in_review(&store).await;
    store
        .resolve_review(&reviewed.id, &review(ReviewResolution::Fail, None))
        .await
        .expect("fail");
    let twice = store
        .resolve_review(&reviewed.id, &review(ReviewResolution::MarkSucceeded, None))
        .await;
    assert!(
        matches!(
            twice,
            Err(Error::NotUnderReview {
                status: JobStatus::Failed,
                ..
            })
        ),
        "{twice:?}"
    );

    let waiting = in_review(&store).await;
    for to in [JobStatus::Queued, JobStatus::Failed, JobStatus::Succeeded] {
        let change = skynet_core::store::StatusChange::default();
        assert_invalid(
            store.set_status(&waiting.id, to, change).await,
            JobStatus::NeedsReview,
            to,
        );
    }
    let unknown = store
        .resolve_review(&JobId::new(), &review(ReviewResolution::Fail, None))
        .await;
    assert_not_found(unknown);
}

/// A retry names the job it submits again: `retry_of` reads back, and the
/// new job's first (hash-chained) event carries it; other jobs' first
/// events have no such field.
pub async fn retry_of_round_trips_with_its_first_event(store: SharedStore) {
    let original = insert(&store, test_job(&[RO])).await;
    assert!(original.retry_of.is_none());
    let retry = insert(
        &store,
        Job {
            retry_of: Some(original.id.clone()),
            ..test_job(&[RO])
        },
    )
    .await;
    assert_eq!(retry.retry_of.as_ref(), Some(&original.id));
    let got = store.get_job(&retry.id).await.expect("get");
    assert_eq!(got.retry_of.as_ref(), Some(&original.id));
    let first = store.events(&retry.id).await.expect("events");
    assert_eq!(first[0].kind, "submitted");
    assert_eq!(first[0].data["retry_of"], original.id.as_str());
    let plain = store.events(&original.id).await.expect("events");
    assert!(plain[0].data.get("retry_of").is_none(), "{}", plain[0].data);
    assert!(store.verify_events(&retry.id).await.expect("verify").intact);
}
