//! Provider statistics over recent finished jobs (the scheduler's history).

use super::*;
use skynet_core::store::{Completion, ProviderStats, step_signature};

/// Run a fresh job on `provider` under a lease and finish it with `how`.
async fn finished_on(store: &SharedStore, provider: &str, how: Completion) -> Job {
    let mut job = test_job(&[RiskLevel::ReadOnly]);
    job.provider = provider.into();
    let job = insert(store, job).await;
    let (_, lease) = claimed(store, &job.id, LONG).await;
    store
        .complete(&job.id, &lease, how)
        .await
        .expect("complete")
}

/// Counts succeeded/failed/timed-out jobs per provider (not cancelled ones
/// nor unfinished ones), looks only at each provider's newest `limit`, and
/// gives a median duration only where something succeeded.
pub async fn provider_stats_count_recent_finished_jobs(store: SharedStore) {
    assert_eq!(store.provider_stats(100).await.expect("stats"), vec![]);
    finished_on(&store, "alpha", Completion::Succeeded).await;
    finished_on(&store, "alpha", Completion::Failed("exit 1".into())).await;
    finished_on(&store, "alpha", Completion::TimedOut("slow".into())).await;
    finished_on(&store, "alpha", Completion::Cancelled).await;
    finished_on(&store, "beta", Completion::Succeeded).await;
    finished_on(&store, "beta", Completion::Succeeded).await;
    finished_on(&store, "gamma", Completion::Failed("exit 2".into())).await;
    // Queued and running jobs say nothing yet.
    let mut waiting = test_job(&[RiskLevel::ReadOnly]);
    waiting.provider = "delta".into();
    insert(&store, waiting).await;
    let stats = store.provider_stats(100).await.expect("stats");
    let summary: Vec<(&str, u64, u64, bool)> = stats
        .iter()
        .map(|s| {
            (
                s.provider.as_str(),
                s.finished,
                s.succeeded,
                s.median_duration_ms.is_some(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("alpha", 3, 1, true),
            ("beta", 2, 2, true),
            ("gamma", 1, 0, false)
        ]
    );
    // Only each provider's newest two: alpha's success is older than both
    // of its failures.
    let recent: Vec<ProviderStats> = store.provider_stats(2).await.expect("stats");
    let alpha = recent
        .iter()
        .find(|s| s.provider == "alpha")
        .expect("alpha");
    assert_eq!((alpha.finished, alpha.succeeded), (2, 0));
    assert_eq!(alpha.median_duration_ms, None);
    let beta = recent.iter().find(|s| s.provider == "beta").expect("beta");
    assert_eq!((beta.finished, beta.succeeded), (2, 2));
}

/// Run step 0 of a fresh job of `principal` for about `pause`, ending it
/// `how`; returns how long the ledger says it ran, in milliseconds.
async fn timed_run(store: &SharedStore, principal: &str, pause: u64, how: StepStatus) -> i64 {
    let mut job = test_job(&[RiskLevel::ReadOnly]);
    job.principal = skynet_core::Principal::new(principal).expect("principal");
    let job = insert(store, job).await;
    let (_, lease) = claimed(store, &job.id, LONG).await;
    store.start_step(&job.id, &lease, 0).await.expect("start");
    // The pause is the step's work: it gives the run a duration.
    tokio::time::sleep(Duration::from_millis(pause)).await;
    store
        .finish_step(&job.id, &lease, 0, outcome(how), &[])
        .await
        .expect("finish");
    let step = &store.steps(&job.id).await.expect("steps")[0];
    (step.finished_at.expect("finished") - step.started_at.expect("started")).num_milliseconds()
}

/// The median of a step's last successful runs, by signature: failed runs
/// and other principals' runs do not count, and `runs` keeps the newest.
pub async fn step_medians_come_from_recent_successful_runs(store: SharedStore) {
    let step = |p: &str| {
        let mut job = test_job(&[RiskLevel::ReadOnly]);
        job.principal = skynet_core::Principal::new(p).expect("principal");
        step_signature(&job.principal, &job.plan.expect("plan").steps[0])
    };
    let (ops, dev) = (step("ops"), step("dev"));
    assert_ne!(ops, dev, "another principal's step is another signature");
    let none = store
        .step_medians(std::slice::from_ref(&ops), 20)
        .await
        .expect("medians");
    assert!(none.is_empty(), "{none:?}");

    let mut ok = Vec::new();
    for pause in [20, 90, 50] {
        ok.push(timed_run(&store, "ops", pause, StepStatus::Succeeded).await);
    }
    timed_run(&store, "ops", 250, StepStatus::Failed).await;
    let theirs = timed_run(&store, "dev", 150, StepStatus::Succeeded).await;

    let medians = store
        .step_medians(&[ops.clone(), dev.clone(), "never-ran".into()], 20)
        .await
        .expect("medians");
    let mut sorted = ok.clone();
    sorted.sort_unstable();
    assert_eq!(medians.get(&ops).copied(), Some(sorted[1] as u64));
    assert_eq!(medians.get(&dev).copied(), Some(theirs as u64));
    assert!(!medians.contains_key("never-ran"));
    // Only the newest run counts with `runs = 1`.
    let newest = store
        .step_medians(std::slice::from_ref(&ops), 1)
        .await
        .expect("medians");
    assert_eq!(newest.get(&ops).copied(), Some(ok[2] as u64));
}

/// Failed and timed-out runs of a step since a time, by signature: other
/// principals' runs, successes and older failures do not count.
pub async fn step_failures_count_recent_failed_runs(store: SharedStore) {
    let step = |p: &str| {
        let mut job = test_job(&[RiskLevel::ReadOnly]);
        job.principal = skynet_core::Principal::new(p).expect("principal");
        step_signature(&job.principal, &job.plan.expect("plan").steps[0])
    };
    let (ops, dev) = (step("ops"), step("dev"));
    let start = Utc::now() - chrono::Duration::seconds(1);
    let none = store
        .step_failures_since(std::slice::from_ref(&ops), start)
        .await
        .expect("failures");
    assert!(none.is_empty(), "{none:?}");
    timed_run(&store, "ops", 0, StepStatus::Failed).await;
    timed_run(&store, "ops", 0, StepStatus::TimedOut).await;
    timed_run(&store, "ops", 0, StepStatus::Succeeded).await;
    timed_run(&store, "dev", 0, StepStatus::Failed).await;
    let found = store
        .step_failures_since(&[ops.clone(), dev.clone(), "never-ran".into()], start)
        .await
        .expect("failures");
    assert_eq!(found.get(&ops).copied(), Some(2));
    assert_eq!(found.get(&dev).copied(), Some(1));
    assert!(!found.contains_key("never-ran"));
    let later = store
        .step_failures_since(&[ops], Utc::now() + chrono::Duration::seconds(5))
        .await
        .expect("failures");
    assert!(later.is_empty(), "failures before `since` do not count");
}

/// Many steps' signatures in one call: each as the plan's step gives it,
/// keyed by (job, index); a step that does not exist is left out, and a
/// job asked for twice is read once.
pub async fn step_signatures_are_read_for_many_steps_at_once(store: SharedStore) {
    let none = store.step_signatures(&[]).await.expect("nothing asked");
    assert!(none.is_empty());
    let two = insert(
        &store,
        test_job(&[RiskLevel::ReadOnly, RiskLevel::ReadOnly]),
    )
    .await;
    let mut theirs = test_job(&[RiskLevel::ReadOnly]);
    theirs.principal = skynet_core::Principal::new("dev").expect("principal");
    let theirs = insert(&store, theirs).await;
    let signature = |job: &Job, i: usize| {
        step_signature(&job.principal, &job.plan.as_ref().expect("plan").steps[i])
    };
    let asked = [
        (two.id.clone(), 0),
        (two.id.clone(), 1),
        (theirs.id.clone(), 0),
        (theirs.id.clone(), 7),
        (JobId::new(), 0),
    ];
    let found = store.step_signatures(&asked).await.expect("signatures");
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found.get(&(two.id.clone(), 0)), Some(&signature(&two, 0)));
    assert_eq!(found.get(&(two.id.clone(), 1)), Some(&signature(&two, 1)));
    assert_eq!(
        found.get(&(theirs.id.clone(), 0)),
        Some(&signature(&theirs, 0))
    );
    assert_ne!(signature(&two, 0), signature(&two, 1));
}
