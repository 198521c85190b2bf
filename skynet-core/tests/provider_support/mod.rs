//! Helpers shared by the provider test suites: build a command and a
//! context, run a step while collecting its output, read a service's test
//! variable or skip.
#![allow(dead_code)]

use skynet_core::provider::local::SandboxMode;
use skynet_core::provider::{ExecContext, LocalProvider, Output, OutputLine, Provider, Stream};
use skynet_core::{Command, JobId, RiskLevel};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[path = "../service/mod.rs"]
mod service;
pub use service::service_var;

/// The real sandboxes this machine has, each as a local provider that
/// requires it: bubblewrap (`SKYNET_TEST_BWRAP`) and Landlock
/// (`SKYNET_TEST_LANDLOCK`). A missing one is skipped (and said so).
pub fn sandboxes(test: &str) -> Vec<(&'static str, LocalProvider)> {
    let mut all = Vec::new();
    if service_var(test, "SKYNET_TEST_BWRAP").is_some() {
        all.push((
            "bubblewrap",
            LocalProvider::new().with_sandbox(SandboxMode::Require),
        ));
    }
    if service_var(test, "SKYNET_TEST_LANDLOCK").is_some() {
        all.push((
            "landlock",
            LocalProvider::new().with_sandbox(SandboxMode::Landlock),
        ));
    }
    all
}

/// `argv` run in `cwd`.
pub fn command(argv: &[&str], cwd: &Path) -> Command {
    Command::piped(vec![argv.iter().map(|s| s.to_string()).collect()], cwd)
}

/// A step's result and every line it sent.
#[derive(Debug)]
pub struct Run {
    /// How it ended.
    pub out: Output,
    /// Its lines, in order.
    pub lines: Vec<OutputLine>,
}

impl Run {
    /// The texts of `stream`'s lines.
    pub fn texts(&self, stream: Stream) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text.as_str())
            .collect()
    }

    /// Everything, one line per output line, for assertion messages.
    pub fn all(&self) -> String {
        self.lines
            .iter()
            .map(|l| format!("{}: {}", l.stream.as_str(), l.text))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// How to run a step in a test.
pub struct Step {
    /// The sandbox root.
    pub root: std::path::PathBuf,
    /// Judged risk.
    pub risk: RiskLevel,
    /// Time budget.
    pub timeout: Option<Duration>,
    /// Output cap.
    pub cap: u64,
    /// Cancelled to stop the step.
    pub cancel: CancellationToken,
    /// Job id (steps of one job share it).
    pub job: JobId,
    /// The catalog action the step resolved from (its sandbox profile).
    pub action: Option<skynet_core::Action>,
}

impl Step {
    /// A READ_ONLY step in `root` with a 60 s budget and a 1 MiB cap.
    pub fn new(root: &Path) -> Step {
        Step {
            root: root.to_path_buf(),
            risk: RiskLevel::ReadOnly,
            timeout: Some(Duration::from_secs(60)),
            cap: 1 << 20,
            cancel: CancellationToken::new(),
            job: JobId::new(),
            action: None,
        }
    }

    /// `argv` run in the root on `provider`, which must not fail (the
    /// step itself may).
    pub async fn run(&self, provider: &dyn Provider, argv: &[&str]) -> Run {
        self.run_on(provider, &command(argv, &self.root), None)
            .await
            .expect("runs")
    }

    /// Run `cmd` on `provider`, collecting output concurrently (the channel
    /// is bounded, as in the engine). With `watch`, every line is also sent
    /// there as it arrives.
    pub async fn run_on(
        &self,
        provider: &dyn Provider,
        cmd: &Command,
        watch: Option<mpsc::UnboundedSender<OutputLine>>,
    ) -> skynet_core::Result<Run> {
        let (tx, mut rx) = mpsc::channel(256);
        let ctx = ExecContext {
            job_id: self.job.clone(),
            step: 0,
            root: self.root.clone(),
            timeout: self.timeout,
            cancel: self.cancel.clone(),
            output: tx,
            max_output_bytes: self.cap,
            risk: self.risk,
            action: self.action.clone(),
        };
        let collect = tokio::spawn(async move {
            let mut lines = Vec::new();
            while let Some(l) = rx.recv().await {
                if let Some(w) = &watch {
                    let _ = w.send(l.clone());
                }
                lines.push(l);
            }
            lines
        });
        let out = provider.execute(cmd, ctx).await;
        let lines = collect.await.expect("collector task");
        out.map(|out| Run { out, lines })
    }
}

/// Drain the queue with one `--once` worker round, assert `job` succeeded
/// and return its stored log lines.
pub async fn run_to_success(
    sk: &skynet_core::Skynet,
    job: &JobId,
) -> Vec<skynet_core::store::LogLine> {
    let opts = skynet_core::WorkerOptions {
        once: true,
        ..Default::default()
    };
    sk.worker(opts, CancellationToken::new())
        .await
        .expect("worker");
    let done = sk.get(job).await.expect("job");
    assert_eq!(
        done.status,
        skynet_core::JobStatus::Succeeded,
        "{:?}",
        done.error
    );
    sk.logs(job, &skynet_core::store::LogQuery::default())
        .await
        .expect("logs")
}

/// A host process the step must leave alone: `sleep` with a secret in its
/// environment.
pub struct HostProcess {
    /// The process.
    pub child: std::process::Child,
    /// The value of its `SKYNET_ESCAPE_SECRET`.
    pub secret: String,
}

impl HostProcess {
    /// Start it.
    pub fn start() -> HostProcess {
        let secret = format!("skynet-secret-value-{}", uuid::Uuid::now_v7());
        let child = std::process::Command::new("sleep")
            .arg("300")
            .env("SKYNET_ESCAPE_SECRET", &secret)
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("sleep");
        HostProcess { child, secret }
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Still running (not reaped)?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Field 19 of /proc/PID/stat.
    pub fn nice(&self) -> String {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        let rest = stat.rsplit_once(") ").expect("stat format").1;
        rest.split_whitespace().nth(16).expect("nice").to_string()
    }

    /// What `ionice -p` says of it.
    pub fn io_priority(&self) -> String {
        let out = std::process::Command::new("ionice")
            .args(["-p", &self.pid().to_string()])
            .output()
            .expect("ionice");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pids of live (not zombie) `sleep ARG` processes on this machine.
pub fn sleeping_with(arg: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().parse::<i32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            (alive(pid) && cmdline == format!("sleep\0{arg}\0").as_bytes()).then_some(pid)
        })
        .collect()
}

/// Whether `pid` is a live process (not a zombie, not dead).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
    })
}

/// Poll `pending` every 50 ms until it answers `None` (settled); after
/// `within` it fails with the last thing it said was still pending.
pub async fn settles(within: Duration, mut pending: impl FnMut() -> Option<String>) {
    let deadline = tokio::time::Instant::now() + within;
    while let Some(left) = pending() {
        assert!(tokio::time::Instant::now() < deadline, "{left}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Containers (running or not) labelled `skynet.test=TAG` on the test
/// dockerd: a Docker test counts its own to prove none was left behind.
#[cfg(feature = "docker")]
pub async fn containers_with(tag: &str) -> usize {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    let docker = bollard::Docker::connect_with_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("daemon answers");
    let filters = std::collections::HashMap::from([("label", vec![format!("skynet.test={tag}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .expect("list containers")
        .len()
}
