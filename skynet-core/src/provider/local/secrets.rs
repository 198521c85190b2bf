//! Secrets inside directories a step may read: bubblewrap hides them
//! behind an empty file or directory, Landlock leaves them out of the
//! readable tree. The list is the policy's (`policy::SYSTEM_SECRETS`,
//! `policy::HOME_SECRETS`), for every home on the machine, resolved once
//! per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::policy::{HOME_SECRETS, SYSTEM_SECRETS};

/// A secret that exists on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Secret {
    /// Canonical path.
    pub(crate) path: PathBuf,
    /// A directory (hidden behind an empty one) or anything else (behind
    /// an empty file).
    pub(crate) dir: bool,
}

/// The secrets present here (resolved once per process): the lists
/// above, in `/root`, `/home/*` and `$HOME`, and `SKYNET_HOME`.
pub(crate) fn present() -> &'static [Secret] {
    static SECRETS: OnceLock<Vec<Secret>> = OnceLock::new();
    SECRETS.get_or_init(|| {
        let mut homes: Vec<PathBuf> = vec![PathBuf::from("/root")];
        homes.extend(std::env::var_os("HOME").map(PathBuf::from));
        if let Ok(dir) = std::fs::read_dir("/home") {
            homes.extend(dir.flatten().map(|e| e.path()));
        }
        let mut candidates: Vec<PathBuf> = SYSTEM_SECRETS.iter().map(PathBuf::from).collect();
        for home in &homes {
            candidates.extend(HOME_SECRETS.iter().map(|name| home.join(name)));
            candidates.push(home.join(".skynet"));
        }
        candidates.extend(std::env::var_os("SKYNET_HOME").map(PathBuf::from));
        let mut secrets: Vec<Secret> = candidates
            .iter()
            .filter_map(|p| {
                let path = p.canonicalize().ok()?;
                let dir = path.is_dir();
                Some(Secret { path, dir })
            })
            .collect();
        secrets.sort_by(|a, b| a.path.cmp(&b.path));
        secrets.dedup();
        secrets
    })
}

/// The secrets to hide from a step whose writable root is `root`: all of
/// them except those that contain the root (hiding those would hide the
/// step's own files).
pub(crate) fn to_hide(root: &Path) -> impl Iterator<Item = &'static Secret> + '_ {
    present().iter().filter(move |s| !root.starts_with(&s.path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_holding_the_root_stays_visible() {
        let root = Path::new("/");
        // Nothing contains "/", so everything present is hidden from it.
        assert_eq!(to_hide(root).count(), present().len());
        if let Some(first) = present().first() {
            let inside = first.path.join("work");
            assert!(to_hide(&inside).all(|s| s.path != first.path));
        }
    }
}
