//! `skynet.Skynet`: the blocking API. Every call releases the GIL while
//! the engine works and can be interrupted with Ctrl-C.

use crate::blocking::block_on;
use crate::engine::{self, Approve, DEFAULT_ACTOR, Engine, Intent};
use crate::errors::Failure;
use crate::options::OpenOptions;
use crate::types::{Decision, Event, Job, LogLine, Plan};
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::path::PathBuf;

/// `jobs(status=...)`: None, `"queued"`, `"queued,running"` or a list.
pub(crate) fn statuses(status: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<String>> {
    match status {
        None => Ok(Vec::new()),
        Some(s) if s.is_none() => Ok(Vec::new()),
        Some(s) if s.is_instance_of::<PyString>() => Ok(s
            .extract::<String>()?
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()),
        Some(s) => s.extract(),
    }
}

/// Who an approval/denial is recorded as.
pub(crate) fn actor(given: Option<String>) -> String {
    given.unwrap_or_else(|| DEFAULT_ACTOR.to_string())
}

/// The SKYNET engine, embedded: plan, judge, approve, queue and run
/// intents; every rule lives in the Rust core.
///
/// ``database_url`` and ``home`` default to ``SKYNET_DATABASE_URL`` /
/// ``SKYNET_HOME`` (else ``~/.skynet``), like the CLI. ``planner`` is
/// ``"rules"`` or a :class:`skynet.Planner`; ``providers`` adds
/// :class:`skynet.Provider` plug-ins beside ``local`` and ``mock``;
/// ``policy`` is a rules file replacing the built-in rules. An in-process
/// worker runs queued jobs unless ``worker=False``.
///
/// >>> import skynet, tempfile
/// >>> sk = skynet.Skynet(home=tempfile.mkdtemp(), default_provider="mock")
/// >>> job = sk.run("list the files")
/// >>> job.status, job.risk
/// ('succeeded', 'READ_ONLY')
/// >>> [line.text for line in sk.logs(job.id)]
/// ['mock: ls -la -- .']
/// >>> sk.close()
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Skynet {
    engine: Engine,
}

#[pymethods]
impl Skynet {
    #[new]
    #[pyo3(signature = (
        database_url = None, home = None, planner = None, providers = None, policy = None,
        *, default_provider = None, worker = true, concurrency = 4
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        database_url: Option<String>,
        home: Option<PathBuf>,
        planner: Option<Bound<'_, PyAny>>,
        providers: Option<Vec<Bound<'_, PyAny>>>,
        policy: Option<PathBuf>,
        default_provider: Option<String>,
        worker: bool,
        concurrency: usize,
    ) -> PyResult<Self> {
        let opts = OpenOptions::from_python(
            database_url,
            home,
            planner.as_ref(),
            providers,
            policy,
            default_provider,
            worker,
            concurrency,
        )?;
        let engine = block_on(py, Engine::open(opts))?;
        Ok(Skynet { engine })
    }

    /// Plan and judge ``intent`` without storing or running anything.
    #[pyo3(signature = (intent, cwd = None))]
    fn plan(&self, py: Python<'_>, intent: String, cwd: Option<PathBuf>) -> PyResult<Plan> {
        let intent = Intent {
            text: intent,
            cwd,
            priority: 0,
            provider: None,
            timeout: None,
            idempotency_key: None,
        };
        block_on(py, engine::plan(self.engine.core.clone(), intent))
    }

    /// Plan, judge and record a job: READ_ONLY plans are queued at once,
    /// riskier ones wait in ``"planned"`` for :meth:`approve`.
    #[pyo3(signature = (intent, cwd = None, priority = 0, *, provider = None, timeout = None, idempotency_key = None))]
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        py: Python<'_>,
        intent: String,
        cwd: Option<PathBuf>,
        priority: i32,
        provider: Option<String>,
        timeout: Option<f64>,
        idempotency_key: Option<String>,
    ) -> PyResult<Job> {
        let intent = Intent {
            text: intent,
            cwd,
            priority,
            provider,
            timeout: crate::convert::seconds("timeout", timeout)?,
            idempotency_key,
        };
        block_on(py, engine::submit(self.engine.core.clone(), intent))
    }

    /// Approve the job's plan; ``plan_hash`` (full or a 12+ digit prefix)
    /// must name the plan the job holds now.
    #[pyo3(signature = (job_id, plan_hash, approver = None))]
    fn approve(
        &self,
        py: Python<'_>,
        job_id: String,
        plan_hash: String,
        approver: Option<String>,
    ) -> PyResult<Job> {
        let fut = engine::approve(self.engine.core.clone(), job_id, plan_hash, actor(approver));
        block_on(py, fut)
    }

    /// Deny a plan that awaits approval.
    #[pyo3(signature = (job_id, reason = None, actor = None))]
    fn deny(
        &self,
        py: Python<'_>,
        job_id: String,
        reason: Option<String>,
        actor: Option<String>,
    ) -> PyResult<Job> {
        let fut = engine::deny(self.engine.core.clone(), job_id, reason, self::actor(actor));
        block_on(py, fut)
    }

    /// Cancel a job that has not finished (a running step is killed).
    #[pyo3(signature = (job_id, actor = None))]
    fn cancel(&self, py: Python<'_>, job_id: String, actor: Option<String>) -> PyResult<Job> {
        let fut = engine::cancel(self.engine.core.clone(), job_id, self::actor(actor));
        block_on(py, fut)
    }

    /// One job, with its plan's step states.
    fn get(&self, py: Python<'_>, job_id: String) -> PyResult<Job> {
        block_on(py, engine::get(self.engine.core.clone(), job_id))
    }

    /// Jobs, newest first, optionally only some statuses.
    #[pyo3(signature = (status = None, limit = None))]
    fn jobs(
        &self,
        py: Python<'_>,
        status: Option<Bound<'_, PyAny>>,
        limit: Option<u32>,
    ) -> PyResult<Vec<Job>> {
        let statuses = statuses(status.as_ref())?;
        block_on(py, engine::jobs(self.engine.core.clone(), statuses, limit))
    }

    /// A job's output lines (the last ``tail`` if given).
    #[pyo3(signature = (job_id, tail = None))]
    fn logs(&self, py: Python<'_>, job_id: String, tail: Option<u32>) -> PyResult<Vec<LogLine>> {
        block_on(py, engine::logs(self.engine.core.clone(), job_id, tail))
    }

    /// A job's audit trail, oldest first.
    fn events(&self, py: Python<'_>, job_id: String) -> PyResult<Vec<Event>> {
        block_on(py, engine::events(self.engine.core.clone(), job_id))
    }

    /// Block until the job finishes (``Timeout`` after ``timeout``
    /// seconds). Other threads keep running; Ctrl-C interrupts.
    #[pyo3(signature = (job_id, timeout = None))]
    fn wait(&self, py: Python<'_>, job_id: String, timeout: Option<f64>) -> PyResult<Job> {
        let timeout = crate::convert::seconds("timeout", timeout)?;
        block_on(py, engine::wait(self.engine.core.clone(), job_id, timeout))
    }

    /// Submit ``intent`` and run it here to the end. A plan that needs a
    /// human is approved if ``approve`` is True, raises
    /// ``ApprovalRequired`` if False (the job stays for :meth:`approve`),
    /// or is shown to ``approve(plan)`` if it is a callable, which decides.
    /// Returns the finished :class:`Job` (check ``job.ok``); raises
    /// ``Cancelled`` if it was cancelled, and ``Timeout`` after ``timeout``
    /// seconds (the job goes on in the background). Ctrl-C interrupts the
    /// call; the job still runs to its end.
    #[pyo3(signature = (intent, approve = None, cwd = None, *, provider = None, timeout = None, approver = None))]
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        py: Python<'_>,
        intent: String,
        approve: Option<Bound<'_, PyAny>>,
        cwd: Option<PathBuf>,
        provider: Option<String>,
        timeout: Option<f64>,
        approver: Option<String>,
    ) -> PyResult<Job> {
        let approve = match approve {
            Some(a) => Approve::from_python(&a)?,
            None => Approve::No,
        };
        let intent = Intent {
            text: intent,
            cwd,
            priority: 0,
            provider,
            timeout: None,
            idempotency_key: None,
        };
        let timeout = crate::convert::seconds("timeout", timeout)?;
        let fut = engine::run(
            self.engine.core.clone(),
            intent,
            approve,
            timeout,
            actor(approver),
        );
        block_on(py, fut)
    }

    /// Ask the policy about one argv under ``root`` (default: the current
    /// directory). Returns the :class:`Decision`; nothing runs.
    #[pyo3(signature = (argv, root = None))]
    fn policy_check(
        &self,
        py: Python<'_>,
        argv: Vec<String>,
        root: Option<PathBuf>,
    ) -> PyResult<Decision> {
        self.engine
            .core
            .check_command(&argv, root)
            .map(Decision::from)
            .map_err(|e| Failure::from(e).into_pyerr(py))
    }

    /// Registered provider names.
    #[getter]
    fn providers(&self) -> Vec<String> {
        self.engine.core.provider_names()
    }

    /// Stop the in-process worker; running jobs finish.
    fn close(&self) {
        self.engine.close();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.engine.close();
        false
    }

    fn __repr__(&self) -> String {
        format!("<skynet.{:?}>", self.engine.core)
    }
}
