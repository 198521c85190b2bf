//! A plan request's constraints: free text for the planner, or the
//! original API's `constraints` object, whose known keys SKYNET honours
//! and whose other keys it reports instead of refusing the request.

use crate::action::{Ignored, Lenient};
use crate::plan::Plan;
use crate::policy::{Decision, Verdict};
use crate::risk::RiskLevel;
use crate::{Error, Result};
use serde_json::Value;
use std::time::Duration;

/// Keys of the `constraints` object SKYNET honours.
pub const KNOWN_CONSTRAINTS: &[&str] = &["max_risk", "requires_approval_for", "time_budget_min"];

/// What a plan request may ask of its plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanConstraints {
    /// The riskiest plan the caller accepts (`max_risk`: `READ_ONLY`,
    /// `WRITE`, `ADMIN`); a riskier plan is refused.
    pub max_risk: Option<RiskLevel>,
    /// Catalog actions whose steps need a human even when the policy would
    /// let them run alone (`requires_approval_for`).
    pub requires_approval_for: Vec<String>,
    /// The whole job's time budget (`time_budget_min`, in minutes).
    pub time_budget: Option<Duration>,
    /// Free-text constraints for the planner (the list form).
    pub notes: Vec<String>,
}

impl PlanConstraints {
    /// Read `constraints` as a request gives it: absent (`null`), a list
    /// of free-text constraints, or an object. An object's known keys
    /// ([`KNOWN_CONSTRAINTS`]) must hold the right kind of value; its other
    /// keys are returned as ignored, with why.
    pub fn from_json(value: &Value) -> Result<Lenient<PlanConstraints>> {
        let mut c = PlanConstraints::default();
        let mut ignored = Vec::new();
        match value {
            Value::Null => {}
            Value::Array(items) => c.notes = strings("constraints", items)?,
            Value::Object(map) => {
                for (key, v) in map {
                    match key.as_str() {
                        "max_risk" => c.max_risk = Some(risk(v)?),
                        "requires_approval_for" => {
                            c.requires_approval_for = match v {
                                Value::Array(items) => strings(key, items)?,
                                _ => return Err(bad(key, "a list of catalog action names")),
                            }
                        }
                        "time_budget_min" => c.time_budget = Some(minutes(v)?),
                        _ => ignored.push(Ignored {
                            field: format!("constraints.{key}"),
                            reason: unused_reason(key),
                        }),
                    }
                }
            }
            _ => {
                return Err(Error::InvalidInput(
                    "constraints must be a list of texts or an object such as \
                     {\"max_risk\": \"READ_ONLY\", \"time_budget_min\": 30}"
                        .into(),
                ));
            }
        }
        Ok(Lenient { value: c, ignored })
    }

    /// The constraints as lines for the planner: the free text, then the
    /// honoured keys in words.
    pub fn planner_lines(&self) -> Vec<String> {
        let mut lines = self.notes.clone();
        if let Some(r) = self.max_risk {
            lines.push(format!("the plan must be at most {r}"));
        }
        if !self.requires_approval_for.is_empty() {
            lines.push(format!(
                "these actions need a human approval: {}",
                self.requires_approval_for.join(", ")
            ));
        }
        if let Some(t) = self.time_budget {
            lines.push(format!(
                "the whole job must finish within {} minutes",
                t.as_secs() / 60
            ));
        }
        lines
    }
}

/// Why the original API's other constraint keys are not used.
fn unused_reason(key: &str) -> String {
    let known = KNOWN_CONSTRAINTS.join(", ");
    match key {
        "max_cost_usd" => format!(
            "SKYNET caps model spending per day (`[llm] daily_token_budget`), not per request; \
             it honours {known}"
        ),
        "allowed_targets" => format!(
            "SKYNET's scheduler places work on its configured providers (`SKYNET_PROVIDERS`); \
             a job names one with `provider`; it honours {known}"
        ),
        _ => format!("not a constraint SKYNET knows; it honours {known}"),
    }
}

fn bad(key: &str, what: &str) -> Error {
    Error::InvalidInput(format!("constraints.{key} must be {what}"))
}

fn strings(key: &str, items: &[Value]) -> Result<Vec<String>> {
    items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(bad(key, "a list of texts")),
        })
        .collect()
}

/// A risk level, also in the original API's words (`low`, `med`, `high`).
fn risk(v: &Value) -> Result<RiskLevel> {
    let wrong = || bad("max_risk", "READ_ONLY, WRITE or ADMIN (or low, med, high)");
    let text = v.as_str().ok_or_else(wrong)?;
    match text.to_ascii_lowercase().as_str() {
        "low" => Ok(RiskLevel::ReadOnly),
        "med" | "medium" => Ok(RiskLevel::Write),
        "high" => Ok(RiskLevel::Admin),
        _ => text.parse().map_err(|_| wrong()),
    }
}

fn minutes(v: &Value) -> Result<Duration> {
    match v.as_f64() {
        Some(m) if m > 0.0 && m <= 30.0 * 24.0 * 60.0 => Ok(Duration::from_secs_f64(m * 60.0)),
        _ => Err(bad(
            "time_budget_min",
            "a number of minutes above 0 (at most 30 days)",
        )),
    }
}

impl PlanConstraints {
    /// Hold a judged plan to the honoured keys: a plan riskier than
    /// `max_risk` is refused ([`Error::Forbidden`], rule
    /// `constraints.max_risk`); a step of an action named in
    /// `requires_approval_for` that the policy would let run alone gets a
    /// `prompt` decision, so it waits for a human like any gated step.
    pub fn bound(&self, plan: &mut Plan) -> Result<()> {
        if let Some(max) = self.max_risk
            && plan.risk > max
        {
            let riskier: Vec<String> = plan
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| s.risk > max)
                .map(|(i, s)| format!("{} is {}", super::judge::step_label(i, s), s.risk))
                .collect();
            return Err(Error::Forbidden {
                decision: Box::new(Decision {
                    risk: plan.risk,
                    verdict: Verdict::Forbid,
                    reasons: vec![format!(
                        "the plan is {} but constraints.max_risk allows at most {max}: {}",
                        plan.risk,
                        riskier.join("; ")
                    )],
                    rule: Some("constraints.max_risk".into()),
                }),
            });
        }
        for step in &mut plan.steps {
            let name = step.action.name();
            let allowed = step
                .decision
                .as_ref()
                .is_none_or(|d| d.verdict == Verdict::Allow);
            if allowed && self.requires_approval_for.iter().any(|a| a == name) {
                step.decision = Some(Decision {
                    risk: step.risk,
                    verdict: Verdict::Prompt,
                    reasons: vec![format!("constraints.requires_approval_for names {name}")],
                    rule: Some("constraints.requires_approval_for".into()),
                });
            }
        }
        Ok(())
    }

    /// The honoured keys as the original object (for request hashes).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "max_risk": self.max_risk.map(|r| r.to_string()),
            "requires_approval_for": self.requires_approval_for,
            "time_budget_ms": self.time_budget.map(|d| d.as_millis() as u64),
            "notes": self.notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_list_form_is_free_text_for_the_planner() {
        let c = PlanConstraints::from_json(&json!(["no network", "be quick"])).expect("list");
        assert_eq!(c.value.notes, ["no network", "be quick"]);
        assert!(c.ignored.is_empty());
        assert_eq!(
            PlanConstraints::from_json(&Value::Null)
                .expect("null")
                .value,
            PlanConstraints::default()
        );
    }

    #[test]
    fn the_object_form_honours_known_keys_and_reports_the_rest() {
        let c = PlanConstraints::from_json(&json!({
            "max_risk": "read_only",
            "requires_approval_for": ["deploy_prod", "git_status"],
            "time_budget_min": 30,
            "max_cost_usd": 1.5,
            "allowed_targets": ["laptop"],
            "colour": "blue",
        }))
        .expect("object");
        assert_eq!(c.value.max_risk, Some(RiskLevel::ReadOnly));
        assert_eq!(c.value.requires_approval_for, ["deploy_prod", "git_status"]);
        assert_eq!(c.value.time_budget, Some(Duration::from_secs(1800)));
        let mut fields: Vec<&str> = c.ignored.iter().map(|i| i.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "constraints.allowed_targets",
                "constraints.colour",
                "constraints.max_cost_usd"
            ]
        );
        let targets = c
            .ignored
            .iter()
            .find(|i| i.field == "constraints.allowed_targets")
            .expect("allowed_targets");
        assert!(targets.reason.contains("scheduler"), "{targets:?}");
        assert!(
            c.value
                .planner_lines()
                .iter()
                .any(|l| l.contains("READ_ONLY"))
        );
    }

    #[test]
    fn max_risk_reads_the_original_words_too() {
        for (word, risk) in [
            ("READ_ONLY", RiskLevel::ReadOnly),
            ("low", RiskLevel::ReadOnly),
            ("med", RiskLevel::Write),
            ("write", RiskLevel::Write),
            ("HIGH", RiskLevel::Admin),
        ] {
            let c = PlanConstraints::from_json(&json!({ "max_risk": word })).expect(word);
            assert_eq!(c.value.max_risk, Some(risk), "{word}");
        }
    }

    #[test]
    fn a_known_key_with_a_bad_value_is_refused() {
        for (bad, says) in [
            (json!({"max_risk": "extreme"}), "max_risk"),
            (json!({"max_risk": 3}), "max_risk"),
            (json!({"time_budget_min": 0}), "time_budget_min"),
            (
                json!({"requires_approval_for": "git_push"}),
                "requires_approval_for",
            ),
            (json!([1]), "list of texts"),
            (json!("READ_ONLY"), "object"),
        ] {
            let e = PlanConstraints::from_json(&bad).expect_err("refused");
            assert!(
                matches!(&e, Error::InvalidInput(m) if m.contains(says)),
                "{bad}: {e}"
            );
        }
    }
}
