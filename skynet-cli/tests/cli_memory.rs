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
