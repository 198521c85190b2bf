//! The methods `Skynet` and `AsyncSkynet` share, written once: a macro
//! generates each class's `#[pymethods]` block, the two differing only in
//! how an engine future is finished (run to its end with the GIL released,
//! or handed to asyncio as an awaitable) and in their own extra methods
//! (context managers, `repr`).

/// Generate `#[pymethods] impl $class` with the shared methods; `$finish`
/// turns an engine future into the Python result; `$own` are the class's
/// own methods.
macro_rules! skynet_methods {
    ($class:ident, $finish:path, { $($own:tt)* }) => {
        #[pymethods]
        impl $class {
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
                for notice in &engine.notices {
                    let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
                    let message = std::ffi::CString::new(notice.as_str()).unwrap_or_default();
                    pyo3::PyErr::warn(py, &category, &message, 1)?;
                }
                Ok($class { engine })
            }

            /// Plan and judge ``intent`` without storing or running anything.
            #[pyo3(signature = (intent, cwd = None))]
            fn plan<'py>(
                &self,
                py: Python<'py>,
                intent: String,
                cwd: Option<PathBuf>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let intent = Intent::new(intent, cwd);
                $finish(py, engine::plan(self.engine.core.clone(), intent))
            }

            /// Plan, judge and record a job: READ_ONLY plans are queued at
            /// once, riskier ones wait in ``"planned"`` for :meth:`approve`.
            /// A repeated ``idempotency_key`` returns the first job for the
            /// same request and raises ``IdempotencyConflict`` for another.
            /// ``artifacts`` names files to keep after the last step (paths
            /// or glob patterns under ``cwd``).
            #[pyo3(signature = (intent, cwd = None, priority = 0, *, provider = None, timeout = None, idempotency_key = None, artifacts = None))]
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
                artifacts: Option<Vec<String>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let intent = Intent {
                    priority,
                    provider,
                    timeout: crate::convert::seconds("timeout", timeout)?,
                    idempotency_key,
                    artifacts: artifacts.unwrap_or_default(),
                    ..Intent::new(intent, cwd)
                };
                $finish(py, engine::submit(self.engine.core.clone(), intent))
            }

            /// Approve the job's plan; ``plan_hash`` (full or a 12+ digit
            /// prefix) must name the plan the job holds now.
            #[pyo3(signature = (job_id, plan_hash, approver = None))]
            fn approve<'py>(
                &self,
                py: Python<'py>,
                job_id: String,
                plan_hash: String,
                approver: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let fut =
                    engine::approve(self.engine.core.clone(), job_id, plan_hash, actor(approver));
                $finish(py, fut)
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
                $finish(py, fut)
            }

            /// Cancel a job that has not finished (a running step is killed).
            #[pyo3(signature = (job_id, actor = None))]
            fn cancel<'py>(
                &self,
                py: Python<'py>,
                job_id: String,
                actor: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let fut = engine::cancel(self.engine.core.clone(), job_id, self::actor(actor));
                $finish(py, fut)
            }

            /// Resolve a job whose worker was lost during a WRITE/ADMIN step
            /// (``"needs_review"``): ``resolution`` is ``"requeue"`` (run it
            /// again from the interrupted step; needs ``plan_hash``, full or
            /// a 12+ digit prefix, as any approval does), ``"fail"`` or
            /// ``"mark_succeeded"``. ``reason`` is kept with ``actor`` in the
            /// job's events. Raises ``Conflict`` if the job is not waiting
            /// for a review, ``StaleApproval`` for a wrong hash.
            #[pyo3(signature = (job_id, resolution, *, reason = None, plan_hash = None, actor = None))]
            fn review<'py>(
                &self,
                py: Python<'py>,
                job_id: String,
                resolution: String,
                reason: Option<String>,
                plan_hash: Option<String>,
                actor: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let fut = engine::review(
                    self.engine.core.clone(),
                    job_id,
                    resolution,
                    reason,
                    plan_hash,
                    self::actor(actor),
                );
                $finish(py, fut)
            }

            /// Submit a finished job's plan again as a new job
            /// (``retry_of`` names the original), judged again by the
            /// policy: READ_ONLY work is queued at once, anything riskier
            /// waits for :meth:`approve`. Raises ``Conflict`` if the job has
            /// not finished.
            #[pyo3(signature = (job_id, actor = None))]
            fn retry<'py>(
                &self,
                py: Python<'py>,
                job_id: String,
                actor: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let fut = engine::retry(self.engine.core.clone(), job_id, self::actor(actor));
                $finish(py, fut)
            }

            /// One job, with its plan's step states.
            fn get<'py>(&self, py: Python<'py>, job_id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, engine::get(self.engine.core.clone(), job_id))
            }

            /// Jobs, newest first, optionally only some statuses.
            #[pyo3(signature = (status = None, limit = None))]
            fn jobs<'py>(
                &self,
                py: Python<'py>,
                status: Option<Bound<'py, PyAny>>,
                limit: Option<u32>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let statuses = statuses(status.as_ref())?;
                $finish(py, engine::jobs(self.engine.core.clone(), statuses, limit))
            }

            /// A job's output lines: the last ``tail`` if given, only those
            /// recorded from ``since`` and before ``until`` (an aware
            /// ``datetime``, an RFC 3339 string, or a duration ago such as
            /// ``"10m"``), only one ``stream`` (``"stdout"``, ``"stderr"``,
            /// ``"system"``).
            #[pyo3(signature = (job_id, tail = None, *, since = None, until = None, stream = None))]
            fn logs<'py>(
                &self,
                py: Python<'py>,
                job_id: String,
                tail: Option<u32>,
                since: Option<Bound<'py, PyAny>>,
                until: Option<Bound<'py, PyAny>>,
                stream: Option<String>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let filter = engine::LogsFilter {
                    tail,
                    since: crate::convert::instant_text("since", since.as_ref())?,
                    until: crate::convert::instant_text("until", until.as_ref())?,
                    stream,
                };
                $finish(py, engine::logs(self.engine.core.clone(), job_id, filter))
            }

            /// The files a job kept as artifacts (:class:`Artifact`), by name.
            fn artifacts<'py>(
                &self,
                py: Python<'py>,
                job_id: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, engine::artifacts(self.engine.core.clone(), job_id))
            }

            /// One artifact's bytes, checked against its SHA-256 first
            /// (``StoreError`` if they no longer match; ``JobNotFound``
            /// for an unknown job or name). For a large
            /// one, :meth:`save_artifact` streams it to a file instead.
            fn artifact<'py>(
                &self,
                py: Python<'py>,
                job_id: String,
                name: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, engine::artifact(self.engine.core.clone(), job_id, name))
            }

            /// Stream one artifact into ``path`` (written beside it and
            /// renamed, so ``path`` is whole or untouched); returns the
            /// bytes written.
            fn save_artifact<'py>(
                &self,
                py: Python<'py>,
                job_id: String,
                name: String,
                path: PathBuf,
            ) -> PyResult<Bound<'py, PyAny>> {
                $finish(
                    py,
                    engine::save_artifact(self.engine.core.clone(), job_id, name, path),
                )
            }

            /// Remove what retention no longer keeps (see ``[retention]``);
            /// with ``dry_run`` only list it. Returns the report as a dict
            /// (``jobs``, ``logs``, ``artifacts``, ``objects``, ``uploads``).
            #[pyo3(signature = (dry_run = false))]
            fn gc<'py>(&self, py: Python<'py>, dry_run: bool) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, engine::gc(self.engine.core.clone(), dry_run))
            }

            /// A job's audit trail, oldest first.
            fn events<'py>(&self, py: Python<'py>, job_id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, engine::events(self.engine.core.clone(), job_id))
            }

            /// A page of the global event log (job lifecycle and system
            /// events, see docs/events.md) after position ``after``, of
            /// ``types`` (comma-separated names or prefixes such as
            /// ``"job.*"``) and of ``job_id`` when given; read on from the
            /// page's ``next``.
            #[pyo3(signature = (after = None, types = None, job_id = None, limit = 100))]
            fn event_log<'py>(
                &self,
                py: Python<'py>,
                after: Option<String>,
                types: Option<String>,
                job_id: Option<String>,
                limit: u32,
            ) -> PyResult<Bound<'py, PyAny>> {
                $finish(
                    py,
                    engine::event_log(self.engine.core.clone(), after, types, job_id, limit),
                )
            }

            /// Until the job finishes (``Timeout`` after ``timeout``
            /// seconds). Other threads keep running; Ctrl-C interrupts.
            #[pyo3(signature = (job_id, timeout = None))]
            fn wait<'py>(
                &self,
                py: Python<'py>,
                job_id: String,
                timeout: Option<f64>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let timeout = crate::convert::seconds("timeout", timeout)?;
                $finish(py, engine::wait(self.engine.core.clone(), job_id, timeout))
            }

            /// Submit ``intent`` and run it here to the end. A plan that
            /// needs a human is approved if ``approve`` is True, raises
            /// ``ApprovalRequired`` if False (the job stays for
            /// :meth:`approve`), or is shown to ``approve(plan)`` if it is
            /// a callable (which may be ``async``), which decides. Returns
            /// the finished :class:`Job` (check ``job.ok``); raises
            /// ``Cancelled`` if it was cancelled, and ``Timeout`` after
            /// ``timeout`` seconds (the job goes on in the background).
            #[pyo3(signature = (intent, approve = None, cwd = None, *, provider = None, timeout = None, approver = None, artifacts = None))]
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
                artifacts: Option<Vec<String>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let approve = match approve {
                    Some(a) => Approve::from_python(&a)?,
                    None => Approve::No,
                };
                let intent = Intent {
                    provider,
                    artifacts: artifacts.unwrap_or_default(),
                    ..Intent::new(intent, cwd)
                };
                let timeout = crate::convert::seconds("timeout", timeout)?;
                let fut = engine::run(
                    self.engine.core.clone(),
                    intent,
                    approve,
                    timeout,
                    actor(approver),
                );
                $finish(py, fut)
            }

            /// Ask the policy about one argv under ``root`` (default: the
            /// current directory). Returns the :class:`Decision`; nothing
            /// runs.
            #[pyo3(signature = (argv, root = None))]
            fn policy_check<'py>(
                &self,
                py: Python<'py>,
                argv: Vec<String>,
                root: Option<PathBuf>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let core = self.engine.core.clone();
                $finish(py, async move {
                    Ok::<_, Failure>(Decision::from(core.check_command(&argv, root)?))
                })
            }

            /// Registered provider names.
            #[getter]
            fn providers(&self) -> Vec<String> {
                self.engine.core.provider_names()
            }

            /// Call ``callback`` with every event of the global log of
            /// ``types`` (names or prefixes, ``"job.*"``, a comma-separated
            /// string or a list; all when None)
            /// from now on, from a background task; returns the
            /// :class:`Subscription` (``stop()`` ends it, so does
            /// ``close()``). Without ``name``: best-effort, from now, while
            /// it runs. With ``name``: a durable consumer resuming where the
            /// last subscription of that name stopped, at least once. An
            /// exception in ``callback`` is printed and counted; delivery
            /// goes on.
            #[pyo3(signature = (callback, types = None, *, name = None, interval = 0.2))]
            fn subscribe(
                &self,
                callback: Py<PyAny>,
                types: Option<Bound<'_, PyAny>>,
                name: Option<String>,
                interval: f64,
            ) -> PyResult<crate::triggers::Subscription> {
                let types = crate::sync::statuses(types.as_ref())?.join(",");
                let interval = crate::convert::seconds("interval", Some(interval))?
                    .unwrap_or(std::time::Duration::from_millis(200))
                    .max(std::time::Duration::from_millis(10));
                crate::triggers::subscribe(
                    self.engine.core.clone(),
                    callback,
                    (!types.is_empty()).then_some(types),
                    name,
                    interval,
                    self.engine.child_token(),
                )
                .map_err(PyErr::from)
            }

            /// Stop the in-process worker; running jobs finish.
            fn close(&self) {
                self.engine.close();
            }

            $($own)*
        }
    };
}

pub(crate) use skynet_methods;
