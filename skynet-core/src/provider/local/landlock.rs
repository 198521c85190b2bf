//! The Landlock fallback, for machines where bubblewrap cannot create
//! namespaces: the kernel itself limits what the step may touch. The
//! system stays readable and executable, the sandbox root (and configured
//! extra directories) writable, `/dev/null` and friends usable; for steps
//! without the network, TCP connect and bind are denied. There is no
//! private `/tmp` here: `/tmp` is read-only.
//!
//! Landlock restricts the calling thread and what it starts, so a step is
//! spawned from a short-lived thread that restricts itself first (no
//! `pre_exec`, no unsafe code); the rest of the process stays unrestricted.

use landlock::{
    ABI, Access, AccessFs, AccessNet, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
    path_beneath_rules,
};
use std::path::{Path, PathBuf};

/// The newest ABI these rules use; older kernels get what they support.
const TARGET: ABI = ABI::V6;
/// Device files any step may write.
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];

/// Restrict the calling thread (and everything it starts from now on).
/// Fails unless the kernel enforced at least the filesystem rules.
pub(crate) fn restrict_current_thread(
    root: &Path,
    writable: &[PathBuf],
    network: bool,
) -> Result<(), String> {
    let mut ruleset = landlock::Ruleset::default()
        .handle_access(AccessFs::from_all(TARGET))
        .map_err(|e| e.to_string())?
        .scope(Scope::from_all(TARGET))
        .map_err(|e| e.to_string())?;
    if !network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(TARGET))
            .map_err(|e| e.to_string())?;
    }
    let writable_dirs = writable.iter().map(PathBuf::as_path).chain([root]);
    let status = ruleset
        .create()
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], AccessFs::from_read(TARGET))))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                writable_dirs,
                AccessFs::from_all(TARGET),
            ))
        })
        .and_then(|r| r.add_rules(path_beneath_rules(DEVICES, AccessFs::from_all(TARGET))))
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    match status.ruleset {
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
        RulesetStatus::NotEnforced => {
            Err("the kernel does not enforce Landlock (not built in or not enabled at boot)".into())
        }
    }
}

/// Does Landlock work here? Restricts a throwaway thread to find out.
pub(crate) fn probe() -> Result<(), String> {
    let root = std::env::temp_dir();
    std::thread::spawn(move || restrict_current_thread(&root, &[], false))
        .join()
        .map_err(|_| "the Landlock probe thread panicked".to_string())?
}

/// Spawn `cmd` from a fresh thread restricted by Landlock.
pub(crate) async fn spawn(
    mut cmd: tokio::process::Command,
    root: PathBuf,
    writable: Vec<PathBuf>,
    network: bool,
) -> Result<std::io::Result<tokio::process::Child>, String> {
    let runtime = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        // The child is registered with this runtime's process driver.
        let _entered = runtime.enter();
        let result = restrict_current_thread(&root, &writable, network).map(|()| cmd.spawn());
        let _ = tx.send(result);
    });
    rx.await
        .map_err(|_| "the Landlock spawn thread ended without an answer".to_string())?
}
