//! The initiative engine's ledger: its kill switch (`initiative_state`, one
//! row) and its budgets, counted from the `jobs` table itself (every job
//! with source `initiative`, whatever its status). A proposal's budget
//! check and its job's insert are one transaction holding the kill-switch
//! row's lock (`FOR UPDATE` on PostgreSQL, SQLite's write lock), so no
//! restart and no second process can exceed a budget.

use crate::events::NewSystemEvent;
use crate::job::{Job, JobSource, JobStatus};
use crate::risk::RiskLevel;
use crate::store::codec::{LedgerRow, db, micros, status_literal, time};
use crate::store::dialect::Dialect;
use crate::store::ledger::{Ledger, commit};
use crate::store::sql::query;
use crate::store::tx::Tx;
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// How many initiative jobs may be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitiativeBudget {
    /// Jobs created in any hour (default 5).
    pub per_hour: u32,
    /// Jobs created in any day (default 20).
    pub per_day: u32,
    /// Jobs waiting for approval at once (default 3).
    pub max_waiting: u32,
}

impl Default for InitiativeBudget {
    fn default() -> Self {
        InitiativeBudget {
            per_hour: 5,
            per_day: 20,
            max_waiting: 3,
        }
    }
}

/// The kill switch and what the budgets have used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InitiativeUsage {
    /// The kill switch: when set, nothing is proposed.
    pub paused: bool,
    /// Who last paused or resumed it.
    pub changed_by: Option<String>,
    /// When (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub changed_at: Option<DateTime<Utc>>,
    /// Initiative jobs created in the last hour.
    pub last_hour: u64,
    /// Initiative jobs created in the last day.
    pub last_day: u64,
    /// Initiative jobs waiting for approval now.
    pub waiting: u64,
}

/// Why a proposal made no job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The kill switch is set.
    Paused,
    /// The hourly budget is spent.
    HourlyBudget,
    /// The daily budget is spent.
    DailyBudget,
    /// Enough proposals already wait for approval.
    WaitingCap,
    /// The same intent is already proposed and not finished.
    Duplicate,
}

impl Refusal {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Paused => "paused",
            Refusal::HourlyBudget => "hourly_budget",
            Refusal::DailyBudget => "daily_budget",
            Refusal::WaitingCap => "waiting_cap",
            Refusal::Duplicate => "duplicate",
        }
    }

    /// Whether a budget ran out (rather than a pause or a duplicate).
    pub fn is_budget(self) -> bool {
        matches!(
            self,
            Refusal::HourlyBudget | Refusal::DailyBudget | Refusal::WaitingCap
        )
    }
}

/// The initiative tables.
#[async_trait]
pub trait InitiativeStore: Send + Sync {
    /// The kill switch and the budgets' use as of `now`.
    async fn initiative_usage(&self, now: DateTime<Utc>) -> Result<InitiativeUsage>;
    /// Set or clear the kill switch, recording who did it.
    async fn set_initiative_paused(&self, paused: bool, by: &str) -> Result<()>;
    /// Insert an initiative `job` (source `initiative`; queued only if
    /// READ_ONLY, else [`Error::NotPermitted`]) unless the kill switch is
    /// set, a budget as of `now` is spent, or the same intent is pending:
    /// the check and the insert are one transaction under the switch's
    /// row lock. `events` (`initiative.proposed`, `initiative.started`)
    /// are recorded in the global log in that transaction when the job
    /// is inserted, and not at all otherwise.
    async fn insert_initiative_job(
        &self,
        job: &Job,
        budget: &InitiativeBudget,
        now: DateTime<Utc>,
        events: &[NewSystemEvent],
    ) -> Result<std::result::Result<Job, Refusal>>;
}

/// Statuses of a job still pending (not finished).
const PENDING: [JobStatus; 5] = [
    JobStatus::Created,
    JobStatus::Planned,
    JobStatus::Queued,
    JobStatus::Running,
    JobStatus::NeedsReview,
];

/// Initiative jobs created after `$1`.
const CREATED_SINCE: &str =
    "SELECT COUNT(*) AS n FROM jobs WHERE source = 'initiative' AND created_at > $1";

/// Initiative jobs waiting for approval.
static WAITING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT COUNT(*) AS n FROM jobs WHERE source = 'initiative' AND status IN ({}, {})",
        status_literal(JobStatus::Created),
        status_literal(JobStatus::Planned)
    )
});

/// Pending initiative jobs with intent `$1`.
static PENDING_INTENT: LazyLock<String> = LazyLock::new(|| {
    let statuses: Vec<String> = PENDING.iter().map(|s| status_literal(*s)).collect();
    format!(
        "SELECT COUNT(*) AS n FROM jobs WHERE source = 'initiative' AND intent = $1 \
         AND status IN ({})",
        statuses.join(", ")
    )
});

impl<D: Dialect> Ledger<D> {
    /// One `COUNT(*) AS n`, optionally bound to a time or a text.
    async fn count(conn: &mut D::Connection, sql: &str, arg: Option<CountArg<'_>>) -> Result<u64> {
        let q = query::<D>(sql);
        let q = match arg {
            Some(CountArg::Since(at)) => q.bind(micros(at)),
            Some(CountArg::Text(t)) => q.bind(t),
            None => q,
        };
        let row = q
            .fetch_one(&mut *conn)
            .await
            .map_err(db("counting initiative jobs"))?;
        Ok(u64::try_from(row.int("n")?).unwrap_or(0))
    }

    /// The usage as of `now`, read on `conn`; with `lock`, the switch's
    /// row stays locked until the caller's transaction ends.
    async fn usage_on(
        conn: &mut D::Connection,
        now: DateTime<Utc>,
        lock: bool,
    ) -> Result<InitiativeUsage> {
        let sql = format!(
            "SELECT paused, changed_by, changed_at FROM initiative_state WHERE id = 1{}",
            if lock { D::LOCK_ROW } else { "" }
        );
        let row = query::<D>(&sql)
            .fetch_one(&mut *conn)
            .await
            .map_err(db("reading the initiative switch"))?;
        Ok(InitiativeUsage {
            paused: row.flag("paused")?,
            changed_by: row.opt_text("changed_by")?,
            changed_at: row.opt_int("changed_at")?.map(time).transpose()?,
            last_hour: Self::count(
                conn,
                CREATED_SINCE,
                Some(CountArg::Since(now - Duration::hours(1))),
            )
            .await?,
            last_day: Self::count(
                conn,
                CREATED_SINCE,
                Some(CountArg::Since(now - Duration::days(1))),
            )
            .await?,
            waiting: Self::count(conn, &WAITING, None).await?,
        })
    }
}

enum CountArg<'a> {
    Since(DateTime<Utc>),
    Text(&'a str),
}

#[async_trait]
impl<D: Dialect> InitiativeStore for Ledger<D> {
    async fn initiative_usage(&self, now: DateTime<Utc>) -> Result<InitiativeUsage> {
        let mut conn = self
            .read
            .acquire()
            .await
            .map_err(db("reading the initiative's usage"))?;
        Self::usage_on(&mut conn, now, false).await
    }
    async fn set_initiative_paused(&self, paused: bool, by: &str) -> Result<()> {
        query::<D>(
            "UPDATE initiative_state SET paused = $1, changed_by = $2, changed_at = $3 \
             WHERE id = 1",
        )
        .bind(paused)
        .bind(by)
        .bind(micros(crate::store::codec::now()))
        .execute(&self.write)
        .await
        .map_err(db("setting the initiative switch"))?;
        Ok(())
    }

    async fn insert_initiative_job(
        &self,
        job: &Job,
        budget: &InitiativeBudget,
        now: DateTime<Utc>,
        events: &[NewSystemEvent],
    ) -> Result<std::result::Result<Job, Refusal>> {
        if job.source != JobSource::Initiative {
            return Err(Error::InvalidInput(format!(
                "an initiative job must have source initiative, not {}",
                job.source.as_str()
            )));
        }
        if job.status != JobStatus::Planned
            && (job.status != JobStatus::Queued || job.risk != RiskLevel::ReadOnly)
        {
            return Err(Error::NotPermitted(format!(
                "an initiative job is queued without a human only when READ_ONLY; this one is \
                 {} and {}",
                job.risk.as_str(),
                job.status
            )));
        }
        crate::store::rules::check_new_job(job)?;
        let mut tx = self.begin().await?;
        let usage = Self::usage_on(&mut tx, now, true).await?;
        let refusal = if usage.paused {
            Some(Refusal::Paused)
        } else if usage.last_hour >= u64::from(budget.per_hour) {
            Some(Refusal::HourlyBudget)
        } else if usage.last_day >= u64::from(budget.per_day) {
            Some(Refusal::DailyBudget)
        } else if job.status == JobStatus::Planned && usage.waiting >= u64::from(budget.max_waiting)
        {
            Some(Refusal::WaitingCap)
        } else if Self::count(&mut tx, &PENDING_INTENT, Some(CountArg::Text(&job.intent))).await?
            > 0
        {
            Some(Refusal::Duplicate)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            return Ok(Err(refusal));
        }
        let stored = Tx::<D>::insert_new_job(&mut tx, job).await?;
        Tx::<D>::record_events_in(&mut tx, events).await?;
        commit(tx).await?;
        if stored.status == JobStatus::Queued {
            D::announce_queued(self);
        }
        Ok(Ok(stored))
    }
}
