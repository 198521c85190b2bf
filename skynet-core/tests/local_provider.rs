//! LocalProvider against real processes.
#![allow(clippy::unwrap_used)]

use skynet_core::job::JobId;
use skynet_core::plan::Command;
use skynet_core::provider::{
    ExecContext, ExitKind, LocalProvider, Output, OutputLine, Provider, Stream,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Run {
    out: Output,
    lines: Vec<OutputLine>,
}

impl Run {
    fn texts(&self, stream: Stream) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l.stream == stream)
            .map(|l| l.text.as_str())
            .collect()
    }
}

fn command(argv: &[&str], cwd: &Path) -> Command {
    Command::piped(vec![argv.iter().map(|s| s.to_string()).collect()], cwd)
}

fn context(root: &Path, cap: u64) -> (ExecContext, mpsc::Receiver<OutputLine>) {
    let (tx, rx) = mpsc::channel(256);
    let ctx = ExecContext {
        job_id: JobId::new(),
        step: 0,
        root: root.to_path_buf(),
        timeout: None,
        cancel: CancellationToken::new(),
        output: tx,
        max_output_bytes: cap,
        risk: skynet_core::RiskLevel::ReadOnly,
        action: None,
    };
    (ctx, rx)
}

/// Run `cmd` while collecting its output concurrently (the channel is
/// bounded, as in the engine).
async fn run_with(cmd: Command, ctx: ExecContext, mut rx: mpsc::Receiver<OutputLine>) -> Run {
    let collect = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(l) = rx.recv().await {
            lines.push(l);
        }
        lines
    });
    let out = LocalProvider::new().execute(&cmd, ctx).await.unwrap();
    let lines = collect.await.unwrap();
    Run { out, lines }
}

async fn run(argv: &[&str]) -> Run {
    let root = tempfile::tempdir().unwrap();
    let (ctx, rx) = context(root.path(), 1 << 20);
    run_with(command(argv, root.path()), ctx, rx).await
}

/// Assert the group empties (is gone, or holds only zombies) within a deadline.
async fn assert_group_gone(pgid: i32) {
    use nix::sys::signal::killpg;
    use nix::unistd::Pid;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let gone = killpg(Pid::from_raw(pgid), None) == Err(nix::errno::Errno::ESRCH);
        let live = skynet_core::provider::local::live_members(pgid);
        if gone || live.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process group {pgid} still has live members: {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn echo_prints_one_line_and_exits_zero() {
    let r = run(&["echo", "hello"]).await;
    assert!(r.out.success(), "{:?}", r.out);
    assert_eq!(
        r.lines,
        [OutputLine {
            stream: Stream::Stdout,
            text: "hello".into()
        }]
    );
    assert_eq!(r.out.output_bytes, 6);
    assert!(!r.out.truncated);
}

#[tokio::test]
async fn false_exits_one() {
    let r = run(&["false"]).await;
    assert_eq!((r.out.exit, r.out.exit_code), (ExitKind::Exited, Some(1)));
}

#[tokio::test]
async fn stderr_is_captured_as_stderr_lines() {
    let r = run(&["sh", "-c", "echo out; echo err1 >&2; echo err2 >&2"]).await;
    assert!(r.out.success());
    assert_eq!(r.texts(Stream::Stdout), ["out"]);
    assert_eq!(r.texts(Stream::Stderr), ["err1", "err2"]);
}

#[tokio::test]
async fn final_line_without_newline_is_kept() {
    let r = run(&["printf", "a\\nb"]).await;
    assert_eq!(r.texts(Stream::Stdout), ["a", "b"]);
    assert_eq!(r.out.output_bytes, 3);
}

#[tokio::test]
async fn killed_by_a_signal_is_signaled() {
    let r = run(&["sh", "-c", "kill -9 $$"]).await;
    assert_eq!((r.out.exit, r.out.exit_code), (ExitKind::Signaled, None));
}

#[tokio::test]
async fn stdin_reaches_cat() {
    let root = tempfile::tempdir().unwrap();
    let (ctx, rx) = context(root.path(), 1 << 20);
    let mut cmd = command(&["cat"], root.path());
    cmd.stdin = Some("line one\nline two\n".into());
    let r = run_with(cmd, ctx, rx).await;
    assert!(r.out.success());
    assert_eq!(r.texts(Stream::Stdout), ["line one", "line two"]);
}

#[tokio::test]
async fn large_stdin_and_output_do_not_deadlock() {
    // 1 MiB through `cat`: stdin must be written while stdout is read.
    let root = tempfile::tempdir().unwrap();
    let (ctx, rx) = context(root.path(), 8 << 20);
    let mut cmd = command(&["cat"], root.path());
    let line = "x".repeat(1023) + "\n";
    cmd.stdin = Some(line.repeat(1024));
    let r = run_with(cmd, ctx, rx).await;
    assert!(r.out.success());
    assert_eq!(r.out.output_bytes, 1 << 20);
    assert_eq!(r.texts(Stream::Stdout).len(), 1024);
}

#[tokio::test]
async fn no_stdin_means_end_of_input() {
    // With stdin from /dev/null, `cat` ends at once instead of waiting.
    let r = run(&["cat"]).await;
    assert!(r.out.success());
    assert!(r.lines.is_empty());
}

#[tokio::test]
async fn tee_writes_stdin_to_a_file() {
    let root = tempfile::tempdir().unwrap();
    let (ctx, rx) = context(root.path(), 1 << 20);
    let mut cmd = command(&["tee", "--", "notes.txt"], root.path());
    cmd.stdin = Some("remember this\n".into());
    let r = run_with(cmd, ctx, rx).await;
    assert!(r.out.success());
    assert_eq!(
        std::fs::read_to_string(root.path().join("notes.txt")).unwrap(),
        "remember this\n"
    );
}

#[tokio::test]
async fn non_utf8_output_is_lossy_text_not_a_failure() {
    let r = run(&["printf", "\\377\\376abc\\n"]).await;
    assert!(r.out.success());
    assert_eq!(r.texts(Stream::Stdout), ["\u{fffd}\u{fffd}abc"]);
    assert_eq!(r.out.output_bytes, 6);
}

#[tokio::test]
async fn output_past_the_cap_is_dropped_with_one_marker() {
    let root = tempfile::tempdir().unwrap();
    let cap: u64 = 1 << 20;
    let (ctx, rx) = context(root.path(), cap);
    // 3 MiB of 1 KiB lines.
    let script = "i=0; line=$(printf '%01023d' 0); while [ $i -lt 3072 ]; do echo \"$line\"; i=$((i+1)); done";
    let r = run_with(command(&["sh", "-c", script], root.path()), ctx, rx).await;
    assert!(r.out.success(), "{:?}", r.out);
    assert!(r.out.truncated);
    assert_eq!(r.out.output_bytes, 3 << 20);
    let forwarded: u64 = r
        .lines
        .iter()
        .filter(|l| l.stream != Stream::System)
        .map(|l| l.text.len() as u64 + 1)
        .sum();
    assert!(forwarded <= cap, "forwarded {forwarded} > cap {cap}");
    assert!(forwarded >= cap - 1024, "forwarded only {forwarded}");
    let markers = r.texts(Stream::System);
    assert_eq!(
        markers,
        [format!(
            "[output truncated after {cap} bytes; {} more bytes dropped]",
            (3 << 20) - cap
        )]
    );
    assert_eq!(r.lines.last().unwrap().stream, Stream::System);
}

#[tokio::test]
async fn an_endless_line_is_split_not_buffered() {
    // 300 KiB without a newline arrives as 64 KiB pieces.
    let r = run(&["sh", "-c", "head -c 307200 /dev/zero | tr '\\0' x"]).await;
    assert!(r.out.success());
    let lens: Vec<usize> = r.lines.iter().map(|l| l.text.len()).collect();
    assert_eq!(lens, [65536, 65536, 65536, 65536, 45056]);
}

/// Start `sh -c script` (which must print `$$` first), return its pgid and
/// the run's result once it ends.
async fn run_group_script(
    script: &str,
    timeout: Option<Duration>,
    cancel_after_first_line: bool,
) -> (i32, Output, Duration) {
    let root = tempfile::tempdir().unwrap();
    let (mut ctx, mut rx) = context(root.path(), 1 << 20);
    ctx.timeout = timeout;
    let cancel = ctx.cancel.clone();
    let cmd = command(&["sh", "-c", script], root.path());
    let started = Instant::now();
    let exec = tokio::spawn(async move { LocalProvider::new().execute(&cmd, ctx).await });
    let first = rx.recv().await.expect("the script prints its pid first");
    let pgid: i32 = first.text.trim().parse().unwrap();
    if cancel_after_first_line {
        cancel.cancel();
    }
    while rx.recv().await.is_some() {}
    let out = exec.await.unwrap().unwrap();
    (pgid, out, started.elapsed())
}

#[tokio::test]
async fn timeout_kills_the_whole_group() {
    let (pgid, out, took) = run_group_script(
        "echo $$; sleep 1000 & sleep 1000",
        Some(Duration::from_secs(1)),
        false,
    )
    .await;
    assert_eq!((out.exit, out.exit_code), (ExitKind::TimedOut, None));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(out.duration_ms >= 1000, "{out:?}");
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn timeout_kills_processes_that_ignore_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let (mut ctx, mut rx) = context(root.path(), 1 << 20);
    ctx.timeout = Some(Duration::from_millis(300));
    let cmd = command(
        &["sh", "-c", "trap '' TERM; echo $$; sleep 1000 & sleep 1000"],
        root.path(),
    );
    let provider = LocalProvider::new().with_kill_grace(Duration::from_millis(200));
    let exec = tokio::spawn(async move { provider.execute(&cmd, ctx).await });
    let pgid: i32 = rx.recv().await.unwrap().text.parse().unwrap();
    while rx.recv().await.is_some() {}
    let out = exec.await.unwrap().unwrap();
    assert_eq!(out.exit, ExitKind::TimedOut);
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn cancel_kills_the_whole_group() {
    let (pgid, out, took) = run_group_script("echo $$; sleep 1000 & sleep 1000", None, true).await;
    assert_eq!((out.exit, out.exit_code), (ExitKind::Cancelled, None));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn background_grandchild_holding_stdout_does_not_hang_the_step() {
    let (pgid, out, took) = run_group_script(
        "echo $$; sleep 1000 & echo done",
        Some(Duration::from_secs(60)),
        false,
    )
    .await;
    assert!(out.success(), "{out:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_group_gone(pgid).await;
}

#[tokio::test]
async fn silent_background_processes_are_killed_when_the_step_ends() {
    let (pgid, out, _) = run_group_script(
        "echo $$; sleep 1000 >/dev/null 2>&1 & echo started",
        None,
        false,
    )
    .await;
    assert!(out.success(), "{out:?}");
    assert_group_gone(pgid).await;
}

const SECRET_VAR: &str = "SKYNET_TEST_SECRET_TOKEN";

/// `std::env::set_var` needs `unsafe` (forbidden here), so the test runs
/// its check in a child copy of this test binary that has the variable.
#[test]
fn environment_is_cleared_except_the_allowlist() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "env_check_in_child", "--nocapture"])
        .env(SECRET_VAR, "hunter2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
#[ignore = "run by environment_is_cleared_except_the_allowlist in a child process"]
async fn env_check_in_child() {
    assert_eq!(std::env::var(SECRET_VAR).as_deref(), Ok("hunter2"));
    let root = tempfile::tempdir().unwrap();
    let env_of = |provider: LocalProvider| {
        let root = root.path().to_path_buf();
        async move {
            let (ctx, mut rx) = context(&root, 1 << 20);
            let mut cmd = command(&["env"], &root);
            cmd.env.insert("STEP_VAR".into(), "from-the-step".into());
            let out = provider.execute(&cmd, ctx).await.unwrap();
            assert!(out.success());
            let mut lines = Vec::new();
            while let Ok(l) = rx.try_recv() {
                lines.push(l.text);
            }
            lines
        }
    };
    let env = env_of(LocalProvider::new()).await;
    assert!(!env.iter().any(|l| l.starts_with(SECRET_VAR)), "{env:?}");
    assert!(env.iter().any(|l| l.starts_with("PATH=")), "{env:?}");
    assert!(env.iter().any(|l| l == "STEP_VAR=from-the-step"), "{env:?}");

    // The allowlist is what decides: listing the variable passes it on.
    let env = env_of(LocalProvider::new().with_env_allowlist(vec![SECRET_VAR.into()])).await;
    assert!(
        env.iter().any(|l| l == "SKYNET_TEST_SECRET_TOKEN=hunter2"),
        "{env:?}"
    );
    assert!(
        env.iter()
            .any(|l| l == &format!("PATH={}", skynet_core::provider::local::DEFAULT_PATH)),
        "without PATH in the allowlist the default PATH is used: {env:?}"
    );
}

#[tokio::test]
async fn cwd_outside_the_root_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let (ctx, _rx) = context(root.path(), 1 << 20);
    let err = LocalProvider::new()
        .execute(&command(&["pwd"], outside.path()), ctx)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("escapes the sandbox root"),
        "{err}"
    );

    // `..` and symlinks are resolved before the check.
    std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
    for cwd in [root.path().join(".."), root.path().join("link")] {
        let (ctx, _rx) = context(root.path(), 1 << 20);
        let err = LocalProvider::new()
            .execute(&command(&["pwd"], &cwd), ctx)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("escapes the sandbox root"),
            "{cwd:?}: {err}"
        );
    }
}

#[tokio::test]
async fn cwd_inside_the_root_is_used() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    let (ctx, rx) = context(root.path(), 1 << 20);
    let r = run_with(command(&["pwd"], &root.path().join("sub")), ctx, rx).await;
    assert!(r.out.success());
    let expected: PathBuf = root.path().join("sub").canonicalize().unwrap();
    assert_eq!(r.texts(Stream::Stdout), [expected.to_str().unwrap()]);
}

#[tokio::test]
async fn missing_program_exits_127_with_a_message() {
    let r = run(&["skynet-no-such-program", "arg"]).await;
    assert_eq!((r.out.exit, r.out.exit_code), (ExitKind::Exited, Some(127)));
    assert_eq!(
        r.texts(Stream::Stderr),
        ["skynet: cannot run `skynet-no-such-program`: No such file or directory"]
    );
    let r = run(&["/nonexistent/prog"]).await;
    assert_eq!(r.out.exit_code, Some(127));
}

#[tokio::test]
async fn non_executable_program_exits_126() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("script.sh"), "echo hi\n").unwrap();
    let (ctx, rx) = context(root.path(), 1 << 20);
    let r = run_with(command(&["./script.sh"], root.path()), ctx, rx).await;
    assert_eq!(r.out.exit_code, Some(126), "{:?}", r.lines);
    assert_eq!(
        r.texts(Stream::Stderr),
        ["skynet: cannot run `./script.sh`: Permission denied"]
    );
}

#[tokio::test]
async fn argv_is_not_interpreted_by_a_shell() {
    let r = run(&["echo", "$HOME; rm -rf /", "*"]).await;
    assert_eq!(r.texts(Stream::Stdout), ["$HOME; rm -rf / *"]);
}

#[tokio::test]
async fn a_gone_receiver_does_not_fail_or_block_the_step() {
    let root = tempfile::tempdir().unwrap();
    let (ctx, rx) = context(root.path(), 1 << 20);
    drop(rx);
    let out = LocalProvider::new()
        .execute(&command(&["seq", "1", "100000"], root.path()), ctx)
        .await
        .unwrap();
    assert!(out.success());
    assert_eq!(out.output_bytes, 588895);
}

#[tokio::test]
async fn already_cancelled_step_does_not_start() {
    let root = tempfile::tempdir().unwrap();
    let (ctx, _rx) = context(root.path(), 1 << 20);
    ctx.cancel.cancel();
    let out = LocalProvider::new()
        .execute(&command(&["touch", "should-not-exist"], root.path()), ctx)
        .await
        .unwrap();
    assert_eq!(out.exit, ExitKind::Cancelled);
    assert!(!root.path().join("should-not-exist").exists());
}

#[tokio::test]
async fn health_and_capabilities() {
    let p = LocalProvider::new();
    assert_eq!(p.name(), "local");
    assert!(p.health().await.healthy);
    let caps = p.capabilities();
    assert!(!caps.isolated);
    assert!(caps.actions.is_empty());
    assert!(caps.max_concurrency >= 4);
}

#[tokio::test]
async fn a_repository_cannot_make_git_status_run_its_fsmonitor() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    let canary = root.join("fsmonitor-ran");
    git(&[
        "config",
        "core.fsmonitor",
        &format!("touch {}", canary.display()),
    ]);
    let cmd = Command {
        argv: vec!["git".into(), "status".into()],
        cwd: root.clone(),
        env: Default::default(),
        timeout_ms: Some(10_000),
        stdin: None,
        pipe: Vec::new(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let ctx = skynet_core::ExecContext {
        job_id: skynet_core::JobId::new(),
        step: 0,
        root: root.clone(),
        timeout: Some(Duration::from_secs(10)),
        cancel: tokio_util::sync::CancellationToken::new(),
        output: tx,
        max_output_bytes: 1 << 20,
        risk: skynet_core::RiskLevel::ReadOnly,
        action: None,
    };
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let out = LocalProvider::new().execute(&cmd, ctx).await.unwrap();
    drain.await.unwrap();
    // Refused outright (exit 126, like a program that cannot run): the
    // environment's override alone would not survive `env -u`.
    assert_eq!(out.exit_code, Some(126), "{out:?}");
    assert!(!canary.exists(), "the repository's fsmonitor command ran");
}
