//! A catalog action from a client's loose description: its name, a
//! parameter object and (the original API's) free-text `target`.
//!
//! The original API's clients name actions and pass parameters the
//! action may not use (`{"action": "run_tests", "params": {"working_dir":
//! "."}}`). A parameter the action does not take changes nothing that
//! runs, so it is reported as [`Ignored`] instead of refusing the request;
//! a missing or ill-typed parameter the action needs is still an error.
//!
//! **How a `target` maps onto parameters.** The target is split into
//! words like a POSIX shell would (quotes group words), and the words
//! fill the action's parameters in catalog order, skipping those the
//! parameter object already sets: `git_push` with `"origin main"` is
//! `remote = "origin"`, `branch = "main"`; `read_file` with `"README.md"`
//! is `path`. The last parameter takes the rest of the words: a list
//! (`git_add`'s `paths`) takes each word, text takes them joined by
//! spaces (`git_commit` with `"fix the build"` is one message). Integers
//! and booleans are read from their word. The original API's execution
//! targets (`laptop`, `ec2`, `docker`) name where to run, not a parameter:
//! they are reported as ignored (SKYNET's scheduler picks the provider).

use super::{Action, CATALOG, CatalogEntry};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Something a request named that SKYNET does not use: reported, not
/// fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ignored {
    /// Where it was in the request, e.g. `params.working_dir`,
    /// `execution_spec.steps[0].params.working_dir`, `target`,
    /// `constraints.allowed_targets`.
    pub field: String,
    /// Why it was not used.
    pub reason: String,
}

/// The original API's execution targets: where to run, never a parameter.
pub const ORIGINAL_TARGETS: &[&str] = &["laptop", "ec2", "docker"];

/// What a declared parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Free text.
    Text,
    /// A whole number.
    Int,
    /// `true` or `false`.
    Bool,
    /// A list of text.
    List,
    /// One of the words listed (`cpu|memory`).
    Choice,
}

/// One parameter of a catalog action, as its `params` text declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// Its name.
    pub name: &'static str,
    /// Whether the action has a default for it.
    pub optional: bool,
    /// What it holds.
    pub kind: ParamKind,
}

impl CatalogEntry {
    /// The entry's parameters, in declared order (its `params` text is
    /// `name: type` items; `name?` marks an optional one).
    pub fn param_specs(&self) -> Vec<ParamSpec> {
        self.params
            .split(", ")
            .filter(|p| !p.trim().is_empty())
            .filter_map(|p| {
                let (name, kind) = p.split_once(':')?;
                let name = name.trim();
                let (name, optional) = match name.strip_suffix('?') {
                    Some(n) => (n, true),
                    None => (name, false),
                };
                let kind = match kind.trim() {
                    "string" => ParamKind::Text,
                    "int" => ParamKind::Int,
                    "bool" => ParamKind::Bool,
                    k if k.starts_with('[') => ParamKind::List,
                    _ => ParamKind::Choice,
                };
                Some(ParamSpec {
                    name,
                    optional,
                    kind,
                })
            })
            .collect()
    }
}

/// The catalog entry named `name`, or [`Error::UnknownAction`] with the
/// closest names.
pub fn entry(name: &str) -> Result<&'static CatalogEntry> {
    CATALOG
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| Error::UnknownAction {
            name: name.to_string(),
            closest: closest_names(name, 3)
                .into_iter()
                .map(String::from)
                .collect(),
        })
}

/// Whether `text` names a catalog action rather than a command line: a
/// catalog name, or one snake_case word (lowercase letters, digits and
/// at least one `_`), which, when the catalog lacks it, is
/// [`Error::UnknownAction`] rather than a program of that name.
pub fn names_an_action(text: &str) -> bool {
    let t = text.trim();
    CATALOG.iter().any(|e| e.name == t)
        || (t.contains('_')
            && t.starts_with(|c: char| c.is_ascii_lowercase())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
}

/// Up to `max` catalog names closest to `name`: by string similarity,
/// with a bonus for each word (`git`, `push`, ...) they share.
pub fn closest_names(name: &str, max: usize) -> Vec<&'static str> {
    let lower = name.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(['_', '-', ' '])
        .filter(|w| !w.is_empty())
        .collect();
    let mut scored: Vec<(f64, &'static str)> = CATALOG
        .iter()
        .map(|e| {
            let shared = e.name.split('_').filter(|w| words.contains(w)).count();
            (
                strsim::jaro_winkler(&lower, e.name) + 0.2 * shared as f64,
                e.name,
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(max).map(|(_, n)| n).collect()
}

/// An action built leniently, with what was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lenient<T> {
    /// What was built.
    pub value: T,
    /// What the request named that was not used.
    pub ignored: Vec<Ignored>,
}

/// Build the catalog action `name` from `params` and an optional
/// free-text `target` (see the module docs for how it maps). `prefix`
/// names where the parameters sit in the request, for [`Ignored::field`]
/// and messages (`params`, `execution_spec.steps[0].params`).
pub fn build(
    name: &str,
    params: &Map<String, Value>,
    target: Option<&str>,
    prefix: &str,
) -> Result<Lenient<Action>> {
    let entry = entry(name)?;
    let specs = entry.param_specs();
    let mut ignored = Vec::new();
    let mut object = Map::new();
    for (key, value) in params {
        if specs.iter().any(|s| s.name == key) {
            object.insert(key.clone(), value.clone());
        } else {
            ignored.push(Ignored {
                field: format!("{prefix}.{key}"),
                reason: not_taken(entry),
            });
        }
    }
    if let Some(target) = target.map(str::trim).filter(|t| !t.is_empty()) {
        fill_from_target(entry, &specs, target, &mut object, &mut ignored)?;
    }
    object.insert("kind".into(), Value::String(entry.name.into()));
    let action = serde_json::from_value(Value::Object(object)).map_err(|e| {
        Error::InvalidInput(format!(
            "bad parameters for {name} ({e}); it takes: {}",
            takes(entry)
        ))
    })?;
    Ok(Lenient {
        value: action,
        ignored,
    })
}

/// Put the target's words into the parameters `object` does not set yet.
fn fill_from_target(
    entry: &CatalogEntry,
    specs: &[ParamSpec],
    target: &str,
    object: &mut Map<String, Value>,
    ignored: &mut Vec<Ignored>,
) -> Result<()> {
    if ORIGINAL_TARGETS.contains(&target) {
        ignored.push(Ignored {
            field: "target".into(),
            reason: format!(
                "`{target}` is an execution target of the original API, not a parameter; \
                 SKYNET's scheduler picks the provider (name one with `provider` on POST /v1/jobs)"
            ),
        });
        return Ok(());
    }
    let words = shell_words::split(target).map_err(|e| {
        Error::InvalidInput(format!("target {target:?} does not split into words: {e}"))
    })?;
    let open: Vec<&ParamSpec> = specs
        .iter()
        .filter(|s| !object.contains_key(s.name))
        .collect();
    let Some((last, first)) = open.split_last() else {
        ignored.push(Ignored {
            field: "target".into(),
            reason: if specs.is_empty() {
                not_taken(entry)
            } else {
                format!("`params` already sets every parameter of {}", entry.name)
            },
        });
        return Ok(());
    };
    let mut rest = words.as_slice();
    for spec in first {
        let Some((word, tail)) = rest.split_first() else {
            break;
        };
        object.insert(spec.name.into(), word_value(entry, spec, word)?);
        rest = tail;
    }
    if !rest.is_empty() {
        let value = match last.kind {
            ParamKind::List => Value::Array(rest.iter().cloned().map(Value::String).collect()),
            ParamKind::Text => Value::String(rest.join(" ")),
            _ if rest.len() == 1 => word_value(entry, last, &rest[0])?,
            _ => {
                return Err(Error::InvalidInput(format!(
                    "target {target:?} has more words than {} has parameters; it takes: {}",
                    entry.name,
                    takes(entry)
                )));
            }
        };
        object.insert(last.name.into(), value);
    }
    Ok(())
}

/// One target word as the JSON value `spec` holds.
fn word_value(entry: &CatalogEntry, spec: &ParamSpec, word: &str) -> Result<Value> {
    let bad = |what: &str| {
        Error::InvalidInput(format!(
            "target word {word:?} is not {what} for {}'s `{}`; it takes: {}",
            entry.name,
            spec.name,
            takes(entry)
        ))
    };
    Ok(match spec.kind {
        ParamKind::Int => Value::from(word.parse::<u64>().map_err(|_| bad("a whole number"))?),
        ParamKind::Bool => Value::Bool(word.parse::<bool>().map_err(|_| bad("true or false"))?),
        ParamKind::List => Value::Array(vec![Value::String(word.into())]),
        ParamKind::Text | ParamKind::Choice => Value::String(word.into()),
    })
}

/// Why a parameter was not used by `entry`.
fn not_taken(entry: &CatalogEntry) -> String {
    format!(
        "{} does not take it (it takes: {})",
        entry.name,
        takes(entry)
    )
}

/// `entry`'s parameters as its catalog text shows them, or `none`.
fn takes(entry: &CatalogEntry) -> &'static str {
    if entry.params.is_empty() {
        "none"
    } else {
        entry.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn every_entry_declares_parameters_serde_accepts() {
        for e in CATALOG {
            for spec in e.param_specs() {
                assert!(e.params.contains(spec.name), "{}: {}", e.name, spec.name);
            }
        }
        let push = entry("git_push").expect("git_push");
        let specs = push.param_specs();
        assert_eq!(
            specs.iter().map(|s| s.name).collect::<Vec<_>>(),
            ["remote", "branch"]
        );
        assert!(
            specs
                .iter()
                .all(|s| s.optional && s.kind == ParamKind::Text)
        );
    }

    #[test]
    fn a_target_fills_the_parameters_in_order() {
        let push = build("git_push", &Map::new(), Some("origin main"), "params").expect("push");
        assert_eq!(
            push.value,
            Action::GitPush {
                remote: "origin".into(),
                branch: Some("main".into())
            }
        );
        assert!(push.ignored.is_empty());
        let commit =
            build("git_commit", &Map::new(), Some("fix the build"), "params").expect("commit");
        assert_eq!(
            commit.value,
            Action::GitCommit {
                message: "fix the build".into()
            }
        );
        let add = build("git_add", &Map::new(), Some("a.txt 'b c.txt'"), "params").expect("add");
        assert_eq!(
            add.value,
            Action::GitAdd {
                paths: vec!["a.txt".into(), "b c.txt".into()]
            }
        );
        let log = build("git_log", &Map::new(), Some("5"), "params").expect("log");
        assert_eq!(log.value, Action::GitLog { count: 5 });
        // The parameter object wins; the target fills what is left.
        let head = build(
            "head_file",
            &obj(json!({"path": "a.txt"})),
            Some("3"),
            "params",
        )
        .expect("head");
        assert_eq!(
            head.value,
            Action::HeadFile {
                path: "a.txt".into(),
                lines: 3
            }
        );
    }

    #[test]
    fn unused_parameters_and_execution_targets_are_reported_not_fatal() {
        let tests = build(
            "run_tests",
            &obj(json!({"working_dir": "."})),
            None,
            "steps[0].params",
        )
        .expect("run_tests");
        assert_eq!(tests.value, Action::RunTests);
        assert_eq!(tests.ignored.len(), 1);
        assert_eq!(tests.ignored[0].field, "steps[0].params.working_dir");
        assert!(
            tests.ignored[0].reason.contains("takes: none"),
            "{:?}",
            tests.ignored
        );
        let status = build("git_status", &Map::new(), Some("laptop"), "params").expect("status");
        assert_eq!(status.value, Action::GitStatus);
        assert_eq!(status.ignored[0].field, "target");
        assert!(status.ignored[0].reason.contains("execution target"));
        let status = build("git_status", &Map::new(), Some("HEAD"), "params").expect("status");
        assert!(status.ignored[0].reason.contains("does not take"));
    }

    #[test]
    fn what_an_action_needs_is_still_checked() {
        for (name, params, target, says) in [
            ("read_file", json!({}), None, "path"),
            ("git_log", json!({}), Some("many"), "whole number"),
            ("git_log", json!({}), Some("1 2"), "more words"),
            ("git_push", json!({}), Some("'unclosed"), "split"),
        ] {
            let e = build(name, &obj(params), target, "params").expect_err(name);
            assert!(
                matches!(&e, Error::InvalidInput(m) if m.contains(says)),
                "{name}: {e}"
            );
        }
    }

    #[test]
    fn action_names_and_command_lines_are_told_apart() {
        for name in ["git_push", "uptime", "deploy_prod", " run_tests "] {
            assert!(names_an_action(name), "{name}");
        }
        for line in ["git push", "ls", "", "./run_me.sh", "Deploy_Prod", "_x"] {
            assert!(!names_an_action(line), "{line}");
        }
    }

    #[test]
    fn an_unknown_action_names_the_closest() {
        let Err(Error::UnknownAction { name, closest }) =
            build("git_pushh", &Map::new(), None, "params")
        else {
            panic!("an unknown action");
        };
        assert_eq!(name, "git_pushh");
        assert_eq!(closest.first().map(String::as_str), Some("git_push"));
        assert_eq!(closest.len(), 3);
        assert!(closest_names("deploy_prod", 3).len() == 3);
    }
}
