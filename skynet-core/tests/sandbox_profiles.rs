//! Sandbox profiles under the real sandboxes (bubblewrap:
//! `SKYNET_TEST_BWRAP`, Landlock: `SKYNET_TEST_LANDLOCK`, both from
//! `scripts/services.d/50-sandbox.sh`).
//!
//! Inspect (READ_ONLY system inspection) sees a host process and a host
//! listener the test started, yet cannot read that process's environment,
//! signal it, connect to the listener or to a host unix socket, and holds
//! no capabilities. The default profile under bubblewrap still sees none
//! of the host's processes (and `another_process_environment_is_unreadable`
//! and `host_processes_cannot_be_reprioritised_or_killed` in
//! `sandbox_escapes.rs` hold it to the rest). The host profile is refused,
//! naming its setting, until the operator turns it on; then an approved
//! ADMIN kill of a host process really kills it.

mod provider_support;

use provider_support::{HostProcess, Run, Step, command, run_to_success, sandboxes, service_var};
use skynet_core::action::{ProcessSort, SandboxProfile};
use skynet_core::provider::local::SandboxMode;
use skynet_core::provider::{LocalProvider, Stream};
use skynet_core::view::PlanView;
use skynet_core::{Action, Error, JobStatus, RiskLevel, Skynet, SubmitRequest};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Run `argv` in `root` as a READ_ONLY step of `action` (None: no action,
/// the default profile). A step gets its action's profile only with the
/// action's own command, so the profile is forced here: these tests attack
/// it with commands the action never resolves to.
async fn run(local: &LocalProvider, root: &Path, action: Option<Action>, argv: &[&str]) -> Run {
    let local = match &action {
        Some(a) => local.clone().force_profile(a.sandbox_profile()),
        None => local.clone(),
    };
    let mut step = Step::new(root);
    step.action = action;
    step.run_on(&local, &command(argv, root), None)
        .await
        .expect("the step runs")
}

fn top() -> Option<Action> {
    Some(Action::TopProcesses {
        by: ProcessSort::Cpu,
    })
}

#[tokio::test]
async fn inspect_sees_the_host_but_cannot_reach_into_it() {
    for (name, local) in sandboxes("inspect_sees_the_host_but_cannot_reach_into_it") {
        let mut host = HostProcess::start();
        let pid = host.pid().to_string();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp");
        tcp.set_nonblocking(true).expect("nonblocking");
        let port = tcp.local_addr().expect("addr").port();
        let root = tempfile::tempdir().expect("root");
        let sock = root.path().join("host.sock");
        let unix = std::os::unix::net::UnixListener::bind(&sock).expect("unix");
        unix.set_nonblocking(true).expect("nonblocking");

        // The host's processes and listening sockets are in sight.
        let r = run(&local, root.path(), top(), &["ps", "-e", "-o", "pid="]).await;
        assert!(r.out.success(), "{name}: {}", r.all());
        assert!(
            r.texts(Stream::Stdout).iter().any(|l| l.trim() == pid),
            "{name}: ps -e does not list the host's sleep {pid}:\n{}",
            r.all()
        );
        let stat = format!("/proc/{pid}/stat");
        let r = run(&local, root.path(), top(), &["cat", &stat]).await;
        assert!(
            r.out.success() && r.all().contains("(sleep)"),
            "{name}: {}",
            r.all()
        );
        let ports = Some(Action::ListPorts { port: None });
        let r = run(&local, root.path(), ports.clone(), &["ss", "-tln"]).await;
        assert!(r.out.success(), "{name}: {}", r.all());
        assert!(
            r.all().contains(&format!("127.0.0.1:{port} ")),
            "{name}: ss -tln does not show the host's listener on {port}:\n{}",
            r.all()
        );
        let links = Some(Action::NetworkInfo {
            what: skynet_core::action::NetworkView::Interfaces,
        });
        let r = run(&local, root.path(), links, &["ip", "-o", "link"]).await;
        assert!(
            r.out.success() && r.all().contains(": lo:"),
            "{name}: netlink works: {}",
            r.all()
        );

        // But nothing reaches into them.
        let environ = format!("/proc/{pid}/environ");
        let r = run(&local, root.path(), top(), &["cat", &environ]).await;
        assert!(!r.out.success(), "{name}: read {environ}: {}", r.all());
        assert!(!r.all().contains(&host.secret), "{name}: the secret leaked");
        let r = run(&local, root.path(), top(), &["kill", &pid]).await;
        assert!(!r.out.success(), "{name}: kill succeeded: {}", r.all());
        let url = format!("http://127.0.0.1:{port}/");
        let r = run(
            &local,
            root.path(),
            ports.clone(),
            &["curl", "-sS", "--max-time", "3", &url],
        )
        .await;
        assert!(!r.out.success(), "{name}: curl reached {url}: {}", r.all());
        let via_unix = sock.display().to_string();
        let r = run(
            &local,
            root.path(),
            ports.clone(),
            &[
                "curl",
                "-sS",
                "--max-time",
                "3",
                "--unix-socket",
                &via_unix,
                "http://host/",
            ],
        )
        .await;
        assert!(
            !r.out.success(),
            "{name}: curl reached {via_unix}: {}",
            r.all()
        );
        // connect() itself is refused, even on a socket the step may open.
        let script = "import socket\ns = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)\ntry:\n    s.connect((0, 0))\n    print('connected')\nexcept PermissionError:\n    print('connect-refused')\n";
        let r = run(
            &local,
            root.path(),
            top(),
            &["/usr/bin/python3", "-c", script],
        )
        .await;
        assert_eq!(
            r.texts(Stream::Stdout),
            ["connect-refused"],
            "{name}: {}",
            r.all()
        );
        let r = run(
            &local,
            root.path(),
            top(),
            &["grep", "^CapEff", "/proc/self/status"],
        )
        .await;
        assert_eq!(
            r.texts(Stream::Stdout),
            ["CapEff:\t0000000000000000"],
            "{name}: {}",
            r.all()
        );

        std::thread::sleep(Duration::from_millis(100));
        assert!(host.alive(), "{name}: the host process was killed");
        assert!(
            matches!(tcp.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{name}: a TCP connection reached the host listener"
        );
        assert!(
            matches!(unix.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{name}: a connection reached the host unix socket"
        );
    }
}

#[tokio::test]
async fn the_default_profile_still_hides_the_host_under_bubblewrap() {
    if service_var(
        "the_default_profile_still_hides_the_host",
        "SKYNET_TEST_BWRAP",
    )
    .is_none()
    {
        return;
    }
    let local = LocalProvider::new().with_sandbox(SandboxMode::Require);
    let host = HostProcess::start();
    let root = tempfile::tempdir().expect("root");
    // The same step, judged WRITE (so not Inspect), and with no action.
    let action = top();
    for (action, risk) in [
        (action.clone(), RiskLevel::Write),
        (None, RiskLevel::ReadOnly),
    ] {
        let mut step = Step::new(root.path());
        step.action = action;
        step.risk = risk;
        let r = step
            .run_on(
                &local,
                &command(&["ps", "-e", "-o", "pid="], root.path()),
                None,
            )
            .await
            .expect("runs");
        assert!(r.out.success(), "{}", r.all());
        assert!(
            !r.texts(Stream::Stdout)
                .iter()
                .any(|l| l.trim() == host.pid().to_string()),
            "{risk:?}: the default sandbox shows a host process:\n{}",
            r.all()
        );
    }
}

/// An engine whose only provider is `local`.
async fn engine(local: LocalProvider) -> Skynet {
    Skynet::builder()
        .provider(Arc::new(local))
        .default_provider("local")
        .build()
        .await
        .expect("engine")
}

#[tokio::test]
async fn a_host_step_is_refused_when_planned_while_the_host_profile_is_off() {
    for (name, local) in sandboxes("a_host_step_is_refused_while_the_host_profile_is_off") {
        let mut host = HostProcess::start();
        let root = tempfile::tempdir().expect("root");
        // The provider refuses before anything starts...
        let mut step = Step::new(root.path());
        step.risk = RiskLevel::Admin;
        step.action = Some(Action::KillProcess {
            pid: Some(host.pid()),
            name: None,
        });
        let refused = step
            .run_on(
                &local,
                &command(&["kill", &host.pid().to_string()], root.path()),
                None,
            )
            .await
            .expect_err("refused");
        assert!(
            matches!(&refused, Error::Provider { message, .. }
                if message.contains("SKYNET_SANDBOX_HOST_PROFILE") && message.contains("host_profile = true")),
            "{name}: {refused}"
        );
        // ...and the engine says so when the plan is made, recording nothing.
        let sk = engine(local).await;
        let intent = format!("kill process {}", host.pid());
        let refused = sk
            .submit(SubmitRequest::new(&intent).root(root.path()))
            .await
            .expect_err("refused at submit");
        match &refused {
            Error::Forbidden { decision } => {
                assert_eq!(decision.rule.as_deref(), Some("provider.settings"));
                let why = decision.reasons.join("; ");
                assert!(why.contains("step 1"), "{why}");
                assert!(why.contains("SKYNET_SANDBOX_HOST_PROFILE"), "{why}");
            }
            other => panic!("{name}: expected a refusal, got {other:?}"),
        }
        let jobs = sk.list(&Default::default()).await.expect("list");
        assert!(jobs.is_empty(), "{name}: a job was recorded");
        assert!(host.alive(), "{name}: the host process was killed");
    }
}

#[tokio::test]
async fn an_approved_admin_kill_runs_on_the_host_under_the_host_profile() {
    for (name, local) in sandboxes("an_approved_admin_kill_runs_on_the_host") {
        let mut host = HostProcess::start();
        let root = tempfile::tempdir().expect("root");
        let sk = engine(local.with_host_profile(true)).await;
        let intent = format!("kill process {}", host.pid());
        let job = sk
            .submit(SubmitRequest::new(&intent).root(root.path()))
            .await
            .expect("submit");
        // ADMIN: it waits for a human, who sees the profile first.
        assert_eq!(job.status, JobStatus::Planned, "{name}");
        let plan = job.plan.clone().expect("plan");
        assert_eq!(plan.risk, RiskLevel::Admin);
        let view = PlanView::new(&plan);
        assert_eq!(view.steps[0].sandbox_profile, SandboxProfile::Host);
        let json = serde_json::to_value(&view).expect("json");
        assert_eq!(json["steps"][0]["sandbox_profile"], "host", "{json}");
        assert!(host.alive(), "{name}: killed before approval");
        sk.approve(&job.id, &plan.hash, "operator")
            .await
            .expect("approve");
        run_to_success(&sk, &job.id).await;
        let gone = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            !host.alive()
        });
        assert!(
            gone,
            "{name}: the approved kill did not reach the host process"
        );
    }
}

#[tokio::test]
async fn inspect_keeps_the_rest_of_the_sandbox() {
    for (name, local) in sandboxes("inspect_keeps_the_rest_of_the_sandbox") {
        let host = HostProcess::start();
        let root = tempfile::tempdir().expect("root");
        let probe = format!("/etc/skynet-inspect-probe-{}", uuid::Uuid::now_v7());
        let marker = format!("skynet-inspect-orphan-{}", uuid::Uuid::now_v7());
        let script = format!(
            "touch {probe} 2>/dev/null && echo etc-written || echo etc-refused; \
             echo x > new.txt 2>/dev/null && echo root-written || echo root-refused; \
             unshare -Urm true 2>/dev/null && echo unshared || echo unshare-refused; \
             readlink /proc/{pid}/fd/0 >/dev/null 2>&1 && echo fd-followed || echo fd-refused; \
             readlink /proc/{pid}/exe >/dev/null 2>&1 && echo exe-followed || echo exe-refused; \
             grep -q '^root:' /etc/shadow 2>/dev/null && echo shadow-read || echo shadow-hidden; \
             (exec -a {marker} sleep 300 &) ; echo done",
            pid = host.pid()
        );
        let r = run(&local, root.path(), top(), &["bash", "-c", &script]).await;
        assert_eq!(
            r.texts(Stream::Stdout),
            [
                "etc-refused",
                "root-refused",
                "unshare-refused",
                "fd-refused",
                "exe-refused",
                "shadow-hidden",
                "done"
            ],
            "{name}: {}",
            r.all()
        );
        assert!(!Path::new(&probe).exists(), "{name}: wrote /etc");
        assert!(
            !root.path().join("new.txt").exists(),
            "{name}: wrote the root"
        );
        // No PID namespace ends with the step here: the process-group kill
        // must get what it left behind.
        let left = (0..50).all(|_| {
            std::thread::sleep(Duration::from_millis(20));
            orphan_alive(&marker)
        });
        assert!(!left, "{name}: a process the step started outlived it");
    }
}

/// Is a process whose command line starts with `marker` still running?
fn orphan_alive(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmd| cmd.starts_with(marker.as_bytes()))
}
