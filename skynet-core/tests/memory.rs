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
