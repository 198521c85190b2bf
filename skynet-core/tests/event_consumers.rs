//! Durable consumers of the global event log: a consumer killed mid-stream
//! resumes at its stored position, losing nothing, with duplicates only
//! within the page it was handling (SQLite; the PostgreSQL commit-order
//! case is in `store_conformance_postgres.rs`).
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use skynet_core::events::{
    Consumer, EventHandler, EventPayload, NewSystemEvent, Notice, SystemEvent, run_handler,
};
use skynet_core::store::{self, SharedStore};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Keeps the ids it handled; after `stall_after` of them it tells the test
/// and hangs (a consumer frozen mid-page, about to be killed).
struct Recorder {
    seen: Mutex<Vec<i64>>,
    stall_after: Option<usize>,
    stalled: tokio::sync::Notify,
}

impl Recorder {
    fn new(stall_after: Option<usize>) -> Arc<Self> {
        Arc::new(Recorder {
            seen: Mutex::new(Vec::new()),
            stall_after,
            stalled: tokio::sync::Notify::new(),
        })
    }
    fn seen(&self) -> Vec<i64> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventHandler for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    async fn handle(&self, event: &SystemEvent) -> skynet_core::Result<()> {
        let n = {
            let mut seen = self.seen.lock().unwrap();
            seen.push(event.id);
            seen.len()
        };
        if Some(n) == self.stall_after {
            self.stalled.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

async fn store_with_events(n: usize) -> (SharedStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("l.db").display());
    let store = store::connect(&url).await.unwrap();
    for i in 0..n {
        let e = NewSystemEvent::now(
            "test",
            EventPayload::Error(Notice {
                subject: format!("e{i}"),
                message: "m".into(),
            }),
        );
        store.record_event(&e).await.unwrap();
    }
    (store, dir)
}

/// Killed after 25 of 35 events (pages of 10): the restarted consumer
/// starts at the page it was in, and every event is handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_stream_resumes_at_its_offset() {
    let (store, _dir) = store_with_events(35).await;
    let all: Vec<i64> = (1..=35).collect();
    let first = Recorder::new(Some(25));
    let shutdown = CancellationToken::new();
    // Pages of 10 through the Consumer API, the way run_handler drives it.
    let consumer = Consumer::new(store.clone(), "recorder").page_size(10);
    let task = {
        let (consumer, first) = (consumer.clone(), first.clone());
        tokio::spawn(async move {
            loop {
                consumer.poll_once(&[], first.as_ref()).await.unwrap();
            }
        })
    };
    tokio::time::timeout(Duration::from_secs(10), first.stalled.notified())
        .await
        .unwrap();
    task.abort();
    let _ = task.await;
    assert_eq!(first.seen(), (1..=25).collect::<Vec<_>>());
    let stored = consumer.position().await.unwrap();
    assert_eq!(stored.id, 20, "the position of the last whole page handled");

    // Restart: a new process would run the handler under the same name.
    let second = Recorder::new(None);
    let runner = tokio::spawn(run_handler(
        store.clone(),
        second.clone(),
        Duration::from_millis(10),
        shutdown.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while second.seen().last() != Some(&35) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    runner.await.unwrap();
    let again = second.seen();
    assert_eq!(
        again,
        (21..=35).collect::<Vec<_>>(),
        "resumes after its offset"
    );
    let mut union: Vec<i64> = first.seen().into_iter().chain(again).collect();
    union.sort_unstable();
    union.dedup();
    assert_eq!(union, all, "nothing lost");
    assert_eq!(consumer.position().await.unwrap().id, 35);
}

/// A handler that fails on an event gets it again; the events before it
/// are not repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_gets_the_same_event_again() {
    struct FailOnce {
        failed: Mutex<bool>,
        seen: Mutex<Vec<i64>>,
    }
    #[async_trait]
    impl EventHandler for FailOnce {
        fn name(&self) -> &str {
            "fail-once"
        }
        async fn handle(&self, event: &SystemEvent) -> skynet_core::Result<()> {
            let mut failed = self.failed.lock().unwrap();
            if event.id == 3 && !*failed {
                *failed = true;
                return Err(skynet_core::Error::Timeout("receiver down".into()));
            }
            self.seen.lock().unwrap().push(event.id);
            Ok(())
        }
    }
    let (store, _dir) = store_with_events(5).await;
    let handler = FailOnce {
        failed: Mutex::new(false),
        seen: Mutex::new(Vec::new()),
    };
    let consumer = Consumer::new(store, "fail-once");
    assert!(consumer.poll_once(&[], &handler).await.is_err());
    assert_eq!(consumer.position().await.unwrap().id, 2);
    assert_eq!(consumer.poll_once(&[], &handler).await.unwrap(), 3);
    assert_eq!(*handler.seen.lock().unwrap(), [1, 2, 3, 4, 5]);
}

/// `prepare` sees each page's events before `handle` sees any of them; a
/// `prepare` that fails handles nothing and leaves the position where it
/// was, so the page comes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_sees_the_page_before_its_events_are_handled() {
    struct Prepared {
        fail_first: Mutex<bool>,
        pages: Mutex<Vec<Vec<i64>>>,
        handled: Mutex<Vec<(i64, bool)>>,
    }
    #[async_trait]
    impl EventHandler for Prepared {
        fn name(&self) -> &str {
            "prepared"
        }
        async fn prepare(&self, events: &[SystemEvent]) -> skynet_core::Result<()> {
            let mut fail = self.fail_first.lock().unwrap();
            if std::mem::take(&mut *fail) {
                return Err(skynet_core::Error::Timeout("ledger busy".into()));
            }
            self.pages
                .lock()
                .unwrap()
                .push(events.iter().map(|e| e.id).collect());
            Ok(())
        }
        async fn handle(&self, event: &SystemEvent) -> skynet_core::Result<()> {
            let prepared = self
                .pages
                .lock()
                .unwrap()
                .last()
                .is_some_and(|page| page.contains(&event.id));
            self.handled.lock().unwrap().push((event.id, prepared));
            Ok(())
        }
    }
    let (store, _dir) = store_with_events(5).await;
    let handler = Prepared {
        fail_first: Mutex::new(true),
        pages: Mutex::new(Vec::new()),
        handled: Mutex::new(Vec::new()),
    };
    let consumer = Consumer::new(store, "prepared").page_size(3);
    assert!(consumer.poll_once(&[], &handler).await.is_err());
    assert!(handler.handled.lock().unwrap().is_empty());
    assert_eq!(consumer.position().await.unwrap().id, 0);
    assert_eq!(consumer.poll_once(&[], &handler).await.unwrap(), 3);
    assert_eq!(consumer.poll_once(&[], &handler).await.unwrap(), 2);
    assert_eq!(*handler.pages.lock().unwrap(), [vec![1, 2, 3], vec![4, 5]]);
    assert_eq!(
        *handler.handled.lock().unwrap(),
        [(1, true), (2, true), (3, true), (4, true), (5, true)]
    );
}
