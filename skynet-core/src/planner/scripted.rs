//! A planner that returns prepared plans: for tests and embedding.

use super::{PlanRequest, Planner};
use crate::action::Action;
use crate::plan::{Plan, Step};
use crate::{Error, Result};
use async_trait::async_trait;
use std::sync::Mutex;

/// Returns the actions it was given, in order, for any intent; each call
/// takes the next script (the last one repeats).
#[derive(Debug, Default)]
pub struct ScriptedPlanner {
    scripts: Mutex<Vec<Vec<Action>>>,
}

impl ScriptedPlanner {
    /// A planner whose every plan is `actions`.
    pub fn new(actions: Vec<Action>) -> Self {
        ScriptedPlanner {
            scripts: Mutex::new(vec![actions]),
        }
    }

    /// A planner that answers with `scripts[0]`, then `scripts[1]`, ...
    pub fn sequence(scripts: Vec<Vec<Action>>) -> Self {
        ScriptedPlanner {
            scripts: Mutex::new(scripts),
        }
    }
}

/// Turn actions into a plan rooted at `request.root` (used by planners).
pub fn plan_from_actions(
    request: &PlanRequest,
    actions: Vec<(String, Action)>,
    planner: &str,
) -> Result<Plan> {
    if actions.is_empty() {
        return Err(Error::Planning("the plan has no steps".into()));
    }
    let mut steps = Vec::with_capacity(actions.len());
    for (description, action) in actions {
        let inv = action.resolve(&request.root)?;
        steps.push(Step {
            description,
            risk: action.base_risk(),
            command: inv.into_command(request.root.clone()),
            action,
            decision: None,
            estimate_ms: None,
            network: None,
            artifacts: Vec::new(),
        });
    }
    let summary = steps
        .iter()
        .map(|s| s.description.as_str())
        .collect::<Vec<_>>()
        .join(", then ");
    Ok(Plan::new(summary, steps, planner))
}

#[async_trait]
impl Planner for ScriptedPlanner {
    fn name(&self) -> &str {
        "scripted"
    }
    async fn plan(&self, request: &PlanRequest) -> Result<Plan> {
        let actions = {
            let mut scripts = self
                .scripts
                .lock()
                .map_err(|_| Error::Planning("scripted planner poisoned".into()))?;
            if scripts.len() > 1 {
                scripts.remove(0)
            } else {
                scripts.first().cloned().unwrap_or_default()
            }
        };
        let described = actions
            .into_iter()
            .map(|a| (a.name().replace('_', " "), a))
            .collect();
        plan_from_actions(request, described, "scripted")
    }
}
