//! The rule planner: the default planner, with no network and no model.
//!
//! An intent is split into clauses (`clauses`), each clause is matched
//! against a table of phrase patterns (`phrases`) and becomes exactly one
//! catalog action. Anything it cannot map is a planning error that names
//! the clause: it never guesses a command.

mod build;
mod clauses;
mod matcher;
mod pattern;
mod phrases;
pub(crate) mod pipes;
mod words;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod ops_tests;
#[cfg(test)]
mod phrase_tests;
#[cfg(test)]
mod planner_tests;

use super::scripted::plan_from_actions;
use super::{PlanRequest, Planner};
use crate::action::Action;
use crate::plan::Plan;
use crate::{Error, Result};
use async_trait::async_trait;
use words::{show, show_max};

/// Most steps one intent may produce; longer lists are split into jobs.
pub const MAX_STEPS: usize = 64;

/// The rule-based planner: maps plain-language clauses to catalog actions.
#[derive(Debug, Clone, Default)]
pub struct RulePlanner {}

/// One clause and the action it became.
struct Planned {
    clause: String,
    index: usize,
    total: usize,
    action: Action,
}

impl Planned {
    fn place(&self) -> String {
        clause_place(&self.clause, self.index, self.total)
    }
}

impl RulePlanner {
    /// A rule planner.
    pub fn new() -> Self {
        RulePlanner {}
    }

    /// Map an intent to described actions, in order, without looking at
    /// any files (so `run_tests`/`build_project` are not resolved yet).
    pub fn actions(&self, intent: &str) -> Result<Vec<(String, Action)>> {
        Ok(map_intent(intent)?
            .into_iter()
            .map(|p| (describe(&p.action), p.action))
            .collect())
    }
}

#[async_trait]
impl Planner for RulePlanner {
    fn name(&self) -> &str {
        "rules"
    }

    async fn plan(&self, request: &PlanRequest) -> Result<Plan> {
        let planned = map_intent(&request.intent)?;
        // Resolve here first so a failure (no test runner...) names its clause.
        for p in &planned {
            if let Err(e) = p.action.resolve(&request.root) {
                return Err(match e {
                    Error::Planning(why) => Error::Planning(format!("{}: {why}", p.place())),
                    other => other,
                });
            }
        }
        let actions = planned
            .into_iter()
            .map(|p| (describe(&p.action), p.action))
            .collect();
        plan_from_actions(request, actions, "rules")
    }
}

/// `"clause" (clause 2 of 3)`, with the clause shortened if huge.
fn clause_place(clause: &str, index: usize, total: usize) -> String {
    format!("\"{}\" (clause {index} of {total})", show_max(clause, 200))
}

/// Each clause with the action it maps to: `Err(None)` if no rule maps
/// it, `Err(Some(why))` if a rule refused it.
type Mapped = Vec<(clauses::Clause, std::result::Result<Action, Option<String>>)>;

fn map_clauses(intent: &str) -> Result<Mapped> {
    let clauses = clauses::split(intent);
    if clauses.is_empty() {
        return Err(Error::Planning(
            "the intent is empty; say what to do, for example \"check git status\" or run `make lint`"
                .into(),
        ));
    }
    let total = clauses.len();
    if total > MAX_STEPS {
        return Err(Error::Planning(format!(
            "the intent has {total} steps; at most {MAX_STEPS} fit in one plan, so split it into several jobs"
        )));
    }
    // A clause that maps to nothing may be the end of the one before, cut
    // at a word that also joins clauses ("search for salt and pepper").
    let mut mapped: Mapped = Vec::with_capacity(total);
    for clause in clauses {
        let result = phrases::match_clause(&clause.tokens, intent);
        if matches!(result, Err(None))
            && let Some((prev, Ok(_))) = mapped.last()
            && !clause.unterminated()
        {
            let joined = clauses::join(intent, prev, &clause);
            if let Ok(action) = phrases::match_clause(&joined.tokens, intent) {
                mapped.pop();
                mapped.push((joined, Ok(action)));
                continue;
            }
        }
        mapped.push((clause, result));
    }
    Ok(mapped)
}

/// One clause of an intent as the rules saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// A clause the rules mapped: its description and action.
    Mapped(String, Action),
    /// A clause no rule maps, as the user wrote it.
    Unmapped(String),
}

impl RulePlanner {
    /// Map what the rules can and return the other clauses as text, in
    /// order (for `--planner auto`). A clause a rule refused, or an
    /// unclosed quote, is still an error naming the clause.
    pub fn pieces(&self, intent: &str) -> Result<Vec<Piece>> {
        let mapped = map_clauses(intent)?;
        let total = mapped.len();
        let mut out = Vec::with_capacity(total);
        for (i, (clause, result)) in mapped.into_iter().enumerate() {
            let place = clause_place(&clause.raw, i + 1, total);
            match result {
                _ if clause.unterminated() => {
                    return Err(Error::Planning(format!(
                        "{place} has a quote or backtick that is never closed; close it, or quote the text with the other kind of quote"
                    )));
                }
                Ok(action) => out.push(Piece::Mapped(describe(&action), action)),
                Err(None) => out.push(Piece::Unmapped(clause.raw)),
                Err(Some(why)) => return Err(Error::Planning(format!("{place}: {why}"))),
            }
        }
        Ok(out)
    }
}

fn map_intent(intent: &str) -> Result<Vec<Planned>> {
    let mapped = map_clauses(intent)?;
    let total = mapped.len();
    let mut planned = Vec::with_capacity(total);
    for (i, (clause, result)) in mapped.into_iter().enumerate() {
        let place = clause_place(&clause.raw, i + 1, total);
        if clause.unterminated() {
            return Err(Error::Planning(format!(
                "{place} has a quote or backtick that is never closed; close it, or quote the text with the other kind of quote"
            )));
        }
        let action = match result {
            Ok(action) => action,
            Err(Some(why)) => return Err(Error::Planning(format!("{place}: {why}"))),
            Err(None) => return Err(Error::Planning(unmapped_message(&place, &clause.tokens))),
        };
        if params(&action).iter().any(|p| p.contains('\0')) {
            return Err(Error::Planning(format!(
                "{place}: parameters cannot contain NUL bytes"
            )));
        }
        planned.push(Planned {
            clause: clause.raw,
            index: i + 1,
            total,
            action,
        });
    }
    Ok(planned)
}

/// The error for a clause no rule maps: which clause, the closest catalog
/// actions, and the ways out (backticks, a model planner).
fn unmapped_message(place: &str, tokens: &[words::Token]) -> String {
    let closest = closest_actions(tokens, 3);
    let near = if closest.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = closest
            .iter()
            .map(|e| format!("{} ({})", e.name, e.summary))
            .collect();
        format!("; the closest catalog actions are {}", list.join(", "))
    };
    format!(
        "could not understand {place}{near}; rephrase it with a catalog action (list the catalog actions to see them) or wrap a command in backticks like run `make lint`; to plan free-form intents with a model, set SKYNET_LLM_PROVIDER (openai, ollama, gemini, anthropic) and plan with the auto planner"
    )
}

/// Catalog entries sharing the most words with the clause (names and
/// summaries), best first; none when nothing is shared.
pub(crate) fn closest_actions(
    tokens: &[words::Token],
    max: usize,
) -> Vec<&'static crate::action::CatalogEntry> {
    const SKIP: &[&str] = &[
        "the", "a", "an", "of", "to", "in", "on", "for", "and", "me", "my", "is", "it", "what",
        "show", "get", "with", "by", "or",
    ];
    let words: Vec<&str> = tokens
        .iter()
        .filter(|t| t.kind == words::Kind::Word)
        .map(|t| t.lower.as_str())
        .filter(|w| w.len() > 1 && !SKIP.contains(w))
        .collect();
    let stem = |w: &str| w.trim_end_matches('s').to_string();
    let mut scored: Vec<(usize, usize, &'static crate::action::CatalogEntry)> =
        crate::action::CATALOG
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let vocab: Vec<String> = e
                    .name
                    .split('_')
                    .chain(e.summary.split(|c: char| !c.is_ascii_alphanumeric()))
                    .filter(|w| !w.is_empty())
                    .map(|w| stem(&w.to_ascii_lowercase()))
                    .collect();
                let score = words.iter().filter(|w| vocab.contains(&stem(w))).count();
                (score > 0).then_some((score, i, e))
            })
            .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(max).map(|(_, _, e)| e).collect()
}

/// Every text parameter of an action.
fn params(action: &Action) -> Vec<&str> {
    match action {
        Action::GitStatus | Action::SystemInfo | Action::RunTests | Action::BuildProject => {
            vec![]
        }
        Action::GitDiff { path, .. } => path.iter().map(String::as_str).collect(),
        Action::GitLog { .. } => vec![],
        Action::ListDirectory { path }
        | Action::ReadFile { path }
        | Action::DiskUsage { path }
        | Action::CreateDirectory { path }
        | Action::DeletePath { path } => vec![path],
        Action::SearchFiles { pattern, path } => vec![pattern, path],
        Action::WriteFile { path, content } => vec![path, content],
        Action::GitCommit { message } => vec![message],
        Action::GitPush { remote, branch } => {
            let mut v = vec![remote.as_str()];
            v.extend(branch.as_deref());
            v
        }
        Action::ExecuteCommand { argv } | Action::GitAdd { paths: argv } => {
            argv.iter().map(String::as_str).collect()
        }
        Action::ExecutePipeline { stages } => stages.iter().flatten().map(String::as_str).collect(),
        Action::LargestFiles { path, .. } | Action::CountFiles { path } => vec![path],
        Action::TopProcesses { .. }
        | Action::MemoryUsage
        | Action::ListPorts { .. }
        | Action::Uptime
        | Action::HostInfo { .. }
        | Action::NetworkInfo { .. }
        | Action::GitBranches
        | Action::GitStash { .. } => vec![],
        Action::FindProcess { name: p }
        | Action::FolderSizes { path: p }
        | Action::DnsLookup { host: p }
        | Action::PingHost { host: p }
        | Action::HttpStatus { url: p }
        | Action::ServiceStatus { unit: p }
        | Action::ServiceControl { unit: p, .. }
        | Action::HeadFile { path: p, .. }
        | Action::TailFile { path: p, .. }
        | Action::CountLines { path: p }
        | Action::GitCreateBranch { name: p }
        | Action::GitSwitch { branch: p, .. }
        | Action::GitShow { rev: p }
        | Action::GitBlame { path: p }
        | Action::Package { name: p, .. }
        | Action::ToolVersion { tool: p }
        | Action::ToolLocation { tool: p } => vec![p],
        Action::CopyPath { from, to } | Action::MovePath { from, to } => vec![from, to],
        Action::ChangeMode { path, mode } => vec![path, mode],
        Action::AppendFile { path, content } => vec![path, content],
        Action::DiskFree { path: o }
        | Action::Journal { unit: o, .. }
        | Action::GitFetch { remote: o }
        | Action::GitTag { name: o }
        | Action::KillProcess { name: o, .. }
        | Action::Containers { name: o, .. } => o.iter().map(String::as_str).collect(),
        Action::GitPull { remote, branch } => {
            remote.iter().chain(branch).map(String::as_str).collect()
        }
        Action::FindFiles {
            path,
            name,
            larger_than,
            ..
        } => std::iter::once(path)
            .chain(name)
            .chain(larger_than)
            .map(String::as_str)
            .collect(),
    }
}

/// A parameter as shown in messages (control characters escaped, cut).
pub(crate) fn show_param(value: &str) -> String {
    show(value)
}

/// A short human description of a step.
pub(crate) fn describe(action: &Action) -> String {
    match action {
        Action::GitStatus => "Check git status".into(),
        Action::GitDiff { path, staged } => {
            let what = if *staged {
                "Show the staged diff"
            } else {
                "Show the diff"
            };
            match path {
                Some(p) => format!("{what} of {}", show(p)),
                None => what.into(),
            }
        }
        Action::GitLog { count: 1 } => "Show the last commit".into(),
        Action::GitLog { count } => format!("Show the last {count} commits"),
        Action::ListDirectory { path } if path == "." => "List the current directory".into(),
        Action::ListDirectory { path } => format!("List {}", show(path)),
        Action::ReadFile { path } => format!("Read {}", show(path)),
        Action::SearchFiles { pattern, path } if path == "." => {
            format!("Search for \"{}\"", show(pattern))
        }
        Action::SearchFiles { pattern, path } => {
            format!("Search for \"{}\" in {}", show(pattern), show(path))
        }
        Action::DiskUsage { path } if path == "." => "Check disk usage".into(),
        Action::DiskUsage { path } => format!("Check disk usage of {}", show(path)),
        Action::SystemInfo => "Show system info".into(),
        Action::WriteFile { path, content } if content.is_empty() => {
            format!("Create empty file {}", show(path))
        }
        Action::WriteFile { path, content } => {
            let n = content.len();
            let unit = if n == 1 { "byte" } else { "bytes" };
            format!("Write {n} {unit} to {}", show(path))
        }
        Action::CreateDirectory { path } => format!("Create directory {}", show(path)),
        Action::RunTests => "Run the tests".into(),
        Action::BuildProject => "Build the project".into(),
        Action::GitCommit { message } => format!("Commit with message \"{}\"", show(message)),
        Action::GitPush {
            remote,
            branch: None,
        } => format!("Push to {}", show(remote)),
        Action::GitPush {
            remote,
            branch: Some(b),
        } => format!("Push {} to {}", show(b), show(remote)),
        Action::DeletePath { path } => format!("Delete {}", show(path)),
        Action::ExecuteCommand { argv } => {
            format!("Run `{}`", show_max(&shell_words::join(argv), 120))
        }
        Action::ExecutePipeline { stages } => {
            let line = stages
                .iter()
                .map(shell_words::join)
                .collect::<Vec<_>>()
                .join(" | ");
            format!("Run `{}`", show_max(&line, 120))
        }
        other => describe_ops(other),
    }
}

/// Descriptions of the operations vocabulary.
fn describe_ops(action: &Action) -> String {
    use crate::action::{
        ContainerView as C, HostFact as H, NetworkView as N, PackageOp as P, ProcessSort,
        StashOp as S,
    };
    let opt = |o: &Option<String>| o.as_deref().map(show);
    match action {
        Action::TopProcesses {
            by: ProcessSort::Cpu,
        } => "Show the processes using the most CPU".into(),
        Action::TopProcesses {
            by: ProcessSort::Memory,
        } => "Show the processes using the most memory".into(),
        Action::FindProcess { name } => format!("Find processes named {}", show(name)),
        Action::MemoryUsage => "Show memory usage".into(),
        Action::DiskFree { path } => match opt(path) {
            Some(p) => format!("Show free disk space for {p}"),
            None => "Show free disk space".into(),
        },
        Action::FolderSizes { path } => format!("Show folder sizes in {}", show(path)),
        Action::ListPorts { port: None } => "List listening ports".into(),
        Action::ListPorts { port: Some(p) } => format!("Show what listens on port {p}"),
        Action::Uptime => "Show uptime and load".into(),
        Action::HostInfo { what: H::Os } => "Show the OS release".into(),
        Action::HostInfo { what: H::Kernel } => "Show the kernel version".into(),
        Action::HostInfo { what: H::Hostname } => "Show the host name".into(),
        Action::NetworkInfo {
            what: N::Interfaces,
        } => "Show network interfaces".into(),
        Action::NetworkInfo { what: N::Routes } => "Show network routes".into(),
        Action::DnsLookup { host } => format!("Look up {}", show(host)),
        Action::PingHost { host } => format!("Ping {}", show(host)),
        Action::HttpStatus { url } => format!("Check {}", show(url)),
        Action::ServiceStatus { unit } => format!("Show the status of {}", show(unit)),
        Action::ServiceControl { unit, op } => format!("{} {}", capital(op.verb()), show(unit)),
        Action::Journal {
            unit: Some(u),
            lines,
            ..
        } => {
            format!("Show the last {lines} log lines of {}", show(u))
        }
        Action::Journal {
            kernel: true,
            lines,
            ..
        } => {
            format!("Show the last {lines} kernel messages")
        }
        Action::Journal { lines, .. } => format!("Show the last {lines} journal lines"),
        Action::HeadFile { path, lines } => {
            format!("Show the first {lines} lines of {}", show(path))
        }
        Action::TailFile { path, lines } => {
            format!("Show the last {lines} lines of {}", show(path))
        }
        Action::CountLines { path } => format!("Count the lines of {}", show(path)),
        Action::LargestFiles { path, count } if path == "." => {
            format!("Show the {count} largest files")
        }
        Action::LargestFiles { path, count } => {
            format!("Show the {count} largest files in {}", show(path))
        }
        Action::CountFiles { path } if path == "." => "Count the files".into(),
        Action::CountFiles { path } => format!("Count the files in {}", show(path)),
        Action::FindFiles {
            path,
            name,
            larger_than,
            changed_within_days,
        } => {
            let mut d = "Find files".to_string();
            if let Some(n) = name {
                d += &format!(" named {}", show(n));
            }
            if let Some(s) = larger_than {
                d += &format!(" larger than {}", show(s));
            }
            if let Some(days) = changed_within_days {
                d += &format!(" changed in the last {days} days");
            }
            if path != "." {
                d += &format!(" in {}", show(path));
            }
            d
        }
        Action::CopyPath { from, to } => format!("Copy {} to {}", show(from), show(to)),
        Action::MovePath { from, to } => format!("Move {} to {}", show(from), show(to)),
        Action::ChangeMode { path, mode } => format!("Set mode {} on {}", show(mode), show(path)),
        Action::AppendFile { path, content } => {
            format!("Append {} bytes to {}", content.len(), show(path))
        }
        Action::GitBranches => "List branches".into(),
        Action::GitCreateBranch { name } => format!("Create branch {}", show(name)),
        Action::GitSwitch {
            branch,
            create: true,
        } => format!("Create and switch to branch {}", show(branch)),
        Action::GitSwitch { branch, .. } => format!("Switch to branch {}", show(branch)),
        Action::GitAdd { paths } if paths.is_empty() || paths == &["."] => {
            "Stage all changes".into()
        }
        Action::GitAdd { paths } => format!("Stage {}", show(&paths.join(" "))),
        Action::GitStash { op: S::Push } => "Stash the changes".into(),
        Action::GitStash { op: S::Pop } => "Pop the latest stash".into(),
        Action::GitStash { op: S::Apply } => "Apply the latest stash".into(),
        Action::GitStash { op: S::List } => "List the stashes".into(),
        Action::GitPull { remote, branch } => match (opt(remote), opt(branch)) {
            (Some(r), Some(b)) => format!("Pull {b} from {r}"),
            (Some(r), None) => format!("Pull from {r}"),
            _ => "Pull".into(),
        },
        Action::GitFetch { remote } => match opt(remote) {
            Some(r) => format!("Fetch from {r}"),
            None => "Fetch".into(),
        },
        Action::GitShow { rev } => format!("Show commit {}", show(rev)),
        Action::GitBlame { path } => format!("Blame {}", show(path)),
        Action::GitTag { name: None } => "List tags".into(),
        Action::GitTag { name: Some(t) } => format!("Create tag {}", show(t)),
        Action::Package {
            op: P::Install,
            name,
        } => format!("Install package {}", show(name)),
        Action::Package {
            op: P::Remove,
            name,
        } => format!("Remove package {}", show(name)),
        Action::KillProcess { pid: Some(p), .. } => format!("Kill process {p}"),
        Action::KillProcess { name, .. } => {
            format!("Kill processes named {}", opt(name).unwrap_or_default())
        }
        Action::ToolVersion { tool } => format!("Show the version of {}", show(tool)),
        Action::ToolLocation { tool } => format!("Show where {} is installed", show(tool)),
        Action::Containers { what: C::List, .. } => "List containers".into(),
        Action::Containers {
            what: C::Logs,
            name,
        } => format!(
            "Show the logs of container {}",
            opt(name).unwrap_or_default()
        ),
        Action::Containers {
            what: C::Inspect,
            name,
        } => format!("Inspect container {}", opt(name).unwrap_or_default()),
        other => other.name().replace('_', " "),
    }
}

fn capital(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
