//! Finding a step's declared outputs inside its root, assuming the step
//! was hostile: a pattern must be relative without `..`; every path is
//! opened one component at a time from the root's open directory with
//! `O_NOFOLLOW` (through `/proc/self/fd`, so a directory swapped for a
//! symlink after a check still cannot lead out), only regular files are
//! opened for reading (a FIFO, socket or device is skipped before it is
//! opened, and again after, by the open file's own type), and a file over
//! the size cap is skipped by its size without a byte read. Nothing here
//! ever reads outside the root.

use crate::{Error, Result};
use globset::{GlobBuilder, GlobMatcher};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// The longest pattern accepted.
pub const MAX_PATTERN: usize = 512;
/// At most this many patterns per step.
pub const MAX_PATTERNS: usize = 64;
/// A walk for glob patterns looks at no more entries than this.
const MAX_WALK_ENTRIES: usize = 100_000;
/// ... and no deeper than this.
const MAX_DEPTH: usize = 32;

/// A file found for a pattern, open for reading.
#[derive(Debug)]
pub struct FoundFile {
    /// Its path relative to the root (the artifact's name).
    pub name: String,
    /// The open file (a regular file, checked on the open descriptor).
    pub file: File,
    /// Its size when opened.
    pub size: u64,
}

/// What was not collected, and why (shown in the step's log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The pattern or path.
    pub name: String,
    /// Why, in words.
    pub why: String,
}

/// What [`find`] found.
#[derive(Debug, Default)]
pub struct Found {
    /// Files to store, in name order, each once.
    pub files: Vec<FoundFile>,
    /// What was passed over.
    pub skipped: Vec<Skipped>,
}

/// Check a declared output pattern: 1 to [`MAX_PATTERN`] bytes, relative,
/// no `..` or empty component, no NUL or control character, a valid glob.
pub fn check_pattern(pattern: &str) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::InvalidInput(format!(
            "artifact pattern {:?} {why}",
            pattern.chars().take(80).collect::<String>()
        )))
    };
    if pattern.is_empty() || pattern.len() > MAX_PATTERN {
        return refuse(&format!("must be 1 to {MAX_PATTERN} bytes"));
    }
    if pattern.chars().any(char::is_control) {
        return refuse("contains a NUL or control character");
    }
    if pattern.starts_with('/') {
        return refuse("is absolute: name files relative to the job's root");
    }
    for part in pattern.split('/') {
        if part == ".." {
            return refuse("leads out of the root with `..`");
        }
        if part.is_empty() || part == "." {
            return refuse("has an empty or `.` component");
        }
    }
    glob(pattern).map(|_| ())
}

/// Check a step's declared outputs ([`check_pattern`] each, at most
/// [`MAX_PATTERNS`]).
pub fn check_patterns(patterns: &[String]) -> Result<()> {
    if patterns.len() > MAX_PATTERNS {
        return Err(Error::InvalidInput(format!(
            "a step declares at most {MAX_PATTERNS} artifact patterns ({} given)",
            patterns.len()
        )));
    }
    patterns.iter().try_for_each(|p| check_pattern(p))
}

fn glob(pattern: &str) -> Result<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::InvalidInput(format!("artifact pattern {pattern:?}: {e}")))
}

fn is_glob(part: &str) -> bool {
    part.contains(['*', '?', '[', '{', '\\'])
}

/// The path of an open descriptor, for opening a name inside it.
fn fd_path(f: &File) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()))
}

fn open_dir_in(dir: &File, name: &str) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_DIRECTORY | nix::libc::O_CLOEXEC)
        .open(fd_path(dir).join(name))
}

/// The directory `parts` below `root`, each component opened without
/// following a symlink; the error says which component stopped it.
fn open_dirs(root: &File, parts: &[&str]) -> std::result::Result<File, String> {
    let mut dir = root.try_clone().map_err(|e| io_words(&e))?;
    for (i, part) in parts.iter().enumerate() {
        dir = open_dir_in(&dir, part).map_err(|e| {
            let at = parts[..=i].join("/");
            match std::fs::symlink_metadata(fd_path(&dir).join(part)) {
                Ok(m) if m.file_type().is_symlink() => {
                    format!("{at} is a symbolic link: not followed")
                }
                Ok(m) if !m.is_dir() => format!("{at} is not a directory"),
                _ => format!("{at} {}", io_words(&e)),
            }
        })?;
    }
    Ok(dir)
}

/// Open `name` in `dir` if it is a regular file of at most `cap` bytes.
fn open_file_in(dir: &File, name: &str, cap: u64) -> std::result::Result<(File, u64), String> {
    let path = fd_path(dir).join(name);
    let meta = std::fs::symlink_metadata(&path).map_err(|e| io_words(&e))?;
    let kind = kind_words(&meta.file_type());
    if let Some(kind) = kind {
        return Err(format!("is {kind}: only regular files are collected"));
    }
    if meta.len() > cap {
        return Err(size_words(meta.len(), cap));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(
            nix::libc::O_NOFOLLOW
                | nix::libc::O_NONBLOCK
                | nix::libc::O_NOCTTY
                | nix::libc::O_CLOEXEC,
        )
        .open(&path)
        .map_err(|e| io_words(&e))?;
    // Checked again on what was opened: the name may have changed since.
    let meta = file.metadata().map_err(|e| io_words(&e))?;
    if let Some(kind) = kind_words(&meta.file_type()) {
        return Err(format!("is {kind}: only regular files are collected"));
    }
    if meta.len() > cap {
        return Err(size_words(meta.len(), cap));
    }
    Ok((file, meta.len()))
}

fn size_words(size: u64, cap: u64) -> String {
    format!("is {size} bytes, over the cap of {cap} bytes (SKYNET_ARTIFACT_MAX_BYTES)")
}

fn kind_words(t: &std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        None
    } else if t.is_symlink() {
        Some("a symbolic link")
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("a device")
    }
}

fn io_words(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(nix::libc::ELOOP) => "leads through a symbolic link: not followed".into(),
        Some(nix::libc::ENOTDIR) => "is not below a directory".into(),
        Some(nix::libc::ENOENT) => "does not exist".into(),
        _ => format!("cannot be read: {e}"),
    }
}

/// Find the files matching `patterns` below `root` (blocking: run it off
/// the async threads). `cap` is the per-file size cap; at most `max_files`
/// are returned. A bad pattern is skipped with its reason.
pub fn find(root: &Path, patterns: &[String], cap: u64, max_files: usize) -> Found {
    let mut found = Found::default();
    let root_dir = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_CLOEXEC)
        .open(root)
    {
        Ok(d) => d,
        Err(e) => {
            found.skipped.push(Skipped {
                name: root.display().to_string(),
                why: format!("the root cannot be opened: {e}"),
            });
            return found;
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    for pattern in patterns {
        if let Err(e) = check_pattern(pattern) {
            found.skipped.push(Skipped {
                name: pattern.chars().take(80).collect(),
                why: e.to_string(),
            });
            continue;
        }
        let parts: Vec<&str> = pattern.split('/').collect();
        let literal = parts.iter().take_while(|p| !is_glob(p)).count();
        if literal == parts.len() {
            let (dirs, last) = parts.split_at(parts.len() - 1);
            let opened =
                open_dirs(&root_dir, dirs).and_then(|dir| open_file_in(&dir, last[0], cap));
            match opened {
                Ok((file, size)) => {
                    if seen.insert(pattern.clone()) {
                        found.files.push(FoundFile {
                            name: pattern.clone(),
                            file,
                            size,
                        });
                    }
                }
                Err(why) => found.skipped.push(Skipped {
                    name: pattern.clone(),
                    why,
                }),
            }
            continue;
        }
        let Ok(matcher) = glob(pattern) else { continue };
        let base = &parts[..literal];
        let dir = match open_dirs(&root_dir, base) {
            Ok(d) => d,
            Err(why) => {
                found.skipped.push(Skipped {
                    name: pattern.clone(),
                    why,
                });
                continue;
            }
        };
        let mut walk = Walk {
            matcher: &matcher,
            cap,
            visited: 0,
            found: &mut found,
            seen: &mut seen,
        };
        walk.dir(&dir, &base.join("/"), 0);
        if walk.visited >= MAX_WALK_ENTRIES {
            found.skipped.push(Skipped {
                name: pattern.clone(),
                why: format!(
                    "the search stopped after {MAX_WALK_ENTRIES} entries: name a narrower directory"
                ),
            });
        }
    }
    found.files.sort_by(|a, b| a.name.cmp(&b.name));
    if found.files.len() > max_files {
        for extra in found.files.drain(max_files..) {
            found.skipped.push(Skipped {
                name: extra.name,
                why: format!("over the limit of {max_files} artifacts per step"),
            });
        }
    }
    found
}

/// Open the file named exactly `name` (relative to `root`, no glob
/// meaning) under the same rules as [`find`]: every component opened
/// without following a symlink, a regular file of at most `cap` bytes.
/// The error says why not, in words (blocking: run it off the async
/// threads).
pub fn open_literal(root: &Path, name: &str, cap: u64) -> std::result::Result<FoundFile, String> {
    super::fetch::check_name(name)?;
    let root_dir = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_CLOEXEC)
        .open(root)
        .map_err(|e| format!("the root cannot be opened: {e}"))?;
    let parts: Vec<&str> = name.split('/').collect();
    let (dirs, last) = parts.split_at(parts.len() - 1);
    let dir = open_dirs(&root_dir, dirs)?;
    let (file, size) = open_file_in(&dir, last[0], cap)?;
    Ok(FoundFile {
        name: name.to_string(),
        file,
        size,
    })
}

/// A walk below a pattern's literal directory.
struct Walk<'a> {
    matcher: &'a GlobMatcher,
    cap: u64,
    visited: usize,
    found: &'a mut Found,
    seen: &'a mut std::collections::BTreeSet<String>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &File, prefix: &str, depth: usize) {
        let Ok(entries) = std::fs::read_dir(fd_path(dir)) else {
            return;
        };
        let mut names: Vec<(String, std::fs::FileType)> = Vec::new();
        for entry in entries.flatten() {
            self.visited += 1;
            if self.visited >= MAX_WALK_ENTRIES {
                break;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            names.push((name, kind));
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in names {
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            if kind.is_dir() {
                // Not a symlink (the entry's own type): opened again
                // without following one, in case it was swapped since.
                if depth < MAX_DEPTH
                    && let Ok(sub) = open_dir_in(dir, &name)
                {
                    self.dir(&sub, &rel, depth + 1);
                }
                continue;
            }
            if !self.matcher.is_match(&rel) || self.seen.contains(&rel) {
                continue;
            }
            if rel.chars().any(char::is_control) {
                self.found.skipped.push(Skipped {
                    name: rel.escape_debug().to_string(),
                    why: "has a control character in its name".into(),
                });
                continue;
            }
            match open_file_in(dir, &name, self.cap) {
                Ok((file, size)) => {
                    self.seen.insert(rel.clone());
                    self.found.files.push(FoundFile {
                        name: rel,
                        file,
                        size,
                    });
                }
                Err(why) => self.found.skipped.push(Skipped { name: rel, why }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_stay_inside_the_root() {
        assert!(check_pattern("target/release/app").is_ok());
        assert!(check_pattern("reports/**/*.xml").is_ok());
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a\0b",
            "",
            "a//b",
            "./a",
            "a\nb",
        ] {
            assert!(check_pattern(bad).is_err(), "{bad:?} accepted");
        }
    }
}
