//! The gateway protocol: the JSON bodies a remote execution agent
//! (`skynet agent`) and [`super::GatewayProvider`] exchange.
//!
//! | call | body | answer |
//! |---|---|---|
//! | `POST /execute` | [`ExecuteRequest`] | 202 [`StatusAnswer`] (no logs yet) |
//! | `GET /status/{job_id}?offset=N&wait_ms=M` | | [`StatusAnswer`]: log lines past `N`; waits up to `M` ms for news |
//! | `POST /cancel/{job_id}` | | [`StatusAnswer`] |
//! | `GET /health` | | [`AgentHealth`] |
//! | `POST /outputs/{job_id}` | [`OutputsRequest`] | [`OutputsAnswer`]: the files of the agent's root a finished job's declared patterns match |
//! | `GET /outputs/{job_id}/file?name=N&max_bytes=M` | | the bytes of one of them (`application/octet-stream`) |
//!
//! The two `outputs` calls were added within protocol 1: an agent that
//! has them lists [`FEATURE_OUTPUTS`] in [`AgentHealth::features`] (an
//! older one sends no features), so callers ask before using them.
//!
//! Every call carries `Authorization: Bearer <token>`. Errors are
//! problem+json ([`ProblemBody`]): 400 bad input (a cwd outside the
//! agent's root, say), 401 a missing or wrong token, 404 an unknown job
//! (the agent restarted, or evicted it), 409 a job id already running.

use crate::provider::{Capabilities, ExitKind, Stream};
use crate::risk::RiskLevel;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of this protocol; the agent reports it in [`AgentHealth`].
pub const PROTOCOL_VERSION: &str = "1";
/// Longest job id accepted.
pub const MAX_JOB_ID_LEN: usize = 128;
/// Longest long-poll an agent grants (`wait_ms` above it is cut).
pub const MAX_WAIT_MS: u64 = 30_000;
/// The feature an agent lists when it serves the `outputs` calls.
pub const FEATURE_OUTPUTS: &str = "outputs";
/// Most files one `outputs` listing names.
pub const MAX_OUTPUT_FILES: usize = 10_000;

/// Run these steps, in order, under `job_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    /// The caller's id for this run; letters, digits and `._:-` only, so
    /// it fits in a URL path segment.
    pub job_id: String,
    /// Steps run one after the other; the first that does not succeed
    /// ends the job.
    pub steps: Vec<RemoteStep>,
    /// Cap on captured output bytes per step (the agent's default when
    /// absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
}

/// One step as the agent runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteStep {
    /// Program and arguments; never a shell string.
    pub argv: Vec<String>,
    /// Working directory relative to the agent's root (`""` = the root).
    /// Absolute paths and paths that leave the root are refused.
    #[serde(default)]
    pub cwd: String,
    /// Extra environment on top of the agent's allowlist.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Bytes written to the program's stdin, then closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Time budget in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The step's judged risk (READ_ONLY steps get no network where the
    /// agent can isolate them).
    pub risk: RiskLevel,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoteStatus {
    /// A step is running.
    Running,
    /// Every step exited with 0.
    Succeeded,
    /// A step exited non-zero, was killed by a signal, or could not run.
    Failed,
    /// A step ran out of time.
    TimedOut,
    /// The job was cancelled.
    Cancelled,
}

impl RemoteStatus {
    /// Has the job ended?
    pub fn is_terminal(self) -> bool {
        self != RemoteStatus::Running
    }
}

/// One line of a step's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteLine {
    /// Where it came from.
    pub stream: Stream,
    /// The text, without its newline.
    pub text: String,
}

/// A job's state and the log lines past the requested offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// The job.
    pub job_id: String,
    /// Where it is.
    pub status: RemoteStatus,
    /// Index of the step running now (or the last one run).
    pub step: usize,
    /// Log lines from `offset` on (lines the agent already dropped from
    /// its bounded buffer are skipped: `offset` of the first line is
    /// `next_offset - logs.len()`).
    pub logs: Vec<RemoteLine>,
    /// Offset to ask for next.
    pub next_offset: u64,
    /// How the last step ended (absent while running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitKind>,
    /// The last step's exit code when it exited by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Output bytes produced by the job's steps.
    pub output_bytes: u64,
    /// Whether output past the cap was dropped.
    pub truncated: bool,
    /// Wall time so far.
    pub duration_ms: u64,
    /// Why the agent itself could not run a step, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentHealth {
    /// `ok` when the agent can run steps.
    pub status: String,
    /// Always true in an answer: the caller reached the agent.
    pub connected: bool,
    /// What the agent can do.
    pub capabilities: Capabilities,
    /// The agent's SKYNET version.
    pub version: String,
    /// Gateway protocol version ([`PROTOCOL_VERSION`]).
    pub protocol: String,
    /// How the agent confines steps.
    pub sandbox: String,
    /// Jobs running now.
    pub running: usize,
    /// Calls added within this protocol version that the agent serves
    /// ([`FEATURE_OUTPUTS`]); absent from older agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// `POST /outputs/{job_id}`: which of the agent's files a finished job's
/// declared outputs are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputsRequest {
    /// The declared patterns, relative to the agent's root (checked by
    /// the agent as SKYNET checks them when it plans).
    pub patterns: Vec<String>,
    /// Files larger than this are listed as skipped.
    pub max_file_bytes: u64,
    /// At most this many files (the agent caps it at
    /// [`MAX_OUTPUT_FILES`]).
    pub max_files: usize,
}

/// The answer to [`OutputsRequest`]: files found inside the agent's root
/// (regular files only, reached without following a symlink) and what
/// was passed over.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutputsAnswer {
    /// The files, in name order.
    pub files: Vec<RemoteOutput>,
    /// What was passed over, and why.
    #[serde(default)]
    pub skipped: Vec<RemoteSkipped>,
}

/// One output file at the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteOutput {
    /// Its path relative to the agent's root.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Hex SHA-256 of its bytes when listed (the fetched bytes must hash
    /// to it).
    pub sha256: String,
}

/// An output the agent passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSkipped {
    /// The pattern or path.
    pub name: String,
    /// Why, in words.
    pub why: String,
}

/// The problem+json body of an error answer (RFC 9457 fields the client
/// reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemBody {
    /// The HTTP status.
    pub status: u16,
    /// Stable code (`bad_request`, `unauthorized`, `not_found`, `conflict`).
    pub code: String,
    /// What went wrong and what to do.
    pub detail: String,
}

/// Is `id` usable as a job id (non-empty, at most [`MAX_JOB_ID_LEN`]
/// characters from `[A-Za-z0-9._:-]`)?
pub fn valid_job_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_JOB_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_fit_in_a_path_segment() {
        assert!(valid_job_id("0193a.2.ff:x-y_z"));
        assert!(!valid_job_id(""));
        assert!(!valid_job_id("a/b"));
        assert!(!valid_job_id("a b"));
        assert!(!valid_job_id(&"x".repeat(MAX_JOB_ID_LEN + 1)));
    }
}
