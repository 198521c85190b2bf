//! Plans and steps, with a stable content hash that approvals bind to.

use crate::action::Action;
use crate::policy::Decision;
use crate::risk::RiskLevel;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Shortest plan-hash prefix an approval may name (48 bits).
pub const MIN_HASH_PREFIX: usize = 12;

/// A concrete invocation: what a provider actually runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Program and arguments; never a shell string.
    pub argv: Vec<String>,
    /// Working directory (absolute, inside the sandbox root).
    pub cwd: PathBuf,
    /// Extra environment on top of the provider's allowlist (sorted, so
    /// the hash is stable).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// This command's own time limit in milliseconds: the command level of
    /// [`crate::timeouts`], over the request's step budget and the action's
    /// and provider's defaults (`None`: those decide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Bytes written to the program's stdin, then closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Further stages of a pipeline, in order: `argv`'s standard output
    /// feeds the first one's input, and so on; the last stage's output is
    /// the step's. SKYNET connects them itself, never through a shell (see
    /// [`Command::stages`]). Empty for a single program, and then not
    /// serialized, so the hash of a plan without pipelines is unchanged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipe: Vec<Stage>,
}

/// A stage of a pipeline after the first (see [`Command::pipe`]). It runs
/// in the command's working directory with the command's environment; its
/// standard input is the previous stage's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// Program and arguments; never a shell string.
    pub argv: Vec<String>,
}

impl Stage {
    /// A stage running `argv`.
    pub fn new(argv: Vec<String>) -> Stage {
        Stage { argv }
    }
}

impl Command {
    /// A command running `stages` in order in `cwd`, each stage's output
    /// feeding the next (one stage: a single program), with no extra
    /// environment, input or time limit of its own.
    pub fn piped(mut stages: Vec<Vec<String>>, cwd: impl Into<PathBuf>) -> Command {
        let argv = if stages.is_empty() {
            Vec::new()
        } else {
            stages.remove(0)
        };
        Command {
            argv,
            cwd: cwd.into(),
            env: BTreeMap::new(),
            timeout_ms: None,
            stdin: None,
            pipe: stages.into_iter().map(Stage::new).collect(),
        }
    }

    /// Whether this is a pipeline of more than one program.
    pub fn is_pipeline(&self) -> bool {
        !self.pipe.is_empty()
    }

    /// Every stage's argv, in order: `argv` first, then [`Command::pipe`]'s.
    /// A single program is a pipeline of one.
    pub fn stages(&self) -> impl Iterator<Item = &[String]> + Clone + '_ {
        std::iter::once(self.argv.as_slice()).chain(self.pipe.iter().map(|s| s.argv.as_slice()))
    }

    /// How many programs run: 1, or the pipeline's stage count.
    pub fn stage_count(&self) -> usize {
        self.pipe.len() + 1
    }

    /// Stage `index` (0-based) on its own: its argv, with the command's
    /// working directory and environment, and the stdin only for the first
    /// stage. This is what the policy judges for each stage.
    pub fn stage(&self, index: usize) -> Option<Command> {
        let argv = match index {
            0 => self.argv.clone(),
            i => self.pipe.get(i - 1)?.argv.clone(),
        };
        Some(Command {
            argv,
            cwd: self.cwd.clone(),
            env: self.env.clone(),
            timeout_ms: None,
            stdin: if index == 0 { self.stdin.clone() } else { None },
            pipe: Vec::new(),
        })
    }

    /// How messages name stage `index` (0-based) of this command: `stage 2
    /// of 3 (`sort -rh`)`.
    pub fn stage_label(&self, index: usize) -> String {
        let argv = self.stages().nth(index).unwrap_or_default();
        stage_label(index, self.stage_count(), argv)
    }

    /// The command as people read it: its words, and ` | ` between the
    /// stages of a pipeline. For reading only: nothing ever runs it
    /// through a shell, and words are not quoted.
    pub fn display_line(&self) -> String {
        self.stages()
            .map(|argv| argv.join(" "))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// How messages name stage `index` (0-based) of `count` running `argv`:
/// `stage 2 of 3 (`sort -rh`)`.
pub fn stage_label(index: usize, count: usize, argv: &[String]) -> String {
    format!("stage {} of {count} (`{}`)", index + 1, argv.join(" "))
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// What a human reads.
    pub description: String,
    /// The catalog action.
    pub action: Action,
    /// The resolved invocation.
    pub command: Command,
    /// Effective risk: max(planner's claim, policy).
    pub risk: RiskLevel,
    /// The policy decision behind `risk` (absent until judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Expected duration in milliseconds: an annotation, not part of the
    /// hash (plans stored before it existed keep theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_ms: Option<u64>,
    /// The network label: what this step reaches over the network (`dns
    /// example.com`, `GET https://…`, `ping host`), set by the judge on a
    /// probe step ([`crate::probe`]) and shown with the plan. Derived from
    /// the action, which the hash covers, so outside the hash; nothing
    /// reads it to decide what runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Files the step produces that are kept as the job's artifacts:
    /// paths or glob patterns relative to the root (`target/release/app`,
    /// `reports/*.xml`), collected after the step ([`crate::artifact`]).
    /// Part of the hash (an approver sees what is kept), skipped when
    /// empty, so plans without artifacts keep their hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<String>,
}

/// An ordered list of steps with an overall risk and a content hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// One-line summary.
    pub summary: String,
    /// Steps, run in order.
    pub steps: Vec<Step>,
    /// Max of the steps' risks.
    pub risk: RiskLevel,
    /// SHA-256 over the canonical steps (hex).
    pub hash: String,
    /// Which planner produced it (`rules`, `llm:openai:gpt-4o-mini`, ...).
    pub planner: String,
    /// Model tokens and estimated cost behind the plan (LLM planners only;
    /// not part of the hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<PlanUsage>,
    /// Expected duration of all steps in milliseconds (not in the hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_ms: Option<u64>,
    /// The per-step time budget the request asked for, in milliseconds:
    /// the step level of [`crate::timeouts`], applied when each step runs.
    /// Kept with the plan so the job (and a retry of it) runs under it; a
    /// limit, not part of what runs, so outside the hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout_ms: Option<u64>,
    /// How this principal's similar past runs ended, from memory
    /// ([`crate::memory::PastRuns`]): shown to the approver, outside the
    /// hash, and never read to decide a risk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_runs: Option<crate::memory::PastRuns>,
    /// What the approver should know before approving (the same steps
    /// failed repeatedly of late, ...); outside the hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<crate::memory::PlanWarning>,
}

/// What asking a model for a plan cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanUsage {
    /// `provider:model`.
    pub model: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
    /// Estimated US dollars, when the model's price is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cost_usd: Option<f64>,
}

/// The part of a step that the hash covers: what runs and what the
/// approver was told, not the explanatory decision text.
#[derive(Serialize)]
struct CanonicalStep<'a> {
    description: &'a str,
    action: &'a Action,
    command: &'a Command,
    risk: RiskLevel,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    artifacts: &'a [String],
}

impl Plan {
    /// Build a plan: computes the overall risk and the hash.
    pub fn new(summary: impl Into<String>, steps: Vec<Step>, planner: impl Into<String>) -> Plan {
        let mut plan = Plan {
            summary: summary.into(),
            steps,
            risk: RiskLevel::ReadOnly,
            hash: String::new(),
            planner: planner.into(),
            usage: None,
            estimate_ms: None,
            step_timeout_ms: None,
            past_runs: None,
            warnings: Vec::new(),
        };
        plan.refresh();
        plan.estimate(|_| None);
        plan
    }

    /// Fill in the duration estimates: for each step the median of its
    /// past runs when `history` knows one, else its action's default; the
    /// plan's is their sum. Changes no hash.
    pub fn estimate(&mut self, mut history: impl FnMut(&Step) -> Option<u64>) {
        let mut total: u64 = 0;
        for step in &mut self.steps {
            let ms = history(step).unwrap_or_else(|| step.action.default_estimate_ms());
            step.estimate_ms = Some(ms);
            total = total.saturating_add(ms);
        }
        self.estimate_ms = Some(total);
    }

    /// Recompute `risk` and `hash` after the steps changed.
    pub fn refresh(&mut self) {
        self.risk = self
            .steps
            .iter()
            .map(|s| s.risk)
            .max()
            .unwrap_or(RiskLevel::ReadOnly);
        self.hash = self.compute_hash();
    }

    /// SHA-256 (hex) over the canonical JSON of the steps. Field order is
    /// fixed by the structs and env is a BTreeMap, so the hash is stable
    /// across runs, machines and versions that keep these fields.
    pub fn compute_hash(&self) -> String {
        let canon: Vec<CanonicalStep<'_>> = self
            .steps
            .iter()
            .map(|s| CanonicalStep {
                description: &s.description,
                action: &s.action,
                command: &s.command,
                risk: s.risk,
                artifacts: &s.artifacts,
            })
            .collect();
        // Serializing these plain structs cannot fail.
        let bytes = serde_json::to_vec(&canon).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// The short form of the hash shown to people (first 12 hex digits).
    pub fn short_hash(&self) -> &str {
        &self.hash[..self.hash.len().min(12)]
    }

    /// Refuse text that cannot name any plan (too short, not hex) with
    /// what to give instead, so it is never reported as a stale plan.
    pub fn check_hash_text(given: &str) -> crate::Result<()> {
        let g = given.trim();
        if !g.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(crate::Error::InvalidInput(format!(
                "{g:?} is not a plan hash: give the hex digits the plan shows (at least {MIN_HASH_PREFIX})"
            )));
        }
        if g.len() < MIN_HASH_PREFIX {
            return Err(crate::Error::InvalidInput(format!(
                "plan hash {g:?} is too short: give at least {MIN_HASH_PREFIX} hex digits, as the plan shows them"
            )));
        }
        Ok(())
    }

    /// Whether `given` (full hash or a prefix of at least
    /// [`MIN_HASH_PREFIX`] digits, as shown by `short_hash`) names this plan.
    pub fn hash_matches(&self, given: &str) -> bool {
        let g = given.trim().to_ascii_lowercase();
        g.len() >= MIN_HASH_PREFIX && self.hash.starts_with(&g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(path: &str) -> Step {
        Step {
            description: format!("read {path}"),
            action: Action::ReadFile { path: path.into() },
            command: Command::piped(vec![vec!["cat".into(), "--".into(), path.into()]], "/srv"),
            risk: RiskLevel::ReadOnly,
            decision: None,
            estimate_ms: None,
            network: None,
            artifacts: Vec::new(),
        }
    }

    const PINNED_HASH: &str = "819c278e8ed37ba06bcce47e1227d2b39b8f6a6d406cc722b1d3f40554a01ae0";

    #[test]
    fn hash_is_stable_and_content_bound() {
        let a = Plan::new("s", vec![step("a")], "rules");
        let a2 = Plan::new("other summary", vec![step("a")], "llm");
        let b = Plan::new("s", vec![step("b")], "rules");
        assert_eq!(
            a.hash, a2.hash,
            "summary and planner are not part of the hash"
        );
        assert_ne!(a.hash, b.hash);
        assert_eq!(a.hash.len(), 64);
        // Pinned value: changing the canonical form breaks approvals given
        // before the change, so it must be a deliberate one.
        assert_eq!(a.hash, PINNED_HASH);
    }

    #[test]
    fn estimates_are_annotations_outside_the_hash() {
        let mut p = Plan::new("s", vec![step("a")], "rules");
        assert_eq!(p.hash, PINNED_HASH);
        assert_eq!(p.steps[0].estimate_ms, Some(50), "read_file's default");
        assert_eq!(p.estimate_ms, Some(50));
        p.estimate(|_| Some(1_234));
        assert_eq!(
            (p.steps[0].estimate_ms, p.estimate_ms),
            (Some(1_234), Some(1_234))
        );
        assert_eq!(p.compute_hash(), PINNED_HASH);
    }

    #[test]
    fn a_plan_stored_before_estimates_keeps_its_hash() {
        // The JSON a store held before estimates existed.
        let old = format!(
            r#"{{"summary":"s","steps":[{{"description":"read a","action":{{"kind":"read_file","path":"a"}},"command":{{"argv":["cat","--","a"],"cwd":"/srv"}},"risk":"READ_ONLY"}}],"risk":"READ_ONLY","hash":"{PINNED_HASH}","planner":"rules"}}"#
        );
        let p: Plan = serde_json::from_str(&old).expect("old plan reads");
        assert_eq!(p.estimate_ms, None);
        assert_eq!(p.steps[0].estimate_ms, None);
        assert_eq!(p.compute_hash(), p.hash);
        assert_eq!(p.hash, PINNED_HASH);
        // Written back without estimates, it is byte-for-byte the old form.
        assert_eq!(serde_json::to_string(&p).expect("json"), old);
    }

    #[test]
    fn declared_artifacts_are_part_of_the_hash_only_when_present() {
        let mut p = Plan::new("s", vec![step("a")], "rules");
        assert_eq!(p.hash, PINNED_HASH, "no artifacts: the old hash");
        p.steps[0].artifacts = vec!["reports/*.xml".into()];
        p.refresh();
        assert_ne!(
            p.hash, PINNED_HASH,
            "what is kept is approved with the plan"
        );
    }

    #[test]
    fn risk_raise_changes_hash() {
        let mut p = Plan::new("s", vec![step("a")], "rules");
        let before = p.hash.clone();
        p.steps[0].risk = RiskLevel::Write;
        p.refresh();
        assert_eq!(p.risk, RiskLevel::Write);
        assert_ne!(p.hash, before);
    }

    #[test]
    fn hash_prefix_matching_needs_twelve_digits() {
        let p = Plan::new("s", vec![step("a")], "rules");
        assert!(p.hash_matches(&p.hash));
        assert!(p.hash_matches(p.short_hash()));
        assert!(!p.hash_matches(&p.hash[..11]));
        assert!(!p.hash_matches("deadbeefdeadbeef"));
    }
}
