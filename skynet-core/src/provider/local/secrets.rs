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

/// What to hide from a step whose root is `root` (canonical): every
/// secret, except that a secret directory holding the root (an agent's
/// root under `SKYNET_HOME`, say) is not hidden whole but entry by entry,
/// down to the root, which stays visible.
pub(crate) fn to_hide(root: &Path) -> Vec<Secret> {
    let mut hidden = Vec::new();
    for secret in present() {
        if root.starts_with(&secret.path) {
            hide_around(&secret.path, root, &mut hidden);
        } else {
            hidden.push(secret.clone());
        }
    }
    hidden
}

/// Hide the entries of `dir` except the way down to `root`.
fn hide_around(dir: &Path, root: &Path, hidden: &mut Vec<Secret>) {
    if dir == root {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if root.starts_with(&path) && kind.is_dir() {
            hide_around(&path, root, hidden);
        } else {
            hidden.push(Secret {
                dir: kind.is_dir(),
                path,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_holding_the_root_is_hidden_around_it() {
        // Nothing contains "/", so everything present is hidden from it.
        assert_eq!(to_hide(Path::new("/")).len(), present().len());
        let dir = tempfile::tempdir().expect("tempdir");
        let base = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(base.join("work/job")).expect("mkdir");
        std::fs::write(base.join("token"), "secret").expect("token");
        std::fs::write(base.join("work/ledger.db"), "").expect("ledger");
        let mut hidden = Vec::new();
        hide_around(&base, &base.join("work/job"), &mut hidden);
        let mut paths: Vec<_> = hidden.iter().map(|s| s.path.clone()).collect();
        paths.sort();
        assert_eq!(paths, [base.join("token"), base.join("work/ledger.db")]);
    }
}
