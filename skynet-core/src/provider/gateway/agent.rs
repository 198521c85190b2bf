//! The executing side of the gateway protocol: a table of jobs run with
//! the sandboxed [`LocalProvider`] inside one root directory. Transport
//! free, so any server (skynet-http's `agent` module) can expose it.
//!
//! The agent judges for itself: every step's argv is checked by the
//! agent's own [`Policy`] against its own root before anything starts. A
//! forbidden step, or one the agent judges riskier than the caller's label
//! (what the caller's human approved), refuses the whole job; otherwise the
//! step runs at the agent's own judgement of its risk, which decides its
//! sandbox (network, writable root). A caller can only narrow what the
//! agent allows, never widen it. At most [`AgentLimits::max_concurrent`]
//! jobs run at once (what health advertises); the rest wait their turn.

mod outputs;

use super::protocol::{
    AgentHealth, ExecuteRequest, MAX_WAIT_MS, PROTOCOL_VERSION, RemoteLine, RemoteStatus,
    StatusAnswer, valid_job_id,
};
use crate::job::JobId;
use crate::plan::Command;
use crate::policy::{Policy, PolicyContext, Verdict};
use crate::provider::{ExecContext, ExitKind, LocalProvider, OutputLine, Provider};
use crate::risk::RiskLevel;
use crate::{Error, Result};
use std::collections::{HashMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Limits of an [`AgentJobs`] table.
#[derive(Debug, Clone)]
pub struct AgentLimits {
    /// Log lines kept per job; older ones are dropped first.
    pub max_log_lines: usize,
    /// Output cap per step when the request gives none.
    pub max_output_bytes: u64,
    /// How long a finished job stays readable.
    pub retention: Duration,
    /// Jobs kept at most (finished ones are evicted oldest first).
    pub max_jobs: usize,
    /// Jobs running at once; later ones wait (default: the local
    /// provider's advertised concurrency).
    pub max_concurrent: Option<usize>,
}

impl Default for AgentLimits {
    fn default() -> Self {
        AgentLimits {
            max_log_lines: 10_000,
            max_output_bytes: 1024 * 1024,
            retention: Duration::from_secs(600),
            max_jobs: 1024,
            max_concurrent: None,
        }
    }
}

/// Jobs an execution agent runs, by the caller's job id.
#[derive(Debug, Clone)]
pub struct AgentJobs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    local: LocalProvider,
    limits: AgentLimits,
    /// The agent's own rules, with its root as the write scope.
    policy: Policy,
    /// One permit per job allowed to run at once.
    running: Arc<Semaphore>,
    jobs: Mutex<HashMap<String, Arc<JobState>>>,
}

#[derive(Debug)]
struct JobState {
    /// What was asked, to recognize a repeated request.
    request: ExecuteRequest,
    cancel: CancellationToken,
    started: Instant,
    /// Bumped on every change, so long-polls wake.
    changed: watch::Sender<u64>,
    state: Mutex<JobRecord>,
}

#[derive(Debug)]
struct JobRecord {
    status: RemoteStatus,
    step: usize,
    lines: VecDeque<RemoteLine>,
    /// Offset of `lines[0]`.
    base: u64,
    exit: Option<ExitKind>,
    exit_code: Option<i32>,
    output_bytes: u64,
    truncated: bool,
    error: Option<String>,
    finished: Option<Instant>,
    duration_ms: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked holder leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AgentJobs {
    /// A table whose steps run with `local` inside `root` (which must
    /// exist), judged by the default policy rules.
    pub fn new(root: &Path, local: LocalProvider, limits: AgentLimits) -> Result<AgentJobs> {
        Self::with_policy(root, local, limits, Policy::default())
    }

    /// [`AgentJobs::new`] judging steps with `policy` (the agent's own
    /// rules file and read scope).
    pub fn with_policy(
        root: &Path,
        local: LocalProvider,
        limits: AgentLimits,
        policy: Policy,
    ) -> Result<AgentJobs> {
        let root = root.canonicalize().map_err(|e| {
            Error::InvalidInput(format!(
                "agent root {} is not usable: {e}; give an existing directory with --root",
                root.display()
            ))
        })?;
        if !root.is_dir() {
            return Err(Error::InvalidInput(format!(
                "agent root {} is not a directory",
                root.display()
            )));
        }
        let permits = limits
            .max_concurrent
            .unwrap_or_else(|| local.capabilities().max_concurrency)
            .max(1);
        Ok(AgentJobs {
            inner: Arc::new(Inner {
                root,
                local,
                limits,
                policy,
                running: Arc::new(Semaphore::new(permits)),
                jobs: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The canonical root steps run in.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Check `req` and start it. Bad input (no steps, an empty argv, a
    /// cwd outside the root, a malformed id) is `InvalidInput` and starts
    /// nothing. The same request again (a retry) answers the job's state
    /// and starts nothing; a different request under a held id is
    /// `Conflict`.
    pub fn submit(&self, req: ExecuteRequest) -> Result<StatusAnswer> {
        if !valid_job_id(&req.job_id) {
            return Err(Error::InvalidInput(format!(
                "job id {:?} is not usable: give 1 to {} characters from A-Z a-z 0-9 . _ : -",
                req.job_id,
                super::protocol::MAX_JOB_ID_LEN
            )));
        }
        if req.steps.is_empty() {
            return Err(Error::InvalidInput("the job has no steps".into()));
        }
        let mut commands = Vec::with_capacity(req.steps.len());
        for (i, step) in req.steps.iter().enumerate() {
            if step.argv.first().is_none_or(String::is_empty) {
                return Err(Error::InvalidInput(format!(
                    "step {i} has no program: argv is empty"
                )));
            }
            let cwd = self.resolve_cwd(&step.cwd)?;
            let risk = self.judge(i, step, &cwd)?;
            commands.push((
                Command {
                    argv: step.argv.clone(),
                    cwd,
                    env: step.env.clone(),
                    timeout_ms: step.timeout_ms,
                    stdin: step.stdin.clone(),
                    pipe: Vec::new(),
                },
                risk,
            ));
        }
        let job = Arc::new(JobState {
            request: req.clone(),
            cancel: CancellationToken::new(),
            started: Instant::now(),
            changed: watch::channel(0).0,
            state: Mutex::new(JobRecord {
                status: RemoteStatus::Running,
                step: 0,
                lines: VecDeque::new(),
                base: 0,
                exit: None,
                exit_code: None,
                output_bytes: 0,
                truncated: false,
                error: None,
                finished: None,
                duration_ms: 0,
            }),
        });
        {
            let mut jobs = lock(&self.inner.jobs);
            self.evict(&mut jobs);
            if let Some(old) = jobs.get(&req.job_id) {
                // A client that lost the answer to its request sends it
                // again: same request, same job, nothing started twice.
                if old.request == req {
                    return Ok(snapshot(&req.job_id, old, u64::MAX));
                }
                return Err(Error::Conflict(format!(
                    "this agent already holds a different job {}; use a new job id",
                    req.job_id
                )));
            }
            if jobs.len() >= self.inner.limits.max_jobs {
                return Err(Error::Conflict(format!(
                    "this agent already holds {} running jobs; retry when some finish",
                    jobs.len()
                )));
            }
            jobs.insert(req.job_id.clone(), job.clone());
        }
        let answer = snapshot(&req.job_id, &job, 0);
        let cap = req
            .max_output_bytes
            .unwrap_or(self.inner.limits.max_output_bytes);
        tokio::spawn(run_job(self.inner.clone(), job, commands, cap));
        Ok(answer)
    }

    /// The job's state and its log lines past `offset`; waits up to
    /// `wait` (capped) for new lines or the end when there is no news.
    /// `None` for an unknown job.
    pub async fn status(&self, job_id: &str, offset: u64, wait: Duration) -> Option<StatusAnswer> {
        let job = lock(&self.inner.jobs).get(job_id).cloned()?;
        // Subscribe before looking, so a change in between still wakes us.
        let mut changed = job.changed.subscribe();
        let answer = snapshot(job_id, &job, offset);
        if answer.status.is_terminal() || !answer.logs.is_empty() || wait.is_zero() {
            return Some(answer);
        }
        let wait = wait.min(Duration::from_millis(MAX_WAIT_MS));
        let _ = tokio::time::timeout(wait, changed.changed()).await;
        Some(snapshot(job_id, &job, offset))
    }

    /// Cancel the job (its running step's process group is killed).
    /// `None` for an unknown job.
    pub fn cancel(&self, job_id: &str) -> Option<StatusAnswer> {
        let job = lock(&self.inner.jobs).get(job_id).cloned()?;
        job.cancel.cancel();
        Some(snapshot(job_id, &job, u64::MAX))
    }

    /// The agent's health, with the local provider's confinement.
    pub async fn health(&self) -> AgentHealth {
        let local = self.inner.local.health().await;
        let running = lock(&self.inner.jobs)
            .values()
            .filter(|j| lock(&j.state).finished.is_none())
            .count();
        let mut capabilities = self.inner.local.capabilities();
        capabilities.isolated = true;
        AgentHealth {
            status: if local.healthy { "ok" } else { "unhealthy" }.into(),
            connected: true,
            capabilities,
            version: env!("CARGO_PKG_VERSION").into(),
            protocol: PROTOCOL_VERSION.into(),
            sandbox: local.message,
            running,
            features: vec![super::protocol::FEATURE_OUTPUTS.into()],
        }
    }

    /// The agent's own judgement of step `i` run in `cwd`: refused when
    /// its policy forbids it or judges it riskier than the caller's label
    /// (the risk the caller's human approved); else the agent's risk,
    /// which may be lower than the label and decides the sandbox.
    fn judge(&self, i: usize, step: &super::protocol::RemoteStep, cwd: &Path) -> Result<RiskLevel> {
        let ctx = PolicyContext {
            roots: vec![self.inner.root.clone()],
            read_paths: self.inner.policy.read_paths().to_vec(),
            cwd: cwd.to_path_buf(),
        };
        let mut decision = self.inner.policy.check(&step.argv, &ctx);
        // Changed environment variables can change what a program does.
        if !step.env.is_empty() {
            decision.risk = decision.risk.max(RiskLevel::Write);
        }
        if decision.verdict == Verdict::Forbid {
            decision
                .reasons
                .insert(0, format!("step {i} on this agent"));
            return Err(Error::Forbidden {
                decision: Box::new(decision),
            });
        }
        if decision.risk > step.risk {
            return Err(Error::NotPermitted(format!(
                "step {i} ({}) is {} by this agent's policy, more than the {} it was approved \
                 as; nothing ran: {}",
                step.argv.join(" "),
                decision.risk,
                step.risk,
                decision.reasons.join("; ")
            )));
        }
        Ok(decision.risk)
    }

    /// `cwd` (relative, lexical) inside the root, resolved; refused when
    /// absolute, when it uses `..`, or when a symlink leads out.
    fn resolve_cwd(&self, cwd: &str) -> Result<PathBuf> {
        let rel = Path::new(cwd);
        if rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(Error::InvalidInput(format!(
                "working directory {cwd:?} is not inside the agent's root: give a path relative \
                 to the root, without `..`"
            )));
        }
        let joined = self.inner.root.join(rel);
        let real = joined.canonicalize().map_err(|e| {
            Error::InvalidInput(format!(
                "working directory {cwd:?} is not usable on the agent: {e}"
            ))
        })?;
        if !real.starts_with(&self.inner.root) {
            return Err(Error::InvalidInput(format!(
                "working directory {cwd:?} leads outside the agent's root (through a symlink)"
            )));
        }
        Ok(real)
    }

    /// Drop finished jobs past their retention, then the oldest finished
    /// ones while the table is full.
    fn evict(&self, jobs: &mut HashMap<String, Arc<JobState>>) {
        let retention = self.inner.limits.retention;
        jobs.retain(|_, j| {
            lock(&j.state)
                .finished
                .is_none_or(|at| at.elapsed() < retention)
        });
        while jobs.len() >= self.inner.limits.max_jobs {
            let oldest = jobs
                .iter()
                .filter_map(|(id, j)| lock(&j.state).finished.map(|at| (at, id.clone())))
                .min();
            match oldest {
                Some((_, id)) => {
                    jobs.remove(&id);
                }
                None => break,
            }
        }
    }
}

/// The job's answer with log lines from `offset` on.
fn snapshot(job_id: &str, job: &JobState, offset: u64) -> StatusAnswer {
    let r = lock(&job.state);
    let end = r.base + r.lines.len() as u64;
    let from = offset.clamp(r.base, end);
    let skip = usize::try_from(from - r.base).unwrap_or(usize::MAX);
    StatusAnswer {
        job_id: job_id.to_string(),
        status: r.status,
        step: r.step,
        logs: r.lines.iter().skip(skip).cloned().collect(),
        next_offset: end,
        exit: r.exit,
        exit_code: r.exit_code,
        output_bytes: r.output_bytes,
        truncated: r.truncated,
        duration_ms: if r.finished.is_some() {
            r.duration_ms
        } else {
            u64::try_from(job.started.elapsed().as_millis()).unwrap_or(u64::MAX)
        },
        error: r.error.clone(),
    }
}

fn bump(job: &JobState) {
    job.changed.send_modify(|n| *n = n.wrapping_add(1));
}

/// Run the steps in order; the first that does not succeed ends the job.
async fn run_job(
    inner: Arc<Inner>,
    job: Arc<JobState>,
    commands: Vec<(Command, RiskLevel)>,
    cap: u64,
) {
    // Wait for a turn (never closed, so this only fails if the table is
    // gone); a job cancelled while waiting ends without running.
    let _turn = tokio::select! {
        turn = inner.running.clone().acquire_owned() => turn.ok(),
        () = job.cancel.cancelled() => None,
    };
    if job.cancel.is_cancelled() {
        let mut r = lock(&job.state);
        r.status = RemoteStatus::Cancelled;
        r.finished = Some(Instant::now());
        drop(r);
        bump(&job);
        return;
    }
    let job_id = JobId::new();
    let mut status = RemoteStatus::Succeeded;
    for (i, (command, risk)) in commands.into_iter().enumerate() {
        lock(&job.state).step = i;
        let (tx, rx) = mpsc::channel::<OutputLine>(256);
        let collector = tokio::spawn(collect(job.clone(), rx, inner.limits.max_log_lines));
        let ctx = ExecContext {
            job_id: job_id.clone(),
            step: i,
            root: inner.root.clone(),
            timeout: None,
            cancel: job.cancel.clone(),
            output: tx,
            max_output_bytes: cap,
            risk,
            action: None,
        };
        let result = inner.local.execute(&command, ctx).await;
        // The sender is gone with ctx: the collector ends after the last line.
        let _ = collector.await;
        let mut r = lock(&job.state);
        match result {
            Ok(out) => {
                r.exit = Some(out.exit);
                r.exit_code = out.exit_code;
                r.output_bytes += out.output_bytes;
                r.truncated |= out.truncated;
                status = match out.exit {
                    _ if out.success() => RemoteStatus::Succeeded,
                    ExitKind::TimedOut => RemoteStatus::TimedOut,
                    ExitKind::Cancelled => RemoteStatus::Cancelled,
                    ExitKind::Exited | ExitKind::Signaled => RemoteStatus::Failed,
                };
            }
            Err(e) => {
                r.error = Some(e.to_string());
                status = RemoteStatus::Failed;
            }
        }
        if status != RemoteStatus::Succeeded {
            break;
        }
    }
    {
        let mut r = lock(&job.state);
        r.status = status;
        r.finished = Some(Instant::now());
        r.duration_ms = u64::try_from(job.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    }
    bump(&job);
}

/// Move output lines into the job's bounded buffer, waking long-polls.
async fn collect(job: Arc<JobState>, mut rx: mpsc::Receiver<OutputLine>, max_lines: usize) {
    while let Some(first) = rx.recv().await {
        {
            let mut r = lock(&job.state);
            let mut push = |line: OutputLine| {
                if r.lines.len() >= max_lines.max(1) {
                    r.lines.pop_front();
                    r.base += 1;
                }
                r.lines.push_back(RemoteLine {
                    stream: line.stream,
                    text: line.text,
                });
            };
            push(first);
            // Take what is already queued under the same lock.
            while let Ok(line) = rx.try_recv() {
                push(line);
            }
        }
        bump(&job);
    }
}
