//! Secret redaction for logs, events, errors and output.

use std::sync::Arc;

/// The text that replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Replaces known secret values with [`REDACTED`].
///
/// Secrets come from configuration and from environment variables whose
/// names look secret (`*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`).
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Arc<Vec<String>>,
}

/// Values shorter than this are not treated as secrets (too many false hits).
const MIN_SECRET_LEN: usize = 6;

impl Redactor {
    /// A redactor for these secret values.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut v: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret containing another is fully replaced.
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        v.dedup();
        Redactor {
            secrets: Arc::new(v),
        }
    }

    /// Secrets from the process environment (secret-looking names) plus `extra`.
    pub fn from_env(extra: impl IntoIterator<Item = String>) -> Self {
        let env = std::env::vars()
            .filter(|(k, _)| is_secret_name(k))
            .map(|(_, v)| v);
        Self::new(env.chain(extra))
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), REDACTED);
            }
        }
        out
    }

    /// Whether no secrets are known.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
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
    fn secret_names() {
        assert!(is_secret_name("OPENAI_API_KEY"));
        assert!(is_secret_name("github_token"));
        assert!(!is_secret_name("PATH"));
    }
}
