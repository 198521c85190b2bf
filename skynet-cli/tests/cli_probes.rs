//! Network probes through the real `skynet` binary: the plan shows the
//! network label on the steps that reach the network and on no other, a
//! probe of a loopback name is refused naming the address and the
//! setting, and `SKYNET_NETWORK_ALLOW` opens it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[test]
fn the_plan_shows_the_network_label_and_the_allow_list_opens_loopback() {
    let sb = Sandbox::new();
    let out = sb
        .cmd()
        .args(["plan", "resolve example.com and list the files"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("(READ_ONLY"), "{stdout}");
    assert!(
        stdout.contains("$ skynet-probe dns example.com"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("network: ").count(), 1, "{stdout}");
    assert!(stdout.contains("network: dns example.com"), "{stdout}");

    let out = sb
        .cmd()
        .args(["run", "resolve localhost"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("a loopback"), "{text}");
    assert!(text.contains("SKYNET_NETWORK_ALLOW"), "{text}");

    let out = sb
        .cmd()
        .env("SKYNET_NETWORK_ALLOW", "localhost")
        .args(["run", "resolve localhost"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("localhost has address"), "{stdout}");
}
