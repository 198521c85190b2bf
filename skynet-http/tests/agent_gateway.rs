//! The gateway provider against a real `skynet agent` router on loopback:
//! real processes, real sockets, plain HTTP and TLS.

#![allow(clippy::unwrap_used)]

use skynet_core::JobId;
use skynet_core::llm::ApiKey;
use skynet_core::plan::Command;
use skynet_core::provider::gateway::agent::{AgentJobs, AgentLimits};
use skynet_core::provider::{
    ExecContext, ExitKind, GatewayConfig, GatewayProvider, LocalProvider, Output, OutputLine,
    Provider, Stream,
};
use skynet_core::{Error, RiskLevel};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "agent-test-token-0123456789";

struct Agent {
    addr: SocketAddr,
    stop: CancellationToken,
    _root: tempfile::TempDir,
    root: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn agent() -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let jobs = AgentJobs::new(
        &root,
        LocalProvider::new().with_kill_grace(Duration::from_millis(300)),
        AgentLimits::default(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let app = skynet_http::agent::router(jobs, TOKEN);
    tokio::spawn(skynet_http::agent::serve(
        listener,
        app,
        stop.clone().cancelled_owned(),
    ));
    Agent {
        addr,
        stop,
        _root: dir,
        root,
    }
}

fn provider(url: String, token: &str) -> GatewayProvider {
    let mut config = GatewayConfig::new(url, ApiKey::new(token));
    config.request_timeout = Duration::from_secs(2);
    config.poll_wait = Duration::from_millis(500);
    config.unreachable_grace = Duration::from_secs(3);
    GatewayProvider::new(config).unwrap()
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The local side's view: its own sandbox root, which the agent maps to
/// its root.
fn command(args: &[&str], cwd: &Path) -> Command {
    Command {
        argv: argv(args),
        cwd: cwd.to_path_buf(),
        env: Default::default(),
        timeout_ms: None,
        stdin: None,
        pipe: Vec::new(),
    }
}

struct Run {
    result: skynet_core::Result<Output>,
    lines: Vec<OutputLine>,
}

async fn run(
    p: &GatewayProvider,
    cmd: &Command,
    timeout: Option<Duration>,
    cancel: CancellationToken,
) -> Run {
    let (tx, mut rx) = mpsc::channel(1024);
    let ctx = ExecContext {
        job_id: JobId::new(),
        step: 0,
        root: PathBuf::from("/local/root"),
        timeout,
        cancel,
        output: tx,
        max_output_bytes: 1 << 20,
        // The agent judges each step itself and refuses one riskier than
        // its label; these steps are shell scripts (WRITE), approved as such.
        risk: RiskLevel::Write,
        action: None,
    };
    let result = p.execute(cmd, ctx).await;
    let mut lines = Vec::new();
    while let Some(l) = rx.recv().await {
        lines.push(l);
    }
    Run { result, lines }
}

fn texts(lines: &[OutputLine], stream: Stream) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.clone())
        .collect()
}

#[tokio::test]
async fn steps_run_remotely_with_their_output_and_exit_codes() {
    let a = agent().await;
    std::fs::create_dir(a.root.join("sub")).unwrap();
    let p = provider(format!("http://{}", a.addr), TOKEN);
    assert!(p.health().await.healthy, "{:?}", p.health().await);

    let cmd = command(
        &["sh", "-c", "pwd; echo out2; echo err1 >&2; exit 3"],
        Path::new("/local/root/sub"),
    );
    let r = run(&p, &cmd, None, CancellationToken::new()).await;
    let out = r.result.unwrap();
    assert_eq!((out.exit, out.exit_code), (ExitKind::Exited, Some(3)));
    assert_eq!(
        texts(&r.lines, Stream::Stdout),
        [a.root.join("sub").display().to_string(), "out2".into()]
    );
    assert_eq!(texts(&r.lines, Stream::Stderr), ["err1"]);

    let mut cat = command(&["cat"], Path::new("/local/root"));
    cat.stdin = Some("from stdin\n".into());
    let r = run(&p, &cat, None, CancellationToken::new()).await;
    assert!(r.result.unwrap().success());
    assert_eq!(texts(&r.lines, Stream::Stdout), ["from stdin"]);

    let missing = command(&["no-such-program-xyz"], Path::new("/local/root"));
    let out = run(&p, &missing, None, CancellationToken::new())
        .await
        .result
        .unwrap();
    assert_eq!(out.exit_code, Some(127));
}

#[tokio::test]
async fn a_timeout_and_a_cancel_stop_the_remote_process_group() {
    let a = agent().await;
    let p = provider(format!("http://{}", a.addr), TOKEN);
    let sleeper = command(&["sleep", "30"], Path::new("/local/root"));
    let r = run(
        &p,
        &sleeper,
        Some(Duration::from_millis(300)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r.result.unwrap().exit, ExitKind::TimedOut);

    // A background child prints its pid; the cancel must kill it too.
    let cmd = command(
        &["sh", "-c", "sleep 60 & echo $!; wait"],
        Path::new("/local/root"),
    );
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(16);
    let ctx = ExecContext {
        job_id: JobId::new(),
        step: 1,
        root: PathBuf::from("/local/root"),
        timeout: None,
        cancel: cancel.clone(),
        output: tx,
        max_output_bytes: 1 << 20,
        // A backgrounding shell script: ADMIN by the agent's policy.
        risk: RiskLevel::Admin,
        action: None,
    };
    let p2 = provider(format!("http://{}", a.addr), TOKEN);
    let step = tokio::spawn(async move { p2.execute(&cmd, ctx).await });
    let first = tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("the remote step printed nothing")
        .unwrap();
    let pid: i32 = first.text.trim().parse().unwrap();
    assert!(alive(pid));
    cancel.cancel();
    let out = step.await.unwrap().unwrap();
    assert_eq!(out.exit, ExitKind::Cancelled);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive(pid) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(pid), "background child {pid} survived the cancel");
}

/// Running (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused() {
    let a = agent().await;
    let p = provider(format!("http://{}", a.addr), "not-the-token");
    let h = p.health().await;
    assert!(!h.healthy && h.message.contains("401"), "{h:?}");
    let r = run(
        &p,
        &command(&["true"], Path::new("/local/root")),
        None,
        CancellationToken::new(),
    )
    .await;
    let e = r.result.unwrap_err();
    assert!(
        matches!(&e, Error::Provider { message, .. } if message.contains("refused the token")),
        "{e}"
    );
    let http = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/health"),
        (reqwest::Method::POST, "/execute"),
        (reqwest::Method::GET, "/status/x"),
        (reqwest::Method::POST, "/cancel/x"),
    ] {
        let resp = http
            .request(method, format!("http://{}{path}", a.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
    }
}

#[tokio::test]
async fn a_cwd_outside_the_agents_root_is_refused_and_runs_nothing() {
    let a = agent().await;
    std::os::unix::fs::symlink("/tmp", a.root.join("out")).unwrap();
    let http = reqwest::Client::new();
    for cwd in ["../", "/etc", "out", "a/../../x"] {
        let resp = http
            .post(format!("http://{}/execute", a.addr))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({
                "job_id": "j1",
                "steps": [{ "argv": ["touch", "made"], "cwd": cwd, "risk": "WRITE" }],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{cwd}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("working directory"),
            "{body}"
        );
    }
    assert!(!a.root.join("made").exists() && !Path::new("/tmp/made").exists());
    // Through the provider: the symlink leads out, the agent says so.
    let p = provider(format!("http://{}", a.addr), TOKEN);
    let r = run(
        &p,
        &command(&["true"], Path::new("/local/root/out")),
        None,
        CancellationToken::new(),
    )
    .await;
    assert!(
        matches!(r.result, Err(Error::InvalidInput(ref m)) if m.contains("outside the agent's root")),
        "{:?}",
        r.result
    );
}

#[tokio::test]
async fn an_agent_restart_fails_the_running_step_clearly_and_the_next_one_works() {
    let a = agent().await;
    let p = provider(format!("http://{}", a.addr), TOKEN);
    let cmd = command(&["sleep", "30"], Path::new("/local/root"));
    let step = {
        let p = provider(format!("http://{}", a.addr), TOKEN);
        tokio::spawn(async move { run(&p, &cmd, None, CancellationToken::new()).await })
    };
    // Once the step runs, replace the agent with a fresh one on the same
    // address: it knows nothing of the running step.
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let h = agent_json(&http, &a, "/health").await;
        if h["running"] == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the step never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let addr = a.addr;
    drop(a);
    let b = loop {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let jobs =
            AgentJobs::new(dir.path(), LocalProvider::new(), AgentLimits::default()).unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(skynet_http::agent::serve(
            listener,
            skynet_http::agent::router(jobs, TOKEN),
            stop.clone().cancelled_owned(),
        ));
        break (dir, stop);
    };
    let r = step.await.unwrap();
    let e = r.result.unwrap_err();
    assert!(
        matches!(&e, Error::Provider { message, .. } if message.contains("outcome is unknown")),
        "{e}"
    );
    let again = run(
        &p,
        &command(&["echo", "back"], Path::new("/local/root")),
        None,
        CancellationToken::new(),
    )
    .await;
    assert!(again.result.unwrap().success());
    assert_eq!(texts(&again.lines, Stream::Stdout), ["back"]);
    b.1.cancel();
}

#[tokio::test]
async fn the_agent_serves_tls_to_a_client_that_trusts_its_ca() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let jobs = AgentJobs::new(root.path(), LocalProvider::new(), AgentLimits::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let tls = skynet_http::agent::tls_listener(listener, &cert_file, &key_file).unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(skynet_http::agent::serve_tls(
        tls,
        skynet_http::agent::router(jobs, TOKEN),
        stop.clone().cancelled_owned(),
    ));
    let url = format!("https://localhost:{port}");

    // Without the CA the client refuses the certificate.
    let untrusting = provider(url.clone(), TOKEN);
    let h = untrusting.health().await;
    assert!(!h.healthy && h.message.contains("unreachable"), "{h:?}");

    let mut config = GatewayConfig::new(url, ApiKey::new(TOKEN));
    config.ca_file = Some(cert_file);
    let p = GatewayProvider::new(config).unwrap();
    assert!(p.health().await.healthy);
    let r = run(
        &p,
        &command(&["echo", "over tls"], Path::new("/local/root")),
        None,
        CancellationToken::new(),
    )
    .await;
    assert!(r.result.unwrap().success());
    assert_eq!(texts(&r.lines, Stream::Stdout), ["over tls"]);
    stop.cancel();
}

#[tokio::test]
async fn a_repeated_execute_starts_nothing_twice_and_a_different_one_conflicts() {
    let a = agent().await;
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        http.post(format!("http://{}/execute", a.addr))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let append = serde_json::json!({
        "job_id": "once",
        "steps": [{ "argv": ["sh", "-c", "echo x >> count"], "risk": "WRITE" }],
    });
    assert_eq!(post(append.clone()).await.unwrap().status(), 202);
    assert_eq!(post(append.clone()).await.unwrap().status(), 202);
    let done = agent_json(&http, &a, "/status/once?wait_ms=5000").await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        std::fs::read_to_string(a.root.join("count")).unwrap(),
        "x\n"
    );
    let other = serde_json::json!({
        "job_id": "once",
        "steps": [{ "argv": ["true"], "risk": "READ_ONLY" }],
    });
    let resp = post(other).await.unwrap();
    assert_eq!(resp.status(), 409);
    let unknown = http
        .get(format!("http://{}/status/never", a.addr))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

/// GET `path` from the agent, as JSON.
async fn agent_json(http: &reqwest::Client, a: &Agent, path: &str) -> serde_json::Value {
    http.get(format!("http://{}{path}", a.addr))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// POST `/execute` straight to the agent with these steps.
async fn execute_raw(a: &Agent, job_id: &str, steps: serde_json::Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("http://{}/execute", a.addr))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "job_id": job_id, "steps": steps }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_agent_judges_every_step_with_its_own_policy() {
    let a = agent().await;
    std::os::unix::fs::symlink("/etc/passwd", a.root.join("escape")).unwrap();
    // Outside its root (directly or through a symlink): forbidden whatever
    // the label; a write labelled READ_ONLY: refused as riskier than approved.
    for (i, (argv, label, code)) in [
        (vec!["cat", "/etc/hostname"], "READ_ONLY", "forbidden"),
        (vec!["cat", "/etc/hostname"], "ADMIN", "forbidden"),
        (vec!["cat", "escape"], "READ_ONLY", "forbidden"),
        (vec!["touch", "made"], "READ_ONLY", "not_permitted"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("judged-{i}");
        let (status, body) = execute_raw(
            &a,
            &id,
            serde_json::json!([{ "argv": argv, "risk": label }]),
        )
        .await;
        assert_eq!(status, 403, "{argv:?} as {label}: {body}");
        assert!(body.contains(code), "{argv:?} as {label}: {body}");
        // Nothing was started: the agent holds no such job.
        let status = reqwest::Client::new()
            .get(format!("http://{}/status/{id}", a.addr))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 404, "{argv:?}");
    }
    assert!(!a.root.join("made").exists());
    // What it judges within the label runs.
    let (status, body) = execute_raw(
        &a,
        "judged-ok",
        serde_json::json!([{ "argv": ["touch", "made"], "risk": "WRITE" }]),
    )
    .await;
    assert_eq!(status, 202, "{body}");
}

/// Processes whose command line is exactly `argv`, found in /proc.
fn count_processes(argv: &[&str]) -> usize {
    // The program may be named by its full path (a wrapper execs it so).
    let matches = |cmdline: Vec<u8>| {
        let text = String::from_utf8_lossy(&cmdline).into_owned();
        let words: Vec<&str> = text.trim_end_matches('\0').split('\0').collect();
        words.len() == argv.len()
            && words[0].rsplit('/').next() == Some(argv[0])
            && words[1..] == argv[1..]
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| std::fs::read(e.path().join("cmdline")).is_ok_and(matches))
        .count()
}

#[tokio::test]
async fn the_agent_runs_at_most_its_advertised_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let limits = AgentLimits {
        max_concurrent: Some(2),
        ..AgentLimits::default()
    };
    let jobs = AgentJobs::new(dir.path(), LocalProvider::new(), limits).unwrap();
    // A sleep no other test runs, so the count is ours alone.
    let sleeper = ["sleep", "41.2718"];
    let mut ids = Vec::new();
    for i in 0..5 {
        let id = format!("queued-{i}");
        let req = serde_json::from_value(serde_json::json!({
            "job_id": id,
            "steps": [{ "argv": sleeper, "risk": "READ_ONLY" }],
        }))
        .unwrap();
        jobs.submit(req).unwrap();
        ids.push(id);
    }
    // Two start; the others wait, however long we look.
    let mut seen = 0;
    for _ in 0..40 {
        let n = count_processes(&sleeper);
        assert!(n <= 2, "{n} steps ran at once; the agent allows 2");
        seen = seen.max(n);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen, 2);
    // A cancelled job makes room for the next one.
    for id in &ids {
        jobs.cancel(id);
    }
    for _ in 0..200 {
        if count_processes(&sleeper) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(count_processes(&sleeper), 0);
    for id in &ids {
        let s = jobs.status(id, 0, Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            s.status,
            skynet_core::provider::gateway::protocol::RemoteStatus::Cancelled
        );
    }
}
