//! The rough edges a new user hit in their first hour, each driven through
//! the real `skynet` binary: the message says what happened and what to do.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use predicates::prelude::*;
use std::time::Duration;

#[test]
fn queued_work_with_no_worker_online_says_how_to_run_it() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args(["submit", "list the files"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no worker is online"), "{stderr}");
    assert!(stderr.contains("skynet worker --once"), "{stderr}");
    // `--json` keeps stdout one document; the note is on stderr.
    let out = sb
        .cmd()
        .args(["submit", "--json", "list the files"])
        .output()
        .unwrap();
    let _: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no worker is online"));

    // With a worker running, nothing to say.
    let mut worker = sb.std_cmd().arg("worker").spawn().unwrap();
    eventually(Duration::from_secs(20), "the worker registers", || {
        let workers = sb.json(&["workers"]);
        workers
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["state"] != "offline")
            .then_some(())
    });
    let out = sb
        .cmd()
        .args(["submit", "list the files"])
        .output()
        .unwrap();
    let _ = worker.kill();
    let _ = worker.wait();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("no worker"), "{stderr}");
}

#[test]
fn a_toml_error_keeps_its_line_breaks() {
    let sb = Sandbox::new();
    std::fs::write(
        sb.home.path().join("skynet.toml"),
        "provider = \"local\"\n[worker]\nlease = 30\n",
    )
    .unwrap();
    let out = sb.cmd().arg("jobs").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("\\n"), "escaped line breaks: {stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.trim_start().starts_with("3 | lease = 30")),
        "{stderr}"
    );
}

#[test]
fn a_taken_address_is_named() {
    let sb = Sandbox::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    sb.cmd()
        .args(["serve", "--bind", &addr])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("cannot listen on {addr}")))
        .stderr(predicate::str::contains("already in use"));
}

#[test]
fn an_unconfigured_provider_names_the_setting_to_set() {
    let sb = Sandbox::new();
    sb.cmd()
        .env_remove("SKYNET_DOCKER_IMAGE")
        .args(["run", "--provider", "docker", "list the files"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("set SKYNET_DOCKER_IMAGE"));
    assert!(sb.jobs().is_empty());
}

#[test]
fn a_misconfigured_provider_breaks_only_what_uses_it() {
    let sb = Sandbox::new();
    let broken = |cmd: &mut assert_cmd::Command| {
        cmd.env("SKYNET_DOCKER_IMAGE", "busybox")
            .env("SKYNET_DOCKER_MEMORY", "lots");
    };
    let mut check = sb.cmd();
    broken(&mut check);
    check
        .args(["policy", "check", "--", "ls"])
        .assert()
        .success()
        .stderr(predicate::str::contains("the docker provider is left out"));
    let mut run = sb.cmd();
    broken(&mut run);
    run.args(["run", "list the files"]).assert().success();
    let mut run = sb.cmd();
    broken(&mut run);
    run.args(["run", "--provider", "docker", "list the files"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("\"docker\" cannot be used"))
        .stderr(predicate::str::contains("lots"));
}

#[test]
fn a_short_plan_hash_is_too_short_not_stale() {
    let sb = Sandbox::new();
    let job = sb.json(&["submit", "write 'x' to a.txt"]);
    let id = job["id"].as_str().unwrap();
    let hash = job["plan"]["hash"].as_str().unwrap();
    sb.cmd()
        .args(["approve", id, "--plan-hash", &hash[..8]])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("too short"))
        .stderr(predicate::str::contains("stale").not());
    assert_eq!(sb.job(id)["status"], "planned");
    // Approved once, approving again says so in words.
    sb.cmd()
        .args(["approve", id, "--plan-hash", hash, "--detach"])
        .assert()
        .success();
    sb.cmd()
        .args(["approve", id, "--plan-hash", hash, "--detach"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("its plan was approved already"))
        .stderr(predicate::str::contains("cannot become").not());
}

#[test]
fn serve_writes_no_colour_codes_off_a_terminal() {
    let sb = Sandbox::new();
    let mut serve = sb
        .std_cmd()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("SKYNET_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes as lines arrive; once it says it is serving, stop it
    // the way an operator does (it logs the stop at INFO).
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let readers: Vec<_> = [
        Box::new(serve.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(serve.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|pipe| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufRead::split(std::io::BufReader::new(pipe), b'\n') {
                let Ok(mut line) = line else { break };
                line.push(b'\n');
                let _ = tx.send(line);
            }
        })
    })
    .collect();
    drop(tx);
    let mut all = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&all).contains("skynet serving on") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => all.extend(line),
            Err(_) => break,
        }
    }
    let pid = nix::unistd::Pid::from_raw(i32::try_from(serve.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    serve.wait().unwrap();
    for reader in readers {
        reader.join().unwrap();
    }
    all.extend(rx.into_iter().flatten());
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("skynet serving on"), "{text}");
    assert!(text.contains("INFO"), "an info line was logged: {text}");
    assert!(!all.contains(&0x1b), "colour codes in a pipe: {text:?}");
}
