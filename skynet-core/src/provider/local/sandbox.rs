//! The local sandbox: each step under bubblewrap with a read-only view of
//! the system, its sandbox root writable, a private `/tmp`, its own PID
//! namespace (so nothing it starts outlives it) and, unless the policy
//! judged it at least WRITE, no network.
//!
//! Whether bubblewrap works is probed once per process (it needs
//! namespaces, which some containers forbid). When it does not, Landlock
//! is the fallback (see the `landlock` module); when neither works, `Auto`
//! says so once and runs with path confinement only; `Require` refuses.

use std::ffi::OsString;
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
    let mut args = arguments(&root, &root, false, &[]);
    args.push("--".into());
    args.push("true".into());
    match tokio::process::Command::new(&path)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
    {
        Ok(out) if out.status.success() => Ok(path),
        Ok(out) => Err(format!(
            "bubblewrap cannot create its sandbox here ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("bubblewrap cannot start: {e}")),
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
                    "local steps are confined by Landlock, not bubblewrap ({no_bwrap}): /tmp is read-only and only TCP is cut off"
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
                "local steps run WITHOUT a sandbox (path confinement only): {no_bwrap}; Landlock: {no_landlock}; set SKYNET_SANDBOX=require to refuse instead"
            );
        }
        return Ok(Confinement::PathsOnly);
    }
    Err(format!(
        "the sandbox is required but unavailable: {no_bwrap}; Landlock: {no_landlock}; install bubblewrap, or set the sandbox to auto or off"
    ))
}

fn warn_once(message: &str) {
    if !WARNED.swap(true, Ordering::SeqCst) {
        tracing::warn!("{message}");
    }
}

/// bubblewrap's options for a step in `cwd` under the canonical `root`;
/// `network` keeps the host's network, `writable` are extra directories
/// bound read-write (e.g. a shared build cache).
pub(crate) fn arguments(
    root: &Path,
    cwd: &Path,
    network: bool,
    writable: &[PathBuf],
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&std::ffi::OsStr]| a.extend(items.iter().map(|s| s.to_os_string()));
    push(&["--ro-bind".as_ref(), "/".as_ref(), "/".as_ref()]);
    push(&["--dev".as_ref(), "/dev".as_ref()]);
    push(&["--proc".as_ref(), "/proc".as_ref()]);
    push(&["--tmpfs".as_ref(), "/tmp".as_ref()]);
    for dir in writable.iter().map(PathBuf::as_path).chain([root]) {
        push(&["--bind".as_ref(), dir.as_os_str(), dir.as_os_str()]);
    }
    push(&["--chdir".as_ref(), cwd.as_os_str()]);
    push(&[
        "--unshare-pid".as_ref(),
        "--unshare-ipc".as_ref(),
        "--unshare-uts".as_ref(),
        "--die-with-parent".as_ref(),
        // A new session: the step cannot push input into our terminal.
        "--new-session".as_ref(),
    ]);
    if !network {
        push(&["--unshare-net".as_ref()]);
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
        let offline = arguments(root, root, false, &[]);
        let online = arguments(root, root, true, &[]);
        assert!(offline.iter().any(|a| a == "--unshare-net"));
        assert!(!online.iter().any(|a| a == "--unshare-net"));
        // The root is bound after /tmp is replaced, so a root under /tmp stays visible.
        let tmp = offline.iter().position(|a| a == "/tmp").expect("tmpfs");
        let bind = offline.iter().position(|a| a == "--bind").expect("bind");
        assert!(tmp < bind);
    }
}
