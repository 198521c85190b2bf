//! Wrapper programs (`env`, `timeout`, `sudo`, `strace`, ...) that run
//! another command. The few that may be transparent are parsed with their
//! complete grammar; any other wrapper is at least WRITE, and since its
//! grammar is not known exactly, every word that could start its command
//! is judged as one.

use super::grammar::spec::{self, Item, Spec};
use crate::risk::RiskLevel;
use std::borrow::Cow;

/// Where a wrapped command is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inner<'a> {
    /// `argv[i..]`.
    Argv(usize),
    /// A shell script (`script -c`, `su -c`, `watch 'a | b'`).
    Script(Cow<'a, str>),
}

/// A wrapper invocation, understood.
#[derive(Debug, Default)]
pub(crate) struct Unwrapped<'a> {
    /// The commands it may run.
    pub(crate) inner: Vec<Inner<'a>>,
    /// The least risk the wrapper itself adds, and why.
    pub(crate) floor: Option<(RiskLevel, String)>,
    /// Why the invocation cannot be analysed (ADMIN), if it cannot.
    pub(crate) opaque: Option<String>,
    /// A directory the command runs in (`env -C DIR`).
    pub(crate) chdir: Option<&'a str>,
    /// Option values and operands that are files (`time -o F`).
    pub(crate) paths: Vec<&'a str>,
    /// The command is stopped after a bounded time (`timeout`).
    pub(crate) bounded: bool,
    /// The environment is changed (`env -i`, `-u`, `VAR=`).
    pub(crate) env_changed: bool,
    /// Its grammar is not known exactly: every argument may be a path it
    /// writes (`strace -o /tmp/x cmd`), so all are checked.
    pub(crate) inexact: bool,
}

impl Unwrapped<'_> {
    fn raise(&mut self, risk: RiskLevel, why: impl Into<String>) {
        if self.floor.as_ref().is_none_or(|(r, _)| *r < risk) {
            self.floor = Some((risk, why.into()));
        }
    }
}

const fn spec(short: &'static str, long: &'static [&'static str]) -> Spec {
    Spec {
        short,
        long,
        more_long: &[],
        abbrev: true,
        numeric: false,
        permute: false,
    }
}

#[rustfmt::skip]
const ENV: Spec = spec(
    "0iu:C:S:va:",
    &[
        "ignore-environment", "null", "unset=", "chdir=", "split-string=", "debug",
        "block-signal=?", "default-signal=?", "ignore-signal=?", "list-signal-handling",
        "argv0=", "help", "version",
    ],
);
const TIMEOUT: Spec = spec(
    "k:s:v",
    &[
        "foreground",
        "kill-after=",
        "preserve-status",
        "signal=",
        "verbose",
        "help",
        "version",
    ],
);
const NICE: Spec = Spec {
    numeric: true,
    ..spec("n:", &["adjustment=", "help", "version"])
};
const IONICE: Spec = spec(
    "c:n:p:P:tu:",
    &[
        "class=",
        "classdata=",
        "pid=",
        "pgid=",
        "ignore",
        "uid=",
        "help",
        "version",
    ],
);
const STDBUF: Spec = spec(
    "i:o:e:",
    &["input=", "output=", "error=", "help", "version"],
);
const TIME: Spec = spec(
    "af:o:pqv",
    &[
        "append",
        "format=",
        "output=",
        "portability",
        "quiet",
        "verbose",
        "help",
        "version",
    ],
);
const COMMAND: Spec = Spec {
    abbrev: false,
    ..spec("pvV", &[])
};

/// Wrappers parsed with their full grammar that add no risk of their own.
pub(crate) const TRANSPARENT: &[&str] = &[
    "env", "timeout", "nice", "ionice", "stdbuf", "time", "command",
];

/// Wrappers that run commands with another identity or privileges.
#[rustfmt::skip]
const PRIVILEGED: &[&str] = &[
    "sudo", "doas", "su", "runuser", "pkexec", "chroot", "setpriv", "sg", "newgrp", "nsenter",
    "unshare", "capsh", "firejail", "systemd-run", "run0", "bwrap", "fakeroot",
];

/// Wrappers that run commands in some other way (detached, traced,
/// repeated, recorded, limited, proxied, ...): at least WRITE.
const OTHERS: &[(&str, &str)] = &[
    ("nohup", "keeps the command running after the session ends"),
    ("setsid", "runs the command detached, in a new session"),
    (
        "xargs",
        "takes the command's arguments from stdin, which cannot be checked",
    ),
    ("watch", "runs the command repeatedly until stopped"),
    (
        "script",
        "runs the command and records the session to a file",
    ),
    ("strace", "traces the command and can write files"),
    ("ltrace", "traces the command and can write files"),
    (
        "busybox",
        "runs one of its applets, whose options differ from the tools'",
    ),
    ("exec", "replaces the shell with the command"),
    ("builtin", "runs a shell builtin"),
    ("flock", "runs the command holding a lock file"),
    ("chrt", "changes the command's scheduling"),
    ("taskset", "changes the command's CPU affinity"),
    ("prlimit", "changes resource limits"),
    ("numactl", "changes the command's memory placement"),
    ("cgexec", "runs the command in another control group"),
    (
        "faketime",
        "runs the command with a fake clock (LD_PRELOAD)",
    ),
    ("catchsegv", "runs the command under a crash handler"),
    ("valgrind", "runs the command under an instrumenting tool"),
    ("unbuffer", "runs the command under expect"),
    (
        "torsocks",
        "sends the command's traffic through a proxy (LD_PRELOAD)",
    ),
    (
        "proxychains",
        "sends the command's traffic through a proxy (LD_PRELOAD)",
    ),
    (
        "proxychains4",
        "sends the command's traffic through a proxy (LD_PRELOAD)",
    ),
    ("eatmydata", "runs the command with LD_PRELOAD"),
    ("rlwrap", "runs the command under readline"),
    ("dbus-run-session", "runs the command on a new bus"),
    ("xvfb-run", "runs the command on a virtual display"),
    ("parallel", "runs commands built from its input"),
    ("trickle", "runs the command with LD_PRELOAD"),
    ("cpulimit", "runs the command under a CPU limiter"),
    ("timelimit", "runs the command under a time limit"),
    ("ssh-agent", "runs the command with an SSH agent"),
    ("chpst", "changes the command's process state"),
    ("setarch", "changes the command's architecture personality"),
    (
        "systemd-inhibit",
        "runs the command holding an inhibitor lock",
    ),
    ("daemonize", "runs the command as a daemon"),
    ("start-stop-daemon", "starts or stops daemons"),
    ("gdb", "runs the command under a debugger"),
    ("perf", "runs the command under a profiler"),
];

/// Most words of a loosely parsed wrapper judged as its command's start.
const MAX_GUESSES: usize = 24;

/// Options of wrappers whose value is a shell script.
const SCRIPT_OPTIONS: &[&str] = &["-c", "--command"];

/// Is `program` a wrapper that can be READ_ONLY (its command decides)?
pub(crate) fn is_transparent(program: &str) -> bool {
    TRANSPARENT.contains(&program)
}

/// If `program` (a basename) wraps a command, how.
pub(crate) fn unwrap<'a>(program: &str, argv: &'a [String]) -> Option<Unwrapped<'a>> {
    let mut w = Unwrapped::default();
    if let Some(&(_, why)) = OTHERS.iter().find(|(n, _)| *n == program) {
        w.raise(
            RiskLevel::Write,
            format!("`{program}` {why}: at least WRITE"),
        );
    } else if PRIVILEGED.contains(&program) {
        w.raise(
            RiskLevel::Admin,
            format!("`{program}` runs the command with another identity or privileges"),
        );
    } else if !TRANSPARENT.contains(&program) {
        return None;
    }
    match program {
        "env" => env(argv, &mut w),
        "timeout" => exact(&TIMEOUT, argv, 1, &mut w),
        "nice" => exact(&NICE, argv, 0, &mut w),
        "ionice" => exact(&IONICE, argv, 0, &mut w),
        "stdbuf" => exact(&STDBUF, argv, 0, &mut w),
        "time" => exact(&TIME, argv, 0, &mut w),
        "command" => exact(&COMMAND, argv, 0, &mut w),
        "watch" => watch(argv, &mut w),
        _ => crude(program, argv, &mut w),
    }
    Some(w)
}

/// Parse a transparent wrapper: options, `operands` fixed operands, then
/// the command.
fn exact<'a>(spec: &Spec, argv: &'a [String], operands: usize, w: &mut Unwrapped<'a>) {
    let program = super::rules::basename(&argv[0]);
    let mut seen = 0;
    let mut start = None;
    let mut lookup_only = false;
    let result = spec::parse(spec, &argv[1..], |item| {
        match item {
            Item::Opt { name, value, .. } => match (program, name.show().as_str()) {
                ("timeout", _) => {}
                ("time", "-o" | "--output") => {
                    w.raise(RiskLevel::Write, "`time -o` writes a file");
                    w.paths.extend(value);
                }
                ("ionice", "-p" | "-P" | "-u" | "--pid" | "--pgid" | "--uid") => {
                    w.raise(RiskLevel::Write, "`ionice` changes other processes");
                    lookup_only = true;
                }
                ("command", "-v" | "-V") => lookup_only = true,
                _ => {}
            },
            Item::Operand { index, .. } => {
                if seen == operands {
                    start = Some(index + 1);
                    return Ok(false);
                }
                seen += 1;
            }
        }
        Ok(true)
    });
    if let Err(why) = result {
        w.opaque = Some(format!("`{program}` cannot be analysed: {why}"));
        return;
    }
    if program == "timeout" {
        let foreground = argv[1..start.unwrap_or(argv.len())]
            .iter()
            .any(|a| a.starts_with("--f"));
        // `--foreground` leaves the command's children running.
        w.bounded = !foreground;
    }
    if let (Some(i), false) = (start, lookup_only) {
        w.inner.push(Inner::Argv(i));
    }
}

/// `env`: every option parsed as GNU env does; any change to the
/// environment, split string or signal handling is at least WRITE.
fn env<'a>(argv: &'a [String], w: &mut Unwrapped<'a>) {
    let mut start = None;
    let mut changed = false;
    let result = spec::parse(&ENV, &argv[1..], |item| {
        match item {
            Item::Opt { name, value, .. } => {
                if name.is(&["-S", "--split-string"]) {
                    // Not analysed exactly (ADMIN), but the string is also
                    // judged as a script so what it plainly runs counts.
                    w.opaque = Some(format!(
                        "`env {}` splits a string into a command, which cannot be checked exactly",
                        name.show()
                    ));
                    w.inner
                        .extend(value.map(|v| Inner::Script(Cow::Borrowed(v))));
                    return Ok(true);
                }
                if name.is(&["-C", "--chdir"]) {
                    // Each -C moves from the previous directory; keep it
                    // simple: a second one is not analysed.
                    if w.chdir.is_some() {
                        return Err("more than one working-directory option".into());
                    }
                    w.chdir = value;
                } else if !name.is(&["-0", "--null", "-v", "--debug", "--help", "--version"]) {
                    changed = true;
                }
            }
            Item::Operand { value, index } => {
                if value == "-" || (value.contains('=') && !value.starts_with('=')) {
                    changed = true;
                } else {
                    start = Some(index + 1);
                    return Ok(false);
                }
            }
        }
        Ok(true)
    });
    if let Err(why) = result {
        w.opaque = Some(format!("`env` cannot be analysed: {why}"));
        return;
    }
    if changed {
        w.env_changed = true;
        w.raise(
            RiskLevel::Write,
            "`env` changes the command's environment (variables, signals, argv[0]), which can change what it runs: at least WRITE",
        );
    }
    w.inner.extend(start.map(Inner::Argv));
}

/// `watch [options] COMMAND...`: the words are one shell script unless
/// `-x`; judged both ways, since its options are not parsed exactly.
fn watch<'a>(argv: &'a [String], w: &mut Unwrapped<'a>) {
    crude("watch", argv, w);
    let starts: Vec<usize> = w
        .inner
        .iter()
        .filter_map(|i| match i {
            Inner::Argv(i) => Some(*i),
            Inner::Script(_) => None,
        })
        .collect();
    // watch joins its words with spaces and runs them with `sh -c`.
    for i in starts {
        w.inner.push(Inner::Script(Cow::Owned(argv[i..].join(" "))));
    }
}

/// A wrapper whose grammar is not known exactly: every word that does not
/// look like an option may start the command; `-c`/`--command` values are
/// shell scripts; option values that look like paths are checked.
fn crude<'a>(program: &str, argv: &'a [String], w: &mut Unwrapped<'a>) {
    w.inexact = true;
    let mut after_dashes = false;
    for (i, a) in argv.iter().enumerate().skip(1) {
        if a == "--" && !after_dashes {
            after_dashes = true;
            continue;
        }
        if after_dashes || !a.starts_with('-') {
            if w.inner.len() == MAX_GUESSES {
                w.opaque = Some(format!(
                    "`{program}` has too many words that could start its command to analyse"
                ));
                return;
            }
            w.inner.push(Inner::Argv(i));
        } else if SCRIPT_OPTIONS.contains(&a.as_str())
            && let Some(script) = argv.get(i + 1)
        {
            w.inner.push(Inner::Script(Cow::Borrowed(script)));
        } else if let Some(script) = a.strip_prefix("--command=") {
            w.inner.push(Inner::Script(Cow::Borrowed(script)));
        }
    }
    if matches!(program, "sudo" | "su" | "doas" | "runuser")
        && argv
            .iter()
            .skip(1)
            .any(|a| matches!(a.as_str(), "-s" | "-i" | "--shell" | "--login" | "-"))
        && !argv.iter().skip(1).any(|a| !a.starts_with('-'))
    {
        w.opaque = Some(format!("`{program}` starts an interactive shell"));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn first_inner(a: &[&str]) -> Option<Vec<String>> {
        let argv = sv(a);
        let w = unwrap(crate::policy::rules::basename(&argv[0]), &argv).unwrap();
        match w.inner.first() {
            Some(Inner::Argv(i)) => Some(argv[*i..].to_vec()),
            _ => None,
        }
    }

    #[test]
    fn finds_the_wrapped_command() {
        assert_eq!(
            first_inner(&["sudo", "-u", "bob", "ls"]),
            Some(sv(&["bob", "ls"]))
        );
        assert_eq!(
            first_inner(&["/usr/bin/env", "-i", "A=1", "rm", "x"]),
            Some(sv(&["rm", "x"]))
        );
        assert_eq!(first_inner(&["env"]), None);
        assert_eq!(
            first_inner(&["timeout", "-s", "KILL", "10", "make"]),
            Some(sv(&["make"]))
        );
        assert_eq!(first_inner(&["nice", "-n", "10", "ls"]), Some(sv(&["ls"])));
        assert_eq!(first_inner(&["nice", "-5", "ls"]), Some(sv(&["ls"])));
        assert_eq!(first_inner(&["nohup", "--", "./run"]), Some(sv(&["./run"])));
        assert_eq!(first_inner(&["command", "-v", "ls"]), None);
        assert!(unwrap("ls", &sv(&["ls"])).is_none());
    }

    #[test]
    fn env_options_are_parsed_as_gnu_env_does() {
        for a in [
            &["env", "--s=sh -c id", "ls"][..],
            &["env", "--split=sh -c id", "ls"],
            &["env", "-vSsh -c id", "ls"],
            &["env", "-iS", "sh -c id"],
        ] {
            let argv = sv(a);
            assert!(unwrap("env", &argv).unwrap().opaque.is_some(), "{a:?}");
        }
        let argv = sv(&["env", "-iC..", "ls"]);
        let w = unwrap("env", &argv).unwrap();
        assert_eq!(w.chdir, Some(".."));
        assert!(w.env_changed);
        let argv = sv(&["env", "--ch=src", "ls"]);
        assert_eq!(unwrap("env", &argv).unwrap().chdir, Some("src"));
        let argv = sv(&["env", "-u", "GIT_CONFIG_COUNT", "git", "status"]);
        assert!(unwrap("env", &argv).unwrap().env_changed);
    }
}
