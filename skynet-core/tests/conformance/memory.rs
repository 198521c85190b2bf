//! Memory: records round-trip with their embedding, filters apply in the
//! query, another principal sees and deletes nothing, accesses count.

use super::*;
use skynet_core::Principal;
use skynet_core::memory::{
    Embedder, HashEmbedder, Memory, MemoryFilter, MemoryOutcome, MemoryType, NewMemory,
};
use skynet_core::principal::Visibility;

async fn remember(
    store: &SharedStore,
    owner: &str,
    text: &str,
    memory_type: MemoryType,
    tags: &[&str],
    outcome: Option<MemoryOutcome>,
) -> Memory {
    let mut m = NewMemory {
        content: text.into(),
        memory_type: Some(memory_type),
        metadata: Some(serde_json::json!({"source": "test"})),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        outcome,
        importance: Some(0.25),
        ..Default::default()
    }
    .into_memory(Principal::new(owner).expect("principal"), Utc::now())
    .expect("valid memory");
    let embedder = HashEmbedder::new();
    m.embedding = embedder
        .embed(&[text.to_string()])
        .await
        .expect("embed")
        .remove(0);
    m.embedding_model = Some(embedder.model_id().to_string());
    store.insert_memory(&m).await.expect("insert memory");
    m
}

fn own(name: &str) -> Visibility {
    Visibility::Own(Principal::new(name).expect("principal"))
}

/// A stored memory reads back equal (embedding bits included), a second
/// insert of its id conflicts, and another principal neither reads nor
/// deletes it.
pub async fn memories_round_trip_and_stay_with_their_principal(store: SharedStore) {
    let m = remember(
        &store,
        "alice",
        "check git status",
        MemoryType::TaskExecution,
        &["git", "say \"hi\""],
        Some(MemoryOutcome::Success),
    )
    .await;
    let back = store
        .get_memory(&m.id, &own("alice"))
        .await
        .expect("get")
        .expect("alice sees her memory");
    assert_eq!(back, m);
    assert_eq!(back.embedding.len(), HashEmbedder::DIMENSION);
    assert!(matches!(
        store.insert_memory(&m).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        store.get_memory(&m.id, &own("bob")).await.expect("get"),
        None
    );
    assert!(
        !store
            .delete_memory(&m.id, &own("bob"))
            .await
            .expect("delete")
    );
    assert!(
        store
            .list_memories(&MemoryFilter::default(), &own("bob"), 100)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        store
            .memory_counts(&own("bob"))
            .await
            .expect("counts")
            .total,
        0
    );
    assert!(
        store
            .get_memory(&m.id, &Visibility::All)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        store
            .delete_memory(&m.id, &own("alice"))
            .await
            .expect("delete")
    );
    assert_eq!(
        store
            .get_memory(&m.id, &Visibility::All)
            .await
            .expect("get"),
        None
    );
}

/// Type, tag, outcome, job and time filters apply together; counts group
/// by type; touching counts accesses.
pub async fn memory_filters_counts_and_accesses(store: SharedStore) {
    let a = remember(
        &store,
        "alice",
        "deploy web",
        MemoryType::TaskExecution,
        &["web", "prod"],
        Some(MemoryOutcome::Failure),
    )
    .await;
    let b = remember(
        &store,
        "alice",
        "deploy api",
        MemoryType::TaskExecution,
        &["web"],
        Some(MemoryOutcome::Success),
    )
    .await;
    let c = remember(
        &store,
        "alice",
        "prefers dark mode",
        MemoryType::UserPreference,
        &["ui"],
        None,
    )
    .await;
    let _other = remember(
        &store,
        "bob",
        "deploy web",
        MemoryType::TaskExecution,
        &["web", "prod"],
        Some(MemoryOutcome::Failure),
    )
    .await;
    let ids = |ms: Vec<Memory>| ms.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let list = |f: MemoryFilter| {
        let store = store.clone();
        async move {
            ids(store
                .list_memories(&f, &own("alice"), 100)
                .await
                .expect("list"))
        }
    };
    assert_eq!(
        list(MemoryFilter::default()).await,
        [c.id.clone(), b.id.clone(), a.id.clone()]
    );
    let web = MemoryFilter {
        tags: vec!["web".into()],
        ..Default::default()
    };
    assert_eq!(list(web).await, [b.id.clone(), a.id.clone()]);
    let both = MemoryFilter {
        tags: vec!["web".into(), "prod".into()],
        ..Default::default()
    };
    assert_eq!(list(both).await, [a.id.as_str()]);
    // A tag that is a prefix of a stored one matches nothing.
    let prefix = MemoryFilter {
        tags: vec!["we".into()],
        ..Default::default()
    };
    assert!(list(prefix).await.is_empty());
    let failed = MemoryFilter {
        outcome: Some(MemoryOutcome::Failure),
        ..Default::default()
    };
    assert_eq!(list(failed).await, [a.id.as_str()]);
    let prefs = MemoryFilter {
        memory_type: Some(MemoryType::UserPreference),
        ..Default::default()
    };
    assert_eq!(list(prefs).await, [c.id.as_str()]);
    let later = MemoryFilter {
        since: Some(c.created_at + chrono::Duration::seconds(1)),
        ..Default::default()
    };
    assert!(list(later).await.is_empty());
    let earlier = MemoryFilter {
        until: Some(a.created_at),
        ..Default::default()
    };
    assert!(list(earlier).await.is_empty());
    assert_eq!(
        store
            .list_memories(&MemoryFilter::default(), &Visibility::All, 100)
            .await
            .expect("list")
            .len(),
        4
    );

    let counts = store.memory_counts(&own("alice")).await.expect("counts");
    assert_eq!(counts.total, 3);
    assert_eq!(counts.by_type.get("task_execution"), Some(&2));
    assert_eq!(counts.by_type.get("user_preference"), Some(&1));
    assert!((counts.average_importance - 0.25).abs() < 1e-9);

    let at = Utc::now() + chrono::Duration::seconds(5);
    store
        .touch_memories(&[a.id.clone(), a.id.clone(), b.id.clone()], at)
        .await
        .expect("touch");
    let a2 = store
        .get_memory(&a.id, &Visibility::All)
        .await
        .expect("get")
        .expect("a");
    assert_eq!(a2.access_count, 1);
    assert_eq!(
        a2.last_accessed_at,
        skynet_core::store::chain::truncate_to_micros(at)
    );
    let c2 = store
        .get_memory(&c.id, &Visibility::All)
        .await
        .expect("get")
        .expect("c");
    assert_eq!(c2.access_count, 0);
}

/// Full text finds memories by any of the terms, best match first, within
/// the caller's principal, and forgets deleted ones.
pub async fn memory_full_text_search(store: SharedStore) {
    let git = remember(
        &store,
        "alice",
        "check git status of the repository",
        MemoryType::Note,
        &[],
        None,
    )
    .await;
    let both = remember(
        &store,
        "alice",
        "git status then git status again: git status",
        MemoryType::Note,
        &[],
        None,
    )
    .await;
    let _web = remember(
        &store,
        "alice",
        "restart the web server",
        MemoryType::Note,
        &[],
        None,
    )
    .await;
    let bobs = remember(
        &store,
        "bob",
        "git status for bob",
        MemoryType::Note,
        &[],
        None,
    )
    .await;
    let terms = skynet_core::memory::terms("GIT status");
    let found = store
        .text_search_memories(&terms, &own("alice"), 10)
        .await
        .expect("search");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&git.id) && found.contains(&both.id));
    assert!(!found.contains(&bobs.id));
    let all = store
        .text_search_memories(&terms, &Visibility::All, 10)
        .await
        .expect("search");
    assert_eq!(all.len(), 3);
    // Words that are query syntax elsewhere are plain terms here.
    let odd = skynet_core::memory::terms("OR NOT \"web\" NEAR(*)");
    let found = store
        .text_search_memories(&odd, &own("alice"), 10)
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    assert!(
        store
            .text_search_memories(&[], &own("alice"), 10)
            .await
            .expect("empty")
            .is_empty()
    );
    assert!(
        store
            .delete_memory(&git.id, &own("alice"))
            .await
            .expect("delete")
    );
    let found = store
        .text_search_memories(&terms, &own("alice"), 10)
        .await
        .expect("search");
    assert_eq!(found, [both.id.as_str()]);
}
