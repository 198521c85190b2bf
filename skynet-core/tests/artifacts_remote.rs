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

mod artifact_support;
mod provider_support;

use artifact_support::{
    assert_chain_records_the_kept, assert_nothing_from_outside, assert_skips_said, hostile_root,
    kept_report, run_job, sha256, system_log,
};
use provider_support::service_var;
use skynet_core::artifact::LocalArtifactStore;
use skynet_core::provider::Provider;
use skynet_core::{Job, JobStatus, Skynet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// What the step writes (through the provider) and must come back.
const REPORT: &str = "<testsuite tests=\"3\"/>\n";

/// The engine of these tests on `provider`.
async fn engine(dir: &Path, provider: Arc<dyn Provider>, store: Arc<LocalArtifactStore>) -> Skynet {
    artifact_support::engine(dir, provider, store, REPORT, Duration::from_secs(10)).await
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
    let log = system_log(sk, job).await;
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
    assert_eq!(kept_report(sk, job).await, REPORT, "{mode}");

    assert_nothing_from_outside(mode, store).await;
    assert_skips_said(
        mode,
        &log,
        &format!(
            "artifact kept: reports/b.xml ({} bytes, sha256 {})",
            REPORT.len(),
            sha256(REPORT.as_bytes())
        ),
    );
    assert!(!names.contains(&"reports/deep/c.xml"), "* does not cross /");
    assert_chain_records_the_kept(mode, sk, job).await;
}

#[cfg(feature = "docker")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_outputs_are_copied_out_of_a_container_and_hostile_ones_refused() {
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
    let job = run_job(&sk, &root, Duration::from_secs(120)).await;
    assert_only_the_root_s_files_were_kept("docker", &sk, &job, &store).await;

    // The step's container and the one outputs were copied from are gone.
    let left = provider_support::containers_with(&tag).await;
    assert_eq!(left, 0, "containers left behind");
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
    let job = run_job(&sk, &root, Duration::from_secs(120)).await;
    assert_only_the_root_s_files_were_kept("ssh", &sk, &job, &store).await;
}
