//! Review and retry through the engine, on a SQLite file and on a fresh
//! PostgreSQL database (`SKYNET_TEST_POSTGRES_URL`; each PostgreSQL test
//! says it skipped without it): a lost worker's job resolved by a human
//! (requeued under a fresh approval and run to success by a real worker on
//! the local provider, failed, marked succeeded), and finished jobs
//! submitted again, judged again by the policy in force.
#![allow(clippy::unwrap_used)]

mod engine_support;
#[macro_use]
mod backends;
mod service;

use backends::Db;

use engine_support::drain_until_done;
use skynet_core::action::Action;
use skynet_core::planner::ScriptedPlanner;
use skynet_core::provider::mock::MockProvider;
use skynet_core::store::keys::{Grant, Scope};
use skynet_core::store::{JobFilter, StepStatus};
use skynet_core::{
    EngineConfig, Error, ErrorKind, Job, JobId, JobSource, JobStatus, Policy, Principal,
    RetryRequest, ReviewRequest, ReviewResolution, Skynet, SubmitRequest,
};
use std::sync::Arc;
use std::time::Duration;

on_every_backend!(
    requeue_with_the_plan_hash_runs_the_job_to_success_on_a_local_worker,
    fail_and_mark_succeeded_are_audited_with_who_and_why,
    review_of_a_job_not_in_review_says_so,
    retry_of_a_write_job_waits_for_approval_then_runs,
    retry_of_a_read_only_job_is_queued_at_once,
    retry_is_judged_again_by_the_policy_in_force,
    retry_of_an_unfinished_job_is_a_conflict,
);

/// A ledger and the sandbox root its jobs run in.
impl Db {
    /// An engine on this ledger planning `actions` for any intent, with the
    /// local provider (the default) and the mock provider, under `policy`
    /// (default: the built-in rules).
    async fn engine(&self, actions: Vec<Action>, policy: Option<Policy>) -> Skynet {
        let mut builder = Skynet::builder()
            .database_url(&self.url)
            .planner(Arc::new(ScriptedPlanner::new(actions)))
            .provider(Arc::new(MockProvider::new()))
            .config(EngineConfig {
                heartbeat: Duration::from_millis(100),
                poll_interval: Duration::from_millis(20),
                ..EngineConfig::default()
            });
        if let Some(policy) = policy {
            builder = builder.policy(policy);
        }
        builder.build().await.unwrap()
    }

    fn req(&self, intent: &str) -> SubmitRequest {
        SubmitRequest::new(intent).root(self.dir.path())
    }
}

fn touch(name: &str) -> Action {
    Action::ExecuteCommand {
        argv: vec!["touch".into(), name.into()],
    }
}

fn list() -> Action {
    Action::ListDirectory { path: ".".into() }
}

fn hash(job: &Job) -> String {
    job.plan.as_ref().unwrap().hash.clone()
}

fn retry_req() -> RetryRequest {
    RetryRequest {
        source: JobSource::Cli,
        actor: "cli:tester".into(),
        ..RetryRequest::default()
    }
}

/// Submit and approve a WRITE job, then lose its worker while its first
/// step runs: a claim whose lease lapses at once, the step's start
/// recorded, and the reaper finds it. The job is left in `needs_review`.
async fn lost_mid_write(sk: &Skynet, db: &Db, intent: &str) -> Job {
    let job = sk.submit(db.req(intent)).await.unwrap();
    assert_eq!(job.status, JobStatus::Planned);
    sk.approve(&job.id, &hash(&job), "alice").await.unwrap();
    let store = sk.store();
    let claimed = store
        .claim_job(&job.id, "lost-worker", Duration::ZERO)
        .await
        .unwrap()
        .expect("claimable");
    let lease = claimed.lease.unwrap().id;
    store.start_step(&job.id, &lease, 0).await.unwrap();
    let reaped = store
        .reap_expired(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(reaped.len(), 1);
    let job = sk.get(&job.id).await.unwrap();
    assert_eq!(job.status, JobStatus::NeedsReview);
    job
}

async fn last_status_event(sk: &Skynet, id: &JobId) -> serde_json::Value {
    let events = sk.events(id).await.unwrap();
    let last = events.iter().rev().find(|e| e.kind == "status").unwrap();
    last.data.clone()
}

/// A requeue needs the plan's hash: a wrong one is refused and changes
/// nothing; the right one (a 12-digit prefix, as shown) queues the job
/// under the reviewer's approval, and a real worker runs it on the local
/// provider to success, the interrupted step included.
async fn requeue_with_the_plan_hash_runs_the_job_to_success_on_a_local_worker(db: Db) {
    let sk = db.engine(vec![touch("made-on-requeue")], None).await;
    let job = lost_mid_write(&sk, &db, "touch a file").await;
    let events = sk.events(&job.id).await.unwrap().len();

    let mut req = ReviewRequest::new(ReviewResolution::Requeue);
    let e = sk.resolve_review(&job.id, &req, "bob").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("plan hash"), "{e}");
    req.plan_hash = Some("0".repeat(64));
    let e = sk.resolve_review(&job.id, &req, "bob").await.unwrap_err();
    assert!(matches!(e, Error::StaleApproval { .. }), "{e}");
    let unchanged = sk.get(&job.id).await.unwrap();
    assert_eq!(unchanged.status, JobStatus::NeedsReview);
    assert_eq!(sk.events(&job.id).await.unwrap().len(), events);

    req.plan_hash = Some(hash(&job)[..12].to_string());
    req.reason = Some("the host is fine; run it again".into());
    let queued = sk.resolve_review(&job.id, &req, "bob").await.unwrap();
    assert_eq!(queued.status, JobStatus::Queued);
    let approval = queued.approval.clone().unwrap();
    assert_eq!(
        (approval.approver.as_str(), approval.plan_hash),
        ("bob", hash(&job))
    );
    let event = last_status_event(&sk, &job.id).await;
    assert_eq!(event["review"], "requeue");
    assert_eq!(event["actor"], "bob");
    assert_eq!(event["principal"], "local");
    assert_eq!(event["reason"], "the host is fine; run it again");

    let done = drain_until_done(&sk, &job.id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{:?}", done.error);
    assert!(db.dir.path().join("made-on-requeue").exists());
    let steps = sk.steps(&job.id).await.unwrap();
    assert_eq!(steps[0].status, StepStatus::Succeeded);
    assert!(sk.verify_events(&job.id).await.unwrap().intact);
}

/// Failing and marking succeeded end the job with who and why in its
/// status event (the caller's audit label and principal through
/// `acting_as`). Requeueing is an approval: with separation of duties on,
/// the job's own principal may not, but it may fail its own job.
async fn fail_and_mark_succeeded_are_audited_with_who_and_why(db: Db) {
    let sk = db.engine(vec![touch("x")], None).await;
    let grant = |principal: &str| Grant {
        principal: principal.parse::<Principal>().unwrap(),
        scopes: vec![Scope::Approve, Scope::ReadAll],
        actor: format!("http:{principal}/0a1b"),
    };

    let own = lost_mid_write(&sk, &db, "touch x").await;
    let as_owner = sk.acting_as(grant("local"));
    let mut requeue = ReviewRequest::new(ReviewResolution::Requeue);
    requeue.plan_hash = Some(hash(&own));
    let e = as_owner
        .resolve_review(&own.id, &requeue)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotPermitted, "{e}");
    assert_eq!(
        sk.get(&own.id).await.unwrap().status,
        JobStatus::NeedsReview
    );
    let fail = ReviewRequest {
        reason: Some("the disk filled up mid-way".into()),
        ..ReviewRequest::new(ReviewResolution::Fail)
    };
    let failed = as_owner.resolve_review(&own.id, &fail).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    let message = failed.error_message().unwrap();
    assert!(
        message.contains("marked failed on review by http:local/0a1b: the disk filled up"),
        "{message}"
    );
    let event = last_status_event(&sk, &own.id).await;
    assert_eq!(event["review"], "fail");
    assert_eq!(event["actor"], "http:local/0a1b");
    assert_eq!(event["principal"], "local");
    assert_eq!(event["reason"], "the disk filled up mid-way");

    let other = lost_mid_write(&sk, &db, "touch x").await;
    let mark = ReviewRequest {
        reason: Some("the file is there; checked by hand".into()),
        ..ReviewRequest::new(ReviewResolution::MarkSucceeded)
    };
    let marked = sk
        .acting_as(grant("ops"))
        .resolve_review(&other.id, &mark)
        .await
        .unwrap();
    assert_eq!(marked.status, JobStatus::Succeeded);
    assert!(marked.error.is_none());
    let event = last_status_event(&sk, &other.id).await;
    assert_eq!(event["review"], "mark_succeeded");
    assert_eq!(event["actor"], "http:ops/0a1b");
    assert_eq!(event["principal"], "ops");
    assert_eq!(event["reason"], "the file is there; checked by hand");
    assert_eq!(
        sk.steps(&other.id).await.unwrap()[0].status,
        StepStatus::Succeeded
    );
}

/// Reviewing a job that is not waiting for a review is a conflict that
/// says what the job is, and changes nothing.
async fn review_of_a_job_not_in_review_says_so(db: Db) {
    let sk = db.engine(vec![touch("x")], None).await;
    let planned = sk.submit(db.req("touch x")).await.unwrap();
    let events = sk.events(&planned.id).await.unwrap().len();
    let e = sk
        .resolve_review(
            &planned.id,
            &ReviewRequest::new(ReviewResolution::Fail),
            "bob",
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        matches!(
            e,
            Error::NotUnderReview {
                status: JobStatus::Planned,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(&format!("job {} is planned, not needs_review", planned.id)),
        "{e}"
    );
    assert_eq!(
        sk.get(&planned.id).await.unwrap().status,
        JobStatus::Planned
    );
    assert_eq!(sk.events(&planned.id).await.unwrap().len(), events);
}

/// A WRITE job that succeeded, retried: a new job with the same steps
/// that waits for an approval of its own, names its original (field and
/// first event; the original notes the retry), and runs once approved.
async fn retry_of_a_write_job_waits_for_approval_then_runs(db: Db) {
    let sk = db.engine(vec![touch("again")], None).await;
    let first = sk.submit(db.req("touch again")).await.unwrap();
    sk.approve(&first.id, &hash(&first), "alice").await.unwrap();
    assert_eq!(
        drain_until_done(&sk, &first.id).await.status,
        JobStatus::Succeeded
    );
    std::fs::remove_file(db.dir.path().join("again")).unwrap();

    let retry = sk.retry(&first.id, &retry_req()).await.unwrap();
    assert_ne!(retry.id, first.id);
    assert_eq!(
        retry.status,
        JobStatus::Planned,
        "a WRITE retry waits for a human"
    );
    assert!(retry.approval.is_none());
    assert_eq!(retry.retry_of.as_ref(), Some(&first.id));
    assert_eq!(retry.intent, first.intent);
    assert_eq!(retry.source, JobSource::Cli);
    let (old, new) = (first.plan.as_ref().unwrap(), retry.plan.as_ref().unwrap());
    assert_eq!(
        old.steps
            .iter()
            .map(|s| &s.command.argv)
            .collect::<Vec<_>>(),
        new.steps
            .iter()
            .map(|s| &s.command.argv)
            .collect::<Vec<_>>()
    );
    let submitted = &sk.events(&retry.id).await.unwrap()[0];
    assert_eq!(submitted.data["retry_of"], first.id.as_str());
    let noted = sk.events(&first.id).await.unwrap();
    let noted = noted.iter().find(|e| e.kind == "retried").unwrap();
    assert_eq!(noted.data["retry"], retry.id.as_str());
    assert_eq!(noted.data["actor"], "cli:tester");

    sk.approve(&retry.id, &hash(&retry), "alice").await.unwrap();
    assert_eq!(
        drain_until_done(&sk, &retry.id).await.status,
        JobStatus::Succeeded
    );
    assert!(db.dir.path().join("again").exists());
}

/// A READ_ONLY job retried is queued at once, auto-approved as on submit.
async fn retry_of_a_read_only_job_is_queued_at_once(db: Db) {
    let sk = db.engine(vec![list()], None).await;
    let first = sk
        .submit(SubmitRequest {
            provider: Some("mock".into()),
            ..db.req("list the files")
        })
        .await
        .unwrap();
    assert_eq!(first.status, JobStatus::Queued);
    assert_eq!(
        drain_until_done(&sk, &first.id).await.status,
        JobStatus::Succeeded
    );
    let retry = sk.retry(&first.id, &retry_req()).await.unwrap();
    assert_eq!(retry.status, JobStatus::Queued);
    assert_eq!(retry.approval.as_ref().unwrap().approver, "auto");
    assert_eq!(retry.provider, "mock");
    assert_eq!(
        drain_until_done(&sk, &retry.id).await.status,
        JobStatus::Succeeded
    );
}

/// The old judgement is not trusted: under a policy that now forbids the
/// command, the retry is refused and nothing is stored; under one that now
/// calls a once READ_ONLY command WRITE, the retry waits for a human.
async fn retry_is_judged_again_by_the_policy_in_force(db: Db) {
    let sk = db.engine(vec![touch("x")], None).await;
    let first = sk.submit(db.req("touch x")).await.unwrap();
    sk.approve(&first.id, &hash(&first), "alice").await.unwrap();
    assert_eq!(
        drain_until_done(&sk, &first.id).await.status,
        JobStatus::Succeeded
    );
    // A READ_ONLY original, from an engine planning `ls`.
    let lister = db.engine(vec![list()], None).await;
    let listed = lister
        .submit(SubmitRequest {
            provider: Some("mock".into()),
            ..db.req("list")
        })
        .await
        .unwrap();
    assert_eq!(listed.status, JobStatus::Queued);
    assert_eq!(
        drain_until_done(&lister, &listed.id).await.status,
        JobStatus::Succeeded
    );

    let stricter = format!(
        "{}\n{}",
        Policy::default_rules_toml(),
        r#"
[[rule]]
name = "no-touching-now"
pattern = ["touch"]
forbid = true
reason = "touching files is forbidden here now"
match = [["touch", "x"]]

[[rule]]
name = "listing-is-watched-now"
pattern = ["ls"]
risk = "WRITE"
reason = "listing needs a human now"
match = [["ls", "-la"]]
"#
    );
    let now = db
        .engine(vec![list()], Some(Policy::from_toml(&stricter).unwrap()))
        .await;
    let jobs = now.list(&JobFilter::default()).await.unwrap().len();
    let e = now.retry(&first.id, &retry_req()).await.unwrap_err();
    assert!(matches!(e, Error::Forbidden { .. }), "{e}");
    assert!(
        e.to_string().contains("no-touching-now") || e.to_string().contains("forbidden here now"),
        "{e}"
    );
    assert_eq!(
        now.list(&JobFilter::default()).await.unwrap().len(),
        jobs,
        "nothing stored"
    );

    let retry = now.retry(&listed.id, &retry_req()).await.unwrap();
    assert_eq!(
        retry.status,
        JobStatus::Planned,
        "READ_ONLY then, WRITE now"
    );
    assert_eq!(retry.risk, skynet_core::RiskLevel::Write);
    let decision = retry.plan.as_ref().unwrap().steps[0]
        .decision
        .clone()
        .unwrap();
    assert_eq!(decision.rule.as_deref(), Some("listing-is-watched-now"));
}

/// Only a finished job can be submitted again: a planned one, or one
/// waiting for a review, is a conflict that says so; nothing is stored.
async fn retry_of_an_unfinished_job_is_a_conflict(db: Db) {
    let sk = db.engine(vec![touch("x")], None).await;
    let planned = sk.submit(db.req("touch x")).await.unwrap();
    let e = sk.retry(&planned.id, &retry_req()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(
        matches!(
            e,
            Error::NotFinished {
                status: JobStatus::Planned,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("is planned and has not finished"),
        "{e}"
    );

    let reviewing = lost_mid_write(&sk, &db, "touch x").await;
    let e = sk.retry(&reviewing.id, &retry_req()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("waits for a review"), "{e}");
    assert_eq!(sk.list(&JobFilter::default()).await.unwrap().len(), 2);
}
