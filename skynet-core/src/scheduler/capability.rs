//! The capability matrix: which catalog actions each provider can run.

use crate::action::{Action, CATALOG};
use crate::plan::Plan;
use crate::provider::Provider;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The catalog actions a plan needs: its steps' action names,
/// deduplicated and sorted.
pub fn required_capabilities(plan: &Plan) -> Vec<String> {
    required_of(plan.steps.iter().map(|s| &s.action))
}

/// [`required_capabilities`] of a list of actions.
pub fn required_of<'a>(actions: impl IntoIterator<Item = &'a Action>) -> Vec<String> {
    actions
        .into_iter()
        .map(|a| a.name().to_string())
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
}

impl CapabilityMatrix {
    /// The matrix of these providers.
    pub fn new<'a>(providers: impl IntoIterator<Item = &'a Arc<dyn Provider>>) -> Self {
        let rows = providers
            .into_iter()
            .map(|p| {
                let caps = p.capabilities();
                let actions: BTreeSet<String> = if caps.actions.is_empty() {
                    CATALOG.iter().map(|e| e.name.to_string()).collect()
                } else {
                    caps.actions.into_iter().collect()
                };
                (p.name().to_string(), actions)
            })
            .collect();
        CapabilityMatrix { rows }
    }

    /// The actions `provider` runs (empty for an unknown provider).
    pub fn actions(&self, provider: &str) -> Vec<String> {
        self.rows
            .get(provider)
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The actions of `required` that `provider` cannot run (all of them
    /// for an unknown provider).
    pub fn missing(&self, provider: &str, required: &[String]) -> Vec<String> {
        let row = self.rows.get(provider);
        required
            .iter()
            .filter(|a| !row.is_some_and(|r| r.contains(*a)))
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
