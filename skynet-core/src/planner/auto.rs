//! Planner selection: `rules`, `llm`, or `auto` (the rules first, the
//! model only for what they cannot map).

use super::{PlanRequest, Planner, RulePlanner};
use crate::plan::Plan;
use crate::{Error, Result};
use async_trait::async_trait;
use std::sync::Arc;

/// Which planner turns intents into plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlannerChoice {
    /// The rule planner only (no network).
    Rules,
    /// The LLM planner only.
    Llm,
    /// Rules first, the LLM when the rules cannot map the intent; just the
    /// rules when no model is configured.
    #[default]
    Auto,
}

impl PlannerChoice {
    /// Parse `rules`, `llm` or `auto`.
    pub fn parse(text: &str) -> Result<PlannerChoice> {
        match text.trim().to_ascii_lowercase().as_str() {
            "rules" | "rule" => Ok(PlannerChoice::Rules),
            "llm" => Ok(PlannerChoice::Llm),
            "auto" => Ok(PlannerChoice::Auto),
            other => Err(Error::Config(format!(
                "planner {other:?} is unknown; use rules, llm or auto"
            ))),
        }
    }
}

/// Rules first; on a planning error, the fallback (an LLM planner). The
/// plan records which of the two made it.
pub struct AutoPlanner {
    rules: RulePlanner,
    fallback: Arc<dyn Planner>,
}

impl AutoPlanner {
    /// Rules, then `fallback`.
    pub fn new(fallback: Arc<dyn Planner>) -> Self {
        AutoPlanner {
            rules: RulePlanner::new(),
            fallback,
        }
    }
}

#[async_trait]
impl Planner for AutoPlanner {
    fn name(&self) -> &str {
        "auto"
    }

    async fn plan(&self, request: &PlanRequest) -> Result<Plan> {
        // Only an intent the rules cannot map goes to the model; one they
        // map but cannot resolve (no test runner here...) keeps the rules'
        // error, which names the clause.
        match self.rules.actions(&request.intent) {
            Ok(_) => self.rules.plan(request).await,
            Err(Error::Planning(rules_said)) => {
                tracing::debug!(
                    "rule planner: {rules_said}; asking {}",
                    self.fallback.name()
                );
                self.fallback.plan(request).await.map_err(|e| match e {
                    Error::Planning(m) => Error::Planning(format!(
                        "{m} (the rule planner could not map it either: {rules_said})"
                    )),
                    other => other,
                })
            }
            Err(other) => Err(other),
        }
    }
}
