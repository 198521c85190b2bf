//! `skynet logs` through the real binary: a step's output comes back with
//! secrets redacted and terminal escape sequences escaped (unless `--raw`).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

/// Run `read <file>` on a file holding `text`; returns the job id.
fn job_reading(sb: &Sandbox, file: &str, text: &str) -> String {
    std::fs::write(sb.path(file), text).unwrap();
    let out = sb
        .cmd()
        .args(["run", &format!("read {file}")])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jobs = sb.jobs();
    jobs[0]["id"].as_str().unwrap().to_string()
}

fn logs(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.cmd().arg("logs").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
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
        let out = sb
            .cmd()
            .env("SKYNET_RETENTION_JOBS", "1ms")
            .arg("gc")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
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
