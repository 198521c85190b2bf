//! `skynet.Skynet`: the blocking API. Every call releases the GIL while
//! the engine works and can be interrupted with Ctrl-C.

use crate::blocking::block_on;
use crate::engine::{self, Approve, DEFAULT_ACTOR, Engine, Intent};
use crate::errors::Failure;
use crate::methods::skynet_methods;
use crate::options::OpenOptions;
use crate::types::Decision;
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::future::Future;
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

/// Run an engine future to its end with the GIL released.
pub(crate) fn blocking<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    block_on(py, fut)?.into_bound_py_any(py)
}

skynet_methods!(Skynet, blocking, {
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

    /// What the engine remembers: ``store``, ``search``, ``similar``,
    /// ``get``, ``forget``, ``stats``.
    #[getter]
    fn memory(&self) -> crate::memory::Memories {
        crate::memory::Memories {
            core: self.engine.core.clone(),
        }
    }

    /// Recurring intents: ``add``, ``list``, ``pause``, ``resume``, ``remove``.
    #[getter]
    fn schedules(&self) -> crate::autonomy::Schedules {
        crate::autonomy::Schedules {
            core: self.engine.core.clone(),
        }
    }

    /// Triggers: ``add``, ``list``, ``pause``, ``resume``, ``remove``.
    #[getter]
    fn triggers(&self) -> crate::triggers::Triggers {
        crate::triggers::Triggers {
            core: self.engine.core.clone(),
        }
    }

    /// Webhooks: ``add``, ``list``, ``test``, ``remove``, ``deliveries``, ``redeliver``.
    #[getter]
    fn webhooks(&self) -> crate::webhooks::Webhooks {
        crate::webhooks::Webhooks {
            core: self.engine.core.clone(),
        }
    }

    /// The initiative engine: ``status``, ``pause``, ``resume``.
    #[getter]
    fn initiative(&self) -> crate::autonomy::Initiative {
        crate::autonomy::Initiative {
            core: self.engine.core.clone(),
        }
    }

    fn __repr__(&self) -> String {
        format!("<skynet.{:?}>", self.engine.core)
    }
});
