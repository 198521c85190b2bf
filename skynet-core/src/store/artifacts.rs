//! Artifact records: what a job's steps produced and where its bytes are
//! (the SHA-256 that addresses them in the [`crate::artifact`] store). A
//! record is written by the worker holding the job's lease, fenced by it,
//! with its `artifact` event in the job's chain, in one transaction, and
//! only after the object is stored: a worker killed mid-upload leaves no
//! record, so no partial artifact is ever listed. One table, `artifacts`,
//! for every dialect.

use crate::job::JobId;
use crate::principal::{Principal, Visibility};
use crate::store::codec::{LedgerRow, db, micros, now, time};
use crate::store::dialect::Dialect;
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::query;
use crate::store::tx::Tx;
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An artifact to record: a stored object under a name on a job's step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArtifact {
    /// The job.
    pub job: JobId,
    /// The step (index in the plan) that produced it.
    pub step: u32,
    /// Its name: the file's path relative to the job's root.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the bytes (the object's address).
    pub sha256: String,
    /// MIME type, guessed from the name.
    pub content_type: String,
    /// The job's principal (who may read it).
    pub principal: Principal,
}

/// A recorded artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArtifactRecord {
    /// The job.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub job_id: JobId,
    /// The step (0-based index in the plan) that produced it.
    pub step: u32,
    /// Its name: the file's path relative to the job's root.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// MIME type.
    pub content_type: String,
    /// Whose it is.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub principal: Principal,
    /// Its `artifact` event in the job's chain.
    pub event_seq: i64,
    /// When it was recorded.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: DateTime<Utc>,
}

/// The artifact table.
#[async_trait]
pub trait ArtifactLedger: Send + Sync {
    /// Record a stored artifact of a job running under `lease_id` (fenced:
    /// [`Error::LeaseLost`] otherwise), with its `artifact` event in the
    /// same transaction. A name the job already has is replaced (a step
    /// run again); the chain keeps both events.
    async fn record_artifact(
        &self,
        lease_id: &str,
        artifact: &NewArtifact,
    ) -> Result<ArtifactRecord>;
    /// The job's artifacts by name, as `visibility` may see them
    /// ([`Error::JobNotFound`] for a job it may not see).
    async fn artifacts(&self, job: &JobId, visibility: &Visibility) -> Result<Vec<ArtifactRecord>>;
    /// One artifact ([`Error::ArtifactNotFound`], or
    /// [`Error::JobNotFound`] for a job `visibility` may not see).
    async fn artifact(
        &self,
        job: &JobId,
        name: &str,
        visibility: &Visibility,
    ) -> Result<ArtifactRecord>;
    /// Whether any record still points at the object `sha256`.
    async fn artifact_object_referenced(&self, sha256: &str) -> Result<bool>;
}

pub(crate) fn artifact_from_row(row: &impl LedgerRow) -> Result<ArtifactRecord> {
    let job = row.text("job_id")?;
    Ok(ArtifactRecord {
        job_id: JobId::parse(&job)
            .map_err(|_| Error::Store("column job_id is not a job id".into()))?,
        step: u32::try_from(row.int("step")?)
            .map_err(|_| Error::Store("column step is out of range".into()))?,
        name: row.text("name")?,
        size: u64::try_from(row.int("size")?)
            .map_err(|_| Error::Store("column size is negative".into()))?,
        sha256: row.text("sha256")?,
        content_type: row.text("content_type")?,
        principal: Principal::new(row.text("principal")?)?,
        event_seq: row.int("event_seq")?,
        created_at: time(row.int("created_at")?)?,
    })
}

/// The `artifact` event's data: what the chain keeps of the record.
pub fn artifact_event(artifact: &NewArtifact) -> serde_json::Value {
    serde_json::json!({
        "step": artifact.step,
        "name": artifact.name,
        "size": artifact.size,
        "sha256": artifact.sha256,
        "content_type": artifact.content_type,
    })
}

impl<D: Dialect> Ledger<D> {
    /// [`Error::JobNotFound`] unless the job exists and `visibility` sees it.
    async fn visible_job(&self, job: &JobId, visibility: &Visibility) -> Result<()> {
        let row = query::<D>("SELECT principal FROM jobs WHERE id = $1")
            .bind(job.as_str())
            .fetch_optional(&self.read)
            .await
            .map_err(db("looking up a job"))?;
        match row {
            Some(row) if visibility.admits(&Principal::new(row.text("principal")?)?) => Ok(()),
            _ => Err(Error::JobNotFound(job.to_string())),
        }
    }
}

#[async_trait]
impl<D: Dialect> ArtifactLedger for Ledger<D> {
    async fn record_artifact(
        &self,
        lease_id: &str,
        artifact: &NewArtifact,
    ) -> Result<ArtifactRecord> {
        let size = i64::try_from(artifact.size)
            .map_err(|_| Error::InvalidInput("artifact size out of range".into()))?;
        let at = now();
        let mut tx = self.begin().await?;
        let head = Tx::<D>::fence(&mut tx, &artifact.job, lease_id).await?;
        let event = Tx::<D>::append_event(
            &mut tx,
            &artifact.job,
            "artifact",
            artifact_event(artifact),
            at,
            Some(head),
        )
        .await?;
        query::<D>(
            "INSERT INTO artifacts (job_id, step, name, size, sha256, content_type, principal, \
             event_seq, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (job_id, name) DO UPDATE SET step = excluded.step, \
             size = excluded.size, sha256 = excluded.sha256, \
             content_type = excluded.content_type, event_seq = excluded.event_seq, \
             created_at = excluded.created_at",
        )
        .bind(artifact.job.as_str())
        .bind(i64::from(artifact.step))
        .bind(artifact.name.as_str())
        .bind(size)
        .bind(artifact.sha256.as_str())
        .bind(artifact.content_type.as_str())
        .bind(artifact.principal.as_str())
        .bind(event.seq)
        .bind(micros(event.at))
        .execute(&mut *tx)
        .await
        .map_err(db("recording an artifact"))?;
        commit(tx).await?;
        Ok(ArtifactRecord {
            job_id: artifact.job.clone(),
            step: artifact.step,
            name: artifact.name.clone(),
            size: artifact.size,
            sha256: artifact.sha256.clone(),
            content_type: artifact.content_type.clone(),
            principal: artifact.principal.clone(),
            event_seq: event.seq,
            created_at: event.at,
        })
    }

    async fn artifacts(&self, job: &JobId, visibility: &Visibility) -> Result<Vec<ArtifactRecord>> {
        self.visible_job(job, visibility).await?;
        let rows = query::<D>(
            "SELECT job_id, step, name, size, sha256, content_type, principal, event_seq, \
             created_at FROM artifacts WHERE job_id = $1 ORDER BY name",
        )
        .bind(job.as_str())
        .fetch_all(&self.read)
        .await
        .map_err(db("reading artifacts"))?;
        rows.iter()
            .map(artifact_from_row)
            .filter(|a| a.as_ref().map_or(true, |a| visibility.admits(&a.principal)))
            .collect()
    }

    async fn artifact(
        &self,
        job: &JobId,
        name: &str,
        visibility: &Visibility,
    ) -> Result<ArtifactRecord> {
        self.visible_job(job, visibility).await?;
        let row = query::<D>(
            "SELECT job_id, step, name, size, sha256, content_type, principal, event_seq, \
             created_at FROM artifacts WHERE job_id = $1 AND name = $2",
        )
        .bind(job.as_str())
        .bind(name)
        .fetch_optional(&self.read)
        .await
        .map_err(db("reading an artifact"))?;
        let not_found = || Error::ArtifactNotFound {
            job: job.clone(),
            name: name.to_string(),
        };
        let record = artifact_from_row(&row.ok_or_else(not_found)?)?;
        if !visibility.admits(&record.principal) {
            return Err(not_found());
        }
        Ok(record)
    }

    async fn artifact_object_referenced(&self, sha256: &str) -> Result<bool> {
        let row = query::<D>("SELECT 1 AS found FROM artifacts WHERE sha256 = $1 LIMIT 1")
            .bind(sha256)
            .fetch_optional(&self.read)
            .await
            .map_err(db("looking up an artifact object"))?;
        Ok(row.is_some())
    }
}
