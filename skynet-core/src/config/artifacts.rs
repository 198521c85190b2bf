//! `[artifacts]`: where collected artifacts are kept and how large they
//! may be ([`crate::artifact`]).

use super::layers::Layers;
use crate::artifact::{ArtifactLimits, ArtifactSettings};
use crate::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[artifacts]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ArtifactsSection {
    dir: Option<PathBuf>,
    max_bytes: Option<String>,
    max_job_bytes: Option<String>,
}

impl ArtifactsSection {
    /// The settings: `SKYNET_ARTIFACT_DIR` (default `HOME/artifacts`),
    /// `SKYNET_ARTIFACT_MAX_BYTES`, `SKYNET_ARTIFACT_MAX_JOB_BYTES`.
    pub(super) fn resolve(self, layers: &Layers<'_>, home: &Path) -> Result<ArtifactSettings> {
        let dir = layers
            .pick(
                "SKYNET_ARTIFACT_DIR",
                self.dir.map(|d| d.display().to_string()),
            )
            .map_or_else(|| home.join("artifacts"), PathBuf::from);
        let mut limits = ArtifactLimits::default();
        if let Some(v) = layers.pick("SKYNET_ARTIFACT_MAX_BYTES", self.max_bytes) {
            limits.max_file_bytes = parse_size("SKYNET_ARTIFACT_MAX_BYTES", &v)?;
        }
        if let Some(v) = layers.pick("SKYNET_ARTIFACT_MAX_JOB_BYTES", self.max_job_bytes) {
            limits.max_job_bytes = parse_size("SKYNET_ARTIFACT_MAX_JOB_BYTES", &v)?;
        }
        Ok(ArtifactSettings { dir, limits })
    }
}

/// A size in bytes: a number with an optional binary unit (`512k`, `1g`,
/// `4GiB`).
pub(crate) fn parse_size(what: &str, text: &str) -> Result<u64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (digits, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        Some('t') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| {
            Error::Config(format!(
                "{what}: {text:?} is not a size (bytes, or a number with k, m, g or t)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("x", "1024").ok(), Some(1024));
        assert_eq!(parse_size("x", "4k").ok(), Some(4096));
        assert_eq!(parse_size("x", "1GiB").ok(), Some(1 << 30));
        assert_eq!(parse_size("x", "2m").ok(), Some(2 << 20));
        assert!(parse_size("x", "lots").is_err());
        assert!(parse_size("x", "99999999999t").is_err());
    }
}
