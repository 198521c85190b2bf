//! The initiative engine through the engine, on an injected clock (rounds
//! are called with the simulated time; nothing sleeps), on a SQLite file
//! and on a fresh PostgreSQL database (`SKYNET_TEST_POSTGRES_URL`; each
//! PostgreSQL test says it skipped without it): its budgets hold across
//! restarts and across two engines on one ledger, WRITE proposals wait for
//! a human and are never queued, and the kill switch stops it within one
//! round.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod backends;
mod service;

use backends::Db;

use chrono::{DateTime, Duration, TimeZone, Utc};
use skynet_core::action::Action;
use skynet_core::events::EventType;
use skynet_core::initiative::{InitiativeConfig, Proposal, Strategy, SystemState};
use skynet_core::provider::mock::MockProvider;
use skynet_core::store::initiative::{InitiativeBudget, Refusal};
use skynet_core::view::JobView;
use skynet_core::{JobOrigin, JobSource, JobStatus, Skynet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

on_every_backend!(
    the_budget_holds_across_restarts,
    the_budget_holds_across_two_engines_on_one_ledger,
    write_proposals_wait_for_a_human_and_are_never_queued,
    pause_stops_it_within_one_round,
);

/// Proposes two fresh intents every round.
#[derive(Debug, Default)]
struct Eager {
    made: AtomicUsize,
}

impl Strategy for Eager {
    fn name(&self) -> &str {
        "eager"
    }
    fn propose(&self, _state: &SystemState) -> Vec<Proposal> {
        (0..2)
            .map(|_| {
                let n = self.made.fetch_add(1, Ordering::SeqCst);
                Proposal {
                    intent: format!("list the files, round {n}"),
                    reason: format!("test proposal {n}"),
                }
            })
            .collect()
    }
}

impl Db {
    async fn engine_with(&self, action: Action, strategy: Arc<Eager>) -> Skynet {
        self.scripted_on_mock(action, MockProvider::new())
            .initiative(InitiativeConfig {
                enabled: true,
                ..Default::default()
            })
            .initiative_strategy(strategy)
            .build()
            .await
            .unwrap()
    }

    async fn engine(&self, strategy: Arc<Eager>) -> Skynet {
        self.engine_with(Action::ListDirectory { path: ".".into() }, strategy)
            .await
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 4, 0, 0, 0).unwrap()
}

async fn initiative_jobs(sk: &Skynet) -> Vec<skynet_core::Job> {
    backends::jobs_from(sk, JobSource::Initiative).await
}

/// No hour holds more than `per_hour` of `created`, none of the days more
/// than `per_day`.
fn assert_within_budget(created: &[DateTime<Utc>], budget: InitiativeBudget) {
    for t in created {
        let in_hour = created
            .iter()
            .filter(|c| **c > *t - Duration::hours(1) && **c <= *t)
            .count();
        assert!(
            in_hour <= budget.per_hour as usize,
            "{in_hour} in the hour to {t}"
        );
        let in_day = created
            .iter()
            .filter(|c| **c > *t - Duration::days(1) && **c <= *t)
            .count();
        assert!(
            in_day <= budget.per_day as usize,
            "{in_day} in the day to {t}"
        );
    }
}

async fn the_budget_holds_across_restarts(db: Db) {
    let strategy = Arc::new(Eager::default());
    let mut sk = db.engine(strategy.clone()).await;
    // A round every 5 minutes over a simulated day, the engine restarted
    // (a new store handle and engine) every 50 minutes.
    for round in 1..=288 {
        if round % 10 == 0 {
            sk = db.engine(strategy.clone()).await;
        }
        sk.initiative_round(start() + Duration::minutes(5 * round))
            .await
            .unwrap();
    }
    let jobs = initiative_jobs(&sk).await;
    let budget = InitiativeBudget::default();
    assert_eq!(jobs.len(), budget.per_day as usize);
    let created: Vec<_> = jobs.iter().map(|j| j.created_at).collect();
    assert_within_budget(&created, budget);
    // Every job says who proposed it and why, in its view too.
    for job in &jobs {
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.principal.as_str(), "initiative");
        let Some(JobOrigin::Initiative { strategy, reason }) = &job.origin else {
            panic!("{:?}", job.origin);
        };
        assert_eq!(strategy, "eager");
        assert!(reason.starts_with("test proposal"), "{reason}");
        let view = serde_json::to_value(JobView::new(job, &[])).unwrap();
        assert_eq!(view["origin"]["strategy"], "eager");
        assert_eq!(view["source"], "initiative");
    }
}

async fn the_budget_holds_across_two_engines_on_one_ledger(db: Db) {
    let strategy = Arc::new(Eager::default());
    let a = db.engine(strategy.clone()).await;
    let b = db.engine(strategy.clone()).await;
    for round in 1..=36 {
        let now = start() + Duration::minutes(5 * round);
        let (ra, rb) = tokio::join!(a.initiative_round(now), b.initiative_round(now));
        ra.unwrap();
        rb.unwrap();
    }
    let jobs = initiative_jobs(&a).await;
    // Three hours: the hourly budget, three times over.
    assert_eq!(jobs.len(), 15);
    let created: Vec<_> = jobs.iter().map(|j| j.created_at).collect();
    assert_within_budget(&created, InitiativeBudget::default());
    // Each job made is announced once as proposed and once as started;
    // the refusals past the budget say so in the log.
    let count = |t, want| backends::count_events(&a, t, want);
    assert_eq!(count(EventType::InitiativeProposed, 15).await, 15);
    assert_eq!(count(EventType::InitiativeStarted, 15).await, 15);
    assert!(count(EventType::BudgetExhausted, 1).await > 0);
    assert!(count(EventType::InitiativeSkipped, 1).await > 0);
}

async fn write_proposals_wait_for_a_human_and_are_never_queued(db: Db) {
    let sk = db
        .engine_with(
            Action::ExecuteCommand {
                argv: vec!["touch".into(), "made-by-the-initiative".into()],
            },
            Arc::new(Eager::default()),
        )
        .await;
    let mut skipped = Vec::new();
    for round in 1..=24 {
        let r = sk
            .initiative_round(start() + Duration::minutes(5 * round))
            .await
            .unwrap();
        assert_eq!(r.started, 0);
        skipped.extend(r.skipped);
    }
    let jobs = initiative_jobs(&sk).await;
    // The cap on jobs waiting at once (3) binds before the hourly budget.
    assert_eq!(jobs.len(), InitiativeBudget::default().max_waiting as usize);
    assert!(skipped.contains(&Refusal::WaitingCap));
    for job in &jobs {
        assert_eq!(job.status, JobStatus::Planned);
        assert!(job.approval.is_none());
        assert_eq!(job.risk, skynet_core::RiskLevel::Write);
    }
    let status = sk
        .initiative_status_at(start() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(status.usage.waiting, 3);
}

async fn pause_stops_it_within_one_round(db: Db) {
    let strategy = Arc::new(Eager::default());
    let sk = db.engine(strategy.clone()).await;
    // Another process holds the switch.
    let other = db.engine(strategy.clone()).await;
    let r = sk.initiative_round(start()).await.unwrap();
    assert_eq!(r.started, 2);
    let status = other.set_initiative_paused(true, "operator").await.unwrap();
    assert!(status.usage.paused);
    for round in 1..=12 {
        let r = sk
            .initiative_round(start() + Duration::minutes(5 * round))
            .await
            .unwrap();
        assert!(r.paused);
        assert_eq!((r.started, r.waiting), (0, 0));
    }
    assert_eq!(initiative_jobs(&sk).await.len(), 2);
    // A proposal already past the round's check is refused in its own
    // transaction.
    let outcome = sk
        .propose(
            "eager",
            &Proposal {
                intent: "list the files once more".into(),
                reason: "in flight".into(),
            },
            start() + Duration::hours(2),
        )
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        skynet_core::engine::ProposalOutcome::Skipped(Refusal::Paused)
    ));
    other
        .set_initiative_paused(false, "operator")
        .await
        .unwrap();
    let r = sk
        .initiative_round(start() + Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(r.started, 2);
}
