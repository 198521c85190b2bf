//! `skynet.AsyncSkynet`: the same API as awaitables, on the engine's
//! tokio runtime (pyo3-async-runtimes bridges to the running asyncio loop).

use crate::blocking::block_on;
use crate::engine::{self, Approve, Engine, Intent};
use crate::errors::Failure;
use crate::options::OpenOptions;
use crate::sync::{actor, statuses};
use crate::types::Decision;
use pyo3::prelude::*;
use std::future::Future;
use std::path::PathBuf;

/// Hand an engine future to asyncio.
fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move { fut.await.map_err(PyErr::from) })
}

/// The SKYNET engine for asyncio: the methods of :class:`Skynet`, each
/// returning an awaitable. Opening it (the constructor) is quick and
/// blocking, like opening a file.
///
/// >>> import asyncio, skynet, tempfile
/// >>> async def main():
/// ...     sk = skynet.AsyncSkynet(home=tempfile.mkdtemp(), default_provider="mock")
/// ...     jobs = await asyncio.gather(*(sk.submit("list the files") for _ in range(3)))
/// ...     done = await asyncio.gather(*(sk.wait(j.id, timeout=30) for j in jobs))
/// ...     return [j.status for j in done]
/// >>> asyncio.run(main())
/// ['succeeded', 'succeeded', 'succeeded']
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct AsyncSkynet {
    engine: Engine,
}

#[pymethods]
impl AsyncSkynet {
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
        Ok(AsyncSkynet { engine })
    }

    /// Plan and judge without storing anything.
    #[pyo3(signature = (intent, cwd = None))]
    fn plan<'py>(
        &self,
        py: Python<'py>,
        intent: String,
        cwd: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let intent = Intent {
            text: intent,
            cwd,
            priority: 0,
            provider: None,
            timeout: None,
            idempotency_key: None,
        };
        awaitable(py, engine::plan(self.engine.core.clone(), intent))
    }

    /// Plan, judge and record a job.
    #[pyo3(signature = (intent, cwd = None, priority = 0, *, provider = None, timeout = None, idempotency_key = None))]
    #[allow(clippy::too_many_arguments)]
    fn submit<'py>(
        &self,
        py: Python<'py>,
        intent: String,
        cwd: Option<PathBuf>,
        priority: i32,
        provider: Option<String>,
        timeout: Option<f64>,
        idempotency_key: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let intent = Intent {
            text: intent,
            cwd,
            priority,
            provider,
            timeout: crate::convert::seconds("timeout", timeout)?,
            idempotency_key,
        };
        awaitable(py, engine::submit(self.engine.core.clone(), intent))
    }

    /// Approve the job's plan by its hash.
    #[pyo3(signature = (job_id, plan_hash, approver = None))]
    fn approve<'py>(
        &self,
        py: Python<'py>,
        job_id: String,
        plan_hash: String,
        approver: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = engine::approve(self.engine.core.clone(), job_id, plan_hash, actor(approver));
        awaitable(py, fut)
    }

    /// Deny a plan that awaits approval.
    #[pyo3(signature = (job_id, reason = None, actor = None))]
    fn deny<'py>(
        &self,
        py: Python<'py>,
        job_id: String,
        reason: Option<String>,
        actor: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = engine::deny(self.engine.core.clone(), job_id, reason, self::actor(actor));
        awaitable(py, fut)
    }

    /// Cancel a job that has not finished.
    #[pyo3(signature = (job_id, actor = None))]
    fn cancel<'py>(
        &self,
        py: Python<'py>,
        job_id: String,
        actor: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let fut = engine::cancel(self.engine.core.clone(), job_id, self::actor(actor));
        awaitable(py, fut)
    }

    /// One job, with its plan's step states.
    fn get<'py>(&self, py: Python<'py>, job_id: String) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, engine::get(self.engine.core.clone(), job_id))
    }

    /// Jobs, newest first.
    #[pyo3(signature = (status = None, limit = None))]
    fn jobs<'py>(
        &self,
        py: Python<'py>,
        status: Option<Bound<'py, PyAny>>,
        limit: Option<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let statuses = statuses(status.as_ref())?;
        awaitable(py, engine::jobs(self.engine.core.clone(), statuses, limit))
    }

    /// A job's output lines.
    #[pyo3(signature = (job_id, tail = None))]
    fn logs<'py>(
        &self,
        py: Python<'py>,
        job_id: String,
        tail: Option<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, engine::logs(self.engine.core.clone(), job_id, tail))
    }

    /// A job's audit trail.
    fn events<'py>(&self, py: Python<'py>, job_id: String) -> PyResult<Bound<'py, PyAny>> {
        awaitable(py, engine::events(self.engine.core.clone(), job_id))
    }

    /// Until the job finishes (``Timeout`` after ``timeout`` seconds).
    #[pyo3(signature = (job_id, timeout = None))]
    fn wait<'py>(
        &self,
        py: Python<'py>,
        job_id: String,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = crate::convert::seconds("timeout", timeout)?;
        awaitable(py, engine::wait(self.engine.core.clone(), job_id, timeout))
    }

    /// Submit and run to the end; ``approve`` as in :meth:`Skynet.run`
    /// (the callable may be ``async``).
    #[pyo3(signature = (intent, approve = None, cwd = None, *, provider = None, timeout = None, approver = None))]
    #[allow(clippy::too_many_arguments)]
    fn run<'py>(
        &self,
        py: Python<'py>,
        intent: String,
        approve: Option<Bound<'py, PyAny>>,
        cwd: Option<PathBuf>,
        provider: Option<String>,
        timeout: Option<f64>,
        approver: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
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
        awaitable(py, fut)
    }

    /// Ask the policy about one argv (resolves at once; awaitable for
    /// symmetry with :class:`Skynet`).
    #[pyo3(signature = (argv, root = None))]
    fn policy_check<'py>(
        &self,
        py: Python<'py>,
        argv: Vec<String>,
        root: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let core = self.engine.core.clone();
        awaitable(py, async move {
            Ok::<_, Failure>(Decision::from(core.check_command(&argv, root)?))
        })
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

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let me = slf.clone().unbind();
        awaitable(slf.py(), async move { Ok::<_, Failure>(me) })
    }

    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc_type: Option<Bound<'py, PyAny>>,
        _exc: Option<Bound<'py, PyAny>>,
        _tb: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.engine.close();
        awaitable(py, async move { Ok::<_, Failure>(false) })
    }

    fn __repr__(&self) -> String {
        format!("<skynet.Async{:?}>", self.engine.core)
    }
}
