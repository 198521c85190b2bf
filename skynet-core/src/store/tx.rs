//! The transaction helpers every table family shares, written once for
//! every [`Dialect`]: load a job (row-locked where the backend can), append
//! a chained event, and apply a compare-and-set status change with its side
//! effects (lease, timestamps, step checkpoints) and its event. They take
//! the caller's connection (a transaction's), so one store call stays one
//! transaction.

use crate::job::{Job, JobId, JobStatus};
use crate::store::codec::now;
use crate::store::codec::{JOB_COLUMNS, LedgerRow, db, job_from_row, micros, step_from_row};
use crate::store::dialect::Dialect;
use crate::store::rules::{
    Transition, Val, approvable, approval_transition, claim_transition, reap_transition,
    review_transition,
};
use crate::store::sql::{SqlBuilder, query, query_with};
use crate::store::{Event, Reaped, Review, StepRecord, StepStatus, chain};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::marker::PhantomData;

/// The namespace of the shared transaction helpers for dialect `D` (see
/// also `super::checkpoint` and `super::checkpoint_batch`, which add the
/// worker's writers to it).
pub(crate) struct Tx<D>(PhantomData<D>);

impl<D: Dialect> Tx<D> {
    fn push_val(qb: &mut SqlBuilder<'_, D>, v: Val) {
        match v {
            Val::Null => qb.push("NULL"),
            Val::Int(i) => qb.push_bind(i),
            Val::Text(t) => qb.push_bind(t),
        };
    }

    /// Append ` AND status IN (...)` built from core's statuses (never a
    /// hard-coded list); an empty list matches nothing. The statuses are
    /// written as literals, not bound: a prepared statement's generic
    /// plan cannot use the partial indexes (`jobs_claim` on queued jobs,
    /// `jobs_lease` on running ones) for a bound status, and PostgreSQL
    /// then sorted the whole table on every claim.
    pub(crate) fn push_status_in(qb: &mut SqlBuilder<'_, D>, statuses: &[JobStatus]) {
        if statuses.is_empty() {
            qb.push(" AND FALSE");
            return;
        }
        qb.push(" AND status IN (");
        qb.push_list(statuses, |qb, s| {
            qb.push(&crate::store::codec::status_literal(*s));
        });
        qb.push(")");
    }

    /// The job, if it exists, its row locked until the transaction ends:
    /// every read-modify-write of a job (and of its event chain) goes through
    /// here, so they are serialized per job.
    pub(crate) async fn load_job(conn: &mut D::Connection, id: &JobId) -> Result<Option<Job>> {
        let row = query::<D>(&D::sql().load_job)
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("loading a job"))?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The job, or [`Error::JobNotFound`].
    pub(crate) async fn require_job(conn: &mut D::Connection, id: &JobId) -> Result<Job> {
        Self::load_job(conn, id)
            .await?
            .ok_or_else(|| Error::JobNotFound(id.to_string()))
    }

    /// The job's step checkpoints, in order.
    pub(crate) async fn load_steps(
        conn: &mut D::Connection,
        id: &JobId,
    ) -> Result<Vec<StepRecord>> {
        let rows = query::<D>(&D::sql().steps)
            .bind(id.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(db("loading step checkpoints"))?;
        rows.iter().map(step_from_row).collect()
    }

    /// Append one event to the job's chain. `prev` is the job's chain head
    /// when the caller already read it in this transaction (`None` reads it);
    /// `jobs.event_head` moves to the new event in the same transaction
    /// (every writer of events moves the head itself; no trigger does).
    pub(crate) async fn append_event(
        conn: &mut D::Connection,
        id: &JobId,
        kind: &str,
        data: Value,
        at: DateTime<Utc>,
        prev: Option<Option<String>>,
    ) -> Result<Event> {
        let head = match prev {
            Some(head) => head,
            None => {
                let row = query::<D>("SELECT event_head FROM jobs WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db("reading the event chain head"))?;
                let row = row.ok_or_else(|| Error::JobNotFound(id.to_string()))?;
                row.opt_text("event_head")?
            }
        };
        let prev_hash = head.unwrap_or_else(|| chain::genesis(id));
        let at = chain::truncate_to_micros(at);
        let hash = chain::event_hash(&prev_hash, id, kind, &data, at);
        let seq = query::<D>(
            "INSERT INTO events (job_id, kind, data, at, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
        )
        .bind(id.as_str())
        .bind(kind)
        .bind(data.to_string())
        .bind(micros(at))
        .bind(&prev_hash)
        .bind(&hash)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("appending an event"))?
        .int("seq")?;
        Self::move_head(&mut *conn, id, &hash).await?;
        Self::log_lifecycle(&mut *conn, [(id.as_str(), kind, &data, micros(at))]).await?;
        Ok(Event {
            seq,
            job_id: id.clone(),
            kind: kind.to_string(),
            data,
            at,
            prev_hash,
            hash,
        })
    }

    /// Point the job's chain head at `hash`, the newest event just appended.
    pub(crate) async fn move_head(conn: &mut D::Connection, id: &JobId, hash: &str) -> Result<()> {
        query::<D>("UPDATE jobs SET event_head = $1 WHERE id = $2")
            .bind(hash)
            .bind(id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db("moving the event chain head"))?;
        Ok(())
    }

    /// The data of the `status` event `t` causes for a job in `from`.
    pub(crate) fn status_event_data(from: JobStatus, t: &Transition) -> Value {
        let mut data = Map::new();
        data.insert("from".into(), from.as_str().into());
        data.insert("to".into(), t.to.as_str().into());
        data.extend(t.event.clone());
        Value::Object(data)
    }

    /// Apply `t` to `job` (as loaded in this transaction) at `now`: the CAS
    /// update, its step-checkpoint side effects and its `status` event.
    /// Returns the job as changed, or `None` if the CAS matched no row
    /// (nothing changed).
    pub(crate) async fn transition(
        conn: &mut D::Connection,
        job: &Job,
        t: Transition,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>> {
        let Some((changed, head, data)) = Self::transition_unlogged(conn, job, t, now).await?
        else {
            return Ok(None);
        };
        Self::append_event(conn, &job.id, "status", data, now, Some(head)).await?;
        Ok(Some(changed))
    }

    /// [`transition`] without appending its `status` event: returns the
    /// changed job, the chain head before the change and the event's data,
    /// for a caller that appends it together with other events.
    pub(crate) async fn transition_unlogged(
        conn: &mut D::Connection,
        job: &Job,
        t: Transition,
        now: DateTime<Utc>,
    ) -> Result<Option<(Job, Option<String>, Value)>> {
        let to = t.to;
        let data = Self::status_event_data(job.status, &t);
        let mut sets = t.sets;
        if to != JobStatus::Running {
            for col in ["lease_id", "lease_worker", "lease_expires_at"] {
                sets.push((col, Val::Null));
            }
        }
        if to == JobStatus::Queued {
            sets.push(("queued_at", Val::Int(micros(now))));
        }
        if to.is_terminal() {
            sets.push(("finished_at", Val::Int(micros(now))));
        }
        let mut qb = SqlBuilder::<D>::new("UPDATE jobs SET status = ");
        qb.push_bind(to.as_str());
        for (col, v) in sets {
            qb.push(", ").push(col).push(" = ");
            Self::push_val(&mut qb, v);
        }
        qb.push(" WHERE id = ").push_bind(job.id.as_str());
        Self::push_status_in(&mut qb, &t.allowed);
        for (col, value) in t.guards {
            qb.push(" AND ").push(col).push(" = ").push_bind(value);
        }
        // RETURNING hands back the changed row and the chain head without
        // another round trip (the head before the change, unless the
        // caller set `event_head` in `t`).
        qb.push(" RETURNING ")
            .push(JOB_COLUMNS)
            .push(", event_head");
        let (sql, args) = qb.into_parts()?;
        let Some(row) = query_with::<D>(&sql, args)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("changing a job's status"))?
        else {
            return Ok(None);
        };
        let changed = job_from_row(&row)?;
        let head = row.opt_text("event_head")?;
        Self::step_effects(conn, &job.id, to, t.step_error.as_deref(), now).await?;
        Ok(Some((changed, head, data)))
    }

    /// What a status change does to the step checkpoints: back to `queued`
    /// resets the in-flight step to pending (it re-runs); a finish stops the
    /// in-flight step and skips the never-started ones. `needs_review` leaves
    /// the in-flight step `running` (its outcome is unknown) with a note.
    async fn step_effects(
        conn: &mut D::Connection,
        id: &JobId,
        to: JobStatus,
        step_error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let running = StepStatus::Running.as_str();
        if to == JobStatus::Queued {
            // Everything not succeeded runs again on the next attempt.
            query::<D>(
                "UPDATE steps SET status = $1, started_at = NULL, finished_at = NULL, \
                 exit_code = NULL, error = NULL WHERE job_id = $2 AND status NOT IN ($3, $4)",
            )
            .bind(StepStatus::Pending.as_str())
            .bind(id.as_str())
            .bind(StepStatus::Succeeded.as_str())
            .bind(StepStatus::Pending.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db("resetting the in-flight step"))?;
            return Ok(());
        }
        // A success leaves no running or pending step behind: nothing to do.
        if !to.is_terminal() || to == JobStatus::Succeeded {
            return Ok(());
        }
        let stopped = match to {
            JobStatus::Cancelled => Some(StepStatus::Cancelled),
            JobStatus::Failed => Some(StepStatus::Failed),
            JobStatus::TimedOut => Some(StepStatus::TimedOut),
            _ => None,
        };
        match stopped {
            Some(status) => {
                query::<D>(
                    "UPDATE steps SET status = $1, finished_at = $2, error = COALESCE(error, $3) \
                     WHERE job_id = $4 AND status = $5",
                )
                .bind(status.as_str())
                .bind(micros(now))
                .bind(step_error)
                .bind(id.as_str())
                .bind(running)
                .execute(&mut *conn)
                .await
                .map_err(db("stopping the in-flight step"))?;
            }
            None if step_error.is_some() => {
                query::<D>("UPDATE steps SET error = $1 WHERE job_id = $2 AND status = $3")
                    .bind(step_error)
                    .bind(id.as_str())
                    .bind(running)
                    .execute(&mut *conn)
                    .await
                    .map_err(db("noting the in-flight step"))?;
            }
            None => {}
        }
        query::<D>("UPDATE steps SET status = $1 WHERE job_id = $2 AND status = $3")
            .bind(StepStatus::Skipped.as_str())
            .bind(id.as_str())
            .bind(StepStatus::Pending.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db("skipping never-started steps"))?;
        Ok(())
    }

    /// [`JobStore::set_status`](crate::store::JobStore::set_status) inside the
    /// caller's transaction.
    pub(crate) async fn set_status_in(
        conn: &mut D::Connection,
        id: &JobId,
        to: JobStatus,
        change: crate::store::StatusChange,
    ) -> Result<Job> {
        let job = Self::require_job(&mut *conn, id).await?;
        // `running` is entered only by a claim, and `queued` (other than a
        // retry out of `running`) only by an approval bound to the plan hash.
        let reserved =
            to == JobStatus::Running || (to == JobStatus::Queued && approvable(job.status));
        let mut t = Transition::to(to)
            .set("error", change.error.clone().into())
            .step_error(change.error.clone());
        t.allowed.retain(|s| {
            to != JobStatus::Running && !(to == JobStatus::Queued && *s == JobStatus::Planned)
        });
        if let Some(error) = &change.error {
            t = t.note("error", error.clone());
        }
        if let Some(actor) = &change.actor {
            t = t.note("actor", actor.clone());
        }
        let changed = if reserved {
            None
        } else {
            Self::transition(&mut *conn, &job, t, now()).await?
        };
        let Some(changed) = changed else {
            return Err(Error::InvalidTransition {
                job: id.clone(),
                from: job.status,
                to,
            });
        };
        Ok(changed)
    }

    /// [`JobStore::approve`](crate::store::JobStore::approve) inside the
    /// caller's transaction.
    pub(crate) async fn approve_in(
        conn: &mut D::Connection,
        id: &JobId,
        approval: crate::job::Approval,
    ) -> Result<Job> {
        let job = Self::require_job(&mut *conn, id).await?;
        let now = now();
        // Checked in the approving transaction, so every front-end
        // honours the expiry the same way.
        if let Some(expired_at) = job.expires_at
            && job.status == JobStatus::Planned
            && expired_at <= now
        {
            return Err(Error::ApprovalExpired {
                job: id.clone(),
                expired_at,
            });
        }
        let t = approval_transition(&approval, now)?;
        let Some(changed) = Self::transition(&mut *conn, &job, t, now).await? else {
            if !approvable(job.status) {
                return Err(Error::InvalidTransition {
                    job: id.clone(),
                    from: job.status,
                    to: JobStatus::Queued,
                });
            }
            return Err(Error::StaleApproval {
                job: id.clone(),
                given: approval.plan_hash,
                actual: job.plan.map_or_else(|| "(no plan)".to_string(), |p| p.hash),
            });
        };
        Ok(changed)
    }

    /// [`JobStore::resolve_review`](crate::store::JobStore::resolve_review)
    /// inside the caller's transaction.
    pub(crate) async fn resolve_review_in(
        conn: &mut D::Connection,
        id: &JobId,
        review: &Review,
    ) -> Result<Job> {
        let job = Self::require_job(&mut *conn, id).await?;
        if job.status != JobStatus::NeedsReview {
            return Err(Error::NotUnderReview {
                job: id.clone(),
                status: job.status,
            });
        }
        let now = now();
        let t = review_transition(&job, review, now)?;
        // The row is locked and in `needs_review`: only the plan hash
        // guard can refuse the change.
        let Some(changed) = Self::transition(&mut *conn, &job, t, now).await? else {
            return Err(Error::StaleApproval {
                job: id.clone(),
                given: review.plan_hash.clone().unwrap_or_default(),
                actual: job.plan.map_or_else(|| "(no plan)".to_string(), |p| p.hash),
            });
        };
        if changed.status == JobStatus::Succeeded {
            // The reviewer vouches for the interrupted step as well.
            query::<D>(
                "UPDATE steps SET status = $1, finished_at = $2 WHERE job_id = $3 AND status = $4",
            )
            .bind(StepStatus::Succeeded.as_str())
            .bind(micros(now))
            .bind(id.as_str())
            .bind(StepStatus::Running.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db("marking the interrupted step succeeded"))?;
        }
        Ok(changed)
    }

    /// The job `principal` inserted with this idempotency key, if any.
    pub(crate) async fn job_by_key(
        conn: &mut D::Connection,
        principal: &crate::Principal,
        key: &str,
    ) -> Result<Option<Job>> {
        let row = query::<D>(&D::sql().job_by_key)
            .bind(principal.as_str())
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("looking up an idempotency key"))?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Put one queued `job` (loaded in this transaction) under a fresh
    /// lease. `None` if it was not claimable after all.
    pub(crate) async fn claim_one(
        conn: &mut D::Connection,
        job: &Job,
        worker: &str,
        lease: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Job>> {
        let lease_id = uuid::Uuid::now_v7().to_string();
        let t = claim_transition(job, worker, &lease_id, lease, now);
        Self::transition(conn, job, t, now).await
    }

    /// Reap one job if it is still running under `lease_id` and that lease
    /// expired before `cutoff`.
    pub(crate) async fn reap_in(
        conn: &mut D::Connection,
        id: &JobId,
        lease_id: &str,
        cutoff: DateTime<Utc>,
    ) -> Result<Option<Reaped>> {
        let Some(job) = Self::load_job(&mut *conn, id).await? else {
            return Ok(None);
        };
        let still_expired = job.status == JobStatus::Running
            && job
                .lease
                .as_ref()
                .is_some_and(|l| l.id == lease_id && l.expires_at < cutoff);
        if !still_expired {
            return Ok(None);
        }
        let steps = Self::load_steps(&mut *conn, id).await?;
        // Recorded times use the real clock; `cutoff` only selects leases.
        let stamp = now();
        let (t, reaped) = reap_transition(&job, lease_id, &steps, stamp);
        Ok(Self::transition(conn, &job, t, stamp)
            .await?
            .map(|_| reaped))
    }
}
