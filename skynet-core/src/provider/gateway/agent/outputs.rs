//! The agent's side of the `outputs` calls: a finished job's declared
//! outputs, found in the agent's root by the same confined search the
//! local collector uses ([`collect::find`]: no symlink followed, regular
//! files only, capped), listed with their SHA-256, and served one by one
//! by exact name ([`collect::open_literal`], the same rules again).

use super::{AgentJobs, lock};
use crate::artifact::collect;
use crate::provider::gateway::protocol::{
    MAX_OUTPUT_FILES, OutputsAnswer, OutputsRequest, RemoteOutput, RemoteSkipped,
};
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Read;

impl AgentJobs {
    /// The files of the agent's root that `req`'s patterns match, for the
    /// finished job `job_id`. `None` for an unknown job;
    /// [`Error::Conflict`] while it runs; [`Error::InvalidInput`] for a
    /// pattern that leaves the root.
    pub async fn outputs(
        &self,
        job_id: &str,
        req: OutputsRequest,
    ) -> Result<Option<OutputsAnswer>> {
        if !self.finished(job_id)? {
            return Ok(None);
        }
        collect::check_patterns(&req.patterns)?;
        let root = self.inner.root.clone();
        let max_files = req.max_files.min(MAX_OUTPUT_FILES);
        let cap = req.max_file_bytes;
        let answer = tokio::task::spawn_blocking(move || {
            let found = collect::find(&root, &req.patterns, cap, max_files);
            let mut answer = OutputsAnswer {
                files: Vec::new(),
                skipped: found
                    .skipped
                    .into_iter()
                    .map(|s| RemoteSkipped {
                        name: s.name,
                        why: s.why,
                    })
                    .collect(),
            };
            for file in found.files {
                match digest(file.file, cap) {
                    Ok((sha256, size)) => answer.files.push(RemoteOutput {
                        name: file.name,
                        size,
                        sha256,
                    }),
                    Err(why) => answer.skipped.push(RemoteSkipped {
                        name: file.name,
                        why,
                    }),
                }
            }
            answer
        })
        .await
        .map_err(|e| Error::Provider {
            provider: "agent".into(),
            message: format!("the search for outputs failed: {e}"),
        })?;
        Ok(Some(answer))
    }

    /// The output `name` (exactly, relative to the root) of the finished
    /// job `job_id`, open, with its size: a regular file of at most
    /// `max_bytes`, reached without following a symlink. `None` for an
    /// unknown job; [`Error::InvalidInput`] saying why for a name that
    /// cannot be served.
    pub async fn open_output(
        &self,
        job_id: &str,
        name: &str,
        max_bytes: u64,
    ) -> Result<Option<(std::fs::File, u64)>> {
        if !self.finished(job_id)? {
            return Ok(None);
        }
        let root = self.inner.root.clone();
        let owned = name.to_string();
        let opened =
            tokio::task::spawn_blocking(move || collect::open_literal(&root, &owned, max_bytes))
                .await
                .map_err(|e| Error::Provider {
                    provider: "agent".into(),
                    message: format!("opening an output failed: {e}"),
                })?;
        match opened {
            Ok(found) => Ok(Some((found.file, found.size))),
            Err(why) => Err(Error::InvalidInput(format!(
                "output {:?} {why}",
                name.chars().take(200).collect::<String>()
            ))),
        }
    }

    /// Is the job known and ended? `Ok(false)` for an unknown job,
    /// [`Error::Conflict`] for one still running.
    fn finished(&self, job_id: &str) -> Result<bool> {
        let Some(job) = lock(&self.inner.jobs).get(job_id).cloned() else {
            return Ok(false);
        };
        if lock(&job.state).finished.is_none() {
            return Err(Error::Conflict(format!(
                "job {job_id} is still running; fetch its outputs after it ends"
            )));
        }
        Ok(true)
    }
}

/// SHA-256 and size of an open file, reading at most `cap` bytes.
fn digest(file: std::fs::File, cap: u64) -> std::result::Result<(String, u64), String> {
    let mut hasher = Sha256::new();
    let mut reader = file.take(cap.saturating_add(1));
    let mut buf = vec![0u8; 64 * 1024];
    let mut size: u64 = 0;
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("cannot be read: {e}"))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    if size > cap {
        return Err(format!(
            "grew past the cap of {cap} bytes while it was read"
        ));
    }
    Ok((hex::encode(hasher.finalize()), size))
}
