//! Copying a step's outputs out of Docker: a container that never starts
//! is created with the job's root mounted read-only where the step saw it
//! ([`CONTAINER_WORKDIR`]), each pattern's file or literal directory is
//! downloaded as a tar stream (the Engine API's archive endpoint), and the
//! stream is read here as hostile: every directory on the way is checked
//! first (a symlink is not followed, even one the daemon would resolve
//! inside the container), entries whose names are absolute, use `..` or
//! do not sit under what was asked for are refused, symlinks, hard links,
//! devices and FIFOs are skipped, and a file's bytes go to an anonymous
//! temporary file counted against the caps while they stream. Nothing is
//! ever written under a name from the archive.

use super::container;
use super::{CONTAINER_WORKDIR, DockerProvider};
use crate::Result;
use crate::artifact::collect::Found;
use crate::artifact::fetch::{
    Gathered, OutputFetcher, OutputRequest, Selection, Selector, spool_blocking,
};
use crate::provider::local::prepare::canonical_root;
use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, DownloadFromContainerOptionsBuilder,
};
use bytes::Bytes;
use futures::StreamExt;
use std::io::Read;
use tokio::sync::mpsc;

/// Go's `os.ModeDir` and `os.ModeSymlink`, as the daemon reports modes.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;
/// Bytes of files that are not collected an archive may carry before the
/// download stops (a glob's directory full of other large files).
const MAX_DISCARDED_BYTES: u64 = 256 << 20;
/// Entries read from one archive at most.
const MAX_ENTRIES: usize = 100_000;
/// Deepest entry looked at, in components below the root.
const MAX_DEPTH: usize = 33;

#[async_trait]
impl OutputFetcher for DockerProvider {
    async fn fetch_outputs(&self, request: &OutputRequest) -> Result<Found> {
        let selection = Selection::new(&request.patterns);
        let mut gathered = Gathered::new(request, &selection);
        if selection.selectors.is_empty() {
            return Ok(gathered.finish());
        }
        let root = canonical_root(&request.root)?;
        let docker = self.client().await?;
        let body = container::collector_body(&self.config, &root, request.job_id.to_string())?;
        let name = format!(
            "skynet-{}-{}-outputs-{:08x}",
            request.job_id,
            request.step,
            rand::random::<u32>()
        );
        let guard = self
            .create_guarded(
                docker,
                name,
                body,
                "cannot create the container to copy outputs from",
            )
            .await?;
        for selector in &selection.selectors {
            gathered = copy_out(docker, guard.id(), selector, gathered).await;
        }
        guard.remove().await;
        Ok(gathered.finish())
    }
}

/// The path inside the container of the root-relative `rel`.
fn inside(rel: &str) -> String {
    if rel.is_empty() {
        CONTAINER_WORKDIR.to_string()
    } else {
        format!("{CONTAINER_WORKDIR}/{rel}")
    }
}

/// Every directory of `dirs` (root-relative components) must be a real
/// directory, not a symlink: checked without following the last link of
/// each prefix, as the daemon reports it.
async fn check_dirs(docker: &Docker, id: &str, dirs: &[String]) -> std::result::Result<(), String> {
    for i in 1..=dirs.len() {
        let rel = dirs[..i].join("/");
        let options = ContainerArchiveInfoOptionsBuilder::default()
            .path(&inside(&rel))
            .build();
        match docker.get_container_archive_info(id, Some(options)).await {
            Ok(stat) if stat.file_mode & MODE_SYMLINK != 0 => {
                return Err(format!("{rel} is a symbolic link: not followed"));
            }
            Ok(stat) if stat.file_mode & MODE_DIR == 0 => {
                return Err(format!("{rel} is not a directory"));
            }
            Ok(_) => {}
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => return Err(format!("{rel} does not exist")),
            Err(e) => return Err(format!("{rel} cannot be looked at: {e}")),
        }
    }
    Ok(())
}

/// Copy what `selector` names out of the container `id` into `gathered`.
async fn copy_out(
    docker: &Docker,
    id: &str,
    selector: &Selector,
    mut gathered: Gathered,
) -> Gathered {
    if let Err(why) = check_dirs(docker, id, &selector.base).await {
        gathered.skip(&selector.pattern, why);
        return gathered;
    }
    // A literal pattern downloads its one file; a glob its base directory.
    let rel = match &selector.literal {
        Some(_) => selector.pattern.clone(),
        None => selector.base_path(),
    };
    let options = DownloadFromContainerOptionsBuilder::default()
        .path(&inside(&rel))
        .build();
    let mut stream = docker.download_from_container(id, Some(options));
    // The tar reader is blocking: it runs on its own thread and reads the
    // chunks this task forwards; when it stops (done, or refused the
    // rest), the channel closes and the download is dropped.
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
    let selector = selector.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunks = ChunkReader {
            rx,
            current: Bytes::new(),
        };
        read_archive(&mut chunks, &selector, &rel, &mut gathered);
        gathered
    });
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| match e {
            DockerError::DockerResponseServerError {
                status_code: 404, ..
            } => std::io::Error::new(std::io::ErrorKind::NotFound, "does not exist"),
            e => std::io::Error::other(e.to_string()),
        });
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    drop(stream);
    match reader.await {
        Ok(gathered) => gathered,
        // Only a panic in the reader gets here: pass it on.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A blocking `Read` over the chunks of a download.
struct ChunkReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// What an archive entry is, in words, when it is not a regular file.
fn kind_words(kind: tar::EntryType) -> Option<&'static str> {
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => None,
        tar::EntryType::Directory => Some("a directory"),
        tar::EntryType::Symlink => Some("a symbolic link"),
        tar::EntryType::Link => Some("a hard link"),
        tar::EntryType::Fifo => Some("a FIFO"),
        tar::EntryType::Char | tar::EntryType::Block => Some("a device"),
        _ => Some("an entry of an unusual kind"),
    }
}

/// The root-relative name of an archive entry `path` from the download
/// of `rel`: the archive names everything under the last component of
/// what was asked for. `None` for a name that is absolute, uses `.` or
/// `..`, or sits elsewhere.
fn entry_name(path: &[u8], rel: &str) -> Option<String> {
    let path = std::str::from_utf8(path).ok()?.trim_end_matches('/');
    let mut parts = path.split('/');
    let top = parts.next()?;
    let asked = rel.rsplit('/').next().filter(|s| !s.is_empty());
    let expected = asked.unwrap_or(CONTAINER_WORKDIR.trim_start_matches('/'));
    if top != expected {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    if rest.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return None;
    }
    let mut name = rel.to_string();
    for part in rest {
        if !name.is_empty() {
            name.push('/');
        }
        name.push_str(part);
    }
    (!name.is_empty()).then_some(name)
}

/// Read the archive of `rel`, keeping the regular files `selector`
/// matches (blocking).
fn read_archive(source: &mut dyn Read, selector: &Selector, rel: &str, gathered: &mut Gathered) {
    let mut archive = tar::Archive::new(source);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => {
            gathered.skip(
                &selector.pattern,
                format!("the copy could not be read: {e}"),
            );
            return;
        }
    };
    let mut discarded: u64 = 0;
    for (count, entry) in entries.enumerate() {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "does not exist".to_string()
                } else {
                    format!("the copy could not be read: {e}")
                };
                gathered.skip(&selector.pattern, why);
                return;
            }
        };
        if count >= MAX_ENTRIES {
            gathered.skip(
                &selector.pattern,
                format!("the copy stopped after {MAX_ENTRIES} entries: name a narrower directory"),
            );
            return;
        }
        let raw = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        // The entry's size, PAX records included (over 8 GiB a header says 0).
        let size = entry.size();
        let Some(name) = entry_name(&raw, rel) else {
            gathered.skip(
                &String::from_utf8_lossy(&raw),
                "is named outside what was asked for (absolute, `..` or elsewhere): refused",
            );
            if selector.literal.is_some() {
                return;
            }
            continue;
        };
        if name.split('/').count() > MAX_DEPTH {
            continue;
        }
        if let Some(kind) = kind_words(kind) {
            if kind != "a directory" && selector.matches(&name) {
                gathered.skip(
                    &name,
                    format!("is {kind}: only regular files are collected"),
                );
            } else if kind == "a directory" && selector.literal.is_some() {
                gathered.skip(&name, "is a directory: only regular files are collected");
            }
            if selector.literal.is_some() {
                return;
            }
            continue;
        }
        if !selector.matches(&name) || gathered.has(&name) {
            discarded = discarded.saturating_add(size);
        } else if let Some(why) = gathered.refuse_size(size) {
            gathered.skip(&name, why);
            discarded = discarded.saturating_add(size);
        } else {
            match spool_blocking(&mut entry, size) {
                Ok(spooled) => gathered.keep(name, spooled),
                Err(e) => {
                    gathered.skip(&name, e.words());
                    return;
                }
            }
        }
        if selector.literal.is_some() {
            // The one file asked for; whatever follows is not read.
            return;
        }
        if discarded > MAX_DISCARDED_BYTES {
            gathered.skip(
                &selector.pattern,
                format!(
                    "the copy of {} carried over {MAX_DISCARDED_BYTES} bytes of files not \
                     collected, so it stopped: name a narrower directory",
                    inside(rel)
                ),
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_stay_under_what_was_asked_for() {
        assert_eq!(
            entry_name(b"reports/a.xml", "reports").as_deref(),
            Some("reports/a.xml")
        );
        assert_eq!(
            entry_name(b"reports/", "reports").as_deref(),
            Some("reports")
        );
        assert_eq!(
            entry_name(b"app", "target/app").as_deref(),
            Some("target/app")
        );
        assert_eq!(entry_name(b"work/x/y", "").as_deref(), Some("x/y"));
        assert_eq!(entry_name(b"work", ""), None);
        for bad in [
            &b"/etc/passwd"[..],
            b"reports/../../etc/passwd",
            b"other/a.xml",
            b"reports/./a",
            b"reports//a",
            b"\xff",
        ] {
            assert_eq!(entry_name(bad, "reports"), None, "{bad:?}");
        }
    }
}
