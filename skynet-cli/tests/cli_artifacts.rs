//! `skynet artifacts` through the real binary: a run keeps the files named
//! with `--artifact`, `skynet artifacts JOB` lists them and `skynet
//! artifacts get` writes their bytes out.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[test]
fn a_run_keeps_its_artifacts_and_get_writes_them_out() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.path("reports")).unwrap();
    std::fs::write(sb.path("reports/junit.xml"), "<testsuite tests=\"1\"/>\n").unwrap();
    let out = sb
        .cmd()
        .args(["run", "--artifact", "reports/*.xml", "list the files"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
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
