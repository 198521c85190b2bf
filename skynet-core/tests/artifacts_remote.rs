//! Collecting a step's declared artifacts from providers whose files are
//! not read from this side's disk: Docker (copied out of a container with
//! the Engine API's archive endpoint, against a real dockerd from
//! `scripts/services.d/30-docker.sh`) and SSH (SFTP from a real OpenSSH
//! sshd on loopback, `40-sshd.sh`). The root is hostile as in
//! `artifacts_collect.rs`: symlinks to `/etc/passwd` and `/etc`, a FIFO, a
//! 10 GB sparse file over the cap. Only regular files inside the root are
//! kept, their SHA-256 matching what the step wrote; every other output
//! is skipped with its reason in the step's log, and nothing from outside
//! the root reaches the store.
#![cfg(any(feature = "docker", feature = "ssh"))]
#![allow(clippy::unwrap_used)]

mod provider_support;

use provider_support::service_var;
use sha2::{Digest, Sha256};
use skynet_core::action::Action;
use skynet_core::artifact::{ArtifactLimits, ArtifactStore, LocalArtifactStore};
use skynet_core::planner::ScriptedPlanner;
use skynet_core::provider::{Provider, Stream};
use skynet_core::store::LogQuery;
use skynet_core::{EngineConfig, Job, JobStatus, Skynet, SubmitRequest, WorkerOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// What the step writes (through the provider) and must come back.
const REPORT: &str = "<testsuite tests=\"3\"/>\n";

async fn engine(dir: &Path, provider: Arc<dyn Provider>, store: Arc<LocalArtifactStore>) -> Skynet {
    Skynet::builder()
        .database_url(format!("sqlite://{}", dir.join("skynet.db").display()))
        .planner(Arc::new(ScriptedPlanner::new(vec![Action::WriteFile {
            path: "reports/b.xml".into(),
            content: REPORT.into(),
        }])))
        .default_provider(provider.name().to_string())
        .provider(provider)
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

/// What a hostile step could leave in its root.
fn hostile_root(root: &Path) {
    std::fs::create_dir_all(root.join("reports/deep")).unwrap();
    std::fs::write(root.join("reports/a.xml"), "<a/>\n").unwrap();
    std::fs::write(root.join("reports/deep/c.xml"), "<c/>\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("reports/passwd.xml")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("out")).unwrap();
    nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    // 10 GB, sparse: over the 1 MiB cap without using the disk.
    let big = std::fs::File::create(root.join("big.bin")).unwrap();
    big.set_len(10_000_000_000).unwrap();
}

const PATTERNS: [&str; 7] = [
    "reports/*.xml",
    "link",
    "fifo",
    "big.bin",
    "out/hostname",
    "out/*",
    "missing.txt",
];

async fn run_job(sk: &Skynet, root: &Path) -> Job {
    let mut req = SubmitRequest::new("write the report").root(root);
    req.artifacts = PATTERNS.iter().map(|s| s.to_string()).collect();
    let job = sk.submit(req).await.unwrap();
    if job.status == JobStatus::Planned {
        let hash = job.plan.as_ref().unwrap().hash.clone();
        sk.approve(&job.id, &hash, "tester").await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
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

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The outcome every provider must reach on the hostile root.
async fn assert_only_the_root_s_files_were_kept(
    mode: &str,
    sk: &Skynet,
    job: &Job,
    store: &LocalArtifactStore,
) {
    assert_eq!(job.status, JobStatus::Succeeded, "{mode}: {:?}", job.error);
    assert_eq!(
        job.provider, mode,
        "the step ran on the provider under test"
    );
    let log: Vec<String> = sk
        .logs(&job.id, &LogQuery::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.stream == Stream::System)
        .map(|l| l.text)
        .collect();
    let kept = sk.artifacts(&job.id).await.unwrap();
    let names: Vec<&str> = kept.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["reports/a.xml", "reports/b.xml"],
        "{mode}: {log:#?}"
    );
    // Each kept file's SHA-256 is that of what was written, and reading
    // it back yields those bytes.
    assert_eq!(kept[0].sha256, sha256(b"<a/>\n"), "{mode}");
    assert_eq!(kept[1].sha256, sha256(REPORT.as_bytes()), "{mode}");
    assert_eq!(kept[1].size, REPORT.len() as u64);
    let (_, mut reader) = sk
        .open_artifact(&job.id, "reports/b.xml", None)
        .await
        .unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).await.unwrap();
    assert_eq!(text, REPORT, "{mode}");

    // Nothing from outside the root reached the store.
    let passwd_sha = sha256(&std::fs::read("/etc/passwd").unwrap());
    let objects = store.objects().await.unwrap();
    assert_eq!(objects.len(), 2, "{mode}: {objects:?}");
    assert!(objects.iter().all(|o| o.sha256 != passwd_sha), "{mode}");

    let said = |needle: &str| {
        assert!(
            log.iter().any(|l| l.contains(needle)),
            "{mode}: no line with {needle:?} in {log:#?}"
        )
    };
    said("artifact skipped: link: is a symbolic link");
    said("artifact skipped: reports/passwd.xml: is a symbolic link");
    said("artifact skipped: fifo: is a FIFO");
    said("artifact skipped: big.bin: is 10000000000 bytes, over the cap");
    said("artifact skipped: out/hostname: out is a symbolic link: not followed");
    said("artifact skipped: out/*: out is a symbolic link: not followed");
    said("artifact skipped: missing.txt: does not exist");
    said(&format!(
        "artifact kept: reports/b.xml ({} bytes, sha256 {})",
        REPORT.len(),
        sha256(REPORT.as_bytes())
    ));
    assert!(!names.contains(&"reports/deep/c.xml"), "* does not cross /");
    // The chain records each kept artifact and still verifies.
    let events = sk.events(&job.id).await.unwrap();
    let recorded: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "artifact")
        .map(|e| e.data["name"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, ["reports/a.xml", "reports/b.xml"], "{mode}");
    assert!(sk.verify_events(&job.id).await.unwrap().intact);
}

#[cfg(feature = "docker")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_outputs_are_copied_out_of_a_container_and_hostile_ones_refused() {
    use bollard::query_parameters::ListContainersOptionsBuilder;
    use skynet_core::provider::{DockerConfig, DockerProvider};
    let test = "docker_outputs_are_copied_out_of_a_container";
    let Some(image) = service_var(test, "SKYNET_TEST_DOCKER_IMAGE") else {
        return;
    };
    let tag = format!("{test}-{}", uuid::Uuid::now_v7());
    let mut config = DockerConfig::new(image);
    config.labels.insert("skynet.test".into(), tag.clone());
    let dir = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    hostile_root(&root);
    let store = Arc::new(LocalArtifactStore::new(dir.path().join("artifacts")));
    let sk = engine(
        dir.path(),
        Arc::new(DockerProvider::new(config)),
        store.clone(),
    )
    .await;
    let job = run_job(&sk, &root).await;
    assert_only_the_root_s_files_were_kept("docker", &sk, &job, &store).await;

    // The step's container and the one outputs were copied from are gone.
    let docker = bollard::Docker::connect_with_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    let filters = std::collections::HashMap::from([("label", vec![format!("skynet.test={tag}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let left = docker.list_containers(Some(options)).await.unwrap();
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

#[cfg(feature = "ssh")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_outputs_are_fetched_over_sftp_and_hostile_ones_refused() {
    use skynet_core::provider::{SshConfig, SshProvider};
    let test = "ssh_outputs_are_fetched_over_sftp";
    let (Some(host), Some(port), Some(user), Some(key), Some(known_hosts)) = (
        service_var(test, "SKYNET_TEST_SSH_HOST"),
        service_var(test, "SKYNET_TEST_SSH_PORT"),
        service_var(test, "SKYNET_TEST_SSH_USER"),
        service_var(test, "SKYNET_TEST_SSH_KEY"),
        service_var(test, "SKYNET_TEST_SSH_KNOWN_HOSTS"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The server is this machine: the remote root is a local directory,
    // and the job's root names the same one.
    let root = tempfile::tempdir().unwrap();
    let root = root.path().canonicalize().unwrap();
    hostile_root(&root);
    let mut config = SshConfig::new(host, user, key, known_hosts);
    config.port = port.parse().unwrap();
    config.remote_root = root.to_str().unwrap().to_string();
    let store = Arc::new(LocalArtifactStore::new(dir.path().join("artifacts")));
    let sk = engine(
        dir.path(),
        Arc::new(SshProvider::new(config)),
        store.clone(),
    )
    .await;
    let job = run_job(&sk, &root).await;
    assert_only_the_root_s_files_were_kept("ssh", &sk, &job, &store).await;
}
