//! Shared helpers for the CLI end-to-end tests: a temp home, a temp git
//! repository as the sandbox root, and the real `skynet` binary.
#![allow(
    dead_code,
    missing_docs,
    clippy::unwrap_used,
    clippy::new_without_default
)]

#[path = "../../../skynet-core/tests/service/mod.rs"]
mod service;
#[allow(unused_imports)]
pub use service::service_var;

use assert_cmd::Command;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A sandbox: SKYNET_HOME and a git repository root, both temporary.
pub struct Sandbox {
    pub home: tempfile::TempDir,
    pub repo: tempfile::TempDir,
    /// `SKYNET_SANDBOX` for the binary (the local provider's confinement).
    pub local_sandbox: &'static str,
}

impl Sandbox {
    pub fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let repo = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let st = std::process::Command::new("git")
                .args(args)
                .current_dir(repo.path())
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
                .output()
                .unwrap();
            assert!(
                st.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&st.stderr)
            );
        };
        git(&["init", "-q"]);
        std::fs::write(repo.path().join("README.md"), "# demo\n").unwrap();
        std::fs::write(repo.path().join("notes.txt"), "remember the milk\n").unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "init"]);
        Sandbox {
            home,
            repo,
            local_sandbox: "auto",
        }
    }

    /// Like [`Sandbox::new`], with the local provider unsandboxed: for tests
    /// that watch a step's processes by their host pids (bubblewrap gives
    /// steps their own PID namespace).
    pub fn unsandboxed() -> Self {
        Sandbox {
            local_sandbox: "off",
            ..Sandbox::new()
        }
    }

    /// `skynet --home H` with cwd = the repo and stdin not a terminal.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("skynet").unwrap();
        c.env_remove("SKYNET_DATABASE_URL")
            .env_remove("SKYNET_POLICY_FILE")
            .env("SKYNET_HOME", self.home.path())
            .env("SKYNET_SANDBOX", self.local_sandbox)
            .current_dir(self.repo.path())
            .write_stdin("");
        c
    }

    /// A std command for the real binary (for background processes).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("skynet"));
        c.env_remove("SKYNET_DATABASE_URL")
            .env_remove("SKYNET_POLICY_FILE")
            .env("SKYNET_HOME", self.home.path())
            .env("SKYNET_SANDBOX", self.local_sandbox)
            .current_dir(self.repo.path());
        c
    }

    /// Run `skynet ARGS --json` and parse stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        // `--json` goes right after the (sub)command: the intent and argv
        // after it are taken verbatim.
        let at = if matches!(args[0], "policy" | "keys") {
            2
        } else {
            1
        };
        let out = self
            .cmd()
            .args(&args[..at])
            .arg("--json")
            .args(&args[at..])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} did not print JSON ({e}): stdout={} stderr={}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// `skynet worker --concurrency N` with its output discarded, for a
    /// test to add settings to and spawn.
    pub fn worker_cmd(&self, concurrency: u32) -> std::process::Command {
        let mut c = self.std_cmd();
        c.args(["worker", "--concurrency", &concurrency.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    }

    /// The jobs `source` (`schedule`, `trigger`, ...) submitted.
    pub fn jobs_from(&self, source: &str) -> Vec<serde_json::Value> {
        self.jobs()
            .into_iter()
            .filter(|j| j["source"] == source)
            .collect()
    }

    pub fn jobs(&self) -> Vec<serde_json::Value> {
        self.json(&["jobs"]).as_array().unwrap().clone()
    }

    pub fn job(&self, id: &str) -> serde_json::Value {
        self.json(&["show", id])
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.repo.path().join(rel)
    }
}

/// What `cmd` printed, after asserting it exited 0 (its stderr says why
/// not).
pub fn succeeded(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Poll `f` until it returns Some or `limit` passes.
pub fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether any live process is left in process group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    !skynet_core::provider::local::live_members(pgid).is_empty()
}

/// Wait (with a deadline) until process group `pgid` is gone.
pub fn assert_group_gone(pgid: i32, limit: Duration) {
    eventually(limit, &format!("process group {pgid} to die"), || {
        (!group_alive(pgid)).then_some(())
    });
}

pub fn first_number_line(text: &str) -> Option<i32> {
    text.lines().find_map(|l| l.trim().parse::<i32>().ok())
}
