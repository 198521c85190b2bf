//! Network and container probes through the whole engine (plan, judge,
//! run, logs, events): a DNS lookup of `localhost` is refused, an HTTP GET
//! to a real server on 127.0.0.1 is refused by default and allowed when
//! the operator allow-lists it, a redirect is reported and not followed,
//! the containers probe reads a real dockerd (`SKYNET_TEST_DOCKER_IMAGE`),
//! and a READ_ONLY step that is not the checked ping stays offline under
//! the real sandbox.
#![allow(clippy::unwrap_used)]

mod provider_support;

use provider_support::{command, sandboxes};
use skynet_core::action::{Action, ContainerView};
use skynet_core::planner::ScriptedPlanner;
use skynet_core::probe::{NetworkAllow, ProbeConfig};
use skynet_core::provider::{ExecContext, LocalProvider, Provider, Stream};
use skynet_core::{
    EngineConfig, Execution, Gate, JobId, JobStatus, Policy, RiskLevel, RunHere, Skynet,
    SubmitRequest,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// An engine on a real SQLite file planning `actions`, with these probe
/// settings; its provider is an unsandboxed local one (probes other than
/// ping never reach it).
async fn engine(dir: &tempfile::TempDir, actions: Vec<Action>, probes: ProbeConfig) -> Skynet {
    Skynet::builder()
        .database_url(format!("sqlite://{}", dir.path().join("t.db").display()))
        .planner(Arc::new(ScriptedPlanner::new(actions)))
        .provider(Arc::new(LocalProvider::new()))
        .default_provider("local")
        .config(EngineConfig {
            probes,
            retry_base: Duration::from_millis(10),
            retry_max: Duration::from_millis(20),
            ..EngineConfig::default()
        })
        .build()
        .await
        .unwrap()
}

async fn run(sk: &Skynet, dir: &tempfile::TempDir) -> Execution {
    let here = RunHere {
        worker: "probes-test".into(),
        timeout: Some(Duration::from_secs(60)),
        log_tail: Some(500),
    };
    let req = SubmitRequest::new("probe").root(dir.path());
    sk.execute(&req, &Gate::Approve("tester".into()), &here)
        .await
        .unwrap()
}

/// Plan and run one action with these probe settings: its plan and how
/// the job ended, with the job's error text ("" when none).
async fn run_one(action: Action, probes: ProbeConfig) -> (skynet_core::Plan, Execution, String) {
    let dir = tempfile::tempdir().unwrap();
    let sk = engine(&dir, vec![action], probes).await;
    let plan = sk
        .plan(&SubmitRequest::new("x").root(dir.path()))
        .await
        .unwrap();
    let done = run(&sk, &dir).await;
    let error = done.job.error.clone().unwrap_or_default();
    (plan, done, error)
}

/// The logs of a job that must have succeeded.
fn succeeded(done: &Execution) -> String {
    let logs = log_text(done);
    assert_eq!(
        done.job.status,
        JobStatus::Succeeded,
        "{:?}\n{logs}",
        done.job.error
    );
    logs
}

fn log_text(done: &Execution) -> String {
    done.logs
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn allow(entries: &[&str]) -> ProbeConfig {
    ProbeConfig {
        allow: NetworkAllow::parse(entries).unwrap(),
        docker_host: None,
    }
}

#[tokio::test]
async fn a_dns_probe_of_localhost_is_refused_naming_the_address_and_the_setting() {
    let localhost = Action::DnsLookup {
        host: "localhost".into(),
    };
    let (plan, done, error) = run_one(localhost, ProbeConfig::default()).await;
    assert_eq!(plan.risk, RiskLevel::ReadOnly);
    assert_eq!(
        plan.steps[0].command.argv,
        ["skynet-probe", "dns", "localhost"]
    );
    assert_eq!(plan.steps[0].network.as_deref(), Some("dns localhost"));
    assert_eq!(
        plan.steps[0].decision.as_ref().unwrap().rule.as_deref(),
        Some("probe:dns")
    );
    assert_eq!(done.job.status, JobStatus::Failed);
    assert!(
        error.contains("localhost resolves to 127.0.0.1")
            || error.contains("localhost resolves to ::1"),
        "{error}"
    );
    assert!(error.contains("loopback"), "{error}");
    assert!(error.contains("SKYNET_NETWORK_ALLOW"), "{error}");
    // A refusal is final: not retried like a provider failure.
    assert_eq!(done.job.attempts, 1, "{error}");
}

#[tokio::test]
async fn an_allow_listed_dns_probe_answers_with_the_addresses() {
    let action = Action::DnsLookup {
        host: "localhost".into(),
    };
    let (_, done, _) = run_one(action, allow(&["localhost"])).await;
    let logs = succeeded(&done);
    assert!(logs.contains("localhost has address"), "{logs}");
}

/// A real HTTP server on 127.0.0.1: `/health` answers 200, `/moved`
/// redirects to `/secret`. Every path asked for is recorded.
async fn http_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
                record.lock().unwrap().push(path.clone());
                let response = match path.as_str() {
                    "/health" => "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nstatus-ok".to_string(),
                    "/moved" => format!("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/secret\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                    _ => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret".to_string(),
                };
                let _ = conn.write_all(response.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn an_http_probe_to_loopback_is_refused_by_default_and_allowed_when_listed() {
    let (port, seen) = http_server().await;
    let url = format!("http://127.0.0.1:{port}/health");
    let action = Action::HttpStatus { url: url.clone() };

    let dir = tempfile::tempdir().unwrap();
    let sk = engine(&dir, vec![action.clone()], ProbeConfig::default()).await;
    let plan = sk
        .plan(&SubmitRequest::new("x").root(dir.path()))
        .await
        .unwrap();
    assert_eq!(plan.risk, RiskLevel::ReadOnly);
    assert_eq!(plan.steps[0].network, Some(format!("GET {url}")));
    let refused = run(&sk, &dir).await;
    assert_eq!(refused.job.status, JobStatus::Failed);
    let error = refused.job.error.clone().unwrap_or_default();
    assert!(error.contains("127.0.0.1, a loopback"), "{error}");
    assert!(error.contains("[network] allow"), "{error}");
    assert!(seen.lock().unwrap().is_empty(), "no request left SKYNET");

    let (_, done, _) = run_one(action, allow(&["127.0.0.1"])).await;
    let logs = succeeded(&done);
    assert!(
        logs.contains(&format!("HTTP 200 OK from {url} (127.0.0.1:{port})")),
        "{logs}"
    );
    assert!(logs.contains("status-ok"), "{logs}");
    assert_eq!(*seen.lock().unwrap(), ["/health"]);
}

#[tokio::test]
async fn a_redirect_is_reported_and_not_followed() {
    let (port, seen) = http_server().await;
    let action = Action::HttpStatus {
        url: format!("http://127.0.0.1:{port}/moved"),
    };
    let (_, done, _) = run_one(action, allow(&["127.0.0.0/8"])).await;
    let logs = log_text(&done);
    assert_eq!(done.job.status, JobStatus::Succeeded, "{logs}");
    assert!(logs.contains("HTTP 302 Found"), "{logs}");
    assert!(
        logs.contains(&format!(
            "Location: http://127.0.0.1:{port}/secret (redirects are not followed)"
        )),
        "{logs}"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        ["/moved"],
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn a_server_error_fails_the_status_check() {
    let (port, _seen) = http_server().await;
    let action = Action::HttpStatus {
        url: format!("http://127.0.0.1:{port}/broken"),
    };
    let (_, done, _) = run_one(action, allow(&["127.0.0.1"])).await;
    assert_eq!(done.job.status, JobStatus::Failed);
    assert!(log_text(&done).contains("HTTP 500"), "{}", log_text(&done));
}

#[tokio::test]
async fn a_ping_probe_of_a_closed_address_never_starts_a_process() {
    let metadata = Action::PingHost {
        host: "169.254.169.254".into(),
    };
    let (_, done, error) = run_one(metadata, ProbeConfig::default()).await;
    assert_eq!(done.job.status, JobStatus::Failed);
    assert!(error.contains("169.254.169.254, a link-local"), "{error}");
    assert!(!log_text(&done).contains("ping -c"), "{}", log_text(&done));
}

/// The ping probe end to end: SKYNET resolves the name, checks the
/// address, and the provider runs `ping -c 4 -W 2 ADDRESS` (unsandboxed
/// here: under bubblewrap ping needs ICMP datagram sockets, which
/// `net.ipv4.ping_group_range` may disable on the host).
#[tokio::test]
async fn a_ping_probe_runs_the_exact_argv_for_the_checked_address() {
    let installed = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("ping").is_file()));
    if !installed {
        eprintln!(
            "SKIPPED a_ping_probe_runs_the_exact_argv_for_the_checked_address: no `ping` installed (iputils-ping)"
        );
        return;
    }
    let action = Action::PingHost {
        host: "localhost".into(),
    };
    let (plan, done, _) = run_one(action, allow(&["localhost"])).await;
    assert_eq!(
        plan.steps[0].command.argv,
        ["skynet-probe", "ping", "localhost"]
    );
    assert_eq!(plan.steps[0].network.as_deref(), Some("ping localhost"));
    let logs = succeeded(&done);
    let handed = logs
        .lines()
        .find(|l| l.starts_with("localhost is "))
        .unwrap_or_else(|| panic!("no hand-over line: {logs}"));
    assert!(
        handed.ends_with(": ping -c 4 -W 2 127.0.0.1") || handed.ends_with(": ping -c 4 -W 2 ::1"),
        "{handed}"
    );
    assert!(logs.contains("4 packets transmitted, 4 received"), "{logs}");
}

#[tokio::test]
async fn the_network_label_is_outside_the_hash_and_only_on_network_probes() {
    let dir = tempfile::tempdir().unwrap();
    let actions = vec![
        Action::DnsLookup {
            host: "example.com".into(),
        },
        Action::ListDirectory { path: ".".into() },
        Action::Containers {
            what: ContainerView::List,
            name: None,
        },
    ];
    let sk = engine(&dir, actions, ProbeConfig::default()).await;
    let mut plan = sk
        .plan(&SubmitRequest::new("x").root(dir.path()))
        .await
        .unwrap();
    assert_eq!(plan.risk, RiskLevel::ReadOnly);
    let labels: Vec<_> = plan.steps.iter().map(|s| s.network.clone()).collect();
    assert_eq!(labels, [Some("dns example.com".to_string()), None, None]);
    let hash = plan.hash.clone();
    for s in &mut plan.steps {
        s.network = None;
    }
    assert_eq!(plan.compute_hash(), hash);
}

#[test]
fn only_the_exact_probe_command_is_judged_by_the_probe_rule() {
    let policy = Policy::default();
    let root = tempfile::tempdir().unwrap();
    let dns = Action::DnsLookup {
        host: "example.com".into(),
    };
    let probe = command(&["skynet-probe", "dns", "example.com"], root.path());
    let d = skynet_core::probe::judge(&policy, &dns, &probe, root.path());
    assert_eq!(
        (d.risk, d.rule.as_deref()),
        (RiskLevel::ReadOnly, Some("probe:dns"))
    );
    // A plan stored before probes (getent) is judged by the policy.
    let old = command(&["getent", "hosts", "example.com"], root.path());
    let d = skynet_core::probe::judge(&policy, &dns, &old, root.path());
    assert!(d.risk > RiskLevel::ReadOnly, "{}", d.explain());
    // The probe argv under execute_command is an unknown program.
    let exec = Action::ExecuteCommand {
        argv: probe.argv.clone(),
    };
    let d = skynet_core::probe::judge(&policy, &exec, &probe, root.path());
    assert!(d.risk > RiskLevel::ReadOnly, "{}", d.explain());
    // Another target than the action's, or an environment: not the probe.
    let other = command(&["skynet-probe", "dns", "example.org"], root.path());
    assert!(
        skynet_core::probe::judge(&policy, &dns, &other, root.path()).risk > RiskLevel::ReadOnly
    );
    let mut with_env = probe.clone();
    with_env.env.insert("X".into(), "1".into());
    assert!(
        skynet_core::probe::judge(&policy, &dns, &with_env, root.path()).risk > RiskLevel::ReadOnly
    );
}

#[tokio::test]
async fn the_containers_probe_without_a_daemon_is_a_clear_error() {
    let probes = ProbeConfig {
        allow: NetworkAllow::default(),
        docker_host: Some("unix:///nonexistent/skynet-test-docker.sock".into()),
    };
    let action = Action::Containers {
        what: ContainerView::List,
        name: None,
    };
    let (plan, done, error) = run_one(action, probes).await;
    assert_eq!(plan.steps[0].network, None, "no network label");
    assert_eq!(done.job.status, JobStatus::Failed);
    let expected = if cfg!(feature = "docker") {
        "SKYNET_DOCKER_HOST"
    } else {
        "--features docker"
    };
    assert!(error.contains(expected), "{error}");
    assert_eq!(done.job.attempts, 1, "not retried: {error}");
}

/// A READ_ONLY step gets the network only as the checked ping: the same
/// connection attempt with a network action's context (the action a ping
/// probe hands over) stays offline under each real sandbox. The plain
/// READ_ONLY case is `local_sandbox.rs`'s
/// `read_only_steps_cannot_reach_the_network_and_write_steps_can`.
#[tokio::test]
async fn a_read_only_step_that_is_not_the_checked_ping_stays_offline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let root = tempfile::tempdir().unwrap();
    let connect = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} 2>/dev/null && echo connected || echo unreachable"
    );
    let cmd = command(&["bash", "-c", &connect], root.path());
    for (name, local) in sandboxes("a_read_only_step_that_is_not_the_checked_ping_stays_offline") {
        for action in [
            Action::PingHost {
                host: "127.0.0.1".into(),
            },
            Action::HttpStatus {
                url: format!("http://127.0.0.1:{port}/"),
            },
        ] {
            let (tx, mut rx) = tokio::sync::mpsc::channel(64);
            let ctx = ExecContext {
                job_id: JobId::new(),
                step: 0,
                root: root.path().to_path_buf(),
                timeout: Some(Duration::from_secs(30)),
                cancel: CancellationToken::new(),
                output: tx,
                max_output_bytes: 1 << 20,
                risk: RiskLevel::ReadOnly,
                action: Some(action.clone()),
            };
            let out = local.execute(&cmd, ctx).await.unwrap();
            let mut lines = Vec::new();
            while let Ok(l) = rx.try_recv() {
                if l.stream == Stream::Stdout {
                    lines.push(l.text);
                }
            }
            assert!(out.success(), "{name}: {out:?} {lines:?}");
            assert_eq!(lines, ["unreachable"], "{name} with {action:?}");
        }
    }
    drop(listener);
}

/// `docker` test image: list, logs and inspect of a real container, read
/// by SKYNET through the Engine API.
#[cfg(feature = "docker")]
#[tokio::test]
async fn the_containers_probe_lists_logs_and_inspects_a_real_container() {
    use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
    let Some(image) = provider_support::service_var(
        "the_containers_probe_lists_logs_and_inspects_a_real_container",
        "SKYNET_TEST_DOCKER_IMAGE",
    ) else {
        return;
    };
    let docker = bollard::Docker::connect_with_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    let name = format!("skynet-probe-test-{}", uuid::Uuid::now_v7().simple());
    let body = bollard::models::ContainerCreateBody {
        image: Some(image),
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            format!("echo hello-from-{name}; echo to-stderr >&2; sleep 60"),
        ]),
        labels: Some([("skynet.test".to_string(), name.clone())].into()),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    docker.create_container(Some(options), body).await.unwrap();
    docker.start_container(&name, None).await.unwrap();
    // Its first line is in the log before the probe reads it.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut outputs = Vec::new();
    for what in [
        ContainerView::List,
        ContainerView::Logs,
        ContainerView::Inspect,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let action = Action::Containers {
            what,
            name: (what != ContainerView::List).then(|| name.clone()),
        };
        let sk = engine(&dir, vec![action], ProbeConfig::default()).await;
        let done = run(&sk, &dir).await;
        outputs.push((
            what,
            done.job.status,
            done.job.error.clone(),
            log_text(&done),
        ));
    }
    let remove = RemoveContainerOptionsBuilder::default().force(true).build();
    docker.remove_container(&name, Some(remove)).await.unwrap();
    for (what, status, error, logs) in outputs {
        assert_eq!(status, JobStatus::Succeeded, "{what:?}: {error:?}\n{logs}");
        match what {
            ContainerView::List => assert!(logs.contains(&name), "{logs}"),
            ContainerView::Logs => {
                assert!(logs.contains(&format!("hello-from-{name}")), "{logs}");
                assert!(logs.contains("to-stderr"), "{logs}");
            }
            ContainerView::Inspect => {
                assert!(logs.contains(&format!("\"/{name}\"")), "{logs}");
                assert!(
                    logs.contains("PATH=<hidden>"),
                    "environment values hidden: {logs}"
                );
            }
        }
    }
}

/// `POST /v1/policy/check` and friends judge a probe action by the probe's
/// rule, and a typed `docker` command by the policy (ADMIN).
#[tokio::test]
async fn checking_a_probe_action_gives_its_own_rule_and_docker_stays_admin() {
    use skynet_core::engine::CheckRequest;
    let dir = tempfile::tempdir().unwrap();
    let sk = engine(&dir, vec![Action::Uptime], ProbeConfig::default()).await;
    let ctx = skynet_core::PolicyContext::rooted(dir.path().to_path_buf());
    let ask = |action: Option<&str>, command: Option<&str>, target: Option<&str>| CheckRequest {
        action: action.map(str::to_string),
        command: command.map(str::to_string),
        target: target.map(str::to_string),
        ..CheckRequest::default()
    };
    for (name, target, rule) in [
        ("dns_lookup", "example.com", "probe:dns"),
        (
            "http_status",
            "https://example.com/health",
            "probe:http-get",
        ),
        ("containers", "list", "probe:containers"),
    ] {
        let checked = sk
            .check_request(&ask(Some(name), None, Some(target)), &ctx)
            .unwrap();
        assert_eq!(checked.decision.risk, RiskLevel::ReadOnly, "{name}");
        assert_eq!(checked.decision.rule.as_deref(), Some(rule), "{name}");
        assert_eq!(checked.argv[0], "skynet-probe", "{name}");
    }
    let docker = sk
        .check_request(&ask(None, Some("docker ps"), None), &ctx)
        .unwrap();
    assert_eq!(docker.decision.risk, RiskLevel::Admin);
}
