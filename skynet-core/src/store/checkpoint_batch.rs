//! A group commit's checkpoints written with one statement per kind: the
//! rows of every job in the batch are locked (fenced by each job's own
//! lease) with one `SELECT`, and the common checkpoints (a step's end, a
//! successful completion) of the whole batch then take one log insert,
//! one step `UPDATE … FROM (VALUES …)`, one event insert and one job
//! `UPDATE … FROM (VALUES …)`, instead of four statements per job. The
//! rarer checkpoints (a failure, a retry, a hand-back: they also change
//! other steps) are written one by one in the same transaction.

use crate::job::{Job, JobId, JobStatus};
use crate::store::codec::{JOB_COLUMNS, LedgerRow, db, job_from_row, micros, now};
use crate::store::dialect::{Affected, Dialect};
use crate::store::rules::{check_step_outcome, completion_transition, no_such_step};
use crate::store::sql::{SqlBuilder, query_with};
use crate::store::tx::Tx;
use crate::store::{Completion, FinishedStep, NewLogLine, RunCheckpoint};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A fenced job's row and chain head, by job id.
type Fenced = HashMap<String, (Job, Option<String>)>;

impl<D: Dialect> Tx<D> {
    /// Lock the rows of the jobs in `batch`, in job-id order (so two
    /// batches can never wait on each other in a cycle), in one
    /// statement; return those that still run under the checkpoint's
    /// lease. The rows are looked up by id alone, so the planner goes by
    /// the primary key (a status filter let it pick the partial index of
    /// running jobs, full of dead entries during a drain); the fence is
    /// checked here.
    pub(crate) async fn lock_fenced(
        conn: &mut D::Connection,
        batch: &[RunCheckpoint],
    ) -> Result<Fenced> {
        let mut qb = SqlBuilder::<D>::new("SELECT ");
        qb.push(JOB_COLUMNS)
            .push(", event_head FROM jobs WHERE id IN ");
        qb.push_in(batch.iter().map(|cp| cp.job.as_str()))
            .push(" ORDER BY id")
            .push(D::LOCK_ROW);
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("checking the leases"))?;
        let leases: HashMap<&str, &str> = batch
            .iter()
            .map(|cp| (cp.job.as_str(), cp.lease_id.as_str()))
            .collect();
        let mut fenced = HashMap::with_capacity(rows.len());
        for row in &rows {
            let job = job_from_row(row)?;
            let held = job.status == JobStatus::Running
                && job.lease.as_ref().map(|l| l.id.as_str())
                    == leases.get(job.id.as_str()).copied();
            if !held {
                continue;
            }
            let head = row.opt_text("event_head")?;
            fenced.insert(job.id.as_str().to_string(), (job, head));
        }
        Ok(fenced)
    }

    /// Whether the batch path writes `cp`: the job goes on, or ends in
    /// success (which leaves no other step to change).
    pub(crate) fn foldable(cp: &RunCheckpoint) -> bool {
        matches!(cp.completion, None | Some(Completion::Succeeded))
    }

    /// [`StepStore::record_checkpoints`](crate::store::StepStore::record_checkpoints)
    /// inside the caller's transaction. A refused checkpoint (invalid,
    /// or its lease lost) writes nothing and does not stop the others.
    pub(crate) async fn record_checkpoints_in(
        conn: &mut D::Connection,
        batch: &[RunCheckpoint],
    ) -> Result<Vec<Result<Option<Job>>>> {
        // A run writes its checkpoints one after another, so a job
        // appears once per batch; if not, the later ones must see the
        // earlier ones' chain: write them one by one.
        let mut seen = std::collections::HashSet::with_capacity(batch.len());
        if !batch.iter().all(|cp| seen.insert(cp.job.as_str())) {
            let mut results = Vec::with_capacity(batch.len());
            for cp in batch {
                results.push(Self::record_checkpoint_in(&mut *conn, cp).await?);
            }
            return Ok(results);
        }
        let fenced = Self::lock_fenced(&mut *conn, batch).await?;
        let mut results: Vec<Option<Result<Option<Job>>>> =
            std::iter::repeat_with(|| None).take(batch.len()).collect();
        let mut folded = Vec::with_capacity(batch.len());
        let mut at = Vec::with_capacity(batch.len());
        for (i, cp) in batch.iter().enumerate() {
            if let Some(step) = &cp.step
                && let Err(e) = check_step_outcome(&step.outcome)
            {
                results[i] = Some(Err(e));
                continue;
            }
            let Some((job, head)) = fenced.get(cp.job.as_str()) else {
                results[i] = Some(Err(Self::not_fenced(&mut *conn, &cp.job).await));
                continue;
            };
            if Self::foldable(cp) {
                folded.push((cp, job, head));
                at.push(i);
            } else {
                let written = Self::write_checkpoint(&mut *conn, cp, job, head.clone()).await?;
                results[i] = Some(Ok(written));
            }
        }
        let written = Self::write_folded(&mut *conn, &folded).await?;
        for (i, result) in at.into_iter().zip(written) {
            results[i] = Some(Ok(result));
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Store("checkpoint skipped".into()))))
            .collect())
    }

    /// Write fenced, foldable checkpoints (each with its job's locked
    /// row and chain head), one statement per kind; returns each one's
    /// completed job (`None`: it goes on), in order.
    pub(crate) async fn write_folded(
        conn: &mut D::Connection,
        folded: &[(&RunCheckpoint, &Job, &Option<String>)],
    ) -> Result<Vec<Option<Job>>> {
        if folded.is_empty() {
            return Ok(Vec::new());
        }
        let now = now();
        let cps: Vec<&RunCheckpoint> = folded.iter().map(|(cp, _, _)| *cp).collect();
        let lines: Vec<(&str, &NewLogLine)> = cps
            .iter()
            .filter_map(|cp| cp.step.as_ref().map(|s| (cp.job.as_str(), s)))
            .flat_map(|(id, s)| s.logs.iter().map(move |l| (id, l)))
            .collect();
        Self::insert_log_rows(&mut *conn, &lines).await?;
        let steps: Vec<(&JobId, &FinishedStep)> = cps
            .iter()
            .filter_map(|cp| cp.step.as_ref().map(|s| (&cp.job, s)))
            .collect();
        Self::finish_steps(&mut *conn, &steps, now).await?;
        // Chain each job's events; a completion's head goes in with its
        // status change, the others' with one head update.
        let mut events = Vec::new();
        let mut completions = Vec::new();
        let mut heads = Vec::new();
        for (cp, job, head) in folded {
            let mut new = cp
                .step
                .as_ref()
                .map(|s| Self::step_end_events(s, now))
                .unwrap_or_default();
            if cp.completion.is_some() {
                let t = completion_transition(job, &cp.lease_id, Completion::Succeeded);
                new.push(("status", Self::status_event_data(job.status, &t), now));
            }
            let (rows, new_head) = Self::chain_events(&cp.job, (*head).clone(), new);
            events.extend(rows.into_iter().map(|r| (cp.job.as_str(), r)));
            match (new_head, cp.completion.is_some()) {
                (Some(h), true) => completions.push((cp, h)),
                (Some(h), false) => heads.push((cp.job.as_str(), h)),
                (None, _) => {}
            }
        }
        if !events.is_empty() {
            Self::insert_event_rows(&mut *conn, events, "appending events").await?;
        }
        Self::move_heads(&mut *conn, &heads).await?;
        let mut done = Self::succeed_jobs(&mut *conn, &completions, now).await?;
        cps.iter()
            .map(|cp| match cp.completion {
                None => Ok(None),
                Some(_) => done.remove(cp.job.as_str()).map(Some).ok_or_else(|| {
                    // The rows are locked and fenced: the CAS cannot miss,
                    // and if it did the transaction must not commit.
                    Error::LeaseLost(cp.job.clone())
                }),
            })
            .collect()
    }

    /// Record each `(job, step)`'s end (and its start, if it was not
    /// recorded) in one statement.
    pub(crate) async fn finish_steps(
        conn: &mut D::Connection,
        steps: &[(&JobId, &FinishedStep)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if steps.is_empty() {
            return Ok(());
        }
        // `column1` ...: the names both backends give a VALUES list's columns.
        let mut qb = SqlBuilder::<D>::new(
            "UPDATE steps SET status = v.column3, exit_code = v.column4, \
             finished_at = v.column5, output_bytes = v.column6, truncated = v.column7, \
             error = v.column8, started_at = COALESCE(v.column9, steps.started_at) FROM (",
        );
        qb.push_values(steps, |row, (id, step)| {
            let outcome = &step.outcome;
            row.push_bind(id.as_str())
                .push_bind(i64::from(step.index))
                .push_bind(outcome.status.as_str())
                .push_bind(outcome.exit_code.map(i64::from))
                .push_bind(micros(now))
                .push_bind(i64::try_from(outcome.output_bytes).unwrap_or(i64::MAX))
                .push_bind(outcome.truncated)
                .push_bind(outcome.error.as_deref())
                .push_bind(step.started_at.map(micros));
        });
        qb.push(") AS v WHERE steps.job_id = v.column1 AND steps.idx = v.column2");
        let (sql, args) = qb.into_parts()?;
        let changed = query_with::<D>(&sql, args)
            .execute(&mut *conn)
            .await
            .map_err(db("finishing steps"))?
            .rows_affected();
        if changed != steps.len() as u64 {
            // Which one is missing is told when each is written alone
            // (the group committer's fallback).
            return Err(match steps {
                [(id, step)] => no_such_step(id, step.index),
                _ => Error::Store(format!(
                    "{} of {} finished steps do not exist",
                    steps.len() as u64 - changed,
                    steps.len()
                )),
            });
        }
        Ok(())
    }

    /// Move each `(job, head)`'s chain head, in one statement.
    pub(crate) async fn move_heads(
        conn: &mut D::Connection,
        heads: &[(&str, String)],
    ) -> Result<()> {
        if heads.is_empty() {
            return Ok(());
        }
        let mut qb = SqlBuilder::<D>::new("UPDATE jobs SET event_head = heads.column2 FROM (");
        qb.push_values(heads, |row, (id, hash)| {
            row.push_bind(*id).push_bind(hash.as_str());
        });
        qb.push(") AS heads WHERE jobs.id = heads.column1");
        let (sql, args) = qb.into_parts()?;
        query_with::<D>(&sql, args)
            .execute(&mut *conn)
            .await
            .map_err(db("moving the event chain heads"))?;
        Ok(())
    }

    /// End each fenced `(checkpoint, new head)`'s job in success, in one
    /// compare-and-set statement: the change
    /// [`completion_transition`] and [`Tx::transition`] make
    /// for [`Completion::Succeeded`] (no error, lease cleared, finished
    /// now), guarded by each job's lease. Returns the changed jobs by id.
    pub(crate) async fn succeed_jobs(
        conn: &mut D::Connection,
        jobs: &[(&&RunCheckpoint, String)],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, Job>> {
        if jobs.is_empty() {
            return Ok(HashMap::new());
        }
        let mut qb = SqlBuilder::<D>::new("UPDATE jobs SET status = ");
        qb.push_bind(JobStatus::Succeeded.as_str())
            .push(
                ", error = NULL, lease_id = NULL, lease_worker = NULL, \
                 lease_expires_at = NULL, finished_at = ",
            )
            .push_bind(micros(now))
            .push(", event_head = v.column2 FROM (");
        qb.push_values(jobs, |row, (cp, head)| {
            row.push_bind(cp.job.as_str())
                .push_bind(head.as_str())
                .push_bind(cp.lease_id.as_str());
        });
        qb.push(") AS v WHERE jobs.id = v.column1 AND jobs.lease_id = v.column3");
        Self::push_status_in(&mut qb, &JobStatus::allowed_from(JobStatus::Succeeded));
        qb.push(" RETURNING ").push(JOB_COLUMNS);
        let (sql, args) = qb.into_parts()?;
        let rows = query_with::<D>(&sql, args)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("completing jobs"))?;
        let mut done = HashMap::with_capacity(rows.len());
        for row in &rows {
            let job = job_from_row(row)?;
            done.insert(job.id.as_str().to_string(), job);
        }
        Ok(done)
    }
}
