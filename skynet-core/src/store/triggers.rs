//! Triggers and their firings, for every dialect: `triggers` (one row per
//! trigger) and `trigger_firings` (one row per event a trigger decided on,
//! keyed by `(trigger_id, event_id)`, inserted in the same transaction as
//! the job it submits: an event another process handled first conflicts
//! and writes nothing). The rate limit is counted in `trigger_firings`
//! under the trigger's row lock.

use crate::job::JobStatus;
use crate::principal::Principal;
use crate::store::codec::{LedgerRow, db, micros, time, to_i64};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::query;
use crate::store::tx::Tx;
use crate::triggers::{RateLimit, Trigger, TriggerFired, TriggerFiring};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// The trigger tables.
#[async_trait]
pub trait TriggerStore: Send + Sync {
    /// Store a new trigger.
    async fn insert_trigger(&self, trigger: &Trigger) -> Result<()>;
    /// Triggers, oldest first: `owner`'s only when given.
    async fn triggers(&self, owner: Option<&Principal>) -> Result<Vec<Trigger>>;
    /// Every unpaused trigger (the engine's matching set).
    async fn active_triggers(&self) -> Result<Vec<Trigger>>;
    /// One trigger, or [`Error::TriggerNotFound`] (also when `owner` is
    /// given and is not its owner).
    async fn trigger(&self, id: &str, owner: Option<&Principal>) -> Result<Trigger>;
    /// Pause or resume a trigger; [`Error::TriggerNotFound`] as for
    /// [`TriggerStore::trigger`].
    async fn set_trigger_paused(
        &self,
        id: &str,
        owner: Option<&Principal>,
        paused: bool,
    ) -> Result<Trigger>;
    /// Delete a trigger and its firing rows (its jobs stay);
    /// [`Error::TriggerNotFound`] as for [`TriggerStore::trigger`].
    async fn remove_trigger(&self, id: &str, owner: Option<&Principal>) -> Result<()>;
    /// How many times trigger `id` fired (made a job) after `since`: a
    /// cheap look before planning (the limit itself is enforced by
    /// [`TriggerStore::fire_trigger`]).
    async fn trigger_firings_since(&self, id: &str, since: DateTime<Utc>) -> Result<u64>;
    /// Record a trigger's decision about one event in one transaction:
    /// under the trigger's row lock, its firing row (or, past the rate
    /// limit, a skipped row and no job), its job, and its counters.
    async fn fire_trigger(&self, firing: &TriggerFiring) -> Result<TriggerFired>;
}

fn trigger_from_row(row: &impl LedgerRow) -> Result<Trigger> {
    let conditions = serde_json::from_str(&row.text("conditions")?)
        .map_err(|e| Error::Store(format!("a trigger's conditions are unreadable: {e}")))?;
    let narrow = |name: &str| -> Result<u64> {
        let v = row.int(name)?;
        u64::try_from(v).map_err(|_| Error::Store(format!("a trigger's {name} is {v}")))
    };
    Ok(Trigger {
        id: row.text("id")?,
        name: row.text("name")?,
        principal: Principal::new(row.text("principal")?)
            .map_err(|e| Error::store("malformed principal of a trigger", e))?,
        on: row.text("event_types")?,
        conditions,
        intent: row.text("intent")?,
        rate: RateLimit {
            max_firings: u32::try_from(narrow("max_firings")?).unwrap_or(u32::MAX),
            window_secs: narrow("window_secs")?,
        },
        paused: row.flag("paused")?,
        root: PathBuf::from(row.text("root")?),
        created_at: time(row.int("created_at")?)?,
        fired: narrow("fired")?,
        last_fired_at: row.opt_int("last_fired_at")?.map(time).transpose()?,
    })
}

/// The statement reading one trigger (`$1`) of owner `$2` (NULL: anyone's),
/// its row locked when `lock` (SQLite's write transaction already holds
/// the database's lock).
fn one_sql<D: Dialect>(lock: bool) -> &'static str {
    if lock && !D::LOCK_ROW.is_empty() {
        "SELECT id, name, principal, event_types, conditions, intent, max_firings, \
         window_secs, paused, root, created_at, fired, last_fired_at FROM triggers \
         WHERE id = $1 AND (CAST($2 AS TEXT) IS NULL OR principal = $2) FOR UPDATE"
    } else {
        "SELECT id, name, principal, event_types, conditions, intent, max_firings, \
         window_secs, paused, root, created_at, fired, last_fired_at FROM triggers \
         WHERE id = $1 AND (CAST($2 AS TEXT) IS NULL OR principal = $2)"
    }
}

impl<D: Dialect> Ledger<D> {
    async fn owned_trigger(
        &self,
        conn: &mut D::Connection,
        id: &str,
        owner: Option<&Principal>,
        lock: bool,
    ) -> Result<Trigger> {
        let row = query::<D>(one_sql::<D>(lock))
            .bind(id)
            .bind(owner.map(Principal::as_str))
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("loading a trigger"))?;
        match row {
            Some(row) => trigger_from_row(&row),
            None => Err(Error::TriggerNotFound(id.to_string())),
        }
    }
}

#[async_trait]
impl<D: Dialect> TriggerStore for Ledger<D> {
    async fn insert_trigger(&self, t: &Trigger) -> Result<()> {
        let conditions = serde_json::to_string(&t.conditions)
            .map_err(|e| Error::Store(format!("encoding a trigger's conditions: {e}")))?;
        query::<D>(
            "INSERT INTO triggers (id, name, principal, event_types, conditions, intent, \
             max_firings, window_secs, paused, root, created_at, fired) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)",
        )
        .bind(t.id.as_str())
        .bind(t.name.as_str())
        .bind(t.principal.as_str())
        .bind(t.on.as_str())
        .bind(conditions)
        .bind(t.intent.as_str())
        .bind(i64::from(t.rate.max_firings))
        .bind(to_i64(t.rate.window_secs))
        .bind(t.paused)
        .bind(t.root.to_string_lossy().into_owned())
        .bind(micros(t.created_at))
        .execute(&self.write)
        .await
        .map_err(db("storing a trigger"))?;
        Ok(())
    }

    async fn triggers(&self, owner: Option<&Principal>) -> Result<Vec<Trigger>> {
        let rows = query::<D>(
            "SELECT id, name, principal, event_types, conditions, intent, max_firings, \
             window_secs, paused, root, created_at, fired, last_fired_at FROM triggers \
             WHERE CAST($1 AS TEXT) IS NULL OR principal = $1 ORDER BY created_at, id",
        )
        .bind(owner.map(Principal::as_str))
        .fetch_all(&self.read)
        .await
        .map_err(db("listing triggers"))?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn active_triggers(&self) -> Result<Vec<Trigger>> {
        let rows = query::<D>(
            "SELECT id, name, principal, event_types, conditions, intent, max_firings, \
             window_secs, paused, root, created_at, fired, last_fired_at FROM triggers \
             WHERE NOT paused ORDER BY created_at, id",
        )
        .fetch_all(&self.read)
        .await
        .map_err(db("reading the active triggers"))?;
        rows.iter().map(trigger_from_row).collect()
    }

    async fn trigger(&self, id: &str, owner: Option<&Principal>) -> Result<Trigger> {
        let mut conn = self.read.acquire().await.map_err(db("reading a trigger"))?;
        self.owned_trigger(&mut conn, id, owner, false).await
    }

    async fn set_trigger_paused(
        &self,
        id: &str,
        owner: Option<&Principal>,
        paused: bool,
    ) -> Result<Trigger> {
        let mut tx = self.begin().await?;
        let mut trigger = self.owned_trigger(&mut tx, id, owner, true).await?;
        trigger.paused = paused;
        query::<D>("UPDATE triggers SET paused = $2 WHERE id = $1")
            .bind(id)
            .bind(paused)
            .execute(&mut *tx)
            .await
            .map_err(db("pausing or resuming a trigger"))?;
        commit(tx).await?;
        Ok(trigger)
    }

    async fn remove_trigger(&self, id: &str, owner: Option<&Principal>) -> Result<()> {
        let mut tx = self.begin().await?;
        self.owned_trigger(&mut tx, id, owner, true).await?;
        query::<D>("DELETE FROM trigger_firings WHERE trigger_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("removing a trigger's firings"))?;
        query::<D>("DELETE FROM triggers WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("removing a trigger"))?;
        commit(tx).await
    }

    async fn trigger_firings_since(&self, id: &str, since: DateTime<Utc>) -> Result<u64> {
        let n = query::<D>(
            "SELECT COUNT(*) AS n FROM trigger_firings WHERE trigger_id = $1 \
             AND outcome = 'fired' AND fired_at > $2",
        )
        .bind(id)
        .bind(micros(since))
        .fetch_one(&self.read)
        .await
        .map_err(db("counting a trigger's firings"))?
        .int("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn fire_trigger(&self, firing: &TriggerFiring) -> Result<TriggerFired> {
        let mut tx = self.begin().await?;
        // The trigger's row lock orders concurrent firers (and a pause or
        // a removal) on PostgreSQL, so the count below cannot be raced;
        // SQLite's write lock already does.
        let trigger = match self
            .owned_trigger(&mut tx, &firing.trigger, None, true)
            .await
        {
            Ok(t) => t,
            Err(Error::TriggerNotFound(_)) => return Ok(TriggerFired::Already),
            Err(e) => return Err(e),
        };
        if trigger.paused {
            return Ok(TriggerFired::Already);
        }
        let done = query::<D>(
            "SELECT outcome FROM trigger_firings WHERE trigger_id = $1 AND event_id = $2",
        )
        .bind(firing.trigger.as_str())
        .bind(firing.event)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("reading a trigger's firing"))?;
        if done.is_some() {
            return Ok(TriggerFired::Already);
        }
        let window = chrono::Duration::from_std(trigger.rate.window()).unwrap_or_default();
        let used = query::<D>(
            "SELECT COUNT(*) AS n FROM trigger_firings WHERE trigger_id = $1 \
             AND outcome = 'fired' AND fired_at > $2",
        )
        .bind(firing.trigger.as_str())
        .bind(micros(firing.at - window))
        .fetch_one(&mut *tx)
        .await
        .map_err(db("counting a trigger's firings"))?
        .int("n")?;
        let limited = used >= i64::from(trigger.rate.max_firings);
        let (outcome, job) = match (&firing.job, limited) {
            (_, true) => ("rate_limited", None),
            (Some(job), false) => ("fired", Some(job)),
            (None, false) => ("refused", None),
        };
        let inserted = query::<D>(
            "INSERT INTO trigger_firings (trigger_id, event_id, job_id, outcome, error, fired_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(firing.trigger.as_str())
        .bind(firing.event)
        .bind(job.map(|j| j.id.as_str()))
        .bind(outcome)
        .bind(if limited {
            None
        } else {
            firing.error.as_deref()
        })
        .bind(micros(firing.at))
        .execute(&mut *tx)
        .await
        .map_err(db("recording a trigger's firing"))?;
        if inserted.rows_affected() == 0 {
            return Ok(TriggerFired::Already);
        }
        if limited {
            commit(tx).await?;
            return Ok(TriggerFired::RateLimited);
        }
        let job = match job {
            Some(job) => {
                crate::store::rules::check_new_job(job)?;
                Some(Box::new(Tx::<D>::insert_new_job(&mut tx, job).await?))
            }
            None => None,
        };
        if job.is_some() {
            query::<D>("UPDATE triggers SET fired = fired + 1, last_fired_at = $2 WHERE id = $1")
                .bind(firing.trigger.as_str())
                .bind(micros(firing.at))
                .execute(&mut *tx)
                .await
                .map_err(db("counting a trigger's firing"))?;
        }
        commit(tx).await?;
        if job.as_ref().is_some_and(|j| j.status == JobStatus::Queued) {
            D::announce_queued(self);
        }
        Ok(TriggerFired::Now(job))
    }
}
