//! Placeholder: the rule planner (being written).
use super::{PlanRequest, Planner};
use crate::Result;
use crate::plan::Plan;
use async_trait::async_trait;

/// The rule-based planner.
#[derive(Debug, Clone, Default)]
pub struct RulePlanner {}

impl RulePlanner {
    /// A rule planner.
    pub fn new() -> Self {
        RulePlanner {}
    }
}

#[async_trait]
impl Planner for RulePlanner {
    fn name(&self) -> &str {
        "rules"
    }
    async fn plan(&self, _request: &PlanRequest) -> Result<Plan> {
        Err(crate::Error::Planning("not yet".into()))
    }
}
