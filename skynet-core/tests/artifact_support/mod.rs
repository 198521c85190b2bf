//! Helpers shared by the artifact collection suites (`artifacts_collect`
//! on the local provider, `artifacts_remote` on Docker and SSH): the same
//! hostile root, the same engine and job, the same checks of what was kept
//! and what the step's log says was skipped.
#![allow(dead_code)]

use sha2::{Digest, Sha256};
use skynet_core::action::Action;
use skynet_core::artifact::{ArtifactLimits, ArtifactStore, LocalArtifactStore};
use skynet_core::planner::ScriptedPlanner;
use skynet_core::provider::{Provider, Stream};
use skynet_core::store::LogQuery;
use skynet_core::{EngineConfig, Job, JobId, JobStatus, Skynet, SubmitRequest, WorkerOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// The artifact patterns every job declares: one that keeps two files, the
/// rest naming what [`hostile_root`] plants.
pub const PATTERNS: [&str; 7] = [
    "reports/*.xml",
    "link",
    "fifo",
    "big.bin",
    "out/hostname",
    "out/*",
    "missing.txt",
];

/// An engine in `dir` whose one step writes `report` to `reports/b.xml` on
/// `provider` (the default), keeping artifacts of up to 1 MiB in `store`.
pub async fn engine(
    dir: &Path,
    provider: Arc<dyn Provider>,
    store: Arc<LocalArtifactStore>,
    report: &str,
    lease: Duration,
) -> Skynet {
    Skynet::builder()
        .database_url(format!("sqlite://{}", dir.join("skynet.db").display()))
        .planner(Arc::new(ScriptedPlanner::new(vec![Action::WriteFile {
            path: "reports/b.xml".into(),
            content: report.into(),
        }])))
        .default_provider(provider.name().to_string())
        .provider(provider)
        .artifact_store(store)
        .config(EngineConfig {
            lease,
            heartbeat: lease / 50,
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

/// What a hostile step could leave in its root.
pub fn hostile_root(root: &Path) {
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

/// Submit the job declaring [`PATTERNS`] in `root`, approve it if it waits,
/// and run worker rounds until it ends (within `within`).
pub async fn run_job(sk: &Skynet, root: &Path, within: Duration) -> Job {
    let mut req = SubmitRequest::new("write the report").root(root);
    req.artifacts = PATTERNS.iter().map(|s| s.to_string()).collect();
    let job = sk.submit(req).await.unwrap();
    assert_eq!(job.plan.as_ref().unwrap().steps[0].artifacts.len(), 7);
    if job.status == JobStatus::Planned {
        let hash = job.plan.as_ref().unwrap().hash.clone();
        sk.approve(&job.id, &hash, "tester").await.unwrap();
    }
    drain(sk, &job.id, within).await
}

/// Run `--once` worker rounds until job `id` ends (within `within`).
pub async fn drain(sk: &Skynet, id: &JobId, within: Duration) -> Job {
    let deadline = Instant::now() + within;
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

/// The text of the job's kept `reports/b.xml`, read back from the store.
pub async fn kept_report(sk: &Skynet, job: &Job) -> String {
    let (_, mut reader) = sk
        .open_artifact(&job.id, "reports/b.xml", None)
        .await
        .unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).await.unwrap();
    text
}

/// Hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The job's system log lines (where collection says what it skipped).
pub async fn system_log(sk: &Skynet, job: &Job) -> Vec<String> {
    sk.logs(&job.id, &LogQuery::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.stream == Stream::System)
        .map(|l| l.text)
        .collect()
}

/// Nothing from outside the root reached the store: just the two kept
/// files, neither of them `/etc/passwd`.
pub async fn assert_nothing_from_outside(mode: &str, store: &LocalArtifactStore) {
    let passwd_sha = sha256(&std::fs::read("/etc/passwd").unwrap());
    let objects = store.objects().await.unwrap();
    assert_eq!(objects.len(), 2, "{mode}: {objects:?}");
    assert!(objects.iter().all(|o| o.sha256 != passwd_sha), "{mode}");
}

/// Each hostile output's skip says why in `log`, and `kept` (the line
/// of `reports/b.xml`, or its start) is there too.
pub fn assert_skips_said(mode: &str, log: &[String], kept: &str) {
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
    said(kept);
}

/// The job's chain records each kept artifact and still verifies.
pub async fn assert_chain_records_the_kept(mode: &str, sk: &Skynet, job: &Job) {
    let events = sk.events(&job.id).await.unwrap();
    let recorded: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "artifact")
        .map(|e| e.data["name"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, ["reports/a.xml", "reports/b.xml"], "{mode}");
    assert!(sk.verify_events(&job.id).await.unwrap().intact);
}
