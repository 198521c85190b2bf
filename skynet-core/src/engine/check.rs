//! Judging one action or command without planning or running anything:
//! the original API's policy check, whose clients name catalog actions
//! (`git_push`) as often as command lines (`git push origin`).

use super::Skynet;
use crate::action::{Action, Ignored, params};
use crate::policy::{Decision, PolicyContext, Verdict};
use crate::risk::RiskLevel;
use crate::{Error, Result};
use serde_json::{Map, Value};

/// What to judge: a catalog action by name (with its parameters and the
/// original API's free-text `target`) or a command line.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// A catalog action name (`git_push`), or, when the text is not an
    /// action name ([`params::names_an_action`]), a command line.
    pub action: Option<String>,
    /// A command line, always judged as one (split like a POSIX shell
    /// would, never run).
    pub command: Option<String>,
    /// The action's parameters (`{"remote": "origin"}`).
    pub params: Map<String, Value>,
    /// For an action, its parameters in order (`"origin main"`: remote,
    /// branch; see [`crate::action::params`]); for a command line, one
    /// more argument.
    pub target: Option<String>,
}

/// A judged action or command.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The catalog action judged, when one was named.
    pub action: Option<Action>,
    /// The argv judged (a pipeline's first stage).
    pub argv: Vec<String>,
    /// A pipeline's further stages, each judged too (empty for one
    /// program).
    pub pipe: Vec<Vec<String>>,
    /// The decision: for an action, its risk is at least the catalog's,
    /// as in a plan, so `git_push` is ADMIN and asks for a human.
    pub decision: Decision,
    /// What the request named that was not used.
    pub ignored: Vec<Ignored>,
}

impl Skynet {
    /// Judge `req` in `ctx` the way a plan's step is judged: a catalog
    /// action resolves to its argv (in `ctx.cwd`, which also picks the
    /// test and build tools), the policy classifies it, and the risk is
    /// at least the action's catalog risk; a command line is judged by the
    /// policy alone. Nothing is stored or run.
    pub fn check_request(&self, req: &CheckRequest, ctx: &PolicyContext) -> Result<Checked> {
        match (&req.action, &req.command) {
            (Some(_), Some(_)) => Err(Error::InvalidInput(
                "give either `action` (a catalog action such as git_push) or `command` (a \
                 command line such as `git push origin`), not both"
                    .into(),
            )),
            (None, None) => Err(Error::InvalidInput(
                "nothing to judge: give `action` (a catalog action such as git_push) or \
                 `command` (a command line such as `git push origin`)"
                    .into(),
            )),
            (Some(name), None) if params::names_an_action(name) => {
                self.check_action(req, name.trim(), ctx)
            }
            (Some(line), None) | (None, Some(line)) => self.check_line(req, line, ctx),
        }
    }

    fn check_action(&self, req: &CheckRequest, name: &str, ctx: &PolicyContext) -> Result<Checked> {
        let built = params::build(name, &req.params, req.target.as_deref(), "params")?;
        let action = built.value;
        let invocation = action.resolve(&ctx.cwd)?;
        let stages: Vec<Vec<String>> = std::iter::once(invocation.argv.clone())
            .chain(invocation.pipe.iter().cloned())
            .collect();
        let mut decision = match crate::probe::Probe::from_action(&action) {
            Some(probe) if invocation.pipe.is_empty() => probe.decision(),
            _ => self.inner.policy.check_stages(&stages, ctx),
        };
        let base = action.base_risk();
        if decision.verdict != Verdict::Forbid && base > decision.risk {
            decision.risk = base;
            decision.reasons.insert(
                0,
                format!("the catalog action {name} is {base}: it never runs without a human"),
            );
        }
        if decision.verdict == Verdict::Allow && decision.risk > RiskLevel::ReadOnly {
            decision.verdict = Verdict::Prompt;
        }
        Ok(Checked {
            action: Some(action),
            argv: invocation.argv,
            pipe: invocation.pipe,
            decision,
            ignored: built.ignored,
        })
    }

    fn check_line(&self, req: &CheckRequest, line: &str, ctx: &PolicyContext) -> Result<Checked> {
        // `a | b` is a pipeline: each stage judged, the strictest decides.
        let mut stages = crate::planner::rules::pipes::split_pipeline(line).map_err(|e| {
            Error::InvalidInput(format!("command {line:?} does not split into words: {e}"))
        })?;
        // The target is one more argument at the end of the line.
        if let Some(last) = stages.last_mut() {
            last.extend(req.target.clone());
        }
        let argv = stages.remove(0);
        let pipe = stages;
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(Error::InvalidInput(
                "the command is empty: give a command line such as `git push`, or a catalog \
                 action such as git_push"
                    .into(),
            ));
        }
        let ignored = req
            .params
            .keys()
            .map(|k| Ignored {
                field: format!("params.{k}"),
                reason: "a command line takes no parameters: give its words in the command".into(),
            })
            .collect();
        let decision = if pipe.is_empty() {
            self.inner.policy.check(&argv, ctx)
        } else {
            let all: Vec<Vec<String>> = std::iter::once(argv.clone())
                .chain(pipe.iter().cloned())
                .collect();
            self.inner.policy.check_stages(&all, ctx)
        };
        Ok(Checked {
            action: None,
            decision,
            argv,
            pipe,
            ignored,
        })
    }
}
