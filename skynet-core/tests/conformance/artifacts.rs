//! Artifact records: written under the job's lease with their `artifact`
//! event, read back per principal.

use super::*;
use skynet_core::Visibility;
use skynet_core::store::artifacts::NewArtifact;

fn artifact(job: &Job, name: &str, size: u64) -> NewArtifact {
    NewArtifact {
        job: job.id.clone(),
        step: 0,
        name: name.into(),
        size,
        sha256: format!("{:064x}", size),
        content_type: "application/xml".into(),
        principal: job.principal.clone(),
    }
}

/// A record is fenced by the lease, extends the chain with its `artifact`
/// event, replaces a record of the same name, and reads back by name.
pub async fn artifacts_are_recorded_under_the_lease_with_their_event(store: SharedStore) {
    let (job, lease) = running(&store, &[RiskLevel::ReadOnly], LONG).await;
    let a = store
        .record_artifact(&lease, &artifact(&job, "reports/a.xml", 10))
        .await
        .expect("record");
    assert_eq!((a.name.as_str(), a.size, a.step), ("reports/a.xml", 10, 0));
    let events = store.events(&job.id).await.expect("events");
    let last = events.last().expect("an event");
    assert_eq!((last.kind.as_str(), last.seq), ("artifact", a.event_seq));
    assert_eq!(last.data["sha256"], a.sha256);
    assert_eq!(last.data["name"], "reports/a.xml");
    store
        .record_artifact(&lease, &artifact(&job, "app", 5))
        .await
        .expect("second");
    let replaced = store
        .record_artifact(&lease, &artifact(&job, "reports/a.xml", 12))
        .await
        .expect("replaced");
    let all = store
        .artifacts(&job.id, &Visibility::All)
        .await
        .expect("list");
    let names: Vec<(&str, u64)> = all.iter().map(|a| (a.name.as_str(), a.size)).collect();
    assert_eq!(
        names,
        vec![("app", 5), ("reports/a.xml", 12)],
        "by name, replaced"
    );
    let one = store
        .artifact(&job.id, "reports/a.xml", &Visibility::All)
        .await
        .expect("one");
    assert_eq!(one, replaced, "read back as recorded");
    assert!(store.verify_events(&job.id).await.expect("verify").intact);
    assert!(
        store
            .artifact_object_referenced(&replaced.sha256)
            .await
            .expect("referenced")
    );
    assert!(
        !store
            .artifact_object_referenced(&format!("{:064x}", 999))
            .await
            .expect("not referenced")
    );
    let e = store
        .artifact(&job.id, "nope", &Visibility::All)
        .await
        .expect_err("missing");
    assert!(matches!(e, Error::ArtifactNotFound { .. }), "{e}");
}

/// Without the lease (a stale worker, a cancelled job) nothing is
/// recorded: no row, no event.
pub async fn artifacts_need_the_lease(store: SharedStore) {
    let (job, _lease) = running(&store, &[RiskLevel::ReadOnly], LONG).await;
    let events = store.events(&job.id).await.expect("events").len();
    let e = store
        .record_artifact("not-the-lease", &artifact(&job, "a", 1))
        .await
        .expect_err("fenced");
    assert!(matches!(e, Error::LeaseLost(_)), "{e}");
    let e = store
        .record_artifact(
            "x",
            &NewArtifact {
                job: JobId::new(),
                ..artifact(&job, "a", 1)
            },
        )
        .await
        .expect_err("no job");
    assert!(matches!(e, Error::JobNotFound(_)), "{e}");
    assert!(
        store
            .artifacts(&job.id, &Visibility::All)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(store.events(&job.id).await.expect("events").len(), events);
}

/// Another principal sees no artifact of a job it does not own: the job
/// is not found, as everywhere else.
pub async fn artifacts_stay_with_their_principal(store: SharedStore) {
    let (job, lease) = running(&store, &[RiskLevel::ReadOnly], LONG).await;
    store
        .record_artifact(&lease, &artifact(&job, "a", 1))
        .await
        .expect("record");
    let owner = Visibility::Own(job.principal.clone());
    assert_eq!(
        store.artifacts(&job.id, &owner).await.expect("own").len(),
        1
    );
    let other = Visibility::Own(skynet_core::Principal::new("mallory").expect("principal"));
    let e = store
        .artifacts(&job.id, &other)
        .await
        .expect_err("not visible");
    assert!(matches!(e, Error::JobNotFound(_)), "{e}");
    let e = store
        .artifact(&job.id, "a", &other)
        .await
        .expect_err("not visible");
    assert!(matches!(e, Error::JobNotFound(_)), "{e}");
}
