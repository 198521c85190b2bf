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
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
pub(super) struct ArtifactsSection {
    dir: Option<PathBuf>,
    max_bytes: Option<String>,
    max_job_bytes: Option<String>,
    s3_bucket: Option<String>,
    s3_prefix: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_allow_http: Option<bool>,
    s3_part_size: Option<String>,
}

impl ArtifactsSection {
    /// The settings: `SKYNET_ARTIFACT_DIR` (default `HOME/artifacts`),
    /// `SKYNET_ARTIFACT_MAX_BYTES`, `SKYNET_ARTIFACT_MAX_JOB_BYTES`, and the
    /// S3 store's (see [`s3_settings`]).
    pub(super) fn resolve(mut self, layers: &Layers<'_>, home: &Path) -> Result<ArtifactSettings> {
        #[cfg_attr(not(feature = "s3"), allow(unused_variables))]
        let s3 = s3_settings(&mut self, layers)?;
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
        Ok(ArtifactSettings {
            dir,
            limits,
            #[cfg(feature = "s3")]
            s3,
        })
    }
}

/// The S3 store's settings when a bucket is set (`SKYNET_ARTIFACT_S3_BUCKET`
/// or the original `S3_BUCKET`): prefix, endpoint (else `AWS_ENDPOINT_URL`),
/// region (else `AWS_REGION`, `AWS_DEFAULT_REGION`, `us-east-1`), plain
/// http off loopback, part size; credentials from `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (environment only).
#[cfg(feature = "s3")]
fn s3_settings(
    section: &mut ArtifactsSection,
    layers: &Layers<'_>,
) -> Result<Option<crate::artifact::S3Settings>> {
    use crate::artifact::s3::{S3Secret, S3Settings};
    let Some(bucket) = layers.pick("SKYNET_ARTIFACT_S3_BUCKET", section.s3_bucket.take()) else {
        return Ok(None);
    };
    let mut s = S3Settings::new(bucket.trim());
    if let Some(v) = layers.pick("SKYNET_ARTIFACT_S3_PREFIX", section.s3_prefix.take()) {
        s.prefix = v;
    }
    s.endpoint = layers
        .pick("SKYNET_ARTIFACT_S3_ENDPOINT", section.s3_endpoint.take())
        .or_else(|| layers.var("AWS_ENDPOINT_URL"))
        .filter(|v| !v.trim().is_empty());
    if let Some(v) = layers
        .pick("SKYNET_ARTIFACT_S3_REGION", section.s3_region.take())
        .or_else(|| layers.var("AWS_REGION"))
        .or_else(|| layers.var("AWS_DEFAULT_REGION"))
    {
        s.region = v;
    }
    if let Some(v) = layers.pick("SKYNET_ARTIFACT_S3_ALLOW_HTTP", section.s3_allow_http) {
        s.allow_http = super::worker::parse_bool("SKYNET_ARTIFACT_S3_ALLOW_HTTP", &v)?;
    }
    if let Some(v) = layers.pick("SKYNET_ARTIFACT_S3_PART_SIZE", section.s3_part_size.take()) {
        s.part_size = usize::try_from(parse_size("SKYNET_ARTIFACT_S3_PART_SIZE", &v)?)
            .map_err(|_| Error::Config("SKYNET_ARTIFACT_S3_PART_SIZE is too large".into()))?;
    }
    s.access_key_id = layers.var("AWS_ACCESS_KEY_ID");
    s.secret_access_key = layers.var("AWS_SECRET_ACCESS_KEY").map(S3Secret::new);
    s.session_token = layers.var("AWS_SESSION_TOKEN").map(S3Secret::new);
    // Checked now (endpoint, prefix, part size, key pair), so a bad
    // setting stops the start, not the first upload.
    crate::artifact::S3ArtifactStore::new(s.clone())?;
    Ok(Some(s))
}

/// No S3 store in this build: a bucket setting is refused by name.
#[cfg(not(feature = "s3"))]
fn s3_settings(
    section: &mut ArtifactsSection,
    layers: &Layers<'_>,
) -> Result<Option<std::convert::Infallible>> {
    match layers.pick("SKYNET_ARTIFACT_S3_BUCKET", section.s3_bucket.take()) {
        Some(_) => Err(crate::provider::feature_missing(
            "SKYNET_ARTIFACT_S3_BUCKET ([artifacts] s3_bucket, or S3_BUCKET) is set",
            "s3",
        )),
        None => Ok(None),
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
