//! # skynet-core
//!
//! The SKYNET library: turn a plain-language intent into a plan of typed
//! steps, classify every concrete command with a policy engine, gate risky
//! plans on a human approval bound to the plan's hash, queue the job
//! durably and run it on execution providers, recording everything.
//!
//! Start with [`Skynet::builder`].
//!
//! Cargo features (all on by default): `sqlite`, `postgres` (ledger
//! backends), `docker`, `ssh`, `gateway` (providers), `llm` (the model
//! clients) and `sandbox` (bubblewrap and Landlock for local steps).
//! Configuring something a build left out is an error that names the
//! feature to rebuild with.

// Steps run as Unix process groups (nix, signals, bubblewrap, Landlock):
// say so at once rather than fail deep in a dependency.
#[cfg(not(unix))]
compile_error!(
    "skynet-core supports Unix only (Linux, macOS): it runs steps as Unix process groups"
);

pub mod action;
pub mod artifact;
pub mod chat;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod events;
pub mod initiative;
pub mod job;
pub mod llm;
pub mod memory;
pub mod plan;
pub mod planner;
pub mod policy;
pub mod principal;
pub mod probe;
pub mod provider;
pub mod redact;
pub mod retention;
pub mod retry;
pub mod risk;
pub mod scheduler;
pub mod schedules;
pub mod sentinel;
pub mod store;
pub mod timeouts;
pub mod triggers;
pub mod view;
pub mod viewer;

/// The README's Rust examples, compiled by `cargo test --doc` so they
/// cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub use action::Action;
pub use engine::{
    EngineConfig, Execution, Gate, JobEvent, MemoryStats, PresignedArtifact, RetryRequest,
    ReviewRequest, RunHere, SimilarTo, Skynet, SkynetBuilder, SubmitRequest, WorkerOptions,
    WorkerReport,
};
pub use error::{Error, ErrorKind, Result};
pub use job::{
    Approval, FailureKind, Job, JobFailure, JobId, JobOrigin, JobSource, JobStatus,
    ReviewResolution,
};
pub use plan::{Command, Plan, Step};
pub use planner::{PlanRequest, Planner};
pub use policy::{Decision, Policy, PolicyContext, Verdict};
pub use principal::{Principal, Visibility};
pub use provider::{ExecContext, Output, Provider};
pub use risk::RiskLevel;
pub use sentinel::Sentinel;
pub use timeouts::{TimeLimit, TimeoutLevel};
pub use viewer::Viewer;
