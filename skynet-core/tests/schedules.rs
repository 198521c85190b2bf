//! Schedules through the engine on an injected clock (rounds are called
//! with the simulated time; nothing sleeps), on a SQLite file and on a
//! fresh PostgreSQL database (`SKYNET_TEST_POSTGRES_URL`; each PostgreSQL
//! test says it skipped without it): a 5-minute schedule fires 288 times
//! over a simulated day; three engines on one ledger fire each tick once;
//! missed ticks are skipped or caught up once; pause and resume; a daily
//! 09:00 Europe/Paris schedule across the spring DST change; bad input is
//! refused with nothing stored; WRITE ticks wait for approval.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod backends;
mod service;

use backends::Db;

use chrono::{DateTime, Duration, TimeZone, Utc};
use skynet_core::action::Action;
use skynet_core::events::EventType;
use skynet_core::provider::mock::MockProvider;
use skynet_core::schedules::{MissedTicks, NewSchedule};
use skynet_core::{ErrorKind, JobOrigin, JobSource, JobStatus, Principal, Skynet, Visibility};

on_every_backend!(
    a_five_minute_schedule_fires_288_times_over_a_simulated_day,
    three_engines_on_one_ledger_fire_each_tick_once,
    missed_ticks_are_skipped_or_caught_up_once,
    a_paused_schedule_fires_nothing_until_resumed,
    a_daily_paris_schedule_keeps_nine_oclock_across_dst,
    bad_schedules_are_refused_and_nothing_is_stored,
    a_write_tick_waits_for_approval,
    schedules_are_owned_by_their_principal,
);

impl Db {
    /// An engine on this ledger planning `action` for any intent, on the
    /// mock provider (which confines READ_ONLY work, so it is queued).
    async fn engine_with(&self, action: Action) -> Skynet {
        self.scripted_on_mock(action, MockProvider::new())
            .build()
            .await
            .unwrap()
    }

    async fn engine(&self) -> Skynet {
        self.engine_with(Action::ListDirectory { path: ".".into() })
            .await
    }

    /// [`Db::every`] catching up missed ticks.
    fn catching_up(&self, cron: &str) -> NewSchedule {
        NewSchedule {
            missed: MissedTicks::CatchUp,
            ..self.every(cron)
        }
    }

    fn every(&self, cron: &str) -> NewSchedule {
        NewSchedule {
            intent: "list the files".into(),
            cron: Some(cron.into()),
            root: Some(self.dir.path().into()),
            ..Default::default()
        }
    }
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

/// One round of due schedules as of `now`.
async fn fire(sk: &Skynet, now: DateTime<Utc>) -> skynet_core::engine::ScheduleRound {
    sk.fire_due_schedules(now).await.unwrap()
}

fn local() -> Principal {
    Principal::local()
}

async fn schedule_jobs(sk: &Skynet) -> Vec<skynet_core::Job> {
    backends::jobs_from(sk, JobSource::Schedule).await
}

/// The tick each job fired for, oldest first.
fn ticks(jobs: &[skynet_core::Job]) -> Vec<DateTime<Utc>> {
    let mut ticks: Vec<_> = jobs
        .iter()
        .map(|j| match &j.origin {
            Some(JobOrigin::Schedule { tick, .. }) => *tick,
            other => panic!("a schedule's job names its tick: {other:?}"),
        })
        .collect();
    ticks.sort();
    ticks
}

async fn a_five_minute_schedule_fires_288_times_over_a_simulated_day(db: Db) {
    let sk = db.engine().await;
    let start = at(2027, 1, 4, 0, 0, 30);
    let s = sk
        .add_schedule_at(&local(), db.every("*/5 * * * *"), start)
        .await
        .unwrap();
    assert_eq!(s.next_tick_at, at(2027, 1, 4, 0, 5, 0));
    let mut fired = 0;
    for minute in 1..=24 * 60 {
        let round = fire(&sk, start + Duration::minutes(minute)).await;
        fired += round.fired;
        assert_eq!(round.jobs, round.fired);
    }
    assert_eq!(fired, 288);
    let jobs = schedule_jobs(&sk).await;
    assert_eq!(jobs.len(), 288);
    assert!(jobs.iter().all(|j| j.status == JobStatus::Queued));
    let ticks = ticks(&jobs);
    assert_eq!(ticks.first(), Some(&at(2027, 1, 4, 0, 5, 0)));
    assert_eq!(ticks.last(), Some(&at(2027, 1, 5, 0, 0, 0)));
    assert!(
        ticks
            .windows(2)
            .all(|w| w[1] - w[0] == Duration::minutes(5))
    );
    assert_eq!(
        sk.schedule(&s.id, &Visibility::All).await.unwrap().fired,
        288
    );
    let fired_events = backends::count_events(&sk, EventType::ScheduleFired, 288).await;
    assert_eq!(fired_events, 288, "one schedule.fired per tick");
}

async fn three_engines_on_one_ledger_fire_each_tick_once(db: Db) {
    let engines = [db.engine().await, db.engine().await, db.engine().await];
    let start = at(2027, 1, 4, 0, 0, 0);
    let every = NewSchedule {
        every: Some(std::time::Duration::from_secs(300)),
        cron: None,
        ..db.every("")
    };
    engines[0]
        .add_schedule_at(&local(), every, start)
        .await
        .unwrap();
    engines[1]
        .add_schedule_at(&local(), db.every("*/10 * * * *"), start)
        .await
        .unwrap();
    let (mut fired, mut already) = (0, 0);
    for seconds in (20..=2 * 3600).step_by(20) {
        let now = start + Duration::seconds(seconds);
        let rounds =
            futures::future::join_all(engines.iter().map(|sk| sk.fire_due_schedules(now))).await;
        for r in rounds {
            let r = r.unwrap();
            fired += r.fired;
            already += r.already;
        }
    }
    // 24 five-minute ticks and 12 ten-minute ticks in two hours.
    assert_eq!(fired, 36);
    let jobs = schedule_jobs(&engines[2]).await;
    assert_eq!(jobs.len(), 36);
    let mut keys: Vec<_> = jobs
        .iter()
        .map(|j| match &j.origin {
            Some(JobOrigin::Schedule { schedule, tick }) => (schedule.clone(), *tick),
            _ => unreachable!(),
        })
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 36, "every job is a distinct tick");
    let fired_events = backends::count_events(&engines[0], EventType::ScheduleFired, 36).await;
    assert_eq!(fired_events, 36, "one event per tick");
    eprintln!("ticks another engine had fired first: {already}");
}

async fn missed_ticks_are_skipped_or_caught_up_once(db: Db) {
    let sk = db.engine().await;
    let start = at(2027, 1, 4, 0, 0, 0);
    let skip = sk
        .add_schedule_at(&local(), db.every("*/5 * * * *"), start)
        .await
        .unwrap();
    let catch_up = sk
        .add_schedule_at(&local(), db.catching_up("*/5 * * * *"), start)
        .await
        .unwrap();
    // Nobody ran for an hour; the round comes 2.5 minutes after the
    // last due tick (01:00).
    let round = fire(&sk, start + Duration::seconds(3750)).await;
    assert_eq!((round.fired, round.skipped), (1, 1));
    let jobs = schedule_jobs(&sk).await;
    assert_eq!(jobs.len(), 1);
    match &jobs[0].origin {
        Some(JobOrigin::Schedule { schedule, tick }) => {
            assert_eq!(schedule, &catch_up.id);
            assert_eq!(*tick, at(2027, 1, 4, 1, 0, 0));
        }
        other => panic!("{other:?}"),
    }
    for s in [&skip, &catch_up] {
        let s = sk.schedule(&s.id, &Visibility::All).await.unwrap();
        assert_eq!(s.next_tick_at, at(2027, 1, 4, 1, 5, 0));
    }
    // Then both go on as usual.
    let round = fire(&sk, at(2027, 1, 4, 1, 5, 1)).await;
    assert_eq!(round.fired, 2);
    // A tick only a little late (under a minute) still fires when skipping.
    let round = fire(&sk, at(2027, 1, 4, 1, 10, 59)).await;
    assert_eq!((round.fired, round.skipped), (2, 0));
}

async fn a_paused_schedule_fires_nothing_until_resumed(db: Db) {
    let sk = db.engine().await;
    let start = at(2027, 1, 4, 0, 0, 0);
    let s = sk
        .add_schedule_at(&local(), db.catching_up("*/5 * * * *"), start)
        .await
        .unwrap();
    let paused = sk.pause_schedule(&s.id, &Visibility::All).await.unwrap();
    assert!(paused.paused);
    for minute in 1..=60 {
        let round = fire(&sk, start + Duration::minutes(minute)).await;
        assert_eq!(round, Default::default());
    }
    let resumed = sk
        .resume_schedule_at(&s.id, &Visibility::All, start + Duration::minutes(62))
        .await
        .unwrap();
    assert!(!resumed.paused);
    // Ticks that passed while paused are not fired, even with catch-up.
    assert_eq!(resumed.next_tick_at, at(2027, 1, 4, 1, 5, 0));
    let round = fire(&sk, start + Duration::minutes(63)).await;
    assert_eq!(round.fired, 0);
    let round = fire(&sk, start + Duration::minutes(65)).await;
    assert_eq!(round.fired, 1);
    sk.remove_schedule(&s.id, &Visibility::All).await.unwrap();
    assert!(sk.schedules(&Visibility::All).await.unwrap().is_empty());
    // Its job stays.
    assert_eq!(schedule_jobs(&sk).await.len(), 1);
}

async fn a_daily_paris_schedule_keeps_nine_oclock_across_dst(db: Db) {
    let sk = db.engine().await;
    // Summer time starts in Paris on Sunday 28 March 2027.
    let start = at(2027, 3, 26, 12, 0, 0);
    let s = sk
        .add_schedule_at(
            &local(),
            NewSchedule {
                time_zone: Some("Europe/Paris".into()),
                ..db.every("0 9 * * *")
            },
            start,
        )
        .await
        .unwrap();
    assert_eq!(s.time_zone, "Europe/Paris");
    for half_hour in 1..=4 * 48 {
        fire(&sk, start + Duration::minutes(30 * half_hour)).await;
    }
    assert_eq!(
        ticks(&schedule_jobs(&sk).await),
        vec![
            at(2027, 3, 27, 8, 0, 0), // 09:00 CET
            at(2027, 3, 28, 7, 0, 0), // 09:00 CEST
            at(2027, 3, 29, 7, 0, 0),
            at(2027, 3, 30, 7, 0, 0),
        ]
    );
}

async fn bad_schedules_are_refused_and_nothing_is_stored(db: Db) {
    let sk = db.engine().await;
    let bad = [
        db.every("*/5 * * *"),
        db.every("61 * * * *"),
        db.every("0 0 31 2 *"),
        NewSchedule {
            time_zone: Some("Mars/Olympus".into()),
            ..db.every("0 9 * * *")
        },
        NewSchedule {
            every: Some(std::time::Duration::ZERO),
            cron: None,
            ..db.every("")
        },
        NewSchedule {
            every: Some(std::time::Duration::from_secs(60)),
            ..db.every("0 9 * * *")
        },
        NewSchedule {
            cron: None,
            ..db.every("")
        },
        NewSchedule {
            intent: "  ".into(),
            ..db.every("0 9 * * *")
        },
    ];
    for new in bad {
        let shown = format!("{:?} {:?} {:?}", new.cron, new.every, new.time_zone);
        let e = sk.add_schedule(&local(), new).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{shown}: {e}");
    }
    let e = sk
        .add_schedule(
            &local(),
            NewSchedule {
                time_zone: Some("Mars/Olympus".into()),
                ..db.every("0 9 * * *")
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unknown time zone"), "{e}");
    assert!(sk.schedules(&Visibility::All).await.unwrap().is_empty());
}

async fn a_write_tick_waits_for_approval(db: Db) {
    let sk = db
        .engine_with(Action::ExecuteCommand {
            argv: vec!["touch".into(), "made-by-a-schedule".into()],
        })
        .await;
    let start = at(2027, 1, 4, 0, 0, 0);
    sk.add_schedule_at(&local(), db.every("*/5 * * * *"), start)
        .await
        .unwrap();
    let round = fire(&sk, start + Duration::minutes(5)).await;
    assert_eq!(round.jobs, 1);
    let jobs = schedule_jobs(&sk).await;
    assert_eq!(jobs[0].status, JobStatus::Planned);
    assert!(jobs[0].approval.is_none());
}

async fn schedules_are_owned_by_their_principal(db: Db) {
    let sk = db.engine().await;
    let alice = Principal::new("alice").unwrap();
    let bob = Visibility::Own(Principal::new("bob").unwrap());
    let start = at(2027, 1, 4, 0, 0, 0);
    let s = sk
        .add_schedule_at(&alice, db.every("*/5 * * * *"), start)
        .await
        .unwrap();
    assert!(sk.schedules(&bob).await.unwrap().is_empty());
    for e in [
        sk.pause_schedule(&s.id, &bob).await.unwrap_err(),
        sk.remove_schedule(&s.id, &bob).await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }
    let mine = Visibility::Own(alice.clone());
    assert_eq!(sk.schedules(&mine).await.unwrap().len(), 1);
    fire(&sk, start + Duration::minutes(5)).await;
    let jobs = schedule_jobs(&sk).await;
    assert_eq!(jobs[0].principal, alice);
}
