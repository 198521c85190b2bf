//! Hostile input: garbage, huge and odd intents never panic.

use super::RulePlanner;
use crate::Error;

fn planning_error(intent: &str) -> String {
    match RulePlanner::new().actions(intent) {
        Err(Error::Planning(m)) => m,
        other => panic!("{intent:?} should be a planning error, got {other:?}"),
    }
}

/// A small deterministic generator (xorshift) for garbage intents.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn intent(&mut self) -> String {
        const PIECES: &[&str] = &[
            "show",
            "the",
            "diff",
            "run",
            "tests",
            "write",
            "to",
            "into",
            "file",
            "commit",
            "message",
            "push",
            "origin",
            "find",
            "in",
            "src",
            "how",
            "much",
            "space",
            "does",
            "what's",
            "is",
            "and",
            "then",
            "after",
            "that",
            "first",
            "please",
            "'",
            "\"",
            "`",
            "``",
            ",",
            ";",
            ".",
            "!",
            "?",
            ":",
            "\n",
            "\r",
            "\t",
            "\0",
            "\u{1b}",
            "\u{202e}",
            "\u{feff}",
            "é",
            "🦀",
            "👩‍💻",
            "’",
            "‘",
            "“",
            "”",
            "--force",
            "-",
            "a.txt",
            "..",
            "/",
            "$HOME",
            "~",
            "*",
            "|",
            "&&",
            "5",
            "-3",
            "99999999999",
            "five",
            "here",
            "current",
            "directory",
            "mkdir",
            "rm",
            "-rf",
            "git",
            "log",
            "status",
            "cargo",
            "test",
            "with",
            "containing",
            "content",
            "for",
            "grep",
            "ls",
            "du",
            "uname",
            "read",
        ];
        let n = self.below(40);
        let mut s = String::new();
        for _ in 0..n {
            match self.below(10) {
                0 => s.push(char::from_u32(self.below(0x11_0000) as u32).unwrap_or('x')),
                1 => {}
                _ => s.push(' '),
            }
            s.push_str(PIECES[self.below(PIECES.len())]);
        }
        s
    }
}

#[test]
fn garbage_never_panics() {
    let planner = RulePlanner::new();
    let mut g = Garbage(0x9E37_79B9_7F4A_7C15);
    let mut ok = 0;
    for _ in 0..4000 {
        let intent = g.intent();
        match planner.actions(&intent) {
            Ok(steps) => {
                assert!(!steps.is_empty());
                ok += 1;
            }
            Err(Error::Planning(_)) => {}
            Err(other) => panic!("{intent:?}: unexpected error {other:?}"),
        }
    }
    // The generator must reach the matcher, not only the error paths.
    assert!(ok > 10, "only {ok} garbage intents planned");
}

#[test]
fn huge_intents_are_handled() {
    let planner = RulePlanner::new();
    let k16 = 16 * 1024;
    let big = [
        "a".repeat(k16),
        "the ".repeat(k16 / 4),
        "show ".repeat(k16 / 5),
        "'".repeat(k16),
        "`".repeat(k16),
        ",".repeat(k16),
        "🦀".repeat(k16 / 4),
        format!("write {} to a.txt", "word ".repeat(k16 / 5)),
        format!("search for {} in src", "x in ".repeat(k16 / 5)),
        format!("read '{}'", "z".repeat(k16)),
        format!("run `{}`", "echo ".repeat(k16 / 5)),
    ];
    for intent in &big {
        match planner.actions(intent) {
            Ok(_) | Err(Error::Planning(_)) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    // Long parameters plan fine; long clauses are shortened in errors.
    let got = planner.actions(&big[7]).expect("long unquoted content");
    assert_eq!(
        got[0].0,
        format!("Write {} bytes to a.txt", k16 / 5 * 5 - 1)
    );
    let m = planning_error(&big[0]);
    assert!(m.len() < 1_000, "error is {} bytes", m.len());
}
