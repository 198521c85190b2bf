//! Triggers and the default handlers' conditions in the ledger: an event
//! fires a trigger once, with its job, in one transaction; the rate limit
//! is counted in the ledger (two handles see the same count); owners see
//! only their triggers; a condition is raised once until it clears or its
//! window passes, with its event.

use super::{Backend, test_job};
use chrono::{Duration, Utc};
use skynet_core::events::{EventPayload, EventType, NewSystemEvent, QueueBacklog};
use skynet_core::store::SharedStore;
use skynet_core::store::event_log::{EventLogQuery, LogView};
use skynet_core::triggers::{RateLimit, Trigger, TriggerFired, TriggerFiring};
use skynet_core::{Error, JobOrigin, JobSource, Principal, RiskLevel};

fn trigger_of(owner: &str, max_firings: u32) -> Trigger {
    let now = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    Trigger {
        id: uuid::Uuid::now_v7().to_string(),
        name: "disk check".into(),
        principal: Principal::new(owner).unwrap(),
        on: "provider.degraded".into(),
        conditions: [("provider".to_string(), "docker".to_string())].into(),
        intent: "check the provider's disk and network".into(),
        rate: RateLimit {
            max_firings,
            window_secs: 3600,
        },
        paused: false,
        root: "/tmp".into(),
        created_at: now,
        fired: 0,
        last_fired_at: None,
    }
}

fn firing(t: &Trigger, event: i64, at: chrono::DateTime<Utc>) -> TriggerFiring {
    let mut job = test_job(&[RiskLevel::ReadOnly]);
    job.source = JobSource::Trigger;
    job.origin = Some(JobOrigin::Trigger {
        trigger: t.id.clone(),
        event,
    });
    TriggerFiring {
        trigger: t.id.clone(),
        event,
        at,
        job: Some(job),
        error: None,
    }
}

/// An event fires a trigger once: a second firing of the same event
/// (another process) writes nothing; past the rate limit an event is
/// recorded as skipped with no job; a window later it fires again.
pub async fn a_trigger_fires_once_per_event_within_its_rate(store: SharedStore) {
    let t = trigger_of("alice", 2);
    store.insert_trigger(&t).await.unwrap();
    let stored = store.trigger(&t.id, None).await.unwrap();
    assert_eq!(stored, t, "a trigger round-trips");
    let now = Utc::now();
    let first = firing(&t, 1, now);
    let TriggerFired::Now(Some(job)) = store.fire_trigger(&first).await.unwrap() else {
        panic!("the first firing fires");
    };
    assert_eq!(job.origin, first.job.as_ref().unwrap().origin);
    let again = firing(&t, 1, now);
    assert!(matches!(
        store.fire_trigger(&again).await.unwrap(),
        TriggerFired::Already
    ));
    assert!(matches!(
        store.get_job(&again.job.unwrap().id).await,
        Err(Error::JobNotFound(_))
    ));
    assert!(matches!(
        store.fire_trigger(&firing(&t, 2, now)).await.unwrap(),
        TriggerFired::Now(Some(_))
    ));
    let third = firing(&t, 3, now);
    assert!(matches!(
        store.fire_trigger(&third).await.unwrap(),
        TriggerFired::RateLimited
    ));
    assert!(matches!(
        store.get_job(&third.job.unwrap().id).await,
        Err(Error::JobNotFound(_))
    ));
    // The skipped event is decided: it does not fire later either.
    let later = now + Duration::hours(2);
    assert!(matches!(
        store.fire_trigger(&firing(&t, 3, later)).await.unwrap(),
        TriggerFired::Already
    ));
    assert!(matches!(
        store.fire_trigger(&firing(&t, 4, later)).await.unwrap(),
        TriggerFired::Now(Some(_))
    ));
    assert_eq!(
        store
            .trigger_firings_since(&t.id, now - Duration::hours(1))
            .await
            .unwrap(),
        3
    );
    let stored = store.trigger(&t.id, None).await.unwrap();
    assert_eq!(stored.fired, 3);
    // A refusal is recorded without a job.
    let refused = TriggerFiring {
        job: None,
        error: Some("forbidden".into()),
        ..firing(&t, 5, later)
    };
    assert!(matches!(
        store.fire_trigger(&refused).await.unwrap(),
        TriggerFired::Now(None)
    ));
}

/// Another owner neither sees nor changes a trigger; a paused trigger
/// fires nothing; removing it keeps its jobs.
pub async fn triggers_pause_and_stay_with_their_owner(store: SharedStore) {
    let t = trigger_of("alice", 3);
    store.insert_trigger(&t).await.unwrap();
    let alice = Principal::new("alice").unwrap();
    let bob = Principal::new("bob").unwrap();
    assert_eq!(store.triggers(Some(&alice)).await.unwrap().len(), 1);
    assert!(store.triggers(Some(&bob)).await.unwrap().is_empty());
    assert_eq!(store.triggers(None).await.unwrap().len(), 1);
    for e in [
        store.trigger(&t.id, Some(&bob)).await.unwrap_err(),
        store
            .set_trigger_paused(&t.id, Some(&bob), true)
            .await
            .unwrap_err(),
        store.remove_trigger(&t.id, Some(&bob)).await.unwrap_err(),
    ] {
        assert!(matches!(e, Error::TriggerNotFound(_)), "{e}");
    }
    assert!(
        store
            .set_trigger_paused(&t.id, Some(&alice), true)
            .await
            .unwrap()
            .paused
    );
    assert!(store.active_triggers().await.unwrap().is_empty());
    assert!(matches!(
        store
            .fire_trigger(&firing(&t, 1, Utc::now()))
            .await
            .unwrap(),
        TriggerFired::Already
    ));
    store.set_trigger_paused(&t.id, None, false).await.unwrap();
    let TriggerFired::Now(Some(job)) = store
        .fire_trigger(&firing(&t, 1, Utc::now()))
        .await
        .unwrap()
    else {
        panic!("a resumed trigger fires");
    };
    store.remove_trigger(&t.id, Some(&alice)).await.unwrap();
    assert!(store.triggers(None).await.unwrap().is_empty());
    assert!(store.get_job(&job.id).await.is_ok(), "its job stays");
}

/// Two handles on one database (two processes) share one rate limit:
/// racing firings of distinct events make exactly `max_firings` jobs.
pub async fn a_trigger_rate_limit_holds_across_two_handles(backend: &Backend) {
    let Some(reopen) = &backend.reopen else {
        return;
    };
    let one = backend.store.clone();
    let two = reopen().await;
    let t = trigger_of("alice", 3);
    one.insert_trigger(&t).await.unwrap();
    let now = Utc::now();
    let firings: Vec<_> = (1..=10)
        .map(|event| {
            let store = if event % 2 == 0 {
                one.clone()
            } else {
                two.clone()
            };
            let f = firing(&t, event, now);
            tokio::spawn(async move { store.fire_trigger(&f).await.unwrap() })
        })
        .collect();
    let mut fired = 0;
    for f in firings {
        if let TriggerFired::Now(Some(_)) = f.await.unwrap() {
            fired += 1;
        }
    }
    assert_eq!(fired, 3);
    assert_eq!(two.trigger(&t.id, None).await.unwrap().fired, 3);
}

/// A condition is raised once, with its event, until cleared; one with a
/// window is raised again once the window has passed.
pub async fn conditions_are_raised_once_until_cleared(store: SharedStore) {
    let now = Utc::now();
    let event = || {
        NewSystemEvent::now(
            "handler:conditions",
            EventPayload::QueueBacklog(QueueBacklog {
                queued: 7,
                oldest_wait_ms: 1,
            }),
        )
    };
    assert!(
        store
            .raise_condition("queue.backlog", now, None, &event())
            .await
            .unwrap()
    );
    assert!(
        !store
            .raise_condition("queue.backlog", now, None, &event())
            .await
            .unwrap()
    );
    assert_eq!(
        store.raised_conditions("queue.").await.unwrap(),
        ["queue.backlog"]
    );
    assert!(store.clear_condition("queue.backlog").await.unwrap());
    assert!(!store.clear_condition("queue.backlog").await.unwrap());
    assert!(
        store
            .raise_condition("queue.backlog", now, None, &event())
            .await
            .unwrap()
    );
    // With a window: again only once the last raise is older than it.
    let key = "failure.pattern:abc";
    let day = Duration::hours(24);
    assert!(
        store
            .raise_condition(key, now, Some(now - day), &event())
            .await
            .unwrap()
    );
    let soon = now + Duration::hours(1);
    assert!(
        !store
            .raise_condition(key, soon, Some(soon - day), &event())
            .await
            .unwrap()
    );
    let later = now + Duration::hours(25);
    assert!(
        store
            .raise_condition(key, later, Some(later - day), &event())
            .await
            .unwrap()
    );
    // On PostgreSQL an event shows once every older transaction in the
    // cluster has ended: read until the four are there or 10 s pass.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut query = EventLogQuery {
        limit: 1000,
        types: vec![EventType::QueueBacklog],
        view: LogView::all(),
        ..Default::default()
    };
    let mut seen = 0;
    while seen < 4 && std::time::Instant::now() < deadline {
        let page = store.read_event_log(&query).await.unwrap();
        seen += page.events.len();
        query.after = page.next;
        if page.events.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    assert_eq!(seen, 4, "one event per raise");
    assert_eq!(store.event_log_head().await.unwrap(), query.after);
}
