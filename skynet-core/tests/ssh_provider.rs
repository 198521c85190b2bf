//! The SSH provider against a real OpenSSH sshd on a loopback port
//! (started by `scripts/services.d/40-sshd.sh` with keys it generates;
//! `SKYNET_TEST_SSH_*` say where). The server runs on this machine, so
//! the tests can also look at the remote processes through `/proc`.

mod provider_support;

use provider_support::{Step, alive, command, run_to_success, service_var, settles};
use skynet_core::Error;
use skynet_core::provider::ssh::HostKeyProblem;
use skynet_core::provider::{ExitKind, Provider, SshConfig, SshProvider, Stream};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

fn config(test: &str) -> Option<SshConfig> {
    let host = service_var(test, "SKYNET_TEST_SSH_HOST")?;
    let port = service_var(test, "SKYNET_TEST_SSH_PORT")?;
    let user = service_var(test, "SKYNET_TEST_SSH_USER")?;
    let key = service_var(test, "SKYNET_TEST_SSH_KEY")?;
    let known_hosts = service_var(test, "SKYNET_TEST_SSH_KNOWN_HOSTS")?;
    let mut config = SshConfig::new(host, user, key, known_hosts);
    config.port = port.parse().expect("numeric port");
    config.kill_grace = Duration::from_secs(1);
    Some(config)
}

/// A provider whose remote root is a fresh local directory (the server is
/// this machine), so the tests can look at what the steps did.
fn provider(test: &str) -> Option<(SshProvider, tempfile::TempDir)> {
    let mut config = config(test)?;
    let remote = tempfile::tempdir().expect("remote root");
    config.remote_root = remote.path().to_str().expect("utf-8").to_string();
    Some((SshProvider::new(config), remote))
}

/// A local sandbox root (its path only maps the cwd; nothing is read there).
fn local_root() -> PathBuf {
    PathBuf::from("/skynet-jobs/job-1")
}

async fn assert_dies(pid: i32) {
    settles(Duration::from_secs(10), || {
        alive(pid).then(|| format!("remote process {pid} survived"))
    })
    .await;
}

#[tokio::test]
async fn runs_in_the_remote_workdir_with_both_streams_and_the_exit_code() {
    let Some((ssh, remote)) = provider("runs_in_the_remote_workdir") else {
        return;
    };
    std::fs::create_dir(remote.path().join("sub")).expect("mkdir");
    let root = local_root();
    let step = Step::new(&root);
    let cmd = command(
        &[
            "sh",
            "-c",
            "pwd; echo oops >&2; echo made > out.txt; exit 7",
        ],
        &root.join("sub"),
    );
    let r = step.run_on(&ssh, &cmd, None).await.expect("runs");
    assert_eq!(
        (r.out.exit, r.out.exit_code),
        (ExitKind::Exited, Some(7)),
        "{}",
        r.all()
    );
    let sub = remote.path().join("sub");
    assert_eq!(r.texts(Stream::Stdout), [sub.to_str().expect("utf-8")]);
    assert_eq!(r.texts(Stream::Stderr), ["oops"]);
    assert_eq!(
        std::fs::read_to_string(sub.join("out.txt")).expect("written"),
        "made\n"
    );
}

#[tokio::test]
async fn hostile_words_reach_the_remote_program_verbatim() {
    let Some((ssh, _remote)) = provider("hostile_words_reach_the_remote_program") else {
        return;
    };
    let words = [
        "",
        " ",
        "a b",
        "$(id)",
        "`id`",
        "$HOME",
        "'",
        "\"",
        "\\",
        "it's",
        ";echo pwned",
        "&& echo pwned",
        "| cat",
        "> /tmp/skynet-ssh-redirect",
        "*",
        "{a,b}",
        "~",
        "!!",
        "#x",
        "line\nbreak",
        "tab\there",
        "é 中文",
    ];
    let mut argv = vec!["printf", "[%s]\\n"];
    argv.extend(words);
    let root = local_root();
    let mut cmd = command(&argv, &root);
    cmd.env.insert("SKYNET_V".into(), "$(id) 'x'".into());
    let r = Step::new(&root)
        .run_on(&ssh, &cmd, None)
        .await
        .expect("runs");
    assert!(r.out.success(), "{}", r.all());
    let expected: Vec<String> = words.iter().map(|w| format!("[{w}]")).collect();
    // "line\nbreak" arrives as two lines; joined back, everything must match.
    assert_eq!(r.texts(Stream::Stdout).join("\n"), expected.join("\n"));
    assert!(!Path::new("/tmp/skynet-ssh-redirect").exists());

    let env = command(&["printenv", "SKYNET_V"], &root);
    let mut env = env;
    env.env.insert("SKYNET_V".into(), "$(id) 'x'".into());
    let r = Step::new(&root)
        .run_on(&ssh, &env, None)
        .await
        .expect("runs");
    assert_eq!(r.texts(Stream::Stdout), ["$(id) 'x'"]);
}

#[tokio::test]
async fn steps_reuse_one_connection() {
    let Some((ssh, _remote)) = provider("steps_reuse_one_connection") else {
        return;
    };
    let root = local_root();
    let step = Step::new(&root);
    // Each session's shell is a child of the connection's sshd process.
    let cmd = command(&["sh", "-c", "cut -d' ' -f4 /proc/$$/stat"], &root);
    let mut parents = Vec::new();
    for _ in 0..3 {
        let r = step.run_on(&ssh, &cmd, None).await.expect("runs");
        assert!(r.out.success(), "{}", r.all());
        parents.push(r.texts(Stream::Stdout).join(""));
    }
    assert!(!parents[0].is_empty());
    assert!(parents.iter().all(|p| *p == parents[0]), "{parents:?}");
}

#[tokio::test]
async fn stdin_and_the_output_cap_work_remotely() {
    let Some((ssh, _remote)) = provider("stdin_and_the_output_cap") else {
        return;
    };
    let root = local_root();
    let mut cmd = command(&["cat"], &root);
    cmd.stdin = Some("one\ntwo\n".into());
    let mut step = Step::new(&root);
    let r = step.run_on(&ssh, &cmd, None).await.expect("runs");
    assert_eq!(r.texts(Stream::Stdout), ["one", "two"]);
    step.cap = 100;
    let big = command(&["sh", "-c", "yes 0123456789 | head -n 1000"], &root);
    let r = step.run_on(&ssh, &big, None).await.expect("runs");
    assert!(r.out.success(), "{}", r.all());
    assert!(r.out.truncated);
    assert_eq!(r.out.output_bytes, 11_000);
}

#[tokio::test]
async fn cancel_kills_the_whole_remote_process_group() {
    let Some((ssh, _remote)) = provider("cancel_kills_the_whole_remote_process_group") else {
        return;
    };
    let root = local_root();
    let step = Step::new(&root);
    // A grandchild in the background that ignores SIGTERM, and the step itself.
    let cmd = command(
        &[
            "sh",
            "-c",
            "sh -c 'trap \"\" TERM; sleep 300' & echo bg=$!; sleep 300",
        ],
        &root,
    );
    let (watch, mut seen) =
        tokio::sync::mpsc::unbounded_channel::<skynet_core::provider::OutputLine>();
    let cancel = step.cancel.clone();
    let canceller = async {
        while let Some(line) = seen.recv().await {
            if let Some(pid) = line.text.strip_prefix("bg=") {
                let pid: i32 = pid.parse().expect("pid");
                assert!(alive(pid));
                cancel.cancel();
                return pid;
            }
        }
        panic!("the step never printed its background pid");
    };
    let started = Instant::now();
    let (r, bg) = tokio::join!(step.run_on(&ssh, &cmd, Some(watch)), canceller);
    let r = r.expect("runs");
    assert_eq!(r.out.exit, ExitKind::Cancelled, "{}", r.all());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_dies(bg).await;
}

#[tokio::test]
async fn timeout_ends_the_step_and_its_group() {
    let Some((ssh, _remote)) = provider("timeout_ends_the_step") else {
        return;
    };
    let root = local_root();
    let mut step = Step::new(&root);
    step.timeout = Some(Duration::from_millis(700));
    let cmd = command(&["sh", "-c", "echo pid=$$; sleep 300"], &root);
    let r = step.run_on(&ssh, &cmd, None).await.expect("runs");
    assert_eq!((r.out.exit, r.out.exit_code), (ExitKind::TimedOut, None));
    let pid: i32 = r.texts(Stream::Stdout)[0]
        .strip_prefix("pid=")
        .expect("pid line")
        .parse()
        .expect("pid");
    assert_dies(pid).await;
    // The connection is still good for the next step.
    step.timeout = Some(Duration::from_secs(30));
    let r = step
        .run_on(&ssh, &command(&["true"], &root), None)
        .await
        .expect("runs");
    assert!(r.out.success());
}

#[tokio::test]
async fn a_missing_remote_workdir_or_program_fails_the_step() {
    let Some((ssh, _remote)) = provider("a_missing_remote_workdir_or_program") else {
        return;
    };
    let root = local_root();
    let step = Step::new(&root);
    let r = step
        .run_on(&ssh, &command(&["true"], &root.join("nope")), None)
        .await
        .expect("a failed step");
    assert_eq!(r.out.exit_code, Some(125));
    assert!(
        r.texts(Stream::Stderr)[0].contains("remote working directory"),
        "{}",
        r.all()
    );
    let r = step
        .run_on(&ssh, &command(&["no-such-program-skynet"], &root), None)
        .await
        .expect("a failed step");
    assert_eq!(r.out.exit_code, Some(127), "{}", r.all());
}

#[tokio::test]
async fn unknown_and_changed_host_keys_are_refused_with_typed_errors() {
    let Some(good) = config("unknown_and_changed_host_keys") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let root = local_root();
    let step = Step::new(&root);

    // Unknown: the file names only some other host.
    let unknown = dir.path().join("known_hosts_unknown");
    let recorded = std::fs::read_to_string(&good.known_hosts).expect("known_hosts");
    let key = recorded.split_once(' ').expect("host and key").1;
    std::fs::write(&unknown, format!("[other.example]:{} {key}", good.port)).expect("write");
    let mut config = good.clone();
    config.known_hosts = unknown;
    let err = step
        .run_on(&SshProvider::new(config), &command(&["true"], &root), None)
        .await
        .expect_err("unknown host");
    match err {
        Error::HostKeyRejected {
            problem: HostKeyProblem::Unknown { fingerprint, .. },
            ..
        } => assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}"),
        other => panic!("expected an unknown host key, got {other}"),
    }

    // Changed: the host's entry holds another ed25519 key (the client's).
    let changed = dir.path().join("known_hosts_changed");
    let client_pub =
        std::fs::read_to_string(format!("{}.pub", good.keys[0].display())).expect("client pub key");
    let host = recorded.split_once(' ').expect("host").0;
    std::fs::write(&changed, format!("{host} {client_pub}")).expect("write");
    let mut config = good.clone();
    config.known_hosts = changed;
    let ssh = SshProvider::new(config);
    let err = step
        .run_on(&ssh, &command(&["true"], &root), None)
        .await
        .expect_err("changed key");
    assert!(
        matches!(
            &err,
            Error::HostKeyRejected {
                problem: HostKeyProblem::Changed { line: 1, .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("CHANGED"), "{err}");
    let health = ssh.health().await;
    assert!(!health.healthy);
    assert!(health.message.contains("CHANGED"), "{}", health.message);

    // A missing file is a configuration error, not an accept.
    let mut config = good;
    config.known_hosts = dir.path().join("absent");
    let err = step
        .run_on(&SshProvider::new(config), &command(&["true"], &root), None)
        .await
        .expect_err("no known_hosts");
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test]
async fn health_is_a_handshake_and_true() {
    let Some((ssh, _remote)) = provider("health_is_a_handshake_and_true") else {
        return;
    };
    let health = ssh.health().await;
    assert!(health.healthy, "{}", health.message);
    let mut config = ssh.config().clone();
    config.port = 1; // nothing listens there
    let health = SshProvider::new(config).health().await;
    assert!(!health.healthy);
    assert!(
        health.message.contains("cannot connect"),
        "{}",
        health.message
    );
}

#[tokio::test]
async fn a_job_runs_end_to_end_on_the_ssh_provider() {
    use skynet_core::{Skynet, SubmitRequest};
    use std::sync::Arc;
    let Some(mut config) = config("a_job_runs_end_to_end_on_ssh") else {
        return;
    };
    let remote = tempfile::tempdir().expect("remote root");
    config.remote_root = remote.path().to_str().expect("utf-8").to_string();
    std::fs::write(remote.path().join("notes.txt"), "on the remote side\n").expect("write");
    // The local root only anchors paths; the policy resolves them there.
    let local = tempfile::tempdir().expect("local root");
    let intent = "read notes.txt, then list the files";
    let engine = |config: SshConfig| async move {
        Skynet::builder()
            .provider(Arc::new(SshProvider::new(config)))
            .default_provider("ssh")
            .build()
            .await
            .expect("engine")
    };
    // SKYNET cannot confine a remote account: READ_ONLY work there waits
    // for a human until the operator vouches for the account.
    let unvouched = engine(config.clone()).await;
    let job = unvouched
        .submit(SubmitRequest::new(intent).root(local.path()))
        .await
        .expect("submitted");
    assert_eq!(job.status, skynet_core::JobStatus::Planned, "{job:?}");
    config.confined = true;
    let sk = engine(config).await;
    let job = sk
        .submit(SubmitRequest::new(intent).root(local.path()))
        .await
        .expect("submitted");
    let logs = run_to_success(&sk, &job.id).await;
    assert!(
        logs.iter().any(|l| l.text == "on the remote side"),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.step == 1 && l.text.contains("notes.txt")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn a_dropped_connection_fails_the_step_clearly_and_the_next_step_reconnects() {
    let Some((ssh, _remote)) = provider("a_dropped_connection_fails_the_step") else {
        return;
    };
    let root = local_root();
    let step = Step::new(&root);
    // The remote shell's parent is the connection's sshd process.
    let cmd = command(
        &["sh", "-c", "echo pid=$$; echo conn=$PPID; sleep 300"],
        &root,
    );
    let (watch, mut seen) =
        tokio::sync::mpsc::unbounded_channel::<skynet_core::provider::OutputLine>();
    let mut group = 0;
    let cutter = async {
        while let Some(line) = seen.recv().await {
            if let Some(pid) = line.text.strip_prefix("pid=") {
                group = pid.parse().expect("pid");
            }
            if let Some(pid) = line.text.strip_prefix("conn=") {
                let pid: i32 = pid.parse().expect("pid");
                // That sshd process was started by the test's sshd for this
                // connection: killing it cuts the link mid-step.
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .expect("kill the connection's sshd");
                return;
            }
        }
    };
    let started = Instant::now();
    let (r, ()) = tokio::join!(step.run_on(&ssh, &cmd, Some(watch)), cutter);
    let err = r.expect_err("a lost connection is a provider error");
    assert!(err.to_string().contains("connection was lost"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let r = step
        .run_on(&ssh, &command(&["echo", "back"], &root), None)
        .await
        .expect("reconnects");
    assert_eq!(r.texts(Stream::Stdout), ["back"]);
    // The orphaned remote step is the test's own leftover: end it.
    assert!(group > 1);
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(group),
        nix::sys::signal::Signal::SIGKILL,
    );
}
