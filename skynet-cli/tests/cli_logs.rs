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
