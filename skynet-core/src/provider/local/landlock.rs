//! The Landlock fallback, for machines where bubblewrap cannot create
//! namespaces: the kernel itself limits what the step may touch. The
//! system stays readable and executable except the secrets (see the
//! `secrets` module), the sandbox root (and configured extra directories)
//! writable only for WRITE/ADMIN steps, `/dev/null` and friends usable.
//! There is no private `/tmp` here: `/tmp` is read-only.
//!
//! Landlock alone does not hold against root, so the spawning thread also
//! drops every capability and installs the seccomp filter (no sockets for
//! steps without the network, no tracing or re-prioritising of other
//! processes, no signals outside the step where Landlock cannot scope them).
//!
//! Landlock restricts the calling thread and what it starts, so a step is
//! spawned from a short-lived thread that restricts itself first (no
//! `pre_exec`, no unsafe code); the rest of the process stays unrestricted.

use super::{privileges, sandbox, seccomp, secrets};
use crate::action::SandboxProfile;
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The newest ABI these rules use; older kernels get what they support.
const TARGET: ABI = ABI::V6;
/// Device files any step may write.
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];

/// How a step is restricted.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// The canonical sandbox root.
    pub(crate) root: PathBuf,
    /// Extra directories WRITE/ADMIN steps may write.
    pub(crate) writable: Vec<PathBuf>,
    /// The step may use the network.
    pub(crate) network: bool,
    /// The step may write its root (WRITE/ADMIN).
    pub(crate) write: bool,
    /// Default or Inspect: the same read scope and namespaces (the host's)
    /// either way; Inspect adds `connect` to what seccomp refuses.
    pub(crate) profile: SandboxProfile,
}

/// Restrict the calling thread (and everything it starts from now on):
/// capabilities, Landlock, seccomp. Fails unless the kernel enforced at
/// least the filesystem rules.
pub(crate) fn restrict_current_thread(limits: &Limits) -> Result<(), String> {
    // Built before anything is restricted: reading the tree needs no rights
    // then, and a failure leaves the thread as it was.
    let programs = seccomp::programs(sandbox::seccomp_rules(
        limits.network,
        limits.profile,
        !scopes_signals(),
    ))?;
    privileges::drop_all()?;
    landlock_self(limits)?;
    seccomp::apply_to_this_thread(programs)
}

fn landlock_self(limits: &Limits) -> Result<(), String> {
    let mut ruleset = landlock::Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET))
        .map_err(|e| e.to_string())?
        .scope(Scope::from_all(TARGET))
        .map_err(|e| e.to_string())?;
    if !limits.network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(TARGET))
            .map_err(|e| e.to_string())?;
    }
    let mut created = ruleset.create().map_err(|e| e.to_string())?;
    for (path, access) in readable(&limits.root).iter() {
        created = add(created, path, *access)?;
    }
    if limits.write {
        for dir in limits.writable.iter().chain([&limits.root]) {
            created = add(created, dir, AccessFs::from_all(TARGET))?;
        }
    }
    for device in DEVICES {
        created = add(created, Path::new(device), AccessFs::from_all(TARGET))?;
    }
    let status = created.restrict_self().map_err(|e| e.to_string())?;
    match status.ruleset {
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
        RulesetStatus::NotEnforced => {
            Err("the kernel does not enforce Landlock (not built in or not enabled at boot)".into())
        }
    }
}

/// One rule; a path that cannot be opened (gone since it was listed) is
/// left out, which only ever takes rights away.
fn add(
    created: landlock::RulesetCreated,
    path: &Path,
    access: BitFlags<AccessFs>,
) -> Result<landlock::RulesetCreated, String> {
    let Ok(fd) = PathFd::new(path) else {
        return Ok(created);
    };
    let access = if path.is_dir() {
        access
    } else {
        access & AccessFs::from_file(TARGET)
    };
    created
        .add_rule(PathBeneath::new(fd, access))
        .map_err(|e| e.to_string())
}

/// The readable tree as Landlock rules: `/` minus the secrets. Landlock
/// only grants, so each directory above a secret is granted listing only,
/// and its other entries are granted one by one. Kept for the last few sets
/// of hidden secrets (the same set for nearly every root).
fn readable(root: &Path) -> Arc<[Rule]> {
    static TREES: OnceLock<Trees> = OnceLock::new();
    let hidden: Vec<PathBuf> = secrets::to_hide(root).into_iter().map(|s| s.path).collect();
    let cache = TREES.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, rules)) = cache.iter().find(|(h, _)| *h == hidden) {
        return rules.clone();
    }
    let paths: Vec<&Path> = hidden.iter().map(PathBuf::as_path).collect();
    let mut rules = Vec::new();
    cover(Path::new("/"), &paths, &mut rules);
    let rules: Arc<[Rule]> = rules.into();
    if cache.len() >= 8 {
        cache.remove(0);
    }
    cache.push((hidden, rules.clone()));
    rules
}

type Rule = (PathBuf, BitFlags<AccessFs>);
/// The readable trees computed lately, by the secrets they hide.
type Trees = std::sync::Mutex<Vec<(Vec<PathBuf>, Arc<[Rule]>)>>;

fn cover(path: &Path, hidden: &[&Path], rules: &mut Vec<Rule>) {
    if hidden.iter().any(|h| path.starts_with(h)) {
        return;
    }
    if !hidden.iter().any(|h| h.starts_with(path)) {
        // A link into a secret would grant the secret itself.
        if let Ok(real) = path.canonicalize()
            && real != path
            && hidden
                .iter()
                .any(|h| real.starts_with(h) || h.starts_with(&real))
        {
            return;
        }
        rules.push((path.to_path_buf(), AccessFs::from_read(TARGET)));
        return;
    }
    rules.push((path.to_path_buf(), AccessFs::ReadDir.into()));
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            cover(&entry.path(), hidden, rules);
        }
    }
}

/// Can this kernel keep a Landlock domain's signals inside it (ABI 6)?
fn scopes_signals() -> bool {
    static SCOPES: OnceLock<bool> = OnceLock::new();
    *SCOPES.get_or_init(|| {
        landlock::Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .scope(Scope::Signal)
            .and_then(|r| r.create())
            .is_ok()
    })
}

/// Does Landlock work here? Restricts a throwaway thread to find out.
pub(crate) fn probe() -> Result<(), String> {
    let limits = Limits {
        root: std::env::temp_dir(),
        writable: Vec::new(),
        network: false,
        write: true,
        profile: SandboxProfile::Default,
    };
    std::thread::spawn(move || restrict_current_thread(&limits))
        .join()
        .map_err(|_| "the Landlock probe thread panicked".to_string())?
}

/// Spawn `cmd` from a fresh thread restricted by Landlock, seccomp and
/// without capabilities.
pub(crate) async fn spawn(
    mut cmd: tokio::process::Command,
    limits: Limits,
) -> Result<std::io::Result<tokio::process::Child>, String> {
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        // The child is registered with this runtime's process driver.
        let _entered = runtime.enter();
        let result = restrict_current_thread(&limits).map(|()| cmd.spawn());
        let _ = tx.send(result);
    });
    rx.await
        .map_err(|_| "the Landlock spawn thread ended without an answer".to_string())?
}

/// Run `f` on a fresh thread restricted like a step's spawning thread
/// (Landlock, seccomp, no capabilities): everything it starts inherits
/// the restrictions. A pipeline's stages are started together this way.
pub(crate) async fn run_restricted<T: Send + 'static>(
    limits: Limits,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        // Children are registered with this runtime's process driver.
        let _entered = runtime.enter();
        let result = restrict_current_thread(&limits).map(|()| f());
        let _ = tx.send(result);
    });
    rx.await
        .map_err(|_| "the Landlock spawn thread ended without an answer".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_left_out_of_the_readable_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir(base.join("etc")).expect("etc");
        std::fs::write(base.join("etc/passwd"), "").expect("passwd");
        std::fs::write(base.join("etc/shadow"), "").expect("shadow");
        std::fs::create_dir(base.join("etc/ssl")).expect("ssl");
        std::os::unix::fs::symlink(base.join("etc/shadow"), base.join("etc/link"))
            .expect("symlink");
        let shadow = base.join("etc/shadow");
        let mut rules = Vec::new();
        cover(&base, &[shadow.as_path()], &mut rules);
        let access = |p: &Path| rules.iter().find(|(r, _)| r == p).map(|(_, a)| *a);
        let listing: BitFlags<AccessFs> = AccessFs::ReadDir.into();
        assert_eq!(access(&base), Some(listing));
        assert_eq!(access(&base.join("etc")), Some(listing));
        assert_eq!(
            access(&base.join("etc/passwd")),
            Some(AccessFs::from_read(TARGET))
        );
        assert_eq!(
            access(&base.join("etc/ssl")),
            Some(AccessFs::from_read(TARGET))
        );
        assert_eq!(access(&shadow), None);
        assert_eq!(access(&base.join("etc/link")), None, "a link to the secret");
    }
}
