//! The DNS lookup probe: the system resolver, from SKYNET's process; the
//! answer is refused when any address is closed to probes.

use super::ProbeConfig;
use super::run::Report;
use crate::Result;
use std::net::IpAddr;

/// Resolve `host` to its addresses (an address resolves to itself), in
/// the resolver's order without repeats; a step-level failure (no such
/// name) is the `Err` text.
pub(super) async fn resolve(host: &str) -> std::result::Result<Vec<IpAddr>, String> {
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(vec![ip]);
    }
    let found = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for addr in found {
        if !ips.contains(&addr.ip()) {
            ips.push(addr.ip());
        }
    }
    if ips.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Ok(ips)
}

/// Every address of `host`, each checked against the allow-list; `Err`
/// is the refusal naming the first closed address.
pub(super) async fn checked(
    config: &ProbeConfig,
    host: &str,
) -> Result<std::result::Result<Vec<IpAddr>, String>> {
    let ips = match resolve(host).await {
        Ok(ips) => ips,
        Err(e) => return Ok(Err(e)),
    };
    for ip in &ips {
        config.allow.check(host, *ip).map_err(refused)?;
    }
    Ok(Ok(ips))
}

/// A probe target closed to probes: refused by the probe's rule, never
/// retried.
pub(super) fn refused(why: String) -> crate::Error {
    crate::Error::Forbidden {
        decision: Box::new(crate::policy::Decision {
            risk: crate::RiskLevel::ReadOnly,
            verdict: crate::policy::Verdict::Forbid,
            reasons: vec![why],
            rule: Some("probe:network".into()),
        }),
    }
}

pub(super) async fn run(config: &ProbeConfig, host: &str) -> Result<Report> {
    let mut report = Report::default();
    match checked(config, host).await? {
        Ok(ips) => {
            for ip in ips {
                report.out(format!("{host} has address {ip}"));
            }
        }
        Err(e) => report.err(e),
    }
    Ok(report)
}
