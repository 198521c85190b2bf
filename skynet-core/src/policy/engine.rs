//! The policy engine: rules + grammars + path checks + shell and wrapper
//! analysis, folded into one [`Decision`]. The strictest finding wins
//! (forbid > ADMIN > WRITE > READ_ONLY); unknown programs are WRITE, and
//! READ_ONLY needs the program's built-in grammar to accept the argv.

use super::checker::Checker;
use super::rules::{Rule, RuleSet};
use super::{Decision, PolicyContext, Verdict};
use crate::risk::RiskLevel;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// The embedded default rules.
const DEFAULT_RULES: &str = include_str!("default.toml");

/// Most reasons listed in a decision.
const MAX_REASONS: usize = 12;

static DEFAULT_POLICY: LazyLock<Policy> = LazyLock::new(|| {
    Policy::from_toml(DEFAULT_RULES)
        .expect("the embedded default rules are valid: a unit test loads them")
});

/// The policy engine: a rule set plus built-in path, shell and wrapper
/// analysis. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Policy {
    set: Arc<RuleSet>,
    /// Directories outside the root that commands may read (the read
    /// scope beyond the root; writes stay inside the root).
    read_paths: Arc<[PathBuf]>,
}

impl Default for Policy {
    /// The embedded default rule set (see [`Policy::default_rules_toml`]).
    fn default() -> Self {
        DEFAULT_POLICY.clone()
    }
}

impl Policy {
    /// Parse a rules file's text. It REPLACES the default rules: start from
    /// [`Policy::default_rules_toml`] to extend them.
    pub fn from_toml(text: &str) -> Result<Policy> {
        Ok(Policy {
            set: Arc::new(RuleSet::parse(text)?),
            read_paths: Arc::from(Vec::new()),
        })
    }

    /// Load a rules file from disk (replaces the default rules).
    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::PolicyRules(format!("cannot read rules file {}: {e}", path.display()))
        })?;
        Policy::from_toml(&text).map_err(|e| match e {
            Error::PolicyRules(msg) => Error::PolicyRules(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// The default rules file, to copy and edit.
    pub fn default_rules_toml() -> &'static str {
        DEFAULT_RULES
    }

    /// The same rules with `paths` as the read scope beyond the root
    /// (canonical directories such as `/var/log`; secrets inside them stay
    /// unreadable). [`Policy::check_command`] judges with them.
    pub fn with_read_paths(mut self, paths: impl IntoIterator<Item = PathBuf>) -> Policy {
        self.read_paths = paths.into_iter().collect();
        self
    }

    /// The read scope beyond the root.
    pub fn read_paths(&self) -> &[PathBuf] {
        &self.read_paths
    }

    /// The rules in force, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.set.rules
    }

    /// Classify `argv` run in `ctx`.
    pub fn check(&self, argv: &[String], ctx: &PolicyContext) -> Decision {
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            return Decision {
                risk: RiskLevel::Admin,
                verdict: Verdict::Forbid,
                reasons: vec!["the command is empty: there is no program to run".into()],
                rule: Some("empty-command".into()),
            };
        }
        let mut checker = Checker::new(&self.set, ctx);
        let cwd = checker.working_dir();
        checker.command(argv, &cwd, 0, false);
        checker.decide()
    }
}

/// Fold the findings of a finished check into a decision.
impl Checker<'_> {
    /// Fold the findings into a decision: the strictest one decides.
    pub(super) fn decide(mut self) -> Decision {
        // Stable: among equally strict findings the first found decides.
        self.findings
            .sort_by_key(|f| std::cmp::Reverse(f.severity()));
        let Some(top) = self.findings.first() else {
            return Decision {
                risk: RiskLevel::Write,
                verdict: Verdict::Prompt,
                reasons: vec!["nothing was classified: treated as WRITE".into()],
                rule: None,
            };
        };
        let risk = self
            .findings
            .iter()
            .map(|f| f.risk)
            .max()
            .unwrap_or(RiskLevel::Write);
        let verdict = if top.forbid {
            Verdict::Forbid
        } else if risk == RiskLevel::ReadOnly {
            Verdict::Allow
        } else {
            Verdict::Prompt
        };
        let rule = top.rule.map(str::to_string);
        let mut reasons: Vec<String> = Vec::new();
        for f in &self.findings {
            if reasons.len() == MAX_REASONS {
                break;
            }
            if !reasons.iter().any(|r| *r == f.reason) {
                reasons.push(f.reason.to_string());
            }
        }
        Decision {
            risk,
            verdict,
            reasons,
            rule,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::policy::checker::short;

    #[test]
    fn default_rules_load_and_every_example_verifies() {
        // `from_toml` checks each rule's match/not_match examples.
        let p = Policy::from_toml(DEFAULT_RULES).unwrap();
        assert_eq!(p.rules().len(), Policy::default().rules().len());
        assert!(p.rules().iter().all(|r| !r.match_examples.is_empty()));
    }

    #[test]
    fn strictest_finding_wins_and_ties_keep_file_order() {
        let p = Policy::from_toml(
            r#"
            [[rule]]
            name = "tool-read"
            pattern = ["ls"]
            risk = "READ_ONLY"
            reason = "reads"
            match = [["ls"]]

            [[rule]]
            name = "tool-write"
            pattern = ["ls", "w"]
            risk = "WRITE"
            reason = "writes"
            match = [["ls", "w"]]

            [[rule]]
            name = "tool-write-too"
            pattern = ["ls", "w"]
            risk = "WRITE"
            reason = "writes as well"
            match = [["ls", "w"]]
            "#,
        )
        .unwrap();
        let ctx = PolicyContext::rooted(std::env::temp_dir());
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let d = p.check(&argv(&["ls"]), &ctx);
        assert_eq!((d.risk, d.verdict), (RiskLevel::ReadOnly, Verdict::Allow));
        let d = p.check(&argv(&["ls", "w"]), &ctx);
        assert_eq!((d.risk, d.verdict), (RiskLevel::Write, Verdict::Prompt));
        assert_eq!(d.rule.as_deref(), Some("tool-write"));
        assert_eq!(d.reasons, vec!["writes", "writes as well", "reads"]);
        // A READ_ONLY rule cannot make a program without a grammar READ_ONLY.
        let err = Policy::from_toml(
            "[[rule]]\nname='t'\npattern=['tool']\nrisk='READ_ONLY'\nreason='r'\nmatch=[['tool']]",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("no built-in read-only grammar"),
            "{err}"
        );
    }

    #[test]
    fn short_truncates_long_commands() {
        let long = vec!["x".repeat(100)];
        assert!(short(&long).len() <= 60);
        assert_eq!(short(&["a b".to_string()]), "'a b'");
    }
}
