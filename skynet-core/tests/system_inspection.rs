//! System inspection from a project root: with the local read scope, the
//! policy lets READ_ONLY steps read what operators inspect (`/etc/hostname`,
//! `/proc/loadavg`, logs under `/var/log`) and the sandbox (bubblewrap or
//! Landlock, where the machine has them) lets them through; secrets stay
//! forbidden; a root that holds the system is refused with a clear message.

mod provider_support;

use provider_support::{Step, command, sandboxes};
use skynet_core::config::Settings;
use skynet_core::policy::Verdict;
use skynet_core::provider::Stream;
use skynet_core::{Error, RiskLevel};
use std::path::Path;

/// A regular, readable file under /var/log (any machine has one).
fn a_log_file() -> Option<String> {
    walk(Path::new("/var/log"), 3)
}

fn walk(dir: &Path, depth: u32) -> Option<String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in &entries {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).ok()?;
        if meta.is_file() && meta.len() > 0 && std::fs::read(&p).is_ok() {
            return Some(p.display().to_string());
        }
    }
    if depth == 0 {
        return None;
    }
    entries
        .iter()
        .filter(|e| e.path().is_dir())
        .find_map(|e| walk(&e.path(), depth - 1))
}

#[tokio::test]
async fn inspection_reads_succeed_and_secrets_stay_closed_from_a_root_elsewhere() {
    let home = tempfile::tempdir().expect("home");
    let root = tempfile::tempdir().expect("root");
    let root = root.path().canonicalize().expect("canonical");
    let settings = Settings::load_with(Some(home.path().into()), |k| match k {
        "HOME" => std::env::var("HOME").ok(),
        _ => None,
    })
    .expect("settings");
    let policy = settings.policy().expect("policy");
    let mut reads = vec!["/etc/hostname".to_string(), "/proc/loadavg".to_string()];
    reads.extend(a_log_file());
    let ssh_key = std::env::var("HOME").map(|h| format!("{h}/.ssh/id_ed25519"));
    for path in &reads {
        let d = policy.check_command(&command(&["cat", path], &root), &root);
        assert_eq!(d.risk, RiskLevel::ReadOnly, "{path}: {}", d.explain());
    }
    for path in ["/etc/shadow".to_string()].into_iter().chain(ssh_key) {
        let d = policy.check_command(&command(&["cat", &path], &root), &root);
        assert_eq!(d.verdict, Verdict::Forbid, "{path}: {}", d.explain());
    }
    for (name, local) in sandboxes("inspection_reads_succeed") {
        for path in &reads {
            let r = Step::new(&root)
                .run_on(&local, &command(&["cat", path], &root), None)
                .await
                .expect("runs");
            assert!(r.out.success(), "{name}: cat {path}: {}", r.all());
            let shown = r
                .texts(Stream::Stdout)
                .first()
                .copied()
                .unwrap_or_default()
                .to_string();
            if path == "/proc/loadavg" {
                // It moves between two reads: the host's load, five fields.
                assert_eq!(shown.split_whitespace().count(), 5, "{name}: {shown}");
            } else {
                let host = std::fs::read_to_string(path).expect("host read");
                assert_eq!(
                    shown,
                    host.lines().next().unwrap_or_default(),
                    "{name}: {path}"
                );
            }
        }
        let r = Step::new(&root)
            .run_on(&local, &command(&["cat", "/etc/shadow"], &root), None)
            .await
            .expect("runs");
        assert!(
            !r.out.success(),
            "{name}: the sandbox let /etc/shadow through"
        );
    }
}

#[test]
fn a_root_that_holds_the_system_is_refused_clearly() {
    for root in ["/", "/usr", "/etc", "/var"] {
        let e = skynet_core::policy::resolve_root(Some(root.into())).expect_err(root);
        assert!(
            matches!(&e, Error::InvalidInput(m) if m.contains("project directory") && m.contains("read scope")),
            "{root}: {e}"
        );
    }
    let project = tempfile::tempdir().expect("project");
    assert!(skynet_core::policy::resolve_root(Some(project.path().into())).is_ok());
}
