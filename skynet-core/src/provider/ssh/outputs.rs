//! Fetching a step's outputs from the SSH host over SFTP (the `sftp`
//! subsystem, on the provider's connection), assuming the host is hostile:
//! every directory on the way is `lstat`ed and a symbolic link is never
//! followed; a name is fetched only when `lstat` says it is a regular file
//! within the caps, and again when the opened handle's own `fstat` says
//! so; the bytes go to an anonymous temporary file and reading stops at
//! the cap, whatever size the host announced. Names come from this side
//! (the declared patterns, or a directory listing checked with
//! [`check_name`]), never from a path the host made up.

use super::SshProvider;
use super::connection::provider;
use crate::Result;
use crate::artifact::collect::Found;
use crate::artifact::fetch::{
    Gathered, OutputFetcher, OutputRequest, Selection, Selector, check_name, spool,
};
use async_trait::async_trait;
use russh_sftp::client::SftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, FileType, StatusCode};

/// A glob's search looks at no more entries than this.
const MAX_WALK_ENTRIES: usize = 100_000;
/// ... and no deeper than this.
const MAX_DEPTH: usize = 32;
/// Seconds each SFTP request may take.
const REQUEST_TIMEOUT_SECS: u64 = 30;

#[async_trait]
impl OutputFetcher for SshProvider {
    async fn fetch_outputs(&self, request: &OutputRequest) -> Result<Found> {
        let selection = Selection::new(&request.patterns);
        let mut gathered = Gathered::new(request, &selection);
        if selection.selectors.is_empty() {
            return Ok(gathered.finish());
        }
        let sftp = self.sftp().await?;
        let remote = Remote {
            sftp: &sftp,
            base: self.config.remote_root.trim_end_matches('/').to_string(),
        };
        for selector in &selection.selectors {
            if let Err(why) = remote.check_dirs(&selector.base).await {
                gathered.skip(&selector.pattern, why);
                continue;
            }
            match &selector.literal {
                Some(_) => remote.fetch(&selector.pattern, &mut gathered).await,
                None => {
                    let mut walk = Walk {
                        remote: &remote,
                        selector,
                        visited: 0,
                    };
                    walk.dir(&selector.base_path(), 0, &mut gathered).await;
                    if walk.visited >= MAX_WALK_ENTRIES {
                        gathered.skip(
                            &selector.pattern,
                            format!(
                                "the search stopped after {MAX_WALK_ENTRIES} entries: name a \
                                 narrower directory"
                            ),
                        );
                    }
                }
            }
        }
        let _ = sftp.close().await;
        Ok(gathered.finish())
    }
}

impl SshProvider {
    /// An SFTP session on a new channel of the provider's connection.
    async fn sftp(&self) -> Result<SftpSession> {
        let (_conn, channel) = self.channel().await?;
        channel.request_subsystem(true, "sftp").await.map_err(|e| {
            provider(format!(
                "{}: cannot start SFTP to fetch the step's outputs: {e}",
                self.target()
            ))
        })?;
        let sftp = SftpSession::new(channel.into_stream()).await.map_err(|e| {
            provider(format!(
                "{}: SFTP did not start ({e}); the host must offer the `sftp` subsystem \
                 (`Subsystem sftp internal-sftp` in sshd_config) for outputs to be fetched",
                self.target()
            ))
        })?;
        sftp.set_timeout(REQUEST_TIMEOUT_SECS);
        Ok(sftp)
    }
}

/// The remote root, through one SFTP session.
struct Remote<'a> {
    sftp: &'a SftpSession,
    /// The remote root without a trailing `/` (`""` is `/`).
    base: String,
}

impl Remote<'_> {
    fn path(&self, rel: &str) -> String {
        match (self.base.is_empty(), rel.is_empty()) {
            (true, true) => "/".into(),
            (true, false) => format!("/{rel}"),
            (false, true) => self.base.clone(),
            (false, false) => format!("{}/{rel}", self.base),
        }
    }

    async fn lstat(&self, rel: &str) -> std::result::Result<FileAttributes, String> {
        self.sftp
            .symlink_metadata(self.path(rel))
            .await
            .map_err(|e| words(&e))
    }

    /// Every prefix of `dirs` must be a directory, not a symlink.
    async fn check_dirs(&self, dirs: &[String]) -> std::result::Result<(), String> {
        for i in 1..=dirs.len() {
            let rel = dirs[..i].join("/");
            let attrs = self
                .lstat(&rel)
                .await
                .map_err(|why| format!("{rel} {why}"))?;
            match attrs.file_type() {
                FileType::Dir => {}
                FileType::Symlink => return Err(format!("{rel} is a symbolic link: not followed")),
                _ => return Err(format!("{rel} is not a directory")),
            }
        }
        Ok(())
    }

    /// Fetch the file `name` (root-relative) into `gathered`, or say why
    /// not.
    async fn fetch(&self, name: &str, gathered: &mut Gathered) {
        if gathered.has(name) {
            return;
        }
        if let Err(why) = check_name(name) {
            gathered.skip(name, why);
            return;
        }
        let attrs = match self.lstat(name).await {
            Ok(a) => a,
            Err(why) => return gathered.skip(name, why),
        };
        if let Some(why) = refuse(&attrs, gathered) {
            return gathered.skip(name, why);
        }
        let mut file = match self.sftp.open(self.path(name)).await {
            Ok(f) => f,
            Err(e) => return gathered.skip(name, words(&e)),
        };
        // What was opened may not be what was looked at: check it again.
        match file.metadata().await {
            Ok(attrs) => {
                if let Some(why) = refuse(&attrs, gathered) {
                    return gathered.skip(name, why);
                }
            }
            Err(e) => return gathered.skip(name, words(&e)),
        }
        match spool(&mut file, gathered.room()).await {
            Ok(spooled) => gathered.keep(name.to_string(), spooled),
            Err(e) => gathered.skip(name, e.words()),
        }
    }
}

/// Why a file with these attributes is not fetched, if it is not.
fn refuse(attrs: &FileAttributes, gathered: &Gathered) -> Option<String> {
    match attrs.file_type() {
        FileType::File => gathered.refuse_size(attrs.size.unwrap_or(u64::MAX)),
        FileType::Symlink => Some("is a symbolic link: only regular files are collected".into()),
        FileType::Dir => Some("is a directory: only regular files are collected".into()),
        FileType::Other => {
            Some("is a FIFO, socket or device: only regular files are collected".into())
        }
    }
}

fn words(e: &SftpError) -> String {
    match e {
        SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile => "does not exist".into(),
        SftpError::Status(s) if s.status_code == StatusCode::PermissionDenied => {
            "cannot be read: permission denied".into()
        }
        e => format!("cannot be read over SFTP: {e}"),
    }
}

/// A search below a glob pattern's literal directory.
struct Walk<'a> {
    remote: &'a Remote<'a>,
    selector: &'a Selector,
    visited: usize,
}

impl Walk<'_> {
    /// Look through the directory `rel` (already known to be a directory,
    /// not a symlink, from its parent's listing or the base check).
    async fn dir(&mut self, rel: &str, depth: usize, gathered: &mut Gathered) {
        let Ok(entries) = self.remote.sftp.read_dir(self.remote.path(rel)).await else {
            return;
        };
        let mut listed: Vec<(String, FileType)> = Vec::new();
        for entry in entries {
            self.visited += 1;
            if self.visited >= MAX_WALK_ENTRIES {
                break;
            }
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            listed.push((name, entry.file_type()));
        }
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in listed {
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            // A name with `/` or `..` in it is the host making things up.
            if name.contains('/') || check_name(&child).is_err() {
                if self.selector.matches(&child) {
                    gathered.skip(&child, "has a name that is not a plain file name: refused");
                }
                continue;
            }
            match kind {
                FileType::Dir => {
                    if depth < MAX_DEPTH {
                        Box::pin(self.dir(&child, depth + 1, gathered)).await;
                    }
                }
                _ if !self.selector.matches(&child) => {}
                // Looked at again on its own (lstat, open, fstat).
                _ => self.remote.fetch(&child, gathered).await,
            }
        }
    }
}
