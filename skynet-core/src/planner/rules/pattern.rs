//! A tiny phrase-pattern language, compiled to linear patterns.
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

/// Longest linear expansion list one pattern may produce.
const MAX_EXPANSIONS: usize = 512;

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
pub(super) enum Atom {
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
    pub(super) atoms: Vec<Atom>,
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
