//! git: the inspection subcommands that may be READ_ONLY, each with its
//! option grammar, and the configuration keys that make git run programs.

use super::Judgement;
use super::spec::{self, Item, Spec};

/// Options every git grammar knows so they are refused by name, not as
/// unknown (and never taken for an abbreviation of something else).
const REFUSED: &[(&str, &str)] = &[
    ("--output", "writes a file (it can be .git/config)"),
    ("--ext-diff", "runs an external diff program"),
    ("--textconv", "runs the configured text-conversion programs"),
    ("--filters", "runs the configured filter programs"),
    ("--open-files-in-pager", "runs a pager program"),
    ("-O", "runs a program or reads an order file"),
    (
        "--no-index",
        "compares or searches files outside the repository",
    ),
    ("--show-signature", "runs the configured gpg program"),
    ("-L", "reads line ranges of files by name"),
];

/// Long diff and revision options of log, show, diff, whatchanged and
/// rev-list that only change what is printed.
#[rustfmt::skip]
const LOG_LONG: &[&str] = &[
    "output=", "ext-diff", "textconv", "no-index", "show-signature", "open-files-in-pager=?",
    "patch", "no-patch", "unified=", "raw", "patch-with-raw", "patch-with-stat", "stat=?",
    "stat-width=", "stat-name-width=", "stat-count=", "stat-graph-width=", "compact-summary",
    "numstat", "shortstat", "dirstat=?", "cumulative", "dirstat-by-file=?", "summary",
    "name-only", "name-status", "submodule=?", "color=?", "no-color", "color-moved=?",
    "no-color-moved", "color-moved-ws=", "no-color-moved-ws", "word-diff=?",
    "word-diff-regex=", "color-words=?", "no-renames", "rename-empty", "no-rename-empty",
    "check", "ws-error-highlight=", "full-index", "binary", "abbrev=?", "no-abbrev",
    "break-rewrites=?", "find-renames=?", "find-copies=?", "find-copies-harder",
    "irreversible-delete", "diff-filter=", "find-object=", "pickaxe-all", "pickaxe-regex",
    "skip-to=", "rotate-to=", "relative=?", "no-relative", "text", "ignore-cr-at-eol",
    "ignore-space-at-eol", "ignore-space-change", "ignore-all-space", "ignore-blank-lines",
    "ignore-matching-lines=", "inter-hunk-context=", "function-context", "exit-code",
    "quiet", "no-ext-diff", "no-textconv", "ignore-submodules=?", "src-prefix=",
    "dst-prefix=", "no-prefix", "default-prefix", "line-prefix=", "ita-invisible-in-index",
    "ita-visible-in-index", "minimal", "patience", "histogram", "anchored=",
    "diff-algorithm=", "indent-heuristic", "no-indent-heuristic", "output-indicator-new=",
    "output-indicator-old=", "output-indicator-context=", "cached", "staged", "merge-base",
    "cc", "combined-all-paths", "dd", "remerge-diff", "diff-merges=", "no-diff-merges",
    "full-diff", "log-size", "first-parent", "exclude-first-parent-only", "merges",
    "no-merges", "min-parents=", "max-parents=", "no-min-parents", "no-max-parents", "all",
    "branches=?", "tags=?", "remotes=?", "glob=", "exclude=", "exclude-hidden=", "reflog",
    "alternate-refs", "single-worktree", "ignore-missing", "bisect", "stdin",
    "cherry-mark", "cherry-pick", "left-only", "right-only", "cherry", "walk-reflogs",
    "merge", "boundary", "simplify-by-decoration", "show-pulls", "sparse", "full-history",
    "dense", "simplify-merges", "ancestry-path=?", "date-order", "author-date-order",
    "topo-order", "reverse", "no-walk=?", "do-walk", "pretty=?", "format=",
    "abbrev-commit", "no-abbrev-commit", "oneline", "encoding=", "expand-tabs=?",
    "no-expand-tabs", "notes=?", "no-notes", "show-notes=?", "standard-notes",
    "no-standard-notes", "relative-date", "date=", "parents", "children", "left-right",
    "graph", "show-linear-break=?", "max-count=", "skip=", "since=", "after=",
    "since-as-filter=", "until=", "before=", "author=", "committer=", "grep-reflog=",
    "grep=", "all-match", "invert-grep", "regexp-ignore-case", "basic-regexp",
    "extended-regexp", "fixed-strings", "perl-regexp", "remove-empty", "decorate=?",
    "no-decorate", "decorate-refs=", "decorate-refs-exclude=", "clear-decorations",
    "source", "mailmap", "no-mailmap", "use-mailmap", "no-use-mailmap", "follow",
    "no-follow", "count", "objects", "objects-edge", "no-object-names", "object-names",
    "unpacked", "disk-usage=?", "header", "timestamp", "in-commit-order",
    "indexed-objects", "missing=", "exclude-promisor-objects", "filter=", "no-filter",
    "filter-print-omitted", "bisect-vars", "bisect-all", "no-graph", "no-stat",
];

const LOG: Spec = Spec {
    short: "abcEFgilmpPqrRstuwWzn:S:G:M::C::B::U::l::O:L:",
    long: &[],
    more_long: LOG_LONG,
    abbrev: false,
    numeric: true,
    permute: true,
};

/// A subcommand's grammar; `None` for one that is not READ_ONLY.
#[rustfmt::skip]
fn spec_of(sub: &str) -> Option<Spec> {
    let spec = |short: &'static str, long: &'static [&'static str]| Spec {
        short,
        long,
        more_long: &["output=", "textconv", "filters", "no-index", "open-files-in-pager=?"],
        ..LOG
    };
    Some(match sub {
        "log" | "show" | "diff" | "whatchanged" | "rev-list" => LOG,
        "shortlog" => Spec {
            short: "nsecw::",
            long: &["numbered", "summary", "email", "committer", "group=", "format="],
            ..LOG
        },
        "status" => spec("bsu::vz", &[
            "short", "branch", "show-stash", "porcelain=?", "long", "verbose",
            "untracked-files=?", "ignore-submodules=?", "ignored=?", "column=?", "no-column",
            "ahead-behind", "no-ahead-behind", "renames", "no-renames", "find-renames=?",
            "null",
        ]),
        "blame" | "annotate" => spec("bcefhlnpstwL:M::C::S:", &[
            "root", "show-stats", "score-debug", "show-name", "show-number", "show-email",
            "porcelain", "line-porcelain", "incremental", "encoding=", "contents=", "date=",
            "progress", "no-progress", "abbrev=?", "ignore-rev=", "ignore-revs-file=",
            "color-lines", "color-by-age", "minimal", "reverse=?", "first-parent",
        ]),
        "describe" => spec("", &[
            "all", "tags", "contains", "abbrev=", "candidates=", "exact-match", "debug",
            "long", "match=", "exclude=", "always", "first-parent", "dirty=?", "broken=?",
        ]),
        "rev-parse" => spec("q", &[
            "verify", "quiet", "sq", "sq-quote", "short=?", "abbrev-ref=?", "symbolic",
            "symbolic-full-name", "all", "branches=?", "tags=?", "remotes=?", "glob=",
            "exclude=", "disambiguate=", "local-env-vars", "show-toplevel", "show-prefix",
            "show-cdup", "show-superproject-working-tree", "show-object-format=?",
            "show-ref-format", "git-dir", "git-common-dir", "absolute-git-dir",
            "is-inside-git-dir", "is-inside-work-tree", "is-bare-repository",
            "is-shallow-repository", "shared-index-path", "path-format=", "git-path=",
            "since=", "after=", "until=", "before=", "revs-only", "no-revs", "flags",
            "no-flags", "default=", "not",
        ]),
        "ls-files" => spec("cdmoiskuztvfx:X:", &[
            "cached", "deleted", "modified", "others", "ignored", "stage", "killed",
            "directory", "no-empty-directory", "eol", "unmerged", "resolve-undo",
            "deduplicate", "full-name", "recurse-submodules", "abbrev=?", "debug", "exclude=",
            "exclude-from=", "exclude-per-directory=", "exclude-standard", "error-unmatch",
            "with-tree=", "sparse", "format=",
        ]),
        "ls-tree" => spec("dlrtz", &[
            "long", "name-only", "name-status", "object-only", "full-name", "full-tree",
            "abbrev=?", "format=",
        ]),
        "cat-file" => spec("tsepZ", &[
            "batch=?", "batch-check=?", "batch-command=?", "batch-all-objects", "buffer",
            "unordered", "allow-unknown-type", "follow-symlinks", "mailmap", "use-mailmap",
            "no-mailmap", "path=",
        ]),
        "grep" => Spec {
            short: "aiIwvhHEGFPclLonzqWprA:B:C:e:f:m:O::",
            long: &[
                "cached", "untracked", "exclude-standard", "no-exclude-standard",
                "recurse-submodules", "text", "no-textconv", "ignore-case", "max-depth=",
                "recursive", "no-recursive", "word-regexp", "invert-match", "full-name",
                "extended-regexp", "basic-regexp", "perl-regexp", "fixed-strings",
                "line-number", "column", "files-with-matches", "name-only",
                "files-without-match", "null", "only-matching", "count", "color=?",
                "no-color", "break", "heading", "show-function", "context=",
                "after-context=", "before-context=", "function-context", "threads=", "file=",
                "and", "or", "not", "all-match", "quiet", "max-count=", "regexp=",
            ],
            ..spec("", &[])
        },
        "show-ref" => spec("dqs", &[
            "head", "tags", "heads", "branches", "verify", "hash=?", "abbrev=?",
            "dereference", "quiet", "exists",
        ]),
        "branch" => spec("avrldDmMcCfut", &[
            "all", "remotes", "verbose", "list", "show-current", "color=?", "no-color",
            "merged=?", "no-merged=?", "contains=?", "no-contains=?", "sort=", "format=",
            "points-at=", "column=?", "no-column", "ignore-case", "omit-empty", "abbrev=?",
            "no-abbrev", "delete", "move", "copy", "force", "set-upstream-to=",
            "unset-upstream", "track=?", "no-track", "edit-description", "create-reflog",
        ]),
        "remote" => spec("v", &["verbose"]),
        "version" => spec("", &["build-options"]),
        _ => return None,
    })
}

/// Options of `git branch` that change branches.
#[rustfmt::skip]
const BRANCH_CHANGES: &[&str] = &[
    "-d", "-D", "-m", "-M", "-c", "-C", "-f", "-u", "-t", "--delete", "--move", "--copy",
    "--force", "--set-upstream-to", "--unset-upstream", "--track", "--no-track",
    "--edit-description", "--create-reflog",
];

/// Options whose value is a file git reads.
#[rustfmt::skip]
const PATH_OPTIONS: &[&str] = &[
    "--contents", "--ignore-revs-file", "-S", "--exclude-from", "-X", "-f", "--file",
];

/// Global options that change nothing but output or locking.
#[rustfmt::skip]
const GLOBALS: &[&str] = &[
    "--no-pager", "-P", "--no-optional-locks", "--literal-pathspecs", "--glob-pathspecs",
    "--noglob-pathspecs", "--icase-pathspecs", "--no-replace-objects", "--no-lazy-fetch",
    "--no-advice",
];

/// Judge `git ARGS`.
pub(super) fn judge<'a>(args: &'a [String], j: &mut Judgement<'a>) {
    let mut i = 0;
    while let Some(a) = args.get(i).map(String::as_str) {
        if GLOBALS.contains(&a) {
            i += 1;
            continue;
        }
        if a.starts_with('-') {
            let why = match a {
                "-c" | "--config-env" => "sets configuration, which can make git run programs",
                "-C" | "--git-dir" | "--work-tree" => "moves git to another repository",
                _ => "is not on git's read-only list",
            };
            j.refuse(format!("the git option `{a}` {why}"));
            return;
        }
        break;
    }
    let Some(sub) = args.get(i).map(String::as_str) else {
        return; // `git` alone prints its usage.
    };
    let rest = &args[i + 1..];
    let (spec, rest) = match (sub, rest.first().map(String::as_str)) {
        ("stash", Some("list")) => (LOG, &rest[1..]),
        ("stash", Some("show")) => (LOG, &rest[1..]),
        _ => match spec_of(sub) {
            Some(s) => (s, rest),
            None => {
                j.refuse(format!(
                    "the subcommand `{sub}` is not on git's read-only list"
                ));
                return;
            }
        },
    };
    subcommand(sub, &spec, rest, j);
}

fn subcommand<'a>(sub: &str, spec: &Spec, args: &'a [String], j: &mut Judgement<'a>) {
    let mut operands: Vec<&'a str> = Vec::new();
    let mut pattern_given = false;
    let mut listing = false;
    let result = spec::parse(spec, args, |item| {
        match item {
            Item::Opt { name, value, .. } => {
                let log_family =
                    matches!(sub, "log" | "show" | "diff" | "whatchanged" | "rev-list");
                if let Some((_, why)) = REFUSED
                    .iter()
                    .find(|(n, _)| name.is(&[n]) && (log_family || *n != "-L"))
                {
                    return Err(format!("`{}` {why}", name.show()));
                }
                if sub == "branch" && name.is(BRANCH_CHANGES) {
                    return Err(format!("`git branch {}` changes branches", name.show()));
                }
                let pathy = name.is(PATH_OPTIONS);
                if sub == "grep" && name.is(&["-e", "-f", "--file", "--regexp"]) {
                    pattern_given = true;
                }
                if name.is(&["-l", "--list"]) {
                    listing = true;
                }
                if let Some(v) = value
                    && pathy
                    && matches!(sub, "blame" | "annotate" | "ls-files" | "grep")
                {
                    j.reads.push(v);
                }
            }
            Item::Operand { value, .. } => operands.push(value),
        }
        Ok(true)
    });
    if let Err(why) = result {
        j.refuse(why);
        return;
    }
    match sub {
        "branch" if !operands.is_empty() && !listing => {
            j.refuse(format!("`git branch {}` creates a branch", operands[0]));
        }
        "remote" | "version" if !operands.is_empty() => {
            j.refuse(format!(
                "`git {sub} {}` is not on git's read-only list",
                operands[0]
            ));
        }
        "grep" if !pattern_given => j.reads.extend(operands.iter().skip(1)),
        "branch" | "remote" | "version" => {}
        // Revisions and pathspecs: both are checked as paths.
        _ => j.reads.extend(operands),
    }
}

/// Configuration keys that make git run a program, read another config
/// file or trust another repository (lower case; `*` is one section).
#[rustfmt::skip]
const DANGEROUS_KEYS: &[&str] = &[
    "core.fsmonitor", "core.hookspath", "core.sshcommand", "core.pager", "core.editor",
    "core.askpass", "core.gitproxy", "core.alternaterefscommand", "core.worktree",
    "sequence.editor", "diff.external", "gpg.program", "credential.helper", "include.path",
    "ssh.variant", "web.browser", "interactive.difffilter", "safe.directory",
];

/// Sections every key of which is dangerous.
#[rustfmt::skip]
const DANGEROUS_SECTIONS: &[&str] = &[
    "filter", "alias", "uploadpack", "includeif", "include", "pager", "difftool",
    "mergetool", "man", "browser", "gpg", "credential",
];

/// `section.*.name` keys that are dangerous for any subsection.
#[rustfmt::skip]
const DANGEROUS_SUBKEYS: &[(&str, &[&str])] = &[
    ("diff", &["textconv", "command"]),
    ("merge", &["driver"]),
    ("remote", &["uploadpack", "receivepack", "proxy"]),
    ("submodule", &["update"]),
];

/// Is `key` (as written; sections and names are case-insensitive) one
/// that makes git run programs?
pub(crate) fn is_dangerous_key(key: &str) -> bool {
    let key = key.split('=').next().unwrap_or(key).to_ascii_lowercase();
    let Some((section, rest)) = key.split_once('.') else {
        return false;
    };
    if DANGEROUS_KEYS.contains(&key.as_str()) || DANGEROUS_SECTIONS.contains(&section) {
        return true;
    }
    let name = rest.rsplit('.').next().unwrap_or(rest);
    DANGEROUS_SUBKEYS
        .iter()
        .any(|(s, names)| *s == section && rest.contains('.') && names.contains(&name))
}

/// If `git ARGS` sets a dangerous configuration key (`git -c K=V`,
/// `git config K V`, `git config set K V`), the key.
pub(crate) fn dangerous_config(args: &[String]) -> Option<&str> {
    let mut i = 0;
    while let Some(a) = args.get(i).map(String::as_str) {
        match a {
            "-c" | "--config-env" => {
                let kv = args.get(i + 1).map(String::as_str)?;
                if is_dangerous_key(kv) {
                    return Some(kv);
                }
                i += 2;
            }
            "-C" | "--git-dir" | "--work-tree" | "--namespace" => i += 2,
            _ if a.starts_with("--config-env=") && is_dangerous_key(&a[13..]) => {
                return Some(&a[13..]);
            }
            _ if a.starts_with('-') => i += 1,
            "config" => {
                return args[i + 1..]
                    .iter()
                    .map(String::as_str)
                    .find(|w| !w.starts_with('-') && is_dangerous_key(w));
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn refused(words: &[&str]) -> bool {
        let args = sv(words);
        let mut j = Judgement::default();
        judge(&args, &mut j);
        j.refused.is_some()
    }

    #[test]
    fn inspection_is_allowed_and_writers_are_not() {
        for ok in [
            &["status"][..],
            &["log", "--oneline", "-n", "5"],
            &["log", "-5", "--stat"],
            &[
                "diff",
                "--no-ext-diff",
                "--no-textconv",
                "--staged",
                "--",
                "x",
            ],
            &["show", "HEAD"],
            &["branch", "-a", "-vv"],
            &["--no-pager", "log", "-p"],
            &["stash", "list"],
            &["grep", "-n", "foo", "--", "src"],
        ] {
            assert!(!refused(ok), "{ok:?}");
        }
        for bad in [
            &["whatchanged", "--output=.git/config"][..],
            &["shortlog", "--output", "x"],
            &["rev-list", "--output=x", "HEAD"],
            &["blame", "--output=x", "f"],
            &["log", "--out=x"],
            &["diff", "--ext-diff"],
            &["grep", "-Osh", "x"],
            &["-c", "core.pager=sh", "log"],
            &["-C", "..", "status"],
            &["branch", "new"],
            &["commit", "-m", "x"],
            &["stash"],
            &["cat-file", "--textconv", "HEAD:x"],
        ] {
            assert!(refused(bad), "{bad:?}");
        }
    }

    #[test]
    fn dangerous_keys() {
        for k in [
            "core.fsmonitor",
            "Core.FSMonitor",
            "filter.x.clean",
            "diff.pdf.textconv",
            "alias.st",
            "gpg.program",
            "uploadpack.packObjectsHook",
            "credential.helper",
            "includeIf.gitdir:/x.path",
            "remote.origin.uploadpack",
            "core.hooksPath=x",
        ] {
            assert!(is_dangerous_key(k), "{k}");
        }
        for k in [
            "user.name",
            "core.autocrlf",
            "diff.renames",
            "remote.origin.url",
        ] {
            assert!(!is_dangerous_key(k), "{k}");
        }
        assert_eq!(
            dangerous_config(&sv(&["config", "--global", "core.fsmonitor", "x"])),
            Some("core.fsmonitor")
        );
        assert_eq!(
            dangerous_config(&sv(&["-c", "diff.external=sh", "diff"])),
            Some("diff.external=sh")
        );
        assert_eq!(dangerous_config(&sv(&["config", "user.name", "x"])), None);
    }
}
