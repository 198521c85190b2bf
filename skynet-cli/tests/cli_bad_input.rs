//! Bad input: a clear error, the documented exit code, and nothing changed.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn empty_intent_is_exit_2() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "   "])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("intent is empty"));
    assert!(sb.jobs().is_empty());
}

#[test]
fn unmappable_intent_names_the_clause_and_the_llm_option() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "--yes", "list the files and make me a sandwich"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("make me a sandwich"))
        .stderr(predicate::str::contains("LLM").or(predicate::str::contains("llm")));
    assert!(sb.jobs().is_empty());
}

#[test]
fn malformed_rules_file_is_exit_2() {
    let sb = Sandbox::new();
    let rules = sb.home.path().join("bad.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"x\"\npattern = [\"ls\"]\nrisk = \"SOMETIMES\"\n",
    )
    .unwrap();
    sb.cmd()
        .args(["--policy", rules.to_str().unwrap(), "run", "list the files"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("policy"));
    // An example that contradicts its rule refuses to load too.
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"ls-read\"\npattern = [\"ls\"]\nrisk = \"READ_ONLY\"\nmatch = [[\"cat\", \"x\"]]\n",
    )
    .unwrap();
    sb.cmd()
        .args([
            "--policy",
            rules.to_str().unwrap(),
            "policy",
            "check",
            "--",
            "ls",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("ls-read"));
    assert!(sb.jobs().is_empty());
}

#[test]
fn unknown_job_id_is_exit_2() {
    let sb = Sandbox::new();
    for args in [
        vec!["show", "0190a0a0-0000-7000-8000-000000000000"],
        vec!["show", "not-a-job"],
        vec![
            "approve",
            "0190a0a0-0000-7000-8000-000000000000",
            "--plan-hash",
            "deadbeefdead",
        ],
        vec!["cancel", "0190a0a0-0000-7000-8000-000000000000"],
        vec!["logs", "nope"],
        vec!["events", "0190a0a0-0000-7000-8000-000000000000"],
    ] {
        sb.cmd()
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("not found"));
    }
    assert!(sb.jobs().is_empty());
}

#[test]
fn json_errors_carry_a_stable_code() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["show", "--json", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "not_found");
}

#[test]
fn non_utf8_output_is_kept_lossily_and_does_not_fail_the_job() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("bin.dat"), b"ok \xff\xfe bytes\n").unwrap();
    sb.cmd().args(["run", "read bin.dat"]).assert().code(0);
    let id = sb.jobs()[0]["id"].as_str().unwrap().to_string();
    sb.cmd()
        .args(["logs", &id])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ok \u{FFFD}\u{FFFD} bytes"));
}

#[test]
fn bad_flag_values_are_exit_2() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "--timeout", "soon", "list the files"])
        .assert()
        .code(2);
    sb.cmd()
        .args(["jobs", "--status", "bogus"])
        .assert()
        .code(2);
    sb.cmd()
        .args(["run", "--cwd", "/definitely/not/here", "list the files"])
        .assert()
        .code(2);
    assert!(sb.jobs().is_empty());
}

#[test]
fn agent_refuses_an_empty_or_world_readable_token_file_and_a_missing_root() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let token = sb.home.path().join("token");
    let agent = |token: &std::path::Path, root: &str| {
        let mut cmd = sb.cmd();
        cmd.args(["agent", "--listen", "127.0.0.1:0", "--token-file"])
            .arg(token)
            .args(["--root", root]);
        cmd
    };
    std::fs::write(&token, "  \n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    agent(&token, ".")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is empty"));
    std::fs::write(&token, "secret-agent-token\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    agent(&token, ".")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("chmod 600"));
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    agent(&token, "/no/such/agent/root")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("agent root"))
        .stderr(predicate::str::contains("secret-agent-token").not());
}
