//! The global event log: every lifecycle transition gives exactly its
//! events, in the same transaction; system events; what each principal
//! sees; durable consumer positions.

use super::*;
use skynet_core::Principal;
use skynet_core::events::{
    EventPayload, EventPosition, EventType, NewSystemEvent, Notice, ProviderHealth,
};
use skynet_core::principal::Visibility;
use skynet_core::store::event_log::{EventLogQuery, LogView};
use skynet_core::store::{Completion, FinishedStep, RunCheckpoint, StatusChange};

const RO: RiskLevel = RiskLevel::ReadOnly;
const W: RiskLevel = RiskLevel::Write;

/// The whole log after `after` as `view` sees it (several pages).
pub async fn read_all(
    store: &SharedStore,
    after: EventPosition,
    job: Option<&JobId>,
    view: LogView,
) -> (Vec<skynet_core::events::SystemEvent>, EventPosition) {
    let mut out = Vec::new();
    let mut at = after;
    loop {
        let page = store
            .read_event_log(&EventLogQuery {
                after: at,
                limit: 50,
                types: Vec::new(),
                job: job.cloned(),
                view: view.clone(),
            })
            .await
            .expect("read the event log");
        if page.next == at {
            return (out, at);
        }
        out.extend(page.events);
        at = page.next;
    }
}

/// Check the log's events of `job` written since `*at` (moving `*at` on)
/// are exactly `expect`.
async fn since(store: &SharedStore, job: &JobId, at: &mut EventPosition, expect: &[EventType]) {
    let (events, _) = read_until(store, job, at, expect.len()).await;
    let got: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(got, expect, "events of {job}");
}

fn end(index: u32, status: StepStatus) -> FinishedStep {
    FinishedStep {
        index,
        started_at: Some(Utc::now()),
        outcome: outcome(status),
        logs: Vec::new(),
    }
}

/// Walk jobs through every transition of the table (insert, approval,
/// denial, claim, steps by each writer, each completion, reaping, cancel)
/// and check each gives exactly its events, with the right payloads.
pub async fn every_lifecycle_transition_emits_exactly_its_events(store: SharedStore) {
    use EventType::*;
    let mut at = EventPosition::START;

    // Insert awaiting approval, approve, claim, run a step by the single
    // writers, succeed.
    let planned = insert(&store, job_in(JobStatus::Planned, &[W])).await;
    since(
        &store,
        &planned.id,
        &mut at,
        &[JobCreated, JobPlanned, ApprovalRequested],
    )
    .await;
    let approval = skynet_core::job::Approval {
        approver: "ann".into(),
        plan_hash: planned.plan.as_ref().expect("plan").hash.clone(),
        at: Utc::now(),
    };
    store.approve(&planned.id, approval).await.expect("approve");
    let mut a = at;
    let (events, _) = read_until(&store, &planned.id, &mut a, 2).await;
    at = a;
    assert_eq!(
        events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        [ApprovalGranted, JobQueued]
    );
    let granted = events[0].payload.transition().expect("a transition");
    assert_eq!(granted.actor.as_deref(), Some("ann"));
    assert_eq!(granted.from.as_deref(), Some("planned"));
    let (_, lease) = claimed(&store, &planned.id, LONG).await;
    since(&store, &planned.id, &mut at, &[JobStarted]).await;
    store
        .start_step(&planned.id, &lease, 0)
        .await
        .expect("start");
    since(&store, &planned.id, &mut at, &[StepStarted]).await;
    store
        .finish_step(&planned.id, &lease, 0, outcome(StepStatus::Succeeded), &[])
        .await
        .expect("finish");
    since(&store, &planned.id, &mut at, &[StepFinished]).await;
    store
        .complete(&planned.id, &lease, Completion::Succeeded)
        .await
        .expect("complete");
    since(&store, &planned.id, &mut at, &[JobSucceeded]).await;

    // Denial and cancel.
    let denied = insert(&store, job_in(JobStatus::Planned, &[W])).await;
    since(
        &store,
        &denied.id,
        &mut at,
        &[JobCreated, JobPlanned, ApprovalRequested],
    )
    .await;
    store
        .set_status(&denied.id, JobStatus::Denied, StatusChange::default())
        .await
        .expect("deny");
    since(&store, &denied.id, &mut at, &[ApprovalDenied]).await;
    let cancelled = insert(&store, test_job(&[RO])).await;
    since(
        &store,
        &cancelled.id,
        &mut at,
        &[JobCreated, JobPlanned, JobQueued],
    )
    .await;
    store
        .set_status(&cancelled.id, JobStatus::Cancelled, StatusChange::default())
        .await
        .expect("cancel");
    since(&store, &cancelled.id, &mut at, &[JobCancelled]).await;

    // The batch claim and the group commit (one statement per kind).
    let batch = [
        insert(&store, test_job(&[RO])).await,
        insert(&store, test_job(&[RO])).await,
    ];
    for job in &batch {
        since(
            &store,
            &job.id,
            &mut at,
            &[JobCreated, JobPlanned, JobQueued],
        )
        .await;
    }
    let claimed_jobs = store.claim("w", LONG, 10).await.expect("claim");
    assert_eq!(claimed_jobs.len(), 2);
    let mut checkpoints = Vec::new();
    for (job, completion) in claimed_jobs.iter().zip([
        Completion::Failed("broke".into()),
        Completion::TimedOut("too slow".into()),
    ]) {
        let lease = job.lease.as_ref().expect("lease").id.clone();
        checkpoints.push(RunCheckpoint {
            job: job.id.clone(),
            lease_id: lease,
            step: Some(end(0, StepStatus::Failed)),
            completion: Some(completion),
        });
    }
    for r in store
        .record_checkpoints(&checkpoints)
        .await
        .expect("group commit")
    {
        r.expect("each checkpoint");
    }
    let mut outcomes = Vec::new();
    for job in &claimed_jobs {
        let mut a = EventPosition::START;
        let (events, _) = read_until(&store, &job.id, &mut a, 8).await;
        let types: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
        assert_eq!(types[..4], [JobCreated, JobPlanned, JobQueued, JobStarted]);
        assert_eq!(types[4..6], [StepStarted, StepFinished]);
        outcomes.push(types[6]);
        assert_eq!(types.len(), 7, "{types:?}");
    }
    outcomes.sort();
    assert_eq!(outcomes, [JobFailed, JobTimedOut]);

    // A retry goes back to queued; a lost WRITE step goes to review.
    let (retried, lease) = running(&store, &[RO], LONG).await;
    let mut a = EventPosition::START;
    read_until(&store, &retried.id, &mut a, 4).await;
    store
        .complete(
            &retried.id,
            &lease,
            Completion::Retry {
                error: "flaky".into(),
                run_at: Utc::now(),
            },
        )
        .await
        .expect("retry");
    since(&store, &retried.id, &mut a, &[JobQueued]).await;
    let (lost, lease) = running(&store, &[W], Duration::ZERO).await;
    let mut a = EventPosition::START;
    read_until(&store, &lost.id, &mut a, 4).await;
    store.start_step(&lost.id, &lease, 0).await.expect("start");
    reap_now(&store).await;
    since(&store, &lost.id, &mut a, &[StepStarted, JobNeedsReview]).await;
    let (events, _) = read_all(&store, EventPosition::START, Some(&lost.id), LogView::all()).await;
    let t = events
        .last()
        .expect("event")
        .payload
        .transition()
        .expect("transition");
    assert_eq!(t.actor.as_deref(), Some("reaper"));
}

/// Read the events (of `job`, when given) after `*at` until at least `n`
/// came (10 s at most: on PostgreSQL another test's running transaction
/// may hold reading back for a moment).
pub async fn read_until(
    store: &SharedStore,
    job: impl Into<Option<&JobId>>,
    at: &mut EventPosition,
    n: usize,
) -> (Vec<skynet_core::events::SystemEvent>, EventPosition) {
    let job = job.into();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    loop {
        let (events, next) = read_all(store, *at, job, LogView::all()).await;
        *at = next;
        got.extend(events);
        if got.len() >= n || std::time::Instant::now() > deadline {
            return (got, *at);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A system event round-trips with its typed payload; a principal sees
/// its own jobs' events only, system events only when allowed, and nothing
/// of another principal's jobs; types filter.
pub async fn the_global_log_shows_each_principal_only_its_own(store: SharedStore) {
    let alice = Principal::new("key:alice").expect("principal");
    let bob = Principal::new("key:bob").expect("principal");
    let mut job = test_job(&[RO]);
    job.principal = alice.clone();
    let job = insert(&store, job).await;
    let degraded = EventPayload::ProviderDegraded(ProviderHealth {
        provider: "local".into(),
        detail: "3 checks failed".into(),
    });
    store
        .record_event(&NewSystemEvent::now("sentinel", degraded.clone()))
        .await
        .expect("record");
    store
        .record_event(
            &NewSystemEvent::now(
                "test",
                EventPayload::Error(Notice {
                    subject: "x".into(),
                    message: "y".into(),
                }),
            )
            .about(job.id.clone()),
        )
        .await
        .expect("record about a job");

    let (everything, _) = read_until(&store, None, &mut EventPosition::default(), 5).await;
    assert_eq!(everything.len(), 5, "{everything:?}");
    let system: Vec<_> = everything.iter().filter(|e| e.job.is_none()).collect();
    assert_eq!(system.len(), 1);
    assert_eq!(system[0].payload, degraded);
    assert_eq!(system[0].source, "sentinel");
    assert_eq!(system[0].event_type, EventType::ProviderDegraded);

    let view = |who: &Principal, system: bool| LogView {
        jobs: Visibility::Own(who.clone()),
        system,
    };
    let (bobs, _) = read_all(&store, EventPosition::START, None, view(&bob, false)).await;
    assert!(bobs.is_empty(), "bob sees nothing of alice's: {bobs:?}");
    let (bobs, _) = read_all(
        &store,
        EventPosition::START,
        Some(&job.id),
        view(&bob, true),
    )
    .await;
    assert!(bobs.is_empty(), "not even by naming her job");
    let (bobs, _) = read_all(&store, EventPosition::START, None, view(&bob, true)).await;
    assert_eq!(bobs.len(), 1, "system events only");
    let (alices, _) = read_all(&store, EventPosition::START, None, view(&alice, false)).await;
    assert_eq!(alices.len(), 4);
    assert!(alices.iter().all(|e| e.job.as_ref() == Some(&job.id)));

    let page = store
        .read_event_log(&EventLogQuery {
            types: vec![EventType::JobQueued, EventType::ProviderDegraded],
            view: LogView::all(),
            ..Default::default()
        })
        .await
        .expect("filtered");
    let types: Vec<EventType> = page.events.iter().map(|e| e.event_type).collect();
    assert_eq!(types, [EventType::JobQueued, EventType::ProviderDegraded]);
    assert_eq!(
        page.next,
        everything.last().expect("last").position().expect("pos")
    );
}

/// A position from which every event written from now on is read: the
/// one after a marker written now, once the marker is readable (on
/// PostgreSQL, below the commit horizon), and so is all before it.
async fn after_a_marker(store: &SharedStore) -> EventPosition {
    let marker = EventPayload::Error(Notice {
        subject: "x".into(),
        message: "y".into(),
    });
    store
        .record_event(&NewSystemEvent::now("marker", marker))
        .await
        .expect("record the marker");
    let mut start = EventPosition::START;
    let mut before = Vec::new();
    while !before
        .iter()
        .any(|e: &skynet_core::events::SystemEvent| e.source == "marker")
    {
        let (events, _) = read_until(store, None, &mut start, 1).await;
        assert!(!events.is_empty(), "the marker is never read");
        before.extend(events);
    }
    start
}

/// A read of some types pages through rows of other types: each page
/// scans its limit of rows, shows only the types asked for (in commit
/// order) and ends past the last row scanned, whatever its type; one
/// job's part filters the same way.
pub async fn a_type_filtered_read_pages_past_rows_of_other_types(store: SharedStore) {
    let job = insert(&store, test_job(&[RO])).await;
    let notice = || {
        EventPayload::Error(Notice {
            subject: "x".into(),
            message: "y".into(),
        })
    };
    let degraded = || {
        EventPayload::ProviderDegraded(ProviderHealth {
            provider: "local".into(),
            detail: "down".into(),
        })
    };
    let start = after_a_marker(&store).await;
    let kinds = [false, false, true, false, false, false, true];
    for (i, is_degraded) in kinds.into_iter().enumerate() {
        let mut event =
            NewSystemEvent::now("test", if is_degraded { degraded() } else { notice() });
        if i == 4 {
            event = event.about(job.id.clone());
        }
        store.record_event(&event).await.expect("record");
    }
    let mut at = start;
    let (written, _) = read_until(&store, None, &mut at, kinds.len()).await;
    assert_eq!(written.len(), kinds.len());
    let position = |i: usize| written[i].position().expect("position");

    let mut at = start;
    let mut shown = Vec::new();
    let mut scanned = Vec::new();
    loop {
        let page = store
            .read_event_log(&EventLogQuery {
                after: at,
                limit: 2,
                types: vec![EventType::ProviderDegraded],
                view: LogView::all(),
                ..Default::default()
            })
            .await
            .expect("filtered page");
        scanned.push(page.scanned);
        if page.scanned == 0 {
            assert_eq!(page.next, at, "an empty page stays put");
            break;
        }
        let last = (scanned.iter().sum::<usize>()) - 1;
        assert_eq!(page.next, position(last), "ends past its last row");
        shown.extend(page.events.iter().map(|e| e.position().expect("position")));
        at = page.next;
    }
    assert_eq!(scanned, [2, 2, 2, 1, 0]);
    assert_eq!(shown, [position(2), position(6)]);

    let of_job = |types: Vec<EventType>| {
        let store = store.clone();
        let job = job.id.clone();
        async move {
            store
                .read_event_log(&EventLogQuery {
                    after: start,
                    limit: 10,
                    types,
                    job: Some(job),
                    view: LogView::all(),
                })
                .await
                .expect("the job's part")
        }
    };
    let page = of_job(vec![EventType::Error]).await;
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].position().expect("position"), position(4));
    let page = of_job(vec![EventType::ProviderDegraded]).await;
    assert!(page.events.is_empty());
    assert_eq!((page.scanned, page.next), (1, position(4)));
}

/// A consumer's position starts absent, only moves forward and is kept
/// per name; a bad name is refused.
pub async fn consumer_positions_only_move_forward(store: SharedStore) {
    let p = |xid, id| EventPosition { xid, id };
    assert_eq!(store.consumer_position("hooks").await.expect("read"), None);
    assert_eq!(
        store
            .advance_consumer("hooks", p(0, 5))
            .await
            .expect("store"),
        p(0, 5)
    );
    assert_eq!(
        store
            .advance_consumer("hooks", p(0, 3))
            .await
            .expect("older"),
        p(0, 5)
    );
    assert_eq!(
        store
            .advance_consumer("hooks", p(1, 2))
            .await
            .expect("newer"),
        p(1, 2)
    );
    assert_eq!(
        store.consumer_position("hooks").await.expect("read"),
        Some(p(1, 2))
    );
    assert_eq!(store.consumer_position("other").await.expect("read"), None);
    for bad in ["", "a b", "a\nb"] {
        assert!(matches!(
            store.advance_consumer(bad, p(0, 1)).await,
            Err(Error::InvalidInput(_))
        ));
    }
}

/// The worker registry reports workers coming and going in the same
/// transaction; one found silent while holding jobs also raises an alert.
pub async fn workers_coming_and_going_are_system_events(store: SharedStore) {
    use skynet_core::store::WorkerInfo;
    let info = |id: &str| WorkerInfo {
        id: id.into(),
        host: "h".into(),
        pid: 1,
        version: "v".into(),
        providers: vec!["mock".into()],
        capacity: 2,
    };
    store.register_worker(&info("w1")).await.expect("register");
    store.register_worker(&info("w2")).await.expect("register");
    store.worker_heartbeat("w2", 2).await.expect("heartbeat");
    store.worker_stopped("w1").await.expect("stop");
    let marked = store
        .mark_stale_workers(Utc::now() + chrono::Duration::seconds(1))
        .await
        .expect("mark");
    assert_eq!(marked, 1);
    let (events, _) = read_until(&store, None, &mut EventPosition::default(), 5).await;
    let seen: Vec<(EventType, String)> = events
        .iter()
        .map(|e| (e.event_type, e.source.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (EventType::WorkerOnline, "worker:w1".to_string()),
            (EventType::WorkerOnline, "worker:w2".to_string()),
            (EventType::WorkerOffline, "worker:w1".to_string()),
            (EventType::WorkerOffline, "worker:w2".to_string()),
            (EventType::AlertRaised, "worker:w2".to_string()),
        ]
    );
    match &events[3].payload {
        EventPayload::WorkerOffline(w) => assert_eq!(w.running, 2),
        other => panic!("{other:?}"),
    }
}

/// Pollers of different types reading through `poll_event_log` (the
/// store handle's shared tail) while events are written each get exactly
/// the events of their types, in commit order, that a direct read gives.
pub async fn pollers_sharing_the_tail_see_what_a_direct_read_sees(store: SharedStore) {
    let start = after_a_marker(&store).await;
    let types = [EventType::ProviderDegraded, EventType::Error];
    let mut at = [start, start];
    let mut seen: [Vec<EventPosition>; 2] = Default::default();
    let poll = async |store: &SharedStore,
                      t: EventType,
                      at: &mut EventPosition,
                      seen: &mut Vec<EventPosition>| loop {
        let page = store
            .poll_event_log(&EventLogQuery {
                after: *at,
                limit: 3,
                types: vec![t],
                view: LogView::all(),
                ..Default::default()
            })
            .await
            .expect("poll");
        seen.extend(page.events.iter().map(|e| e.position().expect("position")));
        assert!(page.next >= *at, "a poller never moves back");
        *at = page.next;
        if page.scanned < 3 {
            return;
        }
    };
    for round in 0..4 {
        for i in 0..5 {
            let payload = if (round * 5 + i) % 3 == 0 {
                EventPayload::ProviderDegraded(ProviderHealth {
                    provider: "local".into(),
                    detail: format!("{round}-{i}"),
                })
            } else {
                EventPayload::Error(Notice {
                    subject: "tail".into(),
                    message: format!("{round}-{i}"),
                })
            };
            store
                .record_event(&NewSystemEvent::now("test", payload))
                .await
                .expect("record");
        }
        // Either poller may be the one that reads the ledger.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for p in order {
            poll(&store, types[p], &mut at[p], &mut seen[p]).await;
        }
    }
    let mut direct = start;
    let (written, _) = read_until(&store, None, &mut direct, 20).await;
    assert_eq!(written.len(), 20);
    for p in 0..2 {
        let want: Vec<EventPosition> = written
            .iter()
            .filter(|e| e.event_type == types[p])
            .map(|e| e.position().expect("position"))
            .collect();
        // On PostgreSQL a poll may have come before the last events were
        // readable: poll on until they are (10 s at most).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while seen[p].len() < want.len() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            poll(&store, types[p], &mut at[p], &mut seen[p]).await;
        }
        assert_eq!(seen[p], want, "the events of {:?}", types[p]);
    }
}
