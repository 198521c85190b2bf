//! Splitting an intent into ordered clauses and stripping polite filler.

use super::words::{Kind, Token, lex};

/// One clause of an intent.
#[derive(Debug, Clone)]
pub(crate) struct Clause {
    /// The clause as the user wrote it (for error messages).
    pub raw: String,
    /// Its tokens, filler removed.
    pub tokens: Vec<Token>,
    /// Where it starts and ends in the intent (bytes).
    pub span: (usize, usize),
}

impl Clause {
    /// True if a quote or backtick in the clause was never closed.
    pub fn unterminated(&self) -> bool {
        self.tokens.iter().any(|t| t.unterminated)
    }
}

/// Words that join clauses: "check status and then run the tests".
const CONNECTORS: &[&str] = &[
    "and",
    "then",
    "finally",
    "afterwards",
    "afterward",
    "lastly",
    "&&",
];

/// Two-word connectors: "after that", "followed by".
const CONNECTOR_PAIRS: &[(&str, &[&str])] =
    &[("after", &["that", "this", "which"]), ("followed", &["by"])];

/// Polite or sequencing words dropped from the start of a clause, longest
/// first so "first of all" wins over "first".
const LEADING_FILLER: &[&[&str]] = &[
    &["i", "would", "like", "you", "to"],
    &["i", "want", "you", "to"],
    &["i", "need", "you", "to"],
    &["i", "would", "like", "to"],
    &["go", "ahead", "and"],
    &["first", "of", "all"],
    &["i", "want", "to"],
    &["i", "need", "to"],
    &["we", "need", "to"],
    &["you", "should"],
    &["can", "you"],
    &["could", "you"],
    &["would", "you"],
    &["will", "you"],
    &["can", "u"],
    &["let", "us"],
    &["to", "start"],
    &["help", "me"],
    &["tell", "me"],
    &["try", "to"],
    &["please"],
    &["pls"],
    &["plz"],
    &["kindly"],
    &["just"],
    &["now"],
    &["also"],
    &["first"],
    &["firstly"],
    &["next"],
    &["ok"],
    &["okay"],
    &["hey"],
    &["and"],
    &["then"],
    &["finally"],
    &["lastly"],
];

/// Polite words dropped from the end of a clause.
const TRAILING_FILLER: &[&[&str]] = &[
    &["right", "now"],
    &["thank", "you"],
    &["for", "me"],
    &["please"],
    &["pls"],
    &["thanks"],
    &["now"],
    &["asap"],
];

/// Split an intent into clauses, in order. Filler-only clauses are dropped.
pub(crate) fn split(src: &str) -> Vec<Clause> {
    let tokens = lex(src);
    let mut clauses = Vec::new();
    let mut current: Vec<Token> = Vec::new();
    let mut i = 0;
    while let Some(t) = tokens.get(i) {
        let width = connector_width(&tokens[i..]);
        if t.kind == Kind::Sep || width > 0 {
            flush(src, &mut current, &mut clauses);
            i += width.max(1);
        } else {
            current.push(t.clone());
            i += 1;
        }
    }
    flush(src, &mut current, &mut clauses);
    clauses
}

/// How many tokens a connector at the start of `tokens` spans (0: none).
fn connector_width(tokens: &[Token]) -> usize {
    let Some(first) = tokens.first() else {
        return 0;
    };
    if first.kind != Kind::Word {
        return 0;
    }
    if CONNECTORS.contains(&first.lower.as_str()) {
        return 1;
    }
    let pair = CONNECTOR_PAIRS.iter().any(|(a, rest)| {
        first.lower == *a
            && tokens
                .get(1)
                .is_some_and(|t| rest.iter().any(|r| t.is_word(r)))
    });
    if pair { 2 } else { 0 }
}

fn flush(src: &str, current: &mut Vec<Token>, clauses: &mut Vec<Clause>) {
    let tokens = std::mem::take(current);
    let (Some(first), Some(last)) = (tokens.first(), tokens.last()) else {
        return;
    };
    let raw = src
        .get(first.start..last.end.max(first.start))
        .unwrap_or_default()
        .trim()
        .to_string();
    let span = (first.start, last.end.max(first.start));
    let tokens = strip_filler(tokens);
    if !tokens.is_empty() {
        clauses.push(Clause { raw, tokens, span });
    }
}

/// `a` and `b` as one clause, with the connector between them kept as
/// words: "search for salt" + "pepper" = "search for salt and pepper".
pub(crate) fn join(src: &str, a: &Clause, b: &Clause) -> Clause {
    let (start, end) = (a.span.0, b.span.1);
    let text = src.get(start..end).unwrap_or_default();
    let tokens = lex(text)
        .into_iter()
        .map(|mut t| {
            t.start += start;
            t.end += start;
            t
        })
        .collect();
    Clause {
        raw: text.trim().to_string(),
        tokens: strip_filler(tokens),
        span: (start, end),
    }
}

/// Remove leading and trailing filler phrases (repeatedly).
pub(crate) fn strip_filler(mut tokens: Vec<Token>) -> Vec<Token> {
    while let Some(p) = LEADING_FILLER
        .iter()
        .find(|p| starts_with_words(&tokens, p))
    {
        tokens.drain(..p.len());
    }
    while let Some(p) = TRAILING_FILLER.iter().find(|p| {
        tokens.len() >= p.len() && starts_with_words(&tokens[tokens.len() - p.len()..], p)
    }) {
        tokens.truncate(tokens.len() - p.len());
    }
    tokens
}

fn starts_with_words(tokens: &[Token], words: &[&str]) -> bool {
    tokens.len() >= words.len() && tokens.iter().zip(words).all(|(t, w)| t.is_word(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raws(s: &str) -> Vec<String> {
        split(s).into_iter().map(|c| c.raw).collect()
    }

    fn words(s: &str) -> Vec<Vec<String>> {
        split(s)
            .into_iter()
            .map(|c| c.tokens.into_iter().map(|t| t.text).collect())
            .collect()
    }

    #[test]
    fn splitting_cases() {
        let cases: &[(&str, &[&str])] = &[
            ("check git status", &["check git status"]),
            (
                "check git status, run the tests, then push to origin",
                &["check git status", "run the tests", "push to origin"],
            ),
            ("build; test", &["build", "test"]),
            ("build and test", &["build", "test"]),
            ("build and then test", &["build", "test"]),
            ("build, and then finally test", &["build", "test"]),
            ("build after that test", &["build", "test"]),
            ("build. Then test!", &["build", "test"]),
            ("build\ntest\r\npush", &["build", "test", "push"]),
            ("first build then test", &["first build", "test"]),
            ("build && test", &["build", "test"]),
            ("build followed by test", &["build", "test"]),
            (
                "write 'a, b and c' to notes.txt",
                &["write 'a, b and c' to notes.txt"],
            ),
            (
                "write \"x; then y\" to a.txt and build",
                &["write \"x; then y\" to a.txt", "build"],
            ),
            (
                "run `make a && make b`, then push",
                &["run `make a && make b`", "push"],
            ),
            ("  ,, ; and then ", &[]),
            ("please, build", &["build"]),
        ];
        for (input, want) in cases {
            assert_eq!(raws(input), *want, "splitting {input:?}");
        }
    }

    #[test]
    fn filler_is_removed_from_both_ends() {
        assert_eq!(
            words("Please check git status"),
            [["check", "git", "status"]]
        );
        assert_eq!(
            words("can you please build it for me, thanks"),
            [vec!["build", "it"]]
        );
        assert_eq!(
            words("I want you to show the diff please!"),
            [["show", "the", "diff"]]
        );
        assert_eq!(words("first of all build"), [["build"]]);
        assert_eq!(words("could you"), Vec::<Vec<String>>::new());
    }

    #[test]
    fn quoted_filler_words_are_kept() {
        assert_eq!(
            words("write 'please' to a"),
            [["write", "please", "to", "a"]]
        );
        assert_eq!(words("commit 'then'"), [["commit", "then"]]);
    }

    #[test]
    fn unterminated_quote_is_reported_on_its_clause() {
        let c = split("build, write 'oops to a.txt, then push");
        assert_eq!(c.len(), 2);
        assert!(!c[0].unterminated());
        assert!(c[1].unterminated());
    }
}
