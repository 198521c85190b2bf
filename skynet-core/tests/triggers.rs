//! Triggers and the default handlers through the engine, on a SQLite file
//! and on a fresh PostgreSQL database (`SKYNET_TEST_POSTGRES_URL`; each
//! PostgreSQL test says it skipped without it). Rounds are called with the
//! time they act as of (nothing sleeps to wait for work; reads of the log
//! poll with a deadline, since on PostgreSQL an event shows once older
//! transactions have ended): a trigger fires exactly once per matching
//! event, with payload conditions; three engines on one ledger fire each
//! event once; the rate limit holds across a restart; a trigger's own
//! failing job never fires it again; bad input is refused with nothing
//! stored; principals see only their triggers; WRITE firings wait for
//! approval; `failure.pattern` after repeated failures of one step and not
//! for different steps; `queue.backlog` and `system.idle` raised once and
//! cleared; `optimization.opportunity` once for a step that slowed down.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod backends;
mod engine_support;
mod service;

use backends::Db;

use chrono::{Duration, Utc};
use skynet_core::action::Action;
use skynet_core::engine::{ConditionLimits, TriggerRound};
use skynet_core::events::{EventPayload, EventType, NewSystemEvent, ProviderHealth};
use skynet_core::provider::mock::{MockProvider, MockResponse};
use skynet_core::triggers::{NewTrigger, RateLimit, parse_conditions};
use skynet_core::{
    ErrorKind, Job, JobOrigin, JobSource, JobStatus, Principal, Skynet, SubmitRequest, Visibility,
};

on_every_backend!(
    a_trigger_fires_once_per_matching_event,
    three_engines_on_one_ledger_fire_each_event_once,
    the_rate_limit_holds_across_a_restart,
    a_triggers_own_failing_job_never_fires_it_again,
    bad_triggers_are_refused_and_nothing_is_stored,
    triggers_are_owned_by_their_principal,
    a_write_firing_waits_for_approval,
    repeated_failures_of_one_step_raise_one_failure_pattern,
    backlog_and_idle_are_raised_once_and_cleared,
    a_step_that_slowed_down_raises_one_optimization_opportunity,
);

impl Db {
    async fn engine_with(&self, action: Action, mock: MockProvider) -> Skynet {
        self.scripted_on_mock(action, mock)
            .config(engine_support::fast())
            .build()
            .await
            .unwrap()
    }

    async fn engine(&self) -> Skynet {
        self.engine_with(
            Action::ListDirectory { path: ".".into() },
            MockProvider::new(),
        )
        .await
    }

    fn on(&self, types: &str, intent: &str) -> NewTrigger {
        NewTrigger {
            on: types.into(),
            intent: intent.into(),
            root: Some(self.dir.path().into()),
            ..Default::default()
        }
    }

    fn req(&self, intent: &str) -> SubmitRequest {
        SubmitRequest::new(intent).root(self.dir.path())
    }
}

fn local() -> Principal {
    Principal::local()
}

fn degraded(provider: &str) -> NewSystemEvent {
    NewSystemEvent::now(
        "sentinel",
        EventPayload::ProviderDegraded(ProviderHealth {
            provider: provider.into(),
            detail: "2 of 3 checks failed".into(),
        }),
    )
}

async fn trigger_jobs(sk: &Skynet) -> Vec<Job> {
    backends::jobs_from(sk, JobSource::Trigger).await
}

/// Add `b` to `a`.
fn add(a: &mut TriggerRound, b: &TriggerRound) {
    a.events += b.events;
    a.fired += b.fired;
    a.rate_limited += b.rate_limited;
    a.refused += b.refused;
    a.already += b.already;
    a.loop_guarded += b.loop_guarded;
}

/// Run trigger rounds of `engines` together as of `now` until `done`
/// holds for the sum (events reach the log's readers in commit order, a
/// moment after their commit on PostgreSQL), then one more round each;
/// fails after 15 s.
async fn rounds_until(
    engines: &[&Skynet],
    now: chrono::DateTime<Utc>,
    done: impl Fn(&TriggerRound) -> bool,
) -> TriggerRound {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut total = TriggerRound::default();
    loop {
        let rounds =
            futures::future::join_all(engines.iter().map(|sk| sk.fire_triggers(now))).await;
        for r in rounds {
            add(&mut total, &r.unwrap());
        }
        if done(&total) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "trigger rounds never got there: {total:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for sk in engines {
        add(&mut total, &sk.fire_triggers(now).await.unwrap());
    }
    total
}

async fn a_trigger_fires_once_per_matching_event(db: Db) {
    let sk = db.engine().await;
    let mut new = db.on("provider.degraded", "check the provider's disk and network");
    new.conditions = parse_conditions(["provider=docker"]).unwrap();
    let t = sk.add_trigger(&local(), new).await.unwrap();
    assert_eq!(t.rate, RateLimit::default());
    sk.record_event(&degraded("local")).await.unwrap();
    sk.record_event(&degraded("docker")).await.unwrap();
    sk.record_event(&NewSystemEvent::now(
        "sentinel",
        EventPayload::ProviderRecovered(ProviderHealth {
            provider: "docker".into(),
            detail: "healthy".into(),
        }),
    ))
    .await
    .unwrap();
    let now = Utc::now();
    let round = rounds_until(&[&sk], now, |r| r.events >= 2).await;
    assert_eq!(round.fired, 1, "{round:?}");
    // Later rounds fire nothing more.
    let again = sk.fire_triggers(now).await.unwrap();
    assert_eq!(again.fired, 0);
    let jobs = trigger_jobs(&sk).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.status, JobStatus::Queued, "READ_ONLY work is queued");
    assert_eq!(job.principal, local());
    let Some(JobOrigin::Trigger { trigger, event }) = &job.origin else {
        panic!("a trigger's job names its origin: {:?}", job.origin);
    };
    assert_eq!(trigger, &t.id);
    assert!(*event > 0);
    assert_eq!(
        backends::count_events(&sk, EventType::TriggerFired, 1).await,
        1
    );
    let stored = sk.trigger(&t.id, &Visibility::All).await.unwrap();
    assert_eq!(stored.fired, 1);
}

async fn three_engines_on_one_ledger_fire_each_event_once(db: Db) {
    let engines = [db.engine().await, db.engine().await, db.engine().await];
    let new = NewTrigger {
        rate: Some("100/hour".parse().unwrap()),
        ..db.on("provider.*", "check the provider")
    };
    engines[0].add_trigger(&local(), new).await.unwrap();
    for i in 0..10 {
        engines[i % 3]
            .record_event(&degraded(&format!("p{i}")))
            .await
            .unwrap();
    }
    let now = Utc::now();
    let refs: Vec<&Skynet> = engines.iter().collect();
    let round = rounds_until(&refs, now, |r| r.fired >= 10).await;
    assert_eq!(round.fired, 10, "{round:?}");
    let jobs = trigger_jobs(&engines[2]).await;
    assert_eq!(jobs.len(), 10);
    let mut events: Vec<i64> = jobs
        .iter()
        .map(|j| match &j.origin {
            Some(JobOrigin::Trigger { event, .. }) => *event,
            other => panic!("{other:?}"),
        })
        .collect();
    events.sort_unstable();
    events.dedup();
    assert_eq!(events.len(), 10, "every job is a distinct event");
    assert_eq!(
        backends::count_events(&engines[1], EventType::TriggerFired, 10).await,
        10
    );
    eprintln!("firings another engine had made first: {}", round.already);
}

async fn the_rate_limit_holds_across_a_restart(db: Db) {
    let sk = db.engine().await;
    let new = NewTrigger {
        rate: Some("2/hour".parse().unwrap()),
        ..db.on("provider.degraded", "check the provider")
    };
    let t = sk.add_trigger(&local(), new).await.unwrap();
    for p in ["a", "b", "c"] {
        sk.record_event(&degraded(p)).await.unwrap();
    }
    let now = Utc::now();
    let round = rounds_until(&[&sk], now, |r| r.fired + r.rate_limited >= 3).await;
    assert_eq!((round.fired, round.rate_limited), (2, 1), "{round:?}");
    drop(sk);
    // A new process on the same ledger: the limit is in the ledger.
    let sk = db.engine().await;
    sk.record_event(&degraded("d")).await.unwrap();
    let round = rounds_until(&[&sk], now + Duration::minutes(30), |r| r.rate_limited >= 1).await;
    assert_eq!((round.fired, round.rate_limited), (0, 1), "{round:?}");
    assert_eq!(trigger_jobs(&sk).await.len(), 2);
    assert_eq!(
        backends::count_events(&sk, EventType::TriggerSkipped, 2).await,
        2
    );
    // A window later it fires again.
    sk.record_event(&degraded("e")).await.unwrap();
    let round = rounds_until(&[&sk], now + Duration::minutes(61), |r| r.fired >= 1).await;
    assert_eq!(round.fired, 1, "{round:?}");
    assert_eq!(sk.trigger(&t.id, &Visibility::All).await.unwrap().fired, 3);
}

async fn a_triggers_own_failing_job_never_fires_it_again(db: Db) {
    let mock = MockProvider::new().with_rule(["git", "status"], MockResponse::exit(1));
    let sk = db.engine_with(Action::GitStatus, mock).await;
    let t = sk
        .add_trigger(&local(), db.on("job.failed", "look at the repository"))
        .await
        .unwrap();
    // A job someone asked for fails: that fires the trigger.
    let asked = sk.submit(db.req("git status")).await.unwrap();
    let asked = engine_support::drain_until_done(&sk, &asked.id).await;
    assert_eq!(asked.status, JobStatus::Failed);
    let now = Utc::now();
    let round = rounds_until(&[&sk], now, |r| r.fired >= 1).await;
    assert_eq!(round.fired, 1, "{round:?}");
    let jobs = trigger_jobs(&sk).await;
    assert_eq!(jobs.len(), 1);
    // The trigger's own job fails the same way: its failure fires nothing.
    let own = engine_support::drain_until_done(&sk, &jobs[0].id).await;
    assert_eq!(own.status, JobStatus::Failed);
    let round = rounds_until(&[&sk], now, |r| r.loop_guarded >= 1).await;
    assert_eq!(round.fired, 0, "{round:?}");
    assert_eq!(trigger_jobs(&sk).await.len(), 1, "no loop");
    assert_eq!(sk.trigger(&t.id, &Visibility::All).await.unwrap().fired, 1);
}

async fn bad_triggers_are_refused_and_nothing_is_stored(db: Db) {
    let sk = db.engine().await;
    let zero_rate = NewTrigger {
        rate: Some(RateLimit {
            max_firings: 0,
            window_secs: 3600,
        }),
        ..db.on("job.failed", "look")
    };
    let bad_field = NewTrigger {
        conditions: [("pro vider".to_string(), "x".to_string())].into(),
        ..db.on("provider.degraded", "look")
    };
    let cases = [
        (db.on("job.exploded", "look"), "unknown event type"),
        (db.on("", "look"), "which events"),
        (db.on("job.failed", "   "), "intent"),
        (zero_rate, "at least 1"),
        (bad_field, "plain field name"),
        (db.on("trigger.*,schedule.fired", "look"), "never fire"),
    ];
    for (new, says) in cases {
        let e = sk.add_trigger(&local(), new).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(says), "{says}: {e}");
    }
    assert!("0/hour".parse::<RateLimit>().is_err());
    assert!(sk.triggers(&Visibility::All).await.unwrap().is_empty());
}

async fn triggers_are_owned_by_their_principal(db: Db) {
    let sk = db.engine().await;
    let alice = Principal::new("alice").unwrap();
    let bob = Visibility::Own(Principal::new("bob").unwrap());
    let t = sk
        .add_trigger(&alice, db.on("provider.degraded", "check"))
        .await
        .unwrap();
    assert!(sk.triggers(&bob).await.unwrap().is_empty());
    for e in [
        sk.trigger(&t.id, &bob).await.unwrap_err(),
        sk.pause_trigger(&t.id, &bob).await.unwrap_err(),
        sk.remove_trigger(&t.id, &bob).await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
    let mine = Visibility::Own(alice.clone());
    assert_eq!(sk.triggers(&mine).await.unwrap().len(), 1);
    sk.record_event(&degraded("docker")).await.unwrap();
    rounds_until(&[&sk], Utc::now(), |r| r.fired >= 1).await;
    assert_eq!(trigger_jobs(&sk).await[0].principal, alice);
    // Paused, it fires nothing; resumed, it fires on new events.
    sk.pause_trigger(&t.id, &mine).await.unwrap();
    sk.record_event(&degraded("docker")).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        assert_eq!(sk.fire_triggers(Utc::now()).await.unwrap().fired, 0);
    }
    sk.resume_trigger(&t.id, &mine).await.unwrap();
    sk.remove_trigger(&t.id, &mine).await.unwrap();
    assert!(sk.triggers(&Visibility::All).await.unwrap().is_empty());
    assert_eq!(trigger_jobs(&sk).await.len(), 1, "its job stays");
}

async fn a_write_firing_waits_for_approval(db: Db) {
    let sk = db
        .engine_with(
            Action::ExecuteCommand {
                argv: vec!["touch".into(), "made-by-a-trigger".into()],
            },
            MockProvider::new(),
        )
        .await;
    sk.add_trigger(&local(), db.on("provider.degraded", "touch a file"))
        .await
        .unwrap();
    sk.record_event(&degraded("docker")).await.unwrap();
    rounds_until(&[&sk], Utc::now(), |r| r.fired >= 1).await;
    let jobs = trigger_jobs(&sk).await;
    assert_eq!(jobs[0].status, JobStatus::Planned);
    assert!(jobs[0].approval.is_none());
}

/// Watch steps until `want` patterns were raised in total (15 s at most),
/// then once more.
async fn watch_until(sk: &Skynet, limits: &ConditionLimits, want: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut raised = 0;
    loop {
        raised += sk
            .watch_steps(Utc::now(), limits)
            .await
            .unwrap()
            .raised
            .len();
        if raised >= want || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    raised
        + sk.watch_steps(Utc::now(), limits)
            .await
            .unwrap()
            .raised
            .len()
}

async fn repeated_failures_of_one_step_raise_one_failure_pattern(db: Db) {
    let limits = ConditionLimits::default();
    // Three different steps failing once each: no pattern.
    for path in ["a", "b", "c"] {
        std::fs::create_dir(db.dir.path().join(path)).unwrap();
        let mock = MockProvider::new().with_rule(["ls"], MockResponse::exit(2));
        let sk = db
            .engine_with(Action::ListDirectory { path: path.into() }, mock)
            .await;
        let job = sk.submit(db.req("list")).await.unwrap();
        engine_support::drain_until_done(&sk, &job.id).await;
    }
    let mock = MockProvider::new().with_rule(["git", "status"], MockResponse::exit(1));
    let sk = db.engine_with(Action::GitStatus, mock).await;
    assert_eq!(watch_until(&sk, &limits, usize::MAX).await, 0);
    // The same step failing four times: one pattern.
    let mut failed = Vec::new();
    for _ in 0..4 {
        let job = sk.submit(db.req("git status")).await.unwrap();
        failed.push(engine_support::drain_until_done(&sk, &job.id).await.id);
    }
    assert_eq!(watch_until(&sk, &limits, 1).await, 1);
    let page = sk
        .event_log(skynet_core::store::event_log::EventLogQuery {
            limit: 1000,
            types: vec![EventType::FailurePattern],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    let EventPayload::FailurePattern(p) = &page.events[0].payload else {
        unreachable!()
    };
    assert!(p.failures >= 3, "{p:?}");
    assert_eq!(
        p.jobs[0],
        failed.last().unwrap().to_string(),
        "newest first"
    );
    assert_eq!(page.events[0].job.as_ref(), failed.last());
}

async fn backlog_and_idle_are_raised_once_and_cleared(db: Db) {
    let sk = db.engine().await;
    let limits = ConditionLimits {
        backlog_queued: 2,
        backlog_wait: std::time::Duration::from_secs(3600),
        ..ConditionLimits::default()
    };
    let now = Utc::now();
    let quiet = sk.check_conditions(now, &limits).await.unwrap();
    assert!(
        quiet.raised.is_empty(),
        "a ledger with no jobs is not idle: {quiet:?}"
    );
    let a = sk.submit(db.req("list")).await.unwrap();
    let b = sk.submit(db.req("list")).await.unwrap();
    assert_eq!(
        sk.check_conditions(now, &limits).await.unwrap().raised,
        [EventType::QueueBacklog]
    );
    assert!(
        sk.check_conditions(now, &limits)
            .await
            .unwrap()
            .raised
            .is_empty()
    );
    for id in [&a.id, &b.id] {
        sk.cancel(id, "tester").await.unwrap();
    }
    let cleared = sk.check_conditions(now, &limits).await.unwrap();
    assert_eq!(cleared.cleared, ["queue.backlog"]);
    // Nothing queued or running: idle once the last activity is old enough
    // (events reach readers in commit order; poll for the cancel's).
    let later = Utc::now() + Duration::minutes(11);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let round = loop {
        let round = sk.check_conditions(later, &limits).await.unwrap();
        if !round.raised.is_empty() || std::time::Instant::now() > deadline {
            break round;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(round.raised, [EventType::SystemIdle]);
    assert!(
        sk.check_conditions(later, &limits)
            .await
            .unwrap()
            .raised
            .is_empty()
    );
    sk.submit(db.req("list")).await.unwrap();
    let busy = sk.check_conditions(later, &limits).await.unwrap();
    assert_eq!(busy.cleared, ["system.idle"]);
    assert_eq!(
        backends::count_events(&sk, EventType::SystemIdle, 1).await,
        1
    );
    assert_eq!(
        backends::count_events(&sk, EventType::QueueBacklog, 1).await,
        1
    );
}

async fn a_step_that_slowed_down_raises_one_optimization_opportunity(db: Db) {
    // Five quick runs, then three that take 1.2 s more.
    let slow = MockResponse::stdout(["slow"]).with_delay(std::time::Duration::from_millis(1200));
    let mock = MockProvider::new()
        .with_rule_times(["ls"], MockResponse::stdout(["quick"]), 5)
        .with_rule(["ls"], slow);
    let sk = db
        .engine_with(Action::ListDirectory { path: ".".into() }, mock)
        .await;
    let limits = ConditionLimits::default();
    for _ in 0..8 {
        let job = sk.submit(db.req("list")).await.unwrap();
        let done = engine_support::drain_until_done(&sk, &job.id).await;
        assert_eq!(done.status, JobStatus::Succeeded);
    }
    assert_eq!(watch_until(&sk, &limits, 1).await, 1);
    let n = backends::count_events(&sk, EventType::OptimizationOpportunity, 1).await;
    assert_eq!(n, 1, "one opportunity for the step, not one per run");
}
