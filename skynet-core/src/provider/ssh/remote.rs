//! The one line sent to the remote side. SSH carries a command string that
//! the remote login shell parses, so every word (program, arguments,
//! directory, environment values) is quoted with `shlex` (POSIX quoting,
//! NUL refused); nothing from the step is ever interpolated raw.

use crate::plan::Command;
use crate::{Error, Result};
use std::path::Path;

/// Exit status when the remote working directory is unusable.
pub(super) const CWD_UNUSABLE: i32 = 125;

/// `word` quoted for a POSIX shell.
pub(crate) fn quote(word: &str) -> Result<String> {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .map_err(|e| Error::InvalidInput(format!("{word:?} cannot be sent over SSH: {e}")))
}

/// The script for one step: print the shell's pid (sshd made it a session
/// and process-group leader, so the pid names the group to signal on
/// cancel), enter the remote working directory, export the step's
/// variables, then `exec` the argv.
pub(super) fn script(command: &Command, dir: &str) -> Result<String> {
    if command.argv.is_empty() {
        return Err(Error::InvalidInput(
            "the command has no program: argv is empty".into(),
        ));
    }
    let dir = quote(dir)?;
    let mut s = format!(
        "echo $$; cd -- {dir} 2>/dev/null || {{ printf 'skynet: remote working directory %s is not usable\\n' {dir} >&2; exit {CWD_UNUSABLE}; }}; "
    );
    for (name, value) in &command.env {
        if !valid_name(name) {
            return Err(Error::InvalidInput(format!(
                "environment variable name {name:?} is not valid: use letters, digits and _"
            )));
        }
        s.push_str(&format!("export {name}={}; ", quote(value)?));
    }
    s.push_str("exec");
    for word in &command.argv {
        s.push(' ');
        s.push_str(&quote(word)?);
    }
    Ok(s)
}

/// The remote directory for the step: the command's cwd relative to the
/// local sandbox `root`, under `remote_root`. Lexical: the root may not
/// exist on this machine, and `..` is refused rather than resolved.
pub(super) fn remote_dir(cwd: &Path, root: &Path, remote_root: &str) -> Result<String> {
    let rel = crate::provider::remote_cwd::relative_cwd(cwd, root, "over SSH")?;
    let base = remote_root.trim_end_matches('/');
    Ok(match (base.is_empty(), rel.is_empty()) {
        (true, true) => "/".to_string(),
        (true, false) => format!("/{rel}"),
        (false, true) => base.to_string(),
        (false, false) => format!("{base}/{rel}"),
    })
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Words a shell would mangle if any slipped through unquoted.
    pub(crate) const HOSTILE: &[&str] = &[
        "",
        " ",
        "a b",
        "$(id)",
        "`id`",
        "${HOME}",
        "$HOME",
        "'",
        "''",
        "\"",
        "\\",
        "\\'",
        "it's",
        ";rm -rf /tmp/nothing",
        "&& echo pwned",
        "| cat",
        "> /tmp/skynet-redirect",
        "*",
        "?",
        "[a]",
        "{a,b}",
        "~",
        "~root",
        "!",
        "!!",
        "#comment",
        "x=y",
        "%s",
        "-n",
        "--",
        "line\nbreak",
        "tab\there",
        "cr\rhere",
        "é ü 中文",
        "\u{7f}",
    ];

    #[test]
    fn hostile_words_survive_real_shells_verbatim() {
        for shell in ["sh", "bash", "dash"] {
            if std::process::Command::new(shell)
                .arg("-c")
                .arg("true")
                .status()
                .is_err()
            {
                eprintln!("{shell} not installed; skipped");
                continue;
            }
            let mut line = String::from("printf '[%s]\\n'");
            for w in HOSTILE {
                line.push(' ');
                line.push_str(&quote(w).expect("quotable"));
            }
            let out = std::process::Command::new(shell)
                .arg("-c")
                .arg(&line)
                .output()
                .expect("shell runs");
            assert!(out.status.success(), "{shell}: {out:?}");
            let expected: String = HOSTILE.iter().map(|w| format!("[{w}]\n")).collect();
            assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{shell}");
        }
    }

    #[test]
    fn nul_and_bad_variable_names_are_refused() {
        assert!(quote("a\0b").is_err());
        let mut cmd = Command {
            argv: vec!["env".into()],
            cwd: ".".into(),
            env: BTreeMap::from([("A B".to_string(), "x".to_string())]),
            timeout_ms: None,
            stdin: None,
            pipe: Vec::new(),
        };
        assert!(script(&cmd, "/srv").is_err());
        cmd.env = BTreeMap::from([("GOOD_1".to_string(), "$(id)".to_string())]);
        let s = script(&cmd, "/srv").expect("script");
        assert!(s.contains("export GOOD_1='$(id)'; exec env"), "{s}");
    }

    #[test]
    fn remote_dir_follows_the_cwd_under_the_remote_root() {
        let root = Path::new("/jobs/a");
        assert_eq!(
            remote_dir(Path::new("/jobs/a"), root, "/srv/w").expect("root"),
            "/srv/w"
        );
        assert_eq!(
            remote_dir(Path::new("/jobs/a/x/y"), root, "/srv/w/").expect("sub"),
            "/srv/w/x/y"
        );
        assert_eq!(
            remote_dir(Path::new("x/./y"), root, "/").expect("relative"),
            "/x/y"
        );
        assert!(remote_dir(Path::new("/jobs/b"), root, "/srv").is_err());
        assert!(remote_dir(Path::new("/jobs/a/../b"), root, "/srv").is_err());
    }
}
