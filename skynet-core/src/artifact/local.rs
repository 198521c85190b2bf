//! The local filesystem artifact store: `DIR/objects/ab/<sha256>`, written
//! to `DIR/tmp/` while the bytes stream in and are hashed, flushed, then
//! renamed into place (atomic on one filesystem), so an object exists whole
//! or not at all. A temporary file left by a killed writer is never an
//! object; retention removes old ones.

use super::{
    ArtifactStore, ByteRange, ObjectInfo, ObjectReader, StoredObject, check_address, verify,
};
use crate::{Error, Result};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Bytes moved per read.
const CHUNK: usize = 256 * 1024;

/// Artifacts in a local directory.
#[derive(Debug, Clone)]
pub struct LocalArtifactStore {
    dir: PathBuf,
}

impl LocalArtifactStore {
    /// A store in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalArtifactStore { dir: dir.into() }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn object_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("objects").join(&sha256[..2]).join(sha256)
    }

    /// The directory of unfinished writes.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    async fn write_temp(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        max_bytes: u64,
        tmp: &Path,
    ) -> Result<StoredObject> {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp)
            .await
            .map_err(|e| Error::artifact_storage(format!("creating {}", tmp.display()), e))?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = source
                .read(&mut buf)
                .await
                .map_err(|e| Error::artifact_storage("reading the artifact's bytes", e))?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if size > max_bytes {
                return Err(Error::InvalidInput(format!(
                    "the artifact is larger than the cap of {max_bytes} bytes"
                )));
            }
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])
                .await
                .map_err(|e| Error::artifact_storage(format!("writing {}", tmp.display()), e))?;
        }
        file.sync_all()
            .await
            .map_err(|e| Error::artifact_storage(format!("flushing {}", tmp.display()), e))?;
        Ok(StoredObject {
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    }
}

/// Flush a directory's entries (a rename into it survives a crash).
async fn sync_dir(dir: &Path) -> Result<()> {
    let d = tokio::fs::File::open(dir)
        .await
        .map_err(|e| Error::artifact_storage(format!("opening {}", dir.display()), e))?;
    d.sync_all()
        .await
        .map_err(|e| Error::artifact_storage(format!("flushing {}", dir.display()), e))
}

/// Hash `file` from its start; returns the hex digest and the byte count.
async fn hash_file(file: &mut tokio::fs::File) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

#[async_trait]
impl ArtifactStore for LocalArtifactStore {
    fn backend(&self) -> &'static str {
        "local"
    }

    async fn put(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        max_bytes: u64,
    ) -> Result<StoredObject> {
        let tmp_dir = self.tmp_dir();
        tokio::fs::create_dir_all(&tmp_dir)
            .await
            .map_err(|e| Error::artifact_storage(format!("creating {}", tmp_dir.display()), e))?;
        let tmp = tmp_dir.join(format!("{}.part", uuid::Uuid::now_v7().simple()));
        let stored = match self.write_temp(source, max_bytes, &tmp).await {
            Ok(stored) => stored,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
        };
        let dest = self.object_path(&stored.sha256);
        let parent = dest.parent().unwrap_or(&self.dir).to_path_buf();
        let placed = async {
            tokio::fs::create_dir_all(&parent).await.map_err(|e| {
                Error::artifact_storage(format!("creating {}", parent.display()), e)
            })?;
            // Same bytes under the same name: replacing is harmless, and a
            // rename never shows a half-written object.
            tokio::fs::rename(&tmp, &dest)
                .await
                .map_err(|e| Error::artifact_storage(format!("placing {}", dest.display()), e))?;
            sync_dir(&parent).await
        }
        .await;
        if let Err(e) = placed {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        Ok(stored)
    }

    async fn get(&self, sha256: &str, size: u64, range: Option<ByteRange>) -> Result<ObjectReader> {
        check_address(sha256)?;
        let path = self.object_path(sha256);
        let corrupt = |problem: String| verify::corrupt(sha256, problem);
        let mut file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(corrupt("the object is missing".into()));
            }
            Err(e) => {
                return Err(Error::artifact_storage(
                    format!("opening {}", path.display()),
                    e,
                ));
            }
        };
        // Verified whole before a byte is served (a range too): the same
        // open file is then read, so a rename over it changes nothing.
        let (digest, found) = hash_file(&mut file)
            .await
            .map_err(|e| Error::artifact_storage(format!("reading {}", path.display()), e))?;
        verify::check_content(sha256, size, found, &digest)?;
        let range = verify::range_within(range, size)?;
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| Error::artifact_storage(format!("reading {}", path.display()), e))?;
        Ok(Box::pin(file.take(range.end - range.start)))
    }

    async fn delete(&self, sha256: &str) -> Result<bool> {
        check_address(sha256)?;
        let path = self.object_path(sha256);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::artifact_storage(
                format!("removing {}", path.display()),
                e,
            )),
        }
    }

    async fn objects(&self) -> Result<Vec<ObjectInfo>> {
        let root = self.dir.join("objects");
        let mut found = Vec::new();
        let mut shards = match tokio::fs::read_dir(&root).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => {
                return Err(Error::artifact_storage(
                    format!("listing {}", root.display()),
                    e,
                ));
            }
        };
        let listing = |e| Error::artifact_storage(format!("listing {}", root.display()), e);
        while let Some(shard) = shards.next_entry().await.map_err(listing)? {
            if !shard.file_type().await.map_err(listing)?.is_dir() {
                continue;
            }
            let mut entries = tokio::fs::read_dir(shard.path()).await.map_err(listing)?;
            while let Some(entry) = entries.next_entry().await.map_err(listing)? {
                let name = entry.file_name().to_string_lossy().into_owned();
                if check_address(&name).is_err() {
                    continue;
                }
                let meta = entry.metadata().await.map_err(listing)?;
                if !meta.is_file() {
                    continue;
                }
                let stored_at = meta
                    .modified()
                    .map(chrono::DateTime::<chrono::Utc>::from)
                    .unwrap_or_else(|_| chrono::Utc::now());
                found.push(ObjectInfo {
                    sha256: name,
                    size: meta.len(),
                    stored_at,
                });
            }
        }
        found.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        Ok(found)
    }

    async fn delete_if_stored_before(
        &self,
        sha256: &str,
        not_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        check_address(sha256)?;
        let path = self.object_path(sha256);
        let tmp_dir = self.tmp_dir();
        tokio::fs::create_dir_all(&tmp_dir)
            .await
            .map_err(|e| Error::artifact_storage(format!("creating {}", tmp_dir.display()), e))?;
        // Moved aside first, then judged by the file actually moved: a
        // writer that renamed the same bytes into place in between made a
        // fresh file, which goes back (same bytes, same address).
        let aside = tmp_dir.join(format!("{sha256}.{}.gc", uuid::Uuid::now_v7().simple()));
        match tokio::fs::rename(&path, &aside).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(Error::artifact_storage(
                    format!("moving {} aside", path.display()),
                    e,
                ));
            }
        }
        let written = tokio::fs::metadata(&aside)
            .await
            .and_then(|m| m.modified())
            .map(chrono::DateTime::<chrono::Utc>::from)
            .map_err(|e| Error::artifact_storage(format!("reading {}", aside.display()), e))?;
        if written > not_after {
            tokio::fs::rename(&aside, &path)
                .await
                .map_err(|e| Error::artifact_storage(format!("restoring {}", path.display()), e))?;
            return Ok(false);
        }
        tokio::fs::remove_file(&aside)
            .await
            .map_err(|e| Error::artifact_storage(format!("removing {}", aside.display()), e))?;
        Ok(true)
    }

    async fn unfinished_uploads(&self) -> Result<Vec<super::UnfinishedUpload>> {
        let dir = self.tmp_dir();
        let listing = |e| Error::artifact_storage(format!("listing {}", dir.display()), e);
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(listing(e)),
        };
        let mut found = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(listing)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_temp_name(&name) {
                continue;
            }
            let meta = match entry.metadata().await {
                Ok(m) if m.is_file() => m,
                // Finished (renamed) or removed since the listing.
                _ => continue,
            };
            found.push(super::UnfinishedUpload {
                name,
                size: meta.len(),
                written_at: meta
                    .modified()
                    .map(chrono::DateTime::<chrono::Utc>::from)
                    .unwrap_or_else(|_| chrono::Utc::now()),
            });
        }
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    async fn remove_unfinished_upload(&self, name: &str) -> Result<bool> {
        if !is_temp_name(name) {
            return Err(Error::InvalidInput(format!(
                "{name:?} is not the name of an unfinished upload"
            )));
        }
        let path = self.tmp_dir().join(name);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::artifact_storage(
                format!("removing {}", path.display()),
                e,
            )),
        }
    }
}

/// Whether `name` is one of this store's temporary files (`<uuid>.part`
/// while written, `<sha256>.<uuid>.gc` while retention judges an object):
/// a plain file name only, never a path.
fn is_temp_name(name: &str) -> bool {
    let plain = !name.starts_with('.') && !name.contains(['/', '\0']);
    plain && (name.ends_with(".part") || name.ends_with(".gc"))
}
