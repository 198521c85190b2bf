//! Timeouts, cancellation and crash recovery with real processes: process
//! groups must die whole, a killed worker's jobs must be recovered by the
//! next one, and an interrupted WRITE step must never be silently re-run.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

const SLEEPER: &str = "run `sh -c 'echo $$; sleep 1000 & sleep 1000'`";

#[test]
fn step_timeout_kills_the_whole_process_group() {
    let sb = Sandbox::unsandboxed();
    let out = sb
        .cmd()
        .args(["run", "--yes", "--step-timeout", "1s", SLEEPER])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "timed out jobs exit 1: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pgid = first_number_line(&stdout).expect("the script printed its pid");
    assert_group_gone(pgid, Duration::from_secs(5));
    let job = &sb.jobs()[0];
    assert_eq!(job["status"], "timed_out");
}

#[test]
fn show_names_the_timeout_level_that_cut_a_step() {
    // The local provider's default (60 s originally), set to 1 s.
    let sb = Sandbox::unsandboxed();
    let out = sb
        .cmd()
        .env("SKYNET_LOCAL_TIMEOUT", "1s")
        .args(["run", "--yes", "run `sleep 30`"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "timed out jobs exit 1");
    let id = sb.jobs()[0]["id"].as_str().unwrap().to_string();
    let shown = sb.cmd().args(["show", &id]).output().unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("timed out after 1s (provider local default)"),
        "{text}"
    );
    assert!(
        text.contains("[timed_out: provider limit, 1.0 s]"),
        "{text}"
    );
    let job = sb.job(&id);
    assert_eq!(job["failure"]["timeout"]["level"], "provider");
    assert_eq!(
        job["plan"]["steps"][0]["state"]["timeout"]["limit_ms"],
        1000
    );
}

#[test]
fn cancel_from_another_process_kills_the_running_step() {
    let sb = Sandbox::unsandboxed();
    let mut run = sb
        .std_cmd()
        .args(["run", "--yes", SLEEPER])
        .env("SKYNET_HEARTBEAT", "200ms")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(run.stdout.take().unwrap()).lines();
    let pgid = loop {
        let line = lines.next().expect("output before exit").unwrap();
        if let Ok(n) = line.trim().parse::<i32>() {
            break n;
        }
    };
    assert!(group_alive(pgid));
    let id = sb.json(&["jobs", "--status", "running"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let asked = Instant::now();
    sb.cmd().args(["cancel", &id]).assert().code(0);
    assert_group_gone(pgid, Duration::from_secs(5));
    println!(
        "cancel reached the step and killed its group in {:?}",
        asked.elapsed()
    );
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    assert_eq!(sb.job(&id)["status"], "cancelled");
}

/// A policy for the crash test: `sleep` counts as READ_ONLY here so a slow
/// READ_ONLY job exists; shell scripts stay at least WRITE.
const CRASH_RULES: &str = include_str!("fixtures/sleep_read_only.toml");

#[test]
fn killed_worker_read_only_job_resumes_write_job_needs_review() {
    let sb = Sandbox::unsandboxed();
    let rules = sb.home.path().join("rules.toml");
    std::fs::write(&rules, CRASH_RULES).unwrap();
    let with_env = |mut c: std::process::Command| {
        c.env("SKYNET_POLICY_FILE", &rules)
            .env("SKYNET_LEASE", "2s")
            .env("SKYNET_HEARTBEAT", "250ms")
            .env("SKYNET_POLL_INTERVAL", "100ms");
        c
    };
    let cli = |args: &[&str]| {
        let mut c = sb.cmd();
        c.env("SKYNET_POLICY_FILE", &rules);
        c.args(args).assert().code(0);
    };
    cli(&["submit", "run `sleep 3`, then list the files"]);
    cli(&[
        "submit",
        "run `sh -c 'echo $$ >> pids.txt; echo run >> runs.txt; sleep 30'`",
    ]);
    let jobs = sb.jobs();
    let (ro, wr) = (jobs[1].clone(), jobs[0].clone());
    assert_eq!(ro["status"], "queued");
    assert_eq!(wr["status"], "planned");
    let (ro, wr_hash, wr) = (
        ro["id"].as_str().unwrap().to_string(),
        wr["plan"]["hash"].as_str().unwrap().to_string(),
        wr["id"].as_str().unwrap().to_string(),
    );
    cli(&["approve", &wr, "--plan-hash", &wr_hash, "--detach"]);

    let mut first = with_env(sb.std_cmd());
    let mut first = first
        .args(["worker", "--concurrency", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let step_running = |id: &str| sb.job(id)["plan"]["steps"][0]["state"]["status"] == "running";
    eventually(Duration::from_secs(20), "both first steps to run", || {
        (step_running(&ro) && step_running(&wr) && sb.path("runs.txt").exists()).then_some(())
    });
    first.kill().unwrap(); // SIGKILL: no chance to clean up
    first.wait().unwrap();
    let killed_at = Instant::now();

    let mut second = with_env(sb.std_cmd());
    let mut second = second
        .args(["worker", "--concurrency", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let done = eventually(Duration::from_secs(30), "recovery", || {
        let (a, b) = (sb.job(&ro), sb.job(&wr));
        (a["status"] == "succeeded" && b["status"] == "needs_review").then_some((a, b))
    });
    println!(
        "recovered after {:?} (lease 2s): READ_ONLY job resumed, WRITE job needs review",
        killed_at.elapsed()
    );
    let (a, b) = done;
    assert_eq!(a["attempts"], 2, "the READ_ONLY job ran again exactly once");
    assert!(
        b["error"].as_str().unwrap().contains("step 1"),
        "{}",
        b["error"]
    );
    assert_eq!(
        std::fs::read_to_string(sb.path("runs.txt"))
            .unwrap()
            .lines()
            .count(),
        1,
        "the interrupted WRITE step was not re-run"
    );
    assert_eq!(sb.jobs().len(), 2, "nothing lost, nothing duplicated");
    assert_late_completion_refused(&sb, &ro);
    assert_late_completion_refused(&sb, &wr);
    for id in [&ro, &wr] {
        sb.cmd().args(["events", id]).assert().code(0);
    }

    // SIGTERM: the worker stops cleanly.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(second.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = second.wait().unwrap();
    assert!(status.success(), "worker exit on SIGTERM: {status:?}");

    // The orphaned WRITE step from the killed worker is still sleeping: clean it up.
    if let Ok(pids) = std::fs::read_to_string(sb.path("pids.txt")) {
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// The killed worker's lease (from the job's first claim event) can no
/// longer complete the job: the store refuses it and nothing changes.
fn assert_late_completion_refused(sb: &Sandbox, id: &str) {
    let events = sb.json(&["events", id]);
    let first_claim = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "status" && e["data"]["to"] == "running")
        .expect("a claim event");
    let dead_lease = first_claim["data"]["lease"].as_str().unwrap().to_string();
    let url = format!("sqlite://{}", sb.home.path().join("skynet.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = skynet_core::store::connect(&url).await.unwrap();
        let job_id = skynet_core::JobId::parse(id).unwrap();
        let before = store.get_job(&job_id).await.unwrap();
        let late = store
            .complete(
                &job_id,
                &dead_lease,
                skynet_core::store::Completion::Succeeded,
            )
            .await;
        assert!(
            matches!(late, Err(skynet_core::Error::LeaseLost(_))),
            "a dead worker's completion must be refused: {late:?}"
        );
        let after = store.get_job(&job_id).await.unwrap();
        assert_eq!(after.status, before.status);
        assert_eq!(after.finished_at, before.finished_at);
    });
}

#[test]
fn run_beside_a_worker_runs_each_job_once_and_shows_its_output() {
    let sb = Sandbox::unsandboxed();
    let mut worker = sb
        .worker_cmd(2)
        .env("SKYNET_POLL_INTERVAL", "5ms")
        .spawn()
        .unwrap();
    // Whoever claims each job (this `run` or the worker), `run` shows its
    // output and its outcome.
    for _ in 0..8 {
        sb.cmd()
            .args(["run", "read notes.txt"])
            .assert()
            .code(0)
            .stdout(predicates::str::contains("remember the milk"))
            .stdout(predicates::str::contains("succeeded"));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let worker_tag = format!("-{}-", worker.id());
    assert!(worker.wait().unwrap().success());
    let jobs = sb.jobs();
    assert_eq!(jobs.len(), 8);
    let by_worker = jobs
        .iter()
        .filter(|j| {
            let events = sb.json(&["events", j["id"].as_str().unwrap()]);
            events["events"].as_array().unwrap().iter().any(|e| {
                e["data"]["to"] == "running"
                    && e["data"]["worker"]
                        .as_str()
                        .unwrap_or("")
                        .contains(&worker_tag)
            })
        })
        .count();
    println!("{by_worker} of 8 jobs were claimed by the background worker, the rest by `run`");
    assert!(
        jobs.iter()
            .all(|j| j["status"] == "succeeded" && j["attempts"] == 1)
    );
}

#[test]
fn logs_follow_prints_lines_as_they_come_and_ends_with_the_job() {
    let sb = Sandbox::unsandboxed();
    let mut run = sb
        .std_cmd()
        .args([
            "run",
            "--yes",
            "run `sh -c 'echo first; sleep 1; echo second'`",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let id = eventually(Duration::from_secs(10), "the job to run", || {
        let running = sb.json(&["jobs", "--status", "running"]);
        running[0]["id"].as_str().map(str::to_string)
    });
    let out = sb.cmd().args(["logs", "-f", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        ["first", "second"],
        "{text}"
    );
    assert!(run.wait().unwrap().success());
    assert_eq!(
        sb.job(&id)["status"],
        "succeeded",
        "-f returned only once the job ended"
    );
}
