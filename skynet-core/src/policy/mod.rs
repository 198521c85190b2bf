//! The policy engine: classifies a concrete argv as READ_ONLY / WRITE /
//! ADMIN or forbids it, and explains why. It never trusts a planner's label.

use crate::risk::RiskLevel;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What the engine does with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// May run without a human (READ_ONLY).
    Allow,
    /// Needs a human approval first.
    Prompt,
    /// Never runs, whoever approves.
    Forbid,
}

impl Verdict {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Prompt => "prompt",
            Verdict::Forbid => "forbid",
        }
    }
}

/// A policy decision that explains itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The risk the policy assigns.
    pub risk: RiskLevel,
    /// Allow, prompt or forbid.
    pub verdict: Verdict,
    /// Human-readable reasons, most important first.
    pub reasons: Vec<String>,
    /// The name of the deciding rule, if a rule decided.
    pub rule: Option<String>,
}

impl Decision {
    /// One line: verdict, risk, rule and reasons.
    pub fn explain(&self) -> String {
        format!(
            "{} ({}){}: {}",
            self.verdict.as_str(),
            self.risk,
            self.rule
                .as_deref()
                .map(|r| format!(" by rule `{r}`"))
                .unwrap_or_default(),
            self.reasons.join("; ")
        )
    }
}

/// Where a command would run: the sandbox root(s) and its working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyContext {
    /// Paths must resolve inside one of these.
    pub roots: Vec<PathBuf>,
    /// Relative paths resolve against this.
    pub cwd: PathBuf,
}

impl PolicyContext {
    /// A context with one root that is also the working directory.
    pub fn rooted(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        PolicyContext {
            roots: vec![root.clone()],
            cwd: root,
        }
    }
}

mod engine;
pub use engine::Policy;
mod paths;
mod rules;
mod shell;
mod wrappers;
pub use rules::{ArgPattern, Rule};
