//! Schedules and the initiative's budgets in the ledger: a tick fires at
//! most once and writes its job with it; owners see only their schedules;
//! the initiative's kill switch and budgets refuse in the job's own
//! transaction, and a queued initiative job must be READ_ONLY.

use super::{Backend, job_in, test_job};
use chrono::{Duration, Utc};
use skynet_core::events::{
    EventPayload, EventType, InitiativeDecision, NewSystemEvent, ScheduleFired,
};
use skynet_core::schedules::{Fired, Firing, MissedTicks, Schedule};
use skynet_core::store::SharedStore;
use skynet_core::store::event_log::{EventLogQuery, LogView};
use skynet_core::store::initiative::{InitiativeBudget, Refusal};
use skynet_core::{Error, JobOrigin, JobSource, JobStatus, Principal, RiskLevel};

fn schedule_of(owner: &str) -> Schedule {
    let now = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap();
    Schedule {
        id: uuid::Uuid::now_v7().to_string(),
        principal: Principal::new(owner).unwrap(),
        intent: "list the files".into(),
        cron: None,
        every_ms: Some(300_000),
        time_zone: "UTC".into(),
        missed: MissedTicks::Skip,
        paused: false,
        root: "/tmp".into(),
        created_at: now,
        next_tick_at: now + Duration::minutes(5),
        last_tick_at: None,
        last_job: None,
        fired: 0,
    }
}

/// A tick fired twice (two processes) writes one tick and one job; the
/// schedule moves to its next tick and is no longer due.
pub async fn a_schedule_tick_fires_once_with_its_job(store: SharedStore) {
    let s = schedule_of("alice");
    store.insert_schedule(&s).await.unwrap();
    let tick = s.next_tick_at;
    let mut job = test_job(&[RiskLevel::ReadOnly]);
    job.source = JobSource::Schedule;
    job.origin = Some(JobOrigin::Schedule {
        schedule: s.id.clone(),
        tick,
    });
    let firing = |job| Firing {
        schedule: s.id.clone(),
        tick_at: tick,
        next_tick_at: tick + Duration::minutes(5),
        job: Some(job),
        error: None,
        events: Vec::new(),
    };
    assert_eq!(store.due_schedules(tick, 10).await.unwrap().len(), 1);
    let Fired::Now(Some(first)) = store
        .fire_schedule_tick(&firing(job.clone()))
        .await
        .unwrap()
    else {
        panic!("the first firing fires");
    };
    assert_eq!(first.id, job.id);
    assert_eq!(first.origin, job.origin);
    let mut again = test_job(&[RiskLevel::ReadOnly]);
    again.source = JobSource::Schedule;
    assert!(matches!(
        store
            .fire_schedule_tick(&firing(again.clone()))
            .await
            .unwrap(),
        Fired::Already
    ));
    assert!(matches!(
        store.get_job(&again.id).await,
        Err(Error::JobNotFound(_))
    ));
    let stored = store.schedule(&s.id, None).await.unwrap();
    assert_eq!(stored.fired, 1);
    assert_eq!(stored.last_job.as_ref(), Some(&job.id));
    assert_eq!(stored.next_tick_at, tick + Duration::minutes(5));
    assert!(store.due_schedules(tick, 10).await.unwrap().is_empty());
    // The job's first event names its origin.
    let events = store.events(&job.id).await.unwrap();
    assert_eq!(events[0].data["origin"]["kind"], "schedule");
    assert_eq!(events[0].data["source"], "schedule");
}

/// A paused schedule is not due and fires nothing; skipping missed ticks
/// is a compare-and-set; another owner sees nothing and changes nothing.
pub async fn schedules_pause_skip_and_stay_with_their_owner(store: SharedStore) {
    let s = schedule_of("alice");
    store.insert_schedule(&s).await.unwrap();
    let alice = Principal::new("alice").unwrap();
    let bob = Principal::new("bob").unwrap();
    assert_eq!(store.schedules(Some(&alice)).await.unwrap().len(), 1);
    assert!(store.schedules(Some(&bob)).await.unwrap().is_empty());
    assert_eq!(store.schedules(None).await.unwrap().len(), 1);
    assert!(matches!(
        store.schedule(&s.id, Some(&bob)).await,
        Err(Error::ScheduleNotFound(_))
    ));
    assert!(matches!(
        store
            .set_schedule_paused(&s.id, Some(&bob), true, None)
            .await,
        Err(Error::ScheduleNotFound(_))
    ));
    assert!(matches!(
        store.remove_schedule(&s.id, Some(&bob)).await,
        Err(Error::ScheduleNotFound(_))
    ));
    let paused = store
        .set_schedule_paused(&s.id, Some(&alice), true, None)
        .await
        .unwrap();
    assert!(paused.paused);
    let late = s.next_tick_at + Duration::hours(1);
    assert!(store.due_schedules(late, 10).await.unwrap().is_empty());
    let firing = Firing {
        schedule: s.id.clone(),
        tick_at: s.next_tick_at,
        next_tick_at: s.next_tick_at + Duration::minutes(5),
        job: None,
        error: Some("refused".into()),
        events: Vec::new(),
    };
    assert!(matches!(
        store.fire_schedule_tick(&firing).await.unwrap(),
        Fired::Already
    ));
    let to = s.next_tick_at + Duration::minutes(10);
    let resumed = store
        .set_schedule_paused(&s.id, None, false, Some(to))
        .await
        .unwrap();
    assert!(!resumed.paused);
    assert_eq!(resumed.next_tick_at, to);
    let later = to + Duration::minutes(5);
    assert!(
        !store
            .skip_schedule_ticks(&s.id, s.next_tick_at, later)
            .await
            .unwrap()
    );
    assert!(store.skip_schedule_ticks(&s.id, to, later).await.unwrap());
    assert_eq!(
        store.schedule(&s.id, None).await.unwrap().next_tick_at,
        later
    );
    store.remove_schedule(&s.id, Some(&alice)).await.unwrap();
    assert!(store.schedules(None).await.unwrap().is_empty());
}

fn initiative_job(status: JobStatus, risk: RiskLevel, intent: &str) -> skynet_core::Job {
    let mut job = job_in(status, &[risk]);
    job.source = JobSource::Initiative;
    job.intent = intent.into();
    job.origin = Some(JobOrigin::Initiative {
        strategy: "test".into(),
        reason: "testing".into(),
    });
    job
}

/// The hourly budget, the waiting cap, duplicates and the kill switch
/// refuse a proposal and write nothing; a queued WRITE initiative job is
/// refused outright.
pub async fn initiative_budgets_and_the_kill_switch_hold_in_the_ledger(store: SharedStore) {
    let budget = InitiativeBudget {
        per_hour: 3,
        per_day: 20,
        max_waiting: 1,
    };
    let now = Utc::now();
    let write_queued = initiative_job(JobStatus::Queued, RiskLevel::Write, "touch a");
    assert!(matches!(
        store
            .insert_initiative_job(&write_queued, &budget, now, &[])
            .await,
        Err(Error::NotPermitted(_))
    ));
    let waiting = initiative_job(JobStatus::Planned, RiskLevel::Write, "touch b");
    assert!(
        store
            .insert_initiative_job(&waiting, &budget, now, &[])
            .await
            .unwrap()
            .is_ok()
    );
    let second_waiting = initiative_job(JobStatus::Planned, RiskLevel::Write, "touch c");
    assert_eq!(
        store
            .insert_initiative_job(&second_waiting, &budget, now, &[])
            .await
            .unwrap()
            .unwrap_err(),
        Refusal::WaitingCap
    );
    let first = initiative_job(JobStatus::Queued, RiskLevel::ReadOnly, "look 1");
    assert!(
        store
            .insert_initiative_job(&first, &budget, now, &[])
            .await
            .unwrap()
            .is_ok()
    );
    let duplicate = initiative_job(JobStatus::Queued, RiskLevel::ReadOnly, "look 1");
    assert_eq!(
        store
            .insert_initiative_job(&duplicate, &budget, now, &[])
            .await
            .unwrap()
            .unwrap_err(),
        Refusal::Duplicate
    );
    let third = initiative_job(JobStatus::Queued, RiskLevel::ReadOnly, "look 2");
    assert!(
        store
            .insert_initiative_job(&third, &budget, now, &[])
            .await
            .unwrap()
            .is_ok()
    );
    let over = initiative_job(JobStatus::Queued, RiskLevel::ReadOnly, "look 3");
    assert_eq!(
        store
            .insert_initiative_job(&over, &budget, now, &[])
            .await
            .unwrap()
            .unwrap_err(),
        Refusal::HourlyBudget
    );
    let usage = store.initiative_usage(now).await.unwrap();
    assert_eq!((usage.last_hour, usage.last_day, usage.waiting), (3, 3, 1));
    // An hour later the hourly budget has room again, unless paused.
    let later = now + Duration::minutes(61);
    store.set_initiative_paused(true, "operator").await.unwrap();
    let usage = store.initiative_usage(later).await.unwrap();
    assert!(usage.paused);
    assert_eq!(usage.changed_by.as_deref(), Some("operator"));
    assert_eq!(
        store
            .insert_initiative_job(&over, &budget, later, &[])
            .await
            .unwrap()
            .unwrap_err(),
        Refusal::Paused
    );
    store
        .set_initiative_paused(false, "operator")
        .await
        .unwrap();
    assert!(
        store
            .insert_initiative_job(&over, &budget, later, &[])
            .await
            .unwrap()
            .is_ok()
    );
    assert!(matches!(
        store.get_job(&duplicate.id).await,
        Err(Error::JobNotFound(_))
    ));
}

/// The initiative's budget holds across two handles (two processes)
/// proposing at once.
pub async fn initiative_budget_holds_across_two_handles(backend: &Backend) {
    let Some(reopen) = &backend.reopen else {
        return;
    };
    let other = reopen().await;
    let budget = InitiativeBudget {
        per_hour: 5,
        per_day: 20,
        max_waiting: 3,
    };
    let now = Utc::now();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            backend.store.clone()
        } else {
            other.clone()
        };
        let job = initiative_job(JobStatus::Queued, RiskLevel::ReadOnly, &format!("look {i}"));
        tasks.push(tokio::spawn(async move {
            store
                .insert_initiative_job(&job, &budget, now, &[])
                .await
                .unwrap()
                .is_ok()
        }));
    }
    let mut made = 0;
    for t in tasks {
        made += usize::from(t.await.unwrap());
    }
    assert_eq!(made, 5);
    assert_eq!(
        backend.store.initiative_usage(now).await.unwrap().last_hour,
        5
    );
}

/// The global log's events of `t` about `job`, once at least `want` are
/// visible or 10 s pass (on PostgreSQL a committed event shows once every
/// older transaction of the cluster has ended).
async fn events_about(
    store: &SharedStore,
    t: EventType,
    job: &skynet_core::JobId,
    want: usize,
) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let page = store
            .read_event_log(&EventLogQuery {
                limit: 1000,
                types: vec![t],
                view: LogView::all(),
                ..Default::default()
            })
            .await
            .unwrap();
        let n = page
            .events
            .iter()
            .filter(|e| e.job.as_ref() == Some(job))
            .count();
        if n >= want || std::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A schedule tick's `schedule.fired` and an initiative job's
/// `initiative.proposed` / `initiative.started` are written in the job's
/// transaction: when the job cannot be written (here its id is taken),
/// neither the tick nor the job nor the event is; when it can, exactly
/// one event names it.
pub async fn schedule_and_initiative_events_commit_with_their_job(store: SharedStore) {
    // A job already there under the id the tick's job would take.
    let taken = test_job(&[RiskLevel::ReadOnly]);
    store.insert_job(&taken).await.unwrap();
    let s = schedule_of("alice");
    store.insert_schedule(&s).await.unwrap();
    let tick = s.next_tick_at;
    let fired = |job: &skynet_core::Job| {
        vec![
            NewSystemEvent::now(
                "schedule",
                EventPayload::ScheduleFired(ScheduleFired {
                    schedule: s.id.clone(),
                    tick: tick.to_rfc3339(),
                }),
            )
            .about(job.id.clone()),
        ]
    };
    let mut clash = taken.clone();
    clash.source = JobSource::Schedule;
    let firing = |job: skynet_core::Job| Firing {
        schedule: s.id.clone(),
        tick_at: tick,
        next_tick_at: tick + Duration::minutes(5),
        events: fired(&job),
        job: Some(job),
        error: None,
    };
    assert!(store.fire_schedule_tick(&firing(clash)).await.is_err());
    assert_eq!(store.schedule(&s.id, None).await.unwrap().fired, 0);
    let mut job = test_job(&[RiskLevel::ReadOnly]);
    job.source = JobSource::Schedule;
    assert!(matches!(
        store
            .fire_schedule_tick(&firing(job.clone()))
            .await
            .unwrap(),
        Fired::Now(Some(_))
    ));
    assert_eq!(
        events_about(&store, EventType::ScheduleFired, &job.id, 1).await,
        1
    );
    // The failed firing's event never landed (it would be about `taken`).
    assert_eq!(
        events_about(&store, EventType::ScheduleFired, &taken.id, 0).await,
        0
    );

    let budget = InitiativeBudget {
        per_hour: 5,
        per_day: 20,
        max_waiting: 5,
    };
    let started = |job: &skynet_core::Job| {
        vec![
            NewSystemEvent::now(
                "initiative",
                EventPayload::InitiativeStarted(InitiativeDecision {
                    strategy: "test".into(),
                    intent: job.intent.clone(),
                    reason: "testing".into(),
                }),
            )
            .about(job.id.clone()),
        ]
    };
    let mut clash = initiative_job(JobStatus::Queued, RiskLevel::ReadOnly, "look again");
    clash.id = taken.id.clone();
    assert!(
        store
            .insert_initiative_job(&clash, &budget, Utc::now(), &started(&clash))
            .await
            .is_err()
    );
    let ok = initiative_job(JobStatus::Queued, RiskLevel::ReadOnly, "look once");
    assert!(
        store
            .insert_initiative_job(&ok, &budget, Utc::now(), &started(&ok))
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        events_about(&store, EventType::InitiativeStarted, &ok.id, 1).await,
        1
    );
    assert_eq!(
        events_about(&store, EventType::InitiativeStarted, &taken.id, 0).await,
        0
    );
}
