//! Collecting a step's declared artifacts on the real local provider
//! (without a sandbox, and under bubblewrap with `SKYNET_TEST_BWRAP=1` and
//! Landlock with `SKYNET_TEST_LANDLOCK=1`), assuming the root is hostile:
//! symlinks out of it, a FIFO, a sparse file far over the cap, patterns
//! that try to leave it. Only regular files inside the root are kept;
//! everything else is skipped with a reason in the step's log.
#![allow(clippy::unwrap_used)]

mod artifact_support;
mod provider_support;

use artifact_support::{
    assert_chain_records_the_kept, assert_nothing_from_outside, assert_skips_said, drain,
    hostile_root, kept_report, run_job, system_log,
};
use provider_support::sandboxes;
use skynet_core::action::Action;
use skynet_core::artifact::LocalArtifactStore;
use skynet_core::planner::ScriptedPlanner;
use skynet_core::provider::LocalProvider;
use skynet_core::store::LogQuery;
use skynet_core::{Error, JobStatus, Skynet, SubmitRequest};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn providers(test: &str) -> Vec<(&'static str, LocalProvider)> {
    let mut all = vec![("no sandbox", LocalProvider::new())];
    all.extend(sandboxes(test));
    all
}

/// The engine of these tests on `local`.
async fn engine(dir: &Path, local: LocalProvider, store: Arc<LocalArtifactStore>) -> Skynet {
    artifact_support::engine(
        dir,
        Arc::new(local),
        store,
        "<testsuite/>\n",
        Duration::from_secs(5),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_outputs_are_skipped_and_nothing_outside_the_root_is_read() {
    for (mode, local) in
        providers("hostile_outputs_are_skipped_and_nothing_outside_the_root_is_read")
    {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let root = root.path().canonicalize().unwrap();
        hostile_root(&root);
        let store = Arc::new(LocalArtifactStore::new(dir.path().join("artifacts")));
        let sk = engine(dir.path(), local, store.clone()).await;
        let job = run_job(&sk, &root, Duration::from_secs(60)).await;
        assert_eq!(job.status, JobStatus::Succeeded, "{mode}: {:?}", job.error);

        let kept = sk.artifacts(&job.id).await.unwrap();
        let names: Vec<&str> = kept.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["reports/a.xml", "reports/b.xml"], "{mode}");
        let b = &kept[1];
        assert_eq!(b.size, 13);
        assert_eq!(b.content_type, "application/xml");
        let text = kept_report(&sk, &job).await;
        assert_eq!(text, "<testsuite/>\n", "{mode}: the step's own output");

        assert_nothing_from_outside(mode, &store).await;
        // Each skip says why, in the step's log.
        let log = system_log(&sk, &job).await;
        assert_skips_said(mode, &log, "artifact kept: reports/b.xml (13 bytes");
        // The deeper file is not matched by `*` (it does not cross `/`).
        assert!(!names.contains(&"reports/deep/c.xml"));
        assert_chain_records_the_kept(mode, &sk, &job).await;
    }
}

/// Patterns that leave the root, are absolute or carry a NUL byte are
/// refused when the plan is made: nothing is stored.
#[tokio::test]
async fn patterns_that_leave_the_root_are_refused_at_planning() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalArtifactStore::new(dir.path().join("artifacts")));
    let sk = engine(dir.path(), LocalProvider::new(), store).await;
    for bad in ["../secret", "/etc/passwd", "a\0b", "reports/../../x"] {
        let mut req = SubmitRequest::new("write the report").root(root.path());
        req.artifacts = vec![bad.to_string()];
        let e = sk.submit(req).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{bad:?}: {e}");
        assert!(e.to_string().contains("artifact pattern"), "{e}");
    }
    let jobs = sk.list(&Default::default()).await.unwrap();
    assert!(jobs.is_empty(), "nothing was stored");
}

/// Without an artifact store the step still runs, and its log says the
/// outputs were not kept.
#[tokio::test]
async fn without_a_store_the_log_says_artifacts_are_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let sk = Skynet::builder()
        .database_url(format!(
            "sqlite://{}",
            dir.path().join("skynet.db").display()
        ))
        .planner(Arc::new(ScriptedPlanner::new(vec![Action::WriteFile {
            path: "a.txt".into(),
            content: "x\n".into(),
        }])))
        .build()
        .await
        .unwrap();
    let mut req = SubmitRequest::new("write").root(root.path());
    req.artifacts = vec!["a.txt".into()];
    let job = sk.submit(req).await.unwrap();
    let hash = job.plan.as_ref().unwrap().hash.clone();
    sk.approve(&job.id, &hash, "tester").await.unwrap();
    let job = drain(&sk, &job.id, Duration::from_secs(60)).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert!(sk.artifacts(&job.id).await.unwrap().is_empty());
    let log = sk.logs(&job.id, &LogQuery::default()).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.text == "artifacts not kept: no artifact store is configured")
    );
}
