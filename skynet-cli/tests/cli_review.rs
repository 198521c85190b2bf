//! `skynet review` and `skynet retry` through the real binary, on the real
//! SQLite ledger of a temporary home. The lost worker is simulated on the
//! ledger itself: a claim whose lease lapses at once, its WRITE step's
//! start recorded, then the reaper.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use predicates::prelude::*;
use skynet_core::{JobId, JobStatus};
use std::time::Duration;

/// Leave job `id` (approved, queued) as a lost worker would: running its
/// first step when its lease lapsed, reaped into `needs_review`.
fn lose_its_worker(sb: &Sandbox, id: &str) {
    let url = format!("sqlite://{}", sb.home.path().join("skynet.db").display());
    let id = JobId::parse(id).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = skynet_core::store::connect(&url).await.unwrap();
        let job = store
            .claim_job(&id, "lost-worker", Duration::ZERO)
            .await
            .unwrap()
            .expect("claimable");
        let lease = job.lease.unwrap().id;
        store.start_step(&id, &lease, 0).await.unwrap();
        store
            .reap_expired(chrono::Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(
            store.get_job(&id).await.unwrap().status,
            JobStatus::NeedsReview
        );
    });
}

#[test]
fn review_requeues_with_the_plan_hash_and_retry_submits_again() {
    let sb = Sandbox::new();
    let out = sb.path("out.txt");
    let job = sb.json(&["submit", "write 'hello' to out.txt"]);
    assert_eq!(job["status"], "planned");
    let id = job["id"].as_str().unwrap().to_string();
    let hash = job["plan"]["hash"].as_str().unwrap().to_string();
    sb.cmd()
        .args(["approve", &id, "--plan-hash", &hash, "--detach"])
        .assert()
        .code(0);
    lose_its_worker(&sb, &id);
    sb.cmd()
        .args(["show", &id])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "skynet review {id} --requeue --plan-hash {}",
            &hash[..12]
        )));

    // Exactly one resolution.
    sb.cmd()
        .args(["review", &id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--requeue"));
    sb.cmd()
        .args(["review", &id, "--fail", "--mark-succeeded"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
    // A requeue is an approval: no hash (and no terminal to ask on), or a
    // wrong one, is refused and changes nothing.
    sb.cmd()
        .args(["review", &id, "--requeue"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("plan hash"));
    sb.cmd()
        .args([
            "review",
            &id,
            "--requeue",
            "--plan-hash",
            "deadbeefdeadbeef",
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("stale approval"));
    assert_eq!(sb.job(&id)["status"], "needs_review");

    sb.cmd()
        .args(["review", &id, "--requeue", "--plan-hash", &hash[..12]])
        .args(["--reason", "the disk was checked"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!("Job {id} is queued.")));
    let events = sb.json(&["events", &id]);
    let text = events.to_string();
    assert!(
        text.contains("\"review\":\"requeue\"") && text.contains("the disk was checked"),
        "{text}"
    );
    sb.cmd().args(["worker", "--once"]).assert().code(0);
    assert_eq!(sb.job(&id)["status"], "succeeded");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello");

    // Not waiting for a review any more.
    sb.cmd()
        .args(["review", &id, "--fail"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is succeeded, not needs_review"));

    // A retry of the finished WRITE job waits for its own approval.
    sb.cmd()
        .args(["retry", &id])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "retries job {id}; it is planned"
        )))
        .stdout(predicate::str::contains("skynet approve"));
    let retry = sb
        .jobs()
        .into_iter()
        .find(|j| j["retry_of"] == id.as_str())
        .expect("the retry names its original");
    let retry_id = retry["id"].as_str().unwrap();
    assert_eq!(retry["status"], "planned");
    sb.cmd()
        .args(["show", retry_id])
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!("retry of: {id}")));
    sb.cmd()
        .args(["retry", retry_id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is planned and has not finished"));
}

#[test]
fn review_fails_or_marks_succeeded_with_who_and_why() {
    let sb = Sandbox::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let job = sb.json(&["submit", "write 'hello' to out.txt"]);
        let id = job["id"].as_str().unwrap().to_string();
        let hash = job["plan"]["hash"].as_str().unwrap();
        sb.cmd()
            .args(["approve", &id, "--plan-hash", hash, "--detach"])
            .assert()
            .code(0);
        lose_its_worker(&sb, &id);
        ids.push(id);
    }
    let failed = sb.json(&["review", &ids[0], "--fail", "--reason", "half written"]);
    assert_eq!(failed["status"], "failed");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("marked failed on review by cli:") && error.contains("half written"),
        "{error}"
    );
    let marked = sb.json(&["review", &ids[1], "--mark-succeeded"]);
    assert_eq!(marked["status"], "succeeded");
    assert_eq!(marked["plan"]["steps"][0]["state"]["status"], "succeeded");
    let events = sb.json(&["events", &ids[1]]).to_string();
    assert!(events.contains("\"review\":\"mark_succeeded\""), "{events}");
    assert!(events.contains("\"actor\":\"cli:"), "{events}");
}
