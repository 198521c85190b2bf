//! Root containment: a sandbox root asked for inside an allowed directory.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The sandbox root `asked` (relative to `base`, or absolute) when it is an
/// existing directory inside `base`; `base` itself when nothing (or only
/// blanks) is asked. Both are compared canonical, so `..` and symlinks
/// cannot lead out.
pub fn confined_root(base: &Path, asked: Option<&Path>) -> Result<PathBuf> {
    let base = base.canonicalize().map_err(|e| {
        Error::Config(format!(
            "the allowed root {} is not usable: {e}",
            base.display()
        ))
    })?;
    let Some(asked) = asked.filter(|a| !a.as_os_str().to_string_lossy().trim().is_empty()) else {
        return Ok(base);
    };
    let shown = asked.display().to_string();
    let root = base.join(asked).canonicalize().map_err(|_| {
        Error::InvalidInput(format!(
            "sandbox root {shown:?} does not exist; give a directory inside the allowed root"
        ))
    })?;
    if !root.starts_with(&base) || !root.is_dir() {
        return Err(Error::InvalidInput(format!(
            "sandbox root {shown:?} is not a directory inside the allowed root"
        )));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_stay_inside_the_base() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let base = dir.path().canonicalize().expect("canon");
        assert_eq!(confined_root(&base, None).expect("base"), base);
        assert_eq!(
            confined_root(&base, Some(Path::new("sub"))).expect("sub"),
            base.join("sub")
        );
        for bad in ["..", "/", "missing", "sub/../.."] {
            let e = confined_root(&base, Some(Path::new(bad))).expect_err(bad);
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{bad}");
        }
    }
}
