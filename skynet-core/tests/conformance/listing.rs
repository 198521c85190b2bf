//! Keyset pagination, counts by status, and reading events after a seq
//! (what the HTTP control plane pages and streams with).

use super::*;
use skynet_core::store::{JobCursor, JobFilter};
use skynet_core::{JobStatus, RiskLevel};

/// Pages of `list_jobs` walked with `before` cover every job exactly once,
/// newest first, including jobs created in the same microsecond (the id
/// breaks the tie); a status filter pages the same way.
pub async fn list_jobs_pages_by_cursor(store: SharedStore) {
    let at = Utc::now() - chrono::Duration::minutes(5);
    let mut ids = Vec::new();
    for i in 0..7 {
        let status = if i % 2 == 0 {
            JobStatus::Planned
        } else {
            JobStatus::Created
        };
        let mut job = job_in(status, &[RiskLevel::Write]);
        // Three jobs share one instant.
        job.created_at = at + chrono::Duration::seconds(i64::from(i.max(2)));
        ids.push((job.id.clone(), status));
        insert(&store, job).await;
    }
    for statuses in [vec![], vec![JobStatus::Planned]] {
        let mut seen = Vec::new();
        let mut before: Option<JobCursor> = None;
        loop {
            let page = store
                .list_jobs(&JobFilter {
                    statuses: statuses.clone(),
                    limit: Some(2),
                    before: before.clone(),
                    ..Default::default()
                })
                .await
                .expect("list_jobs");
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            before = Some(JobCursor::after(last));
            seen.extend(page.into_iter().map(|j| (j.created_at, j.id)));
        }
        let mut expected: Vec<_> = seen.clone();
        expected.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, expected, "newest first, (created_at, id) descending");
        let want = ids
            .iter()
            .filter(|(_, s)| statuses.is_empty() || statuses.contains(s))
            .count();
        assert_eq!(seen.len(), want, "every job exactly once");
        let mut unique: Vec<_> = seen.iter().map(|(_, id)| id.clone()).collect();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), want);
    }
}

/// Counts by status match what was inserted.
pub async fn count_jobs_by_status_counts(store: SharedStore) {
    assert!(
        store
            .count_jobs_by_status()
            .await
            .expect("count")
            .is_empty()
    );
    for status in [JobStatus::Planned, JobStatus::Planned, JobStatus::Created] {
        insert(&store, job_in(status, &[RiskLevel::Write])).await;
    }
    let mut counts = store.count_jobs_by_status().await.expect("count");
    counts.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        counts,
        vec![(JobStatus::Created, 1), (JobStatus::Planned, 2)]
    );
}

/// `events_after` returns events past a seq in order, for one job or all,
/// in pages that resume without loss or repeat.
pub async fn events_after_resumes_without_loss(store: SharedStore) {
    let a = insert(&store, job_in(JobStatus::Planned, &[RiskLevel::Write])).await;
    let b = insert(&store, job_in(JobStatus::Planned, &[RiskLevel::Write])).await;
    for i in 0..5 {
        for job in [&a, &b] {
            store
                .append_event(&job.id, "note", serde_json::json!({ "i": i }))
                .await
                .expect("append_event");
        }
    }
    let all: Vec<_> = store
        .events_after(None, 0, 1000)
        .await
        .expect("events_after")
        .into_iter()
        .filter(|e| e.job_id == a.id || e.job_id == b.id)
        .collect();
    assert_eq!(all.len(), 12, "one submitted event per job + 10 notes");
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = store.events_after(None, after, 3).await.expect("page");
        let Some(last) = page.last() else { break };
        after = last.seq;
        paged.extend(page);
    }
    let paged: Vec<_> = paged
        .into_iter()
        .filter(|e| e.job_id == a.id || e.job_id == b.id)
        .collect();
    assert_eq!(paged, all);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let only_a = store
        .events_after(Some(&a.id), all[0].seq, 1000)
        .await
        .expect("one job");
    assert!(
        only_a
            .iter()
            .all(|e| e.job_id == a.id && e.seq > all[0].seq)
    );
    assert_eq!(
        only_a,
        store.events(&a.id).await.expect("events")[1..].to_vec()
    );
    assert!(matches!(
        store.events_after(Some(&JobId::new()), 0, 10).await,
        Err(Error::JobNotFound(_))
    ));
}

/// `oldest_queued_since` is the earliest moment a due queued job became
/// claimable (`max(queued_at, run_at)`); jobs held back by a future
/// `run_at`, jobs in other statuses and claimed jobs do not count.
pub async fn oldest_queued_since_finds_the_longest_waiting_due_job(store: SharedStore) {
    let now = skynet_core::store::chain::truncate_to_micros(Utc::now());
    let minutes = |m: i64| now - chrono::Duration::minutes(m);
    assert_eq!(store.oldest_queued_since(now).await.expect("empty"), None);
    insert(&store, job_in(JobStatus::Planned, &[RiskLevel::Write])).await;
    assert_eq!(
        store.oldest_queued_since(now).await.expect("planned only"),
        None,
        "a job awaiting approval is not in the queue"
    );
    let queued = |queued_at: i64, run_at: chrono::DateTime<Utc>| Job {
        queued_at: Some(minutes(queued_at)),
        run_at,
        ..test_job(&[RiskLevel::ReadOnly])
    };
    let a = insert(&store, queued(10, minutes(10))).await;
    // Held back by a retry delay: not waiting yet, however old.
    insert(&store, queued(60, now + chrono::Duration::hours(1))).await;
    // Queued long ago but due only five minutes ago.
    insert(&store, queued(30, minutes(5))).await;
    assert_eq!(
        store.oldest_queued_since(now).await.expect("three queued"),
        Some(minutes(10))
    );
    claimed(&store, &a.id, LONG).await;
    assert_eq!(
        store.oldest_queued_since(now).await.expect("after a claim"),
        Some(minutes(5)),
        "a claimed job no longer waits; a job counts from when it became due"
    );
}
