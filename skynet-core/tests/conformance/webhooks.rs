//! Webhook endpoints and deliveries in the ledger: the secret never comes
//! back from a listing; owners see only their endpoints and deliveries;
//! enqueuing is idempotent per endpoint and event; a claim leases a
//! delivery to one claimer; attempts are logged and dead letters can be
//! sent again with a fresh round of attempts.

use super::Backend;
use chrono::{DateTime, Duration, Utc};
use skynet_core::Error;
use skynet_core::Principal;
use skynet_core::events::webhooks::{
    Delivery, DeliveryAttempt, DeliveryState, SigningSecret, delivery_body,
};
use skynet_core::events::{EventPayload, EventPosition, NewSystemEvent, Notice};
use skynet_core::store::SharedStore;
use skynet_core::store::event_log::{EventLogQuery, LogView};
use skynet_core::store::webhooks::{
    AfterAttempt, AttemptRecord, DeliveryQuery, Enqueued, NewDelivery, WebhookTarget,
};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap()
}

fn endpoint(owner: &str) -> WebhookTarget {
    WebhookTarget {
        id: uuid::Uuid::now_v7().to_string(),
        principal: Principal::new(owner).unwrap(),
        url: "https://user:pw@hooks.example.com/in?token=SECRET".into(),
        types: vec!["job.*".into(), "alert.raised".into()],
        secret: SigningSecret::generate(),
        enabled: true,
        created_at: now(),
    }
}

fn delivery(webhook: &str, event_id: i64) -> NewDelivery {
    NewDelivery {
        id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
        webhook: webhook.into(),
        event_xid: 0,
        event_id,
        event_type: "job.failed".into(),
        body: format!("{{\"n\":{event_id}}}"),
        at: now() - Duration::seconds(1),
        lease_until: None,
    }
}

/// Every endpoint's deliveries in `state`, newest first.
async fn in_state(store: &SharedStore, state: DeliveryState) -> Vec<Delivery> {
    store
        .webhook_deliveries(&DeliveryQuery {
            state: Some(state),
            ..Default::default()
        })
        .await
        .unwrap()
}

fn attempt(d: &str, webhook: &str, n: u32, status: Option<u16>) -> DeliveryAttempt {
    DeliveryAttempt {
        delivery: d.into(),
        webhook: webhook.into(),
        event_id: 1,
        attempt: n,
        status,
        error: status
            .filter(|s| *s >= 300)
            .map(|s| format!("answered {s}")),
        duration_ms: 3,
        at: now(),
    }
}

/// Endpoints stay with their owner, their secret is only read for
/// delivery, and removing one removes its deliveries.
pub async fn webhooks_stay_with_their_owner_and_hide_their_secret(store: SharedStore) {
    let alice = endpoint("alice");
    let bob = endpoint("bob");
    store.insert_webhook(&alice).await.unwrap();
    store.insert_webhook(&bob).await.unwrap();
    let a = Principal::new("alice").unwrap();
    let mine = store.webhooks(Some(&a)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, alice.id);
    assert_eq!(mine[0].url, "https://hooks.example.com/in?…");
    assert_eq!(mine[0].types, ["job.*", "alert.raised"]);
    let shown = serde_json::to_string(&store.webhooks(None).await.unwrap()).unwrap();
    assert!(!shown.contains("whsec_") && !shown.contains("SECRET") && !shown.contains("pw"));
    assert_eq!(store.webhooks(None).await.unwrap().len(), 2);
    assert!(matches!(
        store.webhook_target(&bob.id, Some(&a)).await,
        Err(Error::WebhookNotFound(_))
    ));
    let t = store.webhook_target(&alice.id, Some(&a)).await.unwrap();
    assert_eq!(t.secret, alice.secret);
    assert_eq!(t.url, alice.url);
    assert!(!format!("{t:?}").contains("SECRET"));
    assert!(matches!(
        store.remove_webhook(&bob.id, Some(&a)).await,
        Err(Error::WebhookNotFound(_))
    ));
    store
        .enqueue_webhook_deliveries(&[delivery(&bob.id, 1)])
        .await
        .unwrap();
    let q = DeliveryQuery::default();
    assert_eq!(store.webhook_deliveries(&q).await.unwrap().len(), 1);
    let alice_only = DeliveryQuery {
        owner: Some(a.clone()),
        ..Default::default()
    };
    assert!(
        store
            .webhook_deliveries(&alice_only)
            .await
            .unwrap()
            .is_empty()
    );
    store.remove_webhook(&bob.id, None).await.unwrap();
    assert!(store.webhook_deliveries(&q).await.unwrap().is_empty());
    assert_eq!(store.enabled_webhooks().await.unwrap().len(), 1);
    store.set_webhook_enabled(&alice.id, false).await.unwrap();
    assert!(store.enabled_webhooks().await.unwrap().is_empty());
}

/// Enqueuing the same event twice makes one delivery; a claim leases it
/// to one claimer; attempts are logged; a dead letter goes back to
/// pending with a full round of attempts, numbers counting on.
pub async fn webhook_deliveries_are_enqueued_once_claimed_once_and_redelivered(store: SharedStore) {
    let w = endpoint("alice");
    store.insert_webhook(&w).await.unwrap();
    let first = delivery(&w.id, 7);
    assert_eq!(
        store
            .enqueue_webhook_deliveries(std::slice::from_ref(&first))
            .await
            .unwrap(),
        Enqueued {
            new: 1,
            leased: Vec::new()
        }
    );
    let again = delivery(&w.id, 7);
    assert_eq!(
        store
            .enqueue_webhook_deliveries(&[again, delivery(&w.id, 8)])
            .await
            .unwrap()
            .new,
        1,
        "the same endpoint and event is enqueued once"
    );
    let mine = [(w.id.clone(), 10)];
    let t = now();
    let lease = t + Duration::seconds(30);
    let claimed = store
        .claim_webhook_deliveries(t, lease, &mine)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        store
            .claim_webhook_deliveries(t, lease, &mine)
            .await
            .unwrap()
            .is_empty(),
        "leased deliveries are not claimed again"
    );
    let d7 = claimed.iter().find(|c| c.id == first.id).unwrap();
    assert_eq!((d7.attempts, d7.round_base), (0, 0));
    assert_eq!(d7.body, "{\"n\":7}");
    let d8 = claimed.iter().find(|c| c.id != first.id).unwrap().clone();
    store
        .record_webhook_attempts(&[
            AttemptRecord {
                attempt: attempt(&first.id, &w.id, 1, Some(500)),
                then: AfterAttempt::Dead,
                body: None,
            },
            AttemptRecord {
                attempt: attempt(&d8.id, &w.id, 1, Some(200)),
                then: AfterAttempt::Delivered,
                body: None,
            },
        ])
        .await
        .unwrap();
    let dead = in_state(&store, DeliveryState::Dead).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, first.id);
    assert_eq!((dead[0].attempts, dead[0].last_status), (1, Some(500)));
    assert_eq!(dead[0].last_error.as_deref(), Some("answered 500"));
    assert!(dead[0].finished_at.is_some());
    let log = store.webhook_attempts(&first.id, None).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].attempt, log[0].status), (1, Some(500)));
    assert_eq!(log[0].error.as_deref(), Some("answered 500"));
    let log = store.webhook_attempts(&d8.id, None).await.unwrap();
    assert_eq!(log.len(), 1, "an attempt that delivered is listed: {log:?}");
    let (a, sent) = (&log[0], attempt(&d8.id, &w.id, 1, Some(200)));
    assert_eq!((a.attempt, a.status, a.duration_ms), (1, Some(200), 3));
    assert_eq!(
        (a.webhook.as_str(), a.event_id, a.error.as_deref()),
        (w.id.as_str(), 8, None)
    );
    assert!((a.at - sent.at).num_seconds().abs() < 5, "{a:?}");
    let bob = Principal::new("bob").unwrap();
    assert!(matches!(
        store.webhook_attempts(&first.id, Some(&bob)).await,
        Err(Error::DeliveryNotFound(_))
    ));
    assert!(matches!(
        store.redeliver_webhook(&first.id, Some(&bob), now()).await,
        Err(Error::DeliveryNotFound(_))
    ));
    let again = store
        .redeliver_webhook(&first.id, None, now())
        .await
        .unwrap();
    assert_eq!(again.state, DeliveryState::Pending);
    assert!(matches!(
        store.redeliver_webhook(&first.id, None, now()).await,
        Err(Error::Conflict(_))
    ));
    let t = now();
    let claimed = store
        .claim_webhook_deliveries(t, t + Duration::seconds(30), &mine)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].attempts, claimed[0].round_base), (1, 1));
    let retry_at = t + Duration::minutes(5);
    store
        .record_webhook_attempts(&[AttemptRecord {
            attempt: attempt(&first.id, &w.id, 2, None),
            then: AfterAttempt::RetryAt(retry_at),
            body: None,
        }])
        .await
        .unwrap();
    assert!(
        store
            .claim_webhook_deliveries(now(), now() + Duration::seconds(30), &mine)
            .await
            .unwrap()
            .is_empty(),
        "not due before its backoff"
    );
    let later = retry_at + Duration::seconds(1);
    assert_eq!(
        store
            .claim_webhook_deliveries(later, later + Duration::seconds(30), &mine)
            .await
            .unwrap()
            .len(),
        1
    );
    let log = store.webhook_attempts(&first.id, None).await.unwrap();
    assert_eq!(log.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        log.iter().map(|a| a.status).collect::<Vec<_>>(),
        [Some(500), None]
    );
    // Attempt 3, recorded twice (two senders whose leases overlapped):
    // the first record stands, and each attempt is listed once.
    let third = |status| AttemptRecord {
        attempt: attempt(&first.id, &w.id, 3, Some(status)),
        then: AfterAttempt::RetryAt(later + Duration::minutes(5)),
        body: None,
    };
    store.record_webhook_attempts(&[third(502)]).await.unwrap();
    store.record_webhook_attempts(&[third(503)]).await.unwrap();
    let log = store.webhook_attempts(&first.id, None).await.unwrap();
    assert_eq!(
        log.iter()
            .map(|a| (a.attempt, a.status))
            .collect::<Vec<_>>(),
        [(1, Some(500)), (2, None), (3, Some(502))]
    );
    // A disabled endpoint's deliveries are not claimed.
    store
        .enqueue_webhook_deliveries(&[delivery(&w.id, 9)])
        .await
        .unwrap();
    store.set_webhook_enabled(&w.id, false).await.unwrap();
    let t = now();
    assert!(
        store
            .claim_webhook_deliveries(t, t + Duration::seconds(30), &mine)
            .await
            .unwrap()
            .is_empty()
    );
    // Each endpoint gets at most what is asked for it, oldest first.
    let (x, y) = (endpoint("alice"), endpoint("alice"));
    for e in [&x, &y] {
        store.insert_webhook(e).await.unwrap();
        let rows: Vec<NewDelivery> = (20..23).map(|i| delivery(&e.id, i)).collect();
        store.enqueue_webhook_deliveries(&rows).await.unwrap();
    }
    let t = now();
    let got = store
        .claim_webhook_deliveries(
            t,
            t + Duration::seconds(30),
            &[(x.id.clone(), 2), (y.id.clone(), 1), (w.id.clone(), 5)],
        )
        .await
        .unwrap();
    let of = |e: &WebhookTarget| {
        got.iter()
            .filter(|d| d.webhook == e.id)
            .map(|d| d.event_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(of(&x), [20, 21]);
    assert_eq!(of(&y), [20]);
    assert_eq!(got.len(), 3, "the disabled endpoint gets none: {got:?}");
}

/// A delivery enqueued with a lease is its enqueuer's until the lease
/// lapses: no claim takes it before; enqueuing it again (another process
/// reading the same event) returns nothing and leaves the lease alone.
pub async fn webhook_deliveries_enqueued_leased_are_not_claimed_until_the_lease_lapses(
    store: SharedStore,
) {
    let w = endpoint("alice");
    store.insert_webhook(&w).await.unwrap();
    let t = now();
    let lease = t + Duration::seconds(30);
    let mut mine = delivery(&w.id, 1);
    mine.lease_until = Some(lease);
    let free = delivery(&w.id, 2);
    let added = store
        .enqueue_webhook_deliveries(&[mine.clone(), free.clone()])
        .await
        .unwrap();
    assert_eq!(
        added,
        Enqueued {
            new: 2,
            leased: vec![mine.id.clone()]
        }
    );
    let mut again = delivery(&w.id, 1);
    again.lease_until = Some(lease);
    assert_eq!(
        store.enqueue_webhook_deliveries(&[again]).await.unwrap(),
        Enqueued::default(),
        "another enqueuer of the same event gets no lease"
    );
    // The ids of up to 10 deliveries of `w` claimed at `at` (for 10 min).
    let claim_at = |at: DateTime<Utc>| {
        let (store, asked) = (store.clone(), [(w.id.clone(), 10)]);
        async move {
            let got = store
                .claim_webhook_deliveries(at, at + Duration::seconds(600), &asked)
                .await
                .unwrap();
            got.into_iter().map(|d| d.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        claim_at(t).await,
        [free.id.as_str()],
        "only the delivery enqueued without a lease is claimed"
    );
    assert_eq!(
        claim_at(lease + Duration::seconds(1)).await,
        [mine.id.as_str()],
        "once the lease lapses, it is anyone's"
    );
    // Recorded by its enqueuer like any claimed delivery.
    store
        .record_webhook_attempts(&[AttemptRecord {
            attempt: attempt(&mine.id, &w.id, 1, Some(204)),
            then: AfterAttempt::Delivered,
            body: None,
        }])
        .await
        .unwrap();
    let delivered = in_state(&store, DeliveryState::Delivered).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].id, mine.id);
}

/// A delivery enqueued with a lease is stored without its body (its
/// enqueuer sends it from memory): a claim after the lease lapses rebuilds
/// the body from the event log, byte for byte; a retry stores the body it
/// was given; a delivery whose event is gone from the log comes back with
/// an empty body (it cannot be sent).
pub async fn webhook_bodies_not_stored_are_rebuilt_from_the_log(store: SharedStore) {
    let w = endpoint("alice");
    store.insert_webhook(&w).await.unwrap();
    store
        .record_event(&NewSystemEvent::now(
            "test",
            EventPayload::Error(Notice {
                subject: "disk".into(),
                message: "full".into(),
            }),
        ))
        .await
        .unwrap();
    let page = store
        .read_event_log(&EventLogQuery {
            after: EventPosition::START,
            limit: 1000,
            types: Vec::new(),
            job: None,
            view: LogView::all(),
        })
        .await
        .unwrap();
    let event = page.events.last().unwrap();
    let position = event.position().unwrap();
    let body = delivery_body(event).unwrap();
    let t = now();
    let lease = t + Duration::seconds(30);
    let leased = |event_xid, event_id| NewDelivery {
        event_xid,
        event_id,
        body: body.clone(),
        lease_until: Some(lease),
        ..delivery(&w.id, event_id)
    };
    let (kept, gone) = (
        leased(position.xid, position.id),
        leased(position.xid, i64::MAX),
    );
    store
        .enqueue_webhook_deliveries(&[kept.clone(), gone.clone()])
        .await
        .unwrap();
    let after = lease + Duration::seconds(1);
    let claimed = store
        .claim_webhook_deliveries(after, after + Duration::seconds(30), &[(w.id.clone(), 10)])
        .await
        .unwrap();
    let body_of = |id: &str| claimed.iter().find(|d| d.id == id).unwrap().body.clone();
    assert_eq!(body_of(&kept.id), body, "rebuilt byte for byte");
    assert_eq!(body_of(&gone.id), "", "no event, no body");
    // A retry stores the body it was given: the next claim reads it.
    let retry_at = after + Duration::seconds(5);
    store
        .record_webhook_attempts(&[AttemptRecord {
            attempt: attempt(&kept.id, &w.id, 1, Some(503)),
            then: AfterAttempt::RetryAt(retry_at),
            body: Some("stored for the retry".into()),
        }])
        .await
        .unwrap();
    let later = retry_at + Duration::seconds(1);
    let again = store
        .claim_webhook_deliveries(later, later + Duration::seconds(30), &[(w.id.clone(), 10)])
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].id, kept.id);
    assert_eq!(again[0].body, "stored for the retry");
}

/// Two handles (two processes) claiming the same due deliveries at once
/// never both get one.
pub async fn webhook_claims_on_two_handles_never_overlap(backend: &Backend) {
    let Some(reopen) = &backend.reopen else {
        return;
    };
    let store = backend.store.clone();
    let other = reopen().await;
    let w = endpoint("alice");
    store.insert_webhook(&w).await.unwrap();
    let rows: Vec<NewDelivery> = (0..200).map(|i| delivery(&w.id, i)).collect();
    store.enqueue_webhook_deliveries(&rows).await.unwrap();
    let claim = |s: SharedStore| {
        let id = w.id.clone();
        async move {
            let mut got = Vec::new();
            loop {
                let t = now();
                let batch = s
                    .claim_webhook_deliveries(t, t + Duration::seconds(60), &[(id.clone(), 7)])
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|d| d.id));
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(claim(store.clone())),
        tokio::spawn(claim(other))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all: Vec<String> = a.iter().chain(b.iter()).cloned().collect();
    assert_eq!(all.len(), 200, "every delivery claimed");
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 200, "none claimed twice");
}
