//! The global event log (`event_log`) and its durable consumers
//! (`event_consumers`), for every dialect.
//!
//! Job lifecycle events are written by [`Tx::log_lifecycle`] beside the
//! job's chained events, in the same transaction, from
//! [`crate::events::from_job`]'s mapping; system events by
//! [`EventLogStore::record_event`]. Readers go in commit order (see
//! [`Dialect::EVENT_LOG_AFTER`]), so a consumer that stores the position of
//! the last event it handled misses nothing. gc removes the log's old
//! prefix and leaves an anchor ([`crate::store::event_log_anchors`]); a
//! page read from before it carries the anchor ([`EventPage::pruned`]).

use crate::events::from_job::{LEDGER_SOURCE, lifecycle_events};
use crate::events::{EventPayload, EventPosition, EventType, NewSystemEvent, SystemEvent};
use crate::job::JobId;
use crate::principal::{Principal, Visibility};
use crate::store::codec::{LedgerRow, db, micros, now, time};
use crate::store::dialect::Dialect;
use crate::store::event_log_anchors::{EventLogAnchor, EventLogRetention};
use crate::store::ledger::Ledger;
use crate::store::sql::{SqlBuilder, query, query_with};
use crate::store::tx::Tx;
use crate::{Error, Result};
use async_trait::async_trait;
use serde_json::Value;

/// Events per multi-row insert (5 parameters each).
const INSERT_CHUNK: usize = 500;
/// Events read by id per statement (one parameter each).
const READ_CHUNK: usize = 500;
/// The longest consumer name accepted.
pub const MAX_CONSUMER_NAME: usize = 128;

/// What part of the global log a caller may see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogView {
    /// Whose jobs' events (`All` for the operator, `admin`, `read:all`).
    pub jobs: Visibility,
    /// Whether system events (no job) are shown.
    pub system: bool,
}

impl LogView {
    /// Everything (the local operator, an admin, an in-process consumer).
    pub fn all() -> Self {
        LogView {
            jobs: Visibility::All,
            system: true,
        }
    }

    /// Whether an event about a job owned by `owner` (or, with `None`, a
    /// system event) is visible.
    pub fn admits(&self, owner: Option<&Principal>) -> bool {
        match owner {
            None => self.system,
            Some(owner) => self.jobs.admits(owner),
        }
    }
}

/// Which events of the global log to read.
#[derive(Debug, Clone, Default)]
pub struct EventLogQuery {
    /// Only events after this position.
    pub after: EventPosition,
    /// At most this many rows are scanned (1..=1000; 0 means 100).
    pub limit: u32,
    /// Only these types (empty = every type).
    pub types: Vec<EventType>,
    /// Only this job's events.
    pub job: Option<JobId>,
    /// Whose events the caller may see.
    pub view: LogView,
}

impl EventLogQuery {
    /// The most rows a page may scan.
    pub const MAX_LIMIT: u32 = 1000;

    /// The rows its page scans: `limit` within 1..=[`Self::MAX_LIMIT`],
    /// 100 when 0.
    pub fn page_limit(&self) -> u32 {
        match self.limit {
            0 => 100,
            n => n.min(Self::MAX_LIMIT),
        }
    }
}

/// One page of the global log.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// The ranges gc removed that end after the query's position, oldest
    /// first: the reader's gap, which comes before `events`. Empty unless
    /// the reader was behind a pruned prefix.
    pub pruned: Vec<EventLogAnchor>,
    /// The events that pass the query's filters, in commit order.
    pub events: Vec<SystemEvent>,
    /// Where the next page starts: past every row scanned, shown or not,
    /// and past every pruned range in `pruned`.
    pub next: EventPosition,
    /// Rows scanned (shown or not): fewer than the limit means the page
    /// reached the end of the log.
    pub scanned: usize,
}

/// The global event log and its consumers' positions.
#[async_trait]
pub trait EventLogStore: Send + Sync {
    /// Record a system event in its own transaction (job lifecycle events
    /// are written by the job's own writes).
    async fn record_event(&self, event: &NewSystemEvent) -> Result<()>;
    /// A page of events after `query.after`, in commit order.
    async fn read_event_log(&self, query: &EventLogQuery) -> Result<EventPage>;
    /// [`EventLogStore::read_event_log`] for a reader that polls the log
    /// and keeps its own position (a durable consumer, the webhook loop):
    /// with [`LogView::all`] and no job, served where it can be from the
    /// handle's shared tail of recent events, so the process's pollers
    /// share one read of the ledger. Its pages may end at other events
    /// than a direct read's, and `scanned` then counts the events held,
    /// but nothing is skipped and a short page still means the log's end.
    async fn poll_event_log(&self, query: &EventLogQuery) -> Result<EventPage> {
        self.read_event_log(query).await
    }
    /// The stored position of consumer `name`, if it ever stored one.
    async fn consumer_position(&self, name: &str) -> Result<Option<EventPosition>>;
    /// Store `position` for consumer `name`; it only moves forward. Returns
    /// the position now stored.
    async fn advance_consumer(&self, name: &str, position: EventPosition) -> Result<EventPosition>;
}

fn check_consumer(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_CONSUMER_NAME
        || name.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::InvalidInput(format!(
            "consumer name {name:?} must be 1 to {MAX_CONSUMER_NAME} printable characters \
             without spaces"
        )));
    }
    Ok(())
}

/// A row to insert: type, time (micros), source, job, payload JSON.
type LogRow<'a> = (&'static str, i64, &'a str, Option<&'a str>, String);

impl<D: Dialect> Tx<D> {
    /// Write the global log's lifecycle events for chained events of
    /// `(job, kind, data, at micros)`, in the caller's transaction.
    pub(crate) async fn log_lifecycle<'a>(
        conn: &mut D::Connection,
        chained: impl IntoIterator<Item = (&'a str, &'a str, &'a Value, i64)>,
    ) -> Result<()> {
        let rows: Vec<LogRow<'a>> = chained
            .into_iter()
            .flat_map(|(job, kind, data, at)| {
                lifecycle_events(kind, data).into_iter().map(move |p| {
                    let t = p.event_type().as_str();
                    (t, at, LEDGER_SOURCE, Some(job), p.to_json().to_string())
                })
            })
            .collect();
        Self::insert_event_log_rows(conn, rows).await
    }

    /// The webhook bodies of the log's events at `positions` (see
    /// [`crate::events::webhooks::delivery_body`]), by position; events
    /// pruned from the log are not in the answer.
    pub(crate) async fn delivery_bodies(
        conn: &mut D::Connection,
        positions: &[(i64, i64)],
    ) -> Result<std::collections::HashMap<(i64, i64), String>> {
        let mut bodies = std::collections::HashMap::new();
        for chunk in positions.chunks(READ_CHUNK) {
            let mut qb = SqlBuilder::<D>::new(
                "SELECT e.id, e.xid, e.type, e.at, e.source, e.job_id, e.payload, \
                 CAST(NULL AS TEXT) AS principal FROM event_log e WHERE e.id IN ",
            );
            qb.push_in(chunk.iter().map(|(_, id)| *id));
            let (sql, args) = qb.into_parts()?;
            let rows = query_with::<D>(&sql, args)
                .fetch_all(&mut *conn)
                .await
                .map_err(db("reading events of webhook deliveries"))?;
            for row in &rows {
                let position = row_position(row)?;
                let (event, _) = log_event_from_row(row, position, row_type(row)?)?;
                let body = crate::events::webhooks::delivery_body(&event)?;
                bodies.insert((position.xid, position.id), body);
            }
        }
        Ok(bodies)
    }

    /// Insert global log rows, a chunk per statement.
    pub(crate) async fn insert_event_log_rows(
        conn: &mut D::Connection,
        rows: Vec<LogRow<'_>>,
    ) -> Result<()> {
        for chunk in rows.chunks(INSERT_CHUNK) {
            let mut qb =
                SqlBuilder::<D>::new("INSERT INTO event_log (type, at, source, job_id, payload) ");
            qb.push_values(chunk, |row, (t, at, source, job, payload)| {
                row.push_bind(*t)
                    .push_bind(*at)
                    .push_bind(*source)
                    .push_bind(*job)
                    .push_bind(payload.as_str());
            });
            let (sql, args) = qb.into_parts()?;
            query_with::<D>(&sql, args)
                .execute(&mut *conn)
                .await
                .map_err(db("recording events in the global log"))?;
        }
        Ok(())
    }

    /// Record system events in the caller's transaction.
    pub(crate) async fn record_events_in(
        conn: &mut D::Connection,
        events: &[NewSystemEvent],
    ) -> Result<()> {
        let rows = events
            .iter()
            .map(|e| {
                (
                    e.event_type().as_str(),
                    micros(e.at),
                    e.source.as_str(),
                    e.job.as_ref().map(JobId::as_str),
                    e.payload.to_json().to_string(),
                )
            })
            .collect();
        Self::insert_event_log_rows(conn, rows).await
    }
}

/// The page read, with the job's owner beside each row (built once per
/// dialect in `Queries`): `$3` rows of the log after position `$1, $2`
/// (and of job `$4`, or `$5` with types, when `by_job`).
///
/// With `of_types`, `$4` lists the types asked for as `,a,b,`: only rows
/// of those types come back with their payload and owner, and one more
/// row marks the page's end (the last row scanned, whatever its type,
/// with `scanned`, how many rows the page held, and nothing else). A
/// reader of a few types so copies a few rows per page, not every row.
/// The match is a `LIKE`, so it may let through more than asked (`_`
/// matches any character), never less; the exact filter is applied to the
/// rows read. Without `of_types` every row comes back and none marks the
/// end.
pub(crate) fn read_sql<D: Dialect>(by_job: bool, of_types: bool) -> String {
    let job = match (by_job, of_types) {
        (false, _) => "",
        (true, false) => " AND e.job_id = $4",
        (true, true) => " AND e.job_id = $5",
    };
    if !of_types {
        return format!(
            "SELECT e.id, e.xid, e.type, e.at, e.source, e.job_id, e.payload, \
             (SELECT j.principal FROM jobs j WHERE j.id = e.job_id) AS principal, \
             CAST(NULL AS BIGINT) AS scanned FROM event_log e \
             WHERE {}{job} ORDER BY {} LIMIT $3",
            D::EVENT_LOG_AFTER,
            D::EVENT_LOG_ORDER
        );
    }
    let page = format!(
        "SELECT e.id, e.xid, e.type, e.at, e.source, e.job_id FROM event_log e \
         WHERE {}{job} ORDER BY {} LIMIT $3",
        D::EVENT_LOG_AFTER,
        D::EVENT_LOG_ORDER
    );
    // Payload and owner are looked up for the rows that come back only.
    let columns = "p.id, p.xid, p.type, p.at, p.source, p.job_id, \
         (SELECT x.payload FROM event_log x WHERE x.id = p.id) AS payload, \
         (SELECT j.principal FROM jobs j WHERE j.id = p.job_id) AS principal, \
         CAST(NULL AS BIGINT) AS scanned";
    format!(
        "WITH page AS MATERIALIZED ({page}) \
         SELECT {columns} FROM page p WHERE $4 LIKE ('%,' || p.type || ',%') \
         UNION ALL SELECT * FROM (SELECT p.id, p.xid, p.type, CAST(NULL AS BIGINT), NULL, NULL, \
         NULL, NULL, (SELECT count(*) FROM page) FROM page p ORDER BY {} LIMIT 1) edge",
        D::EVENT_LOG_ORDER_DESC.replace("e.", "p.")
    )
}

/// The types asked for as [`read_sql`]'s `$4` takes them.
fn taken_list(types: &[EventType]) -> String {
    if types.is_empty() {
        return String::new();
    }
    let mut list = String::from(",");
    for t in types {
        list.push_str(t.as_str());
        list.push(',');
    }
    list
}

fn row_position(row: &impl LedgerRow) -> Result<EventPosition> {
    Ok(EventPosition {
        xid: row.int("xid")?,
        id: row.int("id")?,
    })
}

fn row_type(row: &impl LedgerRow) -> Result<EventType> {
    row.text("type")?
        .parse()
        .map_err(|e| Error::Store(format!("the global event log holds {e}")))
}

fn log_event_from_row(
    row: &impl LedgerRow,
    position: EventPosition,
    event_type: EventType,
) -> Result<(SystemEvent, Option<Principal>)> {
    let payload: Value = serde_json::from_str(&row.text("payload")?)
        .map_err(|e| Error::Store(format!("an event's payload is not JSON: {e}")))?;
    let job = row
        .opt_text("job_id")?
        .map(|j| JobId::parse(&j))
        .transpose()
        .map_err(|_| Error::Store("malformed job id in the global event log".into()))?;
    let owner = row.opt_text("principal")?.map(Principal::new).transpose()?;
    Ok((
        SystemEvent {
            id: position.id,
            position: position.to_string(),
            event_type,
            at: time(row.int("at")?)?,
            source: row.text("source")?,
            job,
            payload: EventPayload::decode(event_type, payload)?,
        },
        owner,
    ))
}

#[async_trait]
impl<D: Dialect> EventLogStore for Ledger<D> {
    async fn record_event(&self, event: &NewSystemEvent) -> Result<()> {
        let mut conn = self
            .write
            .acquire()
            .await
            .map_err(db("recording an event"))?;
        Tx::<D>::record_events_in(&mut conn, std::slice::from_ref(event)).await
    }

    async fn read_event_log(&self, q: &EventLogQuery) -> Result<EventPage> {
        let limit = q.page_limit();
        let of_types = usize::from(!q.types.is_empty());
        let sql = match q.job {
            Some(_) => &D::sql().job_event_log_after[of_types],
            None => &D::sql().event_log_after[of_types],
        };
        let mut stmt = query::<D>(sql)
            .bind(q.after.xid)
            .bind(q.after.id)
            .bind(i64::from(limit));
        if of_types == 1 {
            stmt = stmt.bind(taken_list(&q.types));
        }
        if let Some(job) = &q.job {
            stmt = stmt.bind(job.as_str());
        }
        let rows = stmt
            .fetch_all(&self.read)
            .await
            .map_err(db("reading the global event log"))?;
        // Read after the rows: a prune committed in between is reported
        // (its range may then overlap rows read, which is harmless).
        let pruned = self.event_log_anchors_after(q.after).await?;
        let mut next = q.after;
        let mut scanned = None;
        let mut events = Vec::new();
        for row in &rows {
            let position = row_position(row)?;
            next = next.max(position);
            if let Some(n) = row.opt_int("scanned")? {
                // The page's end (see `read_sql`), not an event.
                scanned = Some(usize::try_from(n).unwrap_or(0));
                continue;
            }
            let event_type = row_type(row)?;
            if !q.types.is_empty() && !q.types.contains(&event_type) {
                // Let through by the LIKE; not asked for.
                continue;
            }
            let (event, owner) = log_event_from_row(row, position, event_type)?;
            let visible = match &event.job {
                None => q.view.admits(None),
                // A job gone from the ledger is shown to those who see all.
                Some(_) => match &owner {
                    Some(owner) => q.view.admits(Some(owner)),
                    None => q.view.jobs == Visibility::All,
                },
            };
            if visible {
                events.push((position, event));
            }
        }
        // A union keeps no order: commit order again.
        events.sort_by_key(|(position, _)| *position);
        let events = events.into_iter().map(|(_, e)| e).collect();
        for anchor in &pruned {
            next = next.max(anchor.through()?);
        }
        let scanned = scanned.unwrap_or(rows.len());
        Ok(EventPage {
            pruned,
            events,
            next,
            scanned,
        })
    }

    async fn poll_event_log(&self, q: &EventLogQuery) -> Result<EventPage> {
        self.tail
            .page(q, |q| async move { self.read_event_log(&q).await })
            .await
    }

    async fn consumer_position(&self, name: &str) -> Result<Option<EventPosition>> {
        check_consumer(name)?;
        // Read beside the writer, not through it: a position is only
        // stored by committed writes, which every read connection sees.
        let row = query::<D>("SELECT xid, id FROM event_consumers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await
            .map_err(db("reading a consumer's position"))?;
        row.map(|r| {
            Ok(EventPosition {
                xid: r.int("xid")?,
                id: r.int("id")?,
            })
        })
        .transpose()
    }

    async fn advance_consumer(&self, name: &str, to: EventPosition) -> Result<EventPosition> {
        check_consumer(name)?;
        let row = query::<D>(
            "INSERT INTO event_consumers (name, xid, id, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, id = excluded.id, \
             updated_at = excluded.updated_at \
             WHERE (event_consumers.xid, event_consumers.id) < (excluded.xid, excluded.id) \
             RETURNING xid, id",
        )
        .bind(name)
        .bind(to.xid)
        .bind(to.id)
        .bind(micros(now()))
        .fetch_optional(&self.write)
        .await
        .map_err(db("storing a consumer's position"))?;
        match row {
            Some(r) => Ok(EventPosition {
                xid: r.int("xid")?,
                id: r.int("id")?,
            }),
            None => Ok(self.consumer_position(name).await?.unwrap_or(to)),
        }
    }
}
