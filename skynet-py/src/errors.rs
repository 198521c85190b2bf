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

/// The `skynet.errors` class for an error: one per kind, and a subclass
/// where a program tells variants of a kind apart.
fn class_name(e: &CoreError) -> &'static str {
    match e {
        CoreError::IdempotencyConflict { .. } => return "IdempotencyConflict",
        CoreError::ScheduleNotFound(_) => return "ScheduleNotFound",
        CoreError::TriggerNotFound(_) => return "TriggerNotFound",
        CoreError::WebhookNotFound(_) | CoreError::DeliveryNotFound(_) => {
            return "WebhookNotFound";
        }
        _ => {}
    }
    match e.kind() {
        ErrorKind::InvalidInput => "InvalidInput",
        ErrorKind::Planning => "PlanningError",
        ErrorKind::Forbidden => "PolicyForbidden",
        ErrorKind::NotPermitted => "NotPermitted",
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
            Failure::Core(e) => {
                core_error(py, &e, e.to_string(), None).unwrap_or_else(|fallback| fallback)
            }
            Failure::NeedsApproval(job) => {
                let e = CoreError::ApprovalRequired(job.id.clone());
                let message = format!(
                    "job {} needs approval ({}): review job.plan, then call approve(job.id, job.plan_hash), \
                     or pass approve=True or a callable to run()",
                    job.id, job.risk
                );
                core_error(py, &e, message, Some(*job)).unwrap_or_else(|fallback| fallback)
            }
        }
    }
}

/// Build the exception: class by kind, message from core, and the details
/// a program needs (`job_id`, `decision`, `given`/`actual` hashes).
fn core_error(
    py: Python<'_>,
    e: &CoreError,
    message: String,
    job: Option<CoreJob>,
) -> PyResult<PyErr> {
    let kind = e.kind();
    let details = PyDict::new(py);
    details.set_item("code", kind.code())?;
    if let Some(decision) = e.decision() {
        details.set_item("decision", Decision::from(decision.clone()))?;
    }
    if let Some(id) = e.job() {
        details.set_item("job_id", id.as_str())?;
    }
    match e {
        CoreError::StaleApproval { given, actual, .. } => {
            details.set_item("given", given)?;
            details.set_item("actual", actual)?;
        }
        CoreError::JobNotFound(id) => details.set_item("job_id", id)?,
        CoreError::InvalidTransition { from, to, .. } => {
            details.set_item("status", from.as_str())?;
            details.set_item("to", to.as_str())?;
        }
        _ => {}
    }
    if let Some(job) = job {
        details.set_item("job", Job::from(job))?;
    }
    let class = py.import("skynet.errors")?.getattr(class_name(e))?;
    let exc = class.call((message,), Some(&details))?;
    Ok(PyErr::from_value(exc))
}

/// Raise the exception a core error of kind `code` maps to, built by the
/// same code path as real errors. The test suite uses it for the kinds the
/// API cannot be made to produce on demand (a lost lease, a crashed
/// provider).
#[pyfunction]
pub(crate) fn _raise_core_error(code: &str) -> PyResult<()> {
    let id = skynet_core::JobId::new();
    let e = match code {
        "invalid_input" => CoreError::InvalidInput("test".into()),
        "planning_failed" => CoreError::Planning("test".into()),
        "forbidden" => CoreError::Forbidden {
            decision: Box::new(skynet_core::Decision {
                risk: skynet_core::RiskLevel::Admin,
                verdict: skynet_core::Verdict::Forbid,
                reasons: vec!["test".into()],
                rule: Some("test".into()),
            }),
        },
        "approval_required" => CoreError::ApprovalRequired(id),
        "stale_approval" => CoreError::StaleApproval {
            job: id,
            given: "a".into(),
            actual: "b".into(),
        },
        "not_permitted" => CoreError::NotPermitted("test".into()),
        "not_found" => CoreError::JobNotFound(id.to_string()),
        "conflict" => CoreError::Conflict("test".into()),
        "idempotency_conflict" => CoreError::IdempotencyConflict {
            key: "test".into(),
            job: id,
        },
        "lease_lost" => CoreError::LeaseLost(id),
        "provider_error" => CoreError::Provider {
            provider: "test".into(),
            message: "test".into(),
        },
        "timeout" => CoreError::Timeout("test".into()),
        "cancelled" => CoreError::Cancelled,
        "internal" => CoreError::Store("test".into()),
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown error code {other:?}"
            )));
        }
    };
    Err(Failure::Core(e).into())
}
