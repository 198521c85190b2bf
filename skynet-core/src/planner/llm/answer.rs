//! Turning a model's answer into catalog actions, trusting nothing: every
//! step must name a catalog action with well-typed parameters and paths
//! inside the root, or the whole answer is a planning error naming the
//! step. Risk labels are kept only to raise a step's risk.

use super::prompt::PARAMS;
use crate::action::{Action, CATALOG};
use crate::llm::extract;
use crate::planner::rules::MAX_STEPS;
use crate::risk::RiskLevel;
use crate::{Error, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// One step as the model proposed it, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProposedStep {
    pub(crate) description: String,
    pub(crate) action: Action,
    /// The model's own risk label (only ever raises the step's risk).
    pub(crate) claimed: Option<RiskLevel>,
    /// Files the step produces to keep (checked patterns).
    pub(crate) artifacts: Vec<String>,
}

/// A parsed answer: the text for the person and the steps.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// `summary` (plans) or `reply` (chat).
    pub(crate) text: String,
    pub(crate) steps: Vec<ProposedStep>,
}

/// The JSON object in a model's answer, or a planning error that says
/// what came back. `finish_reason` explains a cut-off answer.
pub(crate) fn answer_json(vendor: &str, text: &str, finish_reason: Option<&str>) -> Result<Value> {
    extract::json_object(text).ok_or_else(|| {
        let cut = matches!(
            finish_reason.map(str::to_ascii_lowercase).as_deref(),
            Some("length" | "max_tokens" | "max_output_tokens")
        );
        Error::Planning(format!(
            "{vendor}: the model's answer is not a JSON plan{}: {}",
            if cut {
                " (it was cut off at the token limit)"
            } else {
                ""
            },
            crate::llm::quote_for_error(text)
        ))
    })
}

/// Check an answer object: `text_key` (`summary` or `reply`) and `steps`.
pub(crate) fn parse_answer(
    vendor: &str,
    value: &Value,
    text_key: &str,
    root: &Path,
) -> Result<Answer> {
    let wrong = |why: &str| {
        Error::Planning(format!(
            "{vendor}: the model's answer does not follow the plan schema ({why}): {}",
            crate::llm::quote_for_error(&value.to_string())
        ))
    };
    let obj = value.as_object().ok_or_else(|| wrong("not an object"))?;
    let text = match obj.get(text_key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => crate::llm::quote_for_error(s),
        Some(_) => return Err(wrong(&format!("\"{text_key}\" is not a string"))),
    };
    let steps = match obj.get("steps") {
        Some(Value::Array(steps)) => steps,
        None => return Err(wrong("no \"steps\" list")),
        Some(_) => return Err(wrong("\"steps\" is not a list")),
    };
    if steps.len() > MAX_STEPS {
        return Err(Error::Planning(format!(
            "{vendor}: the model proposed {} steps; at most {MAX_STEPS} fit in one plan",
            steps.len()
        )));
    }
    let steps = steps
        .iter()
        .enumerate()
        .map(|(i, s)| parse_step(vendor, i, s, root))
        .collect::<Result<Vec<_>>>()?;
    Ok(Answer { text, steps })
}

fn parse_step(vendor: &str, index: usize, step: &Value, root: &Path) -> Result<ProposedStep> {
    let obj = step.as_object();
    let description = obj
        .and_then(|o| o.get("description"))
        .and_then(Value::as_str)
        .map(crate::llm::quote_for_error)
        .unwrap_or_default();
    let place = if description.is_empty() {
        format!("step {}", index + 1)
    } else {
        format!("step {} ({:?})", index + 1, description)
    };
    let fail = |why: String| Error::Planning(format!("{vendor}: {place}: {why}"));
    let obj = obj.ok_or_else(|| fail("is not an object".into()))?;
    let name = obj
        .get("action")
        .or_else(|| obj.get("kind"))
        .and_then(Value::as_str)
        .ok_or_else(|| fail("names no action".into()))?;
    let Some(entry) = CATALOG.iter().find(|e| e.name == name) else {
        return Err(fail(format!(
            "unknown action {:?}; the catalog has {}",
            crate::llm::quote_for_error(name),
            CATALOG
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    // Parameters: the fields named in PARAMS (or a nested `params`
    // object), nulls dropped as "not given".
    let mut fields = Map::new();
    fields.insert("kind".into(), Value::String(entry.name.into()));
    let nested = obj
        .get("params")
        .or_else(|| obj.get("parameters"))
        .and_then(Value::as_object);
    for (key, value) in obj.iter().chain(nested.into_iter().flatten()) {
        if value.is_null() || !PARAMS.iter().any(|(p, _)| p == key) {
            continue;
        }
        fields.insert(key.clone(), value.clone());
    }
    if entry.name == "execute_command" {
        match fields.get("argv") {
            Some(Value::Array(items))
                if !items.is_empty() && items.iter().all(Value::is_string) => {}
            Some(Value::String(_)) => {
                return Err(fail(
                    "execute_command's argv is one string; it must be a list of strings, one argument per item (a shell string is never split or run)".into(),
                ));
            }
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(fail("execute_command's argv is empty".into()));
            }
            _ => {
                return Err(fail(
                    "execute_command needs \"argv\": a list of strings".into(),
                ));
            }
        }
    }
    let action: Action = serde_json::from_value(Value::Object(fields))
        .map_err(|e| fail(format!("bad parameters for {}: {e}", entry.name)))?;
    check_paths(&action, root).map_err(fail)?;
    let claimed = match obj.get("risk") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(parse_risk(r).ok_or_else(|| {
            fail(format!(
                "risk {:?} is not READ_ONLY, WRITE or ADMIN",
                crate::llm::quote_for_error(r)
            ))
        })?),
        Some(_) => return Err(fail("risk is not a string".into())),
    };
    let artifacts = match obj.get("artifacts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| fail("artifacts must be a list of strings".into()))
            })
            .collect::<Result<Vec<_>>>()?,
        Some(_) => return Err(fail("artifacts must be a list of strings".into())),
    };
    crate::artifact::collect::check_patterns(&artifacts).map_err(|e| fail(e.to_string()))?;
    Ok(ProposedStep {
        artifacts,
        description: if description.is_empty() {
            entry.summary.to_string()
        } else {
            description
        },
        action,
        claimed,
    })
}

fn parse_risk(text: &str) -> Option<RiskLevel> {
    match text
        .trim()
        .to_ascii_uppercase()
        .replace(['-', ' '], "_")
        .as_str()
    {
        "READ_ONLY" | "READONLY" => Some(RiskLevel::ReadOnly),
        "WRITE" => Some(RiskLevel::Write),
        "ADMIN" => Some(RiskLevel::Admin),
        _ => None,
    }
}

/// Catalog path parameters must resolve inside the root (symlinks
/// followed). `execute_command` argv is left to the policy, which judges
/// every path-like argument the same way.
fn check_paths(action: &Action, root: &Path) -> std::result::Result<(), String> {
    let path = match action {
        Action::GitDiff { path: Some(p), .. }
        | Action::ListDirectory { path: p }
        | Action::ReadFile { path: p }
        | Action::SearchFiles { path: p, .. }
        | Action::DiskUsage { path: p }
        | Action::WriteFile { path: p, .. }
        | Action::CreateDirectory { path: p }
        | Action::DeletePath { path: p }
        | Action::LargestFiles { path: p, .. }
        | Action::CountFiles { path: p } => p,
        _ => return Ok(()),
    };
    if path.trim().is_empty() || path.contains('\0') {
        return Err("the path is empty".into());
    }
    let inside = crate::policy::paths::resolve(root, Path::new(path))
        .is_some_and(|resolved| resolved.starts_with(root));
    if inside {
        Ok(())
    } else {
        Err(format!(
            "path {:?} is outside the sandbox root {}",
            crate::llm::quote_for_error(path),
            root.display()
        ))
    }
}
