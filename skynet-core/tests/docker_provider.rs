//! The Docker provider against a real dockerd (started by
//! `scripts/services.d/30-docker.sh`, which also builds the busybox test
//! image named by `SKYNET_TEST_DOCKER_IMAGE`). Every test counts the
//! containers carrying its own label before and after: none may be left.

mod engine_support;
mod provider_support;

use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;
use engine_support::work_once;
use provider_support::{Step, command, run_to_success, service_var};
use skynet_core::RiskLevel;
use skynet_core::provider::{DockerConfig, DockerProvider, ExitKind, Provider, Stream};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

const VAR: &str = "SKYNET_TEST_DOCKER_IMAGE";

/// A provider whose containers carry a label unique to this test.
fn provider(test: &str) -> Option<(DockerProvider, String)> {
    let image = service_var(test, VAR)?;
    let tag = format!("{test}-{}", uuid::Uuid::now_v7());
    let mut config = DockerConfig::new(image);
    config.labels.insert("skynet.test".into(), tag.clone());
    config.kill_grace = Duration::from_secs(1);
    Some((DockerProvider::new(config), tag))
}

/// Containers (running or not) labelled with `tag`.
async fn containers_with(tag: &str) -> usize {
    let docker = Docker::connect_with_defaults()
        .expect("docker client")
        .negotiate_version()
        .await
        .expect("daemon answers");
    let filters = HashMap::from([("label", vec![format!("skynet.test={tag}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .expect("list containers")
        .len()
}

/// Removal of a dropped step's container happens in a spawned task: wait for
/// the count to reach zero within a deadline.
async fn assert_no_containers(tag: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = containers_with(tag).await;
        if n == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{n} container(s) left behind");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn runs_argv_in_the_mounted_root_and_streams_both_streams() {
    let Some((docker, tag)) = provider("runs_argv_in_the_mounted_root") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    std::fs::create_dir(root.path().join("sub")).expect("mkdir");
    std::fs::write(root.path().join("sub/in.txt"), "from the host\n").expect("write");
    let step = Step::new(root.path());
    let cmd = command(
        &[
            "sh",
            "-c",
            "pwd; cat in.txt; echo to-stderr >&2; echo made > out.txt; exit 3",
            "ignored-arg0",
        ],
        &root.path().join("sub"),
    );
    let r = step.run_on(&docker, &cmd, None).await.expect("runs");
    assert_eq!(
        (r.out.exit, r.out.exit_code),
        (ExitKind::Exited, Some(3)),
        "{}",
        r.all()
    );
    assert_eq!(r.texts(Stream::Stdout), ["/work/sub", "from the host"]);
    assert_eq!(r.texts(Stream::Stderr), ["to-stderr"]);
    assert_eq!(
        std::fs::read_to_string(root.path().join("sub/out.txt"))
            .expect("written through the mount"),
        "made\n"
    );
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn hostile_arguments_arrive_verbatim() {
    let Some((docker, tag)) = provider("hostile_arguments_arrive_verbatim") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let words = ["$(id)", "a b", "'\"", ";rm -rf /", "*", ""];
    let mut argv = vec!["printf", "[%s]\\n"];
    argv.extend(words);
    let r = Step::new(root.path())
        .run_on(&docker, &command(&argv, root.path()), None)
        .await
        .expect("runs");
    assert!(r.out.success(), "{}", r.all());
    let expected: Vec<String> = words.iter().map(|w| format!("[{w}]")).collect();
    assert_eq!(r.texts(Stream::Stdout), expected);
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn read_only_steps_have_no_network_and_write_steps_do() {
    let Some((docker, tag)) = provider("read_only_steps_have_no_network") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let cmd = command(&["ls", "/sys/class/net"], root.path());
    let mut step = Step::new(root.path());
    let offline = step.run_on(&docker, &cmd, None).await.expect("runs");
    assert!(offline.out.success(), "{}", offline.all());
    assert_eq!(offline.texts(Stream::Stdout), ["lo"]);
    step.risk = RiskLevel::Write;
    let online = step.run_on(&docker, &cmd, None).await.expect("runs");
    assert!(online.out.success(), "{}", online.all());
    assert!(
        online.texts(Stream::Stdout).contains(&"eth0"),
        "{}",
        online.all()
    );
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn limits_apply_and_the_image_is_read_only() {
    let Some((docker, tag)) = provider("limits_apply") else {
        return;
    };
    let mut config = docker.config().clone();
    config.cpus = 0.5;
    let docker = DockerProvider::new(config);
    let root = tempfile::tempdir().expect("root");
    // cgroup v2 and v1 spell the limits differently.
    let script = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; \
                  cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us); \
                  touch /bin/x 2>/dev/null && echo image-writable || echo image-read-only; \
                  touch /tmp/x && echo tmp-writable";
    let r = Step::new(root.path())
        .run_on(&docker, &command(&["sh", "-c", script], root.path()), None)
        .await
        .expect("runs");
    assert!(r.out.success(), "{}", r.all());
    assert_eq!(
        r.texts(Stream::Stdout),
        [
            (1u64 << 30).to_string().as_str(),
            "256",
            "50000 100000",
            "image-read-only",
            "tmp-writable"
        ]
    );
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn timeout_stops_and_removes_the_container() {
    let Some((docker, tag)) = provider("timeout_stops_and_removes") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let mut step = Step::new(root.path());
    step.timeout = Some(Duration::from_millis(800));
    let started = Instant::now();
    let r = step
        .run_on(&docker, &command(&["sleep", "60"], root.path()), None)
        .await
        .expect("runs");
    assert_eq!((r.out.exit, r.out.exit_code), (ExitKind::TimedOut, None));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn cancel_stops_a_running_container_and_removes_it() {
    let Some((docker, tag)) = provider("cancel_stops_a_running_container") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let step = Step::new(root.path());
    let (watch, mut seen) =
        tokio::sync::mpsc::unbounded_channel::<skynet_core::provider::OutputLine>();
    let cmd = command(&["sh", "-c", "echo started; sleep 60"], root.path());
    let cancel = step.cancel.clone();
    let canceller = async {
        while let Some(line) = seen.recv().await {
            if line.text == "started" {
                // The counter sees the live container: the zero below means something.
                assert_eq!(containers_with(&tag).await, 1);
                cancel.cancel();
                return;
            }
        }
    };
    let (r, ()) = tokio::join!(step.run_on(&docker, &cmd, Some(watch)), canceller);
    let r = r.expect("runs");
    assert_eq!(r.out.exit, ExitKind::Cancelled, "{}", r.all());
    assert_eq!(r.texts(Stream::Stdout), ["started"]);
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn missing_program_fails_the_step_like_a_shell() {
    let Some((docker, tag)) = provider("missing_program_fails_the_step") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let r = Step::new(root.path())
        .run_on(
            &docker,
            &command(&["no-such-program-skynet"], root.path()),
            None,
        )
        .await
        .expect("a failed step, not a provider error");
    assert_eq!((r.out.exit, r.out.exit_code), (ExitKind::Exited, Some(127)));
    assert!(r.texts(Stream::Stderr)[0].contains("no-such-program-skynet"));
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn stdin_reaches_the_step_and_output_is_capped() {
    let Some((docker, tag)) = provider("stdin_reaches_the_step") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let mut cmd = command(&["cat"], root.path());
    cmd.stdin = Some("line one\nline two\n".into());
    let mut step = Step::new(root.path());
    let r = step.run_on(&docker, &cmd, None).await.expect("runs");
    assert!(r.out.success(), "{}", r.all());
    assert_eq!(r.texts(Stream::Stdout), ["line one", "line two"]);

    step.cap = 100;
    let r = step
        .run_on(
            &docker,
            &command(&["sh", "-c", "yes 0123456789 | head -n 1000"], root.path()),
            None,
        )
        .await
        .expect("runs");
    assert!(r.out.success(), "{}", r.all());
    assert!(r.out.truncated);
    assert_eq!(r.out.output_bytes, 11_000);
    let marker = r.texts(Stream::System);
    assert_eq!(
        marker,
        ["[output truncated after 100 bytes; 10900 more bytes dropped]"]
    );
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn health_reports_the_daemon_and_the_image() {
    let Some((docker, _tag)) = provider("health_reports_the_daemon") else {
        return;
    };
    let health = docker.health().await;
    assert!(health.healthy, "{}", health.message);

    let image = docker.config().image.clone();
    let missing = DockerProvider::new(DockerConfig::new(format!("{image}-missing")));
    let health = missing.health().await;
    assert!(!health.healthy);
    assert!(
        health.message.contains("not on the daemon"),
        "{}",
        health.message
    );

    let mut unreachable = DockerConfig::new(image);
    unreachable.host = Some("unix:///nonexistent/docker.sock".into());
    let health = DockerProvider::new(unreachable).health().await;
    assert!(!health.healthy);
    assert!(health.message.contains("dockerd"), "{}", health.message);
}

#[tokio::test]
async fn a_missing_image_is_a_provider_error_that_says_what_to_do() {
    let Some((docker, tag)) = provider("a_missing_image_is_a_provider_error") else {
        return;
    };
    let mut config = docker.config().clone();
    config.image = format!("{}-missing", config.image);
    let root = tempfile::tempdir().expect("root");
    let err = Step::new(root.path())
        .run_on(
            &DockerProvider::new(config),
            &command(&["true"], root.path()),
            None,
        )
        .await
        .expect_err("no image, no step");
    assert!(err.to_string().contains("SKYNET_DOCKER_IMAGE"), "{err}");
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn a_job_runs_end_to_end_on_the_docker_provider() {
    use skynet_core::{Skynet, SubmitRequest};
    use std::sync::Arc;
    let Some((docker, tag)) = provider("a_job_runs_end_to_end_on_docker") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    std::fs::write(root.path().join("notes.txt"), "in a container\n").expect("write");
    let sk = Skynet::builder()
        .provider(Arc::new(docker))
        .default_provider("docker")
        .build()
        .await
        .expect("engine");
    let job = sk
        .submit(SubmitRequest::new("read notes.txt").root(root.path()))
        .await
        .expect("submitted");
    assert_eq!(job.provider, "docker");
    let logs = run_to_success(&sk, &job.id).await;
    assert!(logs.iter().any(|l| l.text == "in a container"), "{logs:?}");
    assert_no_containers(&tag).await;
}

#[tokio::test]
async fn a_dropped_step_still_removes_its_container() {
    let Some((docker, tag)) = provider("a_dropped_step_still_removes_its_container") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let step = Step::new(root.path());
    let cmd = command(&["sleep", "60"], root.path());
    let docker = std::sync::Arc::new(docker);
    let running = {
        let docker = docker.clone();
        tokio::spawn(async move { step.run_on(docker.as_ref(), &cmd, None).await })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while containers_with(&tag).await == 0 {
        assert!(Instant::now() < deadline, "the container never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The engine gives up on the step (its task is aborted): the guard
    // removes the container from a spawned task.
    running.abort();
    assert!(running.await.expect_err("aborted").is_cancelled());
    assert_no_containers(&tag).await;
}

/// A configuration problem (the image missing, no daemon at the configured
/// socket) fails the same way on every try: a READ_ONLY job fails at once
/// with what to do, instead of being queued again for a retry.
#[tokio::test]
async fn a_misconfigured_docker_fails_a_read_only_job_at_once() {
    use skynet_core::{FailureKind, JobStatus, Skynet, SubmitRequest};
    use std::sync::Arc;
    let Some((docker, _tag)) = provider("a_misconfigured_docker_fails_at_once") else {
        return;
    };
    let mut missing_image = docker.config().clone();
    missing_image.image = format!("{}-missing", missing_image.image);
    let mut no_daemon = docker.config().clone();
    no_daemon.host = Some("unix:///nonexistent/docker.sock".into());
    for (config, says) in [
        (missing_image, "SKYNET_DOCKER_IMAGE"),
        (no_daemon, "dockerd"),
    ] {
        let root = tempfile::tempdir().expect("root");
        std::fs::write(root.path().join("notes.txt"), "x\n").expect("write");
        let sk = Skynet::builder()
            .provider(Arc::new(DockerProvider::new(config)))
            .default_provider("docker")
            .build()
            .await
            .expect("engine");
        let job = sk
            .submit(SubmitRequest::new("read notes.txt").root(root.path()))
            .await
            .expect("submitted");
        work_once(&sk).await;
        let done = sk.get(&job.id).await.expect("job");
        assert_eq!(done.status, JobStatus::Failed, "not queued for a retry");
        assert_eq!(done.attempts, 1);
        let failure = done.failure().expect("structured failure");
        assert_eq!(failure.kind, FailureKind::Provider);
        assert!(failure.message.contains(says), "{}", failure.message);
    }
}
