//! Memory: records round-trip with their embedding, filters apply in the
//! query, another principal sees and deletes nothing, accesses count.

use super::*;
use skynet_core::Principal;
use skynet_core::memory::{
    Embedder, HashEmbedder, Memory, MemoryFilter, MemoryOutcome, MemoryType, NewMemory, TEXT_BUDGET,
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

pub fn own(name: &str) -> Visibility {
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
        .text_search_memories(&terms, &own("alice"), 10, TEXT_BUDGET)
        .await
        .expect("search");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&git.id) && found.contains(&both.id));
    assert!(!found.contains(&bobs.id));
    let all = store
        .text_search_memories(&terms, &Visibility::All, 10, TEXT_BUDGET)
        .await
        .expect("search");
    assert_eq!(all.len(), 3);
    // Words that are query syntax elsewhere are plain terms here.
    let odd = skynet_core::memory::terms("OR NOT \"web\" NEAR(*)");
    let found = store
        .text_search_memories(&odd, &own("alice"), 10, TEXT_BUDGET)
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    assert!(
        store
            .text_search_memories(&[], &own("alice"), 10, TEXT_BUDGET)
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
        .text_search_memories(&terms, &own("alice"), 10, TEXT_BUDGET)
        .await
        .expect("search");
    assert_eq!(found, [both.id.as_str()]);
}

/// Within the budget, full text ranks by relevance; beyond it, by how
/// many of the query's words a memory holds, the rarest word kept longest
/// (and another principal's memories count towards how common a word is,
/// never into the results).
pub async fn memory_full_text_ranks_by_words_held_beyond_the_budget(store: SharedStore) {
    let note = |text: String| NewMemory {
        content: text,
        ..Default::default()
    };
    let mut deploys = Vec::new();
    for i in 0..5 {
        deploys.push(remember_with(&store, "alice", note(format!("deploy step {i}"))).await);
    }
    let rotate = remember_with(&store, "alice", note("rotate tls certificates".into())).await;
    let both = remember_with(&store, "alice", note("rotate, then deploy the api".into())).await;
    let bobs = remember_with(&store, "bob", note("rotate and deploy".into())).await;
    let terms = skynet_core::memory::terms("deploy rotate");
    let search = |budget: u32| {
        let (store, terms) = (store.clone(), terms.clone());
        async move {
            store
                .text_search_memories(&terms, &own("alice"), 10, budget)
                .await
                .expect("search")
        }
    };
    // deploy matches 7 memories, rotate 3: 10 in all.
    for budget in [4, 9] {
        let found = search(budget).await;
        assert_eq!(found.len(), 7, "budget {budget}: {found:?}");
        assert_eq!(
            found[..2],
            [both.id.clone(), rotate.id.clone()],
            "budget {budget}"
        );
        assert!(deploys.iter().all(|m| found.contains(&m.id)));
        assert!(!found.contains(&bobs.id));
    }
    for budget in [10, u32::MAX] {
        let found = search(budget).await;
        assert_eq!(found.len(), 7, "budget {budget}: {found:?}");
        assert!(found.contains(&both.id) && found.contains(&rotate.id));
        assert!(!found.contains(&bobs.id));
    }
    let short = store
        .text_search_memories(&terms, &own("alice"), 3, 4)
        .await
        .expect("search");
    assert_eq!(short.len(), 3, "{short:?}");
}

/// Content is split into words where a search splits its query: at every
/// character that is not a letter or digit ("host-17" holds `host` and
/// `17`, "/srv/app3" holds `srv` and `app3`).
pub async fn memory_full_text_splits_words_as_a_search_does(store: SharedStore) {
    let note = |text: &str| NewMemory {
        content: text.into(),
        ..Default::default()
    };
    let target = remember_with(
        &store,
        "alice",
        note("check git status on host-17 in /srv/app3"),
    )
    .await;
    remember_with(
        &store,
        "alice",
        note("check git status on host-18 in /srv/app4"),
    )
    .await;
    for query in ["host 17", "host-17", "app3 status", "/srv/app3"] {
        let found = store
            .text_search_memories(
                &skynet_core::memory::terms(query),
                &own("alice"),
                1,
                TEXT_BUDGET,
            )
            .await
            .expect("search");
        assert_eq!(found, std::slice::from_ref(&target.id), "{query:?}");
    }
}

pub async fn remember_with(store: &SharedStore, owner: &str, new: NewMemory) -> Memory {
    let mut m = new
        .into_memory(Principal::new(owner).expect("principal"), Utc::now())
        .expect("valid memory");
    let embedder = HashEmbedder::new();
    m.embedding = embedder.vector(&m.content);
    m.embedding_model = Some(embedder.model_id().to_string());
    store.insert_memory(&m).await.expect("insert memory");
    m
}

/// A batch spanning several insert statements stores every memory as
/// given (embedding bits included); a batch holding a stored id, or one id
/// twice, is a conflict naming it and stores none of its memories; read
/// back without embeddings, rows are the same but for the vector.
pub async fn memory_batches_store_all_or_none(store: SharedStore) {
    let embedder = HashEmbedder::new();
    let batch = |from: usize, to: usize| -> Vec<Memory> {
        (from..to)
            .map(|i| {
                let mut m = NewMemory {
                    content: format!("batch note {i}"),
                    metadata: Some(serde_json::json!({"n": i})),
                    tags: vec![format!("t{}", i % 3)],
                    outcome: Some(MemoryOutcome::Success),
                    ..Default::default()
                }
                .into_memory(Principal::new("alice").expect("principal"), Utc::now())
                .expect("valid memory");
                m.embedding = embedder.vector(&m.content);
                m.embedding_model = Some(embedder.model_id().to_string());
                m
            })
            .collect()
    };
    let first = batch(0, 250);
    store.insert_memories(&first).await.expect("insert batch");
    let ids: Vec<String> = first.iter().map(|m| m.id.clone()).collect();
    let all = MemoryFilter::default();
    let mut back = store
        .memories_by_ids(&ids, &all, &Visibility::All, true)
        .await
        .expect("read back");
    back.sort_by_key(|m| ids.iter().position(|id| *id == m.id));
    assert_eq!(back, first);
    let bare = store
        .memories_by_ids(&ids[..3], &all, &Visibility::All, false)
        .await
        .expect("read back without vectors");
    assert_eq!(bare.len(), 3);
    for m in &bare {
        assert!(m.embedding.is_empty(), "{m:?}");
        let full = first
            .iter()
            .find(|f| f.id == m.id)
            .expect("one of the batch");
        assert_eq!(
            m,
            &Memory {
                embedding: Vec::new(),
                ..full.clone()
            }
        );
    }

    // The 120th of a new batch is already stored: the whole batch fails.
    let mut second = batch(300, 450);
    second[120] = first[7].clone();
    match store.insert_memories(&second).await {
        Err(Error::Conflict(msg)) => assert!(msg.contains(&first[7].id), "{msg}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // An id twice, in two different insert statements of one batch.
    let mut third = batch(500, 650);
    third[140].id = third[2].id.clone();
    match store.insert_memories(&third).await {
        Err(Error::Conflict(msg)) => assert!(msg.contains("twice"), "{msg}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    for m in second.iter().chain(&third) {
        if m.id != first[7].id {
            assert!(!exists(&store, &m.id).await, "{} was stored", m.content);
        }
    }
    let counts = store.memory_counts(&Visibility::All).await.expect("counts");
    assert_eq!(counts.total, 250);
}

async fn exists(store: &SharedStore, id: &str) -> bool {
    store
        .get_memory(id, &Visibility::All)
        .await
        .expect("get")
        .is_some()
}

/// Forgetting by filter takes the caller's unpinned matches only and
/// refuses an empty filter; pinning is the owner's; the cap evicts a
/// principal's least important unpinned memories, never pinned ones nor
/// another principal's; a pruned job's memories go unless pinned.
pub async fn memory_retention_forgets_evicts_and_keeps_pinned(store: SharedStore) {
    let note = |text: &str, importance: f64, tags: &[&str], job: Option<&str>| NewMemory {
        content: text.into(),
        memory_type: Some(MemoryType::Note),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        importance: Some(importance),
        job_id: job.map(str::to_string),
        ..Default::default()
    };
    let a = remember_with(&store, "alice", note("a", 0.1, &["old"], None)).await;
    let b = remember_with(&store, "alice", note("b", 0.2, &["old"], None)).await;
    let pinned = remember_with(
        &store,
        "alice",
        NewMemory {
            pinned: true,
            ..note("p", 0.0, &["old"], None)
        },
    )
    .await;
    let bobs = remember_with(&store, "bob", note("bob", 0.1, &["old"], None)).await;
    assert!(pinned.pinned);
    assert!(
        store
            .get_memory(&pinned.id, &own("alice"))
            .await
            .expect("get")
            .expect("seen")
            .pinned
    );
    assert!(matches!(
        store
            .forget_memories(&MemoryFilter::default(), &own("alice"))
            .await,
        Err(Error::InvalidInput(_))
    ));
    let old = MemoryFilter {
        tags: vec!["old".into()],
        ..Default::default()
    };
    assert_eq!(
        store
            .forget_memories(&old, &own("alice"))
            .await
            .expect("forget"),
        2,
        "alice's two unpinned ones"
    );
    assert!(!exists(&store, &a.id).await && !exists(&store, &b.id).await);
    assert!(exists(&store, &pinned.id).await, "pinned is kept");
    assert!(
        exists(&store, &bobs.id).await,
        "bob's is not alice's to forget"
    );
    assert_eq!(
        store.memory_counts(&own("alice")).await.expect("c").pinned,
        1
    );

    // Pinning: the owner's alone.
    assert!(
        !store
            .set_memory_pinned(&bobs.id, true, &own("alice"))
            .await
            .expect("pin")
    );
    assert!(
        store
            .set_memory_pinned(&pinned.id, false, &own("alice"))
            .await
            .expect("unpin")
    );
    assert!(
        store
            .set_memory_pinned(&pinned.id, true, &own("alice"))
            .await
            .expect("pin")
    );

    // The cap: alice has the pinned one plus four of rising importance.
    let mut kept = Vec::new();
    for (i, importance) in [0.4, 0.9, 0.3, 0.8].into_iter().enumerate() {
        kept.push(
            remember_with(
                &store,
                "alice",
                note(&format!("n{i}"), importance, &[], None),
            )
            .await,
        );
    }
    let evicted = store
        .evict_memories(&Principal::new("alice").expect("p"), 3)
        .await
        .expect("evict");
    assert_eq!(evicted, 2, "five memories, cap three");
    assert!(!exists(&store, &kept[0].id).await, "0.4 went");
    assert!(!exists(&store, &kept[2].id).await, "0.3 went");
    assert!(exists(&store, &kept[1].id).await && exists(&store, &kept[3].id).await);
    assert!(exists(&store, &pinned.id).await, "importance 0 but pinned");
    assert!(exists(&store, &bobs.id).await, "bob's count is his own");
    // A cap below the pinned count leaves the pinned ones.
    assert_eq!(
        store
            .evict_memories(&Principal::new("alice").expect("p"), 0)
            .await
            .expect("evict"),
        2
    );
    assert!(exists(&store, &pinned.id).await);
    assert_eq!(
        store.memory_counts(&own("alice")).await.expect("c").total,
        1
    );

    // Pruned jobs: their memories go, pinned ones stay, whoever owns them.
    let job_a = JobId::new();
    let job_b = JobId::new();
    let ran = remember_with(&store, "alice", note("ran", 0.5, &[], Some(job_a.as_str()))).await;
    let theirs = remember_with(
        &store,
        "bob",
        note("theirs", 0.5, &[], Some(job_b.as_str())),
    )
    .await;
    let keep = remember_with(
        &store,
        "alice",
        NewMemory {
            pinned: true,
            ..note("keep", 0.5, &[], Some(job_a.as_str()))
        },
    )
    .await;
    let other = remember_with(
        &store,
        "alice",
        note("other", 0.5, &[], Some(JobId::new().as_str())),
    )
    .await;
    assert_eq!(store.forget_jobs(&[]).await.expect("none"), 0);
    assert_eq!(
        store
            .forget_jobs(&[job_a.clone(), job_b.clone()])
            .await
            .expect("forget jobs"),
        2
    );
    assert!(!exists(&store, &ran.id).await && !exists(&store, &theirs.id).await);
    assert!(exists(&store, &keep.id).await && exists(&store, &other.id).await);
}

/// What a re-embed has to do: memories of another model (or none), in id
/// order after a cursor; storing new vectors takes them off the list.
pub async fn memories_to_embed_page_by_model_and_take_new_vectors(store: SharedStore) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let m = remember(
            &store,
            "alice",
            &format!("note {i}"),
            MemoryType::Note,
            &[],
            None,
        )
        .await;
        ids.push(m.id);
    }
    // Pages go by id.
    ids.sort();
    let current = HashEmbedder::new().model_id().to_string();
    assert_eq!(
        store
            .count_memories_to_embed(&current)
            .await
            .expect("count"),
        0
    );
    let next = HashEmbedder::with_dimension(64);
    let model = next.model_id().to_string();
    assert_eq!(
        store.count_memories_to_embed(&model).await.expect("count"),
        5
    );
    let first = store
        .memories_to_embed(&model, None, 2)
        .await
        .expect("page");
    let first_ids: Vec<&str> = first.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(first_ids, [ids[0].as_str(), ids[1].as_str()]);
    let after = store
        .memories_to_embed(&model, Some(&ids[1]), 10)
        .await
        .expect("page");
    assert_eq!(after.len(), 3);
    let vectors: Vec<(String, Vec<f32>)> = first
        .iter()
        .map(|m| (m.id.clone(), next.vector(&m.content)))
        .collect();
    store
        .set_memory_embeddings(&model, &vectors)
        .await
        .expect("store vectors");
    assert_eq!(
        store.count_memories_to_embed(&model).await.expect("count"),
        3
    );
    let back = store
        .get_memory(&ids[0], &Visibility::All)
        .await
        .expect("get")
        .expect("there");
    assert_eq!(back.embedding_model.as_deref(), Some(model.as_str()));
    assert_eq!(back.embedding, vectors[0].1);
    let rest = store
        .memories_to_embed(&model, None, 10)
        .await
        .expect("page");
    assert_eq!(rest.len(), 3);
    assert!(rest.iter().all(|m| m.id != ids[0] && m.id != ids[1]));
}
