//! Conformance: the worker registry and hand-back on shutdown.

use super::*;
use skynet_core::store::{Completion, WorkerInfo, WorkerState};

const RO: RiskLevel = RiskLevel::ReadOnly;
const W: RiskLevel = RiskLevel::Write;

fn info(id: &str, capacity: u32) -> WorkerInfo {
    WorkerInfo {
        id: id.into(),
        host: "host-a".into(),
        pid: 4242,
        version: "0.1.0".into(),
        providers: vec!["local".into(), "mock".into()],
        capacity,
    }
}

/// Register, heartbeat busy and idle, stop, re-register; silent workers
/// are marked offline and only they.
pub async fn worker_registry_tracks_state(store: SharedStore) {
    assert!(store.workers().await.expect("list").is_empty());
    store
        .register_worker(&info("w1", 4))
        .await
        .expect("register");
    store
        .register_worker(&info("w2", 1))
        .await
        .expect("register");
    let all = store.workers().await.expect("list");
    assert_eq!(all.len(), 2);
    let w1 = all.iter().find(|w| w.info.id == "w1").expect("w1");
    assert_eq!(w1.info, info("w1", 4));
    assert_eq!(w1.state, WorkerState::Online);

    store.worker_heartbeat("w1", 3).await.expect("heartbeat");
    let w1 = find(&store, "w1").await;
    assert_eq!((w1.state, w1.running), (WorkerState::Busy, 3));
    assert!(w1.heartbeat_at >= w1.started_at);

    // w2 has been silent since before `cutoff`; w1 heartbeats after it.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.worker_heartbeat("w1", 0).await.expect("heartbeat");
    assert_eq!(store.mark_stale_workers(cutoff).await.expect("mark"), 1);
    assert_eq!(find(&store, "w2").await.state, WorkerState::Offline);
    assert!(find(&store, "w2").await.stopped_at.is_some());
    assert_eq!(find(&store, "w1").await.state, WorkerState::Online);
    // Marking again changes nothing.
    assert_eq!(store.mark_stale_workers(cutoff).await.expect("mark"), 0);

    // A heartbeat brings an offline worker back.
    store.worker_heartbeat("w2", 1).await.expect("heartbeat");
    assert_eq!(find(&store, "w2").await.state, WorkerState::Busy);

    store.worker_stopped("w1").await.expect("stopped");
    let w1 = find(&store, "w1").await;
    assert_eq!((w1.state, w1.running), (WorkerState::Offline, 0));
    // Restarting under the same id re-registers it online.
    store
        .register_worker(&info("w1", 8))
        .await
        .expect("re-register");
    let w1 = find(&store, "w1").await;
    assert_eq!((w1.state, w1.info.capacity), (WorkerState::Online, 8));
    assert!(w1.stopped_at.is_none());
    assert_eq!(store.workers().await.expect("list").len(), 2);

    let err = store
        .worker_heartbeat("nobody", 0)
        .await
        .expect_err("unknown");
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

async fn find(store: &SharedStore, id: &str) -> skynet_core::store::WorkerRecord {
    store
        .workers()
        .await
        .expect("list")
        .into_iter()
        .find(|w| w.info.id == id)
        .expect("registered")
}

/// A released job is queued again at once, this attempt not counted, its
/// unfinished steps pending; a stale lease cannot release it twice.
pub async fn released_job_requeues_without_counting_the_attempt(store: SharedStore) {
    let (job, lease) = running(&store, &[RO, RO], LONG).await;
    assert_eq!(job.attempts, 1);
    run_step(&store, &job.id, &lease, 0).await;
    store.start_step(&job.id, &lease, 1).await.expect("start");
    let after = store
        .complete(
            &job.id,
            &lease,
            Completion::Released("worker shut down".into()),
        )
        .await
        .expect("release");
    assert_eq!(after.status, JobStatus::Queued);
    assert_eq!(after.attempts, 0);
    assert!(after.lease.is_none());
    assert!(after.run_at <= Utc::now());
    assert_eq!(
        step_statuses(&store, &job.id).await,
        vec![StepStatus::Succeeded, StepStatus::Pending]
    );
    let again = store
        .complete(&job.id, &lease, Completion::Released("again".into()))
        .await
        .expect_err("the lease is gone");
    assert!(matches!(again, Error::LeaseLost(_)), "{again}");
    // Claimable at once, as attempt 1 again.
    let (claimed_again, _) = claimed(&store, &job.id, LONG).await;
    assert_eq!(claimed_again.attempts, 1);
}

/// An interrupted WRITE step sends the job to review with the reason.
pub async fn interrupted_write_step_goes_to_review(store: SharedStore) {
    let (job, lease) = running(&store, &[W], LONG).await;
    store.start_step(&job.id, &lease, 0).await.expect("start");
    let after = store
        .complete(
            &job.id,
            &lease,
            Completion::NeedsReview("step 1 was stopped mid-way".into()),
        )
        .await
        .expect("needs review");
    assert_eq!(after.status, JobStatus::NeedsReview);
    assert_eq!(after.error.as_deref(), Some("step 1 was stopped mid-way"));
    assert!(after.lease.is_none());
    assert!(store.claim("w", LONG, 10).await.expect("claim").is_empty());
}

/// Many concurrent inserts with one idempotency key make one job.
pub async fn concurrent_idempotent_inserts_make_one_job(store: SharedStore) {
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let job = Job {
                idempotency_key: Some("same-key".into()),
                ..test_job(&[RO])
            };
            store.insert_job(&job).await.expect("insert")
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let (job, new) = t.await.expect("task");
        ids.insert(job.id.to_string());
        created += usize::from(new);
    }
    assert_eq!(ids.len(), 1, "one job for one key");
    assert_eq!(created, 1, "exactly one insert created it");
    let all = store.list_jobs(&Default::default()).await.expect("list");
    assert_eq!(all.len(), 1);
}
