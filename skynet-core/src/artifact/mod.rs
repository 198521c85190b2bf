//! Artifacts: files a job's steps produce, kept after the sandbox is
//! cleaned. The bytes live in an [`ArtifactStore`] (content-addressed by
//! SHA-256, streamed both ways, verified on every read); what a job
//! produced is recorded in the ledger
//! ([`crate::store::artifacts::ArtifactLedger`]) and in the job's chain.
//!
//! - [`local`]: the local filesystem backend (`SKYNET_ARTIFACT_DIR`).
//! - [`s3`]: the S3-compatible backend (`SKYNET_ARTIFACT_S3_BUCKET`; the
//!   `s3` Cargo feature).
//! - [`collect`]: finding a step's declared outputs inside its root,
//!   confined to it, capped in size.
//! - [`fetch`]: how a provider hands them over ([`fetch::OutputFetcher`]),
//!   and the checks every remote fetcher shares.

pub mod collect;
pub mod fetch;
pub mod local;
#[cfg(feature = "s3")]
pub mod s3;
mod verify;

use crate::{Error, Result};
use async_trait::async_trait;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::AsyncRead;

pub use local::LocalArtifactStore;
#[cfg(feature = "s3")]
pub use s3::{S3ArtifactStore, S3Settings};

/// Bytes read from an artifact store.
pub type ObjectReader = Pin<Box<dyn AsyncRead + Send>>;

/// A shared artifact store handle.
pub type SharedArtifactStore = Arc<dyn ArtifactStore>;

/// What storing an object produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Hex SHA-256 of the bytes: the object's address.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// An object as the store lists it (for retention and usage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its address.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was stored.
    pub stored_at: chrono::DateTime<chrono::Utc>,
}

/// A byte range of an object: `start..end`, end exclusive, within its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// Where artifact bytes are kept. Objects are addressed by the hex SHA-256
/// of their content, so storing the same bytes twice keeps one copy; an
/// object becomes visible only whole (a writer that dies mid-upload leaves
/// nothing under the address), and every read is checked against the
/// address: a corrupted object fails with [`Error::ArtifactCorrupt`]
/// instead of being served.
#[async_trait]
pub trait ArtifactStore: Send + Sync + std::fmt::Debug {
    /// The backend's name (`local`, `s3`).
    fn backend(&self) -> &'static str;
    /// Store everything `source` yields, streaming (never the whole object
    /// in memory). More than `max_bytes` is refused
    /// ([`Error::InvalidInput`]) and nothing is kept.
    async fn put(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        max_bytes: u64,
    ) -> Result<StoredObject>;
    /// Read the object `sha256` (of `size` bytes, as recorded), or `range`
    /// of it, after checking that its content still hashes to its address.
    async fn get(&self, sha256: &str, size: u64, range: Option<ByteRange>) -> Result<ObjectReader>;
    /// Remove the object; `false` if there was none.
    async fn delete(&self, sha256: &str) -> Result<bool>;
    /// Every stored object.
    async fn objects(&self) -> Result<Vec<ObjectInfo>>;
    /// Remove the object unless it was stored after `not_after` (a writer
    /// may have stored the same bytes again just now, for a record about
    /// to be written); `false` if it was kept or there was none. Retention
    /// deletes through this, never through [`ArtifactStore::delete`].
    async fn delete_if_stored_before(
        &self,
        sha256: &str,
        not_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        let _ = not_after;
        self.delete(sha256).await
    }
    /// Uploads a writer began and never finished (a killed worker's
    /// temporary file, an abandoned multipart upload).
    async fn unfinished_uploads(&self) -> Result<Vec<UnfinishedUpload>> {
        Ok(Vec::new())
    }
    /// Remove (abort) one unfinished upload; `false` if it was gone.
    async fn remove_unfinished_upload(&self, name: &str) -> Result<bool> {
        let _ = name;
        Ok(false)
    }
    /// A URL that reads the object `sha256` straight from the backend for
    /// `expires_in`, or `None` when the backend has no such URLs (local).
    /// The URL is a bearer credential, and bytes read through it bypass
    /// the verification [`ArtifactStore::get`] does.
    async fn presign(
        &self,
        sha256: &str,
        expires_in: std::time::Duration,
    ) -> Result<Option<String>> {
        let _ = expires_in;
        check_address(sha256)?;
        Ok(None)
    }
}

/// An upload that never became an object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnfinishedUpload {
    /// The backend's name for it (a temporary file's name).
    pub name: String,
    /// Bytes written so far.
    pub size: u64,
    /// When it was last written to.
    pub written_at: chrono::DateTime<chrono::Utc>,
}

/// Where artifacts go and how large they may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactSettings {
    /// The local store's directory (`SKYNET_ARTIFACT_DIR`, default
    /// `$SKYNET_HOME/artifacts`).
    pub dir: PathBuf,
    /// The size caps.
    pub limits: ArtifactLimits,
    /// The S3-compatible store, when a bucket is configured (it then
    /// holds every artifact; `dir` is unused).
    #[cfg(feature = "s3")]
    pub s3: Option<S3Settings>,
}

/// Size caps of collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactLimits {
    /// One file at most this many bytes (`SKYNET_ARTIFACT_MAX_BYTES`,
    /// default 1 GiB); a larger one is skipped.
    pub max_file_bytes: u64,
    /// A job's artifacts at most this many bytes in all
    /// (`SKYNET_ARTIFACT_MAX_JOB_BYTES`, default 4 GiB); files past it are
    /// skipped.
    pub max_job_bytes: u64,
    /// At most this many artifacts per step (default 1000).
    pub max_files_per_step: usize,
}

impl Default for ArtifactLimits {
    fn default() -> Self {
        ArtifactLimits {
            max_file_bytes: 1 << 30,
            max_job_bytes: 4 << 30,
            max_files_per_step: 1000,
        }
    }
}

/// Whether `text` can be an object address: 64 lower-case hex digits
/// (never a path, whatever a ledger row says).
pub fn check_address(text: &str) -> Result<()> {
    if text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{:?} is not an artifact address (64 lower-case hex digits of a SHA-256)",
            text.chars().take(80).collect::<String>()
        )))
    }
}

/// The MIME type an artifact is served with, from its name's extension.
pub fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit('/').next().unwrap_or("");
    let table: &[(&str, &str)] = &[
        (".tar.gz", "application/gzip"),
        (".tgz", "application/gzip"),
        (".gz", "application/gzip"),
        (".zip", "application/zip"),
        (".tar", "application/x-tar"),
        (".xml", "application/xml"),
        (".json", "application/json"),
        (".html", "text/html"),
        (".htm", "text/html"),
        (".txt", "text/plain"),
        (".log", "text/plain"),
        (".md", "text/markdown"),
        (".csv", "text/csv"),
        (".svg", "image/svg+xml"),
        (".png", "image/png"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".pdf", "application/pdf"),
        (".wasm", "application/wasm"),
    ];
    table
        .iter()
        .find(|(suffix, _)| ext.ends_with(suffix))
        .map_or("application/octet-stream", |(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_hex_digests_only() {
        assert!(check_address(&"a".repeat(64)).is_ok());
        assert!(check_address("../../etc/passwd").is_err());
        assert!(check_address(&"A".repeat(64)).is_err());
        assert!(check_address(&"a".repeat(63)).is_err());
    }

    #[test]
    fn content_types_come_from_the_extension() {
        assert_eq!(content_type("reports/junit.XML"), "application/xml");
        assert_eq!(content_type("dist/app.tar.gz"), "application/gzip");
        assert_eq!(
            content_type("target/release/app"),
            "application/octet-stream"
        );
    }
}
