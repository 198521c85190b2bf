//! Secret redaction for logs, events, errors, plans and output.
//!
//! A [`Redactor`] scans a text once for the configured secret values
//! (LLM API keys, API tokens, the agent's token, secret-named environment
//! variables), extra configured patterns and the built-in credential
//! shapes of [`patterns`]: AWS keys, GitHub/Slack/Google/Stripe/OpenAI
//! tokens, private key blocks, bearer tokens, JWTs and `password=...`
//! style assignments. Everything is one combined regex, so scanning costs
//! one linear pass (about a millisecond per MiB) whatever is configured.

mod patterns;

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

/// The text that replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Secrets replaced since the process started, by every redactor (the
/// `skynet_redactions_total` metric).
static REDACTIONS: AtomicU64 = AtomicU64::new(0);

/// How many secrets every [`Redactor`] of this process has replaced.
pub fn redactions_total() -> u64 {
    REDACTIONS.load(Ordering::Relaxed)
}

/// The built-in patterns alone, compiled once per process.
static BUILTIN: LazyLock<Arc<Regex>> = LazyLock::new(|| {
    #[allow(clippy::expect_used)] // The patterns are constants; a unit test compiles them.
    Arc::new(compile(&[], &[]).expect("built-in secret patterns compile"))
});

/// Replaces secrets with [`REDACTED`]: known values, extra patterns and
/// the built-in credential shapes.
///
/// Secrets come from configuration and from environment variables whose
/// names look secret (`*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`).
#[derive(Debug, Clone)]
pub struct Redactor {
    /// `None` only for [`Redactor::values_only`] without values.
    scanner: Option<Arc<Regex>>,
    /// Index of the first capture group of the built-in patterns: groups
    /// before it belong to extra patterns, whose matches go whole.
    first_group: usize,
}

impl Default for Redactor {
    /// The built-in patterns, no known values.
    fn default() -> Self {
        Redactor {
            scanner: Some(BUILTIN.clone()),
            first_group: 1,
        }
    }
}

/// Values shorter than this are not treated as secrets (too many false hits).
const MIN_SECRET_LEN: usize = 6;

/// The combined regex: literal secrets first (longest first, so a secret
/// containing another is fully replaced), then extra patterns, then the
/// built-in ones. Leftmost-first semantics make earlier alternatives win
/// at one position.
fn compile(secrets: &[String], extra: &[String]) -> Result<Regex, regex::Error> {
    compile_with(secrets, extra, patterns::BUILTIN)
}

/// [`compile`] with these built-in patterns (none for values only).
fn compile_with(
    secrets: &[String],
    extra: &[String],
    builtin: &[&str],
) -> Result<Regex, regex::Error> {
    let literals = secrets.iter().map(|s| regex::escape(s));
    let extra = extra.iter().map(|p| format!("(?:{p})"));
    let builtin = builtin.iter().map(|p| format!("(?:{p})"));
    let all: Vec<String> = literals.chain(extra).chain(builtin).collect();
    regex::RegexBuilder::new(&all.join("|"))
        // Big enough for a few hundred literal secrets and the patterns.
        .size_limit(64 << 20)
        .dfa_size_limit(16 << 20)
        .build()
}

/// Clean and order configured values: drop short ones, longest first.
fn literal_secrets(secrets: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = secrets
        .into_iter()
        .filter(|s| s.len() >= MIN_SECRET_LEN)
        .collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v.dedup();
    v
}

impl Redactor {
    /// A redactor for these secret values (and the built-in patterns).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let secrets = literal_secrets(secrets);
        if secrets.is_empty() {
            return Redactor::default();
        }
        match compile(&secrets, &[]) {
            Ok(re) => Redactor {
                scanner: Some(Arc::new(re)),
                first_group: 1,
            },
            // Escaped literals always parse; only an absurd number of
            // them can exceed the size limit. Refusing to start would be
            // worse than this fallback, which still hides every value.
            Err(e) => {
                tracing::warn!("secret scanner: {e}; falling back to patterns only");
                Redactor::default()
            }
        }
    }

    /// A redactor for these values plus `extra` regular expressions (each
    /// match is replaced whole). An invalid pattern is a configuration error.
    pub fn with_patterns(
        secrets: impl IntoIterator<Item = String>,
        extra: &[String],
    ) -> crate::Result<Self> {
        let secrets = literal_secrets(secrets);
        let mut first_group = 1;
        for p in extra {
            let re = Regex::new(p)
                .map_err(|e| crate::Error::Config(format!("secret pattern {p:?}: {e}")))?;
            first_group += re.captures_len() - 1;
        }
        let re = compile(&secrets, extra)
            .map_err(|e| crate::Error::Config(format!("secret patterns: {e}")))?;
        Ok(Redactor {
            scanner: Some(Arc::new(re)),
            first_group,
        })
    }

    /// A redactor for these exact values only, without the patterns: for
    /// structured text (a model's JSON answer) that a pattern replacing
    /// part of a `name: value` pair could garble.
    pub fn values_only(secrets: impl IntoIterator<Item = String>) -> Self {
        let secrets = literal_secrets(secrets);
        let scanner = match secrets.is_empty() {
            true => None,
            false => compile_with(&secrets, &[], &[]).ok().map(Arc::new),
        };
        Redactor {
            scanner,
            first_group: 1,
        }
    }

    /// Secrets from the process environment (secret-looking names) plus `extra`.
    pub fn from_env(extra: impl IntoIterator<Item = String>) -> Self {
        let env = std::env::vars()
            .filter(|(k, _)| is_secret_name(k))
            .map(|(_, v)| v);
        Self::new(env.chain(extra))
    }

    /// [`Redactor::from_env`] with extra patterns ([`Redactor::with_patterns`]).
    pub fn from_env_with_patterns(
        extra: impl IntoIterator<Item = String>,
        patterns: &[String],
    ) -> crate::Result<Self> {
        let env = std::env::vars()
            .filter(|(k, _)| is_secret_name(k))
            .map(|(_, v)| v);
        Self::with_patterns(env.chain(extra), patterns)
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        self.redact_cow(text).into_owned()
    }

    /// `text` with every secret replaced, borrowed when there was none.
    pub fn redact_cow<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(scanner) = &self.scanner else {
            return Cow::Borrowed(text);
        };
        let mut found = 0u64;
        let out = scanner.replace_all(text, |c: &Captures<'_>| {
            found += 1;
            replacement(c, self.first_group)
        });
        if found > 0 {
            REDACTIONS.fetch_add(found, Ordering::Relaxed);
        }
        out
    }

    /// Whether this redactor can never replace anything (only a
    /// [`Redactor::values_only`] without values): callers skip the work.
    pub fn is_empty(&self) -> bool {
        self.scanner.is_none()
    }
}

/// The replacement for one match: the whole match, or only its secret
/// group when the pattern has one (the name before it stays readable).
fn replacement(c: &Captures<'_>, first_group: usize) -> String {
    #[allow(clippy::expect_used)] // Group 0 always participates in a match.
    let whole = c.get(0).expect("group 0");
    let extra = c.iter().take(first_group).skip(1).any(|g| g.is_some());
    match c.iter().skip(first_group).flatten().next() {
        Some(secret) if !extra => {
            let s = whole.as_str();
            let (from, to) = (secret.start() - whole.start(), secret.end() - whole.start());
            format!("{}{REDACTED}{}", &s[..from], &s[to..])
        }
        _ => REDACTED.to_string(),
    }
}

/// Whether an environment variable name looks like it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL"]
        .iter()
        .any(|w| n.contains(w))
}

/// A database URL with any password replaced.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host/...
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((auth, host)) = rest.split_once('@')
        && let Some((user, _)) = auth.split_once(':')
    {
        return format!("{scheme}://{user}:{REDACTED}@{host}");
    }
    url.to_string()
}

/// A [`Redactor`] for text that arrives line by line (step output): it
/// also hides the lines of a multi-line secret block — a private key's
/// base64 body between its `BEGIN` and `END` lines — which no single line
/// reveals as a secret. Keep one per stream.
#[derive(Debug, Clone)]
pub struct LineRedactor {
    redactor: Redactor,
    in_private_key: bool,
}

impl LineRedactor {
    /// Line-by-line redaction with `redactor`.
    pub fn new(redactor: Redactor) -> Self {
        LineRedactor {
            redactor,
            in_private_key: false,
        }
    }

    /// The next line, with its secrets (and any line inside a private key
    /// block) replaced.
    pub fn redact_line(&mut self, line: &str) -> String {
        let begins = line.contains("-----BEGIN") && line.contains("PRIVATE KEY-----");
        let ends = line.contains("-----END") && line.contains("PRIVATE KEY-----");
        if self.in_private_key {
            self.in_private_key = !ends;
            REDACTIONS.fetch_add(1, Ordering::Relaxed);
            return REDACTED.to_string();
        }
        self.in_private_key = begins && !ends;
        self.redactor.redact(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_secrets_longest_first() {
        let r = Redactor::new([
            "sk-abcdef".to_string(),
            "sk-abcdef123".to_string(),
            "x".into(),
        ]);
        assert_eq!(
            r.redact("key=sk-abcdef123 and sk-abcdef, x"),
            "key=[REDACTED] and [REDACTED], x"
        );
    }

    #[test]
    fn url_passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://u:hunter2@h/db"),
            "postgres://u:[REDACTED]@h/db"
        );
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
    }

    #[test]
    fn builtin_patterns_hide_well_known_credentials() {
        let r = Redactor::default();
        let cases = [
            ("password=hunter2 ok", "password=[REDACTED] ok"),
            ("PASSWD: hunter2", "PASSWD: [REDACTED]"),
            (
                r#"{"api_key": "abc123xyz"}"#,
                r#"{"api_key": "[REDACTED]"}"#,
            ),
            (
                "export GITHUB_TOKEN='t0k3n'",
                "export GITHUB_TOKEN='[REDACTED]'",
            ),
            ("secret = s3cr3t;", "secret = [REDACTED];"),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_secret_access_key = [REDACTED]",
            ),
            ("id AKIAIOSFODNN7EXAMPLE here", "id [REDACTED] here"),
            ("ASIAIOSFODNN7EXAMPLE", "[REDACTED]"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123456789 x", "[REDACTED] x"),
            ("github_pat_11ABCDEFG0123456789_abcdefghijk", "[REDACTED]"),
            ("xoxb-123456789012-abcdefghij", "[REDACTED]"),
            ("AIzaSyA-1234567890abcdefghijklmnopqrstu", "[REDACTED]"),
            ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "[REDACTED]"),
            ("sk-proj-abcdefghijklmnopqrstuvwxyz", "[REDACTED]"),
            ("sk_live_abcdefghijklmnop1234", "[REDACTED]"),
            (
                "Authorization: Bearer abcdefghijklmnop.qrs",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijkl end",
                "jwt [REDACTED] end",
            ),
            ("postgres://u:hunter2@db/x", "postgres://u:[REDACTED]@db/x"),
            (
                "a -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- b",
                "a [REDACTED] b",
            ),
            ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl", "[REDACTED]"),
        ];
        for (input, want) in cases {
            assert_eq!(r.redact(input), want, "{input}");
        }
    }

    #[test]
    fn ordinary_output_is_left_alone() {
        let r = Redactor::default();
        for text in [
            "tokens: 1234",
            "input_tokens=12 output_tokens=3",
            "token_count=3",
            "PWD=/home/user",
            "README.md  src  Cargo.toml",
            "skip-this-line: sk-short",
            "https://example.com/path",
            "résumé — naïve ünïcode",
        ] {
            assert_eq!(r.redact(text), text);
        }
    }

    #[test]
    fn literals_and_extra_patterns_combine() {
        let r = Redactor::with_patterns(
            ["my-llm-key-123".to_string()],
            &[r"corp-(\d{6})".to_string()],
        )
        .expect("patterns");
        assert_eq!(
            r.redact("k=my-llm-key-123; id corp-123456; password=x"),
            "k=[REDACTED]; id [REDACTED]; password=[REDACTED]"
        );
        assert!(Redactor::with_patterns(Vec::<String>::new(), &["(".into()]).is_err());
    }

    #[test]
    fn values_only_leaves_structure_alone() {
        let r = Redactor::values_only(["my-llm-key-123".to_string()]);
        assert_eq!(
            r.redact(r#"{"token":5,"k":"my-llm-key-123"}"#),
            r#"{"token":5,"k":"[REDACTED]"}"#
        );
        assert!(Redactor::values_only(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn redactions_are_counted() {
        let before = redactions_total();
        Redactor::default().redact("password=a token=b");
        assert!(redactions_total() >= before + 2);
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("OPENAI_API_KEY"));
        assert!(is_secret_name("github_token"));
        assert!(!is_secret_name("PATH"));
    }

    #[test]
    fn a_private_key_printed_line_by_line_is_hidden_whole() {
        let mut lines = LineRedactor::new(Redactor::default());
        let key = [
            "before",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
            "QyNTUxOQAAACDZbrkGlqU7cW9vZxJcdGN0aGlzIGlzIG5vdCBhIHJlYWwga2V5IGF0IGFs",
            "-----END OPENSSH PRIVATE KEY-----",
            "after",
        ];
        let out: Vec<String> = key.iter().map(|l| lines.redact_line(l)).collect();
        assert_eq!(out[0], "before");
        assert_eq!(out[5], "after");
        for (i, l) in out.iter().enumerate().take(5).skip(1) {
            assert!(l.contains(REDACTED), "line {i}: {l}");
            assert!(
                !l.contains("b3BlbnNz") && !l.contains("QyNTUx"),
                "line {i}: {l}"
            );
        }
    }
}
