//! `skynet memory`: a run is remembered, notes are added, searched,
//! compared, counted and forgotten; bad input is exit 2 and stores nothing.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use predicates::prelude::*;

/// Run `skynet ARGS` (which include `--json`) and parse stdout.
fn json(sb: &Sandbox, args: &[&str]) -> serde_json::Value {
    let out = sb.cmd().args(args).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} did not print JSON ({e}): stderr={}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn a_run_is_remembered_and_notes_are_searched_and_forgotten() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "--yes", "list the files"])
        .assert()
        .success();
    // Written in the background, flushed before `run` exits.
    let found = json(
        &sb,
        &[
            "memory",
            "search",
            "list the files",
            "--type",
            "task_execution",
            "--json",
        ],
    );
    assert_eq!(found["results"][0]["memory"]["outcome"], "success");
    let added = json(
        &sb,
        &[
            "memory",
            "add",
            "check git status before a deploy",
            "--tag",
            "git",
            "--json",
        ],
    );
    let id = added["id"].as_str().unwrap().to_string();
    let hits = json(
        &sb,
        &["memory", "search", "git status", "--tag", "git", "--json"],
    );
    assert_eq!(hits["results"][0]["memory"]["id"], id.as_str());
    let similar = json(&sb, &["memory", "similar", "git status please", "--json"]);
    assert_eq!(similar["results"][0]["memory"]["id"], id.as_str());
    let stats = json(&sb, &["memory", "stats", "--json"]);
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["by_type"]["note"], 1);
    sb.cmd().args(["memory", "forget", &id]).assert().success();
    sb.cmd()
        .args(["memory", "forget", &id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no memory"));
    assert_eq!(json(&sb, &["memory", "stats", "--json"])["total"], 1);
}

#[test]
fn bad_memory_input_is_exit_2_and_stores_nothing() {
    let sb = Sandbox::new();
    for args in [
        vec!["memory", "add", "  "],
        vec!["memory", "add", "x", "--type", "dream"],
        vec!["memory", "search", "x", "--limit", "0"],
        vec!["memory", "search", "x", "--outcome", "maybe"],
    ] {
        sb.cmd().args(&args).assert().code(2);
    }
    sb.cmd()
        .args(["memory", "add", "x", "--type", "dream"])
        .assert()
        .stderr(predicate::str::contains("task_execution"));
    assert_eq!(json(&sb, &["memory", "stats", "--json"])["total"], 0);
}

#[test]
fn plan_shows_similar_past_runs_and_forget_pin_reindex_work() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "--yes", "list the files"])
        .assert()
        .success();
    sb.cmd()
        .args(["plan", "list the files"])
        .assert()
        .success()
        .stdout(predicate::str::contains("similar past runs: 1 succeeded"));
    let keep = json(
        &sb,
        &[
            "memory", "add", "keep me", "--tag", "old", "--pinned", "--json",
        ],
    );
    assert_eq!(keep["pinned"], true);
    let drop = json(&sb, &["memory", "add", "drop me", "--tag", "old", "--json"]);
    let forgot = json(
        &sb,
        &[
            "memory", "forget", "--tag", "old", "--since", "1h", "--json",
        ],
    );
    assert_eq!(forgot["forgotten"], 1);
    sb.cmd()
        .args(["memory", "forget", drop["id"].as_str().unwrap()])
        .assert()
        .code(2);
    // No filter and no id, an id with a filter, a bad time: refused.
    for args in [
        vec!["memory", "forget"],
        vec!["memory", "forget", "x", "--tag", "old"],
        vec!["memory", "forget", "--since", "last tuesday"],
    ] {
        sb.cmd().args(&args).assert().code(2);
    }
    let id = keep["id"].as_str().unwrap();
    sb.cmd()
        .args(["memory", "pin", id, "--off"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Unpinned"));
    assert_eq!(json(&sb, &["memory", "stats", "--json"])["pinned"], 0);
    // Everything was embedded by the configured model: nothing to redo.
    let report = json(&sb, &["memory", "reindex", "--json"]);
    assert_eq!(report["reembedded"], 0);
    assert_eq!(report["current"], 2);
    assert_eq!(json(&sb, &["memory", "stats", "--json"])["to_reindex"], 0);
}
