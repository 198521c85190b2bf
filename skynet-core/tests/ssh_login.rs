//! How the SSH provider finds where and as whom to log in, against the
//! real OpenSSH sshd on a loopback port that
//! `scripts/services.d/40-sshd.sh` starts (`SKYNET_TEST_SSH_*`): a host
//! alias in a `~/.ssh/config`, a default key in `~/.ssh`, and a running
//! `ssh-agent` holding the key. Each test gets its own HOME (a temp dir),
//! given to the settings loader as its environment.

mod provider_support;

use provider_support::{Step, command, service_var};
use skynet_core::config::Settings;
use skynet_core::provider::{ExitKind, SshConfig, SshProvider, Stream};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// Where the test sshd is.
struct Server {
    host: String,
    port: String,
    user: String,
    key: PathBuf,
    known_hosts: String,
}

fn server(test: &str) -> Option<Server> {
    Some(Server {
        host: service_var(test, "SKYNET_TEST_SSH_HOST")?,
        port: service_var(test, "SKYNET_TEST_SSH_PORT")?,
        user: service_var(test, "SKYNET_TEST_SSH_USER")?,
        key: PathBuf::from(service_var(test, "SKYNET_TEST_SSH_KEY")?),
        known_hosts: service_var(test, "SKYNET_TEST_SSH_KNOWN_HOSTS")?,
    })
}

/// The SSH settings the loader makes of `vars` (and nothing else from
/// this process's environment).
fn settings(home: &Path, vars: &[(&str, &str)]) -> SshConfig {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.insert("HOME".into(), home.display().to_string());
    Settings::load_with(Some(home.join(".skynet")), move |k| map.get(k).cloned())
        .expect("settings")
        .ssh
        .expect("an ssh provider")
}

/// Run `echo <word>` there and check it came back.
async fn echoes(config: SshConfig, word: &str) {
    let root = PathBuf::from("/skynet-jobs/job-1");
    let run = Step::new(&root)
        .run_on(
            &SshProvider::new(config),
            &command(&["echo", word], &root),
            None,
        )
        .await
        .expect("the step ran");
    assert_eq!(
        (run.out.exit, run.out.exit_code),
        (ExitKind::Exited, Some(0)),
        "{}",
        run.all()
    );
    assert_eq!(run.texts(Stream::Stdout), [word]);
}

fn copy_key(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to.parent().expect("dir")).expect("mkdir");
    std::fs::copy(from, to).expect("copy key");
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[tokio::test]
async fn a_host_alias_in_ssh_config_resolves_and_runs_a_step() {
    let Some(srv) = server("a_host_alias_in_ssh_config_resolves") else {
        return;
    };
    let home = tempfile::tempdir().expect("home");
    std::fs::create_dir(home.path().join(".ssh")).expect("mkdir");
    std::fs::write(
        home.path().join(".ssh/config"),
        format!(
            "Host other\n  HostName 192.0.2.1\n\n\
             Host skynet-test-*\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n\n\
             Host *\n  User nobody-at-all\n  Port 1\n",
            srv.host,
            srv.port,
            srv.user,
            srv.key.display()
        ),
    )
    .expect("write config");
    let config = settings(
        home.path(),
        &[
            ("SKYNET_SSH_HOST", "skynet-test-box"),
            ("SKYNET_SSH_KNOWN_HOSTS", &srv.known_hosts),
        ],
    );
    assert_eq!(config.host, srv.host);
    assert_eq!(config.port.to_string(), srv.port);
    assert_eq!(config.user, srv.user);
    assert_eq!(config.keys, std::slice::from_ref(&srv.key));
    echoes(config, "via-alias").await;
}

#[tokio::test]
async fn a_default_key_in_home_logs_in_without_skynet_ssh_key() {
    let Some(srv) = server("a_default_key_in_home_logs_in") else {
        return;
    };
    let home = tempfile::tempdir().expect("home");
    let key = home.path().join(".ssh/id_ed25519");
    copy_key(&srv.key, &key);
    let config = settings(
        home.path(),
        &[
            ("SKYNET_SSH_HOST", &srv.host),
            ("SKYNET_SSH_PORT", &srv.port),
            ("SKYNET_SSH_USER", &srv.user),
            ("SKYNET_SSH_KNOWN_HOSTS", &srv.known_hosts),
        ],
    );
    assert_eq!(config.keys, [key]);
    assert_eq!(config.agent, None);
    echoes(config, "via-default-key").await;
}

/// A foreground `ssh-agent` on its own socket, stopped when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    async fn start() -> Agent {
        let dir = tempfile::tempdir().expect("agent dir");
        let socket = dir.path().join("agent.sock");
        let child = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client) runs");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent made no socket");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Agent {
            child,
            socket,
            _dir: dir,
        }
    }

    fn add(&self, key: &Path) {
        let status = std::process::Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("ssh-add runs");
        assert!(status.success(), "ssh-add {}", key.display());
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_step_runs_with_the_key_a_running_ssh_agent_holds() {
    let Some(srv) = server("a_step_runs_with_the_key_a_running_ssh_agent_holds") else {
        return;
    };
    let agent = Agent::start().await;
    // No key anywhere but in the agent: an empty HOME, no SKYNET_SSH_KEY.
    let home = tempfile::tempdir().expect("home");
    let socket = agent.socket.display().to_string();
    let vars = [
        ("SKYNET_SSH_HOST", srv.host.as_str()),
        ("SKYNET_SSH_PORT", srv.port.as_str()),
        ("SKYNET_SSH_USER", srv.user.as_str()),
        ("SKYNET_SSH_KNOWN_HOSTS", srv.known_hosts.as_str()),
        ("SSH_AUTH_SOCK", socket.as_str()),
    ];
    let config = settings(home.path(), &vars);
    assert!(config.keys.is_empty(), "{:?}", config.keys);
    assert_eq!(config.agent.as_deref(), Some(agent.socket.as_path()));

    // An agent without the key cannot log in, and the error says so.
    let root = PathBuf::from("/skynet-jobs/job-1");
    let e = Step::new(&root)
        .run_on(
            &SshProvider::new(config.clone()),
            &command(&["true"], &root),
            None,
        )
        .await
        .expect_err("no key yet");
    assert!(e.to_string().contains("holds no keys"), "{e}");

    agent.add(&srv.key);
    echoes(config, "via-agent").await;
}
