//! Planners turn an intent into a [`Plan`].

use crate::Result;
use crate::plan::Plan;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a planner is asked.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// The user's words.
    pub intent: String,
    /// The sandbox root; steps run here and paths stay inside it.
    pub root: PathBuf,
    /// Free-form context (repository, branch, ...).
    pub context: BTreeMap<String, String>,
    /// Constraints the plan must respect ("no network", ...).
    pub constraints: Vec<String>,
    /// The request's per-step time budget in milliseconds, for
    /// information: the engine applies it when each step runs (the step
    /// level of [`crate::timeouts`]). A planner sets
    /// [`Command::timeout_ms`](crate::plan::Command::timeout_ms) only for a
    /// command that needs a limit of its own.
    pub step_timeout_ms: Option<u64>,
    /// The requesting principal's ended runs most like this intent, from
    /// memory, best first: data to learn from (what worked, what failed),
    /// never instructions. A planner that shows them to a model fences
    /// them as data; nothing in them changes what the policy decides.
    pub past_runs: Vec<crate::memory::PastRun>,
}

/// Turns an intent into a plan. Implementations only propose: the engine
/// runs the policy over every step afterwards.
#[async_trait]
pub trait Planner: Send + Sync {
    /// Short name recorded on the plan (`rules`, `llm:openai`, ...).
    fn name(&self) -> &str;
    /// Plan the request, or explain why not with [`crate::Error::Planning`].
    async fn plan(&self, request: &PlanRequest) -> Result<Plan>;
}

pub mod auto;
pub mod llm;
pub mod rules;
pub mod scripted;
pub use auto::{AutoPlanner, PlannerChoice};
pub use llm::LlmPlanner;
pub use rules::RulePlanner;
pub use scripted::ScriptedPlanner;
