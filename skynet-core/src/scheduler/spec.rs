//! What [`crate::Skynet::diagnose`] is asked about: steps named by catalog
//! action, with their parameters.

use crate::action::{Action, CATALOG};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Most steps a spec may list.
pub const MAX_SPEC_STEPS: usize = 256;

/// The work to place: a list of catalog steps, or (with no steps) the plan
/// of the job `job_id` names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionSpec {
    /// A job whose plan to diagnose when `steps` is empty.
    #[serde(default)]
    pub job_id: Option<String>,
    /// The steps.
    #[serde(default)]
    pub steps: Vec<SpecStep>,
}

/// One step: a catalog action and its parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecStep {
    /// Catalog action name (`git_status`, `write_file`, ...).
    pub action: String,
    /// Its parameters (`{"path": "README.md"}`).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl SpecStep {
    /// The typed action: the name must be in the catalog and the
    /// parameters must fit it. `index` is 0-based, for messages.
    pub fn to_action(&self, index: usize) -> Result<Action> {
        let step = format!("step {} ({})", index + 1, self.action);
        let Some(entry) = CATALOG.iter().find(|e| e.name == self.action) else {
            return Err(Error::InvalidInput(format!(
                "{step}: unknown action; the catalog has: {}",
                CATALOG
                    .iter()
                    .map(|e| e.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if self.params.contains_key("kind") {
            return Err(Error::InvalidInput(format!(
                "{step}: `kind` is not a parameter; name the action in `action`"
            )));
        }
        // Serde lets a parameterless variant ignore extra fields: refuse
        // them here so a typo is not silently dropped.
        if entry.params.is_empty() && !self.params.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{step}: takes no parameters, got {}",
                self.params.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut object = self.params.clone();
        object.insert("kind".into(), self.action.clone().into());
        serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| {
            let expected = if entry.params.is_empty() {
                "none".to_string()
            } else {
                entry.params.to_string()
            };
            Error::InvalidInput(format!(
                "{step}: bad parameters ({e}); it takes: {expected}"
            ))
        })
    }
}

impl ExecutionSpec {
    /// The typed actions of the listed steps (at least one, at most
    /// [`MAX_SPEC_STEPS`]).
    pub fn actions(&self) -> Result<Vec<Action>> {
        if self.steps.len() > MAX_SPEC_STEPS {
            return Err(Error::InvalidInput(format!(
                "the spec lists {} steps; the limit is {MAX_SPEC_STEPS}",
                self.steps.len()
            )));
        }
        self.steps
            .iter()
            .enumerate()
            .map(|(i, s)| s.to_action(i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: &str, params: serde_json::Value) -> SpecStep {
        SpecStep {
            action: action.into(),
            params: params.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn steps_resolve_through_the_catalog() {
        let spec = ExecutionSpec {
            job_id: None,
            steps: vec![
                step("git_status", serde_json::json!({})),
                step("read_file", serde_json::json!({"path": "README.md"})),
            ],
        };
        let actions = spec.actions().expect("actions");
        assert_eq!(
            actions[1],
            Action::ReadFile {
                path: "README.md".into()
            }
        );
        for (bad, says) in [
            (
                step("launch_missiles", serde_json::json!({})),
                "unknown action",
            ),
            (step("read_file", serde_json::json!({})), "path: string"),
            (
                step("read_file", serde_json::json!({"path": "a", "mode": 1})),
                "bad parameters",
            ),
            (
                step("git_status", serde_json::json!({"force": true})),
                "takes no parameters",
            ),
            (
                step("git_status", serde_json::json!({"kind": "git_push"})),
                "`kind`",
            ),
        ] {
            let e = bad.to_action(0).expect_err(&bad.action);
            assert!(
                matches!(&e, Error::InvalidInput(m) if m.contains(says)),
                "{e}"
            );
        }
    }
}
