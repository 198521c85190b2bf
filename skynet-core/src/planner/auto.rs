//! Planner selection: `rules`, `llm`, or `auto` (the rules first, the
//! model only for what they cannot map).

use super::rules::Piece;
use super::scripted::plan_from_actions;
use super::{PlanRequest, Planner, RulePlanner};
use crate::plan::{Plan, PlanUsage};
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
        // Only the clauses the rules cannot map go to the model; a clause
        // they map but cannot resolve (no test runner here...) or refuse
        // keeps the rules' error, which names the clause.
        let pieces = self.rules.pieces(&request.intent)?;
        let unmapped = pieces
            .iter()
            .filter(|p| matches!(p, Piece::Unmapped(_)))
            .count();
        if unmapped == 0 {
            return self.rules.plan(request).await;
        }
        if unmapped == pieces.len() {
            let rules_said = match self.rules.actions(&request.intent) {
                Err(Error::Planning(m)) => m,
                _ => "no clause maps to a catalog action".into(),
            };
            tracing::debug!(
                "rule planner: {rules_said}; asking {}",
                self.fallback.name()
            );
            return self.fallback.plan(request).await.map_err(|e| match e {
                Error::Planning(m) => Error::Planning(format!(
                    "{m} (the rule planner could not map it either: {rules_said})"
                )),
                other => other,
            });
        }
        self.mixed(request, pieces).await
    }
}

impl AutoPlanner {
    /// Rule-mapped clauses as the rules plan them, each other clause asked
    /// of the model on its own; the steps keep the intent's order.
    async fn mixed(&self, request: &PlanRequest, pieces: Vec<Piece>) -> Result<Plan> {
        let mut steps = Vec::new();
        let mut usage: Option<PlanUsage> = None;
        for piece in pieces {
            match piece {
                Piece::Mapped(description, action) => {
                    let part = plan_from_actions(request, vec![(description, action)], "rules")?;
                    steps.extend(part.steps);
                }
                Piece::Unmapped(clause) => {
                    tracing::debug!(
                        "rule planner cannot map {clause:?}; asking {}",
                        self.fallback.name()
                    );
                    let sub = PlanRequest {
                        intent: clause.clone(),
                        ..request.clone()
                    };
                    let part = self.fallback.plan(&sub).await.map_err(|e| match e {
                        Error::Planning(m) => Error::Planning(format!(
                            "\"{}\": {m} (the rule planner could not map this clause either)",
                            crate::planner::rules::show_param(&clause)
                        )),
                        other => other,
                    })?;
                    usage = add_usage(usage, part.usage);
                    steps.extend(part.steps);
                }
            }
        }
        let summary = steps
            .iter()
            .map(|s| s.description.as_str())
            .collect::<Vec<_>>()
            .join(", then ");
        let mut plan = Plan::new(summary, steps, format!("rules+{}", self.fallback.name()));
        plan.usage = usage;
        Ok(plan)
    }
}

/// Token counts and costs of several model calls, added up.
fn add_usage(total: Option<PlanUsage>, more: Option<PlanUsage>) -> Option<PlanUsage> {
    match (total, more) {
        (Some(mut t), Some(m)) => {
            t.input_tokens += m.input_tokens;
            t.output_tokens += m.output_tokens;
            t.estimated_cost_usd = match (t.estimated_cost_usd, m.estimated_cost_usd) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            Some(t)
        }
        (t, m) => t.or(m),
    }
}
