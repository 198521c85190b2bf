//! `sk.schedules` and `sk.initiative`: recurring intents and the
//! initiative engine's switch, for Python, as the local operator (every
//! principal's schedules; new ones are the operator's). `Schedules` and
//! `Initiative` block; their `Async` twins return awaitables. Both call
//! the same core methods as the CLI and the HTTP routes; results are
//! dicts in the HTTP API's shape.

use crate::convert::Json;
use crate::errors::Failure;
use pyo3::prelude::*;
use skynet_core::schedules::{MissedTicks, NewSchedule};
use skynet_core::{Error, Principal, Skynet as Core, Visibility};

fn json(value: impl serde::Serialize) -> Result<Json, Failure> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| Failure::Core(Error::InvalidInput(format!("encoding a result: {e}"))))
}

/// A new schedule from Python's arguments.
pub(crate) fn new_schedule(
    intent: String,
    cron: Option<String>,
    every: Option<String>,
    time_zone: Option<String>,
    catch_up: bool,
    root: Option<std::path::PathBuf>,
) -> Result<NewSchedule, Failure> {
    let every = skynet_core::config::duration_input("every", every.as_deref())?;
    Ok(NewSchedule {
        intent,
        cron,
        every,
        time_zone,
        missed: if catch_up {
            MissedTicks::CatchUp
        } else {
            MissedTicks::Skip
        },
        root,
        base: None,
    })
}

pub(crate) async fn add(core: Core, new: Result<NewSchedule, Failure>) -> Result<Json, Failure> {
    json(core.add_schedule(&Principal::local(), new?).await?)
}

pub(crate) async fn list(core: Core) -> Result<Json, Failure> {
    json(core.schedules(&Visibility::All).await?)
}

pub(crate) async fn pause(core: Core, id: String) -> Result<Json, Failure> {
    json(core.pause_schedule(&id, &Visibility::All).await?)
}

pub(crate) async fn resume(core: Core, id: String) -> Result<Json, Failure> {
    json(core.resume_schedule(&id, &Visibility::All).await?)
}

pub(crate) async fn remove(core: Core, id: String) -> Result<(), Failure> {
    Ok(core.remove_schedule(&id, &Visibility::All).await?)
}

pub(crate) async fn status(core: Core) -> Result<Json, Failure> {
    json(core.initiative_status().await?)
}

pub(crate) async fn switch(core: Core, paused: bool) -> Result<Json, Failure> {
    json(core.set_initiative_paused(paused, "python").await?)
}

/// Generate the `#[pymethods]` of a schedules handle; `$finish` turns an
/// engine future into the Python result.
macro_rules! schedule_methods {
    ($class:ident, $finish:path) => {
        #[pymethods]
        impl $class {
            /// Add a schedule: a five-field ``cron`` expression (read in
            /// ``time_zone``, default UTC) or an interval ``every``
            /// (``"10m"``); ``catch_up`` fires once for ticks missed while
            /// nothing ran. The intent is planned and judged once now.
            #[pyo3(signature = (intent, cron = None, *, every = None, time_zone = None, catch_up = false, root = None))]
            #[allow(clippy::too_many_arguments)]
            fn add<'py>(
                &self,
                py: Python<'py>,
                intent: String,
                cron: Option<String>,
                every: Option<String>,
                time_zone: Option<String>,
                catch_up: bool,
                root: Option<std::path::PathBuf>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let new = $crate::autonomy::new_schedule(intent, cron, every, time_zone, catch_up, root);
                $finish(py, $crate::autonomy::add(self.core.clone(), new))
            }

            /// Every schedule, oldest first.
            fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::autonomy::list(self.core.clone()))
            }

            /// Pause a schedule: it fires nothing until resumed.
            fn pause<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::autonomy::pause(self.core.clone(), id))
            }

            /// Resume a schedule from its next tick.
            fn resume<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::autonomy::resume(self.core.clone(), id))
            }

            /// Remove a schedule (its jobs stay).
            fn remove<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::autonomy::remove(self.core.clone(), id))
            }
        }
    };
}

/// Generate the `#[pymethods]` of an initiative handle.
macro_rules! initiative_methods {
    ($class:ident, $finish:path) => {
        #[pymethods]
        impl $class {
            /// Whether it runs, its kill switch, budgets and their use.
            fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::autonomy::status(self.core.clone()))
            }

            /// Set the kill switch: every process stops proposing within one round.
            fn pause<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::autonomy::switch(self.core.clone(), true))
            }

            /// Clear the kill switch.
            fn resume<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::autonomy::switch(self.core.clone(), false))
            }
        }
    };
}

/// `Skynet.schedules`: the blocking handle.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Schedules {
    pub(crate) core: Core,
}

/// `AsyncSkynet.schedules`: each method returns an awaitable.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct AsyncSchedules {
    pub(crate) core: Core,
}

/// `Skynet.initiative`: the blocking handle.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Initiative {
    pub(crate) core: Core,
}

/// `AsyncSkynet.initiative`: each method returns an awaitable.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct AsyncInitiative {
    pub(crate) core: Core,
}

schedule_methods!(Schedules, crate::sync::blocking);
schedule_methods!(AsyncSchedules, crate::aio::awaitable);
initiative_methods!(Initiative, crate::sync::blocking);
initiative_methods!(AsyncInitiative, crate::aio::awaitable);
