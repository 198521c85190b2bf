//! `skynet artifacts` through the real binary: a run keeps the files named
//! with `--artifact`, `skynet artifacts JOB` lists them and `skynet
//! artifacts get` writes their bytes out.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::time::Duration;

#[test]
fn a_run_keeps_its_artifacts_and_get_writes_them_out() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("reports")).unwrap();
    std::fs::write(sb.path("reports/junit.xml"), "<testsuite tests=\"1\"/>\n").unwrap();
    succeeded(
        sb.cmd()
            .args(["run", "--artifact", "reports/*.xml", "list the files"]),
    );
    let id = sb.jobs()[0]["id"].as_str().unwrap().to_string();

    let listed = sb.json(&["artifacts", &id]);
    assert_eq!(listed["artifacts"][0]["name"], "reports/junit.xml");
    assert_eq!(listed["artifacts"][0]["size"], 23);
    let text = sb.cmd().args(["artifacts", &id]).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("reports/junit.xml"));

    let got = sb
        .cmd()
        .args(["artifacts", "get", &id, "reports/junit.xml"])
        .output()
        .unwrap();
    assert_eq!(got.status.code(), Some(0));
    assert_eq!(got.stdout, b"<testsuite tests=\"1\"/>\n");
    let target = sb.path("copy.xml");
    let got = sb
        .cmd()
        .args(["artifacts", "get", &id, "reports/junit.xml", "-o"])
        .arg(&target)
        .output()
        .unwrap();
    assert_eq!(got.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "<testsuite tests=\"1\"/>\n"
    );

    let missing = sb
        .cmd()
        .args(["artifacts", "get", &id, "nope.xml"])
        .output()
        .unwrap();
    assert_ne!(missing.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no artifact named"));
}

/// The `.part` files in the artifact store's temporary directory, with
/// their sizes.
fn partial_uploads(sb: &Sandbox) -> Vec<(String, u64)> {
    let tmp = sb.home.path().join("artifacts").join("tmp");
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let size = e.metadata().ok()?.len();
            name.ends_with(".part").then_some((name, size))
        })
        .collect()
}

/// A worker killed with SIGKILL while it uploads a large artifact: no
/// partial artifact is ever listed, the job is recovered by the lease
/// rules and run again by another worker (which keeps the whole file),
/// and gc removes the temporary file the killed worker left.
#[test]
fn kill_9_mid_upload_lists_no_partial_artifact_and_gc_cleans_up() {
    const SIZE: u64 = 256 << 20;
    let sb = Sandbox::new();
    // Sparse: nothing on disk, but every byte is read, hashed and copied.
    std::fs::File::create(sb.path("big.bin"))
        .unwrap()
        .set_len(SIZE)
        .unwrap();
    let submitted = sb.json(&["submit", "--artifact", "big.bin", "list the files"]);
    let id = submitted["id"].as_str().unwrap().to_string();
    let worker = || {
        sb.worker_cmd(1)
            .env("SKYNET_LEASE", "3s")
            .env("SKYNET_GC_INTERVAL", "off")
            .spawn()
            .unwrap()
    };
    let mut first = worker();
    // Kill it while the upload is under way: a temporary file that has
    // bytes but is still far from whole.
    let seen = eventually(Duration::from_secs(60), "an upload under way", || {
        partial_uploads(&sb)
            .into_iter()
            .find(|(_, size)| *size > 0 && *size < SIZE - (64 << 20))
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let left = partial_uploads(&sb);
    assert!(
        left.iter().any(|(name, _)| *name == seen.0),
        "the killed worker's temporary file is left behind: {left:?}"
    );
    let listed = sb.json(&["artifacts", &id]);
    assert_eq!(
        listed["artifacts"].as_array().map(Vec::len),
        Some(0),
        "no partial artifact is listed: {listed}"
    );

    // Recovered by the lease rules: another worker reaps the expired
    // lease, runs the READ_ONLY job again and keeps the whole file.
    let mut second = worker();
    let status = eventually(Duration::from_secs(120), "the job to finish", || {
        let job = sb.job(&id);
        let status = job["status"].as_str().unwrap_or("").to_string();
        matches!(
            status.as_str(),
            "succeeded" | "failed" | "timed_out" | "needs_review"
        )
        .then_some(status)
    });
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(status, "succeeded");
    let listed = sb.json(&["artifacts", &id]);
    let artifacts = listed["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 1, "{listed}");
    assert_eq!(artifacts[0]["name"], "big.bin");
    assert_eq!(artifacts[0]["size"], SIZE, "the artifact is whole");

    // gc lists the leftover in a dry run, then removes exactly it.
    let gc = |dry: bool| {
        let mut cmd = sb.cmd();
        cmd.env("SKYNET_GC_GRACE", "0s").arg("gc").arg("--json");
        if dry {
            cmd.arg("--dry-run");
        }
        let out = succeeded(&mut cmd);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let dry = gc(true);
    assert_eq!(dry["dry_run"], true);
    let names: Vec<&str> = dry["uploads"]["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(names.contains(&seen.0.as_str()), "{dry}");
    assert_eq!(
        dry["objects"]["count"], 0,
        "the recorded object stays: {dry}"
    );
    assert!(partial_uploads(&sb).iter().any(|(n, _)| *n == seen.0));
    let real = gc(false);
    assert_eq!(
        real["uploads"], dry["uploads"],
        "the run removes what the dry run listed"
    );
    assert!(
        partial_uploads(&sb).is_empty(),
        "{:?}",
        partial_uploads(&sb)
    );
    let listed = sb.json(&["artifacts", &id]);
    assert_eq!(listed["artifacts"][0]["size"], SIZE);
}
