//! The built-in secret patterns: well-known credential shapes and
//! `name=value` assignments whose name says "secret".
//!
//! Every pattern is one alternative of a single combined regex, so a text
//! is scanned once whatever the number of patterns. A pattern either has
//! no capture group (the whole match is the secret) or exactly one (only
//! that part is the secret: `password=` stays readable, the value goes).
//! Word boundaries are ASCII (`(?-u:\b)`) so the lazy DFA never has to
//! fall back to a slower engine on non-ASCII output.

/// The built-in patterns, in priority order (at one position the first
/// alternative that matches wins).
pub(crate) const BUILTIN: &[&str] = &[
    // Private key blocks, through END (or the end of the text when the
    // END is not in it: a block cut short is still a secret).
    r"-----BEGIN[ A-Z0-9]*PRIVATE KEY-----(?s:.*?)(?:-----END[ A-Z0-9]*PRIVATE KEY-----|\z)",
    // AWS access key ids (long-lived AKIA, temporary ASIA, and the other
    // unique-id prefixes that are credentials).
    r"(?-u:\b)(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|A3T[A-Z0-9])[A-Z0-9]{16}(?-u:\b)",
    // GitHub tokens: classic and OAuth/app/refresh, and fine-grained PATs.
    r"(?-u:\b)(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}",
    r"(?-u:\b)github_pat_[A-Za-z0-9_]{22,}",
    // Slack tokens.
    r"(?-u:\b)xox[abprs]-[A-Za-z0-9-]{10,}",
    // Google API keys.
    r"(?-u:\b)AIza[0-9A-Za-z_-]{35}",
    // Stripe secret and restricted keys.
    r"(?-u:\b)(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}",
    // OpenAI / Anthropic style keys (sk-..., sk-proj-..., sk-ant-...).
    r"(?-u:\b)sk-[A-Za-z0-9_-]{20,}",
    // JSON web tokens: three base64url parts, the first a JSON object.
    r"(?-u:\b)eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
    // `Authorization: Bearer xyz` and bare `Bearer xyz`.
    r"(?i:bearer|basic)[ \t]+([A-Za-z0-9._~+/-]{8,}=*)",
    // Passwords in URLs: scheme://user:password@host.
    r"(?-u:\b)[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s/@]+)@",
    // Assignments whose name says secret: password=..., "api_key": "...",
    // GITHUB_TOKEN=..., aws_secret_access_key = ..., x-api-key: ...
    // The name must end right before the separator, so `tokens: 5` or
    // `token_count=3` are left alone.
    r#"(?i:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)["']?[ \t]*[:=][ \t]*["']?([^\s"'<>,;&\]}]+)"#,
];
