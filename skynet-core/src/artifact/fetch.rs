//! Fetching a step's declared outputs through a provider: the request a
//! provider answers ([`OutputRequest`]), the capability it offers
//! ([`OutputFetcher`]), and the pieces every remote fetcher (a container's
//! archive, SFTP, an agent's API) shares, written assuming the far side is
//! hostile: names it reports are checked here ([`check_name`]) and must
//! match a declared pattern the way the local collector matches them
//! ([`Selection`]); bytes are spooled into anonymous temporary files (never
//! a path named by the far side) and counted while they stream, so a file
//! over the cap, or past what is left of the job's budget, stops being
//! read at the cap. [`confine`] checks a fetcher's answer once more on
//! this side before anything is stored.

use super::collect::{Found, FoundFile, MAX_PATTERN, Skipped, check_pattern};
use crate::Result;
use crate::job::JobId;
use async_trait::async_trait;
use globset::{GlobBuilder, GlobMatcher};
use std::collections::BTreeSet;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The outputs to fetch after a step, and the caps.
#[derive(Debug, Clone)]
pub struct OutputRequest {
    /// The job.
    pub job_id: JobId,
    /// The step's index.
    pub step: usize,
    /// The job's sandbox root on this machine (providers map it to theirs:
    /// a container's workdir, the SSH host's remote root, the agent's root).
    pub root: PathBuf,
    /// The step's declared patterns, relative to the root.
    pub patterns: Vec<String>,
    /// One file at most this many bytes; a larger one is skipped.
    pub max_file_bytes: u64,
    /// What is left of the job's artifact budget; files past it are
    /// skipped.
    pub max_total_bytes: u64,
    /// At most this many files.
    pub max_files: usize,
}

/// A provider's capability to hand over a step's outputs after it ran.
#[async_trait]
pub trait OutputFetcher: Send + Sync {
    /// The files matching `request.patterns` below the step's root, each
    /// a regular file within the caps, open for reading; what was passed
    /// over is in [`Found::skipped`] with its reason. `Err` only when the
    /// provider could not look at all (its connection failed).
    async fn fetch_outputs(&self, request: &OutputRequest) -> Result<Found>;
}

/// Check a name the far side reported for a file: relative, at most
/// [`MAX_PATTERN`] bytes, plain components only (no `..`, `.`, empty or
/// absolute part), no NUL or control character.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > MAX_PATTERN {
        return Err(format!("the name must be 1 to {MAX_PATTERN} bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err("has a control character in its name".into());
    }
    if name.starts_with('/') {
        return Err("is an absolute path: refused".into());
    }
    if name
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err("leads out of the root with `..` or has an empty part: refused".into());
    }
    Ok(())
}

/// One declared pattern, compiled the way the local collector reads it:
/// a literal path names one file; otherwise the literal directories before
/// the first glob component are searched below, and a path matches when
/// the glob matches it whole (`*` never crosses `/`).
#[derive(Debug, Clone)]
pub struct Selector {
    /// The pattern as declared.
    pub pattern: String,
    /// Its literal leading directories (all but the last component for a
    /// literal pattern).
    pub base: Vec<String>,
    /// The file's last component when the whole pattern is literal.
    pub literal: Option<String>,
    matcher: GlobMatcher,
}

impl Selector {
    /// Does the root-relative `name` match?
    pub fn matches(&self, name: &str) -> bool {
        match &self.literal {
            Some(_) => name == self.pattern,
            None => self.matcher.is_match(name),
        }
    }

    /// The base directory as one relative path (`""` for the root).
    pub fn base_path(&self) -> String {
        self.base.join("/")
    }
}

/// A step's patterns, compiled; the bad ones are already skipped.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The usable patterns, in declared order.
    pub selectors: Vec<Selector>,
    /// Patterns refused, with why.
    pub skipped: Vec<Skipped>,
}

impl Selection {
    /// Compile `patterns` ([`check_pattern`] each).
    pub fn new(patterns: &[String]) -> Selection {
        let mut selection = Selection::default();
        for pattern in patterns {
            let matcher = check_pattern(pattern).and_then(|()| {
                GlobBuilder::new(pattern)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map(|g| g.compile_matcher())
                    .map_err(|e| crate::Error::InvalidInput(e.to_string()))
            });
            let matcher = match matcher {
                Ok(m) => m,
                Err(e) => {
                    selection.skipped.push(Skipped {
                        name: pattern.chars().take(80).collect(),
                        why: e.to_string(),
                    });
                    continue;
                }
            };
            let parts: Vec<String> = pattern.split('/').map(str::to_string).collect();
            let literal = parts.iter().take_while(|p| !is_glob(p)).count();
            let (base, last) = if literal == parts.len() {
                let (dirs, last) = parts.split_at(parts.len() - 1);
                (dirs.to_vec(), Some(last[0].clone()))
            } else {
                (parts[..literal].to_vec(), None)
            };
            selection.selectors.push(Selector {
                pattern: pattern.clone(),
                base,
                literal: last,
                matcher,
            });
        }
        selection
    }

    /// Does `name` match any pattern?
    pub fn matches(&self, name: &str) -> bool {
        self.selectors.iter().any(|s| s.matches(name))
    }
}

fn is_glob(part: &str) -> bool {
    part.contains(['*', '?', '[', '{', '\\'])
}

/// Files gathered by a remote fetcher: each name once, the count and the
/// total budget enforced as they arrive.
#[derive(Debug)]
pub struct Gathered {
    found: Found,
    seen: BTreeSet<String>,
    total: u64,
    max_file_bytes: u64,
    max_total_bytes: u64,
    max_files: usize,
}

impl Gathered {
    /// Empty, with `request`'s caps; `selection`'s refused patterns are
    /// already listed as skipped.
    pub fn new(request: &OutputRequest, selection: &Selection) -> Gathered {
        Gathered {
            found: Found {
                files: Vec::new(),
                skipped: selection.skipped.clone(),
            },
            seen: BTreeSet::new(),
            total: 0,
            max_file_bytes: request.max_file_bytes,
            max_total_bytes: request.max_total_bytes,
            max_files: request.max_files,
        }
    }

    /// Note that `name` was passed over, and why.
    pub fn skip(&mut self, name: &str, why: impl Into<String>) {
        self.found.skipped.push(Skipped {
            name: name.escape_debug().take(200).collect(),
            why: why.into(),
        });
    }

    /// Already kept?
    pub fn has(&self, name: &str) -> bool {
        self.seen.contains(name)
    }

    /// How many bytes the next file may have: the per-file cap, or less
    /// when the job's budget is nearly spent.
    pub fn room(&self) -> u64 {
        self.max_file_bytes
            .min(self.max_total_bytes.saturating_sub(self.total))
    }

    /// Why a file of `size` bytes (as the far side announced it) is not
    /// fetched, if it is not: over the cap, past the budget, past the
    /// count.
    pub fn refuse_size(&self, size: u64) -> Option<String> {
        if self.found.files.len() >= self.max_files {
            return Some(format!(
                "over the limit of {} artifacts per step",
                self.max_files
            ));
        }
        if size > self.max_file_bytes {
            return Some(size_words(size, self.max_file_bytes));
        }
        if self.total.saturating_add(size) > self.max_total_bytes {
            return Some(budget_words(self.max_total_bytes));
        }
        None
    }

    /// Keep a spooled file under `name` (checked with [`check_name`]).
    pub fn keep(&mut self, name: String, spooled: Spooled) {
        if let Err(why) = check_name(&name) {
            self.skip(&name, why);
            return;
        }
        if let Some(why) = self.refuse_size(spooled.size) {
            self.skip(&name, why);
            return;
        }
        if !self.seen.insert(name.clone()) {
            return;
        }
        self.total += spooled.size;
        self.found.files.push(FoundFile {
            name,
            file: spooled.file,
            size: spooled.size,
        });
    }

    /// What was gathered, in name order.
    pub fn finish(mut self) -> Found {
        self.found.files.sort_by(|a, b| a.name.cmp(&b.name));
        self.found
    }
}

/// Words for a file over the per-file cap.
pub fn size_words(size: u64, cap: u64) -> String {
    format!("is {size} bytes, over the cap of {cap} bytes (SKYNET_ARTIFACT_MAX_BYTES)")
}

fn budget_words(budget: u64) -> String {
    format!(
        "the job's artifacts would pass what is left of its budget ({budget} bytes, \
         SKYNET_ARTIFACT_MAX_JOB_BYTES)"
    )
}

/// A file's bytes, held in an anonymous temporary file (unlinked from the
/// start: it has no name anyone could follow), rewound for reading.
#[derive(Debug)]
pub struct Spooled {
    /// The open file.
    pub file: std::fs::File,
    /// Its size.
    pub size: u64,
}

/// Why spooling did not keep a file.
#[derive(Debug)]
pub enum SpoolError {
    /// More than the cap arrived (reading stopped there).
    OverCap(u64),
    /// The source or the temporary file failed.
    Io(std::io::Error),
}

impl SpoolError {
    /// In words, for the step's log.
    pub fn words(&self) -> String {
        match self {
            SpoolError::OverCap(cap) => format!(
                "sent more than {cap} bytes, the most it may have (SKYNET_ARTIFACT_MAX_BYTES \
                 or the job's budget): not kept"
            ),
            SpoolError::Io(e) => format!("could not be read: {e}"),
        }
    }
}

/// Copy at most `cap` bytes of `source` into an anonymous temporary file;
/// one byte more is [`SpoolError::OverCap`] and nothing is kept.
pub fn spool_blocking(source: &mut dyn Read, cap: u64) -> std::result::Result<Spooled, SpoolError> {
    let mut file = tempfile::tempfile().map_err(SpoolError::Io)?;
    let copied = std::io::copy(&mut source.take(cap.saturating_add(1)), &mut file)
        .map_err(SpoolError::Io)?;
    if copied > cap {
        return Err(SpoolError::OverCap(cap));
    }
    file.flush().map_err(SpoolError::Io)?;
    file.rewind().map_err(SpoolError::Io)?;
    Ok(Spooled { file, size: copied })
}

/// [`spool_blocking`] for an async source.
pub async fn spool(
    source: &mut (dyn AsyncRead + Send + Unpin),
    cap: u64,
) -> std::result::Result<Spooled, SpoolError> {
    let file = tempfile::tempfile().map_err(SpoolError::Io)?;
    let mut out = tokio::fs::File::from_std(file);
    let copied = tokio::io::copy(&mut source.take(cap.saturating_add(1)), &mut out)
        .await
        .map_err(SpoolError::Io)?;
    if copied > cap {
        return Err(SpoolError::OverCap(cap));
    }
    out.flush().await.map_err(SpoolError::Io)?;
    let mut file = out.into_std().await;
    file.rewind().map_err(SpoolError::Io)?;
    Ok(Spooled { file, size: copied })
}

/// A fetcher's answer checked again on this side: every name must pass
/// [`check_name`] and match one of `request`'s patterns, every file must
/// be a regular file whose real size is within the per-file cap, each name
/// once, at most `max_files`. Whatever fails is moved to the skipped list.
pub fn confine(found: Found, request: &OutputRequest) -> Found {
    let selection = Selection::new(&request.patterns);
    let mut out = Found {
        files: Vec::new(),
        skipped: found.skipped,
    };
    let mut seen = BTreeSet::new();
    for file in found.files {
        let why = check_name(&file.name).err().or_else(|| {
            if !selection.matches(&file.name) {
                return Some("matches no declared pattern: refused".into());
            }
            match file.file.metadata() {
                Ok(m) if !m.is_file() => Some("is not a regular file: refused".into()),
                Ok(m) if m.len() > request.max_file_bytes => {
                    Some(size_words(m.len(), request.max_file_bytes))
                }
                Ok(m) if m.len() != file.size => {
                    Some("changed size while it was collected: not kept".into())
                }
                Ok(_) => None,
                Err(e) => Some(format!("cannot be read: {e}")),
            }
        });
        if let Some(why) = why {
            out.skipped.push(Skipped {
                name: file.name.escape_debug().take(200).collect(),
                why,
            });
            continue;
        }
        if !seen.insert(file.name.clone()) {
            continue;
        }
        if out.files.len() >= request.max_files {
            out.skipped.push(Skipped {
                name: file.name,
                why: format!("over the limit of {} artifacts per step", request.max_files),
            });
            continue;
        }
        out.files.push(file);
    }
    out.files.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_far_side_stay_relative() {
        assert!(check_name("reports/a.xml").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a\0b",
            "a\nb",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn patterns_select_like_the_local_collector() {
        let s = Selection::new(&[
            "reports/*.xml".to_string(),
            "target/app".to_string(),
            "../x".to_string(),
        ]);
        assert_eq!(s.selectors.len(), 2);
        assert_eq!(s.skipped.len(), 1);
        assert_eq!(s.selectors[0].base, ["reports"]);
        assert_eq!(s.selectors[1].literal.as_deref(), Some("app"));
        assert!(s.matches("reports/a.xml"));
        assert!(!s.matches("reports/deep/a.xml"), "* does not cross /");
        assert!(s.matches("target/app"));
        assert!(!s.matches("target/app2"));
    }

    #[test]
    fn confine_refuses_what_a_hostile_fetcher_returns() {
        let request = OutputRequest {
            job_id: JobId::new(),
            step: 0,
            root: PathBuf::from("/nonexistent"),
            patterns: vec!["reports/*.xml".into()],
            max_file_bytes: 4,
            max_total_bytes: 100,
            max_files: 10,
        };
        let file = |name: &str, bytes: &[u8]| {
            let mut source = bytes;
            let spooled = spool_blocking(&mut source, 100).expect("spooled");
            FoundFile {
                name: name.into(),
                file: spooled.file,
                size: spooled.size,
            }
        };
        let found = Found {
            files: vec![
                file("../etc/passwd", b"x"),
                file("/etc/passwd", b"x"),
                file("etc/passwd", b"x"),
                file("reports/big.xml", b"12345"),
                file("reports/ok.xml", b"1234"),
                file("reports/ok.xml", b"1234"),
            ],
            skipped: Vec::new(),
        };
        let out = confine(found, &request);
        let kept: Vec<&str> = out.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(kept, ["reports/ok.xml"]);
        let skipped: Vec<&str> = out.skipped.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "../etc/passwd",
                "/etc/passwd",
                "etc/passwd",
                "reports/big.xml"
            ]
        );
    }

    #[test]
    fn spooling_stops_at_the_cap() {
        let mut small: &[u8] = b"12345";
        let kept = spool_blocking(&mut small, 5).expect("within the cap");
        assert_eq!(kept.size, 5);
        let mut big: &[u8] = b"123456";
        assert!(matches!(
            spool_blocking(&mut big, 5),
            Err(SpoolError::OverCap(5))
        ));
    }
}
