//! Lexing an intent into words, quoted strings and backtick commands.
//!
//! Quotes and backticks are opaque: nothing inside them is ever split,
//! lower-cased or stripped, so parameters keep the user's exact text.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A bare word (trailing `.!?:` removed).
    Word,
    /// A `'...'` or `"..."` string; `text` is the inside.
    Quoted,
    /// A `` `...` `` command; `text` is the inside.
    Backtick,
    /// A clause separator: `,` `;` a newline, or the end of a sentence.
    Sep,
}

/// One lexed token with its byte span in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    /// The word, or the inside of a quote/backtick.
    pub text: String,
    /// Lower-cased word used to match phrases (empty for non-words).
    pub lower: String,
    /// Byte span in the source (quotes included).
    pub start: usize,
    pub end: usize,
    /// A quote or backtick that was never closed.
    pub unterminated: bool,
}

impl Token {
    /// True for a bare word equal (case-insensitively) to `w`.
    pub fn is_word(&self, w: &str) -> bool {
        self.kind == Kind::Word && self.lower == w
    }
}

/// Words the matcher may skip before any phrase element.
pub(crate) const ARTICLES: &[&str] = &["the", "a", "an", "my", "our"];

/// Contractions expanded so phrases need only one spelling.
const CONTRACTIONS: &[(&str, &[&str])] = &[
    ("what's", &["what", "is"]),
    ("what're", &["what", "are"]),
    ("whats", &["what", "is"]),
    ("where's", &["where", "is"]),
    ("how's", &["how", "is"]),
    ("that's", &["that", "is"]),
    ("it's", &["it", "is"]),
    ("let's", &["let", "us"]),
    ("i'd", &["i", "would"]),
    ("i'm", &["i", "am"]),
    ("we'd", &["we", "would"]),
];

/// Small number words accepted as counts.
const NUMBER_WORDS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

/// Parse a count: digits (an optional leading `-`, as in `git log -5`) or
/// a number word.
pub(crate) fn parse_count(word: &str) -> Option<u32> {
    let digits = word.strip_prefix('-').unwrap_or(word);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.parse().ok();
    }
    let lower = word.to_lowercase();
    NUMBER_WORDS
        .iter()
        .position(|w| *w == lower)
        .and_then(|i| u32::try_from(i).ok())
}

/// A parameter as shown to people: control characters escaped and long
/// values cut (with `…`), so a description or error stays one short line.
pub(crate) fn show(value: &str) -> String {
    show_max(value, 80)
}

/// [`show`] with an explicit limit in characters.
pub(crate) fn show_max(value: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in value.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Split `src` into tokens. Never fails: an unclosed quote runs to the end
/// of the input and is flagged `unterminated`.
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map_or(src.len(), |c| c.0);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&(pos, c)) = chars.get(i) {
        if matches!(c, '\n' | '\r' | ',' | ';') {
            out.push(sep(pos, pos + c.len_utf8()));
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '`' {
            i = lex_backtick(src, &chars, i, &mut out);
        } else if let Some(closers) = closing_quotes(c) {
            i = lex_quote(src, &chars, i, closers, &mut out);
        } else {
            let s = i;
            while chars
                .get(i)
                .is_some_and(|&(_, c)| !c.is_whitespace() && c != ',' && c != ';')
            {
                i += 1;
            }
            push_word(src, byte_at(s), byte_at(i), &mut out);
        }
    }
    out
}

fn sep(start: usize, end: usize) -> Token {
    Token {
        kind: Kind::Sep,
        text: String::new(),
        lower: String::new(),
        start,
        end,
        unterminated: false,
    }
}

/// The characters that may close a quote opened by `c`.
fn closing_quotes(c: char) -> Option<&'static [char]> {
    match c {
        '\'' | '‘' => Some(&['\'', '’']),
        '"' | '“' | '”' => Some(&['"', '”', '“']),
        _ => None,
    }
}

/// Lex a quote starting at `chars[i]`; returns the index after it.
fn lex_quote(
    src: &str,
    chars: &[(usize, char)],
    i: usize,
    closers: &[char],
    out: &mut Vec<Token>,
) -> usize {
    let (start, open) = chars[i];
    // A single quote closes only before a boundary, so "it's" stays inside.
    let needs_boundary = matches!(open, '\'' | '‘');
    let close = (i + 1..chars.len()).find(|&j| {
        closers.contains(&chars[j].1)
            && (!needs_boundary
                || chars.get(j + 1).is_none_or(|&(_, n)| {
                    n.is_whitespace() || matches!(n, ',' | ';' | '.' | '!' | '?' | ':' | ')')
                }))
    });
    let inner_start = start + open.len_utf8();
    let (inner_end, end, next, unterminated) = match close {
        Some(j) => (chars[j].0, chars[j].0 + chars[j].1.len_utf8(), j + 1, false),
        None => (src.len(), src.len(), chars.len(), true),
    };
    out.push(Token {
        kind: Kind::Quoted,
        text: src[inner_start..inner_end].to_string(),
        lower: String::new(),
        start,
        end,
        unterminated,
    });
    next
}

/// Lex a run of N backticks, up to the next run of exactly N.
fn lex_backtick(src: &str, chars: &[(usize, char)], i: usize, out: &mut Vec<Token>) -> usize {
    let start = chars[i].0;
    let run = chars[i..].iter().take_while(|c| c.1 == '`').count();
    let inner = i + run;
    let mut j = inner;
    let mut close = None;
    while j < chars.len() {
        let len = chars[j..].iter().take_while(|c| c.1 == '`').count();
        if len == run {
            close = Some(j);
            break;
        }
        j += len.max(1);
    }
    let inner_start = chars.get(inner).map_or(src.len(), |c| c.0);
    let (inner_end, end, next, unterminated) = match close {
        Some(j) => (chars[j].0, chars[j].0 + run, j + run, false),
        None => (src.len(), src.len(), chars.len(), true),
    };
    out.push(Token {
        kind: Kind::Backtick,
        text: src[inner_start.min(inner_end)..inner_end].to_string(),
        lower: String::new(),
        start,
        end,
        unterminated,
    });
    next
}

/// Push a bare word: trailing `!?:` and a sentence-ending `.` are removed
/// (`!?.` then end the clause); contractions become several words.
fn push_word(src: &str, start: usize, end: usize, out: &mut Vec<Token>) {
    let raw = &src[start..end];
    let glued = out.last().is_some_and(|t| t.end == start);
    if raw.chars().all(|c| matches!(c, '.' | '!' | '?' | ':')) && glued {
        // Punctuation right after a quote: `'x'.`
        if raw.chars().any(|c| c != ':') {
            out.push(sep(start, end));
        }
        return;
    }
    let mut word = raw;
    let mut sentence_end = false;
    loop {
        let before = word.len();
        if let Some(w) = word.strip_suffix(['!', '?']) {
            sentence_end = true;
            word = w;
        } else if let Some(w) = word.strip_suffix(':') {
            word = w;
        } else if let Some(w) = word.strip_suffix('.') {
            // Keep `.`, `..`, `src/..`, `dir/.`: they are paths.
            if w.is_empty() || w.ends_with(['.', '/']) {
                break;
            }
            sentence_end = true;
            word = w;
        }
        if word.len() == before || word.is_empty() {
            break;
        }
    }
    if !word.is_empty() {
        let lower = word.to_lowercase().replace('’', "'");
        let word_end = start + word.len();
        match CONTRACTIONS.iter().find(|(c, _)| *c == lower) {
            Some((_, parts)) => {
                for p in *parts {
                    out.push(word_token(p, p, start, word_end));
                }
            }
            None => out.push(word_token(word, &lower, start, word_end)),
        }
    }
    if sentence_end {
        out.push(sep(start + word.len(), end));
    }
}

fn word_token(text: &str, lower: &str, start: usize, end: usize) -> Token {
    Token {
        kind: Kind::Word,
        text: text.to_string(),
        lower: lower.to_string(),
        start,
        end,
        unterminated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Kind, String)> {
        lex(s).into_iter().map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn quotes_and_backticks_are_single_tokens() {
        let t = kinds("write 'a, b and c' to \"x y.txt\" then run `ls -la`");
        assert_eq!(t[1], (Kind::Quoted, "a, b and c".into()));
        assert_eq!(t[3], (Kind::Quoted, "x y.txt".into()));
        assert_eq!(t[6], (Kind::Backtick, "ls -la".into()));
        assert_eq!(t.len(), 7);
    }

    #[test]
    fn apostrophes_inside_words_and_quotes_do_not_close() {
        let t = kinds("write 'it's fine' to a.txt");
        assert_eq!(t[1], (Kind::Quoted, "it's fine".into()));
        let t = kinds("what's in src");
        assert_eq!(
            t.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
            ["what", "is", "in", "src"]
        );
    }

    #[test]
    fn sentence_punctuation_ends_a_clause_but_paths_keep_dots() {
        let t = kinds("Read README.md. List ..");
        assert_eq!(t[1], (Kind::Word, "README.md".into()));
        assert_eq!(t[2].0, Kind::Sep);
        assert_eq!(t[4], (Kind::Word, "..".into()));
        assert_eq!(kinds("list src/..")[1], (Kind::Word, "src/..".into()));
        assert_eq!(kinds("ls .")[1], (Kind::Word, ".".into()));
        let t = kinds("read 'a b'.");
        assert_eq!(t.len(), 3);
        assert_eq!(t[2].0, Kind::Sep);
    }

    #[test]
    fn unterminated_quotes_run_to_the_end_and_are_flagged() {
        let t = lex("write 'oops, to a.txt");
        assert_eq!(t.len(), 2);
        assert!(t[1].unterminated);
        assert_eq!(t[1].text, "oops, to a.txt");
        let t = lex("run `ls");
        assert!(t[1].unterminated);
    }

    #[test]
    fn double_backticks_may_contain_single_ones() {
        let t = kinds("run ``echo `x` y``");
        assert_eq!(t[1], (Kind::Backtick, "echo `x` y".into()));
    }

    #[test]
    fn counts_parse_digits_and_words() {
        assert_eq!(parse_count("5"), Some(5));
        assert_eq!(parse_count("-3"), Some(3));
        assert_eq!(parse_count("Five"), Some(5));
        assert_eq!(parse_count("x5"), None);
        assert_eq!(parse_count("99999999999999"), None);
    }
}
