//! Jobs built by hand for suites that insert them into a store directly
//! (the store conformance suite, retention, the sentinel), so every field
//! a new job starts with is written down once.
#![allow(dead_code)]

use chrono::Utc;
use skynet_core::action::Action;
use skynet_core::plan::{Command, Plan, Step};
use skynet_core::{Approval, Job, JobId, JobSource, JobStatus, Principal, RiskLevel};

/// A step running `argv` in `/tmp` as [`Action::ExecuteCommand`].
pub fn command_step(description: String, argv: Vec<String>, risk: RiskLevel) -> Step {
    Step {
        description,
        action: Action::ExecuteCommand { argv: argv.clone() },
        command: Command::piped(vec![argv], "/tmp"),
        risk,
        decision: None,
        estimate_ms: None,
        network: None,
        artifacts: Vec::new(),
    }
}

/// A queued job of the local principal for `intent`, rooted in `/tmp` on
/// the mock provider, with `plan` approved (`auto`) just now.
pub fn queued_job(intent: &str, plan: Plan) -> Job {
    let now = Utc::now();
    let approval = Approval {
        approver: "auto".into(),
        plan_hash: plan.hash.clone(),
        at: now,
    };
    Job {
        id: JobId::new(),
        intent: intent.into(),
        status: JobStatus::Queued,
        risk: plan.risk,
        plan: Some(plan),
        root: "/tmp".into(),
        provider: "mock".into(),
        priority: 0,
        approval: Some(approval),
        attempts: 0,
        max_attempts: 3,
        lease: None,
        run_at: now,
        timeout_ms: None,
        created_at: now,
        queued_at: None,
        started_at: None,
        finished_at: None,
        error: None,
        source: JobSource::Library,
        idempotency_key: None,
        principal: Principal::local(),
        request_hash: None,
        expires_at: None,
        retry_of: None,
        origin: None,
    }
}
