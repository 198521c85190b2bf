//! `skynet providers`, `skynet health` and the background sentinel of
//! `skynet worker`, through the real binary.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use predicates::prelude::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

/// A Docker provider pointed at a socket nobody listens on.
fn broken_docker(sb: &Sandbox, cmd: &mut assert_cmd::Command) {
    let socket = sb.home.path().join("no-docker.sock");
    cmd.env("SKYNET_DOCKER_IMAGE", "busybox:1")
        .env("SKYNET_DOCKER_HOST", format!("unix://{}", socket.display()));
}

fn provider<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no provider {name} in {list}"))
}

#[test]
fn providers_json_reports_each_provider_after_a_check() {
    let sb = Sandbox::new();
    let list = sb.json(&["providers"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let mock = provider(&list, "mock");
    assert_eq!(mock["status"], "healthy");
    assert_eq!(mock["healthy"], true);
    assert_eq!(mock["consecutive_failures"], 0);
    assert_eq!(mock["health_ratio"], 1.0);
    assert!(mock["latency_ms"].is_u64(), "{mock}");
    assert!(mock["message"].as_str().unwrap().contains("mock"));
    provider(&list, "local");

    let mut cmd = sb.cmd();
    broken_docker(&sb, &mut cmd);
    let out = cmd.args(["providers", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "a listing, not a verdict");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let docker = provider(&list, "docker");
    assert_eq!(docker["status"], "unhealthy", "{docker}");
    assert_eq!(docker["healthy"], false);
    assert_eq!(docker["consecutive_failures"], 1);
    assert!(!docker["message"].as_str().unwrap().is_empty());
}

#[test]
fn health_json_names_components_and_exits_6_when_something_is_unhealthy() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["health", "--json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for c in ["database", "queue", "workers", "providers"] {
        assert!(h["components"][c]["status"].is_string(), "{c}: {h}");
    }
    assert_eq!(h["components"]["database"]["status"], "healthy");
    assert_eq!(h["components"]["workers"]["status"], "healthy");
    assert_eq!(h["queue_depth"], 0);
    assert_eq!(h["workers_online"], 0);
    assert!(h["oldest_queued_age_secs"].is_null());

    // A queued job and no worker: nothing will run it.
    sb.cmd().args(["submit", "list the files"]).assert().code(0);
    let out = sb.cmd().args(["health", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(6));
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h["status"], "unhealthy");
    assert_eq!(h["queue_depth"], 1);
    assert_eq!(h["components"]["workers"]["status"], "unhealthy");
    assert!(
        h["components"]["workers"]["message"]
            .as_str()
            .unwrap()
            .contains("start a worker")
    );
    // The text form adds the CLI's own hint.
    sb.cmd()
        .arg("health")
        .assert()
        .code(6)
        .stdout(predicate::str::contains("hint: run `skynet worker`"));

    // An unhealthy provider, in text.
    let sb = Sandbox::new();
    let mut cmd = sb.cmd();
    broken_docker(&sb, &mut cmd);
    cmd.arg("health")
        .assert()
        .code(6)
        .stdout(predicate::str::contains("status: unhealthy"))
        .stdout(predicate::str::is_match(r"docker\s+unhealthy").unwrap());
}

#[test]
fn bad_sentinel_settings_are_refused_with_what_to_write() {
    let sb = Sandbox::new();
    sb.cmd()
        .env("SKYNET_SENTINEL_INTERVAL", "often")
        .arg("health")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("sentinel interval"));
    sb.cmd()
        .env("SKYNET_ALERT_MIN_SEVERITY", "loud")
        .arg("health")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("info, warning, critical"));
    sb.cmd()
        .env("SKYNET_ALERT_WEBHOOK", "hooks.example.com/x")
        .arg("health")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("http://"));
}

/// Accept one HTTP request, answer 200, and return its body.
fn one_request(listener: std::net::TcpListener) -> String {
    let (stream, _) = listener.accept().unwrap();
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    reader
        .get_mut()
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .unwrap();
    String::from_utf8(body).unwrap()
}

#[test]
fn a_worker_runs_the_sentinel_and_posts_alerts_to_the_webhook() {
    let sb = Sandbox::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(one_request(listener)));
    let socket = sb.home.path().join("no-docker.sock");
    let mut worker = sb
        .std_cmd()
        .args(["worker", "--concurrency", "1"])
        .env("SKYNET_DOCKER_IMAGE", "busybox:1")
        .env("SKYNET_DOCKER_HOST", format!("unix://{}", socket.display()))
        .env("SKYNET_SENTINEL_INTERVAL", "200ms")
        .env(
            "SKYNET_ALERT_WEBHOOK",
            format!("http://127.0.0.1:{port}/hook/TOKEN123"),
        )
        .env("SKYNET_ALERT_MIN_SEVERITY", "critical")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let body = rx.recv_timeout(Duration::from_secs(60));
    worker.kill().unwrap();
    let output = worker.wait_with_output().unwrap();
    let body = body.expect("the webhook got an alert");
    let alert: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alert["severity"], "critical", "{alert}");
    assert_eq!(alert["source"], "provider:docker");
    assert!(alert["message"].as_str().unwrap().contains("unhealthy"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("TOKEN123"), "{stderr}");
}
