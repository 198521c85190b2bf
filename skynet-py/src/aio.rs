//! `skynet.AsyncSkynet`: the same API as awaitables, on the engine's
//! tokio runtime (pyo3-async-runtimes bridges to the running asyncio loop).

use crate::blocking::block_on;
use crate::engine::{self, Approve, Engine, Intent};
use crate::errors::Failure;
use crate::methods::skynet_methods;
use crate::options::OpenOptions;
use crate::sync::{actor, statuses};
use crate::types::Decision;
use pyo3::prelude::*;
use std::future::Future;
use std::path::PathBuf;

/// Hand an engine future to asyncio.
pub(crate) fn awaitable<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
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

skynet_methods!(AsyncSkynet, awaitable, {
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

    /// What the engine remembers: ``store``, ``search``, ``similar``,
    /// ``get``, ``forget``, ``stats``.
    #[getter]
    fn memory(&self) -> crate::memory::AsyncMemories {
        crate::memory::AsyncMemories {
            core: self.engine.core.clone(),
        }
    }

    /// Recurring intents: ``add``, ``list``, ``pause``, ``resume``, ``remove``.
    #[getter]
    fn schedules(&self) -> crate::autonomy::AsyncSchedules {
        crate::autonomy::AsyncSchedules {
            core: self.engine.core.clone(),
        }
    }

    /// Triggers: ``add``, ``list``, ``pause``, ``resume``, ``remove``.
    #[getter]
    fn triggers(&self) -> crate::triggers::AsyncTriggers {
        crate::triggers::AsyncTriggers {
            core: self.engine.core.clone(),
        }
    }

    /// Webhooks: ``add``, ``list``, ``test``, ``remove``, ``deliveries``, ``redeliver``.
    #[getter]
    fn webhooks(&self) -> crate::webhooks::AsyncWebhooks {
        crate::webhooks::AsyncWebhooks {
            core: self.engine.core.clone(),
        }
    }

    /// The initiative engine: ``status``, ``pause``, ``resume``.
    #[getter]
    fn initiative(&self) -> crate::autonomy::AsyncInitiative {
        crate::autonomy::AsyncInitiative {
            core: self.engine.core.clone(),
        }
    }

    fn __repr__(&self) -> String {
        format!("<skynet.Async{:?}>", self.engine.core)
    }
});
