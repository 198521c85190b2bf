//! Unit tests of answer checking: parameters, labels, paths.

use super::answer::{answer_json, parse_answer};
use crate::Error;
use crate::action::Action;
use crate::risk::RiskLevel;
use proptest::prelude::*;
use serde_json::json;
use std::path::{Path, PathBuf};

fn root() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    (dir, root)
}

fn err(v: serde_json::Value, root: &Path) -> String {
    match parse_answer("test", &v, "summary", root) {
        Err(Error::Planning(m)) => m,
        other => panic!("expected a planning error, got {other:?}"),
    }
}

#[test]
fn nulls_are_absent_and_nested_params_are_read() {
    let (_d, root) = root();
    let a = parse_answer(
        "test",
        &json!({"summary": "s", "steps": [
            {"description": "d", "action": "git_diff", "risk": "read-only", "path": null, "staged": true},
            {"action": "search_files", "params": {"pattern": "fn main", "path": "src"}},
        ]}),
        "summary",
        &root,
    )
    .expect("valid");
    assert_eq!(
        a.steps[0].action,
        Action::GitDiff {
            path: None,
            staged: true
        }
    );
    assert_eq!(a.steps[0].claimed, Some(RiskLevel::ReadOnly));
    assert_eq!(
        a.steps[1].action,
        Action::SearchFiles {
            pattern: "fn main".into(),
            path: "src".into()
        }
    );
    assert_eq!(
        a.steps[1].description, "search text in files",
        "catalog summary by default"
    );
}

#[test]
fn a_parameter_the_action_does_not_take_is_refused() {
    let (_d, root) = root();
    let m = err(
        json!({"steps": [{"action": "read_file", "path": "a", "argv": ["rm", "-rf", "/"]}]}),
        &root,
    );
    assert!(
        m.contains("step 1") && m.contains("bad parameters for read_file"),
        "{m}"
    );
}

#[test]
fn wrong_types_and_labels_name_the_step() {
    let (_d, root) = root();
    let m = err(
        json!({"steps": [{"action": "git_log", "count": "lots"}]}),
        &root,
    );
    assert!(m.contains("step 1") && m.contains("git_log"), "{m}");
    let m = err(
        json!({"steps": [{"action": "git_status", "risk": "harmless"}]}),
        &root,
    );
    assert!(m.contains("is not READ_ONLY, WRITE or ADMIN"), "{m}");
    let m = err(
        json!({"steps": [{"action": "execute_command", "argv": ["ls", 3]}]}),
        &root,
    );
    assert!(m.contains("list of strings"), "{m}");
    let m = err(
        json!({"steps": [{"action": "execute_command", "argv": []}]}),
        &root,
    );
    assert!(m.contains("argv is empty"), "{m}");
    let m = err(json!({"steps": ["git status"]}), &root);
    assert!(m.contains("step 1: is not an object"), "{m}");
    let m = err(json!({"steps": {"a": 1}}), &root);
    assert!(m.contains("\"steps\" is not a list"), "{m}");
}

#[test]
fn paths_must_stay_inside_the_root_symlinks_followed() {
    let (_d, root) = root();
    for bad in ["/etc/passwd", "../x", "a/../../x"] {
        let m = err(
            json!({"steps": [{"action": "read_file", "path": bad}]}),
            &root,
        );
        assert!(m.contains("outside the sandbox root"), "{bad}: {m}");
    }
    std::os::unix::fs::symlink("/etc", root.join("etc")).expect("symlink");
    let m = err(
        json!({"steps": [{"action": "read_file", "path": "etc/passwd"}]}),
        &root,
    );
    assert!(m.contains("outside the sandbox root"), "{m}");
    let inside = root.join("ok.txt").display().to_string();
    parse_answer(
        "t",
        &json!({"steps": [{"action": "read_file", "path": inside}]}),
        "summary",
        &root,
    )
    .expect("an absolute path inside the root is fine");
}

#[test]
fn control_characters_in_descriptions_are_flattened() {
    let (_d, root) = root();
    let a = parse_answer(
        "t",
        &json!({"summary": "a\u{1b}[2Jb", "steps": [{"action": "git_status", "description": "x\ny"}]}),
        "summary",
        &root,
    )
    .expect("valid");
    assert!(!a.text.contains('\u{1b}'));
    assert_eq!(a.steps[0].description, "x y");
}

proptest! {
    /// The whole answer path, on arbitrary text, never panics.
    #[test]
    fn arbitrary_answers_never_panic(text in ".{0,300}") {
        let root = std::env::temp_dir();
        if let Ok(v) = answer_json("t", &text, Some("length")) {
            let _ = parse_answer("t", &v, "summary", &root);
        }
    }

    /// Arbitrary JSON-shaped steps never panic either.
    #[test]
    fn arbitrary_step_objects_never_panic(
        action in "[a-z_]{0,16}",
        key in "(path|argv|count|staged|pattern|content|message|remote|branch|risk|x)",
        value in prop_oneof![
            Just(json!(null)), Just(json!(1)), Just(json!(-1)), Just(json!(true)),
            ".{0,20}".prop_map(|s| json!(s)),
            prop::collection::vec(".{0,8}", 0..4).prop_map(|v| json!(v)),
        ],
    ) {
        let root = std::env::temp_dir();
        let answer = json!({"summary": "s", "steps": [{"action": action, key: value}]});
        let _ = parse_answer("t", &answer, "summary", &root);
    }
}

#[test]
fn a_pipeline_is_a_list_of_argv_lists_never_a_shell_string() {
    let (_d, root) = root();
    let a = parse_answer(
        "test",
        &json!({"summary": "s", "steps": [
            {"description": "largest", "action": "execute_pipeline", "risk": "READ_ONLY",
             "stages": [["du", "-ah", "."], ["sort", "-rh"], ["head", "-n", "5"]]},
        ]}),
        "summary",
        &root,
    )
    .expect("valid");
    let inv = a.steps[0].action.resolve(&root).expect("resolves");
    assert_eq!(inv.display_line(), "du -ah . | sort -rh | head -n 5");
    let m = err(
        json!({"steps": [{"action": "execute_pipeline", "stages": "du -ah . | sort -rh"}]}),
        &root,
    );
    assert!(
        m.contains("step 1") && m.contains("bad parameters for execute_pipeline"),
        "{m}"
    );
    let m = err(
        json!({"steps": [{"action": "execute_pipeline", "stages": ["du -ah .", "sort -rh"]}]}),
        &root,
    );
    assert!(m.contains("bad parameters for execute_pipeline"), "{m}");
}

#[test]
fn declared_artifacts_are_read_and_checked() {
    let (_d, root) = root();
    let a = parse_answer(
        "test",
        &json!({"summary": "s", "steps": [
            {"action": "run_tests", "artifacts": ["reports/*.xml", "target/release/app"]},
        ]}),
        "summary",
        &root,
    )
    .expect("valid");
    assert_eq!(
        a.steps[0].artifacts,
        ["reports/*.xml", "target/release/app"]
    );
    for bad in [
        json!(["../../etc/passwd"]),
        json!(["/etc/shadow"]),
        json!("a.xml"),
    ] {
        let m = err(
            json!({"steps": [{"action": "run_tests", "artifacts": bad}]}),
            &root,
        );
        assert!(m.contains("step 1") && m.contains("artifact"), "{m}");
    }
}
