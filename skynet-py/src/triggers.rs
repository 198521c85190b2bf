//! `sk.triggers` (when an event matches, submit an intent) and
//! `sk.subscribe(callback)` (Python callables fed with the global event
//! log's events from a background task).
//!
//! A subscription reads the log in commit order on the engine's tokio
//! runtime and calls the callable on tokio's blocking pool, attached to
//! Python only for the call. Without a ``name`` it is best-effort: it
//! starts at the log's head when made, keeps its position in memory, and
//! delivers each event once while it runs. With a ``name`` it is a durable
//! consumer: its position is stored in the ledger after every page, so a
//! new subscription of that name (a restarted program) resumes where the
//! last one stopped, and delivery is at least once (an event whose page
//! was not stored yet is delivered again). An exception in the callable
//! is printed with its traceback and counted in ``errors``; the event
//! counts as delivered and the subscription goes on.

use crate::convert::{Json, datetime, json_to_py, rfc3339, to_py_dict};
use crate::errors::Failure;
use pyo3::prelude::*;
use skynet_core::events::{EventPosition, EventType, SystemEvent as CoreEvent};
use skynet_core::store::event_log::{EventLogQuery, LogView};
use skynet_core::triggers::{NewTrigger, parse_conditions};
use skynet_core::{Error, Principal, Skynet as Core, Visibility};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn json(value: impl serde::Serialize) -> Result<Json, Failure> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| Failure::Core(Error::InvalidInput(format!("encoding a result: {e}"))))
}

/// A new trigger from Python's arguments.
pub(crate) fn new_trigger(
    intent: String,
    on: String,
    conditions: Option<BTreeMap<String, String>>,
    max: Option<String>,
    name: Option<String>,
    root: Option<std::path::PathBuf>,
) -> Result<NewTrigger, Failure> {
    let conditions = match conditions {
        Some(c) => {
            let pairs: Vec<String> = c.iter().map(|(k, v)| format!("{k}={v}")).collect();
            parse_conditions(pairs.iter().map(String::as_str))?
        }
        None => BTreeMap::new(),
    };
    Ok(NewTrigger {
        name,
        on,
        conditions,
        intent,
        rate: max.as_deref().map(str::parse).transpose()?,
        root,
        base: None,
    })
}

pub(crate) async fn add(core: Core, new: Result<NewTrigger, Failure>) -> Result<Json, Failure> {
    json(core.add_trigger(&Principal::local(), new?).await?)
}

pub(crate) async fn list(core: Core) -> Result<Json, Failure> {
    json(core.triggers(&Visibility::All).await?)
}

pub(crate) async fn pause(core: Core, id: String) -> Result<Json, Failure> {
    json(core.pause_trigger(&id, &Visibility::All).await?)
}

pub(crate) async fn resume(core: Core, id: String) -> Result<Json, Failure> {
    json(core.resume_trigger(&id, &Visibility::All).await?)
}

pub(crate) async fn remove(core: Core, id: String) -> Result<(), Failure> {
    Ok(core.remove_trigger(&id, &Visibility::All).await?)
}

/// Generate the `#[pymethods]` of a triggers handle; `$finish` turns an
/// engine future into the Python result.
macro_rules! trigger_methods {
    ($class:ident, $finish:path) => {
        #[pymethods]
        impl $class {
            /// Add a trigger: when an event of type ``on`` (names or
            /// prefixes, comma separated: ``"provider.degraded"``,
            /// ``"job.*"``) whose payload fields equal ``where`` happens,
            /// submit ``intent``; at most ``max`` firings (``"3/hour"``,
            /// the default). The intent is planned and judged once now.
            #[pyo3(signature = (intent, on, *, r#where = None, max = None, name = None, root = None))]
            #[allow(clippy::too_many_arguments)]
            fn add<'py>(
                &self,
                py: Python<'py>,
                intent: String,
                on: String,
                r#where: Option<BTreeMap<String, String>>,
                max: Option<String>,
                name: Option<String>,
                root: Option<std::path::PathBuf>,
            ) -> PyResult<Bound<'py, PyAny>> {
                let new = $crate::triggers::new_trigger(intent, on, r#where, max, name, root);
                $finish(py, $crate::triggers::add(self.core.clone(), new))
            }

            /// Every trigger, oldest first.
            fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::triggers::list(self.core.clone()))
            }

            /// Pause a trigger: events fire it no more until resumed.
            fn pause<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::triggers::pause(self.core.clone(), id))
            }

            /// Resume a trigger, for events from now on.
            fn resume<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::triggers::resume(self.core.clone(), id))
            }

            /// Remove a trigger (its jobs stay).
            fn remove<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::triggers::remove(self.core.clone(), id))
            }
        }
    };
}

/// `Skynet.triggers`: the blocking handle.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Triggers {
    pub(crate) core: Core,
}

/// `AsyncSkynet.triggers`: each method returns an awaitable.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct AsyncTriggers {
    pub(crate) core: Core,
}

trigger_methods!(Triggers, crate::sync::blocking);
trigger_methods!(AsyncTriggers, crate::aio::awaitable);

/// One event of the global log (see docs/events.md), as a subscription
/// delivers it.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct SystemEvent {
    event: CoreEvent,
}

#[pymethods]
impl SystemEvent {
    /// Its id in the log.
    #[getter]
    fn id(&self) -> i64 {
        self.event.id
    }
    /// Its position in commit order (``XID-ID``), to resume after.
    #[getter]
    fn position(&self) -> String {
        self.event.position.clone()
    }
    /// Its type (``job.failed``, ``provider.degraded``, ...).
    #[getter]
    fn r#type(&self) -> &'static str {
        self.event.event_type.as_str()
    }
    /// When.
    #[getter]
    fn at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime(py, &self.event.at)
    }
    /// Who reported it (``ledger``, ``sentinel``, ``trigger``, ...).
    #[getter]
    fn source(&self) -> String {
        self.event.source.clone()
    }
    /// The job it is about, if any.
    #[getter]
    fn job(&self) -> Option<String> {
        self.event.job.as_ref().map(ToString::to_string)
    }
    /// The typed payload as a dict (fields per type in docs/events.md).
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.event.payload.to_json())
    }
    /// The event as plain Python objects.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_dict(py, &self.event)
    }
    fn __repr__(&self) -> String {
        format!(
            "<SystemEvent {} {} at {}>",
            self.event.id,
            self.event.event_type,
            rfc3339(&self.event.at)
        )
    }
}

/// What a running subscription has done.
#[derive(Default)]
struct Counts {
    delivered: AtomicU64,
    errors: AtomicU64,
}

/// A running subscription: ``stop()`` ends it (and so does closing the
/// engine); ``delivered`` and ``errors`` count calls and exceptions.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Subscription {
    stop: CancellationToken,
    counts: Arc<Counts>,
    name: Option<String>,
}

#[pymethods]
impl Subscription {
    /// Stop delivering (an event being delivered finishes first).
    fn stop(&self) {
        self.stop.cancel();
    }
    /// Whether it still delivers.
    #[getter]
    fn active(&self) -> bool {
        !self.stop.is_cancelled()
    }
    /// Events handed to the callable so far.
    #[getter]
    fn delivered(&self) -> u64 {
        self.counts.delivered.load(Ordering::Relaxed)
    }
    /// Calls that raised.
    #[getter]
    fn errors(&self) -> u64 {
        self.counts.errors.load(Ordering::Relaxed)
    }
    /// The durable consumer name, if it has one.
    #[getter]
    fn name(&self) -> Option<String> {
        self.name.clone()
    }
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }
    fn __exit__(
        &self,
        _exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> bool {
        self.stop.cancel();
        false
    }
    fn __repr__(&self) -> String {
        format!(
            "<Subscription {} delivered={} errors={}{}>",
            self.name.as_deref().unwrap_or("(in memory)"),
            self.delivered(),
            self.errors(),
            if self.active() { "" } else { " stopped" }
        )
    }
}

/// Start a subscription of `callback` to `types` (empty: all), stopped by
/// `stop` (a child of the engine's shutdown).
pub(crate) fn subscribe(
    core: Core,
    callback: Py<PyAny>,
    types: Option<String>,
    name: Option<String>,
    interval: Duration,
    stop: CancellationToken,
) -> Result<Subscription, Failure> {
    let types = types
        .as_deref()
        .map(EventType::parse_filter)
        .transpose()?
        .unwrap_or_default();
    if let Some(n) = &name {
        // A name the ledger refuses is refused now, not in the task.
        if n.trim().is_empty() || n.len() > skynet_core::store::event_log::MAX_CONSUMER_NAME {
            return Err(Error::InvalidInput(format!(
                "subscription name {n:?} must be 1 to {} characters",
                skynet_core::store::event_log::MAX_CONSUMER_NAME
            ))
            .into());
        }
    }
    let counts = Arc::new(Counts::default());
    let task = Delivery {
        core,
        callback: Arc::new(callback),
        types,
        name: name.clone(),
        interval,
        stop: stop.clone(),
        counts: counts.clone(),
    };
    pyo3_async_runtimes::tokio::get_runtime().spawn(task.run());
    Ok(Subscription { stop, counts, name })
}

/// The background task of one subscription.
struct Delivery {
    core: Core,
    callback: Arc<Py<PyAny>>,
    types: Vec<EventType>,
    name: Option<String>,
    interval: Duration,
    stop: CancellationToken,
    counts: Arc<Counts>,
}

impl Delivery {
    async fn start(&self) -> skynet_core::Result<EventPosition> {
        let store = self.core.store();
        if let Some(name) = &self.name
            && let Some(at) = store.consumer_position(name).await?
        {
            return Ok(at);
        }
        store.event_log_head().await
    }

    async fn run(self) {
        let mut after = loop {
            match self.start().await {
                Ok(at) => break at,
                Err(e) => {
                    eprintln!("skynet: a subscription could not start: {e}; retrying");
                    tokio::select! {
                        _ = self.stop.cancelled() => return,
                        _ = tokio::time::sleep(self.interval.max(Duration::from_secs(1))) => {}
                    }
                }
            }
        };
        while !self.stop.is_cancelled() {
            let page = self
                .core
                .store()
                .read_event_log(&EventLogQuery {
                    after,
                    limit: 200,
                    types: self.types.clone(),
                    job: None,
                    view: LogView::all(),
                })
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => {
                    eprintln!("skynet: a subscription could not read the event log: {e}");
                    tokio::select! {
                        _ = self.stop.cancelled() => return,
                        _ = tokio::time::sleep(self.interval.max(Duration::from_secs(1))) => {}
                    }
                    continue;
                }
            };
            if let Some(name) = &self.name
                && let Err(e) =
                    skynet_core::events::consumer::note_gap(self.core.store(), name, after, &page)
                        .await
            {
                eprintln!("skynet: a subscription could not record its gap: {e}");
            }
            for event in page.events {
                if self.stop.is_cancelled() {
                    return;
                }
                self.deliver(event).await;
            }
            if page.next > after {
                after = page.next;
                if let Some(name) = &self.name
                    && let Err(e) = self.core.store().advance_consumer(name, after).await
                {
                    eprintln!("skynet: a subscription could not store its position: {e}");
                }
                // More may follow at once.
                continue;
            }
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// Call the callable with one event on the blocking pool; an exception
    /// is printed and counted, never fatal.
    async fn deliver(&self, event: CoreEvent) {
        let callback = self.callback.clone();
        let counts = self.counts.clone();
        let called = tokio::task::spawn_blocking(move || {
            Python::attach(|py| {
                let arg = SystemEvent { event };
                if let Err(err) = callback.call1(py, (arg,)) {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    err.print(py);
                }
                counts.delivered.fetch_add(1, Ordering::Relaxed);
            })
        })
        .await;
        if let Err(e) = called {
            eprintln!("skynet: a subscription's callback could not run: {e}");
        }
    }
}
