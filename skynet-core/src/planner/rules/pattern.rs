//! A tiny phrase-pattern language and its matcher.
//!
//! Syntax (words are case-insensitive):
//! - `word`, `a|b|c`: a literal word or one of several;
//! - `[ ... ]`: optional; `( x y | z )`: alternative sequences;
//! - `{name}`: one word or quoted string; `{name+}`: one or more tokens;
//! - `{name:file}` a path-looking token; `{name:dir}` a token or a phrase
//!   meaning "here"; `{name:n}` a count; `{name:cmd}` a backtick command;
//!   `{name:q}` a quoted string; `{name:cmdq}` backtick or quoted.
//!
//! Articles (`the`, `a`, ...) may appear before any element. Optionals are
//! expanded at compile time into linear patterns, "present" first, so the
//! more specific reading wins.

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

/// Longest linear expansion list one pattern may produce.
const MAX_EXPANSIONS: usize = 512;
/// Matcher steps allowed per pattern per clause (hostile input guard).
const MATCH_BUDGET: usize = 20_000;

/// What a slot accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotKind {
    One,
    Many,
    File,
    Dir,
    Count,
    Cmd,
    CmdOrQuoted,
    Quoted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    /// Alternatives, each a word sequence.
    Lit(Vec<Vec<String>>),
    Slot(&'static str, SlotKind),
}

#[derive(Debug, Clone)]
enum Node {
    Atom(Atom),
    Opt(Vec<Node>),
    Alt(Vec<Vec<Node>>),
}

/// A compiled, linear pattern.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    atoms: Vec<Atom>,
}

/// Compile a pattern into its linear expansions.
pub(crate) fn compile(src: &'static str) -> Result<Vec<Pattern>, String> {
    let lexemes = pattern_lexemes(src);
    let mut pos = 0;
    let nodes = parse_seq(&lexemes, &mut pos, None)?;
    if pos != lexemes.len() {
        return Err(format!("pattern {src:?}: unexpected {:?}", lexemes[pos]));
    }
    let expanded = expand(&nodes)?;
    Ok(expanded
        .into_iter()
        .map(|atoms| Pattern { atoms })
        .collect())
}

/// Split a pattern into `[ ] ( ) {slot}` and words.
fn pattern_lexemes(src: &'static str) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in src.char_indices() {
        let special = matches!(c, '[' | ']' | '(' | ')');
        if c.is_whitespace() || special || (c == '{' && start.is_none()) {
            if let Some(s) = start.take() {
                out.push(&src[s..i]);
            }
            if special {
                out.push(&src[i..i + 1]);
            } else if c == '{' {
                start = Some(i);
            }
        } else if c == '}' {
            if let Some(s) = start.take() {
                out.push(&src[s..=i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(&src[s..]);
    }
    out
}

/// Parse until `close`. Inside `( )`, `|` separates whole sequences.
fn parse_seq(
    lx: &[&'static str],
    pos: &mut usize,
    close: Option<&str>,
) -> Result<Vec<Node>, String> {
    let in_group = close == Some(")");
    let mut seqs: Vec<Vec<Node>> = vec![Vec::new()];
    while let Some(&l) = lx.get(*pos) {
        *pos += 1;
        let cur = |s: &mut Vec<Vec<Node>>, n: Node| {
            if let Some(last) = s.last_mut() {
                last.push(n);
            }
        };
        match l {
            "]" | ")" if Some(l) == close => {
                return Ok(if in_group {
                    vec![group(seqs)]
                } else {
                    seqs.concat()
                });
            }
            "]" | ")" => return Err(format!("unbalanced {l:?}")),
            "[" => {
                let inner = parse_seq(lx, pos, Some("]"))?;
                cur(&mut seqs, Node::Opt(inner));
            }
            "(" => {
                let inner = parse_seq(lx, pos, Some(")"))?;
                if let Some(last) = seqs.last_mut() {
                    last.extend(inner);
                }
            }
            _ if l.starts_with('{') => cur(&mut seqs, Node::Atom(parse_slot(l)?)),
            _ if in_group => {
                for (k, part) in l.split('|').enumerate() {
                    if k > 0 {
                        seqs.push(Vec::new());
                    }
                    if !part.is_empty() {
                        cur(
                            &mut seqs,
                            Node::Atom(Atom::Lit(vec![vec![part.to_lowercase()]])),
                        );
                    }
                }
            }
            _ => {
                let alts = l.split('|').map(|w| vec![w.to_lowercase()]).collect();
                cur(&mut seqs, Node::Atom(Atom::Lit(alts)));
            }
        }
    }
    match close {
        None => Ok(seqs.concat()),
        Some(c) => Err(format!("missing {c:?}")),
    }
}

/// A group of plain word sequences is one literal with several spellings
/// (no expansion); anything else is an alternation to expand.
fn group(seqs: Vec<Vec<Node>>) -> Node {
    let words = |seq: &Vec<Node>| -> Option<Vec<String>> {
        let mut out = Vec::new();
        for n in seq {
            match n {
                Node::Atom(Atom::Lit(alts)) if alts.len() == 1 => out.extend(alts[0].clone()),
                _ => return None,
            }
        }
        (!out.is_empty()).then_some(out)
    };
    match seqs.iter().map(words).collect::<Option<Vec<_>>>() {
        Some(alts) => Node::Atom(Atom::Lit(alts)),
        None => Node::Alt(seqs),
    }
}

fn parse_slot(l: &'static str) -> Result<Atom, String> {
    let body = l
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or_else(|| format!("bad slot {l:?}"))?;
    if let Some(name) = body.strip_suffix('+') {
        return Ok(Atom::Slot(name, SlotKind::Many));
    }
    let (name, kind) = body.split_once(':').unwrap_or((body, ""));
    let kind = match kind {
        "" => SlotKind::One,
        "file" => SlotKind::File,
        "dir" => SlotKind::Dir,
        "n" => SlotKind::Count,
        "cmd" => SlotKind::Cmd,
        "cmdq" => SlotKind::CmdOrQuoted,
        "q" => SlotKind::Quoted,
        other => return Err(format!("unknown slot kind {other:?} in {l:?}")),
    };
    Ok(Atom::Slot(name, kind))
}

fn expand(nodes: &[Node]) -> Result<Vec<Vec<Atom>>, String> {
    let mut acc: Vec<Vec<Atom>> = vec![Vec::new()];
    for node in nodes {
        let options = match node {
            Node::Atom(a) => vec![vec![a.clone()]],
            Node::Opt(inner) => {
                let mut v = expand(inner)?;
                v.push(Vec::new());
                v
            }
            Node::Alt(seqs) => {
                let mut v = Vec::new();
                for s in seqs {
                    v.extend(expand(s)?);
                }
                v
            }
        };
        if acc.len() * options.len() > MAX_EXPANSIONS {
            return Err("too many expansions; split the pattern".into());
        }
        acc = acc
            .iter()
            .flat_map(|a| options.iter().map(move |o| [a.as_slice(), o].concat()))
            .collect();
    }
    Ok(acc)
}

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
        let starts = if skipped == ti {
            vec![ti]
        } else {
            vec![ti, skipped]
        };
        for t0 in starts {
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
    use super::*;
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
