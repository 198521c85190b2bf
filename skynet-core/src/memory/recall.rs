//! Planning with memory: a principal's ended runs most like a new intent
//! ([`similar_runs`]), summed up for the approver ([`PastRuns`]) and handed
//! to an LLM planner as data ([`PastRun`], fenced by the planner's prompt).
//! Memory only informs: nothing here reads or writes a risk, and the policy
//! judges every step of every plan afterwards.

use super::{Memory, MemoryOutcome, cosine};
use serde::{Deserialize, Serialize};

/// Cosine (query intent against a stored run) at or above which a run
/// counts as similar. A run with the very same intent always counts.
pub const RECALL_MIN_SIMILARITY: f64 = 0.3;

/// Similar runs counted in [`PastRuns`] at most.
pub const RECALL_RUNS: usize = 10;

/// Similar runs handed to a planner at most.
pub const PROMPT_RUNS: usize = 5;

/// The longest record handed to a planner (characters).
pub const PROMPT_RECORD_CHARS: usize = 600;

/// The longest failure reason shown with a plan (characters).
pub const REASON_CHARS: usize = 200;

/// Failures of the same steps within [`FAILURE_WINDOW_HOURS`] from which a
/// plan carries a [`PlanWarning::RepeatedFailure`].
pub const REPEATED_FAILURES: u32 = 2;

/// The window of [`REPEATED_FAILURES`], in hours.
pub const FAILURE_WINDOW_HOURS: u32 = 24;

/// One past run handed to a planner: untrusted data (its text may say
/// anything), which the prompt fences and escapes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastRun {
    /// How it ended.
    pub outcome: MemoryOutcome,
    /// The memory's (redacted) record of it, cut to
    /// [`PROMPT_RECORD_CHARS`].
    pub record: String,
}

impl From<&Memory> for PastRun {
    fn from(m: &Memory) -> Self {
        PastRun {
            outcome: m.outcome.unwrap_or(MemoryOutcome::Neutral),
            record: m.content.chars().take(PROMPT_RECORD_CHARS).collect(),
        }
    }
}

/// How a principal's similar past runs ended: shown with a plan as
/// `similar past runs: 3 succeeded, 1 failed: <reason>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PastRuns {
    /// Runs that succeeded.
    pub succeeded: u32,
    /// Runs that failed.
    pub failed: u32,
    /// Runs that ended otherwise (cancelled, denied, timed out...).
    pub other: u32,
    /// Why the latest failed one failed (redacted, one line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
}

impl PastRuns {
    /// The counts of `runs` (None when there are none).
    pub fn of(runs: &[Memory]) -> Option<Self> {
        if runs.is_empty() {
            return None;
        }
        let mut out = PastRuns::default();
        let mut latest_failure: Option<&Memory> = None;
        for m in runs {
            match m.outcome {
                Some(MemoryOutcome::Success) => out.succeeded += 1,
                Some(MemoryOutcome::Failure) => {
                    out.failed += 1;
                    if latest_failure.is_none_or(|l| m.created_at > l.created_at) {
                        latest_failure = Some(m);
                    }
                }
                _ => out.other += 1,
            }
        }
        out.last_failure = latest_failure.and_then(failure_reason);
        Some(out)
    }

    /// `similar past runs: 3 succeeded, 1 failed: <reason>`.
    pub fn line(&self) -> String {
        let mut parts = vec![format!("{} succeeded", self.succeeded)];
        if self.failed > 0 {
            parts.push(format!("{} failed", self.failed));
        }
        if self.other > 0 {
            parts.push(format!("{} ended otherwise", self.other));
        }
        let mut line = format!("similar past runs: {}", parts.join(", "));
        if let Some(why) = &self.last_failure {
            line.push_str(": ");
            line.push_str(why);
        }
        line
    }
}

/// Why a remembered run failed: its metadata's `error`, else the record's
/// `error:` line; one line, at most [`REASON_CHARS`].
fn failure_reason(m: &Memory) -> Option<String> {
    let text = m
        .metadata
        .get("error")
        .and_then(|e| e.as_str())
        .map(str::to_string)
        .or_else(|| {
            m.content
                .lines()
                .find_map(|l| l.strip_prefix("error: ").map(str::to_string))
        })?;
    let one_line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(REASON_CHARS)
        .collect();
    (!one_line.is_empty()).then_some(one_line)
}

/// What the approver should know before approving a plan. Only ever
/// informs: no warning changes a risk or what runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanWarning {
    /// This very step (same principal, action and command: its
    /// [`step_signature`](crate::store::step_signature)) failed
    /// `failures` times in the last `window_hours` hours.
    RepeatedFailure {
        /// The step, from 1.
        step: u32,
        /// Its description.
        description: String,
        /// How often it failed in the window.
        failures: u32,
        /// The window, in hours.
        window_hours: u32,
    },
}

impl PlanWarning {
    /// The warning as a person reads it.
    pub fn message(&self) -> String {
        match self {
            PlanWarning::RepeatedFailure {
                step,
                description,
                failures,
                window_hours,
            } => format!(
                "step {step} ({description}) failed {failures} times in the last {window_hours} hours"
            ),
        }
    }
}

/// The runs among `candidates` (one principal's `task_execution`
/// memories) like `intent`, whose vector is `query`: the same intent, or a
/// stored vector of the query's dimension at least
/// [`RECALL_MIN_SIMILARITY`] away. Most similar first, at most `limit`.
pub fn similar_runs(
    candidates: Vec<Memory>,
    intent: &str,
    query: &[f32],
    limit: usize,
) -> Vec<Memory> {
    let wanted = normalise_intent(intent);
    let mut scored: Vec<(f64, Memory)> = candidates
        .into_iter()
        .filter_map(|m| {
            let same = m
                .metadata
                .get("intent")
                .and_then(|i| i.as_str())
                .is_some_and(|i| normalise_intent(i) == wanted);
            let sim = if m.embedding.len() == query.len() && !query.is_empty() {
                f64::from(cosine(&m.embedding, query))
            } else {
                0.0
            };
            if same {
                Some((2.0 + sim, m))
            } else if sim >= RECALL_MIN_SIMILARITY {
                Some((sim, m))
            } else {
                None
            }
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| b.1.created_at.cmp(&a.1.created_at))
    });
    scored.truncate(limit);
    scored.into_iter().map(|(_, m)| m).collect()
}

fn normalise_intent(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryType, NewMemory};

    fn run(intent: &str, outcome: MemoryOutcome, error: Option<&str>, v: Vec<f32>) -> Memory {
        let mut content = format!("intent: {intent}\noutcome: x");
        if let Some(e) = error {
            content.push_str(&format!("\nerror: {e}"));
        }
        let mut m = NewMemory {
            content,
            memory_type: Some(MemoryType::TaskExecution),
            metadata: Some(serde_json::json!({ "intent": intent })),
            outcome: Some(outcome),
            ..Default::default()
        }
        .into_memory(crate::Principal::local(), chrono::Utc::now())
        .expect("memory");
        m.embedding = v;
        m
    }

    #[test]
    fn counts_and_the_latest_reason_make_the_line() {
        let runs = vec![
            run("a", MemoryOutcome::Success, None, vec![]),
            run("a", MemoryOutcome::Failure, Some("old\nreason"), vec![]),
            run("a", MemoryOutcome::Success, None, vec![]),
            run("a", MemoryOutcome::Failure, Some("disk   full"), vec![]),
            run("a", MemoryOutcome::Success, None, vec![]),
        ];
        let p = PastRuns::of(&runs).expect("some");
        assert_eq!((p.succeeded, p.failed, p.other), (3, 2, 0));
        assert_eq!(
            p.line(),
            "similar past runs: 3 succeeded, 2 failed: disk full"
        );
        assert_eq!(PastRuns::of(&[]), None);
    }

    #[test]
    fn similar_means_same_intent_or_close_vector() {
        let q = vec![1.0, 0.0];
        let same = run(
            "Check  GIT status",
            MemoryOutcome::Success,
            None,
            vec![0.0, 1.0],
        );
        let close = run("other", MemoryOutcome::Success, None, vec![0.8, 0.6]);
        let far = run("far", MemoryOutcome::Success, None, vec![0.1, 0.99]);
        let wrong_dim = run("dim", MemoryOutcome::Success, None, vec![1.0, 0.0, 0.0]);
        let got = similar_runs(
            vec![far, close.clone(), wrong_dim, same.clone()],
            "check git status",
            &q,
            10,
        );
        let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, [same.id.as_str(), close.id.as_str()]);
    }
}
