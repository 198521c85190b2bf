//! Git inside a step: a repository's own configuration can name programs
//! that even READ_ONLY commands run (`core.fsmonitor` for `git status`, a
//! clean filter, a textconv or an external diff for `git diff`,
//! `gpg.program` for `git log --show-signature`). Two layers:
//!
//! - [`harden`]: READ_ONLY steps get git's system and global configuration
//!   ignored and the program-running keys overridden from the environment
//!   (which git reads after the repository's configuration).
//! - [`refuse_hostile`]: whatever its risk, a step that mentions git
//!   anywhere in its argv is refused when the repository it works in (or
//!   names with `-C`/`--git-dir`, or the argv's `-c`) configures such a
//!   program. The environment layer alone is not enough: `env -u
//!   GIT_CONFIG_COUNT git status` would drop it.

use crate::plan::Command;
use std::path::{Path, PathBuf};

/// Configuration overrides (`GIT_CONFIG_KEY_n`/`VALUE_n`) for READ_ONLY
/// steps: nothing the repository configures runs.
const READ_ONLY_OVERRIDES: &[(&str, &str)] = &[
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("core.sshCommand", "false"),
    ("core.askPass", "false"),
    ("core.attributesFile", "/dev/null"),
    ("diff.external", ""),
    ("credential.helper", ""),
    ("gpg.program", "false"),
];

/// Variables that make git run a program; removed for READ_ONLY steps.
const PROGRAM_VARS: &[&str] = &[
    "GIT_EXTERNAL_DIFF",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_PROXY_COMMAND",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG",
    "GIT_CONFIG_SYSTEM",
    "GIT_EXEC_PATH",
    "GIT_TEMPLATE_DIR",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
];

/// Set git's hardening on `cmd`, after the command's own environment so
/// that it wins. Every step keeps `core.fsmonitor` off; READ_ONLY steps
/// get the full set.
pub(crate) fn harden(cmd: &mut tokio::process::Command, read_only: bool) {
    if !read_only {
        cmd.envs(super::prepare::GIT_HARDENING.iter().copied());
        return;
    }
    for name in PROGRAM_VARS {
        cmd.env_remove(name);
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PAGER", "cat")
        .env("PAGER", "cat")
        .env("GIT_NO_REPLACE_OBJECTS", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_COUNT", READ_ONLY_OVERRIDES.len().to_string());
    for (i, (key, value)) in READ_ONLY_OVERRIDES.iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{i}"), key)
            .env(format!("GIT_CONFIG_VALUE_{i}"), value);
    }
}

/// Why the step must not run, if its argv mentions git and a repository
/// it can reach configures a program git would run. `cwd` is canonical.
pub(crate) fn refuse_hostile(command: &Command, cwd: &Path) -> Option<String> {
    if !command.argv.iter().any(|a| a.contains("git")) {
        return None;
    }
    // Configuration through the environment (`env GIT_CONFIG_COUNT=1
    // GIT_CONFIG_KEY_0=core.fsmonitor ... git status`) is not parsed: any
    // such assignment is refused.
    let assigned = command
        .argv
        .iter()
        .filter_map(|a| a.split_once('='))
        .map(|(k, _)| k);
    if let Some(var) = assigned
        .chain(command.env.keys().map(String::as_str))
        .find(|k| k.starts_with("GIT_CONFIG"))
    {
        return Some(format!(
            "the command sets `{var}`: git configuration from the environment is not checked"
        ));
    }
    if let Some(key) = hostile_arguments(&command.argv) {
        return Some(format!(
            "the command sets git's `{key}`, which runs a program"
        ));
    }
    let mut dirs: Vec<PathBuf> = vec![cwd.to_path_buf()];
    dirs.extend(named_repositories(&command.argv, cwd));
    for var in ["GIT_DIR", "GIT_WORK_TREE"] {
        dirs.extend(command.env.get(var).map(|dir| cwd.join(dir)));
    }

    for dir in dirs {
        for config in config_files(&dir) {
            if let Some(key) = hostile_config(&config) {
                return Some(format!(
                    "refusing to run git here: {} sets `{key}`, which runs a program",
                    config.display()
                ));
            }
        }
    }
    None
}

/// `-C DIR`, `--git-dir[=]DIR`, `--work-tree[=]DIR` and `GIT_DIR=`/
/// `GIT_WORK_TREE=` assignments (an `env` wrapper) in the argv.
fn named_repositories(argv: &[String], cwd: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut args = argv.iter();
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-C" | "--git-dir" | "--work-tree" => args.next().cloned(),
            other => ["--git-dir=", "--work-tree=", "GIT_DIR=", "GIT_WORK_TREE="]
                .iter()
                .find_map(|p| other.strip_prefix(p).map(str::to_string)),
        };
        dirs.extend(value.map(|v| cwd.join(v)));
    }
    dirs
}

/// A `-c KEY=VALUE` or `--config-env=KEY=VAR` in the argv that runs a
/// program.
fn hostile_arguments(argv: &[String]) -> Option<String> {
    let mut args = argv.iter();
    while let Some(arg) = args.next() {
        let setting = match arg.as_str() {
            "-c" => args.next().map(String::as_str),
            other => other
                .strip_prefix("--config-env=")
                .or_else(|| other.strip_prefix("-c")),
        };
        let Some(setting) = setting else { continue };
        let (key, value) = setting.split_once('=').unwrap_or((setting, "true"));
        if runs_program(key, value) {
            return Some(key.to_string());
        }
    }
    None
}

/// The configuration files of the repository `dir` is in (its git
/// directory found by walking up, as git does), existing ones only.
fn config_files(dir: &Path) -> Vec<PathBuf> {
    let Some(git_dir) = git_dir_of(dir) else {
        return Vec::new();
    };
    let mut dirs = vec![git_dir.clone()];
    // A linked worktree shares its main repository's configuration.
    if let Ok(common) = std::fs::read_to_string(git_dir.join("commondir")) {
        dirs.push(git_dir.join(common.trim()));
    }
    dirs.iter()
        .flat_map(|d| [d.join("config"), d.join("config.worktree")])
        .filter(|f| f.is_file())
        .collect()
}

fn git_dir_of(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    while let Some(d) = dir {
        let dot_git = d.join(".git");
        if dot_git.is_dir() {
            return Some(dot_git);
        }
        if dot_git.is_file() {
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let target = text.trim().strip_prefix("gitdir:")?.trim();
            return Some(d.join(target));
        }
        // A bare repository (or a git directory named directly).
        if d.join("HEAD").is_file() && d.join("objects").is_dir() {
            return Some(d.to_path_buf());
        }
        dir = d.parent();
    }
    None
}

/// The first key in the configuration file that runs a program.
fn hostile_config(path: &Path) -> Option<String> {
    // An unreadable configuration cannot be vouched for.
    let Ok(text) = std::fs::read_to_string(path) else {
        return Some("(unreadable configuration)".into());
    };
    let mut section = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        // A value continued on the next line is not parsed here: refuse it
        // rather than judge half of it.
        if line.ends_with('\\') {
            return Some(format!("(a line continued with `\\`: {line})"));
        }
        let mut rest = line;
        if let Some(after) = line.strip_prefix('[') {
            let Some((header, tail)) = after.split_once(']') else {
                return Some(format!("(malformed section {line})"));
            };
            section = section_name(header);
            rest = tail.trim();
            if rest.is_empty() || rest.starts_with('#') || rest.starts_with(';') {
                continue;
            }
        }
        let (name, value) = match rest.split_once('=') {
            Some((n, v)) => (n.trim(), v.trim().trim_matches('"')),
            None => (rest, "true"),
        };
        let key = format!("{section}.{name}");
        if runs_program(&key, value) {
            return Some(key);
        }
    }
    None
}

/// `[core]` → `core`, `[filter "x"]` → `filter.x`, `[a.b]` → `a.b`.
fn section_name(header: &str) -> String {
    match header.split_once(char::is_whitespace) {
        Some((name, sub)) => format!(
            "{}.{}",
            name.to_ascii_lowercase(),
            sub.trim().trim_matches('"')
        ),
        None => header.trim().to_ascii_lowercase(),
    }
}

/// Does setting `key` to `value` make git run a program (or read more
/// configuration from elsewhere)?
fn runs_program(key: &str, value: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let parts: Vec<&str> = key.split('.').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    let middle = parts.len() > 2;
    match (*first, *last) {
        ("include" | "includeif", _) => true,
        ("alias", _) => value.trim_start().starts_with('!'),
        // Git LFS is the one filter in common use; its commands are fixed
        // (a prefix would pass `git-lfs clean; touch x` to the shell).
        ("filter", "clean" | "smudge" | "process") if middle => !matches!(
            value.trim(),
            "git-lfs clean -- %f" | "git-lfs smudge -- %f" | "git-lfs filter-process"
        ),
        ("diff", "textconv" | "command") if middle => true,
        ("diff", "external") => !value.is_empty(),
        ("merge", "driver") if middle => true,
        ("gpg", "program") => true,
        ("core", "fsmonitor") => !is_boolean(value),
        ("core", "gitproxy") => true,
        ("remote", "uploadpack" | "receivepack") if middle => true,
        ("uploadpack", "packobjectshook") => true,
        ("submodule", "update") if middle => value.trim_start().starts_with('!'),
        _ => false,
    }
}

fn is_boolean(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "" | "true" | "false" | "yes" | "no" | "on" | "off" | "1" | "0"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_keys_are_recognised() {
        assert!(runs_program("filter.evil.clean", "./x"));
        assert!(!runs_program("filter.lfs.clean", "git-lfs clean -- %f"));
        assert!(runs_program("diff.x.textconv", "./x"));
        assert!(runs_program("diff.external", "./x"));
        assert!(runs_program("gpg.ssh.program", "./x"));
        assert!(runs_program("core.fsmonitor", "./x"));
        assert!(!runs_program("core.fsmonitor", "true"));
        assert!(runs_program("includeIf.gitdir:/x.path", "/y"));
        assert!(runs_program("alias.st", "!sh -c x"));
        assert!(!runs_program("alias.st", "status"));
        assert!(!runs_program("user.name", "x"));
        assert!(!runs_program("filter.lfs.clean", "git-lfs clean -- %f"));
        assert!(runs_program(
            "filter.lfs.clean",
            "git-lfs clean -- %f; touch x"
        ));
    }

    #[test]
    fn config_sections_are_parsed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config");
        std::fs::write(
            &file,
            "[core]\n\tbare = false\n[diff \"x\"]\n\ttextconv = ./t\n",
        )
        .expect("write");
        assert_eq!(hostile_config(&file).as_deref(), Some("diff.x.textconv"));
        std::fs::write(&file, "[core]\n\tbare = false\n[user]\nname = a\n").expect("write");
        assert_eq!(hostile_config(&file), None);
        // A continued value is refused, not judged by its first half.
        std::fs::write(&file, "[alias]\n\tst = \\\n!touch x\n").expect("write");
        assert!(hostile_config(&file).is_some());
    }

    #[test]
    fn argv_settings_are_checked() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(hostile_arguments(&argv(&["git", "-c", "core.fsmonitor=./x", "status"])).is_some());
        assert!(hostile_arguments(&argv(&["git", "-c", "user.name=x", "status"])).is_none());
        let dir = tempfile::tempdir().expect("tempdir");
        let by_env = Command {
            argv: argv(&[
                "env",
                "GIT_CONFIG_COUNT=1",
                "GIT_CONFIG_KEY_0=core.fsmonitor",
                "GIT_CONFIG_VALUE_0=./x",
                "git",
                "status",
            ]),
            cwd: dir.path().to_path_buf(),
            env: Default::default(),
            timeout_ms: None,
            stdin: None,
            pipe: Vec::new(),
        };
        let why = refuse_hostile(&by_env, dir.path()).expect("refused");
        assert!(why.contains("GIT_CONFIG_COUNT"), "{why}");
    }
}
