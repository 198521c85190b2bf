//! Turning a [`Command`] into a process to spawn: working directory inside
//! the sandbox root, a cleared environment with an allowlist, and the
//! program resolved on the child's `PATH`.

use super::git_guard;
use super::sandbox::{self, Confinement};
use super::seccomp::SeccompFd;
use crate::action::SandboxProfile;
use crate::plan::Command;
use crate::{Error, Result};
use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// `PATH` for the child when neither the parent nor the command has one.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How the step is confined.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sandbox<'a> {
    /// Path confinement only, or bubblewrap.
    pub(crate) confinement: &'a Confinement,
    /// The step may use the network (WRITE/ADMIN).
    pub(crate) network: bool,
    /// The step may write its root (WRITE/ADMIN); READ_ONLY steps also get
    /// git's full hardening.
    pub(crate) write: bool,
    /// Extra directories WRITE/ADMIN steps may write.
    pub(crate) writable: &'a [PathBuf],
    /// CPU seconds each of the step's processes may use (READ_ONLY steps),
    /// set with `prlimit` before the program starts.
    pub(crate) cpu_seconds: Option<u64>,
    /// The step's profile (from its action and risk).
    pub(crate) profile: SandboxProfile,
}

/// Where `prlimit` (util-linux) is looked for: a fixed system path, never
/// the step's `PATH`.
const PRLIMIT: &[&str] = &["/usr/bin/prlimit", "/bin/prlimit"];

/// `prlimit --cpu=N:N --`, which sets the limit on itself and then runs the
/// program (the limit is inherited by what it starts), when `prlimit` exists.
fn cpu_limit_prefix(seconds: Option<u64>) -> Option<[OsString; 3]> {
    let seconds = seconds?;
    let prlimit = PRLIMIT.iter().find(|p| Path::new(p).is_file())?;
    Some([
        OsString::from(prlimit),
        OsString::from(format!("--cpu={seconds}:{seconds}")),
        OsString::from("--"),
    ])
}

/// What to start, or why it cannot start.
#[derive(Debug)]
pub(crate) enum Launch {
    /// Ready to spawn.
    Ready(Prepared),
    /// The program is missing or not executable.
    CannotRun(CannotRun),
}

/// A process to spawn, with the seccomp descriptors bubblewrap inherits
/// (close them once it has started: see `spawn` in the provider).
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The process.
    pub(crate) cmd: tokio::process::Command,
    /// Kept open until the spawn.
    pub(crate) seccomp: Vec<SeccompFd>,
}

/// A program that cannot be started: the step fails like a shell would
/// (127 / 126); it is not a provider failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CannotRun {
    /// Exit code to report.
    pub(crate) exit_code: i32,
    /// Why, for the person reading the log.
    pub(crate) reason: Cow<'static, str>,
}

/// Build the process for `command`, checking its cwd against `root`.
pub(crate) fn launch(
    command: &Command,
    root: &Path,
    allowlist: &[String],
    sandbox: &Sandbox<'_>,
) -> Result<Launch> {
    let Some((program, args)) = command.argv.split_first() else {
        return Err(Error::InvalidInput(
            "the command has no program: argv is empty".into(),
        ));
    };
    let root = canonical_root(root)?;
    let cwd = resolve_cwd(&command.cwd, &root)?;
    let path = confined_path(&effective_path(command, allowlist), &root);
    let resolved = match resolve_program(program, &path, &cwd) {
        Resolved::Found(p) => p,
        Resolved::NotFound => return Ok(cannot_run(127, "No such file or directory")),
        Resolved::NotExecutable => return Ok(cannot_run(126, "Permission denied")),
    };

    if let Some(why) = git_guard::refuse_hostile(command, &cwd) {
        return Ok(Launch::CannotRun(CannotRun {
            exit_code: 126,
            reason: why.into(),
        }));
    }

    let limit = cpu_limit_prefix(sandbox.cpu_seconds);
    let mut seccomp = Vec::new();
    let mut cmd = match sandbox.confinement {
        Confinement::PathsOnly | Confinement::Landlock => match &limit {
            Some([prlimit, cpu, dashes]) => {
                let mut cmd = tokio::process::Command::new(prlimit);
                cmd.args([cpu, dashes]).arg(resolved).args(args);
                cmd
            }
            None => {
                let mut cmd = tokio::process::Command::new(resolved);
                // Resolving to an absolute path lets std use posix_spawn
                // instead of fork+exec; arg0 keeps what the program sees as
                // its own name.
                cmd.arg0(program).args(args);
                cmd
            }
        },
        Confinement::Bubblewrap(bwrap) => {
            seccomp = sandbox::profile_seccomp_fds(sandbox.network, sandbox.profile).map_err(
                |message| Error::Provider {
                    provider: "local".into(),
                    message: format!("cannot prepare the seccomp filter: {message}"),
                },
            )?;
            let step = sandbox::Step {
                root: &root,
                cwd: &cwd,
                network: sandbox.network,
                write: sandbox.write,
                writable: sandbox.writable,
                profile: sandbox.profile,
            };
            let mut cmd = tokio::process::Command::new(bwrap);
            cmd.args(sandbox::arguments(&step, &seccomp))
                .arg("--")
                .args(limit.iter().flatten())
                .arg(resolved)
                .args(args);
            cmd
        }
    };
    cmd.current_dir(&cwd)
        .env_clear()
        .stdin(if command.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for name in allowlist {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.env("PATH", &path);
    cmd.envs(&command.env);
    // After the command's own variables, so that it cannot undo it.
    git_guard::harden(&mut cmd, !sandbox.write);
    Ok(Launch::Ready(Prepared { cmd, seccomp }))
}

/// Configuration git reads from the environment ahead of the repository's
/// own: a repository's `.git/config` could otherwise name a program that
/// READ_ONLY commands such as `git status` run (`core.fsmonitor`).
pub(crate) const GIT_HARDENING: &[(&str, &str)] = &[
    ("GIT_CONFIG_COUNT", "1"),
    ("GIT_CONFIG_KEY_0", "core.fsmonitor"),
    ("GIT_CONFIG_VALUE_0", "false"),
];

fn cannot_run(exit_code: i32, reason: &'static str) -> Launch {
    Launch::CannotRun(CannotRun {
        exit_code,
        reason: reason.into(),
    })
}

/// Map a spawn error to a step failure (127/126) where a shell would, or
/// `None` when the provider itself is in trouble.
pub(crate) fn spawn_failure(err: &std::io::Error) -> Option<CannotRun> {
    let (exit_code, reason) = match err.kind() {
        std::io::ErrorKind::NotFound => (127, "No such file or directory"),
        std::io::ErrorKind::PermissionDenied => (126, "Permission denied"),
        _ if err.raw_os_error() == Some(nix::libc::ENOEXEC) => (126, "Exec format error"),
        _ => return None,
    };
    Some(CannotRun {
        exit_code,
        reason: reason.into(),
    })
}

/// The canonical sandbox root.
pub(crate) fn canonical_root(root: &Path) -> Result<PathBuf> {
    root.canonicalize().map_err(|e| {
        Error::InvalidInput(format!(
            "sandbox root {} is not usable: {e}",
            root.display()
        ))
    })
}

/// The canonical cwd, which must lie inside `root` (canonical). A
/// relative cwd is taken relative to the root.
pub(crate) fn resolve_cwd(cwd: &Path, root: &Path) -> Result<PathBuf> {
    let joined = root.join(cwd);
    let cwd = joined.canonicalize().map_err(|e| {
        Error::InvalidInput(format!(
            "working directory {} is not usable: {e}",
            joined.display()
        ))
    })?;
    if !cwd.starts_with(root) {
        return Err(Error::InvalidInput(format!(
            "working directory {} escapes the sandbox root {}",
            cwd.display(),
            root.display()
        )));
    }
    Ok(cwd)
}

/// `path` without the entries that would let project files stand in for
/// system programs: relative or empty entries (`.`, a trailing `:`) and
/// directories inside the sandbox root. The policy judged `cat`, not
/// `./cat`. `root` is canonical.
fn confined_path(path: &OsStr, root: &Path) -> OsString {
    let kept: Vec<PathBuf> = std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .filter(|dir| {
            let real = dir.canonicalize().unwrap_or_else(|_| dir.clone());
            !real.starts_with(root)
        })
        .collect();
    std::env::join_paths(kept).unwrap_or_else(|_| DEFAULT_PATH.into())
}

/// The `PATH` the child will see: the command's, else the parent's when
/// allowlisted, else [`DEFAULT_PATH`].
fn effective_path(command: &Command, allowlist: &[String]) -> OsString {
    if let Some(p) = command.env.get("PATH") {
        return p.into();
    }
    if allowlist.iter().any(|n| n == "PATH")
        && let Some(p) = std::env::var_os("PATH")
    {
        return p;
    }
    DEFAULT_PATH.into()
}

#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    Found(PathBuf),
    NotFound,
    NotExecutable,
}

/// Find `program` the way `execvp` would, on the child's `PATH` and
/// relative to the child's cwd.
fn resolve_program(program: &str, path: &OsStr, cwd: &Path) -> Resolved {
    if program.is_empty() {
        return Resolved::NotFound;
    }
    if program.contains('/') {
        // Checked here rather than left to the spawn: a wrapper (`prlimit`,
        // bubblewrap) would report the failure in its own words.
        let path = cwd.join(program);
        return match std::fs::metadata(&path) {
            Err(_) => Resolved::NotFound,
            Ok(meta) if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 => {
                Resolved::NotExecutable
            }
            Ok(_) => Resolved::Found(path),
        };
    }
    let mut denied = false;
    for dir in std::env::split_paths(path) {
        // An empty entry means the current directory, as for execvp.
        let candidate = cwd.join(dir).join(program);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
        {
            if meta.permissions().mode() & 0o111 != 0 {
                return Resolved::Found(candidate);
            }
            denied = true;
        }
    }
    if denied {
        Resolved::NotExecutable
    } else {
        Resolved::NotFound
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn path_drops_relative_and_in_root_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical root");
        let bin = root.join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let given = format!(".::/usr/bin:{}:bin:/bin", bin.display());
        let kept = confined_path(OsStr::new(&given), &root);
        assert_eq!(kept, OsString::from("/usr/bin:/bin"));
    }

    use super::*;

    #[test]
    fn finds_programs_on_path_and_reports_missing_ones() {
        let path = OsStr::new("/nonexistent-dir:/bin:/usr/bin");
        match resolve_program("sh", path, Path::new("/")) {
            Resolved::Found(p) => assert!(p.ends_with("sh") && p.is_absolute()),
            other => panic!("sh not found: {other:?}"),
        }
        assert_eq!(
            resolve_program("no-such-program-skynet", path, Path::new("/")),
            Resolved::NotFound
        );
    }

    #[test]
    fn non_executable_file_on_path_is_permission_denied() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tool"), "#!/bin/sh\n").unwrap();
        assert_eq!(
            resolve_program("tool", dir.path().as_os_str(), Path::new("/")),
            Resolved::NotExecutable
        );
    }

    #[test]
    fn relative_program_path_is_relative_to_the_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert_eq!(
            resolve_program("./run.sh", OsStr::new("/bin"), dir.path()),
            Resolved::NotExecutable
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            resolve_program("./run.sh", OsStr::new("/bin"), dir.path()),
            Resolved::Found(dir.path().join("./run.sh"))
        );
        assert_eq!(
            resolve_program("./gone.sh", OsStr::new("/bin"), dir.path()),
            Resolved::NotFound
        );
    }

    #[test]
    fn cwd_must_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        let canon = canonical_root(root.path()).unwrap();
        let inside = resolve_cwd(Path::new("sub"), &canon).unwrap();
        assert!(inside.ends_with("sub"));
        let escape = resolve_cwd(&root.path().join("sub/../.."), &canon).unwrap_err();
        assert!(
            escape.to_string().contains("escapes the sandbox root"),
            "{escape}"
        );
        let missing = resolve_cwd(Path::new("nope"), &canon).unwrap_err();
        assert!(missing.to_string().contains("not usable"), "{missing}");
    }
}
