//! Placeholder: the rule engine (being written).
use super::{Decision, PolicyContext, Verdict};
use crate::risk::RiskLevel;

/// The policy engine.
#[derive(Debug, Clone, Default)]
pub struct Policy {}

impl Policy {
    /// Classify `argv` run in `ctx`.
    pub fn check(&self, _argv: &[String], _ctx: &PolicyContext) -> Decision {
        Decision {
            risk: RiskLevel::Write,
            verdict: Verdict::Prompt,
            reasons: vec![],
            rule: None,
        }
    }
}

impl Policy {
    /// Load rules from a file.
    pub fn load(_path: &std::path::Path) -> crate::Result<Policy> {
        Ok(Policy::default())
    }
}

/// A rule (placeholder).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rule {
    /// Name.
    pub name: String,
    /// Why.
    pub reason: String,
}

impl Policy {
    /// Rules.
    pub fn rules(&self) -> &[Rule] {
        &[]
    }
    /// Default toml.
    pub fn default_rules_toml() -> &'static str {
        ""
    }
}
