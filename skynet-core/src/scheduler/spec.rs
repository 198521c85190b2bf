//! What [`crate::Skynet::diagnose`] is asked about: steps named by catalog
//! action, with their parameters.

use crate::action::{Action, Lenient, params};
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
    /// Files the step produces to keep as artifacts (paths or glob
    /// patterns relative to the root; see [`crate::plan::Step::artifacts`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
}

impl SpecStep {
    /// The typed action: the name must be in the catalog and the
    /// parameters it needs must fit it. A parameter it does not take
    /// changes nothing that would run, so it is reported in
    /// [`Lenient::ignored`] (`steps[i].params.NAME`), not refused. `index`
    /// is 0-based.
    pub fn to_action(&self, index: usize) -> Result<Lenient<Action>> {
        let step = format!("step {} ({})", index + 1, self.action);
        if self.params.contains_key("kind") {
            return Err(Error::InvalidInput(format!(
                "{step}: `kind` is not a parameter; name the action in `action`"
            )));
        }
        let prefix = format!("steps[{index}].params");
        params::build(&self.action, &self.params, None, &prefix).map_err(|e| match e {
            Error::InvalidInput(m) => Error::InvalidInput(format!("{step}: {m}")),
            other => other,
        })
    }
}

impl ExecutionSpec {
    /// The typed actions of the listed steps (at least one, at most
    /// [`MAX_SPEC_STEPS`]), with the parameters they do not take.
    pub fn actions(&self) -> Result<Lenient<Vec<Action>>> {
        if self.steps.len() > MAX_SPEC_STEPS {
            return Err(Error::InvalidInput(format!(
                "the spec lists {} steps; the limit is {MAX_SPEC_STEPS}",
                self.steps.len()
            )));
        }
        let mut actions = Vec::with_capacity(self.steps.len());
        let mut ignored = Vec::new();
        for (i, s) in self.steps.iter().enumerate() {
            let built = s.to_action(i)?;
            actions.push(built.value);
            ignored.extend(built.ignored);
        }
        Ok(Lenient {
            value: actions,
            ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(action: &str, params: serde_json::Value) -> SpecStep {
        SpecStep {
            action: action.into(),
            params: params.as_object().cloned().unwrap_or_default(),
            artifacts: Vec::new(),
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
        let actions = spec.actions().expect("actions").value;
        assert_eq!(
            actions[1],
            Action::ReadFile {
                path: "README.md".into()
            }
        );
        for (bad, says) in [
            (step("read_file", serde_json::json!({})), "path: string"),
            (
                step("read_file", serde_json::json!({"path": 1})),
                "bad parameters",
            ),
            (
                step("git_status", serde_json::json!({"kind": "git_push"})),
                "`kind`",
            ),
        ] {
            let e = bad.to_action(0).expect_err(&bad.action);
            assert!(
                matches!(&e, Error::InvalidInput(m) if m.contains(says) && m.starts_with("step 1")),
                "{e}"
            );
        }
        let e = step("launch_missiles", serde_json::json!({}))
            .to_action(0)
            .expect_err("unknown");
        assert!(matches!(e, Error::UnknownAction { .. }), "{e}");
    }

    #[test]
    fn parameters_an_action_does_not_take_are_reported() {
        let spec = ExecutionSpec {
            job_id: Some("job-123".into()),
            steps: vec![
                step("git_status", serde_json::json!({"force": true})),
                step("run_tests", serde_json::json!({"working_dir": "."})),
                step("read_file", serde_json::json!({"path": "a", "mode": 1})),
            ],
        };
        let built = spec.actions().expect("lenient");
        assert_eq!(built.value[1], Action::RunTests);
        let fields: Vec<&str> = built.ignored.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "steps[0].params.force",
                "steps[1].params.working_dir",
                "steps[2].params.mode"
            ]
        );
    }
}
