//! Python objects as engine plug-ins: a `skynet.Provider` subclass runs
//! steps, a `skynet.Planner` subclass makes plans.
//!
//! The engine calls them on tokio's blocking pool, attached to Python only
//! for the call. A provider's exception becomes a failed step with the
//! traceback in the job log (the pure-Python driver `_skynet_drive` catches
//! it); a planner's exception becomes a `PlanningError` carrying the
//! traceback. Cancellation and timeouts are honoured at once on the engine
//! side; the Python generator is told to stop at its next line.

use crate::types::Plan;
use async_trait::async_trait;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use skynet_core::planner::PlanRequest as CorePlanRequest;
use skynet_core::provider::{
    Capabilities, ExecContext, ExitKind, Health, Output, OutputLine, Provider, Stream,
};
use skynet_core::{Command as CoreCommand, Error, Plan as CorePlan, Planner, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The text of a Python exception with its traceback, for logs and
/// `PlanningError` messages.
fn traceback_text(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py.import("traceback").and_then(|tb| {
        tb.call_method1(
            "format_exception",
            (err.get_type(py), err.value(py), err.traceback(py)),
        )
    });
    match formatted.and_then(|lines| lines.extract::<Vec<String>>()) {
        Ok(lines) => lines.concat().trim_end().to_string(),
        Err(_) => err.to_string(),
    }
}

/// The registered name of a plug-in: its `name` attribute, else the class
/// name (lower-cased for providers, which are named in requests).
fn plugin_name(obj: &Bound<'_, PyAny>, lower: bool) -> PyResult<String> {
    let name = obj.getattr("name")?;
    if !name.is_none() {
        let name: String = name.extract()?;
        if name.trim().is_empty() {
            return Err(PyValueError::new_err("a plug-in's name must not be empty"));
        }
        return Ok(name);
    }
    let class: String = obj.get_type().name()?.extract()?;
    Ok(if lower {
        class.to_ascii_lowercase()
    } else {
        class
    })
}

/// Check that `obj` is an instance of `skynet.<base>`.
fn require_subclass(obj: &Bound<'_, PyAny>, base: &str) -> PyResult<()> {
    let class = obj.py().import("skynet")?.getattr(base)?;
    if obj.is_instance(&class)? {
        Ok(())
    } else {
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{} is not a skynet.{base}: subclass skynet.{base} and pass an instance",
            obj.repr()?
        )))
    }
}

/// What a Python planner is asked.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct PlanRequest {
    req: CorePlanRequest,
}

#[pymethods]
impl PlanRequest {
    /// The user's words.
    #[getter]
    fn intent(&self) -> String {
        self.req.intent.clone()
    }
    /// The sandbox root the steps run in.
    #[getter]
    fn root(&self) -> String {
        self.req.root.display().to_string()
    }
    /// Free-form context.
    #[getter]
    fn context(&self) -> BTreeMap<String, String> {
        self.req.context.clone()
    }
    /// Constraints the plan must respect.
    #[getter]
    fn constraints(&self) -> Vec<String> {
        self.req.constraints.clone()
    }
    fn __repr__(&self) -> String {
        format!(
            "<PlanRequest {:?} in {}>",
            self.req.intent,
            self.req.root.display()
        )
    }
}

/// A `skynet.Planner` subclass instance, as a core [`Planner`].
pub(crate) struct PyPlanner {
    name: String,
    obj: Arc<Py<PyAny>>,
}

impl PyPlanner {
    /// Wrap a `skynet.Planner` instance.
    pub(crate) fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        require_subclass(obj, "Planner")?;
        Ok(PyPlanner {
            name: format!("python:{}", plugin_name(obj, false)?),
            obj: Arc::new(obj.clone().unbind()),
        })
    }
}

#[async_trait]
impl Planner for PyPlanner {
    fn name(&self) -> &str {
        &self.name
    }

    async fn plan(&self, request: &CorePlanRequest) -> Result<CorePlan> {
        let obj = self.obj.clone();
        let name = self.name.clone();
        let req = request.clone();
        let proposed = tokio::task::spawn_blocking(move || {
            Python::attach(|py| call_planner(py, &obj, &name, req))
        })
        .await
        .map_err(|e| Error::Planning(format!("planner {} crashed: {e}", self.name)))??;
        // Steps made in Python run in the job's sandbox root; the engine
        // judges them afterwards and applies the request's step budget
        // when they run (a step's own timeout stays its own).
        let steps = proposed
            .steps
            .into_iter()
            .map(|mut step| {
                step.command.cwd = request.root.join(&step.command.cwd);
                step.decision = None;
                step
            })
            .collect();
        Ok(CorePlan::new(proposed.summary, steps, &self.name))
    }
}

fn call_planner(
    py: Python<'_>,
    obj: &Py<PyAny>,
    name: &str,
    req: CorePlanRequest,
) -> Result<CorePlan> {
    let out = obj
        .bind(py)
        .call_method1("plan", (PlanRequest { req },))
        .map_err(|e| {
            Error::Planning(format!(
                "planner {name} raised an exception:\n{}",
                traceback_text(py, &e)
            ))
        })?;
    let plan = out.cast::<Plan>().map_err(|_| {
        let got = out
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        Error::Planning(format!(
            "planner {name} returned a {got}; return a skynet.Plan"
        ))
    })?;
    Ok(plan.get().plan.clone())
}

/// The command a Python provider is asked to run.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Command {
    cmd: CoreCommand,
}

#[pymethods]
impl Command {
    /// Program and arguments (never a shell string).
    #[getter]
    fn argv(&self) -> Vec<String> {
        self.cmd.argv.clone()
    }
    /// Working directory (inside the sandbox root).
    #[getter]
    fn cwd(&self) -> String {
        self.cmd.cwd.display().to_string()
    }
    /// Extra environment variables.
    #[getter]
    fn env<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.cmd.env {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
    /// Text for the program's stdin.
    #[getter]
    fn stdin(&self) -> Option<String> {
        self.cmd.stdin.clone()
    }
    fn __repr__(&self) -> String {
        format!(
            "<Command {:?} in {}>",
            self.cmd.argv,
            self.cmd.cwd.display()
        )
    }
}

/// Shared between the engine side of a Python step and its `LineSink`.
struct SinkState {
    tx: mpsc::Sender<OutputLine>,
    stop: CancellationToken,
    deadline: Option<Instant>,
    cap: u64,
    bytes: AtomicU64,
    truncated: AtomicBool,
    timed_out: AtomicBool,
}

impl SinkState {
    /// The step must end now (cancelled, or its time ran out).
    fn should_stop(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.timed_out.store(true, Ordering::SeqCst);
        }
        self.stop.is_cancelled() || self.timed_out.load(Ordering::SeqCst)
    }
}

/// Where a Python provider's lines go; `emit(stream, text)` returns False
/// when the step must stop.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct LineSink {
    state: Arc<SinkState>,
}

#[pymethods]
impl LineSink {
    fn __call__(&self, py: Python<'_>, stream: &str, text: String) -> PyResult<bool> {
        let stream = match stream {
            "stdout" => Stream::Stdout,
            "stderr" => Stream::Stderr,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown stream {other:?}: yield text for stdout or (\"stderr\", text)"
                )));
            }
        };
        let s = &self.state;
        if s.should_stop() {
            return Ok(false);
        }
        let size = text.len() as u64 + 1;
        let before = s.bytes.fetch_add(size, Ordering::SeqCst);
        let line = if before + size <= s.cap {
            OutputLine { stream, text }
        } else if !s.truncated.swap(true, Ordering::SeqCst) {
            OutputLine {
                stream: Stream::System,
                text: format!("[output truncated at {} bytes]", s.cap),
            }
        } else {
            return Ok(true);
        };
        let sent = match s.tx.try_send(line) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(line)) => {
                // Wait for the log writer without holding the GIL.
                let tx = s.tx.clone();
                py.detach(move || tx.blocking_send(line).is_ok())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        };
        Ok(sent && !s.should_stop())
    }
}

/// What a Python provider knows about the step it runs.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct StepContext {
    job_id: String,
    step: usize,
    root: String,
    timeout: Option<f64>,
    state: Arc<SinkState>,
}

#[pymethods]
impl StepContext {
    /// The job's id.
    #[getter]
    fn job_id(&self) -> String {
        self.job_id.clone()
    }
    /// The step's index in the plan (0-based).
    #[getter]
    fn step(&self) -> usize {
        self.step
    }
    /// The sandbox root.
    #[getter]
    fn root(&self) -> String {
        self.root.clone()
    }
    /// Seconds this step may take (None: no limit).
    #[getter]
    fn timeout(&self) -> Option<f64> {
        self.timeout
    }
    /// True once the step was cancelled or ran out of time: stop soon.
    #[getter]
    fn cancelled(&self) -> bool {
        self.state.should_stop()
    }
    fn __repr__(&self) -> String {
        format!("<StepContext job {} step {}>", self.job_id, self.step)
    }
}

/// A `skynet.Provider` subclass instance, as a core [`Provider`].
pub(crate) struct PyProvider {
    name: String,
    /// Its `isolated` attribute: it confines what a step can do, so
    /// READ_ONLY plans placed on it may run without approval.
    isolated: bool,
    obj: Arc<Py<PyAny>>,
}

impl PyProvider {
    /// Wrap a `skynet.Provider` instance.
    pub(crate) fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        require_subclass(obj, "Provider")?;
        Ok(PyProvider {
            name: plugin_name(obj, true)?,
            isolated: obj.getattr("isolated")?.is_truthy()?,
            obj: Arc::new(obj.clone().unbind()),
        })
    }
}

#[async_trait]
impl Provider for PyProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            actions: Vec::new(),
            isolated: self.isolated,
            max_concurrency: 1,
        }
    }

    async fn health(&self) -> Health {
        let obj = self.obj.clone();
        let answer = tokio::task::spawn_blocking(move || {
            Python::attach(|py| -> std::result::Result<Health, String> {
                let h = obj
                    .bind(py)
                    .call_method0("health")
                    .map_err(|e| traceback_text(py, &e))?;
                if let Ok((healthy, message)) = h.extract::<(bool, String)>() {
                    return Ok(Health { healthy, message });
                }
                let healthy = h.is_truthy().map_err(|e| e.to_string())?;
                Ok(Health {
                    healthy,
                    message: if healthy { "ok" } else { "unhealthy" }.into(),
                })
            })
        })
        .await;
        match answer {
            Ok(Ok(h)) => h,
            Ok(Err(message)) => Health {
                healthy: false,
                message,
            },
            Err(e) => Health {
                healthy: false,
                message: format!("health check crashed: {e}"),
            },
        }
    }

    async fn execute(&self, command: &CoreCommand, ctx: ExecContext) -> Result<Output> {
        // A Python provider is handed one argv; never half a pipeline.
        skynet_core::provider::refuse_pipeline(
            &self.name,
            command,
            "a Python provider is handed one argv",
        )?;
        let started = Instant::now();
        let state = Arc::new(SinkState {
            tx: ctx.output.clone(),
            stop: ctx.cancel.child_token(),
            deadline: ctx.timeout.map(|t| started + t),
            cap: ctx.max_output_bytes,
            bytes: AtomicU64::new(0),
            truncated: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
        });
        let py_ctx = StepContext {
            job_id: ctx.job_id.to_string(),
            step: ctx.step,
            root: ctx.root.display().to_string(),
            timeout: ctx.timeout.map(|t| t.as_secs_f64()),
            state: state.clone(),
        };
        let py_cmd = Command {
            cmd: command.clone(),
        };
        let obj = self.obj.clone();
        let sink_state = state.clone();
        let call = tokio::task::spawn_blocking(move || {
            Python::attach(|py| -> std::result::Result<i32, String> {
                let sink = LineSink { state: sink_state };
                obj.bind(py)
                    .call_method1("_skynet_drive", (py_cmd, py_ctx, sink))
                    .and_then(|code| code.extract::<i32>())
                    .map_err(|e| traceback_text(py, &e))
            })
        });
        let deadline = async {
            match ctx.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let (exit, exit_code) = tokio::select! {
            joined = call => match joined {
                Ok(Ok(_)) if ctx.cancel.is_cancelled() => (ExitKind::Cancelled, None),
                Ok(Ok(_)) if state.timed_out.load(Ordering::SeqCst) => (ExitKind::TimedOut, None),
                Ok(Ok(code)) => (ExitKind::Exited, Some(code)),
                Ok(Err(message)) => {
                    return Err(Error::Provider { provider: self.name.clone(), message });
                }
                Err(e) => {
                    return Err(Error::Provider {
                        provider: self.name.clone(),
                        message: format!("the Python call crashed: {e}"),
                    });
                }
            },
            _ = ctx.cancel.cancelled() => (ExitKind::Cancelled, None),
            _ = deadline => {
                state.timed_out.store(true, Ordering::SeqCst);
                state.stop.cancel();
                (ExitKind::TimedOut, None)
            }
        };
        state.stop.cancel();
        Ok(Output {
            exit,
            exit_code,
            output_bytes: state.bytes.load(Ordering::SeqCst),
            truncated: state.truncated.load(Ordering::SeqCst),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            failed_stage: None,
        })
    }
}
