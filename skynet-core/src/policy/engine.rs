//! The policy engine: rules + path checks + shell and wrapper analysis,
//! folded into one [`Decision`]. The strictest finding wins
//! (forbid > ADMIN > WRITE > READ_ONLY); unknown programs are WRITE.

use super::paths::{self, Escape, Sandbox};
use super::rules::{Rule, RuleSet, basename};
use super::shell::{self, ShellRun};
use super::wrappers;
use super::{Decision, PolicyContext, Verdict};
use crate::risk::RiskLevel;
use crate::{Error, Result};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

/// The embedded default rules.
const DEFAULT_RULES: &str = include_str!("default.toml");

/// Deepest nesting of wrappers and shells analysed.
const MAX_DEPTH: usize = 8;

/// Most reasons listed in a decision.
const MAX_REASONS: usize = 12;

static DEFAULT_POLICY: LazyLock<Policy> = LazyLock::new(|| {
    Policy::from_toml(DEFAULT_RULES)
        .expect("the embedded default rules are valid: a unit test loads them")
});

/// The policy engine: a rule set plus built-in path, shell and wrapper
/// analysis. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Policy {
    set: Arc<RuleSet>,
}

impl Default for Policy {
    /// The embedded default rule set (see [`Policy::default_rules_toml`]).
    fn default() -> Self {
        DEFAULT_POLICY.clone()
    }
}

impl Policy {
    /// Parse a rules file's text. It REPLACES the default rules: start from
    /// [`Policy::default_rules_toml`] to extend them.
    pub fn from_toml(text: &str) -> Result<Policy> {
        Ok(Policy {
            set: Arc::new(RuleSet::parse(text)?),
        })
    }

    /// Load a rules file from disk (replaces the default rules).
    pub fn load(path: &Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::PolicyRules(format!("cannot read rules file {}: {e}", path.display()))
        })?;
        Policy::from_toml(&text).map_err(|e| match e {
            Error::PolicyRules(msg) => Error::PolicyRules(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// The default rules file, to copy and edit.
    pub fn default_rules_toml() -> &'static str {
        DEFAULT_RULES
    }

    /// The rules in force, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.set.rules
    }

    /// Classify `argv` run in `ctx`.
    pub fn check(&self, argv: &[String], ctx: &PolicyContext) -> Decision {
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            return Decision {
                risk: RiskLevel::Admin,
                verdict: Verdict::Forbid,
                reasons: vec!["the command is empty: there is no program to run".into()],
                rule: Some("empty-command".into()),
            };
        }
        let mut checker = Checker {
            set: &self.set,
            ctx,
            sandbox: Sandbox::new(&ctx.roots),
            findings: Vec::new(),
        };
        let cwd = checker.working_dir();
        checker.command(argv, &cwd, 0);
        checker.decide()
    }
}

/// One reason to rate a command.
#[derive(Debug)]
struct Finding<'p> {
    risk: RiskLevel,
    forbid: bool,
    rule: Option<&'p str>,
    reason: Cow<'p, str>,
}

impl Finding<'_> {
    fn severity(&self) -> (bool, RiskLevel) {
        (self.forbid, self.risk)
    }
}

/// State of one `check` call.
struct Checker<'p> {
    set: &'p RuleSet,
    ctx: &'p PolicyContext,
    /// The roots, canonicalized on first need.
    sandbox: Sandbox<'p>,
    findings: Vec<Finding<'p>>,
}

impl<'p> Checker<'p> {
    fn push(&mut self, risk: RiskLevel, rule: &'p str, reason: impl Into<Cow<'p, str>>) {
        self.findings.push(Finding {
            risk,
            forbid: false,
            rule: Some(rule),
            reason: reason.into(),
        });
    }

    fn forbid(&mut self, rule: &'p str, reason: String) {
        self.findings.push(Finding {
            risk: RiskLevel::Admin,
            forbid: true,
            rule: Some(rule),
            reason: reason.into(),
        });
    }

    /// The working directory, canonical; forbids it outside the roots.
    fn working_dir(&mut self) -> PathBuf {
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

    /// Forbid `arg` if it is a path outside the roots. `always` skips the
    /// "looks like a path" heuristic (redirect targets, `cd` operands).
    fn check_path(&mut self, arg: &str, cwd: &Path, always: bool) -> Option<PathBuf> {
        let candidate = if always {
            if paths::is_harmless_device(arg) {
                return None;
            }
            arg
        } else {
            for extra in paths::cluster_path_suffixes(arg) {
                if self.sandbox.check(extra, cwd).is_err() {
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
            match paths::path_candidate(arg) {
                Some(c) => c,
                // A bare word is a path only if it names a symlink here:
                // other entries of the working directory are inside it.
                None if paths::is_symlink_in(cwd, arg) => arg,
                None => return None,
            }
        };
        let result = self.sandbox.check(candidate, cwd);
        match result {
            Ok(p) => Some(p),
            Err(escape) => {
                let roots = self.sandbox.roots_display();
                let why = match escape {
                    Escape::Outside(p) => format!(
                        "argument `{arg}` resolves to {}, outside the sandbox root ({roots})",
                        p.display()
                    ),
                    Escape::Unresolvable => format!(
                        "argument `{arg}` cannot be resolved (another user's home, $HOME unset or a symlink loop), so it cannot be checked against the sandbox root ({roots})"
                    ),
                };
                self.forbid("path-outside-root", why);
                None
            }
        }
    }

    /// Classify one command (and anything it wraps) at nesting `depth`.
    fn command(&mut self, argv: &[String], cwd: &Path, depth: usize) {
        if depth > MAX_DEPTH {
            self.push(
                RiskLevel::Admin,
                "too-deep",
                "commands are nested too deeply to analyse",
            );
            return;
        }
        let Some(first) = argv.first() else { return };
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
        for &i in &hits {
            let rule = &set.rules[i];
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
        let is_shell = shell::SHELLS.contains(&program);
        if hits.is_empty() && !is_shell {
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
        if is_shell {
            self.shell(argv, cwd, depth);
        } else if let Some(w) = wrappers::unwrap(program, argv) {
            for arg in &argv[1..w.inner] {
                self.check_path(arg, cwd, false);
            }
            // `env -C DIR cmd`: the command's relative paths start in DIR.
            let inner_cwd = match w.chdir.and_then(|i| argv.get(i)) {
                Some(dir) => self.check_path(dir, cwd, true),
                None => None,
            };
            let cwd = inner_cwd.as_deref().unwrap_or(cwd);
            if let Some((risk, why)) = w.floor {
                self.push(risk, "wrapper-risk", format!("`{program}` {why}"));
            }
            if let Some(why) = w.opaque {
                self.push(RiskLevel::Admin, "wrapper-unanalysable", why);
            } else if w.inner < argv.len() {
                self.command(&argv[w.inner..], cwd, depth + 1);
            }
        } else {
            let text = paths::text_args(argv);
            for (arg, is_text) in argv.iter().zip(text).skip(1) {
                if !is_text {
                    self.check_path(arg, cwd, false);
                }
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
                if shell::is_fork_bomb(script) {
                    self.forbid(
                        "fork-bomb",
                        "the script is a fork bomb: it would exhaust the machine's processes"
                            .into(),
                    );
                    return;
                }
                self.push(
                    RiskLevel::Write,
                    "shell-script",
                    format!("`{program} -c` runs a shell script: at least WRITE"),
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
                Some(_) => self.command(&cmd.argv, &cwd, depth + 1),
            }
        }
    }

    /// Fold the findings into a decision: the strictest one decides.
    fn decide(mut self) -> Decision {
        // Stable: among equally strict findings the first found decides.
        self.findings
            .sort_by_key(|f| std::cmp::Reverse(f.severity()));
        let Some(top) = self.findings.first() else {
            return Decision {
                risk: RiskLevel::Write,
                verdict: Verdict::Prompt,
                reasons: vec!["nothing was classified: treated as WRITE".into()],
                rule: None,
            };
        };
        let risk = self
            .findings
            .iter()
            .map(|f| f.risk)
            .max()
            .unwrap_or(RiskLevel::Write);
        let verdict = if top.forbid {
            Verdict::Forbid
        } else if risk == RiskLevel::ReadOnly {
            Verdict::Allow
        } else {
            Verdict::Prompt
        };
        let rule = top.rule.map(str::to_string);
        let mut reasons: Vec<String> = Vec::new();
        for f in &self.findings {
            if reasons.len() == MAX_REASONS {
                break;
            }
            if !reasons.iter().any(|r| *r == f.reason) {
                reasons.push(f.reason.to_string());
            }
        }
        Decision {
            risk,
            verdict,
            reasons,
            rule,
        }
    }
}

/// A command for messages: shell-quoted, at most ~60 characters.
fn short(argv: &[String]) -> String {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_load_and_every_example_verifies() {
        // `from_toml` checks each rule's match/not_match examples.
        let p = Policy::from_toml(DEFAULT_RULES).unwrap();
        assert_eq!(p.rules().len(), Policy::default().rules().len());
        assert!(p.rules().iter().all(|r| !r.match_examples.is_empty()));
    }

    #[test]
    fn strictest_finding_wins_and_ties_keep_file_order() {
        let p = Policy::from_toml(
            r#"
            [[rule]]
            name = "tool-read"
            pattern = ["tool"]
            risk = "READ_ONLY"
            reason = "reads"
            match = [["tool"]]

            [[rule]]
            name = "tool-write"
            pattern = ["tool", "w"]
            risk = "WRITE"
            reason = "writes"
            match = [["tool", "w"]]

            [[rule]]
            name = "tool-write-too"
            pattern = ["tool", "w"]
            risk = "WRITE"
            reason = "writes as well"
            match = [["tool", "w"]]
            "#,
        )
        .unwrap();
        let ctx = PolicyContext::rooted(std::env::temp_dir());
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let d = p.check(&argv(&["tool"]), &ctx);
        assert_eq!((d.risk, d.verdict), (RiskLevel::ReadOnly, Verdict::Allow));
        let d = p.check(&argv(&["tool", "w"]), &ctx);
        assert_eq!((d.risk, d.verdict), (RiskLevel::Write, Verdict::Prompt));
        assert_eq!(d.rule.as_deref(), Some("tool-write"));
        assert_eq!(d.reasons, vec!["writes", "writes as well", "reads"]);
    }

    #[test]
    fn short_truncates_long_commands() {
        let long = vec!["x".repeat(100)];
        assert!(short(&long).len() <= 60);
        assert_eq!(short(&["a b".to_string()]), "'a b'");
    }
}
