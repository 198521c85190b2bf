//! Matching compiled patterns against a clause's tokens.
//!
//! Articles (`the`, `a`, ...) may be skipped before any element; a slot
//! first tries to include them ("write a note to x"). Backtracking is
//! bounded by a step budget, so hostile clauses cannot blow up.

use super::pattern::{Atom, Pattern, SlotKind};
use super::words::{ARTICLES, Kind, Token, parse_count};

/// Phrases a `{x:dir}` slot reads as the current directory.
const HERE: &[&[&str]] = &[
    &["here"],
    &["everywhere"],
    &["codebase"],
    &["this", "directory"],
    &["this", "folder"],
    &["this", "dir"],
    &["this", "repo"],
    &["this", "repository"],
    &["this", "project"],
    &["current", "directory"],
    &["current", "folder"],
    &["current", "dir"],
    &["working", "directory"],
    &["the", "code"],
    &["the", "codebase"],
    &["the", "project"],
    &["the", "repo"],
    &["the", "repository"],
    &["the", "source"],
    &["all", "files"],
];

/// Matcher steps allowed per pattern per clause (hostile input guard).
const MATCH_BUDGET: usize = 20_000;

/// Captured slot values, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Captures(Vec<(&'static str, String)>);

impl Captures {
    /// The value of a slot, if the matched reading had it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Copy)]
struct RawCap {
    name: &'static str,
    from: usize,
    to: usize,
    here: bool,
}

impl Pattern {
    /// Whether this pattern could match a clause starting with `first`
    /// (its first token) or `after_articles` (its first non-article
    /// token): a pattern that starts with a literal needs one of them.
    pub fn may_start_with(&self, first: &str, after_articles: &str) -> bool {
        match self.atoms.first() {
            Some(Atom::Lit(alts)) => alts.iter().any(|alt| {
                alt.first()
                    .is_some_and(|w| w == first || w == after_articles)
            }),
            _ => true,
        }
    }

    /// Match the whole token list; returns the captures on success.
    pub fn matches(&self, tokens: &[Token], source: &str) -> Option<Captures> {
        let mut m = Matcher {
            atoms: &self.atoms,
            toks: tokens,
            budget: MATCH_BUDGET,
            caps: Vec::new(),
        };
        if !m.go(0, 0) {
            return None;
        }
        let caps = m.caps.iter().map(|c| (c.name, value(c, tokens, source)));
        Some(Captures(caps.collect()))
    }
}

fn value(c: &RawCap, toks: &[Token], source: &str) -> String {
    if c.here {
        return ".".into();
    }
    match toks.get(c.from..c.to) {
        Some([one]) => one.text.clone(),
        Some([first, .., last]) => source
            .get(first.start..last.end)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

struct Matcher<'a> {
    atoms: &'a [Atom],
    toks: &'a [Token],
    budget: usize,
    caps: Vec<RawCap>,
}

impl Matcher<'_> {
    fn go(&mut self, ai: usize, ti: usize) -> bool {
        if self.budget == 0 {
            return false;
        }
        self.budget -= 1;
        let skipped = self.skip_articles(ti);
        let Some(atom) = self.atoms.get(ai) else {
            return skipped == self.toks.len();
        };
        // No allocation per step: this runs for every pattern tried.
        let starts = [ti, skipped];
        let n = if skipped == ti { 1 } else { 2 };
        for &t0 in &starts[..n] {
            let ok = match atom {
                Atom::Lit(alts) => alts
                    .iter()
                    .any(|alt| self.words_at(t0, alt) && self.go(ai + 1, t0 + alt.len())),
                Atom::Slot(name, kind) => self.slot(ai, t0, name, *kind),
            };
            if ok {
                return true;
            }
        }
        false
    }

    fn slot(&mut self, ai: usize, t0: usize, name: &'static str, kind: SlotKind) -> bool {
        let len = self.toks.len();
        if kind == SlotKind::Dir {
            for phrase in HERE {
                if self.words_at(t0, phrase) && self.capture(ai, name, t0, t0 + phrase.len(), true)
                {
                    return true;
                }
            }
        }
        if kind == SlotKind::Many {
            return (t0 + 1..=len).any(|end| self.capture(ai, name, t0, end, false));
        }
        match self.toks.get(t0) {
            Some(t) if accepts(kind, t) => self.capture(ai, name, t0, t0 + 1, false),
            _ => false,
        }
    }

    fn capture(
        &mut self,
        ai: usize,
        name: &'static str,
        from: usize,
        to: usize,
        here: bool,
    ) -> bool {
        self.caps.push(RawCap {
            name,
            from,
            to,
            here,
        });
        if self.go(ai + 1, to) {
            return true;
        }
        self.caps.pop();
        false
    }

    fn skip_articles(&self, mut ti: usize) -> usize {
        while self
            .toks
            .get(ti)
            .is_some_and(|t| t.kind == Kind::Word && ARTICLES.contains(&t.lower.as_str()))
        {
            ti += 1;
        }
        ti
    }

    fn words_at<S: AsRef<str>>(&self, ti: usize, words: &[S]) -> bool {
        self.toks
            .get(ti..ti + words.len())
            .is_some_and(|ts| ts.iter().zip(words).all(|(t, w)| t.is_word(w.as_ref())))
    }
}

fn accepts(kind: SlotKind, t: &Token) -> bool {
    match kind {
        SlotKind::One | SlotKind::Many => matches!(t.kind, Kind::Word | Kind::Quoted),
        // "current" alone is the start of "current directory", not a name.
        SlotKind::Dir => {
            t.kind == Kind::Quoted
                || (t.kind == Kind::Word
                    && !["current", "this", "working"].contains(&t.lower.as_str()))
        }
        SlotKind::File => {
            t.kind == Kind::Quoted || (t.kind == Kind::Word && looks_like_path(&t.text))
        }
        SlotKind::Count => t.kind == Kind::Word && parse_count(&t.text).is_some(),
        SlotKind::Cmd => t.kind == Kind::Backtick,
        SlotKind::CmdOrQuoted => matches!(t.kind, Kind::Backtick | Kind::Quoted),
        SlotKind::Quoted => t.kind == Kind::Quoted,
    }
}

/// A bare word that can only be a path: has a `/`, or a `.` that is not
/// its last character (`README.md`, `.env`, `./x`).
pub(crate) fn looks_like_path(w: &str) -> bool {
    w.contains('/') || w.trim_end_matches('.').contains('.') || w == "." || w == ".."
}

#[cfg(test)]
mod tests {
    use crate::planner::rules::pattern::compile;
    use crate::planner::rules::words::lex;

    fn run(pattern: &'static str, input: &str) -> Option<Vec<(&'static str, String)>> {
        let toks = lex(input);
        compile(pattern)
            .expect("compiles")
            .iter()
            .find_map(|p| p.matches(&toks, input))
            .map(|c| c.0)
    }

    #[test]
    fn literals_optionals_and_articles() {
        let p = "[show|check] [git] status [of (repo|working tree)]";
        for ok in [
            "status",
            "show the status",
            "check git status of the working tree",
        ] {
            assert!(run(p, ok).is_some(), "{ok}");
        }
        for bad in ["show", "status of", "status please", "git git status"] {
            assert!(run(p, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn slots_capture_words_quotes_and_spans() {
        let p = "search [for] {pattern+} [in {path:dir}]";
        assert_eq!(
            run(p, "search for fn main in src"),
            Some(vec![("pattern", "fn main".into()), ("path", "src".into())])
        );
        assert_eq!(
            run(p, "search 'a b'"),
            Some(vec![("pattern", "a b".into())])
        );
        assert_eq!(
            run(p, "search x in the current directory"),
            Some(vec![("pattern", "x".into()), ("path", ".".into())])
        );
    }

    #[test]
    fn typed_slots_are_picky() {
        assert!(run("show {p:file}", "show status").is_none());
        assert!(run("show {p:file}", "show a.txt").is_some());
        assert!(run("log {n:n}", "log five").is_some());
        assert!(run("log {n:n}", "log x").is_none());
        assert!(run("run {c:cmd}", "run 'x'").is_none());
        assert!(run("run {c:cmdq}", "run 'x'").is_some());
    }

    #[test]
    fn bad_patterns_are_errors() {
        assert!(compile("[a").is_err());
        assert!(compile("a)").is_err());
        assert!(compile("{x:zzz}").is_err());
        assert!(compile("[a] [b] [c] [d] [e] [f] [g] [h] [i] [j]").is_err());
    }
}
