//! Principals: jobs are listed per principal in the store's query,
//! idempotency keys are scoped to a principal, keys remember theirs.

use super::*;
use skynet_core::store::JobFilter;
use skynet_core::store::keys::{self, Scope};
use skynet_core::{Principal, RiskLevel};

fn owned_by(name: &str) -> Job {
    let mut job = test_job(&[RiskLevel::ReadOnly]);
    job.principal = Principal::new(name).expect("principal");
    job
}

/// A listing limited to one principal returns its jobs only, and the
/// principal reads back as stored.
pub async fn listing_is_filtered_by_principal(store: SharedStore) {
    let alice = insert(&store, owned_by("alice")).await;
    let bob = insert(&store, owned_by("bob")).await;
    let local = insert(&store, test_job(&[RiskLevel::ReadOnly])).await;
    assert_eq!(
        store
            .get_job(&bob.id)
            .await
            .expect("get")
            .principal
            .as_str(),
        "bob"
    );
    let only = |p: &str| JobFilter {
        principal: Some(Principal::new(p).expect("principal")),
        ..Default::default()
    };
    let alices = store.list_jobs(&only("alice")).await.expect("list");
    assert_eq!(
        alices.iter().map(|j| &j.id).collect::<Vec<_>>(),
        [&alice.id]
    );
    let locals = store.list_jobs(&only("local")).await.expect("list");
    assert_eq!(
        locals.iter().map(|j| &j.id).collect::<Vec<_>>(),
        [&local.id]
    );
    assert!(
        store
            .list_jobs(&only("carol"))
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(job_count(&store).await, 3);
}

/// The same idempotency key used by two principals makes two jobs; used
/// again by the first, it returns the first principal's job.
pub async fn idempotency_keys_are_scoped_to_the_principal(store: SharedStore) {
    let mut a = owned_by("alice");
    a.idempotency_key = Some("deploy-1".into());
    let (a, created) = store.insert_job(&a).await.expect("alice");
    assert!(created);
    let mut b = owned_by("bob");
    b.idempotency_key = Some("deploy-1".into());
    let (b, created) = store.insert_job(&b).await.expect("bob");
    assert!(created, "bob's key must not meet alice's");
    assert_ne!(a.id, b.id);
    assert_eq!(b.idempotency_key.as_deref(), Some("deploy-1"));
    let mut again = owned_by("alice");
    again.idempotency_key = Some("deploy-1".into());
    let (existing, created) = store.insert_job(&again).await.expect("alice again");
    assert!(!created);
    assert_eq!(existing.id, a.id);
}

/// A key is stored with the principal it acts for: its own by default.
pub async fn keys_remember_their_principal(store: SharedStore) {
    let (own, _) = keys::create(store.as_ref(), "ci", &[Scope::Read], None)
        .await
        .expect("create");
    assert_eq!(own.principal.as_str(), format!("key:{}", own.id));
    let ops = Principal::new("ops").expect("principal");
    let (shared, text) = keys::create(
        store.as_ref(),
        "ops-approver",
        &[Scope::ReadAll, Scope::Approve],
        Some(ops.clone()),
    )
    .await
    .expect("create");
    let verified = keys::verify(store.as_ref(), &text)
        .await
        .expect("verify")
        .expect("live");
    assert_eq!(verified.principal, ops);
    assert_eq!(verified.scopes, shared.scopes);
    assert_eq!(
        store
            .get_key(&own.id)
            .await
            .expect("get")
            .expect("key")
            .principal,
        own.principal
    );
}
