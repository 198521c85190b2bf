//! A repository whose `.git/config` names programs (clean filter, external
//! diff, textconv, gpg.program, fsmonitor, an include): the git commands the
//! rule planner makes for "check git status", "what changed" and "show the
//! last 2 commits", and wrappers that strip SKYNET's git environment, run
//! none of them. Under every sandbox this machine has (see
//! `sandbox_escapes.rs`), and without one: the refusal does not depend on it.

mod provider_support;

use provider_support::{Step, command, sandboxes};
use skynet_core::RiskLevel;
use skynet_core::provider::{LocalProvider, Stream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// No sandbox, then every real sandbox this machine has.
fn providers(test: &str) -> Vec<(&'static str, LocalProvider)> {
    let mut all = vec![("no sandbox", LocalProvider::new())];
    all.extend(sandboxes(test));
    all
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A repository with two commits and a changed file, every file going
/// through the `evil` filter and diff driver, plus `hook.sh`, which
/// touches `marker` and says so when anything runs it.
fn repository() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("root");
    let dir = root.path();
    let hook = dir.join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ntouch {}/marker\necho HOOK-RAN >&2\ncat\n",
            dir.display()
        ),
    )
    .expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join(".gitattributes"), "*.txt filter=evil diff=evil\n").expect("attrs");
    std::fs::write(dir.join("a.txt"), "one\n").expect("a");
    git(dir, &["add", "."]);
    git(dir, &["commit", "-qm", "first"]);
    std::fs::write(dir.join("a.txt"), "two\n").expect("a");
    git(dir, &["commit", "-qam", "second"]);
    std::fs::write(dir.join("a.txt"), "three\n").expect("a");
    root
}

/// The hostile settings, one at a time (`.git/config` text).
fn hostile_configs(hook: &str) -> Vec<(&'static str, String)> {
    vec![
        ("fsmonitor", format!("[core]\n\tfsmonitor = {hook}\n")),
        (
            "clean filter",
            format!("[filter \"evil\"]\n\tclean = {hook}\n"),
        ),
        (
            "textconv",
            format!("[diff \"evil\"]\n\ttextconv = {hook}\n"),
        ),
        ("external diff", format!("[diff]\n\texternal = {hook}\n")),
        (
            "gpg.program",
            format!("[gpg]\n\tprogram = {hook}\n[log]\n\tshowSignature = true\n"),
        ),
        (
            "include",
            "[include]\n\tpath = ../elsewhere.cfg\n".to_string(),
        ),
    ]
}

const COMMANDS: &[&[&str]] = &[
    // The rule planner's argv for the three intents.
    &["git", "status"],
    &["git", "diff", "--no-ext-diff", "--no-textconv"],
    &["git", "log", "--oneline", "-n", "2"],
    // The same by hand, and wrappers that drop SKYNET's git environment.
    &["git", "diff"],
    &["git", "log", "-2", "-p"],
    &["env", "-u", "GIT_CONFIG_COUNT", "git", "status"],
    &["env", "-i", "/usr/bin/git", "log", "-2", "-p"],
];

#[tokio::test]
async fn a_hostile_repository_runs_none_of_its_programs() {
    let providers = providers("a_hostile_repository_runs_none_of_its_programs");
    let repo = repository();
    let dir = repo.path();
    let hook = dir.join("hook.sh").display().to_string();
    let config = dir.join(".git/config");
    let clean = std::fs::read_to_string(&config).expect("config");
    let marker = dir.join("marker");

    // Unguarded git does run them: the repository is really hostile.
    std::fs::write(&config, format!("{clean}[core]\n\tfsmonitor = {hook}\n")).expect("write");
    git(dir, &["status"]);
    assert!(marker.exists(), "the fsmonitor hook did not run unguarded");
    std::fs::remove_file(&marker).expect("rm marker");

    for (what, hostile) in hostile_configs(&hook) {
        std::fs::write(&config, format!("{clean}{hostile}")).expect("write");
        for (name, local) in &providers {
            for argv in COMMANDS {
                for risk in [RiskLevel::ReadOnly, RiskLevel::Write] {
                    let mut step = Step::new(dir);
                    step.risk = risk;
                    let r = step
                        .run_on(local, &command(argv, dir), None)
                        .await
                        .expect("runs");
                    let all = r.all();
                    assert!(
                        !marker.exists() && !all.contains("HOOK-RAN"),
                        "{name}, {what}, {argv:?} as {risk:?} ran the repository's program:\n{all}"
                    );
                    assert_eq!(
                        r.out.exit_code,
                        Some(126),
                        "{name}, {what}, {argv:?}: {all}"
                    );
                    assert!(
                        r.texts(Stream::Stderr)
                            .iter()
                            .any(|l| l.contains("refusing to run git")),
                        "{name}, {what}, {argv:?}: {all}"
                    );
                }
            }
        }
    }

    // A setting on the command line is refused the same way.
    std::fs::write(&config, &clean).expect("write");
    let fsmonitor = format!("core.fsmonitor={hook}");
    for (name, local) in &providers {
        let argv = ["git", "-c", &fsmonitor, "status"];
        let r = Step::new(dir)
            .run_on(local, &command(&argv, dir), None)
            .await
            .expect("runs");
        assert!(!marker.exists(), "{name}: {}", r.all());
        assert_eq!(r.out.exit_code, Some(126), "{name}: {}", r.all());
    }
}

#[tokio::test]
async fn an_ordinary_repository_still_works_read_only() {
    let providers = providers("an_ordinary_repository_still_works_read_only");
    let repo = repository();
    let dir = repo.path();
    // Hooks by path (husky and the like) are common and not refused: READ_ONLY
    // steps run with hooks pointed at /dev/null.
    std::fs::remove_file(dir.join(".gitattributes")).expect("rm attrs");
    git(dir, &["config", "core.hooksPath", ".husky"]);
    for (name, local) in &providers {
        let r = Step::new(dir)
            .run_on(local, &command(&["git", "status"], dir), None)
            .await
            .expect("runs");
        assert!(r.out.success(), "{name}: {}", r.all());
        assert!(
            r.texts(Stream::Stdout).iter().any(|l| l.contains("a.txt")),
            "{name}: {}",
            r.all()
        );
        let r = Step::new(dir)
            .run_on(local, &command(&["git", "log", "-2", "-p"], dir), None)
            .await
            .expect("runs");
        assert!(r.out.success(), "{name}: {}", r.all());
        assert!(
            r.texts(Stream::Stdout).contains(&"+two"),
            "{name}: {}",
            r.all()
        );
    }
}
