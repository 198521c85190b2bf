//! Reports: kept under the reporter's request id, per principal; a report
//! on a job is also its chain's `report` event, in one transaction.

use super::*;
use skynet_core::Principal;
use skynet_core::store::reports::NewReport;

fn report(request_id: &str, job: Option<JobId>, principal: &Principal) -> NewReport {
    NewReport {
        request_id: request_id.into(),
        job,
        principal: principal.clone(),
        reporter: "executor".into(),
        overall_status: "completed".into(),
        body: serde_json::json!({ "step_reports": [{ "step": 1, "status": "completed" }] }),
    }
}

/// An unlinked report is kept by request id for its principal only; a
/// linked one also extends the job's chain; a report on a missing job
/// writes nothing; a bad request id is refused.
pub async fn reports_are_kept_by_request_id_and_linked_to_jobs(store: SharedStore) {
    let alice = Principal::new("alice").expect("principal");
    let bob = Principal::new("bob").expect("principal");
    let own = store
        .record_report(&report("req-1", None, &alice), serde_json::Value::Null)
        .await
        .expect("unlinked");
    assert_eq!((own.job_id.clone(), own.event_seq), (None, None));
    store
        .record_report(&report("req-1", None, &alice), serde_json::Value::Null)
        .await
        .expect("second");
    let kept = store.reports(&alice, "req-1").await.expect("reports");
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0], own, "read back as recorded");
    assert!(kept[0].id < kept[1].id, "oldest first");
    assert!(store.reports(&bob, "req-1").await.expect("bob").is_empty());

    let job = insert(&store, test_job(&[RiskLevel::ReadOnly])).await;
    let data = serde_json::json!({ "reporter": "executor", "overall_status": "completed" });
    let linked = store
        .record_report(
            &report(job.id.as_str(), Some(job.id.clone()), &alice),
            data.clone(),
        )
        .await
        .expect("linked");
    let events = store.events(&job.id).await.expect("events");
    let last = events.last().expect("an event");
    assert_eq!(
        (last.kind.as_str(), Some(last.seq)),
        ("report", linked.event_seq)
    );
    assert_eq!(last.data, data);
    assert!(store.verify_events(&job.id).await.expect("verify").intact);
    let read = store.reports(&alice, job.id.as_str()).await.expect("read");
    assert_eq!(read[0].job_id.as_ref(), Some(&job.id));

    let missing = JobId::new();
    let e = store
        .record_report(&report("req-2", Some(missing), &alice), data)
        .await
        .expect_err("no such job");
    assert!(matches!(e, Error::JobNotFound(_)), "{e}");
    assert!(
        store
            .reports(&alice, "req-2")
            .await
            .expect("none")
            .is_empty()
    );
    for bad in ["", "a\nb"] {
        let e = store
            .record_report(&report(bad, None, &alice), serde_json::Value::Null)
            .await
            .expect_err("bad id");
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    }
}
