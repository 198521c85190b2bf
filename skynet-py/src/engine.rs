//! The engine behind both Python classes, and the operations they share
//! as `'static` futures (run by `blocking::block_on` or handed to asyncio).

use crate::errors::Failure;
use crate::options::OpenOptions;
use crate::types::{Event, Job, LogLine, Plan};
use pyo3::prelude::*;
use skynet_core::config::Settings;
use skynet_core::engine::worker::default_worker_id;
use skynet_core::store::{JobFilter, LogQuery};
use skynet_core::{
    Error, Gate, JobId, JobSource, JobStatus, Policy, RetryRequest, ReviewRequest,
    ReviewResolution, RunHere, Skynet as Core, SubmitRequest, WorkerOptions,
};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Who approvals and denials from Python are recorded as, by default.
pub(crate) const DEFAULT_ACTOR: &str = "python";

/// An open engine and its in-process worker (stopped on drop).
pub(crate) struct Engine {
    pub(crate) core: Core,
    shutdown: CancellationToken,
    /// The settings' notices (original names, left-out providers), for
    /// the constructor to raise as Python warnings.
    pub(crate) notices: Vec<String>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Engine {
    /// A token cancelled when the engine closes (a subscription's stop).
    pub(crate) fn child_token(&self) -> CancellationToken {
        self.shutdown.child_token()
    }

    /// Load settings (`home`, `skynet.toml`, environment), apply the
    /// Python arguments, build the engine and start its worker.
    pub(crate) async fn open(opts: OpenOptions) -> Result<Engine, Failure> {
        let mut settings = Settings::load(opts.home)?;
        let notices = std::mem::take(&mut settings.notices);
        if let Some(url) = opts.database_url {
            settings.database_url = url;
        }
        if let Some(name) = opts.default_provider {
            settings.provider = name;
        }
        let mut builder = settings.builder()?;
        if let Some(path) = opts.policy {
            builder = builder.policy(Policy::load(&path)?);
        }
        if let Some(planner) = opts.planner {
            builder = builder.planner(planner);
        }
        for provider in opts.providers {
            builder = builder.provider(provider);
        }
        let core = builder.build().await?;
        let shutdown = CancellationToken::new();
        if opts.workers > 0 {
            let (worker, stop) = (core.clone(), shutdown.clone());
            let options = WorkerOptions {
                concurrency: opts.workers,
                ..WorkerOptions::default()
            };
            tokio::spawn(async move {
                // Nobody awaits this task: say why it stopped on stderr,
                // where a Python program's warnings go.
                if let Err(e) = worker.worker(options, stop).await {
                    eprintln!("skynet: the in-process worker stopped: {e}");
                }
            });
        }
        Ok(Engine {
            core,
            shutdown,
            notices,
        })
    }

    /// Stop the in-process worker (running jobs finish).
    pub(crate) fn close(&self) {
        self.shutdown.cancel();
    }
}

/// What `submit`/`plan`/`run` were given.
pub(crate) struct Intent {
    pub(crate) text: String,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) priority: i32,
    pub(crate) provider: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) idempotency_key: Option<String>,
    /// Files to keep as artifacts (paths or glob patterns under the root).
    pub(crate) artifacts: Vec<String>,
}

impl Intent {
    /// `text` under `cwd`, everything else default.
    pub(crate) fn new(text: String, cwd: Option<PathBuf>) -> Self {
        Intent {
            text,
            cwd,
            priority: 0,
            provider: None,
            timeout: None,
            idempotency_key: None,
            artifacts: Vec::new(),
        }
    }

    fn request(self) -> SubmitRequest {
        SubmitRequest {
            intent: self.text,
            root: self.cwd,
            provider: self.provider,
            priority: self.priority,
            source: JobSource::Python,
            idempotency_key: self.idempotency_key,
            timeout: self.timeout,
            artifacts: self.artifacts,
            ..SubmitRequest::default()
        }
    }
}

/// How `run` treats a plan that needs a human.
pub(crate) enum Approve {
    /// Approve it.
    Yes,
    /// Leave it waiting and raise `ApprovalRequired`.
    No,
    /// Ask this callable (it sees the `Plan`; may be `async`).
    Ask(Py<PyAny>),
}

impl Approve {
    /// `approve=` as given: a bool or a callable.
    pub(crate) fn from_python(value: &Bound<'_, PyAny>) -> PyResult<Approve> {
        if value.is_callable() {
            Ok(Approve::Ask(value.clone().unbind()))
        } else if value.is_truthy()? {
            Ok(Approve::Yes)
        } else {
            Ok(Approve::No)
        }
    }
}

fn job_id(id: &str) -> Result<JobId, Failure> {
    JobId::parse(id.trim()).map_err(|_| Failure::Core(Error::JobNotFound(id.to_string())))
}

/// A job with its step states.
pub(crate) async fn get(core: Core, id: String) -> Result<Job, Failure> {
    let id = job_id(&id)?;
    let job = core.get(&id).await?;
    let states = core.steps(&id).await?;
    Ok(Job { job, states })
}

pub(crate) async fn plan(core: Core, intent: Intent) -> Result<Plan, Failure> {
    Ok(core.plan(&intent.request()).await?.into())
}

pub(crate) async fn submit(core: Core, intent: Intent) -> Result<Job, Failure> {
    Ok(core.submit(intent.request()).await?.into())
}

pub(crate) async fn approve(
    core: Core,
    id: String,
    plan_hash: String,
    approver: String,
) -> Result<Job, Failure> {
    Ok(core
        .approve(&job_id(&id)?, &plan_hash, &approver)
        .await?
        .into())
}

pub(crate) async fn deny(
    core: Core,
    id: String,
    reason: Option<String>,
    actor: String,
) -> Result<Job, Failure> {
    Ok(core.deny(&job_id(&id)?, reason, &actor).await?.into())
}

pub(crate) async fn cancel(core: Core, id: String, actor: String) -> Result<Job, Failure> {
    Ok(core.cancel(&job_id(&id)?, &actor).await?.into())
}

/// Resolve a job in `needs_review`: `resolution` is `"requeue"` (with
/// `plan_hash`), `"fail"` or `"mark_succeeded"`.
pub(crate) async fn review(
    core: Core,
    id: String,
    resolution: String,
    reason: Option<String>,
    plan_hash: Option<String>,
    actor: String,
) -> Result<Job, Failure> {
    let id = job_id(&id)?;
    let req = ReviewRequest {
        resolution: ReviewResolution::from_str(&resolution)?,
        reason,
        plan_hash,
    };
    let job = core.resolve_review(&id, &req, &actor).await?;
    let states = core.steps(&id).await?;
    Ok(Job { job, states })
}

/// Submit a finished job's plan again as a new job, judged again.
pub(crate) async fn retry(core: Core, id: String, actor: String) -> Result<Job, Failure> {
    let req = RetryRequest {
        source: JobSource::Python,
        actor,
        ..RetryRequest::default()
    };
    Ok(core.retry(&job_id(&id)?, &req).await?.into())
}

/// Jobs, newest first; `statuses` are names like `"queued"`.
pub(crate) async fn jobs(
    core: Core,
    statuses: Vec<String>,
    limit: Option<u32>,
) -> Result<Vec<Job>, Failure> {
    let statuses = statuses
        .iter()
        .map(|s| JobStatus::from_str(s.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = JobFilter {
        statuses,
        limit,
        ..Default::default()
    };
    Ok(core
        .list(&filter)
        .await?
        .into_iter()
        .map(Job::from)
        .collect())
}

/// Which lines `logs()` reads besides the job: as given from Python.
#[derive(Debug, Default)]
pub(crate) struct LogsFilter {
    pub(crate) tail: Option<u32>,
    pub(crate) since: Option<String>,
    pub(crate) until: Option<String>,
    pub(crate) stream: Option<String>,
}

pub(crate) async fn logs(
    core: Core,
    id: String,
    filter: LogsFilter,
) -> Result<Vec<LogLine>, Failure> {
    let id = job_id(&id)?;
    let now = chrono::Utc::now();
    let instant = |what: &str, text: Option<String>| {
        text.map(|t| skynet_core::clock::parse_instant(what, &t, now))
            .transpose()
    };
    let query = LogQuery {
        tail: filter.tail,
        since: instant("since", filter.since)?,
        until: instant("until", filter.until)?,
        stream: filter
            .stream
            .map(|s| skynet_core::provider::Stream::parse(&s))
            .transpose()?,
        ..LogQuery::default()
    };
    core.get(&id).await?;
    Ok(core
        .logs(&id, &query)
        .await?
        .into_iter()
        .map(|line| LogLine { line })
        .collect())
}

pub(crate) async fn artifacts(
    core: Core,
    id: String,
) -> Result<Vec<crate::types::Artifact>, Failure> {
    let id = job_id(&id)?;
    Ok(core
        .artifacts(&id)
        .await?
        .into_iter()
        .map(|record| crate::types::Artifact { record })
        .collect())
}

/// An artifact's bytes, whole (checked against its SHA-256 first).
pub(crate) async fn artifact(
    core: Core,
    id: String,
    name: String,
) -> Result<crate::convert::Bytes, Failure> {
    use tokio::io::AsyncReadExt;
    let id = job_id(&id)?;
    let (record, mut reader) = core.open_artifact(&id, &name, None).await?;
    let mut bytes = Vec::with_capacity(usize::try_from(record.size).unwrap_or(0));
    reader
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| Error::artifact_storage("reading an artifact", e))?;
    Ok(crate::convert::Bytes(bytes))
}

/// Stream an artifact into `path` (written beside it, then renamed);
/// returns the bytes written.
pub(crate) async fn save_artifact(
    core: Core,
    id: String,
    name: String,
    path: PathBuf,
) -> Result<u64, Failure> {
    let id = job_id(&id)?;
    let (_, mut reader) = core.open_artifact(&id, &name, None).await?;
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{} names no file", path.display())))?;
    let mut part_name = std::ffi::OsString::from(".");
    part_name.push(file_name);
    part_name.push(format!(".{}.part", std::process::id()));
    let part = path.with_file_name(part_name);
    let copied = async {
        let mut file = tokio::fs::File::create(&part).await?;
        let n = tokio::io::copy(&mut reader, &mut file).await?;
        file.sync_all().await?;
        tokio::fs::rename(&part, &path).await?;
        Ok::<u64, std::io::Error>(n)
    }
    .await;
    match copied {
        Ok(n) => Ok(n),
        Err(e) => {
            let _ = tokio::fs::remove_file(&part).await;
            Err(Error::artifact_storage(format!("writing {}", path.display()), e).into())
        }
    }
}

/// Run gc (see `skynet gc`); the report as plain Python objects.
pub(crate) async fn gc(core: Core, dry_run: bool) -> Result<crate::convert::Json, Failure> {
    let report = core
        .gc(skynet_core::retention::GcOptions { dry_run })
        .await?;
    serde_json::to_value(report)
        .map(crate::convert::Json)
        .map_err(|e| Failure::Core(Error::InvalidInput(format!("gc report: {e}"))))
}

pub(crate) async fn events(core: Core, id: String) -> Result<Vec<Event>, Failure> {
    let id = job_id(&id)?;
    core.get(&id).await?;
    Ok(core
        .events(&id)
        .await?
        .into_iter()
        .map(|event| Event { event })
        .collect())
}

pub(crate) async fn event_log(
    core: Core,
    after: Option<String>,
    types: Option<String>,
    job: Option<String>,
    limit: u32,
) -> Result<crate::types::EventLogPage, Failure> {
    let after = after
        .as_deref()
        .map(str::parse)
        .transpose()?
        .unwrap_or_default();
    let types = types
        .as_deref()
        .map(skynet_core::events::EventType::parse_filter)
        .transpose()?
        .unwrap_or_default();
    let job = job.as_deref().map(job_id).transpose()?;
    let page = core
        .event_log(skynet_core::store::event_log::EventLogQuery {
            after,
            limit,
            types,
            job,
            ..Default::default()
        })
        .await?;
    Ok(crate::types::EventLogPage { page })
}

pub(crate) async fn wait(
    core: Core,
    id: String,
    timeout: Option<Duration>,
) -> Result<Job, Failure> {
    let job = core.wait(&job_id(&id)?, timeout).await?;
    let states = core.steps(&job.id).await?;
    Ok(Job { job, states })
}

/// Submit, gate (approve as told), run here, wait. A job that ends
/// cancelled raises `Cancelled`; other endings (succeeded, failed,
/// timed out, denied by the callback) are returned as the `Job`. After
/// `timeout` it raises `Timeout` and the job goes on in the background.
pub(crate) async fn run(
    core: Core,
    intent: Intent,
    approve: Approve,
    timeout: Option<Duration>,
    approver: String,
) -> Result<Job, Failure> {
    let gate = match &approve {
        Approve::Yes => Gate::Approve(approver.clone()),
        Approve::No | Approve::Ask(_) => Gate::Hold,
    };
    let mut job = core.start(&intent.request(), &gate).await?;
    if job.status == JobStatus::Planned {
        let Some(plan) = job.plan.clone() else {
            return Err(Failure::NeedsApproval(Box::new(job)));
        };
        let Approve::Ask(callback) = approve else {
            return Err(Failure::NeedsApproval(Box::new(job)));
        };
        job = if ask(callback, plan.clone()).await? {
            core.approve(&job.id, &plan.hash, &approver).await?
        } else {
            core.deny(
                &job.id,
                Some(format!("denied by {approver}'s approval callback")),
                &approver,
            )
            .await?
        };
    }
    if job.status.is_terminal() {
        let states = core.steps(&job.id).await?;
        return Ok(Job { job, states });
    }
    let opts = RunHere {
        worker: default_worker_id(),
        timeout,
        log_tail: None,
    };
    let done = core.run_here(&job.id, &opts).await?;
    if done.job.status == JobStatus::Cancelled {
        return Err(Error::Cancelled.into());
    }
    Ok(Job {
        job: done.job,
        states: done.steps,
    })
}

/// Call the approval callback with the plan; await it if it is async.
async fn ask(callback: Py<PyAny>, plan: skynet_core::Plan) -> Result<bool, Failure> {
    let answer = Python::attach(|py| -> PyResult<Result<bool, _>> {
        let out = callback.bind(py).call1((Plan::from(plan),))?;
        if out.hasattr("__await__")? {
            Ok(Err(pyo3_async_runtimes::tokio::into_future(out)?))
        } else {
            Ok(Ok(out.is_truthy()?))
        }
    })?;
    match answer {
        Ok(yes) => Ok(yes),
        Err(pending) => {
            let out = pending.await?;
            Ok(Python::attach(|py| out.bind(py).is_truthy())?)
        }
    }
}
