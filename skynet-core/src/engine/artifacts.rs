//! Artifacts through the engine: collecting a step's declared outputs
//! after it ran (under the job's lease), and reading them back.

use super::Skynet;
use super::acting::Acting;
use crate::artifact::{ByteRange, ObjectReader, SharedArtifactStore, collect, fetch};
use crate::job::{Job, JobId, Lease};
use crate::plan::Step;
use crate::provider::{OutputRequest, Provider, Stream};
use crate::store::NewLogLine;
use crate::store::artifacts::{ArtifactRecord, NewArtifact};
use crate::{Error, Result, Visibility};

impl Skynet {
    /// The artifact store, if one is configured.
    pub fn artifact_store(&self) -> Option<&SharedArtifactStore> {
        self.inner.artifact_store.as_ref()
    }

    /// A job's artifacts, by name.
    pub async fn artifacts(&self, job: &JobId) -> Result<Vec<ArtifactRecord>> {
        self.inner.store.artifacts(job, &Visibility::All).await
    }

    /// One artifact's record ([`Error::ArtifactNotFound`]).
    pub async fn artifact(&self, job: &JobId, name: &str) -> Result<ArtifactRecord> {
        self.inner.store.artifact(job, name, &Visibility::All).await
    }

    /// One artifact's record and its bytes (`range` of them), checked
    /// against their SHA-256 before any is returned.
    pub async fn open_artifact(
        &self,
        job: &JobId,
        name: &str,
        range: Option<ByteRange>,
    ) -> Result<(ArtifactRecord, ObjectReader)> {
        open(self, job, name, range, &Visibility::All).await
    }

    /// A URL that reads one artifact straight from the artifact store for
    /// `expires_in` (1 s to 7 days), when the store has such URLs (S3);
    /// [`Error::InvalidInput`] for one that has none (local). The URL is a
    /// bearer credential, and bytes read through it are not verified by
    /// SKYNET: a client checks them against the record's SHA-256.
    pub async fn presign_artifact(
        &self,
        job: &JobId,
        name: &str,
        expires_in: std::time::Duration,
    ) -> Result<PresignedArtifact> {
        presign(self, job, name, expires_in, &Visibility::All).await
    }

    /// Collect `step`'s declared artifacts from the job's root after it
    /// ran, each stored then recorded under the lease; returns the lines
    /// that say what was kept and what was skipped (written to the step's
    /// log with its end).
    pub(crate) async fn collect_artifacts(
        &self,
        job: &Job,
        lease: &Lease,
        index: u32,
        step: &Step,
        provider: &dyn Provider,
    ) -> Vec<NewLogLine> {
        if step.artifacts.is_empty() {
            return Vec::new();
        }
        let mut lines = Vec::new();
        let mut say = |text: String| {
            lines.push(NewLogLine {
                step: index,
                stream: Stream::System,
                text: self.inner.redactor.redact(&text),
            });
        };
        let Some(store) = self.inner.artifact_store.clone() else {
            say("artifacts not kept: no artifact store is configured".into());
            return lines;
        };
        let Some(fetcher) = provider.outputs() else {
            say(format!(
                "artifacts not kept: provider {} cannot hand over a step's files",
                provider.name()
            ));
            return lines;
        };
        let limits = self.inner.config.artifacts;
        let mut total: u64 = match self.inner.store.artifacts(&job.id, &Visibility::All).await {
            Ok(kept) => kept
                .iter()
                .filter(|a| a.step != index)
                .map(|a| a.size)
                .sum(),
            Err(e) => {
                say(format!("artifacts not kept: {e}"));
                return lines;
            }
        };
        let request = OutputRequest {
            job_id: job.id.clone(),
            step: index as usize,
            root: job.root.clone(),
            patterns: step.artifacts.clone(),
            max_file_bytes: limits.max_file_bytes,
            max_total_bytes: limits.max_job_bytes.saturating_sub(total),
            max_files: limits.max_files_per_step,
        };
        let found = match fetcher.fetch_outputs(&request).await {
            // Checked again here, whatever the provider's far side said.
            Ok(found) => fetch::confine(found, &request),
            Err(e) => {
                say(format!("artifacts not kept: {e}"));
                return lines;
            }
        };
        for skipped in &found.skipped {
            say(format!(
                "artifact skipped: {}: {}",
                skipped.name, skipped.why
            ));
        }
        for file in found.files {
            if total.saturating_add(file.size) > limits.max_job_bytes {
                say(format!(
                    "artifact skipped: {}: the job's artifacts would pass {} bytes \
                     (SKYNET_ARTIFACT_MAX_JOB_BYTES)",
                    file.name, limits.max_job_bytes
                ));
                continue;
            }
            match self
                .keep_artifact(&store, job, lease, index, file, limits.max_file_bytes)
                .await
            {
                Ok(record) => {
                    total += record.size;
                    say(format!(
                        "artifact kept: {} ({} bytes, sha256 {})",
                        record.name, record.size, record.sha256
                    ));
                }
                Err((name, Error::LeaseLost(_))) => {
                    say(format!("artifact not recorded: {name}: the lease was lost"));
                    break;
                }
                Err((name, e)) => say(format!("artifact skipped: {name}: {e}")),
            }
        }
        lines
    }

    /// Store one found file, then record it (a crash in between leaves an
    /// unreferenced object, never a listed partial artifact).
    async fn keep_artifact(
        &self,
        store: &SharedArtifactStore,
        job: &Job,
        lease: &Lease,
        index: u32,
        file: collect::FoundFile,
        cap: u64,
    ) -> std::result::Result<ArtifactRecord, (String, Error)> {
        let name = file.name;
        let mut reader = tokio::fs::File::from_std(file.file);
        let stored = store
            .put(&mut reader, cap)
            .await
            .map_err(|e| (name.clone(), e))?;
        let artifact = NewArtifact {
            job: job.id.clone(),
            step: index,
            content_type: crate::artifact::content_type(&name).to_string(),
            name: name.clone(),
            size: stored.size,
            sha256: stored.sha256,
            principal: job.principal.clone(),
        };
        self.inner
            .store
            .record_artifact(&lease.id, &artifact)
            .await
            .map_err(|e| (name, e))
    }
}

impl Acting<'_> {
    /// A visible job's artifacts (none of a job the caller may not see:
    /// [`Error::JobNotFound`]).
    pub async fn artifacts(&self, job: &JobId) -> Result<Vec<ArtifactRecord>> {
        self.sk.inner.store.artifacts(job, &self.visibility()).await
    }

    /// One artifact of a visible job and its bytes (see
    /// [`Skynet::open_artifact`]).
    pub async fn open_artifact(
        &self,
        job: &JobId,
        name: &str,
        range: Option<ByteRange>,
    ) -> Result<(ArtifactRecord, ObjectReader)> {
        open(self.sk, job, name, range, &self.visibility()).await
    }

    /// A URL that reads one artifact of a visible job straight from the
    /// artifact store for `expires_in` (see [`Skynet::presign_artifact`]).
    pub async fn presign_artifact(
        &self,
        job: &JobId,
        name: &str,
        expires_in: std::time::Duration,
    ) -> Result<PresignedArtifact> {
        presign(self.sk, job, name, expires_in, &self.visibility()).await
    }

    /// One artifact's record, without its bytes.
    pub async fn artifact(&self, job: &JobId, name: &str) -> Result<ArtifactRecord> {
        self.sk
            .inner
            .store
            .artifact(job, name, &self.visibility())
            .await
    }
}

/// A presigned URL for one artifact.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresignedArtifact {
    /// GET this URL for the artifact's bytes, until `expires_at`.
    pub url: String,
    /// When the URL stops working.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The SHA-256 the bytes must hash to.
    pub sha256: String,
    /// Their size.
    pub size: u64,
}

async fn presign(
    sk: &Skynet,
    job: &JobId,
    name: &str,
    expires_in: std::time::Duration,
    visibility: &Visibility,
) -> Result<PresignedArtifact> {
    let record = sk.inner.store.artifact(job, name, visibility).await?;
    let Some(store) = &sk.inner.artifact_store else {
        return Err(Error::Config(
            "no artifact store is configured, so artifacts cannot be read".into(),
        ));
    };
    let expires_at = chrono::Utc::now()
        + chrono::Duration::from_std(expires_in).unwrap_or(chrono::Duration::zero());
    match store.presign(&record.sha256, expires_in).await? {
        Some(url) => Ok(PresignedArtifact {
            url,
            expires_at,
            sha256: record.sha256,
            size: record.size,
        }),
        None => Err(Error::InvalidInput(format!(
            "the {} artifact store has no presigned URLs; read the artifact itself instead",
            store.backend()
        ))),
    }
}

async fn open(
    sk: &Skynet,
    job: &JobId,
    name: &str,
    range: Option<ByteRange>,
    visibility: &Visibility,
) -> Result<(ArtifactRecord, ObjectReader)> {
    let record = sk.inner.store.artifact(job, name, visibility).await?;
    let Some(store) = &sk.inner.artifact_store else {
        return Err(Error::Config(
            "no artifact store is configured, so artifacts cannot be read".into(),
        ));
    };
    let reader = store.get(&record.sha256, record.size, range).await?;
    Ok((record, reader))
}
