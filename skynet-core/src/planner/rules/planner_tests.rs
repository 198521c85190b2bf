//! Planner-level tests: compound intents, errors, hostile input.

use super::RulePlanner;
use crate::Error;
use crate::action::Action;
use crate::planner::{PlanRequest, Planner};
use std::path::Path;

fn cargo_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").expect("write");
    dir
}

fn request(intent: &str, root: &Path) -> PlanRequest {
    PlanRequest {
        intent: intent.into(),
        root: root.to_path_buf(),
        step_timeout_ms: Some(5_000),
        ..PlanRequest::default()
    }
}

fn kinds(intent: &str) -> Vec<&'static str> {
    RulePlanner::new()
        .actions(intent)
        .unwrap_or_else(|e| panic!("{intent:?} should plan: {e}"))
        .iter()
        .map(|(_, a)| a.name())
        .collect()
}

fn planning_error(intent: &str) -> String {
    match RulePlanner::new().actions(intent) {
        Err(Error::Planning(m)) => m,
        other => panic!("{intent:?} should be a planning error, got {other:?}"),
    }
}

#[tokio::test]
async fn compound_intent_becomes_ordered_resolved_steps() {
    let root = cargo_root();
    let req = request(
        "check git status, run the tests, then push to origin",
        root.path(),
    );
    let plan = RulePlanner::new().plan(&req).await.expect("plans");
    let names: Vec<_> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(names, ["git_status", "run_tests", "git_push"]);
    let argv: Vec<_> = plan
        .steps
        .iter()
        .map(|s| s.command.argv.join(" "))
        .collect();
    assert_eq!(argv, ["git status", "cargo test", "git push origin"]);
    assert!(plan.steps.iter().all(|s| s.command.cwd == root.path()));
    // The request's step budget is applied when the steps run, not put on
    // the commands (a command's own timeout outranks it).
    assert!(plan.steps.iter().all(|s| s.command.timeout_ms.is_none()));
    assert_eq!(plan.planner, "rules");
    assert_eq!(
        plan.summary,
        "Check git status, then Run the tests, then Push to origin"
    );
}

#[test]
fn compound_intents_keep_their_order() {
    let cases: &[(&str, &[&str])] = &[
        (
            "first read README.md then build the project and finally commit with message 'x, y'",
            &["read_file", "build_project", "git_commit"],
        ),
        (
            "Please list the files; search for TODO in src. After that, show the diff!",
            &["list_directory", "search_files", "git_diff"],
        ),
        (
            "mkdir out\nwrite 'a and b' to out/x.txt\nrun `cat out/x.txt`",
            &["create_directory", "write_file", "execute_command"],
        ),
        (
            "can you show the last 3 commits and then tell me the system info",
            &["git_log", "system_info"],
        ),
        (
            "build, test and then push the branch main to upstream",
            &["build_project", "run_tests", "git_push"],
        ),
    ];
    for (intent, want) in cases {
        assert_eq!(kinds(intent), *want, "{intent}");
    }
}

#[test]
fn descriptions_are_short_human_text() {
    let planner = RulePlanner::new();
    let got = planner
        .actions("check git status, read README.md, run `cargo fmt --check`, write 'hi' to a.txt")
        .expect("plans");
    let d: Vec<_> = got.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(
        d,
        [
            "Check git status",
            "Read README.md",
            "Run `cargo fmt --check`",
            "Write 2 bytes to a.txt"
        ]
    );
    let got = planner.actions("read 'a\u{1b}[2Jb'").expect("plans");
    assert!(!got[0].0.contains('\u{1b}'), "{:?}", got[0].0);
    assert_eq!(
        got[0].1,
        Action::ReadFile {
            path: "a\u{1b}[2Jb".into()
        }
    );
}

#[test]
fn unknown_clause_is_named_with_its_position_and_the_ways_out() {
    let m = planning_error("check git status, make me a sandwich, then build");
    assert_eq!(
        m,
        "could not understand \"make me a sandwich\" (clause 2 of 3); rephrase it with a catalog action (list the catalog actions to see them) or wrap a command in backticks like run `make lint`; to plan free-form intents with a model, set SKYNET_LLM_PROVIDER (openai, ollama, gemini, anthropic) and plan with the auto planner"
    );
}

#[test]
fn an_unmapped_clause_lists_the_closest_catalog_actions() {
    let m = planning_error("check memory and defragment the memory of the service");
    assert!(
        m.starts_with("could not understand \"defragment the memory of the service\" (clause 2 of 2); the closest catalog actions are "),
        "{m}"
    );
    let closest = m
        .split("closest catalog actions are ")
        .nth(1)
        .unwrap_or_default();
    assert!(closest.contains("memory_usage"), "{m}");
    assert!(closest.contains("service_status"), "{m}");
    assert!(m.contains("the auto planner"), "{m}");
}

#[test]
fn a_connector_inside_an_object_does_not_split_it() {
    let got = RulePlanner::new()
        .actions("search for salt and pepper")
        .expect("plans");
    assert_eq!(
        got.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>(),
        [Action::SearchFiles {
            pattern: "salt and pepper".into(),
            path: ".".into()
        }]
    );
    // Two mapped clauses stay two steps.
    assert_eq!(
        kinds("check memory and show the top processes"),
        ["memory_usage", "top_processes"]
    );
    assert_eq!(
        kinds("search for salt and check memory"),
        ["search_files", "memory_usage"]
    );
}

#[test]
fn it_never_guesses_a_command() {
    for intent in [
        "make me a sandwich",
        "deploy to production",
        "sudo reboot",
        "run make lint",
        "run",
        "rm",
        "delete",
        "curl http://example.com | sh",
        "git frobnicate",
        "cargo",
        "`ls` extra words",
        "search",
        "write to a.txt",
    ] {
        let m = planning_error(intent);
        assert!(m.contains("(clause 1 of 1)"), "{intent}: {m}");
    }
}

#[test]
fn explained_refusals_name_the_clause() {
    let m = planning_error("build, commit");
    assert!(
        m.starts_with("\"commit\" (clause 2 of 2): a commit needs a message"),
        "{m}"
    );
    let m = planning_error("commit with message '  '");
    assert!(m.contains("commit message is empty"), "{m}");
    let m = planning_error("run `echo 'a b`");
    assert!(
        m.contains("\"run `echo 'a b`\" (clause 1 of 1)") && m.contains("quotes"),
        "{m}"
    );
    let m = planning_error("git push --force");
    assert!(m.contains("remote --force is not a plain name"), "{m}");
    let m = planning_error("push main to -x");
    assert!(m.contains("not a plain name"), "{m}");
    let m = planning_error("show the last 0 commits");
    assert!(m.contains("1 to 1000"), "{m}");
    let m = planning_error("commit with message");
    assert!(m.contains("a commit needs a message"), "{m}");
    let m = planning_error("delete everything");
    assert!(m.contains("does not name a path"), "{m}");
    let m = planning_error("run ` `");
    assert!(m.contains("empty"), "{m}");
}

#[test]
fn unclosed_quotes_and_nul_bytes_are_refused() {
    let m = planning_error("build, write 'oops to a.txt");
    assert!(
        m.contains("(clause 2 of 2) has a quote or backtick that is never closed"),
        "{m}"
    );
    let m = planning_error("run `ls -la");
    assert!(m.contains("never closed"), "{m}");
    let m = planning_error("read 'a\0b'");
    assert!(m.contains("NUL"), "{m}");
    let m = planning_error("write \"x\0\" to a.txt");
    assert!(m.contains("NUL"), "{m}");
}

#[test]
fn empty_or_filler_only_intents_are_refused() {
    for intent in [
        "",
        "   ",
        "please",
        "can you please, and then",
        "!",
        "\n\n;",
    ] {
        let m = planning_error(intent);
        assert!(m.contains("the intent is empty"), "{intent:?}: {m}");
    }
}

#[test]
fn too_many_steps_are_refused() {
    let m = planning_error(&vec!["build"; super::MAX_STEPS + 1].join(", "));
    assert!(m.contains("split it into several jobs"), "{m}");
    assert_eq!(
        kinds(&vec!["build"; super::MAX_STEPS].join(", ")).len(),
        super::MAX_STEPS
    );
}

#[tokio::test]
async fn resolution_failures_name_the_clause() {
    let empty = tempfile::tempdir().expect("tempdir");
    let req = request("git status, run the tests", empty.path());
    match RulePlanner::new().plan(&req).await {
        Err(Error::Planning(m)) => {
            assert!(
                m.starts_with("\"run the tests\" (clause 2 of 2): no test runner"),
                "{m}"
            )
        }
        other => panic!("expected a planning error, got {other:?}"),
    }
}

#[test]
fn commands_are_split_like_a_shell_but_never_expanded() {
    let got = RulePlanner::new()
        .actions("run `grep -r \"a b\" $HOME/*.txt ~/x 'c\\'`")
        .expect("plans");
    let want: Vec<String> = ["grep", "-r", "a b", "$HOME/*.txt", "~/x", "c\\"]
        .map(String::from)
        .to_vec();
    assert_eq!(got[0].1, Action::ExecuteCommand { argv: want });
}
