//! Step checkpoints (fenced by the worker's lease) and job logs, for every
//! dialect: step checkpoints go through the shared checkpoint helpers
//! (`super::checkpoint`), logs are plain inserts and reads.

use crate::job::{Job, JobId};
use crate::store::codec::{LedgerRow, db, log_from_row, step_from_row};
use crate::store::dialect::Dialect;
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::{SqlBuilder, query, query_with};
use crate::store::tx::Tx;
use crate::store::{
    FinishedStep, LogLine, LogQuery, LogStore, NewLogLine, RunCheckpoint, StepOutcome, StepRecord,
    StepStore,
};
use crate::{Error, Result};
use async_trait::async_trait;

use sha2::Digest;

/// The signature of a step run by `principal`: a hash of who, the action
/// and the command (its time limit aside, which does not change the work),
/// stored with the step's checkpoint so a plan can be estimated from the
/// step's past runs ([`StepStore::step_medians`]). Another principal's runs
/// never shape an estimate.
pub fn step_signature(principal: &crate::Principal, step: &crate::plan::Step) -> String {
    let mut command = step.command.clone();
    command.timeout_ms = None;
    let canonical = serde_json::json!([principal.as_str(), step.action.name(), command]);
    let digest = sha2::Sha256::digest(canonical.to_string().as_bytes());
    hex::encode(&digest[..16])
}

#[async_trait]
impl<D: Dialect> StepStore for Ledger<D> {
    async fn steps(&self, id: &JobId) -> Result<Vec<StepRecord>> {
        self.ensure_job(id).await?;
        let rows = query::<D>(&D::sql().steps)
            .bind(id.as_str())
            .fetch_all(&self.read)
            .await
            .map_err(db("loading step checkpoints"))?;
        rows.iter().map(step_from_row).collect()
    }

    async fn start_step(&self, id: &JobId, lease_id: &str, index: u32) -> Result<()> {
        let mut tx = self.begin().await?;
        Tx::<D>::start_step_in(&mut tx, id, lease_id, index).await?;
        commit(tx).await
    }

    async fn finish_step(
        &self,
        id: &JobId,
        lease_id: &str,
        index: u32,
        outcome: StepOutcome,
        logs: &[NewLogLine],
    ) -> Result<()> {
        let step = FinishedStep {
            index,
            started_at: None,
            outcome,
            logs: logs.to_vec(),
        };
        self.checkpoint(RunCheckpoint {
            job: id.clone(),
            lease_id: lease_id.to_string(),
            step: Some(step),
            completion: None,
        })
        .await
        .map(|_| ())
    }

    async fn step_medians(
        &self,
        signatures: &[String],
        runs: u32,
    ) -> Result<std::collections::HashMap<String, u64>> {
        if signatures.is_empty() {
            return Ok(Default::default());
        }
        // The last `runs` successful runs per signature (a window function:
        // SQLite >= 3.25 and PostgreSQL); `runs` is an integer from code.
        let mut qb = SqlBuilder::<D>::new(
            "SELECT signature, started_at, finished_at FROM (\
               SELECT signature, started_at, finished_at, ROW_NUMBER() OVER \
                 (PARTITION BY signature ORDER BY finished_at DESC) AS recent \
               FROM steps WHERE status = 'succeeded' AND finished_at IS NOT NULL \
               AND started_at IS NOT NULL AND signature IN ",
        );
        qb.push_in(signatures.iter().map(String::as_str))
            .push(&format!(") AS runs WHERE recent <= {runs}"));
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("reading past step durations"))?;
        let mut durations: std::collections::HashMap<String, Vec<i64>> = Default::default();
        for row in &rows {
            let (Some(started), Some(finished)) =
                (row.opt_int("started_at")?, row.opt_int("finished_at")?)
            else {
                continue;
            };
            durations
                .entry(row.text("signature")?)
                .or_default()
                .push((finished - started).max(0) / 1000);
        }
        Ok(durations
            .into_iter()
            .filter_map(|(sig, mut ms)| {
                ms.sort_unstable();
                crate::store::stats::median(&ms).map(|m| (sig, m))
            })
            .collect())
    }

    async fn step_failures_since(
        &self,
        signatures: &[String],
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<std::collections::HashMap<String, u32>> {
        if signatures.is_empty() {
            return Ok(Default::default());
        }
        let mut qb = SqlBuilder::<D>::new(
            "SELECT signature, COUNT(*) AS failures FROM steps \
             WHERE status IN ('failed', 'timed_out') AND finished_at >= ",
        );
        qb.push_bind(crate::store::codec::micros(since))
            .push(" AND signature IN ");
        qb.push_in(signatures.iter().map(String::as_str))
            .push(" GROUP BY signature");
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("reading recent step failures"))?;
        let mut out = std::collections::HashMap::new();
        for row in &rows {
            let n = u32::try_from(row.int("failures")?.max(0)).unwrap_or(u32::MAX);
            out.insert(row.text("signature")?, n);
        }
        Ok(out)
    }

    async fn record_checkpoints(
        &self,
        batch: &[RunCheckpoint],
    ) -> Result<Vec<Result<Option<Job>>>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let results = Tx::<D>::record_checkpoints_in(&mut tx, batch).await?;
        commit(tx).await?;
        Ok(results)
    }
}

#[async_trait]
impl<D: Dialect> LogStore for Ledger<D> {
    async fn append_logs(&self, id: &JobId, lines: &[NewLogLine]) -> Result<()> {
        let mut tx = self.begin().await?;
        let found = query::<D>(&D::sql().job_exists_shared)
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("looking up a job"))?;
        if found.is_none() {
            return Err(Error::JobNotFound(id.to_string()));
        }
        Tx::<D>::insert_logs(&mut tx, id, lines).await?;
        commit(tx).await
    }

    async fn logs(&self, id: &JobId, query: &LogQuery) -> Result<Vec<LogLine>> {
        self.ensure_job(id).await?;
        let mut qb =
            SqlBuilder::<D>::new("SELECT seq, step, stream, text, at FROM logs WHERE job_id = ");
        qb.push_bind(id.as_str());
        if let Some(step) = query.step {
            qb.push(" AND step = ").push_bind(i64::from(step));
        }
        if let Some(search) = &query.search {
            qb.push(" AND ")
                .push(D::SUBSTR_POS)
                .push("(text, ")
                .push_bind(search.as_str())
                .push(") > 0");
        }
        if let Some(after) = query.after_seq {
            qb.push(" AND seq > ").push_bind(after);
        }
        if let Some(since) = query.since {
            qb.push(" AND at >= ").push_bind(since.timestamp_micros());
        }
        if let Some(until) = query.until {
            qb.push(" AND at < ").push_bind(until.timestamp_micros());
        }
        if let Some(stream) = query.stream {
            qb.push(" AND stream = ").push_bind(stream.as_str());
        }
        match query.tail {
            Some(n) => qb.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(n)),
            None => qb.push(" ORDER BY seq"),
        };
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&self.read)
            .await
            .map_err(db("reading log lines"))?;
        let mut lines = rows.iter().map(log_from_row).collect::<Result<Vec<_>>>()?;
        if query.tail.is_some() {
            lines.reverse();
        }
        Ok(lines)
    }
}
