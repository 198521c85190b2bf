//! The local sandbox: each step under bubblewrap, root only inside a user
//! namespace of its own with every capability dropped and a seccomp filter
//! (see the `seccomp` module), with a read-only view of the system and its
//! secrets hidden (the `secrets` module), its sandbox root writable only
//! when the policy judged it at least WRITE, a private `/tmp`, its own PID
//! namespace (so nothing it starts outlives it, and no host process is in
//! sight) and, for READ_ONLY steps, no network.
//!
//! A step's [`SandboxProfile`] (from its catalog action and risk) changes
//! this: *Inspect* shares the host's PID and network namespaces (the host
//! `/proc` bound read-only, no `--unshare-pid`, `--unshare-net` or
//! `--new-session`) for `ps`, `ss` and `ip`, while the user namespace keeps
//! other processes' environments and descriptors closed (the kernel's
//! ptrace check wants a capability in their namespace), seccomp refuses
//! unix and network sockets, `connect` and signals outside the step's own
//! process group, and netlink stays open. *Host* runs an approved ADMIN
//! step without namespaces, only where the operator turned it on
//! ([`HOST_PROFILE_SETTING`]); elsewhere it is refused before it starts.
//!
//! Whether bubblewrap works is probed once per process (it needs
//! namespaces, which some containers forbid). When it does not, Landlock
//! is the fallback (see the `landlock` module); when neither works, `Auto`
//! says so once and runs with path confinement only; `Require` refuses.

use super::seccomp::{self, SeccompFd};
use super::secrets;
use crate::action::SandboxProfile;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::OnceCell;

/// How local steps are confined beyond the working-directory check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SandboxMode {
    /// Path confinement only (the cwd must lie inside the root).
    #[default]
    Off,
    /// Bubblewrap when it works here, else Landlock, else path
    /// confinement only (said once, as a warning).
    Auto,
    /// Bubblewrap, else Landlock, else nothing: steps fail with a provider
    /// error when neither works.
    Require,
    /// Landlock only (no namespaces needed; no private `/tmp`).
    Landlock,
}

impl SandboxMode {
    /// Parse `off`, `auto` or `require`.
    pub fn parse(text: &str) -> Option<SandboxMode> {
        match text.trim() {
            "off" | "none" => Some(SandboxMode::Off),
            "auto" => Some(SandboxMode::Auto),
            "require" | "bwrap" | "bubblewrap" => Some(SandboxMode::Require),
            "landlock" => Some(SandboxMode::Landlock),
            _ => None,
        }
    }
}

/// The sandbox a step gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Confinement {
    /// Path confinement only.
    PathsOnly,
    /// Under bubblewrap at this path.
    Bubblewrap(PathBuf),
    /// Spawned from a thread restricted by Landlock.
    Landlock,
}

/// Result of the one probe per process: bubblewrap's path, or why not.
static PROBE: OnceCell<Result<PathBuf, String>> = OnceCell::const_new();
static LANDLOCK: OnceCell<Result<(), String>> = OnceCell::const_new();
static WARNED: AtomicBool = AtomicBool::new(false);

/// Does bubblewrap work on this machine? (Probed once: a real sandbox
/// with every option the steps use runs `true`.)
pub(crate) async fn bubblewrap() -> Result<PathBuf, String> {
    PROBE.get_or_init(probe).await.clone()
}

async fn probe() -> Result<PathBuf, String> {
    let Some(path) = find_on_path("bwrap") else {
        return Err("bubblewrap (bwrap) is not installed".into());
    };
    let root = std::env::temp_dir();
    let step = Step {
        root: &root,
        cwd: &root,
        network: false,
        write: false,
        writable: &[],
        profile: SandboxProfile::Default,
    };
    let fds = seccomp_fds(false)?;
    let mut args = arguments(&step, &fds);
    args.push("--".into());
    args.push("true".into());
    let mut cmd = tokio::process::Command::new(&path);
    cmd.args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let child = {
        let _spawning = super::SPAWNING.lock().await;
        let child = cmd.spawn();
        drop(fds);
        child
    };
    match child {
        Ok(child) => match child.wait_with_output().await {
            Ok(out) if out.status.success() => Ok(path),
            Ok(out) => Err(format!(
                "bubblewrap cannot create its sandbox here ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("bubblewrap did not finish: {e}")),
        },
        Err(e) => Err(format!("bubblewrap cannot start: {e}")),
    }
}

/// The seccomp programs for a bubblewrap step of the default profile,
/// each in a descriptor the child inherits.
pub(crate) fn seccomp_fds(network: bool) -> Result<Vec<SeccompFd>, String> {
    profile_seccomp_fds(network, SandboxProfile::Default)
}

/// The seccomp programs for a bubblewrap step of `profile`. Signals need
/// no filter in the default profile (the step has its own PID namespace);
/// Inspect shares the host's, where a step mapped to the host's root could
/// signal the host's root processes, so only its own process group may be
/// signalled, and `connect` is refused outright.
pub(crate) fn profile_seccomp_fds(
    network: bool,
    profile: SandboxProfile,
) -> Result<Vec<SeccompFd>, String> {
    seccomp::programs(seccomp_rules(network, profile, false))?
        .iter()
        .map(SeccompFd::new)
        .collect()
}

/// The seccomp rules for a step of `profile`; `unscoped_signals`: the step
/// shares the host's PID namespace and nothing else keeps its signals in
/// (Landlock before ABI 6).
pub(crate) fn seccomp_rules(
    network: bool,
    profile: SandboxProfile,
    unscoped_signals: bool,
) -> seccomp::Rules {
    let inspect = profile == SandboxProfile::Inspect;
    seccomp::Rules {
        network: network && !inspect,
        deny_signals: unscoped_signals || inspect,
        deny_connect: inspect,
    }
}

/// What enables the host profile, as messages name it.
pub const HOST_PROFILE_SETTING: &str =
    "`[sandbox] host_profile = true` in skynet.toml (or SKYNET_SANDBOX_HOST_PROFILE=true)";

/// Why a step of `action` under `profile` must not run here, or `None`:
/// a Host step while the sandbox is on and the host profile is not. (With
/// the sandbox off every step already runs on the host.)
pub(crate) fn refusal(
    mode: SandboxMode,
    host_profile: bool,
    profile: SandboxProfile,
    action: &str,
) -> Option<String> {
    (profile == SandboxProfile::Host && !host_profile && mode != SandboxMode::Off).then(|| {
        format!(
            "`{action}` changes the host itself, so it runs only under the host sandbox profile \
             (after approval, outside the sandbox), which is off here: the sandbox would stop it \
             from working; enable it with {HOST_PROFILE_SETTING}, or run this on the host yourself"
        )
    })
}

/// The confinement a step of `profile` gets under `mode`: Host steps none
/// but path confinement (they are refused before this unless enabled, see
/// [`refusal`]), the others what [`confinement`] finds.
pub(crate) async fn profile_confinement(
    mode: SandboxMode,
    profile: SandboxProfile,
) -> Result<Confinement, String> {
    match profile {
        SandboxProfile::Host => Ok(Confinement::PathsOnly),
        SandboxProfile::Default | SandboxProfile::Inspect => confinement(mode).await,
    }
}

/// Does Landlock work here? (Probed once.)
pub(crate) async fn landlock() -> Result<(), String> {
    LANDLOCK
        .get_or_init(|| async { super::landlock::probe() })
        .await
        .clone()
}

/// What `mode` gives a step on this machine, or why it must not run.
pub(crate) async fn confinement(mode: SandboxMode) -> Result<Confinement, String> {
    let no_bwrap = match mode {
        SandboxMode::Off => return Ok(Confinement::PathsOnly),
        SandboxMode::Landlock => "Landlock was chosen".to_string(),
        _ => match bubblewrap().await {
            Ok(path) => return Ok(Confinement::Bubblewrap(path)),
            Err(why) => why,
        },
    };
    let no_landlock = match landlock().await {
        Ok(()) => {
            if mode != SandboxMode::Landlock {
                warn_once(&format!(
                    "local steps are confined by Landlock and seccomp, not bubblewrap ({no_bwrap}): no private /tmp or PID namespace"
                ));
            }
            return Ok(Confinement::Landlock);
        }
        Err(why) => why,
    };
    if mode == SandboxMode::Auto {
        if !WARNED.swap(true, Ordering::SeqCst) {
            // An error, not a warning: it shows without SKYNET_LOG set.
            tracing::error!(
                "local steps run WITHOUT a sandbox (path confinement only), so READ_ONLY plans wait for approval: {no_bwrap}; Landlock: {no_landlock}; set SKYNET_SANDBOX=require to refuse instead"
            );
        }
        return Ok(Confinement::PathsOnly);
    }
    Err(format!(
        "the sandbox is required but neither bubblewrap nor Landlock with seccomp can be applied here: {no_bwrap}; Landlock: {no_landlock}; install bubblewrap, or set the sandbox to auto or off"
    ))
}

fn warn_once(message: &str) {
    if !WARNED.swap(true, Ordering::SeqCst) {
        tracing::warn!("{message}");
    }
}

/// A step as bubblewrap sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step<'a> {
    /// The canonical sandbox root.
    pub(crate) root: &'a Path,
    /// The canonical working directory (inside the root).
    pub(crate) cwd: &'a Path,
    /// Keep the host's network (else a new, empty network namespace).
    pub(crate) network: bool,
    /// The root (and `writable`) are writable: WRITE/ADMIN steps only.
    pub(crate) write: bool,
    /// Extra directories WRITE/ADMIN steps may write (e.g. a build cache).
    pub(crate) writable: &'a [PathBuf],
    /// Default or Inspect (Host steps never reach bubblewrap).
    pub(crate) profile: SandboxProfile,
}

/// bubblewrap's options for `step`, confined by the seccomp programs in
/// `seccomp` (see [`seccomp_fds`]).
pub(crate) fn arguments(step: &Step<'_>, seccomp: &[SeccompFd]) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&OsStr]| a.extend(items.iter().map(|s| s.to_os_string()));
    // Root inside, but of a user namespace of its own with no capabilities:
    // it cannot remount, mount or trace anything, nor regain privileges.
    push(&[
        "--unshare-user".as_ref(),
        "--cap-drop".as_ref(),
        "ALL".as_ref(),
    ]);
    push(&["--ro-bind".as_ref(), "/".as_ref(), "/".as_ref()]);
    push(&["--dev".as_ref(), "/dev".as_ref()]);
    let inspect = step.profile == SandboxProfile::Inspect;
    if inspect {
        // The host's processes, read-only; their environ, mem and fd/exe
        // targets stay closed to a process in another user namespace
        // without capabilities (the kernel's ptrace access check).
        push(&["--ro-bind".as_ref(), "/proc".as_ref(), "/proc".as_ref()]);
    } else {
        push(&["--proc".as_ref(), "/proc".as_ref()]);
    }
    push(&["--tmpfs".as_ref(), "/tmp".as_ref()]);
    // After /tmp is replaced, so a root under /tmp stays visible.
    let bind: &OsStr = if step.write {
        "--bind".as_ref()
    } else {
        "--ro-bind".as_ref()
    };
    if step.write {
        for dir in step.writable {
            push(&[bind, dir.as_os_str(), dir.as_os_str()]);
        }
    }
    push(&[bind, step.root.as_os_str(), step.root.as_os_str()]);
    for secret in secrets::to_hide(step.root) {
        let path = secret.path.as_os_str();
        if secret.dir {
            push(&["--tmpfs".as_ref(), path, "--remount-ro".as_ref(), path]);
        } else {
            push(&["--ro-bind".as_ref(), "/dev/null".as_ref(), path]);
        }
    }
    push(&["--chdir".as_ref(), step.cwd.as_os_str()]);
    push(&[
        "--unshare-ipc".as_ref(),
        "--unshare-uts".as_ref(),
        "--unshare-cgroup-try".as_ref(),
        "--die-with-parent".as_ref(),
    ]);
    if inspect {
        // Host PID and network namespaces. No new session either: without
        // a PID namespace to end with it, the step must stay in the process
        // group the provider kills (seccomp refuses terminal injection).
    } else {
        push(&[
            "--unshare-pid".as_ref(),
            // A new session: the step cannot push input into our terminal.
            "--new-session".as_ref(),
        ]);
        if !step.network {
            push(&["--unshare-net".as_ref()]);
        }
    }
    for fd in seccomp {
        let number = OsString::from(fd.number().to_string());
        push(&["--add-seccomp-fd".as_ref(), &number]);
    }
    a
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| super::DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .chain(std::env::split_paths(super::DEFAULT_PATH))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse() {
        assert_eq!(SandboxMode::parse("auto"), Some(SandboxMode::Auto));
        assert_eq!(SandboxMode::parse("off"), Some(SandboxMode::Off));
        assert_eq!(SandboxMode::parse("require"), Some(SandboxMode::Require));
        assert_eq!(SandboxMode::parse("landlock"), Some(SandboxMode::Landlock));
        assert_eq!(SandboxMode::parse("maybe"), None);
    }

    #[test]
    fn network_is_cut_only_when_not_allowed() {
        let root = Path::new("/r");
        let step = |network, write| Step {
            root,
            cwd: root,
            network,
            write,
            writable: &[],
            profile: SandboxProfile::Default,
        };
        let offline = arguments(&step(false, false), &[]);
        let online = arguments(&step(true, true), &[]);
        assert!(offline.iter().any(|a| a == "--unshare-net"));
        assert!(!online.iter().any(|a| a == "--unshare-net"));
        for args in [&offline, &online] {
            assert!(
                args.windows(2)
                    .any(|w| w[0] == "--cap-drop" && w[1] == "ALL")
            );
            assert!(args.iter().any(|a| a == "--unshare-user"));
        }
        // The root is bound after /tmp is replaced, so a root under /tmp stays visible;
        // read-only unless the step may write.
        let tmp = offline.iter().position(|a| a == "/tmp").expect("tmpfs");
        let bind = offline.iter().position(|a| a == "/r").expect("root bind");
        assert!(tmp < bind);
        assert_eq!(offline[bind - 1], "--ro-bind");
        let bind = online.iter().position(|a| a == "/r").expect("root bind");
        assert_eq!(online[bind - 1], "--bind");
        for args in [&offline, &online] {
            assert!(args.iter().any(|a| a == "--unshare-pid"));
            assert!(args.windows(2).any(|w| w[0] == "--proc" && w[1] == "/proc"));
        }
    }

    #[test]
    fn inspect_shares_the_host_namespaces_and_nothing_else() {
        let root = Path::new("/r");
        let step = Step {
            root,
            cwd: root,
            network: false,
            write: false,
            writable: &[],
            profile: SandboxProfile::Inspect,
        };
        let args = arguments(&step, &[]);
        for absent in ["--unshare-pid", "--unshare-net", "--new-session", "--proc"] {
            assert!(!args.iter().any(|a| a == absent), "{absent}: {args:?}");
        }
        assert!(
            args.windows(3)
                .any(|w| w[0] == "--ro-bind" && w[1] == "/proc" && w[2] == "/proc")
        );
        for kept in ["--unshare-user", "--unshare-ipc", "--die-with-parent"] {
            assert!(args.iter().any(|a| a == kept), "{kept}");
        }
        assert!(
            args.windows(2)
                .any(|w| w[0] == "--cap-drop" && w[1] == "ALL")
        );
        let rules = seccomp_rules(true, SandboxProfile::Inspect, false);
        assert!(!rules.network && rules.deny_signals && rules.deny_connect);
        let rules = seccomp_rules(false, SandboxProfile::Default, false);
        assert!(!rules.deny_signals && !rules.deny_connect);
    }

    #[test]
    fn the_host_profile_is_refused_unless_enabled_or_the_sandbox_is_off() {
        let why = refusal(
            SandboxMode::Auto,
            false,
            SandboxProfile::Host,
            "kill_process",
        )
        .expect("refused");
        assert!(why.contains("host_profile = true"), "{why}");
        assert!(why.contains("SKYNET_SANDBOX_HOST_PROFILE"), "{why}");
        assert!(refusal(SandboxMode::Require, true, SandboxProfile::Host, "k").is_none());
        assert!(refusal(SandboxMode::Off, false, SandboxProfile::Host, "k").is_none());
        for profile in [SandboxProfile::Default, SandboxProfile::Inspect] {
            assert!(refusal(SandboxMode::Require, false, profile, "k").is_none());
        }
    }
}
