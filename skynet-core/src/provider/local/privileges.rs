//! Dropping every capability of the calling thread before it starts a
//! step (the Landlock fallback; bubblewrap does this with `--cap-drop ALL`).
//! Capabilities are per thread, so the rest of the process keeps its own.
//!
//! A root step without capabilities still owns root's files, but cannot
//! mount, trace, load modules, bypass permissions on others' files or get
//! them back by exec: the bounding set is empty and `no_new_privs` is set
//! by the Landlock and seccomp restrictions that follow.

use caps::CapSet;

/// Empty the bounding, ambient, inheritable, effective and permitted sets
/// of the calling thread. The bounding set goes first: emptying it needs
/// CAP_SETPCAP, which clearing the others removes.
pub(crate) fn drop_all() -> Result<(), String> {
    let bounding = caps::clear(None, CapSet::Bounding);
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| format!("cannot drop capabilities: {e}"))?;
    }
    if let Err(e) = bounding {
        // Without CAP_SETPCAP (not root) the bounding set stays; with
        // nothing permitted and no_new_privs, exec cannot raise anything.
        let permitted = caps::read(None, CapSet::Permitted).map_err(|e| e.to_string())?;
        if !permitted.is_empty() {
            return Err(format!("cannot empty the bounding set: {e}"));
        }
    }
    Ok(())
}
