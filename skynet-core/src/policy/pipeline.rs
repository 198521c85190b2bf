//! Pipelines: every stage is judged on its own, as if it ran alone; the
//! pipeline is as risky as its strictest stage, and one forbidden stage
//! forbids it. A stage's input is another stage's output, never a file the
//! policy did not see, so judging the stages one by one misses nothing:
//! what a pipeline reads, writes or runs is what its stages do.

use super::{Decision, Policy, PolicyContext, Verdict};
use crate::plan::stage_label;
use crate::risk::RiskLevel;

impl Policy {
    /// Judge a pipeline given as its stages' argvs (a single argv is
    /// judged exactly as [`Policy::check`] does) in `ctx`.
    pub fn check_stages(&self, stages: &[Vec<String>], ctx: &PolicyContext) -> Decision {
        if let [only] = stages {
            return self.check(only, ctx);
        }
        let decisions = stages.iter().map(|argv| self.check(argv, ctx)).collect();
        let argvs: Vec<&[String]> = stages.iter().map(Vec::as_slice).collect();
        combine(&argvs, decisions)
    }
}

/// The pipeline's decision from its stages' (`decisions[i]` judges
/// `stages[i]`): the first forbidden stage forbids it; otherwise its risk
/// and verdict are the strictest stage's, and the first reason names the
/// stage that set the risk. Every stage's own reasons follow, so nothing
/// the policy said about any stage is lost.
pub(crate) fn combine(stages: &[&[String]], decisions: Vec<Decision>) -> Decision {
    let count = stages.len();
    let label = |i: usize| stage_label(i, count, stages.get(i).copied().unwrap_or_default());
    if let Some(i) = decisions.iter().position(|d| d.verdict == Verdict::Forbid) {
        let mut forbidden = decisions[i].clone();
        forbidden.reasons.insert(
            0,
            format!("{} is forbidden, so the whole pipeline is", label(i)),
        );
        return forbidden;
    }
    // The first stage at the highest risk sets it.
    let risk = decisions
        .iter()
        .map(|d| d.risk)
        .max()
        .unwrap_or(RiskLevel::ReadOnly);
    let decider = decisions.iter().position(|d| d.risk == risk).unwrap_or(0);
    let verdict = decisions
        .iter()
        .map(|d| d.verdict)
        .max()
        .unwrap_or(Verdict::Allow);
    let head = if decisions.iter().all(|d| d.risk == risk) && risk == RiskLevel::ReadOnly {
        format!("every stage of the {count}-stage pipeline is {risk}")
    } else {
        format!(
            "{} sets the pipeline's risk: {risk} (a pipeline is as risky as its strictest stage)",
            label(decider)
        )
    };
    let mut reasons = vec![head];
    for (i, d) in decisions.iter().enumerate() {
        reasons.push(format!(
            "{} is {}: {}",
            label(i),
            d.risk,
            d.reasons.join(", ")
        ));
    }
    Decision {
        risk,
        verdict,
        reasons,
        rule: decisions.get(decider).and_then(|d| d.rule.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::plan::Command;

    fn sv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn pipeline(root: &std::path::Path, stages: &[&[&str]]) -> Command {
        Command::piped(stages.iter().map(|s| sv(s)).collect(), root)
    }

    #[test]
    fn the_strictest_stage_sets_the_risk_and_is_named() {
        let root = tempfile::tempdir().unwrap();
        let policy = Policy::default();
        let read = pipeline(
            root.path(),
            &[&["du", "-ah", "."], &["sort", "-rh"], &["head", "-n", "10"]],
        );
        let d = policy.check_command(&read, root.path());
        assert_eq!(
            (d.risk, d.verdict),
            (RiskLevel::ReadOnly, Verdict::Allow),
            "{}",
            d.explain()
        );
        assert!(d.reasons[0].contains("every stage"), "{}", d.explain());
        assert_eq!(d.reasons.len(), 4);

        let write = pipeline(root.path(), &[&["ls"], &["tee", "out.txt"], &["wc", "-l"]]);
        let d = policy.check_command(&write, root.path());
        assert_eq!(
            (d.risk, d.verdict),
            (RiskLevel::Write, Verdict::Prompt),
            "{}",
            d.explain()
        );
        assert!(
            d.reasons[0]
                .starts_with("stage 2 of 3 (`tee out.txt`) sets the pipeline's risk: WRITE"),
            "{}",
            d.explain()
        );
        // The deciding stage's rule, not the first stage's.
        assert_eq!(
            d.rule,
            policy
                .check_command(&write.stage(1).unwrap(), root.path())
                .rule
        );
    }

    #[test]
    fn a_forbidden_stage_forbids_the_pipeline() {
        let root = tempfile::tempdir().unwrap();
        let policy = Policy::default();
        let cmd = pipeline(root.path(), &[&["echo", "x"], &["rm", "-rf", "/"]]);
        let d = policy.check_command(&cmd, root.path());
        assert_eq!(d.verdict, Verdict::Forbid, "{}", d.explain());
        assert!(
            d.reasons[0].starts_with("stage 2 of 2 (`rm -rf /`) is forbidden"),
            "{}",
            d.explain()
        );
    }

    #[test]
    fn a_single_stage_is_judged_as_a_plain_command() {
        let root = tempfile::tempdir().unwrap();
        let policy = Policy::default();
        let ctx = PolicyContext::rooted(root.path());
        let one = policy.check_stages(&[sv(&["ls"])], &ctx);
        assert_eq!(one, policy.check(&sv(&["ls"]), &ctx));
        let two = policy.check_stages(&[sv(&["ls"]), sv(&["sh", "-c", "rm -rf ~"])], &ctx);
        assert!(two.risk > RiskLevel::ReadOnly, "{}", two.explain());
    }
}
