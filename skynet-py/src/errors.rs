//! Core errors as the Python exception classes of `skynet.errors`.
//!
//! The classes are defined in Python (so they can also derive from
//! `ValueError`, `LookupError`, `TimeoutError`) and looked up here when an
//! error is raised; the mapping is one `match` on [`ErrorKind`].

use crate::types::{Decision, Job};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use skynet_core::{Error as CoreError, ErrorKind, Job as CoreJob};

/// Why a binding call failed: the engine refused (a core error, maybe
/// with the job it concerns) or Python code raised.
pub(crate) enum Failure {
    /// A core error.
    Core(CoreError),
    /// `run(approve=False)` on a job that waits for a human: the job is
    /// attached so the caller can approve it later.
    NeedsApproval(Box<CoreJob>),
    /// An exception raised by Python code (an approval callback).
    Py(PyErr),
}

impl From<CoreError> for Failure {
    fn from(e: CoreError) -> Self {
        Failure::Core(e)
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Py(e)
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> Self {
        Python::attach(|py| f.into_pyerr(py))
    }
}

/// The `skynet.errors` class for a kind.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidInput => "InvalidInput",
        ErrorKind::Planning => "PlanningError",
        ErrorKind::Forbidden => "PolicyForbidden",
        ErrorKind::ApprovalRequired => "ApprovalRequired",
        ErrorKind::StaleApproval => "StaleApproval",
        ErrorKind::NotFound => "JobNotFound",
        ErrorKind::Conflict => "Conflict",
        ErrorKind::LeaseLost => "LeaseLost",
        ErrorKind::Provider => "ProviderError",
        ErrorKind::Timeout => "Timeout",
        ErrorKind::Cancelled => "Cancelled",
        // Storage and I/O, and any kind added later.
        _ => "StoreError",
    }
}

impl Failure {
    /// The Python exception for this failure.
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            Failure::Py(e) => e,
            Failure::Core(e) => core_error(py, &e, None).unwrap_or_else(|fallback| fallback),
            Failure::NeedsApproval(job) => {
                let e = CoreError::ApprovalRequired(job.id.clone());
                core_error(py, &e, Some(*job)).unwrap_or_else(|fallback| fallback)
            }
        }
    }
}

/// Build the exception: class by kind, message from core, and the details
/// a program needs (`job_id`, `decision`, `given`/`actual` hashes).
fn core_error(py: Python<'_>, e: &CoreError, job: Option<CoreJob>) -> PyResult<PyErr> {
    let kind = e.kind();
    let details = PyDict::new(py);
    details.set_item("code", kind.code())?;
    match e {
        CoreError::Forbidden { decision } => {
            details.set_item("decision", Decision::from((**decision).clone()))?;
        }
        CoreError::ApprovalRequired(id) | CoreError::LeaseLost(id) => {
            details.set_item("job_id", id.as_str())?;
        }
        CoreError::StaleApproval { job, given, actual } => {
            details.set_item("job_id", job.as_str())?;
            details.set_item("given", given)?;
            details.set_item("actual", actual)?;
        }
        CoreError::JobNotFound(id) => details.set_item("job_id", id)?,
        CoreError::InvalidTransition { job, from, to } => {
            details.set_item("job_id", job.as_str())?;
            details.set_item("status", from.as_str())?;
            details.set_item("to", to.as_str())?;
        }
        _ => {}
    }
    if let Some(job) = job {
        details.set_item("job", Job::from(job))?;
    }
    let class = py.import("skynet.errors")?.getattr(class_name(kind))?;
    let exc = class.call((e.to_string(),), Some(&details))?;
    Ok(PyErr::from_value(exc))
}
