//! `skynet logs` through the real binary: a step's output comes back with
//! secrets redacted and terminal escape sequences escaped (unless `--raw`).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// Run `read <file>` on a file holding `text`; returns the job id.
fn job_reading(sb: &Sandbox, file: &str, text: &str) -> String {
    std::fs::write(sb.path(file), text).unwrap();
    succeeded(sb.cmd().args(["run", &format!("read {file}")]));
    let jobs = sb.jobs();
    jobs[0]["id"].as_str().unwrap().to_string()
}

fn logs(sb: &Sandbox, args: &[&str]) -> String {
    let out = succeeded(sb.cmd().arg("logs").args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn logs_hide_secret_shaped_output() {
    let sb = Sandbox::new();
    let id = job_reading(
        &sb,
        "creds.txt",
        "password=hunter2\naws AKIAIOSFODNN7EXAMPLE\n",
    );
    let out = logs(&sb, &[&id]);
    assert!(!out.contains("hunter2"), "{out}");
    assert!(!out.contains("AKIAIOSFODNN7EXAMPLE"), "{out}");
    assert!(out.contains("password=[REDACTED]"), "{out}");
}

#[test]
fn logs_escape_terminal_sequences_unless_raw() {
    let sb = Sandbox::new();
    // A colour and a window-title sequence.
    let id = job_reading(
        &sb,
        "paint.txt",
        "\u{1b}[31mred\u{1b}[0m\n\u{1b}]0;pwned\u{7}title\n",
    );
    let out = logs(&sb, &[&id]);
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("\\u{1b}[31mred"), "{out}");
    let raw = logs(&sb, &["--raw", &id]);
    assert!(raw.contains("\u{1b}[31mred"), "{raw:?}");
}

#[test]
fn logs_by_stream_and_time_range() {
    let sb = Sandbox::new();
    let id = job_reading(&sb, "hello.txt", "hello there\n");
    assert!(logs(&sb, &["--stream", "stdout", &id]).contains("hello there"));
    assert!(!logs(&sb, &["--stream", "stderr", &id]).contains("hello there"));
    assert!(logs(&sb, &["--since", "1h", &id]).contains("hello there"));
    assert!(
        logs(&sb, &["--until", "2000-01-01T00:00:00Z", &id])
            .trim()
            .is_empty()
    );
    for bad in [["--stream", "stdin"], ["--since", "yesterday"]] {
        let out = sb.cmd().arg("logs").args(bad).arg(&id).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(bad[1]), "{bad:?}: {err}");
    }
}

/// `skynet gc` with jobs kept for a moment only: the finished job goes,
/// `skynet events JOB` shows its tombstone, and the global log has the
/// `gc.completed` event.
#[test]
fn gc_prunes_a_finished_job_and_events_show_its_tombstone() {
    let sb = Sandbox::new();
    let id = job_reading(&sb, "hello.txt", "hello there\n");
    let gc = |args: &[&str]| {
        let out = succeeded(
            sb.cmd()
                .env("SKYNET_RETENTION_JOBS", "1ms")
                .arg("gc")
                .args(args),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dry = gc(&["--dry-run"]);
    assert!(dry.contains("gc would remove: 1 jobs"), "{dry}");
    assert!(dry.contains(&id), "{dry}");
    let before = sb.json(&["events", &id]);
    let head = before["events"].as_array().unwrap().last().unwrap()["hash"].clone();
    let done = gc(&[]);
    assert!(done.contains("gc removed: 1 jobs"), "{done}");
    let shown = sb.cmd().args(["show", &id]).output().unwrap();
    assert_ne!(shown.status.code(), Some(0), "the job is gone");
    let events = sb.cmd().args(["events", &id]).output().unwrap();
    let text = String::from_utf8_lossy(&events.stdout);
    assert_eq!(events.status.code(), Some(0), "{text}");
    assert!(text.contains("was pruned at"), "{text}");
    assert!(text.contains(head.as_str().unwrap()), "{text}");
    let stone = sb.json(&["events", &id]);
    assert_eq!(stone["tombstone"]["event_head"], head);
    let log = sb
        .cmd()
        .args(["events", "--type", "gc.completed"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&log.stdout).contains("gc.completed"),
        "{}",
        String::from_utf8_lossy(&log.stdout)
    );
}

/// With a tiny event retention, `skynet gc` removes the global log's
/// prefix (the dry run counts exactly what the run removes), `skynet
/// events` shows a `pruned N events (ids A..B, from .. to ..) at T` line
/// where the gap is and a `{"pruned": ...}` record with `--json`, and the
/// kept job's own chain still verifies.
#[test]
fn gc_prunes_the_global_event_log_and_events_show_the_gap() {
    let sb = Sandbox::new();
    let id = job_reading(&sb, "hello.txt", "hello there\n");
    let listed = sb.cmd().args(["events", "--json"]).output().unwrap();
    let before: Vec<serde_json::Value> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(before.len() >= 4, "{before:?}");
    let gc = |dry: bool| {
        let mut cmd = sb.cmd();
        cmd.env("SKYNET_RETENTION_EVENTS", "1ms")
            .args(["gc", "--json"]);
        if dry {
            cmd.arg("--dry-run");
        }
        let out = succeeded(&mut cmd);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["events"].clone()
    };
    let dry = gc(true);
    assert_eq!(dry["count"], before.len(), "{dry}");
    let real = gc(false);
    for field in ["count", "first_id", "last_id", "first_at", "last_at"] {
        assert_eq!(dry[field], real[field], "{field}");
    }
    let (first, last) = (&before[0]["id"], &before[before.len() - 1]["id"]);
    assert_eq!((&real["first_id"], &real["last_id"]), (first, last));

    let text = sb.cmd().arg("events").output().unwrap();
    assert_eq!(text.status.code(), Some(0));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let marker = format!("pruned {} events (ids {first}..{last}, from ", before.len());
    assert!(lines[0].contains(&marker), "{text}");
    assert!(lines[0].contains(") at "), "{text}");
    assert!(lines[1].contains("gc.completed"), "{text}");

    let json = sb.cmd().args(["events", "--json"]).output().unwrap();
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let anchor = &records[0]["pruned"];
    assert_eq!(anchor["count"], before.len());
    assert_eq!((&anchor["first_id"], &anchor["last_id"]), (first, last));
    assert_eq!(anchor["first_at"], real["first_at"]);
    assert!(anchor["pruned_at"].is_string() && anchor["through"].is_string());
    assert_eq!(records[1]["type"], "gc.completed");
    assert_eq!(records[1]["payload"]["events"], before.len());

    let chain = sb.cmd().args(["events", &id]).output().unwrap();
    assert_eq!(chain.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&chain.stdout).contains("hash chain intact"));
}
