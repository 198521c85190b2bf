//! The phrase table: for each catalog action, the ways people ask for it.
//!
//! Rules are tried in order and the first pattern that matches the whole
//! clause wins, so specific phrasings come before generic ones (git rules
//! before "show FILE", staged diff before diff). Pattern syntax is in
//! [`super::pattern`].

use super::build::{
    Reject, commit, delete, diff, dir, exec_command, known_tool, log, param, push, read_file,
    search, write_file,
};
use super::matcher::Captures;
use super::pattern::{Pattern, compile};
use crate::action::Action;
use std::sync::LazyLock;

type Build = fn(&Captures) -> Result<Action, Reject>;

/// Phrase patterns and how to build the action from their captures.
pub(crate) struct Rule {
    patterns: &'static [&'static str],
    build: Build,
}

const fn rule(patterns: &'static [&'static str], build: Build) -> Rule {
    Rule { patterns, build }
}

mod ops;

/// The rules tried first: explicit commands, tests, builds, commits,
/// pushes, writes and deletes.
static RULES: &[Rule] = &[
    // Commands: backticks are explicit, so they win over everything.
    rule(
        &[
            "[run|execute|exec|invoke] [command|cmd] {argv:cmd}",
            "run|execute|exec [command|cmd] {argv:q}",
        ],
        exec_command,
    ),
    rule(
        &[
            "[run|execute|start|launch|rerun|do] [all|every] [of] [unit|project|project's|integration] tests|test [suite|suites]",
            "test [project|code|it|everything|changes|crate|app|repo|workspace|package|build]",
            "(make sure|check|verify|ensure|confirm) [that] [all] [unit] tests pass|work|succeed",
            "do|does [all] [unit] tests pass",
            "are [all] [unit] tests passing|green",
        ],
        |_| Ok(Action::RunTests),
    ),
    rule(
        &[
            "build|rebuild|compile|recompile [project|code|it|everything|app|crate|workspace|repo|package|program]",
            "run|start|do|make|trigger build",
        ],
        |_| Ok(Action::BuildProject),
    ),
    // Well-known tools typed without backticks: `cargo test`, `npm run lint`.
    rule(&["[run|execute] {argv+}"], known_tool),
    rule(
        &[
            "[git] commit [all|everything|work|it|them] [changes|files] with|using [commit] message {message+}",
            "[git] commit [-a|--all] -m|--message|-am {message+}",
            "[git] commit [all|everything|work|it|them] [changes|files] {message:q}",
            "make|create|do [new] commit [with|using] [commit] message {message+}",
            "make|create|do [new] commit {message:q}",
        ],
        commit,
    ),
    rule(
        &[
            "[git] commit [all|everything|work|it|them] [changes|files] [with|using] [commit] [message]",
            "make|create|do [new] commit",
        ],
        |_| {
            Err(Reject::Explain(
                "a commit needs a message; say commit with message 'your message'".into(),
            ))
        },
    ),
    rule(
        &[
            "[git] push [it|everything|them|work|all|code] [changes|commits] [up] to {remote} [{branch}]",
            "[git] push [it|everything|them|work|all|code] [changes|commits] [up] to {remote} branch {branch}",
            "[git] push [it|everything|them|work|all|code] [changes|commits] [up]",
            "[git] push branch {branch} [to {remote}]",
            "[git] push {branch} branch [to {remote}]",
            "[git] push {branch} to {remote}",
            "[git] push {remote} [{branch}]",
        ],
        push,
    ),
    rule(
        &[
            "write {content+} to|into [file] {path}",
            "save|put|store|dump {content:q} to|into|in [file] {path}",
            "create|make|write|add [new] [text] file [named|called] {path} with|containing [content|contents|text] {content+}",
            "create|make|add [new] [empty] [text] file [named|called] {path}",
            "overwrite|replace|fill [file] {path} with {content+}",
        ],
        write_file,
    ),
    rule(
        &[
            "mkdir [-p] {path}",
            "create|make|add [new] [empty] directory|folder|dir [named|called] {path}",
            "create|make|add [new] {path} directory|folder|dir",
        ],
        |c| {
            Ok(Action::CreateDirectory {
                path: param(c, "path")?,
            })
        },
    ),
    rule(
        &[
            "rm [-r|-rf|-fr|-f|-R|-Rf] {path}",
            "rmdir {path}",
            "delete|remove|erase|del|unlink|trash [file|directory|folder|dir] [named|called] {path}",
            "get rid of [file|directory|folder|dir] {path}",
        ],
        delete,
    ),
];

/// The rules tried after the operations vocabulary ([`ops::OPS_RULES`]).
static LATE_RULES: &[Rule] = &[
    rule(
        &[
            "find|search|show|list [all] occurrences|uses|usages|mentions|references|instances of {pattern+} [in|inside|under {path:dir}]",
            "search|grep [for] {pattern+} in|inside|within|under|across|throughout|through {path:dir} [files|directory|folder|dir]",
            "look|hunt for {pattern+} in|inside|within|under|across|throughout {path:dir} [files|directory|folder|dir]",
            "find {pattern+} in|inside|within|under|across|throughout {path:dir} [files|directory|folder|dir]",
            "search|grep [all] files|code|codebase|project|repo for {pattern+}",
            "search|grep [in|through] {path:dir} for {pattern+}",
            "where is|are {pattern+} used|defined|mentioned|referenced|called",
            "grep [-r|-rn|-R|-rF|-rnF] {pattern} {path:dir}",
            "search|grep [for] {pattern+}",
            "look|hunt for {pattern+}",
            "find {pattern}",
        ],
        search,
    ),
    rule(
        &[
            "du [-sh|-h|-s|-hs|-sch] [{path:dir}]",
            "[(check|show|get|display|calculate|measure|report|print|see|what is)] [me] (disk usage|space usage|disk space|storage usage|space used|disk use) [of|for|in|by|under {path:dir}]",
            "how much [disk] space do|does {path:dir} [directory|folder|dir] use|take|occupy|need [up]",
            "how much [disk] space is|are {path:dir} using|taking|occupying [up]",
            "how much [disk] space is|are used|taken [by|in {path:dir}]",
            "how big|large is|are {path:dir} [directory|folder|dir]",
            "[what is] [total] size of {path:dir} [directory|folder|dir]",
            "[check|show|get] folder|directory size [of {path:dir}]",
        ],
        |c| Ok(Action::DiskUsage { path: dir(c) }),
    ),
    rule(
        &[
            "uname [-a|-r|-s|-m|-srm]",
            "[(show|get|display|print|check|see|give|what is|what are)] [me] system|machine|host|os|kernel|platform|computer info|information|details|specs|version",
            "what|which (os|system|kernel|platform|machine|distro|os version|kernel version) [(is this|am i on|are we on|is running|are we running|is it|do we have|is installed|are we using|am i using)]",
            "what kind|type of machine|system|computer|os is this",
        ],
        |_| Ok(Action::SystemInfo),
    ),
    rule(
        &[
            "[git] log [-n|--max-count] [{count:n}]",
            "[(show|list|view|display|print|see|get|give|what are|what were)] [me] [(last|latest|recent|previous|newest|past|most recent)] [{count:n}] [(recent|latest|last|newest|most recent)] commits [in|on|of repo|branch|repository]",
            "[(show|view|display|print|see|get|give)] [me] [git|commit|repo|repository] history|log",
        ],
        log,
    ),
    rule(
        &[
            "[(show|view|display|print|see|get|give|what is|what was)] [me] (last|latest|newest|previous|most recent) commit",
            "show|view|display commit",
        ],
        |_| Ok(Action::GitLog { count: 1 }),
    ),
    rule(
        &[
            "[git] diff --staged|--cached [{path}]",
            "[show|view|display|print|see|get|list|check] [me] staged|cached|indexed changes|diff|files [in|to|of|for {path}]",
            "[show|view|display|print|see|get|check] [me] diff of|for staged|cached [changes|files] [in|to|of|for {path}]",
            "what is|are staged|cached",
            "(what have i|what changes are|which changes are|what files are|which files are) staged",
        ],
        |c| diff(c, true),
    ),
    rule(
        &[
            "[git] diff [{path}]",
            "[show|view|display|print|see|get|check] [me] [git] diff [of|for|in|on|to {path}]",
            "[show|view|display|print|see|get|list|check] [me] [unstaged|uncommitted|working|current|local|pending] changes [in|to|of|for {path}]",
            "(what changed|what has changed|what have i changed|what did i change) [in|to|of {path}]",
        ],
        |c| diff(c, false),
    ),
    rule(
        &[
            "[(check|show|get|display|view|print|see|give|what is)] [me] [(git|repo|repository|working tree)] status [of|for|in (repo|repository|working tree|tree|project|workspace|code|directory|git repo)]",
            "is|are [(working tree|repo|repository|tree|git|branch|workspace)] clean|dirty",
            "[(are there|do i have|do we have|is there)] any uncommitted|unstaged|pending|local changes",
            "are there uncommitted|unstaged|pending|local changes",
            "what|which files (changed|are changed|have changed|are modified|were modified|are untracked)",
            "(list|show|display|view|print|see|get|give) [me] [all] [the] (modified|changed|uncommitted|untracked|unstaged) files",
        ],
        |_| Ok(Action::GitStatus),
    ),
    rule(
        &[
            "(show|print|display|output|dump|see|get|read) [me] (contents|content|text) of [file] {path:file}",
            "read|cat|open|view|less|more|type [me] [file] {path}",
            "(show|print|display|output|dump|see|get) [me] [file] {path:file}",
            "(show|print|display|output|dump|see|get) [me] file {path}",
        ],
        read_file,
    ),
    rule(
        &[
            "ls|ll|dir [-la|-l|-a|-al|-lah|-lha|-lh|-1|-A] [{path:dir}]",
            "(list|show|display|view|print|see|get) [me] [all] files|contents|content|entries|everything [and directories|folders|dirs|subdirectories] [in|of|inside|under|within|from {path:dir}] [directory|folder|dir]",
            "(list|show|display|view|print|see) [me] [contents of] [current|working|this] directory|folder|dir [{path:dir}]",
            "(list|show|display|view|print|see) [me] [contents of] {path:dir} directory|folder|dir",
            "list [{path:dir}]",
            "what is|are [there] in|inside {path:dir} directory|folder|dir",
            "what|which files are [there] [in|inside|under {path:dir}]",
            "what is|are [there] here",
        ],
        |c| Ok(Action::ListDirectory { path: dir(c) }),
    ),
    rule(
        &["(what is|what are|show [me] what is) [there] in|inside {path:file}"],
        read_file,
    ),
    rule(
        &["(what is|what are|show [me] what is) [there] in|inside {path:dir}"],
        |c| Ok(Action::ListDirectory { path: dir(c) }),
    ),
];

/// Every rule, in the order they are tried.
fn all_rules() -> impl Iterator<Item = &'static Rule> {
    RULES.iter().chain(ops::OPS_RULES).chain(LATE_RULES)
}

/// Every rule's patterns, compiled once.
static COMPILED: LazyLock<Vec<(Pattern, Build)>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for r in all_rules() {
        for src in r.patterns {
            match compile(src) {
                Ok(ps) => out.extend(ps.into_iter().map(|p| (p, r.build))),
                Err(e) => tracing::error!("rule planner: bad pattern {src:?}: {e}"),
            }
        }
    }
    out
});

/// The first action a clause's tokens match; `Err(None)` if nothing
/// matched, `Err(Some(why))` if a matching rule refused.
pub(crate) fn match_clause(
    tokens: &[super::words::Token],
    source: &str,
) -> Result<Action, Option<String>> {
    let first = tokens.first().map_or("", |t| t.lower.as_str());
    let after_articles = tokens
        .iter()
        .find(|t| !super::words::ARTICLES.contains(&t.lower.as_str()))
        .map_or("", |t| t.lower.as_str());
    for (pattern, build) in COMPILED.iter() {
        if !pattern.may_start_with(first, after_articles) {
            continue;
        }
        if let Some(caps) = pattern.matches(tokens, source) {
            match build(&caps) {
                Ok(action) => return Ok(action),
                Err(Reject::Decline) => continue,
                Err(Reject::Explain(why)) => return Err(Some(why)),
            }
        }
    }
    Err(None)
}

/// Compile every pattern, reporting the broken ones (for tests).
#[cfg(test)]
pub(crate) fn compile_all() -> Result<usize, String> {
    let mut n = 0;
    for r in all_rules() {
        for src in r.patterns {
            n += compile(src).map_err(|e| format!("{src:?}: {e}"))?.len();
        }
    }
    Ok(n)
}
