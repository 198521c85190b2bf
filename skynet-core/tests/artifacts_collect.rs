//! Collecting a step's declared artifacts on the real local provider
//! (without a sandbox, and under bubblewrap with `SKYNET_TEST_BWRAP=1` and
//! Landlock with `SKYNET_TEST_LANDLOCK=1`), assuming the root is hostile:
//! symlinks out of it, a FIFO, a sparse file far over the cap, patterns
//! that try to leave it. Only regular files inside the root are kept;
//! everything else is skipped with a reason in the step's log.
#![allow(clippy::unwrap_used)]

mod provider_support;

use provider_support::sandboxes;
use sha2::{Digest, Sha256};
use skynet_core::action::Action;
use skynet_core::artifact::{ArtifactLimits, ArtifactStore, LocalArtifactStore};
use skynet_core::planner::ScriptedPlanner;
use skynet_core::provider::{LocalProvider, Stream};
use skynet_core::store::LogQuery;
use skynet_core::{EngineConfig, Error, JobStatus, Skynet, SubmitRequest, WorkerOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

fn providers(test: &str) -> Vec<(&'static str, LocalProvider)> {
    let mut all = vec![("no sandbox", LocalProvider::new())];
    all.extend(sandboxes(test));
    all
}

async fn engine(dir: &Path, local: LocalProvider, store: Arc<LocalArtifactStore>) -> Skynet {
    Skynet::builder()
        .database_url(format!("sqlite://{}", dir.join("skynet.db").display()))
        .planner(Arc::new(ScriptedPlanner::new(vec![Action::WriteFile {
            path: "reports/b.xml".into(),
            content: "<testsuite/>\n".into(),
        }])))
        .provider(Arc::new(local))
        .artifact_store(store)
        .config(EngineConfig {
            lease: Duration::from_secs(5),
            heartbeat: Duration::from_millis(100),
            poll_interval: Duration::from_millis(20),
            artifacts: ArtifactLimits {
                max_file_bytes: 1 << 20,
                ..ArtifactLimits::default()
            },
            ..EngineConfig::default()
        })
        .build()
        .await
        .unwrap()
}

async fn drain(sk: &Skynet, id: &skynet_core::JobId) -> skynet_core::Job {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let opts = WorkerOptions {
            once: true,
            ..Default::default()
        };
        sk.worker(opts, CancellationToken::new()).await.unwrap();
        let job = sk.get(id).await.unwrap();
        if job.status.is_terminal() {
            return job;
        }
        assert!(Instant::now() < deadline, "job stuck in {}", job.status);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a hostile step could leave in its root.
fn hostile_root(root: &Path) {
    std::fs::create_dir_all(root.join("reports/deep")).unwrap();
    std::fs::write(root.join("reports/a.xml"), "<a/>\n").unwrap();
    std::fs::write(root.join("reports/deep/c.xml"), "<c/>\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("reports/passwd.xml")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
    nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    // 10 GB, sparse: over the 1 MiB cap without using the disk.
    let big = std::fs::File::create(root.join("big.bin")).unwrap();
    big.set_len(10_000_000_000).unwrap();
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
        let mut req = SubmitRequest::new("write the report").root(&root);
        req.artifacts = [
            "reports/*.xml",
            "link",
            "fifo",
            "big.bin",
            "out/hostname",
            "out/*",
            "missing.txt",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let job = sk.submit(req).await.unwrap();
        let hash = job.plan.as_ref().unwrap().hash.clone();
        assert_eq!(job.plan.as_ref().unwrap().steps[0].artifacts.len(), 7);
        if job.status == JobStatus::Planned {
            sk.approve(&job.id, &hash, "tester").await.unwrap();
        }
        let job = drain(&sk, &job.id).await;
        assert_eq!(job.status, JobStatus::Succeeded, "{mode}: {:?}", job.error);

        let kept = sk.artifacts(&job.id).await.unwrap();
        let names: Vec<&str> = kept.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["reports/a.xml", "reports/b.xml"], "{mode}");
        let b = &kept[1];
        assert_eq!(b.size, 13);
        assert_eq!(b.content_type, "application/xml");
        let (_, mut reader) = sk
            .open_artifact(&job.id, "reports/b.xml", None)
            .await
            .unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "<testsuite/>\n", "{mode}: the step's own output");

        // Nothing from outside the root reached the store.
        let passwd = std::fs::read("/etc/passwd").unwrap();
        let passwd_sha = hex::encode(Sha256::digest(&passwd));
        let objects = store.objects().await.unwrap();
        assert_eq!(objects.len(), 2, "{mode}: {objects:?}");
        assert!(objects.iter().all(|o| o.sha256 != passwd_sha), "{mode}");

        // Each skip says why, in the step's log.
        let log: Vec<String> = sk
            .logs(&job.id, &LogQuery::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|l| l.stream == Stream::System)
            .map(|l| l.text)
            .collect();
        let said = |needle: &str| {
            assert!(
                log.iter().any(|l| l.contains(needle)),
                "{mode}: no line with {needle:?} in {log:#?}"
            )
        };
        said("artifact skipped: link: is a symbolic link");
        said("artifact skipped: reports/passwd.xml: is a symbolic link");
        said("artifact skipped: fifo: is a FIFO");
        said("artifact skipped: big.bin: is 10000000000 bytes, over the cap");
        said("artifact skipped: out/hostname: out is a symbolic link: not followed");
        said("artifact skipped: out/*: out is a symbolic link: not followed");
        said("artifact skipped: missing.txt: does not exist");
        said("artifact kept: reports/b.xml (13 bytes");
        // The deeper file is not matched by `*` (it does not cross `/`).
        assert!(!names.contains(&"reports/deep/c.xml"));
        // The chain records each kept artifact and still verifies.
        let events = sk.events(&job.id).await.unwrap();
        let recorded: Vec<&str> = events
            .iter()
            .filter(|e| e.kind == "artifact")
            .map(|e| e.data["name"].as_str().unwrap())
            .collect();
        assert_eq!(recorded, ["reports/a.xml", "reports/b.xml"], "{mode}");
        assert!(sk.verify_events(&job.id).await.unwrap().intact);
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
    let job = drain(&sk, &job.id).await;
    assert_eq!(job.status, JobStatus::Succeeded);
    assert!(sk.artifacts(&job.id).await.unwrap().is_empty());
    let log = sk.logs(&job.id, &LogQuery::default()).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.text == "artifacts not kept: no artifact store is configured")
    );
}
