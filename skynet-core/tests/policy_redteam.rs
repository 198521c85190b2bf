//! Issue 14 ("fail closed"): the red-team corpus in
//! `fixtures/redteam.toml`, run against the default policy with 0
//! under-classified, and a generator that mutates dangerous argv
//! (abbreviations, clusters, attached values, wrappers, whitespace and
//! NBSP paths, `--`) and asserts none becomes READ_ONLY.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use skynet_core::RiskLevel;
use skynet_core::policy::{Decision, Policy, PolicyContext, Verdict};
use std::path::Path;

const CORPUS: &str = include_str!("fixtures/redteam.toml");

/// Enough `../` to leave any sandbox root.
const UP: &str = "../../../../../../../../../../../../../../../..";

/// The sandbox the corpus describes (see the corpus header).
fn sandbox() -> (tempfile::TempDir, PolicyContext, String) {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let root = base.join("project");
    let out = base.join("outside");
    for d in [root.join("src"), root.join(".git/hooks"), out.clone()] {
        std::fs::create_dir_all(d).unwrap();
    }
    for f in [
        "README.md",
        "notes.txt",
        "src/main.rs",
        "sums.txt",
        "server.key",
        "id_rsa",
        ".git/config",
    ] {
        std::fs::write(root.join(f), "x").unwrap();
    }
    std::fs::write(out.join("secret.txt"), "s").unwrap();
    std::os::unix::fs::symlink("/etc/shadow", root.join("lnk")).unwrap();
    std::os::unix::fs::symlink(out.join("secret.txt"), root.join("outlnk")).unwrap();
    std::os::unix::fs::symlink(&out, root.join("updir")).unwrap();
    let out = out.display().to_string();
    (dir, PolicyContext::rooted(root), out)
}

fn fill(word: &str, root: &Path, out: &str) -> String {
    word.replace("@ROOT", &root.display().to_string())
        .replace("@OUT", out)
        .replace("@UP", UP)
}

/// The corpus: (section, argv) pairs.
fn corpus() -> Vec<(String, Vec<String>)> {
    let table: toml::Table = CORPUS.parse().unwrap();
    let mut all = Vec::new();
    for (section, value) in table {
        for case in value["cases"].as_array().unwrap() {
            let argv = case
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap().to_string())
                .collect();
            all.push((section.clone(), argv));
        }
    }
    all
}

/// Is `d` at least what `section` demands? (`read_only`: exactly allow.)
fn deserves(section: &str, d: &Decision) -> bool {
    match section {
        "read_only" => d.verdict == Verdict::Allow && d.risk == RiskLevel::ReadOnly,
        "write" => d.verdict != Verdict::Allow && d.risk >= RiskLevel::Write,
        "admin" => d.verdict != Verdict::Allow && d.risk >= RiskLevel::Admin,
        "forbid" => d.verdict == Verdict::Forbid,
        other => panic!("unknown corpus section {other}"),
    }
}

#[test]
fn red_team_corpus_is_classified_as_it_deserves() {
    let (_dir, ctx, out) = sandbox();
    let policy = Policy::default();
    let cases = corpus();
    assert!(cases.len() >= 300, "the corpus has {} argv", cases.len());
    let mut failures = Vec::new();
    for (section, argv) in &cases {
        let argv: Vec<String> = argv.iter().map(|w| fill(w, &ctx.roots[0], &out)).collect();
        let d = policy.check(&argv, &ctx);
        if !deserves(section, &d) {
            failures.push(format!("[{section}] {argv:?}: got {}", d.explain()));
        }
        assert!(!d.reasons.is_empty(), "{argv:?} has no reasons");
    }
    assert!(
        failures.is_empty(),
        "{} of {} misclassified:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Wrappers an attacker may put in front of a command. (Not `timeout`:
/// bounding `tail -f` is what makes it READ_ONLY; it is in the corpus.)
const WRAPPERS: &[&[&str]] = &[
    &["env"],
    &["nice"],
    &["nice", "-n", "1"],
    &["timeout", "--foreground", "5"],
    &["stdbuf", "-o0"],
    &["ionice", "-c", "3"],
    &["command"],
    &["time"],
    &["env", "-C", "."],
    &["nohup"],
    &["setsid"],
    &["sudo"],
    &["strace", "-f"],
];

/// A mutation of an argv; each keeps what makes it dangerous.
#[derive(Debug, Clone)]
enum Mutation {
    /// Shorten a `--long` option to a prefix of at least one letter.
    Abbreviate { pick: usize, keep: usize },
    /// Put a flag letter in front of a short option: `-X` -> `-vX`. (A
    /// letter taking a value would swallow `X` and change the command.)
    Cluster { pick: usize, letter: char },
    /// Attach a short option's separate path value: `-o /x` -> `-o/x`.
    /// (Only a path: gluing a pattern such as `x` in `grep -r x /etc`
    /// onto a flag turns it into another, harmless command.)
    Attach { pick: usize },
    /// Prefix a wrapper.
    Wrap { which: usize },
    /// Turn an absolute path into one through a spaced or NBSP directory.
    OddPath { pick: usize, nbsp: bool },
    /// Put `--` before the last word (when it is not an option).
    Dashes,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..12).prop_map(|(pick, keep)| Mutation::Abbreviate { pick, keep }),
        (any::<usize>(), prop::sample::select(vec!['v', 'a']))
            .prop_map(|(pick, letter)| Mutation::Cluster { pick, letter }),
        any::<usize>().prop_map(|pick| Mutation::Attach { pick }),
        (0..WRAPPERS.len()).prop_map(|which| Mutation::Wrap { which }),
        (any::<usize>(), any::<bool>()).prop_map(|(pick, nbsp)| Mutation::OddPath { pick, nbsp }),
        Just(Mutation::Dashes),
    ]
}

/// Index of the `pick`-th argument (after the program) that `f` accepts.
fn nth(argv: &[String], pick: usize, f: impl Fn(&str) -> bool) -> Option<usize> {
    let hits: Vec<usize> = (1..argv.len()).filter(|&i| f(&argv[i])).collect();
    (!hits.is_empty()).then(|| hits[pick % hits.len()])
}

fn apply(mut argv: Vec<String>, m: &Mutation) -> Vec<String> {
    match *m {
        Mutation::Abbreviate { pick, keep } => {
            let long = |a: &str| a.starts_with("--") && a.len() > 3;
            if let Some(i) = nth(&argv, pick, long) {
                let (name, value) = match argv[i][2..].split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (argv[i][2..].to_string(), None),
                };
                let short: String = name.chars().take(keep.max(1)).collect();
                argv[i] = match value {
                    Some(v) => format!("--{short}={v}"),
                    None => format!("--{short}"),
                };
            }
        }
        Mutation::Cluster { pick, letter } => {
            let short = |a: &str| a.len() == 2 && a.starts_with('-') && a != "--";
            if let Some(i) = nth(&argv, pick, short) {
                argv[i] = format!("-{letter}{}", &argv[i][1..]);
            }
        }
        Mutation::Attach { pick } => {
            let short = |a: &str| a.len() == 2 && a.starts_with('-') && a != "--";
            let takes_path = |i: &usize| argv.get(i + 1).is_some_and(|v| v.contains('/'));
            if let Some(i) = nth(&argv, pick, short).filter(takes_path) {
                let value = argv.remove(i + 1);
                argv[i].push_str(&value);
            }
        }
        Mutation::Wrap { which } => {
            let mut w: Vec<String> = WRAPPERS[which].iter().map(|s| s.to_string()).collect();
            w.append(&mut argv);
            argv = w;
        }
        Mutation::OddPath { pick, nbsp } => {
            if let Some(i) = nth(&argv, pick, |a| a.starts_with("/etc/")) {
                let dir = if nbsp { "x\u{a0}" } else { "a b" };
                argv[i] = format!("{dir}/{UP}{}", argv[i]);
            }
        }
        Mutation::Dashes => {
            if argv.len() > 2 && !argv[argv.len() - 1].starts_with('-') {
                argv.insert(argv.len() - 1, "--".into());
            }
        }
    }
    argv
}

/// Dangerous seeds: the corpus's WRITE, ADMIN and forbidden argv that
/// reach their risk through options, wrappers or paths.
fn seeds() -> Vec<Vec<String>> {
    // Made-up options are dangerous only because they are unknown: a
    // prefix of one may be a real, harmless option.
    let made_up = |a: &Vec<String>| a.iter().any(|w| w == "--bogus" || w.starts_with("--frob"));
    corpus()
        .into_iter()
        .filter(|(s, a)| s != "read_only" && !made_up(a))
        .map(|(_, a)| a)
        .collect()
}

proptest! {
    // A fixed seed: CI runs the same 2,048 mutations every time (a random
    // run that finds a new case fails a merge nobody caused). Explore with
    // another seed by editing it here; no regression files are written.
    #![proptest_config(ProptestConfig {
        cases: 2048,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x005e_ed14),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_dangerous_argv_never_become_read_only(
        seed in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        thread_local! {
            static FIXTURE: (tempfile::TempDir, PolicyContext, String, Vec<Vec<String>>) = {
                let (d, c, o) = sandbox();
                (d, c, o, seeds())
            };
        }
        FIXTURE.with(|(_, ctx, out, seeds)| {
            let base: Vec<String> = seeds[seed.index(seeds.len())]
                .iter()
                .map(|w| fill(w, &ctx.roots[0], out))
                .collect();
            let mut argv = base.clone();
            for m in &muts {
                argv = apply(argv, m);
            }
            let d = Policy::default().check(&argv, ctx);
            prop_assert!(
                d.verdict != Verdict::Allow,
                "{base:?} mutated by {muts:?} into {argv:?} is READ_ONLY: {}",
                d.explain()
            );
            Ok(())
        })?;
    }
}
