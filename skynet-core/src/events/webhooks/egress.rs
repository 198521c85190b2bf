//! Where webhooks may connect: a URL is checked when an endpoint is made
//! and again before every request (DNS may have changed). The host is
//! resolved once per request, every address it resolves to is checked
//! against the closed ranges of [`crate::probe::address`] (loopback,
//! link-local and cloud metadata, private, ...) unless the operator's
//! allow-list opens it, and the request is pinned to the checked address:
//! the client never looks the name up again. Redirects are never
//! followed and no proxy is used.

use super::shown_url;
use crate::policy::{Decision, Verdict};
use crate::probe::NetworkAllow;
use crate::{Error, Result};
use reqwest::Url;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

/// The setting that opens closed addresses to webhooks, named in refusals.
pub const ALLOW_SETTING: &str = "[webhooks] allow / SKYNET_WEBHOOK_ALLOW";
/// The policy rule a refusal names.
pub const RULE: &str = "webhook:egress";

/// Check a webhook URL's form: `http` or `https` with a host. Returns it
/// parsed, fragment dropped.
pub fn check_url(text: &str) -> Result<Url> {
    let bad = |why: &str| {
        Error::InvalidInput(format!(
            "webhook URL {}: {why}; give one like https://hooks.example.com/skynet",
            shown_url(text.trim())
        ))
    };
    let mut url = Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http:// and https:// URLs are delivered to"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    url.set_fragment(None);
    Ok(url)
}

/// A refusal: the address is closed to webhooks. Final (never retried).
pub fn refused(why: String) -> Error {
    Error::Forbidden {
        decision: Box::new(Decision {
            risk: crate::RiskLevel::ReadOnly,
            verdict: Verdict::Forbid,
            reasons: vec![why],
            rule: Some(RULE.into()),
        }),
    }
}

/// Whether `e` is an egress refusal (final) rather than a failure that
/// may pass on a later attempt.
pub fn is_refusal(e: &Error) -> bool {
    matches!(e, Error::Forbidden { decision } if decision.rule.as_deref() == Some(RULE))
}

/// The checked address a request to `url` connects to: the host resolved
/// once, every address checked, the first one taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL's host (no brackets).
    pub host: String,
    /// Whether the host is an address literal (nothing to pin).
    pub literal: bool,
    /// The checked address and port the request goes to.
    pub addr: SocketAddr,
}

/// Resolve `url`'s host and check every address against `allow`. A
/// closed address is [`refused`]; a name that does not resolve is
/// `InvalidInput` naming it.
pub async fn resolve(allow: &NetworkAllow, url: &Url) -> Result<Target> {
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let (ips, literal) = match host.parse::<IpAddr>() {
        Ok(ip) => (vec![ip], true),
        Err(_) => {
            let found = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| {
                    Error::InvalidInput(format!("webhook host {host} does not resolve: {e}"))
                })?;
            let mut ips: Vec<IpAddr> = Vec::new();
            for a in found {
                if !ips.contains(&a.ip()) {
                    ips.push(a.ip());
                }
            }
            (ips, false)
        }
    };
    let Some(first) = ips.first().copied() else {
        return Err(Error::InvalidInput(format!(
            "webhook host {host} has no address"
        )));
    };
    for ip in &ips {
        allow
            .check_for(&host, *ip, "webhooks", ALLOW_SETTING, "allow")
            .map_err(refused)?;
    }
    Ok(Target {
        host,
        literal,
        addr: SocketAddr::new(first, port),
    })
}

/// HTTP clients pinned to checked addresses, one per `(host, address)`,
/// kept so connections are reused while the name keeps resolving to the
/// same address.
#[derive(Debug)]
pub struct Clients {
    timeout: Duration,
    cache: Mutex<HashMap<(String, SocketAddr), reqwest::Client>>,
}

/// Clients kept at most (the cache is emptied past it).
const MAX_CLIENTS: usize = 256;

impl Clients {
    /// Clients giving each request `timeout` in all.
    pub fn new(timeout: Duration) -> Self {
        Clients {
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The client that connects to `target.addr` for `target.host` and
    /// nowhere else.
    pub fn pinned(&self, target: &Target) -> Result<reqwest::Client> {
        let key = (target.host.clone(), target.addr);
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| Error::Store("the webhook client cache is poisoned".into()))?;
        if let Some(c) = cache.get(&key) {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("skynet-webhooks/", env!("CARGO_PKG_VERSION")));
        if !target.literal {
            // The checked address and no other: the name is not looked up again.
            builder = builder.resolve(&target.host, target.addr);
        }
        let client = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the webhook HTTP client: {e}")))?;
        if cache.len() >= MAX_CLIENTS {
            cache.clear();
        }
        cache.insert(key, client.clone());
        Ok(client)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_addresses_are_refused_unless_allowed() {
        let none = NetworkAllow::default();
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:9/x",
            "http://[::1]/x",
            "http://10.0.0.1/x",
            "http://[fe80::1]/x",
            "http://localhost:8080/x",
        ] {
            let e = resolve(&none, &check_url(url).unwrap()).await.unwrap_err();
            assert!(is_refusal(&e), "{url}: {e}");
            assert!(e.to_string().contains(ALLOW_SETTING), "{e}");
        }
        let allow = NetworkAllow::parse(&["127.0.0.1"]).unwrap();
        let t = resolve(&allow, &check_url("http://127.0.0.1:8080/x").unwrap())
            .await
            .unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(t.literal);
        let e = resolve(&allow, &check_url("http://169.254.169.254/").unwrap())
            .await
            .unwrap_err();
        assert!(is_refusal(&e));
    }

    #[test]
    fn only_http_urls_with_a_host() {
        for bad in [
            "ftp://x/y",
            "file:///etc/passwd",
            "hooks.example.com/x",
            "http://",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        let e = check_url("gopher://u:SECRET@x/?token=T")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET") && !e.contains("token=T"), "{e}");
    }
}
