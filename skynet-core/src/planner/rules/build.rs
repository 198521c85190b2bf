//! Building catalog actions from a matched rule's captures.
//!
//! Builders check what the pattern could not: counts in range, git names
//! that cannot be mistaken for options, commands that split cleanly.

use super::matcher::{Captures, looks_like_path};
use super::words::{parse_count, show};
use crate::action::Action;

/// Why a rule that matched did not produce an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Not this rule after all: try the next pattern.
    Decline,
    /// The user asked for this action but something is wrong: say what.
    Explain(String),
}

pub(super) fn param(c: &Captures, name: &str) -> Result<String, Reject> {
    match c.get(name) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(Reject::Decline),
    }
}

/// A directory slot, `.` when absent.
pub(super) fn dir(c: &Captures) -> String {
    c.get("path")
        .filter(|p| !p.is_empty())
        .unwrap_or(".")
        .to_string()
}

pub(super) fn diff(c: &Captures, staged: bool) -> Result<Action, Reject> {
    let path = c.get("path").filter(|p| !p.is_empty()).map(str::to_string);
    Ok(Action::GitDiff { path, staged })
}

pub(super) fn log(c: &Captures) -> Result<Action, Reject> {
    let count = match c.get("count") {
        None => 10,
        Some(n) => parse_count(n).ok_or(Reject::Decline)?,
    };
    if !(1..=1000).contains(&count) {
        return Err(Reject::Explain(format!(
            "can show 1 to 1000 commits, not {count}"
        )));
    }
    Ok(Action::GitLog { count })
}

/// `read X`, but `read src/` or `open .` lists the directory.
pub(super) fn read_file(c: &Captures) -> Result<Action, Reject> {
    let path = param(c, "path")?;
    if path.ends_with('/') || path == "." || path == ".." {
        return Ok(Action::ListDirectory { path });
    }
    Ok(Action::ReadFile { path })
}

pub(super) fn search(c: &Captures) -> Result<Action, Reject> {
    let pattern = param(c, "pattern")?;
    // "grep for x" is not "grep PATTERN=for PATH=x".
    if pattern.eq_ignore_ascii_case("for") {
        return Err(Reject::Decline);
    }
    Ok(Action::SearchFiles {
        pattern,
        path: dir(c),
    })
}

pub(super) fn write_file(c: &Captures) -> Result<Action, Reject> {
    let path = param(c, "path")?;
    let content = c.get("content").unwrap_or_default().to_string();
    Ok(Action::WriteFile { path, content })
}

pub(super) fn commit(c: &Captures) -> Result<Action, Reject> {
    let message = c.get("message").unwrap_or_default();
    if message.trim().is_empty() {
        return Err(Reject::Explain(
            "the commit message is empty; say commit with message 'your message'".into(),
        ));
    }
    Ok(Action::GitCommit {
        message: message.to_string(),
    })
}

pub(super) fn push(c: &Captures) -> Result<Action, Reject> {
    let mut remote = c.get("remote").unwrap_or("origin").to_string();
    let mut branch = c.get("branch").map(str::to_string);
    // "push to origin/main" names the remote and the branch at once.
    if branch.is_none()
        && let Some((r, b)) = remote.split_once('/')
        && !r.is_empty()
        && !b.is_empty()
    {
        (remote, branch) = (r.to_string(), Some(b.to_string()));
    }
    check_ref_name("remote", &remote)?;
    if let Some(b) = &branch {
        check_ref_name("branch", b)?;
    }
    Ok(Action::GitPush { remote, branch })
}

/// A remote or branch must be a plain name, never an option for git.
fn check_ref_name(what: &str, name: &str) -> Result<(), Reject> {
    let plain = !name.is_empty()
        && !name.starts_with('-')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if plain {
        return Ok(());
    }
    Err(Reject::Explain(format!(
        "{what} {} is not a plain name; for push options wrap the whole command in backticks, like run `git push --force-with-lease origin main`",
        show(name)
    )))
}

/// Words that say "a lot" rather than name a path: never delete those.
const VAGUE_TARGETS: &[&str] = &[
    "everything",
    "all",
    "it",
    "them",
    "this",
    "that",
    "stuff",
    "files",
];

pub(super) fn delete(c: &Captures) -> Result<Action, Reject> {
    let path = param(c, "path")?;
    if VAGUE_TARGETS.contains(&path.to_lowercase().as_str()) {
        return Err(Reject::Explain(format!(
            "\"{}\" does not name a path; say exactly what to delete, like delete build/",
            show(&path)
        )));
    }
    Ok(Action::DeletePath { path })
}

/// A command in backticks; one with unquoted `|` is a pipeline, whose
/// stages SKYNET connects itself (no shell).
pub(super) fn exec_command(c: &Captures) -> Result<Action, Reject> {
    let text = c.get("argv").unwrap_or_default();
    if text.contains('|') {
        let mut stages = super::pipes::split_pipeline(text)
            .map_err(|e| Reject::Explain(format!("the command `{}`: {e}", show(text))))?;
        if stages.len() > 1 {
            return Ok(Action::ExecutePipeline { stages });
        }
        return match stages.pop() {
            Some(argv) if argv.first().is_some_and(|a| !a.trim().is_empty()) => {
                Ok(Action::ExecuteCommand { argv })
            }
            _ => Err(Reject::Explain("the command in backticks is empty".into())),
        };
    }
    let argv = shell_words::split(text).map_err(|e| {
        Reject::Explain(format!(
            "cannot split the command `{}` into words ({e}); check its quotes",
            show(text)
        ))
    })?;
    if argv.first().is_none_or(|a| a.trim().is_empty()) {
        return Err(Reject::Explain("the command in backticks is empty".into()));
    }
    Ok(Action::ExecuteCommand { argv })
}

/// Programs whose plain-word invocations are unambiguous (`cargo test`).
const KNOWN_TOOLS: &[&str] = &[
    "cargo", "npm", "pnpm", "yarn", "pytest", "tox", "mvn", "gradle",
];

pub(super) fn known_tool(c: &Captures) -> Result<Action, Reject> {
    let text = c.get("argv").unwrap_or_default();
    let argv: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    let simple = |w: &String| {
        w.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_=./:@+,".contains(ch))
    };
    let known = argv
        .first()
        .is_some_and(|p| KNOWN_TOOLS.contains(&p.as_str()));
    if known
        && (2..=8).contains(&argv.len())
        && argv.iter().all(simple)
        && !looks_like_path(&argv[0])
    {
        return Ok(Action::ExecuteCommand { argv });
    }
    Err(Reject::Decline)
}
