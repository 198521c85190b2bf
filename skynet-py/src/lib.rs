//! `skynet._skynet`: the native half of the `skynet` Python package.
//!
//! Thin wrappers over [`skynet_core::Skynet`]: every rule (policy,
//! approval binding, state transitions) stays in core; this crate only
//! converts arguments and results, releases the GIL while the engine
//! works, and lets Python objects act as providers and planners.

mod aio;
mod autonomy;
mod blocking;
mod convert;
mod engine;
mod errors;
mod memory;
mod methods;
mod options;
mod plugins;
mod sync;
mod triggers;
mod types;
mod webhooks;

use pyo3::prelude::*;

/// The extension module; `skynet/__init__.py` re-exports what users need.
#[pymodule]
fn _skynet(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<sync::Skynet>()?;
    m.add_class::<aio::AsyncSkynet>()?;
    m.add_class::<types::Job>()?;
    m.add_class::<types::Plan>()?;
    m.add_class::<types::Step>()?;
    m.add_class::<types::Decision>()?;
    m.add_class::<types::LogLine>()?;
    m.add_class::<types::Event>()?;
    m.add_class::<types::EventLogPage>()?;
    m.add_class::<types::Artifact>()?;
    m.add_class::<memory::Memories>()?;
    m.add_class::<autonomy::Schedules>()?;
    m.add_class::<autonomy::AsyncSchedules>()?;
    m.add_class::<autonomy::Initiative>()?;
    m.add_class::<autonomy::AsyncInitiative>()?;
    m.add_class::<triggers::Triggers>()?;
    m.add_class::<triggers::AsyncTriggers>()?;
    m.add_class::<triggers::SystemEvent>()?;
    m.add_class::<triggers::Subscription>()?;
    m.add_class::<webhooks::Webhooks>()?;
    m.add_class::<webhooks::AsyncWebhooks>()?;
    m.add_class::<memory::AsyncMemories>()?;
    m.add_class::<memory::MemoryRecord>()?;
    m.add_class::<memory::MemoryHit>()?;
    m.add_class::<plugins::Command>()?;
    m.add_class::<plugins::StepContext>()?;
    m.add_class::<plugins::PlanRequest>()?;
    m.add_class::<plugins::LineSink>()?;
    m.add_function(wrap_pyfunction!(errors::_raise_core_error, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
