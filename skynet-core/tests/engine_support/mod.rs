//! Helpers shared by the engine test suites: a ledger in a temporary
//! SQLite file, and draining the queue with `--once` workers.
#![allow(dead_code)]

use skynet_core::{EngineConfig, Job, JobId, Skynet, SubmitRequest, WorkerOptions};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A temporary directory holding the ledger; it is also the jobs' root.
pub struct Env {
    /// The directory.
    pub dir: tempfile::TempDir,
}

impl Env {
    /// A fresh directory.
    pub fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    /// The ledger's URL.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("skynet.db").display())
    }
    /// A request for `intent` rooted in the directory.
    pub fn req(&self, intent: &str) -> SubmitRequest {
        SubmitRequest::new(intent).root(self.dir.path())
    }
}

/// Short leases, heartbeats, polls and retry delays, so runs and retries
/// happen within a test's patience.
pub fn fast() -> EngineConfig {
    EngineConfig {
        lease: Duration::from_secs(5),
        heartbeat: Duration::from_millis(100),
        poll_interval: Duration::from_millis(20),
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        ..EngineConfig::default()
    }
}

/// One `--once` worker: it runs what is due now, then stops.
pub async fn work_once(sk: &Skynet) {
    let opts = WorkerOptions {
        once: true,
        ..Default::default()
    };
    sk.worker(opts, CancellationToken::new())
        .await
        .expect("worker");
}

/// Run `--once` workers until the job is terminal (retries may be
/// scheduled slightly in the future); fails after 30 s.
pub async fn drain_until_done(sk: &Skynet, id: &JobId) -> Job {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        work_once(sk).await;
        let job = sk.get(id).await.expect("job");
        if job.status.is_terminal() {
            return job;
        }
        assert!(Instant::now() < deadline, "job stuck in {}", job.status);
        // Poll: a retry's run_at lies a few milliseconds ahead.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
