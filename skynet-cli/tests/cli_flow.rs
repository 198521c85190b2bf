//! End to end through the real `skynet` binary, real SQLite file, real
//! processes, in a temporary git repository.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use predicates::prelude::*;

#[test]
fn read_only_run_succeeds_and_is_recorded() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["run", "check git status and list the files"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("notes.txt"))
        .stdout(predicate::str::contains("succeeded"));
    let jobs = sb.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["status"], "succeeded");
    assert_eq!(jobs[0]["risk"], "READ_ONLY");
    let id = jobs[0]["id"].as_str().unwrap();
    let job = sb.job(id);
    let steps = job["plan"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert!(steps.iter().all(|s| s["state"]["status"] == "succeeded"));
    assert_eq!(job["approval"]["approver"], "auto");
    // The audit chain verifies.
    sb.cmd()
        .args(["events", id])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("hash chain intact"));
    sb.cmd()
        .args(["logs", id])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("notes.txt"));
}

#[test]
fn plan_json_has_the_documented_shape() {
    let sb = Sandbox::new();
    let plan = sb.json(&["plan", "read notes.txt"]);
    assert_eq!(plan["risk"], "READ_ONLY");
    assert_eq!(plan["hash"].as_str().unwrap().len(), 64);
    let step = &plan["steps"][0];
    assert_eq!(step["action"]["kind"], "read_file");
    assert_eq!(step["action"]["path"], "notes.txt");
    assert_eq!(
        step["command"],
        serde_json::json!(["cat", "--", "notes.txt"])
    );
    assert_eq!(step["risk"], "READ_ONLY");
    assert!(step["description"].is_string());
    // Duration estimates: read_file's default, per step and in total.
    assert_eq!(step["estimate_ms"], 50);
    assert_eq!(plan["estimate_ms"], 50);
    // A dry run stores nothing.
    assert!(sb.jobs().is_empty());
}

#[test]
fn plan_and_show_print_duration_estimates() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["plan", "check git status and search for TODO"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("estimated duration: about 700 ms"))
        .stdout(predicate::str::contains("Check git status (~200 ms)"))
        .stdout(predicate::str::contains("(~500 ms)"));
    sb.cmd().args(["run", "check git status"]).assert().code(0);
    let id = sb.jobs()[0]["id"].as_str().unwrap().to_string();
    sb.cmd()
        .args(["show", &id])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("estimated duration: about 200 ms"));
    assert_eq!(sb.job(&id)["plan"]["estimate_ms"], 200);
}

#[test]
fn write_without_yes_waits_for_approval_and_wrong_hash_is_refused() {
    let sb = Sandbox::new();
    let out = sb.path("out.txt");
    sb.cmd()
        .args(["run", "write 'hello world' to out.txt"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("skynet approve"));
    assert!(!out.exists(), "nothing may be written before approval");
    let jobs = sb.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["status"], "planned");
    let id = jobs[0]["id"].as_str().unwrap().to_string();
    let hash = jobs[0]["plan"]["hash"].as_str().unwrap().to_string();

    // A wrong hash is refused and changes nothing.
    sb.cmd()
        .args(["approve", &id, "--plan-hash", "deadbeefdeadbeef"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("stale approval"));
    assert!(!out.exists());
    assert_eq!(sb.job(&id)["status"], "planned");

    // Without a hash and without a terminal, approval is refused.
    sb.cmd().args(["approve", &id]).assert().code(3);
    assert_eq!(sb.job(&id)["status"], "planned");

    // The right hash runs it, exactly once, here.
    sb.cmd()
        .args(["approve", &id, "--plan-hash", &hash])
        .assert()
        .code(0);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "hello world");
    let job = sb.job(&id);
    assert_eq!(job["status"], "succeeded");
    assert_eq!(job["attempts"], 1);
    assert!(
        job["approval"]["approver"]
            .as_str()
            .unwrap()
            .starts_with("cli:")
    );

    // Approving again is refused: it is no longer awaiting approval.
    sb.cmd()
        .args(["approve", &id, "--plan-hash", &hash])
        .assert()
        .code(2);
}

#[test]
fn yes_approves_and_runs_write_plans() {
    let sb = Sandbox::new();
    sb.cmd()
        .args([
            "run",
            "--yes",
            "create a directory build, then write 'x' to build/a.txt",
        ])
        .assert()
        .code(0);
    assert_eq!(
        std::fs::read_to_string(sb.path("build/a.txt")).unwrap(),
        "x"
    );
}

#[test]
fn deny_and_cancel_planned_jobs() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["submit", "write 'a' to a.txt"])
        .assert()
        .code(0);
    sb.cmd()
        .args(["submit", "write 'b' to b.txt"])
        .assert()
        .code(0);
    let jobs = sb.jobs();
    let (a, b) = (
        jobs[1]["id"].as_str().unwrap(),
        jobs[0]["id"].as_str().unwrap(),
    );
    sb.cmd()
        .args(["deny", a, "--reason", "not today"])
        .assert()
        .code(0);
    sb.cmd().args(["cancel", b]).assert().code(0);
    assert_eq!(sb.job(a)["status"], "denied");
    assert_eq!(sb.job(a)["error"], "not today");
    assert_eq!(sb.job(b)["status"], "cancelled");
    // Terminal jobs cannot be approved or denied again.
    sb.cmd().args(["deny", a]).assert().code(2);
    assert!(!sb.path("a.txt").exists() && !sb.path("b.txt").exists());
}

#[test]
fn forbidden_commands_never_run_even_with_yes() {
    let sb = Sandbox::new();
    let parent_canary = sb
        .repo
        .path()
        .parent()
        .unwrap()
        .join(format!("skynet-canary-{}", std::process::id()));
    let cases = [
        // a forbidden command hidden behind a harmless one in a shell script
        "run `sh -c 'touch canary && mkfs.ext4 /dev/sda1'`".to_string(),
        // a path outside the sandbox root
        format!("run `touch {}`", parent_canary.display()),
        "run `touch ../escaped-canary`".to_string(),
        "run `rm -rf /`".to_string(),
    ];
    for intent in &cases {
        sb.cmd()
            .args(["run", "--yes", intent])
            .assert()
            .code(4)
            .stderr(predicate::str::contains("forbidden"));
    }
    assert!(!sb.path("canary").exists());
    assert!(!parent_canary.exists());
    assert!(
        !sb.repo
            .path()
            .parent()
            .unwrap()
            .join("escaped-canary")
            .exists()
    );
    assert!(sb.jobs().is_empty(), "a refused plan stores nothing");
}

#[test]
fn policy_check_explains_itself() {
    let sb = Sandbox::new();
    let d = sb.json(&["policy", "check", "--", "git", "status"]);
    assert_eq!(d["risk"], "READ_ONLY");
    assert_eq!(d["verdict"], "allow");
    assert!(d["rule"].is_string());
    assert!(!d["reasons"].as_array().unwrap().is_empty());
    let out = sb
        .cmd()
        .args([
            "policy", "check", "--json", "--", "git", "push", "origin", "main",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["risk"], "ADMIN");
    assert_eq!(d["verdict"], "prompt");
    sb.cmd()
        .args(["policy", "check", "--", "shutdown", "-h", "now"])
        .assert()
        .code(4);
}

#[test]
fn control_characters_never_reach_the_terminal_raw() {
    let sb = Sandbox::new();
    // An argv that would repaint the approver's line as something harmless.
    let intent = "run `touch \"x\u{1b}[2K\rls\"`";
    let out = sb.cmd().args(["plan", intent]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\r'),
        "{stdout:?}"
    );
    assert!(
        stdout.contains("\\u{1b}"),
        "the escape is shown escaped: {stdout}"
    );
}

#[test]
fn worker_with_prefetch_drains_the_queue_with_intact_chains() {
    let sb = Sandbox::new();
    for _ in 0..5 {
        sb.cmd()
            .args(["submit", "check git status and list the files"])
            .assert()
            .code(0);
    }
    sb.cmd()
        .args(["worker", "--once", "--concurrency", "1", "--prefetch", "4"])
        .assert()
        .code(0);
    let jobs = sb.jobs();
    assert_eq!(jobs.len(), 5);
    for job in &jobs {
        assert_eq!(job["status"], "succeeded", "{job}");
        sb.cmd()
            .args(["events", job["id"].as_str().unwrap()])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("hash chain intact"));
    }
}

#[test]
fn workers_lists_a_worker_that_ran_and_stopped() {
    let sb = Sandbox::new();
    sb.cmd()
        .args(["workers"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("No workers have registered."));
    sb.cmd().args(["submit", "list the files"]).assert().code(0);
    sb.cmd()
        .args([
            "worker",
            "--once",
            "--id",
            "ci-worker-1",
            "--concurrency",
            "3",
        ])
        .assert()
        .code(0);
    let workers = sb.json(&["workers"]);
    let workers = workers.as_array().expect("a JSON array");
    assert_eq!(workers.len(), 1, "{workers:?}");
    let w = &workers[0];
    assert_eq!(w["id"], "ci-worker-1");
    assert_eq!(w["capacity"], 3);
    assert_eq!(w["pid"].as_u64().map(|p| p > 0), Some(true));
    assert_eq!(w["state"], "offline", "a worker that exited is offline");
    assert!(w["stopped_at"].is_string(), "{w}");
    assert!(
        w["providers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|n| n == "local")),
        "{w}"
    );
    sb.cmd()
        .args(["workers"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("ci-worker-1").and(predicate::str::contains("offline")));
}

#[test]
fn an_idempotency_key_reused_for_another_intent_is_refused() {
    let sb = Sandbox::new();
    let submit = |intent: &str| {
        sb.cmd()
            .args(["submit", "--json", "--idempotency-key", "k-1", intent])
            .output()
            .unwrap()
    };
    let a = submit("list the files");
    let b = submit("list the files");
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)));
    let id = |out: &std::process::Output| {
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"].clone()
    };
    assert_eq!(id(&a), id(&b), "the same request returns the first job");
    let c = submit("read notes.txt");
    assert_eq!(c.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&c.stderr);
    assert!(stderr.contains("idempotency key"), "{stderr}");
    assert!(stderr.contains("skynet show"), "the CLI's hint: {stderr}");
    let body: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(sb.jobs().len(), 1);
}

/// `skynet events` without a job prints the global log; `--type` filters
/// it; `--json` prints one event per line; a followed finished job's
/// stream ends; an unknown type is bad input.
#[test]
fn the_global_event_log_lists_filters_and_follows() {
    let sb = Sandbox::new();
    sb.cmd().args(["run", "check git status"]).assert().code(0);
    let id = sb.jobs()[0]["id"].as_str().unwrap().to_string();
    sb.cmd()
        .args(["events"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("job.created"))
        .stdout(predicate::str::contains("job.succeeded"));
    let out = sb
        .cmd()
        .args(["events", "--type", "job.succeeded,job.started", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = lines.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["job.started", "job.succeeded"]);
    assert_eq!(lines[1]["job"], id.as_str());
    assert_eq!(lines[1]["payload"]["to"], "succeeded");
    sb.cmd()
        .args(["events", &id, "--follow", "--type", "step.*"])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("step.finished"));
    sb.cmd()
        .args(["events", "--type", "job.exploded"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown event type"));
}
