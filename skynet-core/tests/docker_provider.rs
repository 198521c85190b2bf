//! The Docker provider against a real dockerd (started by
//! `scripts/services.d/30-docker.sh`, which also builds the busybox test
//! image named by `SKYNET_TEST_DOCKER_IMAGE`). Every test counts the
//! containers carrying its own label before and after: none may be left.

mod engine_support;
mod provider_support;

use engine_support::work_once;
use provider_support::{Run, Step, command, containers_with, run_to_success, service_var};
use skynet_core::provider::{DockerConfig, DockerProvider, ExitKind, Provider, Stream};
use skynet_core::{Job, RiskLevel, Skynet, SubmitRequest};
use std::path::Path;
use std::sync::Arc;
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

/// One test's labelled provider and its scratch root.
struct Case {
    docker: Arc<DockerProvider>,
    tag: String,
    root: tempfile::TempDir,
}

impl Case {
    /// The case of `test`, or `None` (skipped) without the test image.
    fn new(test: &str) -> Option<Case> {
        let (docker, tag) = provider(test)?;
        let root = tempfile::tempdir().expect("root");
        Some(Case {
            docker: Arc::new(docker),
            tag,
            root,
        })
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    /// Asserts none of the case's containers was left behind.
    async fn assert_none_left(&self) {
        assert_no_containers(&self.tag).await;
    }

    /// `argv` run in the root as a default step.
    async fn run(&self, argv: &[&str]) -> Run {
        Step::new(self.root()).run(self.docker.as_ref(), argv).await
    }
}

/// An engine whose default provider is `provider`, and a job reading
/// `notes.txt` in `root` submitted to it.
async fn submit_read_notes(provider: Arc<DockerProvider>, root: &Path) -> (Skynet, Job) {
    let sk = Skynet::builder()
        .provider(provider)
        .default_provider("docker")
        .build()
        .await
        .expect("engine");
    let job = sk
        .submit(SubmitRequest::new("read notes.txt").root(root))
        .await
        .expect("submitted");
    (sk, job)
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
    let Some(case) = Case::new("runs_argv_in_the_mounted_root") else {
        return;
    };
    std::fs::create_dir(case.root().join("sub")).expect("mkdir");
    std::fs::write(case.root().join("sub/in.txt"), "from the host\n").expect("write");
    let step = Step::new(case.root());
    let cmd = command(
        &[
            "sh",
            "-c",
            "pwd; cat in.txt; echo to-stderr >&2; echo made > out.txt; exit 3",
            "ignored-arg0",
        ],
        &case.root().join("sub"),
    );
    let r = step
        .run_on(case.docker.as_ref(), &cmd, None)
        .await
        .expect("runs");
    assert_eq!(
        (r.out.exit, r.out.exit_code),
        (ExitKind::Exited, Some(3)),
        "{}",
        r.all()
    );
    assert_eq!(r.texts(Stream::Stdout), ["/work/sub", "from the host"]);
    assert_eq!(r.texts(Stream::Stderr), ["to-stderr"]);
    assert_eq!(
        std::fs::read_to_string(case.root().join("sub/out.txt"))
            .expect("written through the mount"),
        "made\n"
    );
    case.assert_none_left().await;
}

#[tokio::test]
async fn hostile_arguments_arrive_verbatim() {
    let Some(case) = Case::new("hostile_arguments_arrive_verbatim") else {
        return;
    };
    let words = ["$(id)", "a b", "'\"", ";rm -rf /", "*", ""];
    let mut argv = vec!["printf", "[%s]\\n"];
    argv.extend(words);
    let r = case.run(&argv).await;
    assert!(r.out.success(), "{}", r.all());
    let expected: Vec<String> = words.iter().map(|w| format!("[{w}]")).collect();
    assert_eq!(r.texts(Stream::Stdout), expected);
    case.assert_none_left().await;
}

#[tokio::test]
async fn read_only_steps_have_no_network_and_write_steps_do() {
    let Some(case) = Case::new("read_only_steps_have_no_network") else {
        return;
    };
    let cmd = command(&["ls", "/sys/class/net"], case.root());
    let mut step = Step::new(case.root());
    let offline = step
        .run_on(case.docker.as_ref(), &cmd, None)
        .await
        .expect("runs");
    assert!(offline.out.success(), "{}", offline.all());
    assert_eq!(offline.texts(Stream::Stdout), ["lo"]);
    step.risk = RiskLevel::Write;
    let online = step
        .run_on(case.docker.as_ref(), &cmd, None)
        .await
        .expect("runs");
    assert!(online.out.success(), "{}", online.all());
    assert!(
        online.texts(Stream::Stdout).contains(&"eth0"),
        "{}",
        online.all()
    );
    case.assert_none_left().await;
}

#[tokio::test]
async fn limits_apply_and_the_image_is_read_only() {
    let Some(mut case) = Case::new("limits_apply") else {
        return;
    };
    let mut config = case.docker.config().clone();
    config.cpus = 0.5;
    case.docker = Arc::new(DockerProvider::new(config));
    // cgroup v2 and v1 spell the limits differently.
    let script = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; \
                  cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us); \
                  touch /bin/x 2>/dev/null && echo image-writable || echo image-read-only; \
                  touch /tmp/x && echo tmp-writable";
    let r = case.run(&["sh", "-c", script]).await;
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
    case.assert_none_left().await;
}

#[tokio::test]
async fn timeout_stops_and_removes_the_container() {
    let Some(case) = Case::new("timeout_stops_and_removes") else {
        return;
    };
    let mut step = Step::new(case.root());
    step.timeout = Some(Duration::from_millis(800));
    let started = Instant::now();
    let r = step
        .run_on(
            case.docker.as_ref(),
            &command(&["sleep", "60"], case.root()),
            None,
        )
        .await
        .expect("runs");
    assert_eq!((r.out.exit, r.out.exit_code), (ExitKind::TimedOut, None));
    assert!(started.elapsed() < Duration::from_secs(20));
    case.assert_none_left().await;
}

#[tokio::test]
async fn cancel_stops_a_running_container_and_removes_it() {
    let Some(case) = Case::new("cancel_stops_a_running_container") else {
        return;
    };
    let step = Step::new(case.root());
    let (watch, mut seen) =
        tokio::sync::mpsc::unbounded_channel::<skynet_core::provider::OutputLine>();
    let cmd = command(&["sh", "-c", "echo started; sleep 60"], case.root());
    let cancel = step.cancel.clone();
    let canceller = async {
        while let Some(line) = seen.recv().await {
            if line.text == "started" {
                // The counter sees the live container: the zero below means something.
                assert_eq!(containers_with(&case.tag).await, 1);
                cancel.cancel();
                return;
            }
        }
    };
    let (r, ()) = tokio::join!(
        step.run_on(case.docker.as_ref(), &cmd, Some(watch)),
        canceller
    );
    let r = r.expect("runs");
    assert_eq!(r.out.exit, ExitKind::Cancelled, "{}", r.all());
    assert_eq!(r.texts(Stream::Stdout), ["started"]);
    case.assert_none_left().await;
}

#[tokio::test]
async fn missing_program_fails_the_step_like_a_shell() {
    let Some(case) = Case::new("missing_program_fails_the_step") else {
        return;
    };
    let r = Step::new(case.root())
        .run_on(
            case.docker.as_ref(),
            &command(&["no-such-program-skynet"], case.root()),
            None,
        )
        .await
        .expect("a failed step, not a provider error");
    assert_eq!((r.out.exit, r.out.exit_code), (ExitKind::Exited, Some(127)));
    assert!(r.texts(Stream::Stderr)[0].contains("no-such-program-skynet"));
    case.assert_none_left().await;
}

#[tokio::test]
async fn stdin_reaches_the_step_and_output_is_capped() {
    let Some(case) = Case::new("stdin_reaches_the_step") else {
        return;
    };
    let mut cmd = command(&["cat"], case.root());
    cmd.stdin = Some("line one\nline two\n".into());
    let mut step = Step::new(case.root());
    let r = step
        .run_on(case.docker.as_ref(), &cmd, None)
        .await
        .expect("runs");
    assert!(r.out.success(), "{}", r.all());
    assert_eq!(r.texts(Stream::Stdout), ["line one", "line two"]);

    step.cap = 100;
    let r = step
        .run_on(
            case.docker.as_ref(),
            &command(&["sh", "-c", "yes 0123456789 | head -n 1000"], case.root()),
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
    case.assert_none_left().await;
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
    let Some(case) = Case::new("a_missing_image_is_a_provider_error") else {
        return;
    };
    let mut config = case.docker.config().clone();
    config.image = format!("{}-missing", config.image);
    let err = Step::new(case.root())
        .run_on(
            &DockerProvider::new(config),
            &command(&["true"], case.root()),
            None,
        )
        .await
        .expect_err("no image, no step");
    assert!(err.to_string().contains("SKYNET_DOCKER_IMAGE"), "{err}");
    case.assert_none_left().await;
}

#[tokio::test]
async fn a_job_runs_end_to_end_on_the_docker_provider() {
    let Some(case) = Case::new("a_job_runs_end_to_end_on_docker") else {
        return;
    };
    std::fs::write(case.root().join("notes.txt"), "in a container\n").expect("write");
    let (sk, job) = submit_read_notes(case.docker.clone(), case.root()).await;
    assert_eq!(job.provider, "docker");
    let logs = run_to_success(&sk, &job.id).await;
    assert!(logs.iter().any(|l| l.text == "in a container"), "{logs:?}");
    case.assert_none_left().await;
}

#[tokio::test]
async fn a_dropped_step_still_removes_its_container() {
    let Some(case) = Case::new("a_dropped_step_still_removes_its_container") else {
        return;
    };
    let step = Step::new(case.root());
    let cmd = command(&["sleep", "60"], case.root());
    let docker = case.docker.clone();
    let running = tokio::spawn(async move { step.run_on(docker.as_ref(), &cmd, None).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    while containers_with(&case.tag).await == 0 {
        assert!(Instant::now() < deadline, "the container never appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The engine gives up on the step (its task is aborted): the guard
    // removes the container from a spawned task.
    running.abort();
    assert!(running.await.expect_err("aborted").is_cancelled());
    case.assert_none_left().await;
}

/// A configuration problem (the image missing, no daemon at the configured
/// socket) fails the same way on every try: a READ_ONLY job fails at once
/// with what to do, instead of being queued again for a retry.
#[tokio::test]
async fn a_misconfigured_docker_fails_a_read_only_job_at_once() {
    use skynet_core::{FailureKind, JobStatus};
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
        let (sk, job) = submit_read_notes(Arc::new(DockerProvider::new(config)), root.path()).await;
        work_once(&sk).await;
        let done = sk.get(&job.id).await.expect("job");
        assert_eq!(done.status, JobStatus::Failed, "not queued for a retry");
        assert_eq!(done.attempts, 1);
        let failure = done.failure().expect("structured failure");
        assert_eq!(failure.kind, FailureKind::Provider);
        assert!(failure.message.contains(says), "{}", failure.message);
    }
}
