//! Fetching a step's outputs from SKYNET's agent (the protocol's
//! `outputs` calls): the agent lists the files of its root the patterns
//! match (its own confined search), then each is fetched by name. The
//! agent is not trusted for any of it: each name it lists must pass
//! [`check_name`] and match a declared pattern here, each size must be
//! within the caps, the bytes are counted while they stream (reading stops
//! at the cap) into an anonymous temporary file, and they must hash to
//! the SHA-256 the listing gave.

use super::client::CallError;
use super::protocol::{FEATURE_OUTPUTS, OutputsRequest};
use super::{GatewayProtocol, GatewayProvider};
use crate::Result;
use crate::artifact::collect::Found;
use crate::artifact::fetch::{
    Gathered, OutputFetcher, OutputRequest, Selection, Spooled, check_name,
};
use crate::job::JobId;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::io::Seek;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Steps whose remote id is remembered for a later fetch.
const REMEMBERED_RUNS: usize = 256;
/// The slowest transfer a file fetch is given time for (bytes a second).
const SLOWEST_BYTES_PER_SEC: u64 = 1 << 20;

/// The agent's ids of the last steps run, by job and step.
#[derive(Debug, Default)]
pub(super) struct RecentRuns(std::sync::Mutex<VecDeque<((JobId, usize), String)>>);

impl RecentRuns {
    /// Remember that step `step` of `job` ran as `remote_id`.
    pub(super) fn remember(&self, job: &JobId, step: usize, remote_id: &str) {
        let mut runs = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        runs.retain(|(key, _)| key != &(job.clone(), step));
        if runs.len() >= REMEMBERED_RUNS {
            runs.pop_front();
        }
        runs.push_back(((job.clone(), step), remote_id.to_string()));
    }

    fn find(&self, job: &JobId, step: usize) -> Option<String> {
        let runs = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        runs.iter()
            .rev()
            .find(|(key, _)| key == &(job.clone(), step))
            .map(|(_, id)| id.clone())
    }
}

#[async_trait]
impl OutputFetcher for GatewayProvider {
    async fn fetch_outputs(&self, request: &OutputRequest) -> Result<Found> {
        let selection = Selection::new(&request.patterns);
        let mut gathered = Gathered::new(request, &selection);
        if selection.selectors.is_empty() || self.config.protocol != GatewayProtocol::Skynet {
            return Ok(gathered.finish());
        }
        let Some(remote_id) = self.recent.find(&request.job_id, request.step) else {
            return Err(self.error(format!(
                "step {} of job {} did not run through this provider, so it has no outputs here",
                request.step + 1,
                request.job_id
            )));
        };
        match self.client.health().await {
            Ok(h) if h.features.iter().any(|f| f == FEATURE_OUTPUTS) => {}
            Ok(h) => {
                return Err(self.error(format!(
                    "cannot hand over a step's files (SKYNET {} without the `{FEATURE_OUTPUTS}` \
                     calls); upgrade the agent",
                    h.version
                )));
            }
            Err(e) => return Err(self.error(call_words(&e))),
        }
        let patterns: Vec<String> = selection
            .selectors
            .iter()
            .map(|s| s.pattern.clone())
            .collect();
        let listing = OutputsRequest {
            patterns,
            max_file_bytes: request.max_file_bytes,
            max_files: request.max_files,
        };
        let answer = self
            .client
            .outputs(&remote_id, &listing)
            .await
            .map_err(|e| {
                self.error(format!(
                    "listing the step's outputs failed: {}",
                    call_words(&e)
                ))
            })?;
        for skipped in answer.skipped {
            gathered.skip(&skipped.name, skipped.why);
        }
        for file in answer.files {
            let name = file.name;
            if let Err(why) = check_name(&name) {
                gathered.skip(&name, why);
                continue;
            }
            if !selection.matches(&name) {
                gathered.skip(
                    &name,
                    "the agent named a file no declared pattern matches: refused",
                );
                continue;
            }
            if gathered.has(&name) {
                continue;
            }
            if let Some(why) = gathered.refuse_size(file.size) {
                gathered.skip(&name, why);
                continue;
            }
            match self
                .fetch_file(&remote_id, &name, file.size, &file.sha256)
                .await
            {
                Ok(spooled) => gathered.keep(name, spooled),
                Err(why) => gathered.skip(&name, why),
            }
        }
        Ok(gathered.finish())
    }
}

impl GatewayProvider {
    /// Fetch one listed file: at most `size` bytes (what the listing
    /// said), which must hash to `sha256`.
    async fn fetch_file(
        &self,
        remote_id: &str,
        name: &str,
        size: u64,
        sha256: &str,
    ) -> std::result::Result<Spooled, String> {
        let timeout =
            self.config.request_timeout * 2 + Duration::from_secs(size / SLOWEST_BYTES_PER_SEC);
        let mut resp = self
            .client
            .output_file(remote_id, name, size, timeout)
            .await
            .map_err(|e| call_words(&e))?;
        let file = tempfile::tempfile().map_err(|e| format!("cannot be spooled: {e}"))?;
        let mut out = tokio::fs::File::from_std(file);
        let mut hasher = Sha256::new();
        let mut got: u64 = 0;
        loop {
            let chunk = match resp.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    return Err(format!(
                        "the transfer failed: {}",
                        super::client::describe(e)
                    ));
                }
            };
            got = got.saturating_add(chunk.len() as u64);
            if got > size {
                return Err(format!(
                    "the agent sent more than the {size} bytes it listed: not kept"
                ));
            }
            hasher.update(&chunk);
            out.write_all(&chunk)
                .await
                .map_err(|e| format!("cannot be spooled: {e}"))?;
        }
        if hex::encode(hasher.finalize()) != sha256 || got != size {
            return Err(
                "the bytes the agent sent do not match the size and SHA-256 it listed (the file \
                 changed, or the agent is not honest): not kept"
                    .into(),
            );
        }
        out.flush()
            .await
            .map_err(|e| format!("cannot be spooled: {e}"))?;
        let mut file = out.into_std().await;
        file.rewind()
            .map_err(|e| format!("cannot be spooled: {e}"))?;
        Ok(Spooled { file, size: got })
    }
}

fn call_words(e: &CallError) -> String {
    match e {
        CallError::Unreachable(why) => format!("unreachable: {why}"),
        CallError::Refused { status, detail } => format!("refused ({status}): {detail}"),
    }
}
