//! A gateway step's declared outputs, fetched from a real `skynet agent`
//! router on loopback through the protocol's `outputs` calls, by a real
//! engine: the file the step wrote at the agent comes back with its
//! SHA-256; the agent's hostile root (symlinks to `/etc/passwd` and
//! `/etc`, a FIFO, a 10 GB sparse file) yields nothing else. Then the
//! agent itself turns hostile (its `outputs` answers replaced by a local
//! server speaking the same wire format with lies: `../` and absolute
//! names, a name no pattern matches, more bytes than listed, bytes that
//! do not hash to the listed SHA-256): nothing it sends is kept.

#![allow(clippy::unwrap_used)]

use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use skynet_core::action::Action;
use skynet_core::artifact::{ArtifactLimits, ArtifactStore, LocalArtifactStore};
use skynet_core::llm::ApiKey;
use skynet_core::planner::ScriptedPlanner;
use skynet_core::provider::gateway::agent::{AgentJobs, AgentLimits};
use skynet_core::provider::gateway::protocol::{OutputsAnswer, RemoteOutput};
use skynet_core::provider::{GatewayConfig, GatewayProvider, LocalProvider, Stream};
use skynet_core::store::LogQuery;
use skynet_core::{EngineConfig, Job, JobStatus, Skynet, SubmitRequest, WorkerOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "agent-test-token-0123456789";
const REPORT: &str = "<testsuite tests=\"3\"/>\n";

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// An agent on loopback over `root`; `hostile` routes, when given, answer
/// in its place (everything else is the real agent).
async fn agent(root: &Path, hostile: Option<Router>) -> (String, CancellationToken) {
    let jobs = AgentJobs::new(root, LocalProvider::new(), AgentLimits::default()).unwrap();
    let real = skynet_http::agent::router(jobs, TOKEN);
    let app = match hostile {
        Some(h) => h.fallback_service(real),
        None => real,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(skynet_http::agent::serve(
        listener,
        app,
        stop.clone().cancelled_owned(),
    ));
    (format!("http://{addr}"), stop)
}

async fn engine(dir: &Path, url: String, store: Arc<LocalArtifactStore>) -> Skynet {
    let mut config = GatewayConfig::new(url, ApiKey::new(TOKEN));
    config.request_timeout = Duration::from_secs(5);
    config.poll_wait = Duration::from_millis(500);
    Skynet::builder()
        .database_url(format!("sqlite://{}", dir.join("skynet.db").display()))
        .planner(Arc::new(ScriptedPlanner::new(vec![Action::WriteFile {
            path: "reports/b.xml".into(),
            content: REPORT.into(),
        }])))
        .provider(Arc::new(GatewayProvider::new(config).unwrap()))
        .default_provider("gateway")
        .artifact_store(store)
        .config(EngineConfig {
            lease: Duration::from_secs(10),
            heartbeat: Duration::from_millis(200),
            poll_interval: Duration::from_millis(20),
            artifacts: ArtifactLimits {
                max_file_bytes: 1 << 20,
                ..ArtifactLimits::default()
            },
            ..EngineConfig::default()
        })
        .build()
        .await
        .unwrap()
}

async fn run_job(sk: &Skynet, local_root: &Path, patterns: &[&str]) -> Job {
    let mut req = SubmitRequest::new("write the report").root(local_root);
    req.artifacts = patterns.iter().map(|s| s.to_string()).collect();
    let job = sk.submit(req).await.unwrap();
    if job.status == JobStatus::Planned {
        let hash = job.plan.as_ref().unwrap().hash.clone();
        sk.approve(&job.id, &hash, "tester").await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let opts = WorkerOptions {
            once: true,
            ..Default::default()
        };
        sk.worker(opts, CancellationToken::new()).await.unwrap();
        let job = sk.get(&job.id).await.unwrap();
        if job.status.is_terminal() {
            return job;
        }
        assert!(Instant::now() < deadline, "job stuck in {}", job.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn system_log(sk: &Skynet, job: &Job) -> Vec<String> {
    sk.logs(&job.id, &LogQuery::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.stream == Stream::System)
        .map(|l| l.text)
        .collect()
}

/// The system log of a job that must have run at the agent and succeeded.
async fn ran_at_the_agent(sk: &Skynet, job: &Job) -> Vec<String> {
    assert_eq!(job.provider, "gateway", "the step ran at the agent");
    let log = system_log(sk, job).await;
    assert_eq!(
        job.status,
        JobStatus::Succeeded,
        "{:?}: {:#?}",
        job.error,
        sk.logs(&job.id, &LogQuery::default()).await.unwrap()
    );
    log
}

fn hostile_root(root: &Path) {
    std::fs::create_dir_all(root.join("reports")).unwrap();
    std::fs::write(root.join("reports/a.xml"), "<a/>\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("reports/passwd.xml")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
    nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let big = std::fs::File::create(root.join("big.bin")).unwrap();
    big.set_len(10_000_000_000).unwrap();
}

fn dirs() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    PathBuf,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let agent_dir = tempfile::tempdir().unwrap();
    let agent_root = agent_dir.path().canonicalize().unwrap();
    let local_root = tempfile::tempdir().unwrap();
    (dir, agent_dir, agent_root, local_root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_step_s_outputs_come_back_from_the_agent_and_hostile_ones_do_not() {
    let (dir, _agent_dir, agent_root, local_root) = dirs();
    hostile_root(&agent_root);
    let (url, stop) = agent(&agent_root, None).await;
    let store = Arc::new(LocalArtifactStore::new(dir.path().join("artifacts")));
    let sk = engine(dir.path(), url, store.clone()).await;
    let job = run_job(
        &sk,
        local_root.path(),
        &[
            "reports/*.xml",
            "link",
            "fifo",
            "big.bin",
            "out/hostname",
            "missing.txt",
        ],
    )
    .await;
    let log = ran_at_the_agent(&sk, &job).await;
    let kept = sk.artifacts(&job.id).await.unwrap();
    let names: Vec<&str> = kept.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["reports/a.xml", "reports/b.xml"], "{log:#?}");
    assert_eq!(kept[1].sha256, sha256(REPORT.as_bytes()));
    assert_eq!(kept[0].sha256, sha256(b"<a/>\n"));
    // The step wrote at the agent, not here.
    assert!(!local_root.path().join("reports/b.xml").exists());

    let passwd_sha = sha256(&std::fs::read("/etc/passwd").unwrap());
    let objects = store.objects().await.unwrap();
    assert_eq!(objects.len(), 2, "{objects:?}");
    assert!(objects.iter().all(|o| o.sha256 != passwd_sha));
    for needle in [
        "artifact skipped: link: is a symbolic link",
        "artifact skipped: reports/passwd.xml: is a symbolic link",
        "artifact skipped: fifo: is a FIFO",
        "artifact skipped: big.bin: is 10000000000 bytes, over the cap",
        "artifact skipped: out/hostname: out is a symbolic link: not followed",
        "artifact skipped: missing.txt: does not exist",
    ] {
        assert!(
            log.iter().any(|l| l.contains(needle)),
            "no line with {needle:?} in {log:#?}"
        );
    }
    assert!(sk.verify_events(&job.id).await.unwrap().intact);
    stop.cancel();
}

/// Lies a hostile agent tells about a job's outputs.
fn lying_agent() -> Router {
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let passwd_sha = sha256(&passwd);
    let listing = OutputsAnswer {
        files: vec![
            RemoteOutput {
                name: "../../etc/passwd".into(),
                size: passwd.len() as u64,
                sha256: passwd_sha.clone(),
            },
            RemoteOutput {
                name: "/etc/passwd".into(),
                size: passwd.len() as u64,
                sha256: passwd_sha.clone(),
            },
            RemoteOutput {
                name: "etc/passwd".into(),
                size: passwd.len() as u64,
                sha256: passwd_sha,
            },
            // Listed small; sends more.
            RemoteOutput {
                name: "reports/long.xml".into(),
                size: 4,
                sha256: sha256(b"<a/>"),
            },
            // Listed with one hash; sends other bytes.
            RemoteOutput {
                name: "reports/swapped.xml".into(),
                size: 5,
                sha256: sha256(b"<a/>\n"),
            },
            // Listed under the cap; is over it.
            RemoteOutput {
                name: "reports/huge.xml".into(),
                size: 10_000_000_000,
                sha256: sha256(b""),
            },
        ],
        skipped: Vec::new(),
    };
    Router::new()
        .route(
            "/outputs/{job_id}",
            post(move || {
                let listing = listing.clone();
                async move { Json(listing) }
            }),
        )
        .route(
            "/outputs/{job_id}/file",
            get(
                |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    match q.get("name").map(String::as_str) {
                        Some("reports/long.xml") => "<a/><b/><c/>".to_string(),
                        Some("reports/swapped.xml") => "root:".to_string(),
                        _ => std::fs::read_to_string("/etc/passwd").unwrap(),
                    }
                },
            ),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_agent_s_outputs_are_refused_on_this_side() {
    let (dir, _agent_dir, agent_root, local_root) = dirs();
    std::fs::create_dir(agent_root.join("reports")).unwrap();
    let (url, stop) = agent(&agent_root, Some(lying_agent())).await;
    let store = Arc::new(LocalArtifactStore::new(dir.path().join("artifacts")));
    let sk = engine(dir.path(), url, store.clone()).await;
    let job = run_job(&sk, local_root.path(), &["reports/*.xml"]).await;
    let log = ran_at_the_agent(&sk, &job).await;
    assert!(sk.artifacts(&job.id).await.unwrap().is_empty(), "{log:#?}");
    assert!(store.objects().await.unwrap().is_empty());
    // (The redactor masks the word after `passwd:` in a log line, so the
    // name and the reason are looked for apart.)
    for (name, reason) in [
        (
            "artifact skipped: ../../etc/passwd:",
            "out of the root with `..`",
        ),
        (
            "artifact skipped: /etc/passwd:",
            "an absolute path: refused",
        ),
        (
            "artifact skipped: etc/passwd:",
            "no declared pattern matches: refused",
        ),
        (
            "artifact skipped: reports/long.xml:",
            "the agent sent more than the 4 bytes it listed",
        ),
        (
            "artifact skipped: reports/swapped.xml:",
            "the bytes the agent sent do not match",
        ),
        (
            "artifact skipped: reports/huge.xml:",
            "is 10000000000 bytes, over the cap",
        ),
    ] {
        assert!(
            log.iter()
                .any(|l| l.starts_with(name) && l.contains(reason)),
            "no line with {name:?} and {reason:?} in {log:#?}"
        );
    }
    stop.cancel();
}
