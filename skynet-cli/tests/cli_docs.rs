//! `skynet --version`, `skynet completions` and `skynet man`: generated
//! from the CLI itself, so they name every subcommand.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;

fn skynet(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("skynet")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn version_names_the_commit() {
    let out = skynet(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = format!("skynet {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&expected), "{text}");
    assert!(text.trim_end().ends_with(')'), "{text}");
}

#[test]
fn completions_cover_the_subcommands_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = skynet(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for sub in ["serve", "worker", "agent", "completions"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
}

#[test]
fn completions_refuse_an_unknown_shell() {
    let out = skynet(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn man_page_is_roff_with_every_subcommand() {
    let out = skynet(&["man"]);
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH skynet 1"), "{page}");
    for sub in ["serve", "worker", "health", "keys"] {
        assert!(page.contains(sub), "man page lacks {sub}");
    }
}
