//! The working directory a remote provider (SSH, gateway) sends: the
//! step's cwd relative to the local sandbox root, computed lexically (the
//! root need not exist on this machine) with `..` refused, not resolved.

use crate::{Error, Result};
use std::path::{Component, Path};

/// `cwd` relative to `root` as `/`-joined parts (`""` for the root
/// itself). `over` names the transport in the error (`"over SSH"`).
pub(crate) fn relative_cwd(cwd: &Path, root: &Path, over: &str) -> Result<String> {
    let rel = if cwd.is_absolute() {
        cwd.strip_prefix(root).map_err(|_| {
            Error::InvalidInput(format!(
                "working directory {} escapes the sandbox root {}",
                cwd.display(),
                root.display()
            ))
        })?
    } else {
        cwd
    };
    let mut parts = Vec::new();
    for part in rel.components() {
        match part {
            Component::Normal(p) => parts.push(p.to_str().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "working directory {} is not valid UTF-8",
                    cwd.display()
                ))
            })?),
            Component::CurDir => {}
            _ => {
                return Err(Error::InvalidInput(format!(
                    "working directory {} leaves the sandbox root: `..` is not allowed {over}",
                    cwd.display()
                )));
            }
        }
    }
    Ok(parts.join("/"))
}
