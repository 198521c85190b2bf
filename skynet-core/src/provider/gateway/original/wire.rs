//! The original gateway protocol's JSON bodies, exactly as SKYNET sends
//! and reads them.
//!
//! **`POST /execute`**, one request per SKYNET step attempt:
//!
//! ```json
//! {
//!   "job_id": "0193….0.5f3a9c1e",
//!   "execution_spec": {
//!     "steps": [{
//!       "action": "read_file",
//!       "params": { "path": "notes.txt", "argv": ["cat", "--", "notes.txt"] },
//!       "argv": ["cat", "--", "notes.txt"],
//!       "working_dir": ".",
//!       "risk": "READ_ONLY",
//!       "timeout_ms": 120000
//!     }]
//!   }
//! }
//! ```
//!
//! - `action` and `params` are the catalog action and its parameters, as
//!   the original protocol names them (`Action` serialized without its
//!   `kind`). A step with no catalog action is `execute_command`.
//! - `argv` (top level) and `params.argv` are both the argv SKYNET's
//!   policy judged, so the gateway can run exactly that, or at least
//!   check its own resolution against it. For `execute_command` it is the
//!   action's own parameter.
//! - `working_dir` is the cwd relative to the job's root (`.` = the root).
//! - `risk` is the judged risk; `timeout_ms` the step's budget (absent
//!   when unlimited; SKYNET also stops the job itself at the deadline).
//!   `env` (object) and `stdin` (string) appear only when the step has
//!   them.
//!
//! The answer must be a 2xx with `{"status": "accepted"}`; any other
//! status value is a refusal, explained by `error`, `detail` or `message`.
//!
//! **`GET /status/{job_id}`** must answer a JSON object:
//!
//! | field | | meaning |
//! |---|---|---|
//! | `status` | required | `queued`, `running`, `completed`, `failed`, `cancelled` or `timed_out` (also read: `pending`, `accepted` = queued; `succeeded`, `success` = completed; `error` = failed; `canceled` = cancelled; `timeout` = timed_out) |
//! | `job_id` | optional | when present, the id asked about |
//! | `output`, `stdout`, `stderr` | optional strings | the output so far (cumulative: only what SKYNET has not seen is logged; `output` counts as stdout) |
//! | `exit_code` | optional integer | the command's exit code |
//! | `error` | optional string | why the job failed |
//! | `steps` | optional list | per-step results with the same optional fields (and their own `status`); the first is this job's only step and wins over the top level |
//!
//! Other fields are ignored. A missing `status`, an unknown status value
//! or a field of the wrong type is a [`WireError`], and the step fails
//! at once rather than guessing.
//!
//! **`POST /cancel/{job_id}`** asks the gateway to stop the job; any 2xx
//! answer is taken, and the status poll learns how the job ended.
//!
//! **`GET /status`** (no id) is the health check: a 2xx JSON object is
//! healthy unless it says `"agent_connected": false`.

use crate::action::Action;
use crate::plan::Command;
use crate::risk::RiskLevel;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The body of `POST /execute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteBody {
    /// SKYNET's id for this attempt of this step.
    pub job_id: String,
    /// What to run.
    pub execution_spec: ExecutionSpec,
}

/// `execution_spec`: the steps (SKYNET sends one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionSpec {
    /// The steps, in order.
    pub steps: Vec<WireStep>,
}

/// One step as the original protocol names it, with the judged argv.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireStep {
    /// Catalog action name.
    pub action: String,
    /// The action's parameters plus `argv`.
    pub params: Map<String, Value>,
    /// The argv SKYNET judged.
    pub argv: Vec<String>,
    /// The cwd relative to the root (`.` = the root).
    pub working_dir: String,
    /// The judged risk.
    pub risk: RiskLevel,
    /// The step's time budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Extra environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Bytes for the program's stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

impl WireStep {
    /// The step for `command`, resolved from `action` (or, without one,
    /// `execute_command`), run in `working_dir` under `timeout_ms`.
    pub fn new(
        action: Option<&Action>,
        command: &Command,
        working_dir: String,
        risk: RiskLevel,
        timeout_ms: Option<u64>,
    ) -> WireStep {
        let (name, mut params) = match action {
            Some(a) => (a.name().to_string(), action_params(a)),
            None => ("execute_command".to_string(), Map::new()),
        };
        params.insert("argv".into(), argv_value(&command.argv));
        WireStep {
            action: name,
            params,
            argv: command.argv.clone(),
            working_dir: if working_dir.is_empty() {
                ".".into()
            } else {
                working_dir
            },
            risk,
            timeout_ms,
            env: command.env.clone(),
            stdin: command.stdin.clone(),
        }
    }
}

/// The action's parameters: its serialized form without `kind`.
fn action_params(action: &Action) -> Map<String, Value> {
    match serde_json::to_value(action) {
        Ok(Value::Object(mut map)) => {
            map.remove("kind");
            map
        }
        // Every action serializes to an object; nothing else to send.
        _ => Map::new(),
    }
}

fn argv_value(argv: &[String]) -> Value {
    Value::Array(argv.iter().cloned().map(Value::String).collect())
}

/// An answer that does not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not a JSON object.
    #[error("the answer is not a JSON object ({0})")]
    NotAnObject(String),
    /// A required field is absent.
    #[error("the answer has no `{0}` field, which the protocol requires")]
    Missing(&'static str),
    /// A field has the wrong type.
    #[error("the answer's `{field}` is not {expected}")]
    WrongType {
        /// Which field.
        field: String,
        /// What it should be.
        expected: &'static str,
    },
    /// A status value the protocol does not have.
    #[error(
        "unknown status {0:?}; the protocol has queued, running, completed, failed, cancelled and \
         timed_out"
    )]
    UnknownStatus(String),
    /// `/execute` answered with something other than `accepted`.
    #[error("the gateway did not accept the job (status {status:?}){}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    NotAccepted {
        /// The status it gave.
        status: String,
        /// Its explanation, if any.
        detail: Option<String>,
    },
    /// The answer names another job.
    #[error("the answer is about job {got:?}, not {asked:?}")]
    OtherJob {
        /// The id asked about.
        asked: String,
        /// The id answered.
        got: String,
    },
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Accepted, not started.
    Queued,
    /// Running.
    Running,
    /// Ended by itself (see the exit code).
    Completed,
    /// Failed.
    Failed,
    /// Stopped by a cancel.
    Cancelled,
    /// Stopped by the gateway's own time limit.
    TimedOut,
}

impl JobState {
    fn parse(text: &str) -> Result<JobState, WireError> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "queued" | "pending" | "accepted" => JobState::Queued,
            "running" => JobState::Running,
            "completed" | "succeeded" | "success" => JobState::Completed,
            "failed" | "error" => JobState::Failed,
            "cancelled" | "canceled" => JobState::Cancelled,
            "timed_out" | "timeout" => JobState::TimedOut,
            _ => return Err(WireError::UnknownStatus(text.to_string())),
        })
    }

    /// Has the job ended?
    pub fn is_terminal(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A `GET /status/{job_id}` answer, merged from its top level and its
/// first step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// Where the job is.
    pub state: JobState,
    /// Cumulative stdout (`output` and `stdout` joined).
    pub stdout: String,
    /// Cumulative stderr.
    pub stderr: String,
    /// The exit code, when given.
    pub exit_code: Option<i32>,
    /// Why it failed, when given.
    pub error: Option<String>,
}

/// Read a `/status/{asked}` answer.
pub fn parse_status(body: &[u8], asked: &str) -> Result<JobStatus, WireError> {
    let top = object(body)?;
    if let Some(got) = optional_str(&top, "job_id")?
        && got != asked
    {
        return Err(WireError::OtherJob {
            asked: asked.to_string(),
            got: got.to_string(),
        });
    }
    let status = optional_str(&top, "status")?.ok_or(WireError::Missing("status"))?;
    let mut state = JobState::parse(status)?;
    let step = match top.get("steps") {
        None | Some(Value::Null) => None,
        Some(Value::Array(steps)) => match steps.first() {
            None => None,
            Some(Value::Object(step)) => Some(step),
            Some(_) => {
                return Err(WireError::WrongType {
                    field: "steps[0]".into(),
                    expected: "an object",
                });
            }
        },
        Some(_) => {
            return Err(WireError::WrongType {
                field: "steps".into(),
                expected: "a list",
            });
        }
    };
    // The step's own fields win over the job's.
    let mut fields = StepFields::read(&top, "")?;
    if let Some(step) = step {
        let own = StepFields::read(step, "steps[0].")?;
        // A finished step inside a job still shown as running is not the
        // job's end: only the top-level status says that.
        if let Some(s) = optional_str(step, "status")? {
            let step_state = JobState::parse(s)?;
            if state.is_terminal() && step_state.is_terminal() {
                state = step_state;
            }
        }
        fields = own.or(fields);
    }
    let mut stdout = fields.output.unwrap_or_default();
    if let Some(out) = fields.stdout {
        if !stdout.is_empty() && !out.is_empty() && !stdout.ends_with('\n') {
            stdout.push('\n');
        }
        stdout.push_str(&out);
    }
    Ok(JobStatus {
        state,
        stdout,
        stderr: fields.stderr.unwrap_or_default(),
        exit_code: fields.exit_code,
        error: fields.error,
    })
}

/// Read a `/execute` answer: it must say `accepted`.
pub fn parse_accepted(body: &[u8]) -> Result<(), WireError> {
    let top = object(body)?;
    let status = optional_str(&top, "status")?.ok_or(WireError::Missing("status"))?;
    if status.trim().eq_ignore_ascii_case("accepted") {
        return Ok(());
    }
    let mut detail = None;
    for key in ["error", "detail", "message"] {
        if let Some(d) = optional_str(&top, key)? {
            detail = Some(d.to_string());
            break;
        }
    }
    Err(WireError::NotAccepted {
        status: status.to_string(),
        detail,
    })
}

/// The optional result fields of a job or a step.
#[derive(Debug, Default)]
struct StepFields {
    output: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    exit_code: Option<i32>,
    error: Option<String>,
}

impl StepFields {
    fn read(map: &Map<String, Value>, prefix: &str) -> Result<StepFields, WireError> {
        let text = |key: &str| {
            optional_str(map, key)
                .map(|v| v.map(str::to_string))
                .map_err(|e| prefixed(e, prefix))
        };
        let exit_code =
            match map.get("exit_code") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_i64().and_then(|c| i32::try_from(c).ok()).ok_or_else(
                    || WireError::WrongType {
                        field: format!("{prefix}exit_code"),
                        expected: "an integer",
                    },
                )?),
            };
        Ok(StepFields {
            output: text("output")?,
            stdout: text("stdout")?,
            stderr: text("stderr")?,
            exit_code,
            error: text("error")?,
        })
    }

    /// `self`'s fields, each falling back to `other`'s.
    fn or(self, other: StepFields) -> StepFields {
        StepFields {
            output: self.output.or(other.output),
            stdout: self.stdout.or(other.stdout),
            stderr: self.stderr.or(other.stderr),
            exit_code: self.exit_code.or(other.exit_code),
            error: self.error.or(other.error),
        }
    }
}

fn prefixed(e: WireError, prefix: &str) -> WireError {
    match e {
        WireError::WrongType { field, expected } => WireError::WrongType {
            field: format!("{prefix}{field}"),
            expected,
        },
        other => other,
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, WireError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(WireError::NotAnObject(format!(
            "got {}",
            match other {
                Value::Array(_) => "a list",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))),
        Err(e) => Err(WireError::NotAnObject(format!(
            "{e}: {:?}",
            String::from_utf8_lossy(body)
                .chars()
                .take(200)
                .collect::<String>()
        ))),
    }
}

/// `map[key]` as a string: absent and `null` are `None`, anything else
/// but a string is wrong.
fn optional_str<'a>(map: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, WireError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(WireError::WrongType {
            field: key.to_string(),
            expected: "a string",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn cmd(argv: &[&str]) -> Command {
        Command {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: PathBuf::from("/root"),
            env: BTreeMap::new(),
            timeout_ms: None,
            stdin: None,
            pipe: Vec::new(),
        }
    }

    #[test]
    fn a_step_carries_the_action_its_params_and_the_judged_argv() {
        let action = Action::ReadFile {
            path: "notes.txt".into(),
        };
        let step = WireStep::new(
            Some(&action),
            &cmd(&["cat", "--", "notes.txt"]),
            String::new(),
            RiskLevel::ReadOnly,
            Some(5000),
        );
        let json = serde_json::to_value(&step).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "action": "read_file",
                "params": {"path": "notes.txt", "argv": ["cat", "--", "notes.txt"]},
                "argv": ["cat", "--", "notes.txt"],
                "working_dir": ".",
                "risk": "READ_ONLY",
                "timeout_ms": 5000
            })
        );
        // Without a catalog action the step is an explicit command.
        let bare = WireStep::new(None, &cmd(&["ls"]), "sub".into(), RiskLevel::Write, None);
        assert_eq!(bare.action, "execute_command");
        assert_eq!(bare.params["argv"], serde_json::json!(["ls"]));
        assert_eq!(bare.working_dir, "sub");
    }

    #[test]
    fn status_answers_are_read_leniently_but_required_fields_are_required() {
        let s = parse_status(
            br#"{"status":"completed","job_id":"j","exit_code":0,"output":"a\nb","extra":{"x":1}}"#,
            "j",
        )
        .expect("read");
        assert_eq!(s.state, JobState::Completed);
        assert_eq!((s.stdout.as_str(), s.exit_code), ("a\nb", Some(0)));

        // The first step's fields win; its status counts once the job ended.
        let s = parse_status(
            br#"{"status":"failed","exit_code":1,"steps":[{"status":"timed_out","stderr":"slow","exit_code":124}]}"#,
            "j",
        )
        .expect("read");
        assert_eq!(s.state, JobState::TimedOut);
        assert_eq!((s.stderr.as_str(), s.exit_code), ("slow", Some(124)));
        assert_eq!(
            parse_status(br#"{"status":"success"}"#, "j")
                .expect("alias")
                .state,
            JobState::Completed
        );

        assert_eq!(
            parse_status(br#"{"job_id":"j","output":"x"}"#, "j"),
            Err(WireError::Missing("status"))
        );
        assert_eq!(
            parse_status(br#"{"status":"exploded"}"#, "j"),
            Err(WireError::UnknownStatus("exploded".into()))
        );
        assert!(matches!(
            parse_status(br#"{"status":"running","exit_code":"zero"}"#, "j"),
            Err(WireError::WrongType { field, .. }) if field == "exit_code"
        ));
        assert!(matches!(
            parse_status(br#"{"status":"running","steps":[{"stdout":3}]}"#, "j"),
            Err(WireError::WrongType { field, .. }) if field == "steps[0].stdout"
        ));
        assert!(matches!(
            parse_status(br#"{"status":"running","job_id":"other"}"#, "j"),
            Err(WireError::OtherJob { .. })
        ));
        assert!(matches!(
            parse_status(b"[1]", "j"),
            Err(WireError::NotAnObject(_))
        ));
    }

    #[test]
    fn execute_must_be_accepted() {
        assert_eq!(parse_accepted(br#"{"status":"accepted","x":1}"#), Ok(()));
        assert_eq!(parse_accepted(br#"{}"#), Err(WireError::Missing("status")));
        assert_eq!(
            parse_accepted(br#"{"status":"rejected","error":"busy"}"#),
            Err(WireError::NotAccepted {
                status: "rejected".into(),
                detail: Some("busy".into())
            })
        );
    }
}
