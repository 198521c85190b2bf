//! `skynet keys` and `skynet serve` as a real process: keys are created,
//! listed and revoked; the server runs a job with its in-process worker over
//! real HTTP and stops cleanly on SIGTERM; no-auth mode stays on loopback.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Sandbox, eventually};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

/// One HTTP/1.1 request with `Connection: close`; returns status and body.
fn http(port: u16, method: &str, path: &str, key: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw[9..12].parse().unwrap();
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn keys_create_list_revoke() {
    let sb = Sandbox::new();
    let created = sb.json(&["keys", "create", "ci", "--scopes", "read,submit"]);
    let id = created["id"].as_str().unwrap().to_string();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with(&format!("sk_{id}_")));
    assert_eq!(created["scopes"], serde_json::json!(["read", "submit"]));
    let out = sb.cmd().args(["keys", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&id) && text.contains("active"), "{text}");
    assert!(!text.contains(key), "the secret is never listed");
    sb.cmd().args(["keys", "revoke", &id]).assert().success();
    let listed = sb.json(&["keys", "list"]);
    assert!(listed[0]["revoked_at"].is_string());
    assert!(listed[0].get("secret_hash").is_none());
    sb.cmd()
        .args(["keys", "create", "x", "--scopes", "root"])
        .assert()
        .code(2);
    sb.cmd().args(["keys", "revoke", "nope"]).assert().code(2);
}

#[test]
fn insecure_no_auth_refuses_a_non_loopback_address() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args(["serve", "--insecure-no-auth", "--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[test]
fn serve_runs_a_job_with_its_worker_and_stops_on_sigterm() {
    let sb = Sandbox::new();
    let key = sb.json(&["keys", "create", "t", "--scopes", "admin"])["key"]
        .as_str()
        .unwrap()
        .to_string();
    let mut child = sb
        .std_cmd()
        .args(["serve", "--bind", "127.0.0.1:0", "--workers", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port: u16 = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let (status, body) = http(
        port,
        "POST",
        "/v1/jobs",
        &key,
        Some(r#"{"intent":"read README.md"}"#),
    );
    assert_eq!(status, 202, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).unwrap();
    let path = format!("/v1/jobs/{}", job["id"].as_str().unwrap());
    eventually(
        Duration::from_secs(20),
        "the in-process worker runs the job",
        || {
            let (_, body) = http(port, "GET", &path, &key, None);
            body.contains("\"status\":\"succeeded\"").then_some(())
        },
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = eventually(Duration::from_secs(10), "serve exits on SIGTERM", || {
        child.try_wait().unwrap()
    });
    assert!(status.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("workers finished: 1 jobs run"), "{rest}");
    assert!(rest.contains("skynet stopped"));
}
