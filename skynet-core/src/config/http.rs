//! `[http]` and `[redact]`: the control plane's limits and the extra
//! secret patterns every output is scanned for.

use super::layers::Layers;
use super::{parse_duration, parse_number};
use crate::Result;
use serde::Deserialize;
use std::time::Duration;

/// `[http]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpSection {
    max_connections: Option<usize>,
    max_per_address: Option<usize>,
    header_timeout: Option<String>,
    body_timeout: Option<String>,
    failed_auth_limit: Option<u32>,
    failed_auth_window: Option<String>,
    cors_origins: Option<Vec<String>>,
}

/// `[redact]` in `skynet.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RedactSection {
    patterns: Option<Vec<String>>,
}

/// How much the HTTP servers (`serve`, `agent`) let one client hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Open connections in all (default 1024).
    pub max_connections: usize,
    /// Open connections from one address (default 64).
    pub max_per_address: usize,
    /// A request's complete headers, from a connection's start or its last
    /// response (default 30 s): also the idle keep-alive limit.
    pub header_timeout: Duration,
    /// Between two chunks of a request body (default 30 s).
    pub body_timeout: Duration,
    /// Failed authentications from one address per window before 429
    /// (default 20).
    pub failed_auth_limit: u32,
    /// That window (default 60 s).
    pub failed_auth_window: Duration,
    /// Browser origins allowed to call the API across origins (CORS),
    /// exact `scheme://host[:port]` each, or `*` alone for any; empty (the
    /// default) answers no cross-origin request.
    pub cors_origins: Vec<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_connections: 1024,
            max_per_address: 64,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            failed_auth_limit: 20,
            failed_auth_window: Duration::from_secs(60),
            cors_origins: Vec::new(),
        }
    }
}

impl HttpSection {
    /// Defaults, then this section, then `SKYNET_HTTP_*`.
    pub(super) fn resolve(self, layers: &Layers) -> Result<HttpSettings> {
        let mut s = HttpSettings::default();
        if let Some(v) = layers.pick("SKYNET_HTTP_MAX_CONNECTIONS", self.max_connections) {
            s.max_connections = positive("max_connections", &v)?;
        }
        if let Some(v) = layers.pick("SKYNET_HTTP_MAX_PER_ADDRESS", self.max_per_address) {
            s.max_per_address = positive("max_per_address", &v)?;
        }
        if let Some(v) = layers.pick("SKYNET_HTTP_HEADER_TIMEOUT", self.header_timeout) {
            s.header_timeout = parse_duration("header_timeout", &v)?;
        }
        if let Some(v) = layers.pick("SKYNET_HTTP_BODY_TIMEOUT", self.body_timeout) {
            s.body_timeout = parse_duration("body_timeout", &v)?;
        }
        if let Some(v) = layers.pick("SKYNET_HTTP_FAILED_AUTH_LIMIT", self.failed_auth_limit) {
            s.failed_auth_limit = positive("failed_auth_limit", &v)?;
        }
        if let Some(v) = layers.pick("SKYNET_HTTP_FAILED_AUTH_WINDOW", self.failed_auth_window) {
            s.failed_auth_window = parse_duration("failed_auth_window", &v)?;
        }
        let origins = match layers.var("SKYNET_HTTP_CORS_ORIGINS") {
            Some(v) => v.split(',').map(str::to_string).collect(),
            None => self.cors_origins.unwrap_or_default(),
        };
        s.cors_origins = cors_origins(origins)?;
        Ok(s)
    }
}

/// Check and normalise the CORS origins: each an exact origin
/// (`https://app.example.com`, `http://localhost:5173`), or `*` alone.
fn cors_origins(list: Vec<String>) -> Result<Vec<String>> {
    let list: Vec<String> = list
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    if list.iter().any(|o| o == "*") {
        if list.len() > 1 {
            return Err(crate::Error::Config(
                "cors_origins: `*` allows every origin, so it must be the only entry".into(),
            ));
        }
        return Ok(list);
    }
    list.iter().map(|o| origin(o)).collect()
}

/// One origin as browsers send it (`scheme://host[:port]`, lower case,
/// no default port); a trailing `/` is dropped, a path refused.
fn origin(text: &str) -> Result<String> {
    let bad = || {
        crate::Error::Config(format!(
            "cors_origins entry {text:?} is not an origin: give scheme://host[:port] such as \
             https://app.example.com (no path), or `*` alone to allow every origin"
        ))
    };
    let url = reqwest::Url::parse(text).map_err(|_| bad())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.has_host()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.port() != Some(0);
    if !plain {
        return Err(bad());
    }
    Ok(url.origin().ascii_serialization())
}

fn positive<T: std::str::FromStr + PartialEq + Default>(what: &str, v: &str) -> Result<T> {
    let n: T = parse_number(what, v)?;
    if n == T::default() {
        return Err(crate::Error::Config(format!("{what} must be at least 1")));
    }
    Ok(n)
}

impl RedactSection {
    /// Extra secret patterns (regular expressions; each match is hidden
    /// whole): the file's list, or `SKYNET_REDACT_PATTERNS` (one per line).
    /// Each is checked here, so a bad one stops the start.
    pub(super) fn resolve(self, layers: &Layers) -> Result<Vec<String>> {
        let patterns = match layers.var("SKYNET_REDACT_PATTERNS") {
            Some(v) => v
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            None => self.patterns.unwrap_or_default(),
        };
        crate::redact::Redactor::with_patterns(Vec::<String>::new(), &patterns)?;
        Ok(patterns)
    }
}
