//! The engine's memory: every job that ends is remembered (on real SQLite,
//! through the mock provider), for its principal, with secrets redacted.

mod engine_support;

use engine_support::drain_until_done;
use skynet_core::action::Action;
use skynet_core::memory::{MemoryFilter, MemoryOutcome, MemoryType, NewMemory};
use skynet_core::planner::ScriptedPlanner;
use skynet_core::provider::mock::{MockProvider, MockResponse};
use skynet_core::{Error, JobId, Skynet, SubmitRequest};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "supersecretvalue";

async fn engine(dir: &tempfile::TempDir, mock: MockProvider, actions: Vec<Action>) -> Skynet {
    Skynet::builder()
        .database_url(format!(
            "sqlite://{}",
            dir.path().join("skynet.db").display()
        ))
        .planner(Arc::new(ScriptedPlanner::new(actions)))
        .provider(Arc::new(mock))
        .default_provider("mock")
        .secrets([SECRET.to_string()])
        .build()
        .await
        .expect("engine")
}

async fn run(sk: &Skynet, req: SubmitRequest) -> JobId {
    let job = sk.submit(req).await.expect("submit");
    drain_until_done(sk, &job.id).await.id
}

/// The memory of `job`, waiting for the background writer.
async fn memory_of(sk: &Skynet, job: &JobId) -> skynet_core::memory::Memory {
    let filter = MemoryFilter {
        job_id: Some(job.to_string()),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = sk.memories(&filter, 10).await.expect("memories");
        if let Some(m) = found.into_iter().next() {
            return m;
        }
        assert!(Instant::now() < deadline, "no memory of job {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_failed_job_is_remembered_without_its_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let leak = format!("token={SECRET}");
    let mock = MockProvider::new().with_rule(
        ["ls"],
        MockResponse::exit(1)
            .with_stdout([leak.clone()])
            .with_stderr([format!("error: bad credentials {SECRET}")]),
    );
    let sk = engine(
        &dir,
        mock,
        vec![Action::ListDirectory {
            path: SECRET.into(),
        }],
    )
    .await;
    let req = SubmitRequest::new(format!("deploy with {SECRET}")).root(dir.path());
    let job = run(&sk, req).await;
    let memory = memory_of(&sk, &job).await;
    assert_eq!(memory.memory_type, MemoryType::TaskExecution);
    assert_eq!(memory.outcome, Some(MemoryOutcome::Failure));
    assert_eq!(memory.principal.as_str(), "local");
    assert!(
        memory.content.contains("outcome: failed"),
        "{}",
        memory.content
    );
    assert!(memory.content.contains("[REDACTED]"), "{}", memory.content);
    assert!(!memory.embedding.is_empty());
    // No memory anywhere carries the secret, in any field.
    for m in sk
        .memories(&MemoryFilter::default(), 1000)
        .await
        .expect("all")
    {
        let text = serde_json::to_string(&m).expect("json") + &m.tags.join(",");
        assert!(!text.contains(SECRET), "secret in memory: {text}");
    }
}

#[tokio::test]
async fn a_succeeded_job_is_remembered_once_with_its_plan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mock = MockProvider::new().with_rule(["git"], MockResponse::stdout(["clean"]));
    let sk = engine(&dir, mock, vec![Action::GitStatus]).await;
    let job = run(&sk, SubmitRequest::new("check git status").root(dir.path())).await;
    let memory = memory_of(&sk, &job).await;
    assert_eq!(memory.outcome, Some(MemoryOutcome::Success));
    assert!(memory.content.contains("intent: check git status"));
    assert!(memory.content.contains("provider: mock"));
    assert_eq!(memory.metadata["argv"][0][0], "git");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let filter = MemoryFilter {
        job_id: Some(job.to_string()),
        ..Default::default()
    };
    assert_eq!(sk.memories(&filter, 10).await.expect("memories").len(), 1);
}

#[tokio::test]
async fn stored_memories_are_checked_and_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sk = engine(&dir, MockProvider::new(), vec![]).await;
    for bad in [
        NewMemory {
            content: "  ".into(),
            ..Default::default()
        },
        NewMemory {
            content: "x".repeat(10 * 1024 * 1024),
            ..Default::default()
        },
        NewMemory {
            content: "ok".into(),
            importance: Some(2.0),
            ..Default::default()
        },
        NewMemory {
            content: "ok".into(),
            metadata: Some(serde_json::json!([1])),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            sk.remember(bad).await,
            Err(Error::InvalidInput(_))
        ));
    }
    assert!(
        sk.memories(&MemoryFilter::default(), 10)
            .await
            .expect("list")
            .is_empty()
    );
    let m = sk
        .remember(NewMemory {
            content: format!("the key is {SECRET}"),
            metadata: Some(serde_json::json!({"note": SECRET})),
            ..Default::default()
        })
        .await
        .expect("remember");
    let back = sk.memory(&m.id).await.expect("get").expect("stored");
    assert_eq!(back.content, "the key is [REDACTED]");
    assert_eq!(back.metadata["note"], "[REDACTED]");
    assert!("unknown".parse::<MemoryType>().is_err());
}

#[tokio::test]
async fn search_ranks_the_matching_run_first_and_sees_only_the_callers_own() {
    use skynet_core::memory::SearchQuery;
    use skynet_core::store::keys::{Grant, Scope};
    use skynet_core::{Principal, SimilarTo};
    let dir = tempfile::tempdir().expect("tempdir");
    let sk = engine(&dir, MockProvider::new(), vec![]).await;
    let grant = |name: &str, scopes: Vec<Scope>| Grant {
        principal: Principal::new(name).expect("principal"),
        scopes,
        actor: format!("test:{name}"),
    };
    let alice = sk.acting_as(grant("alice", vec![Scope::Read, Scope::Submit]));
    let bob = sk.acting_as(grant("bob", vec![Scope::Read, Scope::Submit]));
    let note = |text: &str| NewMemory {
        content: text.into(),
        ..Default::default()
    };
    let git = alice
        .remember(note("check git status in the repo"))
        .await
        .expect("store");
    alice
        .remember(note("restart nginx on the web server"))
        .await
        .expect("store");
    alice
        .remember(note("rotate the database backups"))
        .await
        .expect("store");
    let q = SearchQuery {
        query: "git status".into(),
        ..Default::default()
    };
    let found = alice.search_memories(&q).await.expect("search");
    assert_eq!(found[0].memory.id, git.id);
    assert_eq!(found[0].parts.text_rank, Some(1));
    assert_eq!(found[0].parts.vector_rank, Some(1));
    // The result's access was counted.
    let again = alice.memory(&git.id).await.expect("get").expect("seen");
    assert_eq!(again.access_count, 1);
    // Bob sees, finds, compares with and deletes none of Alice's.
    assert!(bob.search_memories(&q).await.expect("search").is_empty());
    assert_eq!(bob.memory(&git.id).await.expect("get"), None);
    assert!(!bob.forget_memory(&git.id).await.expect("forget"));
    assert!(matches!(
        bob.similar_memories(&SimilarTo::MemoryId(git.id.clone()), None)
            .await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(bob.memory_stats().await.expect("stats").counts.total, 0);
    assert_eq!(alice.memory_stats().await.expect("stats").counts.total, 3);
    let similar = alice
        .similar_memories(&SimilarTo::Content("git status please".into()), Some(1))
        .await
        .expect("similar");
    assert_eq!(similar[0].memory.id, git.id);
    // An admin (read:all) sees everyone's.
    let admin = sk.acting_as(grant("root", vec![Scope::Admin]));
    assert_eq!(
        admin.search_memories(&q).await.expect("search")[0]
            .memory
            .id,
        git.id
    );
    for bad in [
        SearchQuery {
            query: " ".into(),
            ..Default::default()
        },
        SearchQuery {
            query: "git".into(),
            limit: Some(0),
            ..Default::default()
        },
        SearchQuery {
            query: "git".into(),
            limit: Some(1000),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            alice.search_memories(&bad).await,
            Err(Error::InvalidInput(_))
        ));
    }
}

#[tokio::test]
async fn a_plan_shows_the_callers_similar_past_runs_and_repeated_failures() {
    use skynet_core::memory::PlanWarning;
    use skynet_core::store::keys::{Grant, Scope};
    use skynet_core::{Principal, RiskLevel};
    let dir = tempfile::tempdir().expect("tempdir");
    // The first two `git` runs fail, later ones succeed.
    let mock = MockProvider::new().with_rule_times(
        ["git"],
        MockResponse::exit(1).with_stderr(["fatal: not a git repository"]),
        2,
    );
    let sk = engine(&dir, mock, vec![Action::GitStatus]).await;
    let intent = "check git status";
    for _ in 0..4 {
        let job = run(&sk, SubmitRequest::new(intent).root(dir.path())).await;
        memory_of(&sk, &job).await;
    }
    // Bob's run of the same intent is his alone.
    let bob = sk.acting_as(Grant {
        principal: Principal::new("bob").expect("principal"),
        scopes: vec![Scope::Read, Scope::Submit],
        actor: "test:bob".into(),
    });
    let job = bob
        .submit(&SubmitRequest::new(intent).root(dir.path()))
        .await
        .expect("submit");
    let job = drain_until_done(&sk, &job.id).await;
    memory_of(&sk, &job.id).await;

    let plan = sk
        .plan(&SubmitRequest::new(intent).root(dir.path()))
        .await
        .expect("plan");
    let past = plan.past_runs.clone().expect("past runs");
    assert_eq!(
        (past.succeeded, past.failed, past.other),
        (2, 2, 0),
        "only the local operator's own runs count: {past:?}"
    );
    let line = past.line();
    assert!(
        line.starts_with("similar past runs: 2 succeeded, 2 failed: "),
        "{line}"
    );
    assert!(past.last_failure.as_deref().is_some_and(|r| !r.is_empty()));
    // The same step failed twice today: the approver is told.
    assert_eq!(
        plan.warnings,
        vec![PlanWarning::RepeatedFailure {
            step: 1,
            description: plan.steps[0].description.clone(),
            failures: 2,
            window_hours: 24,
        }]
    );
    // Memory changes no risk and no hash.
    assert_eq!(plan.risk, RiskLevel::ReadOnly);
    let view = skynet_core::view::PlanView::new(&plan);
    assert_eq!(view.past_runs_line.as_deref(), Some(line.as_str()));
    let json = serde_json::to_value(&view).expect("json");
    assert_eq!(json["warnings"][0]["kind"], "repeated_failure");

    // Bob sees his one success and no warning (his runs of the step are
    // his own signature).
    let bobs = bob
        .review(&SubmitRequest::new(intent).root(dir.path()))
        .await
        .expect("review")
        .plan;
    let past = bobs.past_runs.expect("bob's past runs");
    assert_eq!((past.succeeded, past.failed), (1, 0));
    assert!(bobs.warnings.is_empty());
    assert_eq!(bobs.hash, plan.hash, "annotations are outside the hash");

    // Someone with no history gets no line.
    let carol = sk.acting_as(Grant {
        principal: Principal::new("carol").expect("principal"),
        scopes: vec![Scope::Read],
        actor: "test:carol".into(),
    });
    let fresh = carol
        .review(&SubmitRequest::new(intent).root(dir.path()))
        .await
        .expect("review")
        .plan;
    assert_eq!(fresh.past_runs, None);
}

/// An embedder of another model that fails from its `fail_from`-th call
/// on (an interruption), counting the texts it embedded.
struct Interrupted {
    inner: skynet_core::memory::HashEmbedder,
    calls: std::sync::atomic::AtomicUsize,
    texts: std::sync::atomic::AtomicUsize,
    fail_from: usize,
    /// Answer vectors of this many dimensions instead (a misconfigured
    /// model).
    answer_dimension: Option<usize>,
}

impl Interrupted {
    fn new(fail_from: usize) -> Self {
        Interrupted {
            inner: skynet_core::memory::HashEmbedder::with_dimension(64),
            calls: Default::default(),
            texts: Default::default(),
            fail_from,
            answer_dimension: None,
        }
    }
}

#[async_trait::async_trait]
impl skynet_core::memory::Embedder for Interrupted {
    fn model_id(&self) -> &str {
        skynet_core::memory::Embedder::model_id(&self.inner)
    }
    fn dimension(&self) -> usize {
        64
    }
    async fn embed(&self, texts: &[String]) -> skynet_core::Result<Vec<Vec<f32>>> {
        use std::sync::atomic::Ordering;
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call >= self.fail_from {
            return Err(Error::Planning("embedding: connection reset".into()));
        }
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        Ok(texts
            .iter()
            .map(|t| match self.answer_dimension {
                Some(d) => skynet_core::memory::HashEmbedder::with_dimension(d).vector(t),
                None => self.inner.vector(t),
            })
            .collect())
    }
}

async fn engine_with(dir: &tempfile::TempDir, embedder: Arc<Interrupted>) -> Skynet {
    Skynet::builder()
        .database_url(format!(
            "sqlite://{}",
            dir.path().join("skynet.db").display()
        ))
        .planner(Arc::new(ScriptedPlanner::new(vec![])))
        .embedder(embedder)
        .build()
        .await
        .expect("engine")
}

#[tokio::test]
async fn reindex_after_a_model_change_resumes_where_it_stopped() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().expect("tempdir");
    let before = engine(&dir, MockProvider::new(), vec![]).await;
    for i in 0..10 {
        before
            .remember(NewMemory {
                content: format!("note {i} about the deploy"),
                ..Default::default()
            })
            .await
            .expect("remember");
    }
    drop(before);

    // The model changed; the first run is cut off at its third batch.
    let flaky = Arc::new(Interrupted::new(3));
    let sk = engine_with(&dir, flaky.clone()).await;
    assert_eq!(sk.memory_stats().await.expect("stats").to_reindex, Some(10));
    let mut seen = Vec::new();
    let err = sk
        .reindex_memories(Some(3), |p| seen.push(p))
        .await
        .expect_err("interrupted");
    assert!(err.to_string().contains("connection reset"), "{err}");
    assert_eq!(flaky.texts.load(Ordering::SeqCst), 6);
    assert_eq!(seen.last().map(|p| (p.done, p.total)), Some((6, 10)));
    assert_eq!(sk.memory_stats().await.expect("stats").to_reindex, Some(4));
    drop(sk);

    // Run again: only the four left are embedded.
    let steady = Arc::new(Interrupted::new(usize::MAX));
    let sk = engine_with(&dir, steady.clone()).await;
    let mut seen = Vec::new();
    let report = sk
        .reindex_memories(Some(3), |p| seen.push(p))
        .await
        .expect("reindex");
    assert_eq!(report.reembedded, 4);
    assert_eq!(report.current, 6);
    assert_eq!(steady.texts.load(Ordering::SeqCst), 4, "nothing done twice");
    assert_eq!(seen.first().map(|p| p.total), Some(4));
    assert_eq!(sk.memory_stats().await.expect("stats").to_reindex, Some(0));
    for m in sk
        .memories(&MemoryFilter::default(), 100)
        .await
        .expect("all")
    {
        assert_eq!(m.embedding.len(), 64);
        assert_eq!(m.embedding_model.as_deref(), Some("skynet-hash-v1-64"));
    }
    // Nothing left: a third run does nothing.
    assert_eq!(
        sk.reindex_memories(None, |_| {})
            .await
            .expect("reindex")
            .reembedded,
        0
    );
    assert!(matches!(
        sk.reindex_memories(Some(0), |_| {}).await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test]
async fn a_vector_of_the_wrong_dimension_is_a_clear_error_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut wrong = Interrupted::new(usize::MAX);
    wrong.answer_dimension = Some(32);
    let sk = engine_with(&dir, Arc::new(wrong)).await;
    let err = sk
        .remember(NewMemory {
            content: "a note".into(),
            ..Default::default()
        })
        .await
        .expect_err("wrong dimension");
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("32 dimensions"), "{err}");
    assert!(err.to_string().contains("64"), "{err}");
    let q = skynet_core::memory::SearchQuery {
        query: "note".into(),
        ..Default::default()
    };
    assert!(matches!(
        sk.search_memories(&q).await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(sk.memory_stats().await.expect("stats").counts.total, 0);
}

#[tokio::test]
async fn the_cap_evicts_the_least_important_unpinned_memory_on_insert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sk = Skynet::builder()
        .database_url(format!(
            "sqlite://{}",
            dir.path().join("skynet.db").display()
        ))
        .planner(Arc::new(ScriptedPlanner::new(vec![])))
        .config(skynet_core::EngineConfig {
            memory_max: Some(2),
            ..Default::default()
        })
        .build()
        .await
        .expect("engine");
    let note = |text: &str, importance: f64, pinned: bool| NewMemory {
        content: text.into(),
        importance: Some(importance),
        pinned,
        ..Default::default()
    };
    let keep = sk.remember(note("pinned", 0.0, true)).await.expect("store");
    let low = sk.remember(note("low", 0.1, false)).await.expect("store");
    let high = sk.remember(note("high", 0.9, false)).await.expect("store");
    assert_eq!(sk.memory(&low.id).await.expect("get"), None, "evicted");
    assert!(sk.memory(&keep.id).await.expect("get").is_some());
    assert!(sk.memory(&high.id).await.expect("get").is_some());
    // Forgetting by filter leaves pinned ones; by id, it does not.
    let all_notes = MemoryFilter {
        memory_type: Some(MemoryType::Note),
        ..Default::default()
    };
    assert_eq!(sk.forget_memories(&all_notes).await.expect("forget"), 1);
    assert!(sk.forget_memory(&keep.id).await.expect("forget by id"));
}

/// The hash embedder, a quarter of a second late: a memory is still being
/// written well after its job ended.
struct Slow(skynet_core::memory::HashEmbedder);

#[async_trait::async_trait]
impl skynet_core::memory::Embedder for Slow {
    fn model_id(&self) -> &str {
        skynet_core::memory::Embedder::model_id(&self.0)
    }
    fn dimension(&self) -> usize {
        skynet_core::memory::Embedder::dimension(&self.0)
    }
    async fn embed(&self, texts: &[String]) -> skynet_core::Result<Vec<Vec<f32>>> {
        tokio::time::sleep(Duration::from_millis(250)).await;
        self.0.embed(texts).await
    }
}

/// gc waits for the memories of jobs that just ended: a dry run right
/// after a job counts its memory, as the real run that removes it does.
#[tokio::test]
async fn gc_counts_the_memory_of_a_job_that_just_ended() {
    use skynet_core::retention::{GcOptions, RetentionSettings};
    let dir = tempfile::tempdir().expect("tempdir");
    let sk = Skynet::builder()
        .database_url(format!(
            "sqlite://{}",
            dir.path().join("skynet.db").display()
        ))
        .planner(Arc::new(ScriptedPlanner::new(vec![Action::GitStatus])))
        .provider(Arc::new(
            MockProvider::new().with_rule(["git"], MockResponse::stdout(["clean"])),
        ))
        .default_provider("mock")
        .embedder(Arc::new(Slow(skynet_core::memory::HashEmbedder::new())))
        .config(skynet_core::EngineConfig {
            retention: RetentionSettings {
                jobs: Some(Duration::from_millis(1)),
                ..Default::default()
            },
            ..Default::default()
        })
        .build()
        .await
        .expect("engine");
    let job = run(&sk, SubmitRequest::new("check git status").root(dir.path())).await;
    let later = chrono::Utc::now() + chrono::Duration::seconds(1);
    let dry = sk
        .gc_at(GcOptions { dry_run: true }, later)
        .await
        .expect("dry run");
    let real = sk
        .gc_at(GcOptions { dry_run: false }, later)
        .await
        .expect("gc");
    assert_eq!(dry.jobs.job_ids, std::slice::from_ref(&job));
    assert_eq!((dry.memories, real.memories), (1, 1));
    let filter = MemoryFilter {
        job_id: Some(job.to_string()),
        ..Default::default()
    };
    assert!(sk.memories(&filter, 10).await.expect("memories").is_empty());
}
