//! The shared tail of the global event log: the recent events the
//! process's pollers of the log read (the webhook delivery loop, durable
//! consumers, the step watcher, the trigger loop), held once per store
//! handle so that one read of the ledger serves them all
//! ([`EventLogStore::poll_event_log`](super::event_log::EventLogStore::poll_event_log)).
//!
//! A poller behind the newest event held is served from memory. One that
//! reaches it makes the tail read what the log has gained since, in the
//! same query a direct read makes, and every poller then shares those
//! rows. So a page from the tail is a page a direct read could give, cut
//! at other boundaries: in commit order, nothing skipped, and short only
//! where the log ended a moment ago. Each poller keeps its own stored
//! position. Without it, each poller scanned every row of the log itself
//! (three pollers: three scans of every row, one statement each per page).
//!
//! The tail holds only the types its pollers asked for (a type asked for
//! later is held from then on; a poller of it from before reads the
//! ledger until it passes that point), at most [`HELD`] events (a poller
//! further behind reads the ledger), and never the pages of a pruned range:
//! a poller whose position gc passed reads the ledger, which tells it of
//! the gap.

use crate::Result;
use crate::events::{EventPosition, EventType, SystemEvent};
use crate::store::event_log::{EventLogQuery, EventPage, LogView};
use std::collections::{HashMap, VecDeque};
use std::future::Future;

/// Events held at most; the oldest are dropped first.
const HELD: usize = 20_000;
/// Rows a read of the log scans (the most a page may scan).
const READ: u32 = EventLogQuery::MAX_LIMIT;

/// The tail of one store handle (see the module docs).
#[derive(Default)]
pub(crate) struct LogTail {
    /// Held across a read of the ledger: pollers that reach the end
    /// meanwhile wait for its rows instead of reading them again.
    state: tokio::sync::Mutex<Tail>,
}

impl std::fmt::Debug for LogTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogTail").finish_non_exhaustive()
    }
}

/// Empty at the log's start until a poller comes: one further on
/// restarts it where it stands.
#[derive(Default)]
struct Tail {
    /// Every event of a held type after `from` through `to` is in
    /// `events` (types held since a later point: see `since`).
    from: EventPosition,
    /// Where the last read of the ledger ended.
    to: EventPosition,
    /// The types held, each since the position it was first asked for at.
    since: HashMap<EventType, EventPosition>,
    /// Every type has been held since this position (a poller of every
    /// type asked then).
    all_since: Option<EventPosition>,
    /// The held events in commit order, with their positions.
    events: VecDeque<(EventPosition, SystemEvent)>,
    /// The last read of the ledger reached the log's end.
    at_end: bool,
}

impl LogTail {
    /// A page for query `q` (see `EventLogStore::poll_event_log`), served
    /// from the tail where it can be; `read` reads the ledger directly.
    pub(crate) async fn page<F, Fut>(&self, q: &EventLogQuery, read: F) -> Result<EventPage>
    where
        F: Fn(EventLogQuery) -> Fut,
        Fut: Future<Output = Result<EventPage>>,
    {
        if q.job.is_some() || q.view != LogView::all() {
            return read(q.clone()).await;
        }
        let limit = q.page_limit() as usize;
        let mut tail = self.state.lock().await;
        if q.after > tail.to {
            // Behind this poller (new, or another process moved its
            // stored position on): start again where it stands.
            tail.restart(q.after);
        }
        tail.hold(&q.types);
        if !tail.serves(q) {
            drop(tail);
            return read(q.clone()).await;
        }
        if tail.reaches_end(q.after, limit) {
            // Whether the log ended there is known only by reading it.
            let got = read(EventLogQuery {
                after: tail.to,
                limit: READ,
                types: tail.read_types(),
                job: None,
                view: LogView::all(),
            })
            .await?;
            if let Some(last) = got.pruned.last() {
                // gc passed the tail's end: start after the gap, and let
                // this poller's own read tell it of the gap.
                tail.restart(last.through()?);
                drop(tail);
                return read(q.clone()).await;
            }
            tail.append(got)?;
        }
        Ok(tail.serve(q, limit))
    }
}

impl Tail {
    /// Hold nothing, starting at `at`.
    fn restart(&mut self, at: EventPosition) {
        self.from = at;
        self.to = at;
        self.events.clear();
        self.at_end = false;
        for since in self.since.values_mut() {
            *since = at;
        }
        if let Some(all) = self.all_since.as_mut() {
            *all = at;
        }
    }

    /// Hold `types` (empty: every type) from now on.
    fn hold(&mut self, types: &[EventType]) {
        if self.all_since.is_some() {
            return;
        }
        if types.is_empty() {
            self.all_since = Some(self.to);
            self.since.clear();
            return;
        }
        for t in types {
            self.since.entry(*t).or_insert(self.to);
        }
    }

    /// Whether every event `q` asks for after its position is held.
    fn serves(&self, q: &EventLogQuery) -> bool {
        if q.after < self.from {
            return false;
        }
        if self.all_since.is_some_and(|p| p <= q.after) {
            return true;
        }
        !q.types.is_empty()
            && q.types
                .iter()
                .all(|t| self.since.get(t).is_some_and(|p| *p <= q.after))
    }

    /// The types a read of the ledger asks for (empty: every type).
    fn read_types(&self) -> Vec<EventType> {
        if self.all_since.is_some() {
            return Vec::new();
        }
        let mut types: Vec<EventType> = self.since.keys().copied().collect();
        types.sort();
        types
    }

    /// Add a page read after `to`, dropping the oldest past [`HELD`].
    fn append(&mut self, page: EventPage) -> Result<()> {
        for event in page.events {
            self.events.push_back((event.position()?, event));
        }
        self.to = self.to.max(page.next);
        self.at_end = page.scanned < READ as usize;
        while self.events.len() > HELD {
            if let Some((position, _)) = self.events.pop_front() {
                self.from = position;
            }
        }
        Ok(())
    }

    /// The index of the first held event after `after`.
    fn start(&self, after: EventPosition) -> usize {
        self.events.partition_point(|(p, _)| *p <= after)
    }

    /// Whether a page of `limit` held events after `after` reaches `to`.
    fn reaches_end(&self, after: EventPosition, limit: usize) -> bool {
        self.events.len() - self.start(after) <= limit
    }

    /// The page for `q` from what is held: up to `limit` held events (of
    /// any held type) after its position, those of its types shown. A
    /// page that reaches `to` is short when the last read of the ledger
    /// reached the log's end, as a direct read's is.
    fn serve(&self, q: &EventLogQuery, limit: usize) -> EventPage {
        let start = self.start(q.after);
        let mut events = Vec::new();
        let mut next = q.after;
        let mut counted = 0;
        for (position, event) in self.events.range(start..).take(limit) {
            counted += 1;
            next = *position;
            if q.types.is_empty() || q.types.contains(&event.event_type) {
                events.push(event.clone());
            }
        }
        if start + counted < self.events.len() {
            // Cut at `limit`: more is held.
            return EventPage {
                pruned: Vec::new(),
                events,
                next,
                scanned: limit,
            };
        }
        let scanned = if self.at_end && counted < limit {
            counted
        } else {
            limit
        };
        EventPage {
            pruned: Vec::new(),
            events,
            next: self.to.max(q.after),
            scanned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventPayload, Notice};
    use std::sync::Mutex;

    fn event(id: i64, t: EventType) -> SystemEvent {
        SystemEvent {
            id,
            position: EventPosition { xid: 0, id }.to_string(),
            event_type: t,
            at: chrono::Utc::now(),
            source: "test".into(),
            job: None,
            payload: EventPayload::Error(Notice {
                subject: format!("e{id}"),
                message: String::new(),
            }),
        }
    }

    /// A log of `(id, type)` rows read the way the ledger reads it: after
    /// a position, at most `limit` rows scanned, the asked types shown.
    /// Counts its reads.
    struct FakeLog {
        rows: Mutex<Vec<(i64, EventType)>>,
        reads: Mutex<usize>,
    }

    impl FakeLog {
        fn new(rows: Vec<(i64, EventType)>) -> Self {
            FakeLog {
                rows: Mutex::new(rows),
                reads: Mutex::new(0),
            }
        }
        async fn read(&self, q: EventLogQuery) -> Result<EventPage> {
            *self.reads.lock().expect("lock") += 1;
            let rows = self.rows.lock().expect("lock").clone();
            let limit = if q.limit == 0 { 100 } else { q.limit as usize };
            let scanned: Vec<_> = rows
                .into_iter()
                .filter(|(id, _)| *id > q.after.id)
                .take(limit)
                .collect();
            let next = scanned
                .last()
                .map_or(q.after, |(id, _)| EventPosition { xid: 0, id: *id });
            let events = scanned
                .iter()
                .filter(|(_, t)| q.types.is_empty() || q.types.contains(t))
                .map(|(id, t)| event(*id, *t))
                .collect();
            Ok(EventPage {
                pruned: Vec::new(),
                events,
                next,
                scanned: scanned.len(),
            })
        }
        fn reads(&self) -> usize {
            *self.reads.lock().expect("lock")
        }
    }

    fn query(after: i64, types: &[EventType]) -> EventLogQuery {
        EventLogQuery {
            after: EventPosition { xid: 0, id: after },
            limit: 1000,
            types: types.to_vec(),
            job: None,
            view: LogView::all(),
        }
    }

    /// Read the whole log for `types` through `tail`, page by page, the
    /// way a consumer does; the ids shown.
    async fn drain(tail: &LogTail, log: &FakeLog, types: &[EventType], mut after: i64) -> Vec<i64> {
        let mut ids = Vec::new();
        loop {
            let page = tail
                .page(&query(after, types), |q| log.read(q))
                .await
                .expect("page");
            ids.extend(page.events.iter().map(|e| e.id));
            after = page.next.id;
            if page.scanned < 1000 {
                return ids;
            }
        }
    }

    fn log_of(n: i64) -> Vec<(i64, EventType)> {
        (1..=n)
            .map(|id| {
                let t = match id % 3 {
                    0 => EventType::JobSucceeded,
                    1 => EventType::StepFinished,
                    _ => EventType::JobQueued,
                };
                (id, t)
            })
            .collect()
    }

    #[tokio::test]
    async fn pollers_of_different_types_share_the_reads_and_miss_nothing() {
        // Two pollers stand at the end of an empty log, as the loops do
        // once they have caught up; then 5,000 rows come.
        let log = FakeLog::new(Vec::new());
        let tail = LogTail::default();
        drain(&tail, &log, &[EventType::JobSucceeded], 0).await;
        drain(&tail, &log, &[EventType::StepFinished], 0).await;
        let rows = log_of(5000);
        *log.rows.lock().expect("lock") = rows.clone();
        let want = |t: EventType| -> Vec<i64> {
            rows.iter()
                .filter(|(_, x)| *x == t)
                .map(|(id, _)| *id)
                .collect()
        };
        let before = log.reads();
        let succeeded = drain(&tail, &log, &[EventType::JobSucceeded], 0).await;
        // Five reads of 1,000 rows and one that finds the end.
        assert_eq!(log.reads() - before, 6);
        let steps = drain(&tail, &log, &[EventType::StepFinished], 0).await;
        assert_eq!(succeeded, want(EventType::JobSucceeded));
        assert_eq!(steps, want(EventType::StepFinished));
        // The second poller was served what the first read; it read only
        // to see whether the log had grown at its end.
        assert_eq!(log.reads() - before, 7);
    }

    #[tokio::test]
    async fn rows_written_after_a_read_are_seen_by_the_next_poll() {
        let log = FakeLog::new(log_of(10));
        let tail = LogTail::default();
        let all = drain(&tail, &log, &[], 0).await;
        assert_eq!(all, (1..=10).collect::<Vec<_>>());
        log.rows
            .lock()
            .expect("lock")
            .push((11, EventType::JobSucceeded));
        // A second poller behind the end is served what is held and, as
        // its page reaches the end, what came since: as a direct read.
        let behind = drain(&tail, &log, &[], 5).await;
        assert_eq!(behind, (6..=11).collect::<Vec<_>>());
        let caught_up = drain(&tail, &log, &[], 10).await;
        assert_eq!(caught_up, [11]);
    }

    #[tokio::test]
    async fn a_type_asked_for_later_is_read_from_the_ledger_until_the_tail_holds_it() {
        let log = FakeLog::new(log_of(30));
        let tail = LogTail::default();
        drain(&tail, &log, &[EventType::JobSucceeded], 0).await;
        // Step events were never held: a poller of them from the start
        // reads the ledger, and nothing is missed.
        let steps = drain(&tail, &log, &[EventType::StepFinished], 0).await;
        assert_eq!(steps, (1..=30).filter(|i| i % 3 == 1).collect::<Vec<_>>());
        log.rows
            .lock()
            .expect("lock")
            .push((31, EventType::StepFinished));
        let steps = drain(&tail, &log, &[EventType::StepFinished], 30).await;
        assert_eq!(steps, [31]);
    }

    #[tokio::test]
    async fn a_poller_ahead_of_the_tail_restarts_it_and_one_behind_it_reads_the_ledger() {
        let log = FakeLog::new(log_of(40));
        let tail = LogTail::default();
        drain(&tail, &log, &[], 20).await;
        // Behind where the tail started: read from the ledger directly.
        let early = tail
            .page(&query(5, &[]), |q| log.read(q))
            .await
            .expect("page");
        assert_eq!(early.events.first().map(|e| e.id), Some(6));
        assert_eq!(early.next.id, 40);
        // A filtered view or one job's events are never served from it.
        let mut mine = query(0, &[]);
        mine.view = LogView::default();
        let before = log.reads();
        tail.page(&mine, |q| log.read(q)).await.expect("page");
        assert_eq!(log.reads(), before + 1);
    }

    #[tokio::test]
    async fn a_page_cut_at_its_limit_says_there_is_more() {
        let log = FakeLog::new(log_of(30));
        let tail = LogTail::default();
        drain(&tail, &log, &[], 0).await;
        let mut q = query(0, &[EventType::JobQueued]);
        q.limit = 10;
        let page = tail.page(&q, |q| log.read(q)).await.expect("page");
        // Ten held events scanned, the queued ones among them shown.
        assert_eq!(page.scanned, 10);
        assert_eq!(page.next.id, 10);
        assert_eq!(
            page.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [2, 5, 8]
        );
    }
}
