//! Exit codes, derived from core error kinds and job statuses in one place.

use skynet_core::{Error, ErrorKind, JobStatus};
use std::io::Write;
use std::process::ExitCode;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The job succeeded (or the command did what was asked).
    Ok = 0,
    /// The job failed, timed out, was cancelled or needs review.
    JobFailed = 1,
    /// Bad input or a planning error.
    BadInput = 2,
    /// Needs approval, was denied, or the approval was refused.
    NotApproved = 3,
    /// Forbidden by policy, or not permitted to this caller.
    Forbidden = 4,
    /// SKYNET itself failed (store, I/O, provider).
    Internal = 5,
    /// `skynet health` found a component unhealthy, or `skynet webhook
    /// test` got no 2xx answer.
    Unhealthy = 6,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// The exit code for a core error.
pub fn for_error(e: &Error) -> Exit {
    match e.kind() {
        ErrorKind::InvalidInput
        | ErrorKind::Planning
        | ErrorKind::NotFound
        | ErrorKind::Conflict => Exit::BadInput,
        ErrorKind::ApprovalRequired | ErrorKind::StaleApproval => Exit::NotApproved,
        ErrorKind::Forbidden | ErrorKind::NotPermitted => Exit::Forbidden,
        ErrorKind::Timeout | ErrorKind::Cancelled => Exit::JobFailed,
        _ => Exit::Internal,
    }
}

/// The exit code for a job that reached `status`.
pub fn for_status(status: JobStatus) -> Exit {
    match status {
        JobStatus::Succeeded => Exit::Ok,
        JobStatus::Planned | JobStatus::Denied => Exit::NotApproved,
        JobStatus::Created | JobStatus::Queued | JobStatus::Running => Exit::Ok,
        _ => Exit::JobFailed,
    }
}

/// Print an error (as text on stderr; also as JSON on stdout with `--json`)
/// and return its exit code. A reader that went away (`skynet jobs | head`)
/// is not an error: exit quietly.
pub fn report(e: &Error, json: bool) -> ExitCode {
    if let Error::Io(io) = e
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return Exit::Ok.into();
    }
    if json {
        let body =
            serde_json::json!({"error": {"code": e.kind().code(), "message": e.to_string()}});
        let _ = writeln!(std::io::stdout(), "{body}");
    }
    // Multi-line messages (a TOML error's excerpt and caret) keep their
    // line breaks; each line is made safe for the terminal on its own.
    let message = e.to_string();
    let mut lines = message.lines();
    crate::render::err_line(&format!(
        "error: {}",
        crate::render::printable(lines.next().unwrap_or_default())
    ));
    for line in lines {
        crate::render::err_line(&crate::render::printable(line));
    }
    if let Some(hint) = hint(e) {
        crate::render::err_line(&format!("hint: {hint}"));
    }
    for_error(e).into()
}

/// What to do about an error, in the CLI's words (core messages carry
/// none: HTTP and Python callers would see them too).
pub fn hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::ApprovalRequired(id) => format!(
            "review it with `skynet show {id}`, then approve the plan you reviewed with `skynet approve {id} --plan-hash HASH`"
        ),
        Error::StaleApproval { job, .. } => format!("review it again with `skynet show {job}`"),
        Error::JobNotFound(_) => "list jobs with `skynet jobs`".into(),
        Error::ScheduleNotFound(_) => "list schedules with `skynet schedule list`".into(),
        Error::TriggerNotFound(_) => "list triggers with `skynet trigger list`".into(),
        Error::WebhookNotFound(_) => "list webhooks with `skynet webhook list`".into(),
        Error::DeliveryNotFound(_) => {
            "list deliveries with `skynet webhook deliveries [--dead]`".into()
        }
        Error::UnknownAction { .. } => "`skynet actions` lists the catalog".into(),
        Error::Planning(_) => {
            "`skynet actions` lists the catalog; `--planner rules` plans without \
             a model, `--planner auto` with one"
                .into()
        }
        Error::IdempotencyConflict { job, .. } => {
            format!("see the first job with `skynet show {job}`, or pass a fresh --idempotency-key")
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_adds_its_own_words_to_a_planning_refusal() {
        let planning = Error::Planning("could not understand \"x\"".into());
        let hint = hint(&planning).expect("a planning error gets a hint");
        assert!(
            hint.contains("`skynet actions`") && hint.contains("--planner rules"),
            "{hint}"
        );
        let unknown = Error::UnknownAction {
            name: "lsit".into(),
            closest: vec!["list_files".into()],
        };
        assert!(
            !unknown.to_string().contains("skynet "),
            "core stays neutral: {unknown}"
        );
        assert!(hint_of(&unknown).contains("`skynet actions`"));
    }

    fn hint_of(e: &Error) -> String {
        hint(e).unwrap_or_default()
    }
}
