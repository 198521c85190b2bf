//! `skynet schedule`, `skynet trigger` and `skynet initiative`: a schedule
//! is added (by cron in a time zone, or by interval), listed, paused,
//! resumed and removed; so is a trigger (with a payload condition and a
//! rate); bad input is exit 2 and stores nothing; the initiative's kill
//! switch is set and cleared and its status says so; `skynet webhook`
//! adds, lists, tests and removes an endpoint and refuses a metadata
//! address.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use predicates::prelude::*;

fn json(sb: &Sandbox, args: &[&str]) -> serde_json::Value {
    let out = sb.cmd().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The first job `source` submitted that succeeded, waited for up to 30 s.
fn first_to_succeed(sb: &Sandbox, source: &str) -> serde_json::Value {
    eventually(
        std::time::Duration::from_secs(30),
        &format!("a job of the {source} to succeed"),
        || {
            sb.jobs_from(source)
                .into_iter()
                .find(|j| j["status"] == "succeeded")
        },
    )
}

#[test]
fn schedules_are_added_listed_paused_resumed_and_removed() {
    let sb = Sandbox::new();
    let cron = json(
        &sb,
        &[
            "schedule",
            "add",
            "--json",
            "--tz",
            "Europe/Paris",
            "0 9 * * *",
            "list the files",
        ],
    );
    assert_eq!(cron["cron"], "0 9 * * *");
    assert_eq!(cron["time_zone"], "Europe/Paris");
    assert_eq!(cron["missed"], "skip");
    let every = json(
        &sb,
        &[
            "schedule",
            "add",
            "--json",
            "--every",
            "10m",
            "--catch-up",
            "list the files",
        ],
    );
    assert_eq!(every["every_ms"], 600_000);
    assert_eq!(every["missed"], "catch_up");
    let list = json(&sb, &["schedule", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let id = cron["id"].as_str().unwrap();
    sb.cmd()
        .args(["schedule", "pause", id])
        .assert()
        .success()
        .stdout(predicate::str::contains("paused"));
    sb.cmd()
        .args(["schedule", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("paused").and(predicate::str::contains("every 10m")));
    sb.cmd()
        .args(["schedule", "resume", id])
        .assert()
        .success()
        .stdout(predicate::str::contains("resumed"));
    sb.cmd().args(["schedule", "remove", id]).assert().success();
    let list = json(&sb, &["schedule", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    sb.cmd()
        .args(["schedule", "remove", id])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("not found")
                .and(predicate::str::contains("skynet schedule list")),
        );
}

#[test]
fn bad_schedules_exit_2_and_store_nothing() {
    let sb = Sandbox::new();
    for (args, says) in [
        (vec!["*/5 * * *", "list the files"], "bad cron expression"),
        (
            vec!["--tz", "Mars/Olympus", "0 9 * * *", "list the files"],
            "unknown time zone",
        ),
        (vec!["--every", "0s", "list the files"], "--every"),
        (vec!["--every", "500ms", "list the files"], "out of range"),
        (
            vec!["--every", "10m", "* * * * *", "list the files"],
            "only the intent",
        ),
        (vec!["list the files"], "cron expression and an intent"),
    ] {
        let mut full = vec!["schedule", "add"];
        full.extend(args.iter());
        sb.cmd()
            .args(&full)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    let list = json(&sb, &["schedule", "list", "--json"]);
    assert!(list.as_array().unwrap().is_empty());
}

#[test]
fn triggers_are_added_listed_paused_resumed_and_removed() {
    let sb = Sandbox::new();
    let t = json(
        &sb,
        &[
            "trigger",
            "add",
            "--on",
            "provider.degraded",
            "--where",
            "provider=docker",
            "--max",
            "2/hour",
            "--json",
            "list the files",
        ],
    );
    assert_eq!(t["on"], "provider.degraded");
    assert_eq!(t["conditions"]["provider"], "docker");
    assert_eq!(t["rate"]["max_firings"], 2);
    let id = t["id"].as_str().unwrap();
    sb.cmd()
        .args([
            "trigger",
            "add",
            "--on",
            "job.failed,job.timed_out",
            "list the files",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("at most 3/hour"));
    sb.cmd()
        .args(["trigger", "pause", id])
        .assert()
        .success()
        .stdout(predicate::str::contains("paused"));
    sb.cmd()
        .args(["trigger", "list"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("paused").and(predicate::str::contains(
                "provider.degraded where provider=docker",
            )),
        );
    sb.cmd().args(["trigger", "resume", id]).assert().success();
    sb.cmd().args(["trigger", "remove", id]).assert().success();
    assert_eq!(
        json(&sb, &["trigger", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    sb.cmd()
        .args(["trigger", "remove", id])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("skynet trigger list"));
    for (args, says) in [
        (vec!["--on", "job.exploded", "look"], "unknown event type"),
        (vec!["--on", "job.failed", " "], "intent"),
        (
            vec!["--on", "job.failed", "--max", "0/hour", "look"],
            "at least 1",
        ),
        (
            vec!["--on", "job.failed", "--where", "provider", "look"],
            "FIELD=VALUE",
        ),
    ] {
        let mut full = vec!["trigger", "add"];
        full.extend(args.iter());
        sb.cmd()
            .args(&full)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says));
    }
    assert_eq!(
        json(&sb, &["trigger", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn the_initiative_kill_switch_is_set_and_cleared() {
    let sb = Sandbox::new();
    let status = json(&sb, &["initiative", "status", "--json"]);
    assert_eq!(status["enabled"], false);
    assert_eq!(status["usage"]["paused"], false);
    assert_eq!(status["budget"]["per_hour"], 5);
    sb.cmd()
        .args(["initiative", "pause"])
        .assert()
        .success()
        .stdout(predicate::str::contains("SET (paused)"));
    let status = json(&sb, &["initiative", "status", "--json"]);
    assert_eq!(status["usage"]["paused"], true);
    assert!(
        status["usage"]["changed_by"]
            .as_str()
            .unwrap()
            .starts_with("cli:")
    );
    sb.cmd()
        .env("SKYNET_INITIATIVE", "on")
        .args(["initiative", "resume"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("on in this configuration")
                .and(predicate::str::contains("clear")),
        );
}

/// A real `skynet worker` process fires an interval schedule as an
/// ordinary job and runs it to success; stopped, it fires nothing more.
#[test]
fn a_worker_process_fires_a_schedule_and_runs_its_jobs() {
    use std::time::Duration;
    let sb = Sandbox::new();
    json(
        &sb,
        &[
            "schedule",
            "add",
            "--json",
            "--every",
            "1s",
            "list the files",
        ],
    );
    let mut worker = sb.worker_cmd(2).spawn().unwrap();
    let done = first_to_succeed(&sb, "schedule");
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(done["intent"], "list the files");
    assert!(done["origin"]["schedule"].is_string(), "{done}");
    let fired = sb.jobs_from("schedule").len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        sb.jobs_from("schedule").len(),
        fired,
        "nothing fires without a process"
    );
}

/// A real `skynet worker` process fires a trigger on a job someone
/// submitted, runs the trigger's job, and that job's own success fires
/// nothing more (no loop).
#[test]
fn a_worker_process_fires_a_trigger_once_and_never_on_its_own_job() {
    use std::time::Duration;
    let sb = Sandbox::new();
    json(
        &sb,
        &[
            "trigger",
            "add",
            "--json",
            "--on",
            "job.succeeded",
            "list the files",
        ],
    );
    let mut worker = sb.worker_cmd(2).spawn().unwrap();
    sb.cmd()
        .args(["submit", "list the files"])
        .assert()
        .success();
    let done = first_to_succeed(&sb, "trigger");
    assert!(done["origin"]["trigger"].is_string(), "{done}");
    // The trigger's own job succeeded: give the loop a few rounds to
    // prove it fires nothing for it.
    std::thread::sleep(Duration::from_millis(2500));
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(sb.jobs_from("trigger").len(), 1, "one firing, no loop");
}

/// `skynet webhook`: an endpoint is added (its secret printed once),
/// listed without it, tested against a receiver on 127.0.0.1 (opened with
/// SKYNET_WEBHOOK_ALLOW), and removed; a metadata address is refused with
/// exit 4 and stores nothing.
#[test]
fn webhooks_are_added_listed_tested_and_removed() {
    use std::io::{Read, Write};
    let sb = Sandbox::new();
    sb.cmd()
        .args(["webhook", "add", "http://169.254.169.254/latest/meta-data"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("SKYNET_WEBHOOK_ALLOW"));
    sb.cmd()
        .args(["webhook", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("No webhooks."));
    // A receiver answering 204 to one request.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("webhook.test") {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the request ended early");
            seen.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            .unwrap();
        String::from_utf8_lossy(&seen).to_lowercase()
    });
    let url = format!("http://127.0.0.1:{port}/hook?token=T0K");
    let out = sb
        .cmd()
        .env("SKYNET_WEBHOOK_ALLOW", "127.0.0.1")
        .args(["webhook", "add", &url, "--type", "job.failed", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = added["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let id = added["id"].as_str().unwrap().to_string();
    let list = sb
        .cmd()
        .args(["webhook", "list", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains(&id) && !text.contains(&secret) && !text.contains("T0K"),
        "{text}"
    );
    sb.cmd()
        .env("SKYNET_WEBHOOK_ALLOW", "127.0.0.1")
        .args(["webhook", "test", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("answered 204"));
    let request = receiver.join().unwrap();
    for header in [
        "webhook-id: msg_test_",
        "webhook-timestamp: ",
        "webhook-signature: v1,",
    ] {
        assert!(request.contains(header), "{header} missing from {request}");
    }
    sb.cmd().args(["webhook", "remove", &id]).assert().success();
    sb.cmd()
        .args(["webhook", "remove", &id])
        .assert()
        .failure()
        .stderr(predicate::str::contains("skynet webhook list"));
}
