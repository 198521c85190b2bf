//! Provider statistics over recent finished jobs (the scheduler's history).

use super::*;
use skynet_core::store::{Completion, ProviderStats};

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
