//! The constructor arguments shared by `Skynet` and `AsyncSkynet`.

use crate::plugins::{PyPlanner, PyProvider};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use skynet_core::{Planner, Provider};
use std::path::PathBuf;
use std::sync::Arc;

/// How to open an engine; built while holding the GIL, used without it.
pub(crate) struct OpenOptions {
    pub(crate) database_url: Option<String>,
    pub(crate) home: Option<PathBuf>,
    pub(crate) planner: Option<Arc<dyn Planner>>,
    pub(crate) providers: Vec<Arc<dyn Provider>>,
    pub(crate) policy: Option<PathBuf>,
    pub(crate) default_provider: Option<String>,
    /// Run an in-process worker with this many concurrent jobs (0: none).
    pub(crate) workers: usize,
}

impl OpenOptions {
    /// Read the Python arguments: `planner` is `"rules"` (or None) or a
    /// `skynet.Planner`; `providers` is a list of `skynet.Provider`s.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_python(
        database_url: Option<String>,
        home: Option<PathBuf>,
        planner: Option<&Bound<'_, PyAny>>,
        providers: Option<Vec<Bound<'_, PyAny>>>,
        policy: Option<PathBuf>,
        default_provider: Option<String>,
        worker: bool,
        concurrency: usize,
    ) -> PyResult<Self> {
        let planner: Option<Arc<dyn Planner>> = match planner {
            None => None,
            Some(p) if p.is_none() => None,
            Some(p) => match p.extract::<String>() {
                Ok(name) if name == "rules" => None,
                Ok(name) => {
                    return Err(PyValueError::new_err(format!(
                        "unknown planner {name:?}: use \"rules\" or an instance of a skynet.Planner subclass"
                    )));
                }
                Err(_) => Some(Arc::new(PyPlanner::new(p)?)),
            },
        };
        let providers = providers
            .unwrap_or_default()
            .iter()
            .map(|p| PyProvider::new(p).map(|p| Arc::new(p) as Arc<dyn Provider>))
            .collect::<PyResult<Vec<_>>>()?;
        if worker && concurrency == 0 {
            return Err(PyValueError::new_err(
                "concurrency must be at least 1 (or pass worker=False)",
            ));
        }
        Ok(OpenOptions {
            database_url,
            home,
            planner,
            providers,
            policy,
            default_provider,
            workers: if worker { concurrency } else { 0 },
        })
    }
}
