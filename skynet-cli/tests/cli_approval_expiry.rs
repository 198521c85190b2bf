//! The CLI honours the approval expiry (`SKYNET_APPROVAL_TTL`): a plan
//! approved too late is refused with a message saying it expired, and
//! nothing runs; `skynet telegram` without a token says what to set.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn a_late_approval_is_refused_and_nothing_runs() {
    let sb = Sandbox::new();
    let out = sb.path("late.txt");
    sb.cmd()
        // Lapsed before any approval can arrive: no sleep needed.
        .env("SKYNET_APPROVAL_TTL", "1ns")
        .args(["run", "write 'late' to late.txt"])
        .assert()
        .code(3);
    let jobs = sb.jobs();
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    let hash = jobs[0]["plan"]["hash"].as_str().unwrap().to_string();
    assert!(jobs[0]["expires_at"].is_string(), "{}", jobs[0]);
    sb.cmd()
        .args(["approve", &id, "--plan-hash", &hash])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expired"));
    assert!(!out.exists());
    assert_eq!(sb.job(&id)["status"], "planned");
}

#[test]
fn telegram_without_a_token_says_what_to_set() {
    let sb = Sandbox::new();
    sb.cmd()
        .env_remove("TELEGRAM_BOT_TOKEN")
        .env_remove("TELEGRAM_BOT_TOKEN_FILE")
        .env("TELEGRAM_ALLOWED_USER_ID", "1")
        .args(["telegram"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("TELEGRAM_BOT_TOKEN"));
}
