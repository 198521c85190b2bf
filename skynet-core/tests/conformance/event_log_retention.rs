//! Retention of the global event log: gc's prefix is exactly the old
//! events before the first young one, removed with an anchor row in their
//! place; readers behind it are told of the gap and move past it; a
//! durable consumer inside it skips it and records a `consumer.gap`; the
//! chains of jobs whose log events went still verify.

use super::*;
use skynet_core::events::{
    Consumer, ConsumerGap, EventHandler, EventPayload, EventPosition, EventType, NewSystemEvent,
    Notice, SystemEvent,
};
use skynet_core::store::event_log::{EventLogQuery, EventPage, LogView};
use std::sync::Mutex;

/// Record a system event (an `error` notice named `subject`) at `at`.
async fn record_at(store: &SharedStore, subject: &str, at: chrono::DateTime<Utc>) {
    let mut event = NewSystemEvent::now(
        "test",
        EventPayload::Error(Notice {
            subject: subject.into(),
            message: String::new(),
        }),
    );
    event.at = skynet_core::store::chain::truncate_to_micros(at);
    store.record_event(&event).await.expect("record");
}

async fn page_after(store: &SharedStore, after: EventPosition) -> EventPage {
    store
        .read_event_log(&EventLogQuery {
            after,
            limit: 1000,
            view: LogView::all(),
            ..Default::default()
        })
        .await
        .expect("read the log")
}

/// The whole log once the event `last` (a subject) is readable: events
/// here are written one transaction after another, so every earlier one
/// is readable then too (on PostgreSQL another test's running transaction
/// may hold reading back for a moment).
async fn read_to(store: &SharedStore, last: &str) -> Vec<SystemEvent> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (events, _) = read_all(store, EventPosition::START, None, LogView::all()).await;
        if events.last().map(subject).as_deref() == Some(last) {
            return events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{last} never came: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn subject(e: &SystemEvent) -> String {
    match &e.payload {
        EventPayload::Error(n) => n.subject.clone(),
        other => format!("{:?}", other.event_type()),
    }
}

/// Three old events, a job's lifecycle events (young), one more old event:
/// the prefix is the three old ones only (the last old one comes after a
/// young one); pruning it leaves an anchor with the same numbers; a reader
/// from the start or from inside the range gets the anchor and moves past
/// it, one at its end does not. A later limit prunes the rest, leaving a
/// second anchor, and the job's chain still verifies.
pub async fn the_event_log_prunes_its_old_prefix_and_leaves_an_anchor(store: SharedStore) {
    let now = skynet_core::store::chain::truncate_to_micros(Utc::now());
    let old = now - chrono::Duration::hours(3);
    for (i, name) in ["old-1", "old-2", "old-3"].iter().enumerate() {
        record_at(&store, name, old + chrono::Duration::seconds(i as i64)).await;
    }
    let job = insert(&store, test_job(&[RiskLevel::ReadOnly])).await;
    record_at(
        &store,
        "old-after-young",
        old + chrono::Duration::seconds(9),
    )
    .await;
    let all = read_to(&store, "old-after-young").await;
    let lifecycle = all.iter().filter(|e| e.job.is_some()).count();
    assert!(lifecycle >= 2, "{all:?}");
    assert_eq!(all.len(), 4 + lifecycle);
    assert!(
        page_after(&store, EventPosition::START)
            .await
            .pruned
            .is_empty()
    );

    let before = now - chrono::Duration::hours(1);
    let prefix = store
        .old_event_prefix(before)
        .await
        .expect("plan")
        .expect("an old prefix");
    assert_eq!(prefix.count, 3);
    assert_eq!((prefix.first_id, prefix.last_id), (all[0].id, all[2].id));
    assert_eq!((prefix.first_at, prefix.last_at), (all[0].at, all[2].at));
    assert_eq!(prefix.through, all[2].position().expect("position"));
    // Planning changed nothing.
    assert_eq!(
        page_after(&store, EventPosition::START).await.events.len(),
        all.len()
    );

    let pruned_at = now + chrono::Duration::seconds(1);
    let anchor = store
        .prune_event_prefix(prefix.through, pruned_at)
        .await
        .expect("prune")
        .expect("an anchor");
    assert_eq!(
        (anchor.count, anchor.first_id, anchor.last_id),
        (3, prefix.first_id, prefix.last_id)
    );
    assert_eq!(
        (anchor.first_at, anchor.last_at),
        (prefix.first_at, prefix.last_at)
    );
    assert_eq!(
        (anchor.through().expect("through"), anchor.pruned_at),
        (prefix.through, pruned_at)
    );
    assert!(
        anchor.summary().starts_with(&format!(
            "pruned 3 events (ids {}..{}, from ",
            all[0].id, all[2].id
        )),
        "{}",
        anchor.summary()
    );

    for reader in [EventPosition::START, all[0].position().expect("position")] {
        let page = page_after(&store, reader).await;
        assert_eq!(page.pruned, vec![anchor.clone()], "reader at {reader}");
        let names: Vec<String> = page.events.iter().map(subject).collect();
        assert_eq!(names.len(), lifecycle + 1, "{names:?}");
        assert_eq!(names.last().map(String::as_str), Some("old-after-young"));
        assert!(page.next > prefix.through);
    }
    let at_end = page_after(&store, prefix.through).await;
    assert!(at_end.pruned.is_empty());
    assert_eq!(at_end.events.len(), lifecycle + 1);
    // Nothing older is left before the first young event.
    assert_eq!(store.old_event_prefix(before).await.expect("plan"), None);
    // A second prune with nothing left at or before the cut does nothing.
    assert_eq!(
        store
            .prune_event_prefix(prefix.through, pruned_at)
            .await
            .expect("again"),
        None
    );

    let later = store
        .old_event_prefix(now + chrono::Duration::hours(1))
        .await
        .expect("plan")
        .expect("the rest");
    assert_eq!(later.count, (lifecycle + 1) as u64);
    let second = store
        .prune_event_prefix(later.through, pruned_at)
        .await
        .expect("prune")
        .expect("an anchor");
    let page = page_after(&store, EventPosition::START).await;
    assert_eq!(page.pruned, vec![anchor.clone(), second.clone()]);
    assert!(page.events.is_empty());
    assert_eq!(page.next, second.through().expect("through"));
    // A reader between the two ranges sees only the second.
    assert_eq!(
        page_after(&store, prefix.through).await.pruned,
        vec![second]
    );
    let report = store.verify_events(&job.id).await.expect("verify");
    assert!(report.intact, "{report:?}");
}

/// Collects what it is handed.
#[derive(Default)]
struct Collect(Mutex<Vec<SystemEvent>>);

#[async_trait::async_trait]
impl EventHandler for Collect {
    fn name(&self) -> &str {
        "collect"
    }
    async fn handle(&self, event: &SystemEvent) -> skynet_core::Result<()> {
        self.0.lock().expect("lock").push(event.clone());
        Ok(())
    }
}

impl Collect {
    fn subjects(&self) -> Vec<String> {
        self.0.lock().expect("lock").iter().map(subject).collect()
    }
}

/// The gap events the log holds.
async fn gaps(store: &SharedStore) -> Vec<ConsumerGap> {
    let (events, _) = read_all(store, EventPosition::START, None, LogView::all()).await;
    events
        .into_iter()
        .filter_map(|e| match e.payload {
            EventPayload::ConsumerGap(g) => Some(g),
            _ => None,
        })
        .collect()
}

/// A durable consumer whose stored position is inside the pruned range
/// gets the events after it, its position moves past the range, and one
/// `consumer.gap` event records where it was, where it resumed and how
/// many events went; a consumer that never stored a position skips
/// without a record.
pub async fn a_consumer_behind_a_pruned_prefix_skips_it_and_records_the_gap(store: SharedStore) {
    let now = Utc::now();
    let old = now - chrono::Duration::hours(3);
    for (i, name) in ["old-1", "old-2", "old-3"].iter().enumerate() {
        record_at(&store, name, old + chrono::Duration::seconds(i as i64)).await;
    }
    record_at(&store, "young", now).await;
    let all = read_to(&store, "young").await;
    assert_eq!(all.len(), 4);
    let inside = all[0].position().expect("position");
    store
        .advance_consumer("behind", inside)
        .await
        .expect("store a position");
    let prefix = store
        .old_event_prefix(now - chrono::Duration::hours(1))
        .await
        .expect("plan")
        .expect("a prefix");
    store
        .prune_event_prefix(prefix.through, now)
        .await
        .expect("prune")
        .expect("an anchor");

    let behind = Consumer::new(store.clone(), "behind");
    let handler = Collect::default();
    assert_eq!(behind.poll_once(&[], &handler).await.expect("poll"), 1);
    assert_eq!(handler.subjects(), ["young"]);
    assert!(behind.position().await.expect("position") > prefix.through);
    let recorded = read_to(&store, "ConsumerGap").await;
    let gap = recorded.last().expect("the gap event");
    assert_eq!(gap.event_type, EventType::ConsumerGap);
    assert_eq!(gap.source, "consumer:behind");
    assert_eq!(
        gaps(&store).await,
        [ConsumerGap {
            consumer: "behind".into(),
            after: inside.to_string(),
            through: prefix.through.to_string(),
            events: 3,
        }]
    );

    // Once past it, no second record.
    let again = Collect::default();
    behind.poll_once(&[], &again).await.expect("poll");
    assert_eq!(again.subjects(), ["ConsumerGap"]);
    let fresh = Consumer::new(store.clone(), "fresh");
    let first = Collect::default();
    fresh.poll_once(&[], &first).await.expect("poll");
    assert_eq!(first.subjects(), ["young", "ConsumerGap"]);
    assert_eq!(
        gaps(&store).await.len(),
        1,
        "no gap for a consumer that never read"
    );
}
