//! The capability matrix: which catalog actions each provider can run.

use crate::action::{Action, CATALOG};
use crate::plan::Plan;
use crate::provider::Provider;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What a plan needs besides catalog actions when one of its steps is a
/// pipeline: a provider that runs pipelines itself
/// ([`crate::provider::Provider::runs_pipelines`]).
pub const PIPELINE: &str = "pipeline";

/// The catalog actions a plan needs: its steps' action names,
/// deduplicated and sorted, and [`PIPELINE`] when a step is a pipeline.
pub fn required_capabilities(plan: &Plan) -> Vec<String> {
    let mut required = required_of(plan.steps.iter().map(|s| &s.action));
    if plan.steps.iter().any(|s| s.command.is_pipeline()) && !required.iter().any(|r| r == PIPELINE)
    {
        required.push(PIPELINE.to_string());
        required.sort();
    }
    required
}

/// [`required_capabilities`] of a list of actions ([`PIPELINE`] too when
/// one of them resolves to a pipeline).
pub fn required_of<'a>(actions: impl IntoIterator<Item = &'a Action>) -> Vec<String> {
    actions
        .into_iter()
        .flat_map(|a| {
            let piped = matches!(
                a,
                Action::LargestFiles { .. }
                    | Action::CountFiles { .. }
                    | Action::ExecutePipeline { .. }
            );
            std::iter::once(a.name().to_string()).chain(piped.then(|| PIPELINE.to_string()))
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// For each registered provider, the catalog actions it runs (from
/// [`crate::provider::Capabilities::actions`]; an empty list there means
/// every action). Read once when the engine is built: capabilities are
/// static.
#[derive(Debug, Clone, Default)]
pub struct CapabilityMatrix {
    rows: BTreeMap<String, BTreeSet<String>>,
    /// The providers that run pipelines.
    pipelines: BTreeSet<String>,
}

impl CapabilityMatrix {
    /// The matrix of these providers.
    pub fn new<'a>(providers: impl IntoIterator<Item = &'a Arc<dyn Provider>>) -> Self {
        let mut pipelines = BTreeSet::new();
        let rows = providers
            .into_iter()
            .map(|p| {
                if p.runs_pipelines() {
                    pipelines.insert(p.name().to_string());
                }
                let caps = p.capabilities();
                let actions: BTreeSet<String> = if caps.actions.is_empty() {
                    CATALOG.iter().map(|e| e.name.to_string()).collect()
                } else {
                    caps.actions.into_iter().collect()
                };
                (p.name().to_string(), actions)
            })
            .collect();
        CapabilityMatrix { rows, pipelines }
    }

    /// The actions `provider` runs (empty for an unknown provider).
    pub fn actions(&self, provider: &str) -> Vec<String> {
        self.rows
            .get(provider)
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The actions of `required` that `provider` cannot run (all of them
    /// for an unknown provider); [`PIPELINE`] among them when it does not
    /// run pipelines.
    pub fn missing(&self, provider: &str, required: &[String]) -> Vec<String> {
        let row = self.rows.get(provider);
        required
            .iter()
            .filter(|a| match a.as_str() {
                PIPELINE => !self.pipelines.contains(provider),
                _ => !row.is_some_and(|r| r.contains(*a)),
            })
            .cloned()
            .collect()
    }

    /// The providers that can run every action of `required`.
    pub fn capable_of(&self, required: &[String]) -> Vec<String> {
        self.rows
            .keys()
            .filter(|p| self.missing(p, required).is_empty())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{LocalProvider, MockProvider};

    #[test]
    fn a_pipeline_needs_a_provider_that_runs_pipelines() {
        let required = required_of(&[Action::GitStatus, Action::CountFiles { path: ".".into() }]);
        assert_eq!(required, ["count_files", "git_status", PIPELINE]);
        let providers: Vec<Arc<dyn Provider>> = vec![
            Arc::new(LocalProvider::new()),
            Arc::new(MockProvider::new()),
        ];
        let matrix = CapabilityMatrix::new(&providers);
        assert!(matrix.missing("local", &required).is_empty());
        assert_eq!(matrix.missing("docker", &required).len(), 3, "unknown: all");
        assert_eq!(matrix.capable_of(&required), ["local", "mock"]);
        // The actions a provider runs are still the catalog's.
        assert!(!matrix.actions("local").iter().any(|a| a == PIPELINE));
    }
}
