//! The checks every backend makes before serving an object: the bytes
//! read are the bytes stored (their count and their hash, which is the
//! address), and a requested range lies within them.

use crate::artifact::ByteRange;
use crate::{Error, Result};

/// [`Error::ArtifactCorrupt`] for object `sha256`.
pub(crate) fn corrupt(sha256: &str, problem: String) -> Error {
    Error::ArtifactCorrupt {
        sha256: sha256.to_string(),
        problem,
    }
}

/// Object `sha256`, stored with `size` bytes, read back as `found` bytes
/// hashing to `digest`: corrupt unless both match.
pub(crate) fn check_content(sha256: &str, size: u64, found: u64, digest: &str) -> Result<()> {
    if found != size {
        return Err(corrupt(
            sha256,
            format!("{found} bytes where {size} were stored"),
        ));
    }
    if digest != sha256 {
        return Err(corrupt(sha256, format!("its content hashes to {digest}")));
    }
    Ok(())
}

/// `range` (the whole object when `None`), refused unless it lies within
/// the object's `size` bytes.
pub(crate) fn range_within(range: Option<ByteRange>, size: u64) -> Result<ByteRange> {
    let range = range.unwrap_or(ByteRange {
        start: 0,
        end: size,
    });
    if range.start > range.end || range.end > size {
        return Err(Error::InvalidInput(format!(
            "byte range {}..{} is outside the artifact's {size} bytes",
            range.start, range.end
        )));
    }
    Ok(range)
}
