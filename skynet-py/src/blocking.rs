//! Running engine futures from synchronous Python: on the shared tokio
//! runtime, with the GIL released, interruptible by Ctrl-C.

use crate::errors::Failure;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::time::Duration;

/// How often a blocked call wakes to let Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// The runtime every engine future runs on (shared with `AsyncSkynet`).
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Run `fut` to completion on the runtime while this thread does not hold
/// the GIL, so other Python threads keep running. Every
/// [`SIGNAL_CHECK`] the thread re-attaches to run Python's signal
/// handlers: a `KeyboardInterrupt` aborts the future and is raised.
pub(crate) fn block_on<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, Failure>> + Send + 'static,
    T: Send + 'static,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(PyRuntimeError::new_err(
            "a blocking skynet call was made from inside the engine (a provider or planner \
             plug-in); plug-ins must not call back into the engine synchronously",
        ));
    }
    let rt = runtime();
    let mut handle = rt.spawn(fut);
    loop {
        let step = py.detach(|| {
            rt.block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut handle).await })
        });
        match step {
            Ok(Ok(result)) => return result.map_err(|f| f.into_pyerr(py)),
            Ok(Err(join)) => {
                return Err(PyRuntimeError::new_err(format!(
                    "the engine task failed: {join}"
                )));
            }
            Err(_still_running) => {
                if let Err(interrupt) = py.check_signals() {
                    handle.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}
