//! `skynet agent` in its own network namespace, joined to this one by a
//! veth pair: the gateway provider runs steps across a real link, then
//! the link is cut mid-step (a clear failure, no hang) and the agent is
//! restarted (the in-flight step fails clearly, the next one works).
//!
//! Needs root and iproute2: runs when `SKYNET_TEST_NETNS` is set
//! (scripts/services.d/70-netns.sh), else skips and says so.

#![allow(clippy::unwrap_used)]

#[path = "../../skynet-core/tests/service/mod.rs"]
mod service;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use skynet_core::llm::ApiKey;
use skynet_core::plan::Command;
use skynet_core::provider::{
    ExecContext, ExitKind, GatewayConfig, GatewayProvider, Output, OutputLine, Provider, Stream,
};
use skynet_core::store::LogQuery;
use skynet_core::{JobId, JobStatus, RiskLevel, Skynet, SubmitRequest};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "netns-gateway-token-42";
/// Far above any legitimate wait here: reaching it means a hang.
const HANG: Duration = Duration::from_secs(60);

fn ip(args: &[&str]) {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace and a veth pair with private addresses, removed on drop
/// (panics included).
struct Link {
    ns: String,
    host_if: String,
    agent_if: String,
    host_ip: String,
    agent_ip: String,
}

impl Link {
    fn new() -> Link {
        let tag = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let net = rand::random::<u8>();
        let link = Link {
            ns: format!("skgw{tag}"),
            host_if: format!("skh{tag}"),
            agent_if: format!("ska{tag}"),
            host_ip: format!("10.231.{net}.1"),
            agent_ip: format!("10.231.{net}.2"),
        };
        ip(&["netns", "add", &link.ns]);
        ip(&[
            "link",
            "add",
            &link.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &link.agent_if,
            "netns",
            &link.ns,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", link.host_ip),
            "dev",
            &link.host_if,
        ]);
        ip(&["link", "set", &link.host_if, "up"]);
        let in_ns = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &link.ns, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        in_ns(&[
            "addr",
            "add",
            &format!("{}/24", link.agent_ip),
            "dev",
            &link.agent_if,
        ]);
        in_ns(&["link", "set", &link.agent_if, "up"]);
        in_ns(&["link", "set", "lo", "up"]);
        link
    }

    /// Take the agent's end down (or up): this side keeps its route, so
    /// packets vanish silently instead of failing fast.
    fn set_agent_side(&self, up: bool) {
        ip(&[
            "netns",
            "exec",
            &self.ns,
            "ip",
            "link",
            "set",
            &self.agent_if,
            if up { "up" } else { "down" },
        ]);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.ns])
            .output();
    }
}

/// A `skynet agent` process inside the namespace.
struct AgentProcess {
    child: tokio::process::Child,
}

impl AgentProcess {
    async fn start(link: &Link, home: &Path, root: &Path, token_file: &Path) -> AgentProcess {
        let listen = format!("{}:7070", link.agent_ip);
        let mut child = tokio::process::Command::new("ip")
            .args(["netns", "exec", &link.ns])
            .arg(env!("CARGO_BIN_EXE_skynet"))
            .args(["agent", "--listen", &listen, "--token-file"])
            .arg(token_file)
            .arg("--root")
            .arg(root)
            .env("SKYNET_HOME", home)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(HANG, lines.next_line())
            .await
            .expect("the agent never said it listens")
            .unwrap()
            .unwrap_or_default();
        assert!(first.contains(&format!("http://{listen}")), "{first}");
        AgentProcess { child }
    }

    /// SIGTERM, as a service manager restarting it would.
    async fn stop(mut self) {
        let pid = Pid::from_raw(i32::try_from(self.child.id().unwrap()).unwrap());
        kill(pid, Signal::SIGTERM).unwrap();
        tokio::time::timeout(HANG, self.child.wait())
            .await
            .expect("the agent did not stop on SIGTERM")
            .unwrap();
    }
}

fn command(args: &[&str]) -> Command {
    Command {
        argv: args.iter().map(|s| s.to_string()).collect(),
        cwd: PathBuf::from("/local/root"),
        env: Default::default(),
        timeout_ms: None,
        stdin: None,
        pipe: Vec::new(),
    }
}

/// Run `cmd` in the background; lines arrive on the receiver.
fn start_step(
    p: &std::sync::Arc<GatewayProvider>,
    cmd: Command,
) -> (
    tokio::task::JoinHandle<skynet_core::Result<Output>>,
    mpsc::Receiver<OutputLine>,
) {
    let (tx, rx) = mpsc::channel(256);
    let ctx = ExecContext {
        job_id: JobId::new(),
        step: 0,
        root: PathBuf::from("/local/root"),
        timeout: None,
        cancel: CancellationToken::new(),
        output: tx,
        max_output_bytes: 1 << 20,
        // Shell scripts are WRITE by the agent's own policy, which
        // refuses a step riskier than its label.
        risk: RiskLevel::Write,
        action: None,
    };
    let p = p.clone();
    (tokio::spawn(async move { p.execute(&cmd, ctx).await }), rx)
}

async fn first_stdout(rx: &mut mpsc::Receiver<OutputLine>) -> String {
    let line = tokio::time::timeout(HANG, rx.recv())
        .await
        .expect("no output from the remote step")
        .expect("the step ended without output");
    assert_eq!(line.stream, Stream::Stdout);
    line.text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_steps_cross_a_veth_link_survive_nothing_silently() {
    // Needs root and iproute2 (scripts/services.d/70-netns.sh).
    if service::service_var(
        "gateway_steps_cross_a_veth_link_survive_nothing_silently",
        "SKYNET_TEST_NETNS",
    )
    .is_none()
    {
        return;
    }
    let link = Link::new();
    let dir = tempfile::tempdir().unwrap();
    let (home, root) = (dir.path().join("home"), dir.path().join("root"));
    std::fs::create_dir_all(&root).unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let agent = AgentProcess::start(&link, &home, &root, &token_file).await;
    let mut config =
        GatewayConfig::new(format!("http://{}:7070", link.agent_ip), ApiKey::new(TOKEN));
    config.request_timeout = Duration::from_secs(1);
    config.poll_wait = Duration::from_millis(500);
    config.unreachable_grace = Duration::from_secs(3);
    let p = std::sync::Arc::new(GatewayProvider::new(config).unwrap());
    let h = p.health().await;
    assert!(h.healthy, "{h:?}");

    // 1. A step runs across the link, in the agent's root.
    let (step, mut rx) = start_step(&p, command(&["pwd"]));
    assert_eq!(
        first_stdout(&mut rx).await,
        root.canonicalize().unwrap().display().to_string()
    );
    let out = step.await.unwrap().unwrap();
    assert!(out.success(), "{out:?}");

    // 1b. A whole job through the engine, naming the provider by its
    //     former name: `ls` lists the agent's root, not the local one.
    std::fs::write(root.join("remote-marker"), "").unwrap();
    let local_root = tempfile::tempdir().unwrap();
    let sk = Skynet::builder().provider(p.clone()).build().await.unwrap();
    let mut req = SubmitRequest::new("list the files").root(local_root.path());
    req.provider = Some("chathan".into());
    let job = sk.submit(req).await.unwrap();
    assert_eq!(job.provider, "gateway");
    let job = if job.status == JobStatus::Planned {
        let hash = job.plan.as_ref().unwrap().hash.clone();
        sk.approve(&job.id, &hash, "netns-test").await.unwrap()
    } else {
        job
    };
    let done = sk.run_job(&job.id, "netns-test").await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    let logs = sk.logs(&done.id, &LogQuery::default()).await.unwrap();
    assert!(
        logs.iter().any(|l| l.text.ends_with(" remote-marker")),
        "{logs:?}"
    );

    // 2. The link is cut while a step runs: a clear error, not a hang.
    let (step, mut rx) = start_step(&p, command(&["sh", "-c", "echo started; sleep 20"]));
    assert_eq!(first_stdout(&mut rx).await, "started");
    link.set_agent_side(false);
    let e = tokio::time::timeout(HANG, step)
        .await
        .expect("the provider hung on a cut link")
        .unwrap()
        .unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("unreachable") && message.contains("outcome is unknown"),
        "{message}"
    );
    assert!(!p.health().await.healthy);
    link.set_agent_side(true);
    let (step, _rx) = start_step(&p, command(&["true"]));
    assert!(step.await.unwrap().unwrap().success());

    // 3. The agent restarts while a step runs: that step fails clearly,
    //    the next one runs on the new agent.
    let (step, mut rx) = start_step(&p, command(&["sh", "-c", "echo started; sleep 20"]));
    assert_eq!(first_stdout(&mut rx).await, "started");
    agent.stop().await;
    let agent = AgentProcess::start(&link, &home, &root, &token_file).await;
    let e = tokio::time::timeout(HANG, step)
        .await
        .expect("the provider hung on an agent restart")
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("outcome is unknown"), "{e}");
    let (step, mut rx) = start_step(&p, command(&["echo", "after restart"]));
    assert_eq!(first_stdout(&mut rx).await, "after restart");
    let out = step.await.unwrap().unwrap();
    assert_eq!((out.exit, out.exit_code), (ExitKind::Exited, Some(0)));
    agent.stop().await;
}
