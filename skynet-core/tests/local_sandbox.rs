//! The sandboxed local provider under real bubblewrap
//! (`scripts/services.d/50-sandbox.sh` installs it and sets
//! `SKYNET_TEST_BWRAP=1` when it can create namespaces here).

mod provider_support;

use provider_support::{Step, command, service_var, settles, sleeping_with};
use skynet_core::RiskLevel;
use skynet_core::provider::local::SandboxMode;
use skynet_core::provider::{ExitKind, LocalProvider, Provider, Stream};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

const VAR: &str = "SKYNET_TEST_BWRAP";

fn sandboxed(test: &str) -> Option<LocalProvider> {
    service_var(test, VAR)?;
    Some(LocalProvider::new().with_sandbox(SandboxMode::Require))
}

#[tokio::test]
async fn a_step_writes_its_root_and_nothing_else() {
    let Some(local) = sandboxed("a_step_writes_its_root_and_nothing_else") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let outside = tempfile::tempdir().expect("outside");
    let tmp_name = format!("/tmp/skynet-sandbox-{}", uuid::Uuid::now_v7());
    let script = format!(
        "echo in > inside.txt && echo root-ok; \
         echo x > {outside}/escaped.txt 2>/dev/null && echo outside-written || echo outside-refused; \
         echo x > /etc/skynet-sandbox-probe 2>/dev/null && echo etc-written || echo etc-refused; \
         echo x > {tmp_name} && cat {tmp_name}",
        outside = outside.path().display()
    );
    let mut step = Step::new(root.path());
    // Even an ADMIN step keeps the system read-only.
    step.risk = RiskLevel::Admin;
    let r = step.run(&local, &["sh", "-c", &script]).await;
    assert!(r.out.success(), "{}", r.all());
    assert_eq!(
        r.texts(Stream::Stdout),
        ["root-ok", "outside-refused", "etc-refused", "x"]
    );
    assert_eq!(
        std::fs::read_to_string(root.path().join("inside.txt")).expect("inside"),
        "in\n"
    );
    assert!(!outside.path().join("escaped.txt").exists());
    assert!(!Path::new("/etc/skynet-sandbox-probe").exists());
    // /tmp was private to the step.
    assert!(!Path::new(&tmp_name).exists());
}

/// A read-only step cannot connect to a listener on loopback; the same
/// command as a WRITE step can.
async fn read_only_steps_are_offline_and_write_steps_online(local: &LocalProvider) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let accept = tokio::spawn(async move { while listener.accept().await.is_ok() {} });
    let root = tempfile::tempdir().expect("root");
    let connect = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} 2>/dev/null && echo connected || echo unreachable"
    );
    let cmd = command(&["bash", "-c", &connect], root.path());
    let mut step = Step::new(root.path());
    let offline = step.run_on(local, &cmd, None).await.expect("runs");
    assert_eq!(
        offline.texts(Stream::Stdout),
        ["unreachable"],
        "{}",
        offline.all()
    );
    step.risk = RiskLevel::Write;
    let online = step.run_on(local, &cmd, None).await.expect("runs");
    assert_eq!(
        online.texts(Stream::Stdout),
        ["connected"],
        "{}",
        online.all()
    );
    accept.abort();
}

#[tokio::test]
async fn read_only_steps_cannot_reach_the_network_and_write_steps_can() {
    let Some(local) = sandboxed("read_only_steps_cannot_reach_the_network") else {
        return;
    };
    read_only_steps_are_offline_and_write_steps_online(&local).await;
}

#[tokio::test]
async fn nothing_a_step_starts_outlives_it() {
    let Some(local) = sandboxed("nothing_a_step_starts_outlives_it") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    // A detached background process that closes its output.
    let marker = "31337.25";
    let script = format!("sleep {marker} >/dev/null 2>&1 & echo started");
    let r = Step::new(root.path())
        .run(&local, &["sh", "-c", &script])
        .await;
    assert!(r.out.success(), "{}", r.all());
    settles(Duration::from_secs(5), || {
        (!sleeping_with(marker).is_empty()).then(|| "the background sleep survived the step".into())
    })
    .await;
}

#[tokio::test]
async fn timeout_still_stops_a_sandboxed_step() {
    let Some(local) = sandboxed("timeout_still_stops_a_sandboxed_step") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let mut step = Step::new(root.path());
    step.timeout = Some(Duration::from_millis(500));
    let started = Instant::now();
    let r = step.run(&local, &["sleep", "30"]).await;
    assert_eq!(r.out.exit, ExitKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(10));
    let health = local.health().await;
    assert!(
        health.healthy && health.message.contains("bubblewrap"),
        "{}",
        health.message
    );
}

/// Landlock alone (the fallback where bubblewrap cannot run), forced with
/// `SandboxMode::Landlock`; `SKYNET_TEST_LANDLOCK=1` says the kernel has it.
fn landlocked(test: &str) -> Option<LocalProvider> {
    service_var(test, "SKYNET_TEST_LANDLOCK")?;
    Some(LocalProvider::new().with_sandbox(SandboxMode::Landlock))
}

#[tokio::test]
async fn landlock_keeps_writes_inside_the_root() {
    let Some(local) = landlocked("landlock_keeps_writes_inside_the_root") else {
        return;
    };
    let root = tempfile::tempdir().expect("root");
    let outside = tempfile::tempdir().expect("outside");
    let script = format!(
        "echo in > inside.txt && echo root-ok; \
         echo x > {outside}/escaped.txt 2>/dev/null && echo outside-written || echo outside-refused; \
         echo quiet > /dev/null && echo devnull-ok",
        outside = outside.path().display()
    );
    let mut step = Step::new(root.path());
    step.risk = RiskLevel::Admin;
    let r = step.run(&local, &["sh", "-c", &script]).await;
    assert!(r.out.success(), "{}", r.all());
    assert_eq!(
        r.texts(Stream::Stdout),
        ["root-ok", "outside-refused", "devnull-ok"]
    );
    assert!(root.path().join("inside.txt").exists());
    assert!(!outside.path().join("escaped.txt").exists());
    // This process was not restricted by the step's sandbox.
    std::fs::write(outside.path().join("after.txt"), "x").expect("parent still writes");
    let health = local.health().await;
    assert!(health.message.contains("Landlock"), "{}", health.message);
}

#[tokio::test]
async fn landlock_cuts_tcp_for_read_only_steps() {
    let Some(local) = landlocked("landlock_cuts_tcp_for_read_only_steps") else {
        return;
    };
    read_only_steps_are_offline_and_write_steps_online(&local).await;
}
