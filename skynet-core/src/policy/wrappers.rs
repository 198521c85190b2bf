//! Wrapper programs (`sudo`, `env`, `timeout`, `xargs`, ...) that run
//! another command: find the wrapped argv so it is classified too.

use crate::risk::RiskLevel;

/// A wrapper and how to read its options.
struct Wrapper {
    name: &'static str,
    /// Options followed by a separate value.
    valued: &'static [&'static str],
    /// Operands before the wrapped command (`timeout DURATION cmd`).
    operands: usize,
    /// The least risk the wrapper itself adds, and why.
    floor: Option<(RiskLevel, &'static str)>,
}

const WRAPPERS: &[Wrapper] = &[
    Wrapper {
        name: "sudo",
        valued: &[
            "-u",
            "-g",
            "-C",
            "-D",
            "-h",
            "-p",
            "-r",
            "-t",
            "-U",
            "-T",
            "--user",
            "--group",
            "--chdir",
            "--prompt",
            "--role",
            "--type",
            "--other-user",
            "--close-from",
            "--host",
            "--command-timeout",
        ],
        operands: 0,
        floor: Some((
            RiskLevel::Admin,
            "runs the command with elevated privileges",
        )),
    },
    Wrapper {
        name: "doas",
        valued: &["-u", "-C"],
        operands: 0,
        floor: Some((
            RiskLevel::Admin,
            "runs the command with elevated privileges",
        )),
    },
    Wrapper {
        name: "env",
        valued: &["-u", "--unset", "-C", "--chdir"],
        operands: 0,
        floor: None,
    },
    Wrapper {
        name: "nice",
        valued: &["-n", "--adjustment"],
        operands: 0,
        floor: None,
    },
    Wrapper {
        name: "ionice",
        valued: &["-c", "-n", "--class", "--classdata"],
        operands: 0,
        floor: None,
    },
    Wrapper {
        name: "nohup",
        valued: &[],
        operands: 0,
        floor: None,
    },
    Wrapper {
        name: "timeout",
        valued: &["-s", "--signal", "-k", "--kill-after"],
        operands: 1,
        floor: None,
    },
    Wrapper {
        name: "time",
        valued: &["-f", "--format", "-o", "--output"],
        operands: 0,
        floor: None,
    },
    Wrapper {
        name: "stdbuf",
        valued: &["-i", "-o", "-e"],
        operands: 0,
        floor: None,
    },
    Wrapper {
        name: "xargs",
        valued: &[
            "-I",
            "-L",
            "-n",
            "-P",
            "-s",
            "-d",
            "-E",
            "-a",
            "--arg-file",
            "--delimiter",
            "--max-args",
            "--max-procs",
            "--max-lines",
            "--max-chars",
            "--replace",
            "--eof",
        ],
        operands: 0,
        floor: Some((
            RiskLevel::Write,
            "takes the command's arguments from stdin, which cannot be checked",
        )),
    },
    Wrapper {
        name: "busybox",
        valued: &[],
        operands: 0,
        floor: None,
    },
    // Shell builtins that run their arguments as a command.
    Wrapper {
        name: "exec",
        valued: &["-a"],
        operands: 0,
        floor: None,
    },
    Wrapper {
        name: "command",
        valued: &[],
        operands: 0,
        floor: None,
    },
    Wrapper {
        name: "builtin",
        valued: &[],
        operands: 0,
        floor: None,
    },
];

/// Where a wrapper's command starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wrapped {
    /// Index in argv of the wrapped program (`argv.len()` if none).
    pub(crate) inner: usize,
    /// The least risk of the whole invocation, and why.
    pub(crate) floor: Option<(RiskLevel, &'static str)>,
    /// A problem that makes the invocation unanalysable (`env -S`).
    pub(crate) opaque: Option<&'static str>,
    /// Index of a directory the command runs in (`env -C DIR`).
    pub(crate) chdir: Option<usize>,
}

/// Options that change the wrapped command's working directory.
const CHDIR_OPTIONS: &[&str] = &["-C", "--chdir", "-D"];

/// If `program` (a basename) wraps a command, where that command starts.
pub(crate) fn unwrap(program: &str, argv: &[String]) -> Option<Wrapped> {
    let w = WRAPPERS.iter().find(|w| w.name == program)?;
    let mut floor = w.floor;
    let mut opaque = None;
    let mut chdir = None;
    let changes_dir = matches!(w.name, "env" | "sudo");
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" {
            i += 1;
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            if w.name == "env"
                && (a == "-S" || a.starts_with("-S") || a.starts_with("--split-string"))
            {
                opaque = Some("`env -S` splits a string into a command, which cannot be checked");
            }
            if w.name == "command" && (a == "-v" || a == "-V") {
                // `command -v x` only looks the name up.
                return Some(Wrapped {
                    inner: argv.len(),
                    floor,
                    opaque,
                    chdir,
                });
            }
            if w.valued.contains(&a) {
                if changes_dir && CHDIR_OPTIONS.contains(&a) {
                    chdir = Some(i + 1);
                }
                i += 2;
            } else {
                if changes_dir
                    && (a.starts_with("--chdir=") || (a.starts_with("-C") && a.len() > 2))
                {
                    opaque = opaque.or(Some("an attached working-directory option (`--chdir=DIR`, `-CDIR`) is not analysed; write `-C DIR`"));
                }
                i += 1;
            }
            continue;
        }
        break;
    }
    if w.name == "env" {
        let start = i;
        while i < argv.len() && argv[i].contains('=') && !argv[i].starts_with('=') {
            i += 1;
        }
        if i > start && i < argv.len() {
            floor = Some((
                RiskLevel::Write,
                "sets variables for the command, which can change what it runs",
            ));
        }
    }
    i += w.operands;
    Some(Wrapped {
        inner: i.min(argv.len()),
        floor,
        opaque,
        chdir,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn inner(a: &[&str]) -> Vec<String> {
        let argv = sv(a);
        let w = unwrap(crate::policy::rules::basename(&argv[0]), &argv).unwrap();
        argv[w.inner..].to_vec()
    }

    #[test]
    fn finds_the_wrapped_command() {
        assert_eq!(inner(&["sudo", "-u", "bob", "ls", "-l"]), sv(&["ls", "-l"]));
        assert_eq!(
            inner(&["/usr/bin/env", "-i", "A=1", "B=2", "rm", "x"]),
            sv(&["rm", "x"])
        );
        assert_eq!(inner(&["env"]), sv(&[]));
        assert_eq!(
            inner(&["timeout", "-s", "KILL", "10", "make"]),
            sv(&["make"])
        );
        assert_eq!(
            inner(&["nice", "-n", "10", "cargo", "build"]),
            sv(&["cargo", "build"])
        );
        assert_eq!(inner(&["xargs", "-0", "-n", "1", "rm"]), sv(&["rm"]));
        assert_eq!(
            inner(&["busybox", "sh", "-c", "ls"]),
            sv(&["sh", "-c", "ls"])
        );
        assert_eq!(inner(&["nohup", "--", "./run"]), sv(&["./run"]));
        assert!(unwrap("ls", &sv(&["ls"])).is_none());
    }

    #[test]
    fn floors_and_opaque_forms() {
        let a = sv(&["env", "LD_PRELOAD=./x.so", "cat", "f"]);
        assert_eq!(
            unwrap("env", &a).unwrap().floor.unwrap().0,
            RiskLevel::Write
        );
        let a = sv(&["env", "-S", "sh -c ls"]);
        assert!(unwrap("env", &a).unwrap().opaque.is_some());
        let a = sv(&["sudo", "ls"]);
        assert_eq!(
            unwrap("sudo", &a).unwrap().floor.unwrap().0,
            RiskLevel::Admin
        );
    }
}
