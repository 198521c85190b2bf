//! The CLI's local provider is sandboxed by default when bubblewrap works
//! (`SKYNET_TEST_BWRAP=1`, set by `scripts/services.d/50-sandbox.sh`).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn bwrap_ready(test: &str) -> bool {
    service_var(test, "SKYNET_TEST_BWRAP").is_some()
}

#[test]
fn steps_write_the_root_but_not_the_system() {
    if !bwrap_ready("steps_write_the_root_but_not_the_system") {
        return;
    }
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "--yes", "write 'inside' to inside.txt"])
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read_to_string(sb.repo.path().join("inside.txt")).unwrap(),
        "inside"
    );
    // The policy cannot see where `$HOME` points, so it only asks for
    // approval (given by --yes); the sandbox keeps HOME read-only.
    let home = tempfile::tempdir().unwrap();
    sb.cmd()
        .env("HOME", home.path())
        .args(["run", "--yes", "run `sh -c 'echo x > $HOME/probe'`"])
        .assert()
        .code(1);
    assert!(!home.path().join("probe").exists());
}
