//! The HTTP status probe: one GET from SKYNET's process to the checked
//! address, pinned (the name is not resolved again), no proxy, no
//! redirects followed, the body capped and the time limited.

use super::ProbeConfig;
use super::run::Report;
use crate::{Error, Result};
use reqwest::Url;
use reqwest::redirect::Policy;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Bytes of the body a status probe reads and shows.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A status probe's time limit when the step has none (and its ceiling).
const DEFAULT_LIMIT: Duration = Duration::from_secs(30);
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// A status URL as the probe's argv carries it: `http` or `https`, a
/// host, no credentials, no fragment. A planning error says what to fix.
pub fn check_url(text: &str) -> Result<String> {
    let bad = |why: &str| {
        Error::Planning(format!(
            "{:?} is not a status URL to check: {why}; give one like https://example.com/health",
            crate::planner::rules::show_param(text)
        ))
    };
    let mut url = Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("only http and https are checked"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("credentials in a URL would be logged; leave them out"));
    }
    url.set_fragment(None);
    Ok(url.to_string())
}

pub(super) async fn run(
    config: &ProbeConfig,
    url: &str,
    limit: Option<Duration>,
) -> Result<Report> {
    let mut report = Report::default();
    let url = Url::parse(url).map_err(|e| Error::InvalidInput(format!("{url}: {e}")))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let host = url.host_str().unwrap_or_default().to_string();
    let literal = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    let ip = match literal {
        Some(ip) => {
            config
                .allow
                .check(&ip.to_string(), ip)
                .map_err(super::dns::refused)?;
            ip
        }
        None => match super::dns::checked(config, &host).await? {
            Ok(ips) => ips[0],
            Err(e) => {
                report.err(e);
                return Ok(report);
            }
        },
    };
    let addr = SocketAddr::new(ip, port);
    let limit = limit.map_or(DEFAULT_LIMIT, |l| l.min(DEFAULT_LIMIT));
    let mut client = reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .timeout(limit)
        .connect_timeout(CONNECT_LIMIT.min(limit))
        .user_agent(concat!("skynet-probe/", env!("CARGO_PKG_VERSION")));
    if literal.is_none() {
        // The checked address and no other: the name is not looked up again.
        client = client.resolve(&host, addr);
    }
    let client = client
        .build()
        .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
    let mut response = match client.get(url.clone()).send().await {
        Ok(r) => r,
        Err(e) => {
            report.err(format!("GET {url} ({addr}) failed: {}", error_chain(&e)));
            return Ok(report);
        }
    };
    let status = response.status();
    report.out(format!(
        "HTTP {} {} from {url} ({addr})",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    ));
    if status.is_redirection() {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)");
        report.out(format!("Location: {to} (redirects are not followed)"));
    }
    if let Some(ct) = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        report.out(format!("Content-Type: {ct}"));
    }
    let mut body = Vec::new();
    let mut cut = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    cut = true;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                report.err(format!("reading the body failed: {}", error_chain(&e)));
                break;
            }
        }
    }
    if !body.is_empty() {
        report.out("");
        report.out(String::from_utf8_lossy(&body).into_owned());
    }
    if cut {
        report.out(format!("[body cut at {MAX_BODY_BYTES} bytes]"));
    }
    if status.is_client_error() || status.is_server_error() {
        report.code = 1;
    }
    Ok(report)
}

/// An error with its causes, which reqwest keeps apart.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn status_urls_are_checked() {
        assert_eq!(
            check_url("https://example.com/health#x").expect("ok"),
            "https://example.com/health"
        );
        assert_eq!(
            check_url("http://10.0.0.1:8080").expect("ok"),
            "http://10.0.0.1:8080/"
        );
        for bad in [
            "ftp://x/",
            "https://user:pw@example.com/",
            "file:///etc/passwd",
            "example.com",
            "-x",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
