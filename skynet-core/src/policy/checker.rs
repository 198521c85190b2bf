//! One `check` call: walks the argv (and whatever it wraps or scripts),
//! collecting findings. READ_ONLY comes only from a program's grammar
//! accepting the argv AND a READ_ONLY rule selecting it; everything else
//! the rules, wrappers, shells and path checks find makes it stricter.

use super::PolicyContext;
use super::grammar::{self, git};
use super::paths::{self, Escape, Sandbox};
use super::rules::{RuleSet, basename};
use super::scopes::Secrets;
use super::shell::{self, ShellRun};
use super::wrappers::{self, Inner, Unwrapped};
use crate::risk::RiskLevel;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Deepest nesting of wrappers and shells analysed.
const MAX_DEPTH: usize = 8;

/// One reason to rate a command.
#[derive(Debug)]
pub(super) struct Finding<'p> {
    pub(super) risk: RiskLevel,
    pub(super) forbid: bool,
    pub(super) rule: Option<&'p str>,
    pub(super) reason: Cow<'p, str>,
}

impl Finding<'_> {
    pub(super) fn severity(&self) -> (bool, RiskLevel) {
        (self.forbid, self.risk)
    }
}

/// State of one `check` call.
pub(super) struct Checker<'p> {
    pub(super) set: &'p RuleSet,
    pub(super) ctx: &'p PolicyContext,
    /// The scopes, canonicalized on first need.
    pub(super) sandbox: Sandbox<'p>,
    pub(super) findings: Vec<Finding<'p>>,
    /// Nested commands already judged (argv, cwd, bounded): a loosely
    /// parsed wrapper offers each suffix of its words, so chains of them
    /// would otherwise be judged exponentially often.
    seen: Vec<(Vec<String>, PathBuf, bool)>,
    /// The command being judged is git (its own writes to .git are fine).
    in_git: bool,
}

impl<'p> Checker<'p> {
    pub(super) fn new(set: &'p RuleSet, ctx: &'p PolicyContext) -> Checker<'p> {
        Checker {
            set,
            ctx,
            sandbox: Sandbox::with_read_paths(&ctx.roots, &ctx.read_paths),
            findings: Vec::new(),
            seen: Vec::new(),
            in_git: false,
        }
    }

    fn push(&mut self, risk: RiskLevel, rule: &'p str, reason: impl Into<Cow<'p, str>>) {
        self.findings.push(Finding {
            risk,
            forbid: false,
            rule: Some(rule),
            reason: reason.into(),
        });
    }

    pub(super) fn forbid(&mut self, rule: &'p str, reason: String) {
        self.findings.push(Finding {
            risk: RiskLevel::Admin,
            forbid: true,
            rule: Some(rule),
            reason: reason.into(),
        });
    }

    /// The working directory, canonical; forbids it outside the roots.
    pub(super) fn working_dir(&mut self) -> PathBuf {
        let ctx = self.ctx;
        // Fast path: the usual case needs no file system access.
        if ctx.roots.contains(&ctx.cwd) {
            return ctx.cwd.clone();
        }
        let raw = match ctx.roots.first() {
            Some(root) if ctx.cwd.is_relative() => root.join(&ctx.cwd),
            _ => ctx.cwd.clone(),
        };
        let Some(cwd) = paths::resolve(Path::new("/"), &raw) else {
            self.forbid(
                "path-outside-root",
                format!(
                    "the working directory {} cannot be resolved (a symlink loop)",
                    raw.display()
                ),
            );
            return raw;
        };
        if !self.sandbox.contains(&cwd) {
            let roots = self.sandbox.roots_display();
            self.forbid(
                "path-outside-root",
                format!(
                    "the working directory {} is outside the sandbox root ({roots})",
                    cwd.display()
                ),
            );
        }
        cwd
    }

    /// Forbid a resolved path that is a secret; ADMIN for git's code files
    /// touched by another program.
    fn judge_resolved(&mut self, arg: &str, p: &Path) {
        if Secrets::current().contains(p) {
            self.forbid(
                "secret-path",
                format!(
                    "argument `{arg}` resolves to {}, a secret no command may touch",
                    p.display()
                ),
            );
        } else if !self.in_git && paths::in_git_internals(p) {
            self.push(
                RiskLevel::Admin,
                "git-internals",
                format!(
                    "argument `{arg}` names {}: git's configuration and hooks hold programs that later git commands run",
                    p.display()
                ),
            );
        }
    }

    /// Forbid `arg` if it is a path outside the write scope. `always`
    /// skips the "looks like a path" heuristic (redirect targets, `cd`).
    pub(super) fn check_path(&mut self, arg: &str, cwd: &Path, always: bool) -> Option<PathBuf> {
        let candidate = if always {
            if paths::is_harmless_device(arg) {
                return None;
            }
            arg
        } else {
            for extra in paths::cluster_path_suffixes(arg) {
                match self.sandbox.check(extra, cwd) {
                    Ok(p) => self.judge_resolved(extra, &p),
                    Err(_) => {
                        let roots = self.sandbox.roots_display();
                        self.forbid(
                            "path-outside-root",
                            format!(
                                "argument `{arg}` may carry the path `{extra}`, outside the sandbox root ({roots}); pass the option and its value as separate words"
                            ),
                        );
                        return None;
                    }
                }
            }
            match paths::path_candidate(arg) {
                Some(c) => c,
                // A bare word (or value) is a path only if it names a
                // symlink here, or `.git`: other entries of the working
                // directory are inside it.
                None => match paths::value_part(arg) {
                    Some((v, _)) if v == ".git" || paths::is_symlink_in(cwd, v) => v,
                    _ => return None,
                },
            }
        };
        match self.sandbox.check(candidate, cwd) {
            Ok(p) => {
                self.judge_resolved(arg, &p);
                Some(p)
            }
            Err(escape) => {
                self.escape(arg, escape, false);
                None
            }
        }
    }

    /// A path a READ_ONLY program reads: inside the read scope, no secret,
    /// and (when it recurses) no secret below it.
    fn check_read(&mut self, arg: &str, cwd: &Path, recurses: bool) {
        if paths::is_harmless_device(arg) {
            return;
        }
        match self.sandbox.check_read(arg, cwd) {
            Ok(p) => {
                let secrets = Secrets::current();
                if secrets.contains(&p) {
                    self.judge_resolved(arg, &p);
                } else if recurses && let Some(s) = secrets.below(&p) {
                    self.forbid(
                        "secret-path",
                        format!(
                            "argument `{arg}` is a directory holding {}, a secret no command may read",
                            s.display()
                        ),
                    );
                }
            }
            Err(escape) => self.escape(arg, escape, true),
        }
    }

    fn escape(&mut self, arg: &str, escape: Escape, read: bool) {
        let mut scope = self.sandbox.roots_display();
        let extra = self.sandbox.read_paths_display();
        if read && !extra.is_empty() {
            scope = format!("{scope}; read paths {extra}");
        }
        let why = match escape {
            Escape::Outside(p) => format!(
                "argument `{arg}` resolves to {}, outside the sandbox root ({scope})",
                p.display()
            ),
            Escape::Unresolvable => format!(
                "argument `{arg}` cannot be resolved (another user's home, $HOME unset or a symlink loop), so it cannot be checked against the sandbox root ({scope})"
            ),
        };
        self.forbid("path-outside-root", why);
    }

    /// Classify one command (and anything it wraps) at nesting `depth`;
    /// `bounded`: a wrapper stops it after a while (`timeout`).
    pub(super) fn command(&mut self, argv: &[String], cwd: &Path, depth: usize, bounded: bool) {
        if depth > MAX_DEPTH {
            self.push(
                RiskLevel::Admin,
                "too-deep",
                "commands are nested too deeply to analyse",
            );
            return;
        }
        let Some(first) = argv.first() else { return };
        if depth > 0 {
            let seen = |(a, c, b): &(Vec<String>, PathBuf, bool)| {
                a.as_slice() == argv && c == cwd && *b == bounded
            };
            if self.seen.iter().any(seen) {
                return;
            }
            self.seen.push((argv.to_vec(), cwd.to_path_buf(), bounded));
        }
        let program = basename(first);
        if !is_system_program_path(first) {
            // `./ls` or `bin/cat` is whatever the project put there: rules
            // written for the system's `ls` and `cat` say nothing about it.
            self.push(
                RiskLevel::Write,
                "program-path",
                format!("`{first}` is not a program from a system directory: running it runs project code"),
            );
        }
        let set = self.set;
        let mut hits = Vec::new();
        set.matching(argv, &mut hits);
        // READ_ONLY rules only select: the grammar must agree (below).
        let mut read_only: Option<usize> = None;
        for &i in &hits {
            let rule = &set.rules[i];
            if rule.risk == RiskLevel::ReadOnly && !rule.forbid {
                read_only = read_only.or(Some(i));
                continue;
            }
            let reason: Cow<'p, str> = if depth == 0 {
                Cow::Borrowed(rule.reason.as_str())
            } else {
                Cow::Owned(format!("`{}`: {}", short(argv), rule.reason))
            };
            self.findings.push(Finding {
                risk: rule.risk,
                forbid: rule.forbid,
                rule: Some(rule.name.as_str()),
                reason,
            });
        }
        let was_git = std::mem::replace(&mut self.in_git, program == "git");
        if shell::SHELLS.contains(&program) {
            self.shell(argv, cwd, depth);
        } else if let Some(w) = wrappers::unwrap(program, argv) {
            // A wrapper that adds risk of its own says why; a clean one is
            // as READ_ONLY as its rule and the command it runs.
            if w.floor.is_none() && w.opaque.is_none() {
                self.read_only_or_write(argv, &hits, read_only, depth);
            }
            self.wrapper(argv, w, cwd, depth, bounded);
        } else if let Some(grammar) = grammar::lookup(program) {
            self.allow_listed(argv, grammar, cwd, depth, bounded, &hits, read_only);
        } else {
            self.unchecked_args(argv, cwd);
            self.read_only_or_write(argv, &hits, None, depth);
        }
        if program == "git"
            && let Some(key) = git::dangerous_config(&argv[1..])
        {
            self.push(
                RiskLevel::Admin,
                "git-config-runs-programs",
                format!(
                    "`{}` sets `{key}`, which makes git run a program or trust other files",
                    short(argv)
                ),
            );
        }
        self.in_git = was_git;
    }

    /// The READ_ONLY finding of rule `read_only` if given; else, when no
    /// other rule matched, the "no rule" WRITE finding.
    fn read_only_or_write(
        &mut self,
        argv: &[String],
        hits: &[usize],
        read_only: Option<usize>,
        depth: usize,
    ) {
        let set = self.set;
        if let Some(i) = read_only {
            let rule = &set.rules[i];
            let reason: Cow<'p, str> = if depth == 0 {
                Cow::Borrowed(rule.reason.as_str())
            } else {
                Cow::Owned(format!("`{}`: {}", short(argv), rule.reason))
            };
            self.findings.push(Finding {
                risk: RiskLevel::ReadOnly,
                forbid: false,
                rule: Some(rule.name.as_str()),
                reason,
            });
            return;
        }
        let only_read_only = hits
            .iter()
            .all(|&i| set.rules[i].risk == RiskLevel::ReadOnly && !set.rules[i].forbid);
        if only_read_only {
            let program = basename(&argv[0]);
            let reason = if set.knows_program(program) {
                format!("no rule matches `{}`: treated as WRITE", short(argv))
            } else {
                format!("unknown program `{program}`: treated as WRITE")
            };
            self.findings.push(Finding {
                risk: RiskLevel::Write,
                forbid: false,
                rule: None,
                reason: reason.into(),
            });
        }
    }

    /// A program on the READ_ONLY allow-list: its grammar decides whether
    /// it may be READ_ONLY, and types its paths.
    #[allow(clippy::too_many_arguments)]
    fn allow_listed(
        &mut self,
        argv: &[String],
        grammar: &'static grammar::Program,
        cwd: &Path,
        depth: usize,
        bounded: bool,
        hits: &[usize],
        read_only: Option<usize>,
    ) {
        let j = grammar::judge(grammar, argv);
        if let Some(why) = j.refused {
            self.unchecked_args(argv, cwd);
            self.push(
                RiskLevel::Write,
                "not-read-only",
                format!(
                    "`{}`: {why}; only what is on the program's read-only list is READ_ONLY, so this needs approval (WRITE)",
                    short(argv)
                ),
            );
            return;
        }
        for r in &j.reads {
            self.check_read(r, cwd, j.recurses);
        }
        match j.follows {
            Some(why) if !bounded => self.push(
                RiskLevel::Write,
                "runs-until-stopped",
                format!(
                    "`{}`: {why}; bound it with `timeout DURATION` to keep it READ_ONLY",
                    short(argv)
                ),
            ),
            _ => {}
        }
        self.read_only_or_write(argv, hits, read_only, depth);
    }

    /// Arguments of a command whose grammar is unknown: any may be a
    /// path, so each is checked against the write scope.
    fn unchecked_args(&mut self, argv: &[String], cwd: &Path) {
        let text = paths::text_args(argv);
        for (arg, is_text) in argv.iter().zip(text).skip(1) {
            if !is_text {
                self.check_path(arg, cwd, false);
            }
        }
    }

    fn wrapper(
        &mut self,
        argv: &[String],
        w: Unwrapped<'_>,
        cwd: &Path,
        depth: usize,
        bounded: bool,
    ) {
        let program = basename(&argv[0]);
        let first = w
            .inner
            .iter()
            .filter_map(|i| match i {
                Inner::Argv(i) => Some(*i),
                Inner::Script(_) => None,
            })
            .min()
            .unwrap_or(argv.len());
        let own = if w.inexact { argv.len() } else { first };
        for arg in &argv[1..own] {
            self.check_path(arg, cwd, false);
        }
        for p in &w.paths {
            self.check_path(p, cwd, true);
        }
        // `env -C DIR cmd`: the command's relative paths start in DIR.
        let inner_cwd = match w.chdir {
            Some(dir) => self.check_path(dir, cwd, true),
            None => None,
        };
        let cwd = inner_cwd.as_deref().unwrap_or(cwd);
        if let Some((risk, why)) = w.floor {
            self.push(risk, "wrapper-risk", why);
        }
        if let Some(why) = w.opaque {
            self.push(RiskLevel::Admin, "wrapper-unanalysable", why);
        }
        let runs_git = w
            .inner
            .iter()
            .any(|i| matches!(i, Inner::Argv(i) if basename(&argv[*i]) == "git"));
        if w.env_changed && runs_git {
            self.push(
                RiskLevel::Admin,
                "git-hardening",
                format!("`{program}` changes git's environment, which can switch off SKYNET's git hardening and let repository configuration run programs"),
            );
        }
        for inner in &w.inner {
            match inner {
                Inner::Argv(i) => self.command(&argv[*i..], cwd, depth + 1, bounded || w.bounded),
                Inner::Script(s) => self.script_text(program, s, cwd, depth),
            }
        }
    }

    /// A shell: at least WRITE; a `-c` script is split and classified.
    fn shell(&mut self, argv: &[String], cwd: &Path, depth: usize) {
        let program = basename(&argv[0]);
        match shell::shell_run(argv) {
            ShellRun::Stdin => self.push(
                RiskLevel::Admin,
                "shell-unanalysable",
                format!(
                    "`{program}` reads commands from stdin: shell script could not be analysed"
                ),
            ),
            ShellRun::File { checked } => {
                for i in checked {
                    self.check_path(&argv[i], cwd, false);
                }
                self.push(
                    RiskLevel::Write,
                    "shell-script",
                    format!("`{program}` runs a script file: at least WRITE"),
                );
            }
            ShellRun::Script { script, checked } => {
                for i in checked {
                    self.check_path(&argv[i], cwd, false);
                }
                self.script_text(&format!("{program} -c"), script, cwd, depth);
            }
        }
    }

    /// A shell script's text, run by `runner` (`sh -c`, `watch`): at least
    /// WRITE, and each of its commands classified.
    fn script_text(&mut self, runner: &str, script: &str, cwd: &Path, depth: usize) {
        if shell::is_fork_bomb(script) {
            self.forbid(
                "fork-bomb",
                "the script is a fork bomb: it would exhaust the machine's processes".into(),
            );
            return;
        }
        self.push(
            RiskLevel::Write,
            "shell-script",
            format!("`{runner}` runs a shell script: at least WRITE"),
        );
        match shell::parse_script(script) {
            Err(why) => self.push(
                RiskLevel::Admin,
                "shell-unanalysable",
                format!("shell script could not be analysed: it contains {why}"),
            ),
            Ok(parsed) => {
                if let Some(why) = parsed.partial {
                    self.push(
                        RiskLevel::Admin,
                        "shell-unanalysable",
                        format!("shell script could not be analysed: it contains {why}"),
                    );
                }
                self.script(&parsed.commands, cwd, depth);
            }
        }
    }

    /// Classify a script's commands in order; `cd` moves the working
    /// directory for the commands after it.
    fn script(&mut self, commands: &[shell::SimpleCommand], cwd: &Path, depth: usize) {
        let mut cwd = cwd.to_path_buf();
        for cmd in commands {
            for a in &cmd.assignments {
                self.check_path(a, &cwd, false);
            }
            for r in &cmd.redirects {
                let checked = self.check_path(&r.target, &cwd, true);
                if r.writes && checked.is_some() {
                    self.push(
                        RiskLevel::Write,
                        "shell-redirect",
                        format!("`> {}` writes a file", r.target),
                    );
                }
            }
            match cmd.argv.first().map(String::as_str) {
                None => {}
                Some("cd") => {
                    let target = cmd.argv.get(1).map_or("~", String::as_str);
                    if target == "-" {
                        self.push(
                            RiskLevel::Admin,
                            "shell-unanalysable",
                            "shell script could not be analysed: it contains `cd -`",
                        );
                    } else if let Some(dir) = self.check_path(target, &cwd, true) {
                        cwd = dir;
                    }
                }
                Some(_) => self.command(&cmd.argv, &cwd, depth + 1, false),
            }
        }
    }
}

/// A command for messages: shell-quoted, at most ~60 characters.
pub(super) fn short(argv: &[String]) -> String {
    let mut s = shell_words::join(argv);
    if s.len() > 60 {
        let mut cut = 57;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Directories whose programs the rules describe. A program named by any
/// other path (`./ls`, `bin/cat`, `/tmp/x/git`) is at least WRITE.
const SYSTEM_BIN_DIRS: &[&str] = &[
    "/usr/bin",
    "/bin",
    "/usr/sbin",
    "/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];

/// A bare program name (looked up on PATH) or one in a system directory.
fn is_system_program_path(program: &str) -> bool {
    match program.rsplit_once('/') {
        None => true,
        Some((dir, name)) => !name.is_empty() && SYSTEM_BIN_DIRS.contains(&dir),
    }
}
