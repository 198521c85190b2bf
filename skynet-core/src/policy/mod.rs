//! The policy engine: classifies a concrete argv as READ_ONLY / WRITE /
//! ADMIN or forbids it, and explains why. It never trusts a planner's label.
//!
//! It fails closed: READ_ONLY is an allow-list. Each READ_ONLY program
//! declares its complete option grammar (`grammar/`), and an argv is
//! READ_ONLY only if it parses against it with allowed options, its read
//! paths stay in the read scope and a READ_ONLY rule selects it. The TOML
//! rules (`default.toml`) add WRITE, ADMIN and forbid; wrappers, shells
//! and paths are analysed on top. Secrets ([`Secrets`], [`secret_paths`])
//! are refused everywhere and published for the sandbox to mask.

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

/// Where a command would run and what it may touch.
///
/// Two scopes: the write scope is `roots`; the read scope is `roots` plus
/// `read_paths`. Secrets ([`Secrets`]) are outside both, wherever they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyContext {
    /// The write scope: every path a command may change (and read) must
    /// resolve inside one of these.
    pub roots: Vec<PathBuf>,
    /// Extra read scope: paths that READ_ONLY programs may also read
    /// (a toolchain, shared docs). Empty by default.
    pub read_paths: Vec<PathBuf>,
    /// Relative paths resolve against this.
    pub cwd: PathBuf,
}

impl PolicyContext {
    /// A context with one root that is also the working directory, and
    /// no extra read paths.
    pub fn rooted(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        PolicyContext {
            roots: vec![root.clone()],
            read_paths: Vec::new(),
            cwd: root,
        }
    }

    /// The same context, also allowed to read under `paths`.
    pub fn with_read_paths(mut self, paths: impl IntoIterator<Item = PathBuf>) -> Self {
        self.read_paths.extend(paths);
        self
    }
}

/// The sandbox root: the given directory (or the current one), canonical.
pub fn resolve_root(root: Option<PathBuf>) -> crate::Result<PathBuf> {
    let root = match root {
        Some(r) => r,
        None => std::env::current_dir()?,
    };
    let canon = root.canonicalize().map_err(|e| {
        crate::Error::InvalidInput(format!(
            "sandbox root {} is not usable ({e}); pass an existing directory",
            root.display()
        ))
    })?;
    if !canon.is_dir() {
        return Err(crate::Error::InvalidInput(format!(
            "sandbox root {} is not a directory",
            canon.display()
        )));
    }
    if let Some(system) = scopes::SYSTEM_DIRS
        .iter()
        .map(std::path::Path::new)
        .find(|dir| dir.starts_with(&canon))
    {
        return Err(crate::Error::InvalidInput(format!(
            "sandbox root {} holds the system directory {}: the root is also where steps may \
             write, so it must be a project directory; system files are read through the read \
             scope (`SKYNET_SANDBOX_READABLE`, by default /etc, /proc, /sys, /var/log and /run \
             for local use)",
            canon.display(),
            system.display()
        )));
    }
    Ok(canon)
}

impl Policy {
    /// Judge a resolved command as it will run: its argv in its working
    /// directory under `root` (the write scope; the read scope adds
    /// [`Policy::read_paths`]), and what its environment can change.
    /// Planning and the check just before a step runs both use this, so
    /// they cannot disagree. A pipeline's stages are judged one by one,
    /// each in the command's directory and environment; the strictest
    /// decides, and the decision names it.
    pub fn check_command(
        &self,
        command: &crate::plan::Command,
        root: &std::path::Path,
    ) -> Decision {
        if command.is_pipeline() {
            // Each stage as it would run alone; the strictest one decides.
            let decisions = (0..command.stage_count())
                .filter_map(|i| command.stage(i))
                .map(|stage| self.check_command(&stage, root))
                .collect();
            let stages: Vec<&[String]> = command.stages().collect();
            return pipeline::combine(&stages, decisions);
        }
        let ctx = PolicyContext {
            roots: vec![root.to_path_buf()],
            read_paths: self.read_paths().to_vec(),
            cwd: command.cwd.clone(),
        };
        let mut decision = self.check(&command.argv, &ctx);
        if !command.env.is_empty() && decision.verdict != Verdict::Forbid {
            // Variables such as PATH or LD_PRELOAD change what runs; the
            // same thing written as `env VAR=... cmd` is WRITE as well.
            decision.risk = decision.risk.max(RiskLevel::Write);
            decision.verdict = Verdict::Prompt;
            decision.reasons.push(format!(
                "the step sets environment variables ({}): at least WRITE",
                command.env.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        decision
    }
}

mod checker;
mod engine;
pub use engine::Policy;
mod grammar;
pub(crate) mod paths;
mod pipeline;
mod rules;
mod scopes;
mod shell;
mod wrappers;
pub use rules::{ArgPattern, Rule};
pub use scopes::{
    HOME_SECRETS, INSPECT_READ_SCOPE, SECRET_FILE_NAMES, SECRET_PROC_FILES, SYSTEM_DIRS,
    SYSTEM_SECRETS, Secrets, inspect_read_scope, secret_paths,
};
