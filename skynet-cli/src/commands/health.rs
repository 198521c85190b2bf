//! `skynet providers` and `skynet health`: one round of the sentinel's
//! checks, now.

use crate::exit::Exit;
use crate::render::printable;
use skynet_core::sentinel::{HealthStatus, ProviderReport};
use skynet_core::{Result, Sentinel, Skynet};
use std::io::Write;

/// A sentinel of its own with no alert sinks: a one-shot check has no
/// history, so its first verdicts are not news (a cron job running
/// `skynet health` must not post an alert every time).
fn one_shot(sk: &Skynet) -> Sentinel {
    Sentinel::new(
        sk.store().clone(),
        sk.providers(),
        sk.sentinel().config().clone(),
    )
}

/// Check every provider once and print each one's status.
pub async fn providers(sk: &Skynet, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let reports = one_shot(sk).check_providers().await;
    if json {
        super::print_json(out, &reports)?;
    } else {
        print_providers(&reports, out)?;
    }
    Ok(Exit::Ok)
}

/// Check everything once and print it; [`Exit::Unhealthy`] when any
/// component is unhealthy.
pub async fn health(sk: &Skynet, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let report = one_shot(sk).check_now().await;
    if json {
        super::print_json(out, &report)?;
    } else {
        writeln!(out, "status: {}", report.status)?;
        for (name, c) in &report.components {
            writeln!(
                out,
                "{name:<10} {:<10} {}",
                c.status.as_str(),
                printable(&c.message)
            )?;
        }
        writeln!(out)?;
        print_providers(&report.providers, out)?;
    }
    Ok(if report.status == HealthStatus::Unhealthy {
        Exit::Unhealthy
    } else {
        Exit::Ok
    })
}

fn print_providers(reports: &[ProviderReport], out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "{:<12} {:<10} {:>8} {:>5}  MESSAGE",
        "PROVIDER", "STATUS", "LATENCY", "FAILS"
    )?;
    for r in reports {
        writeln!(
            out,
            "{:<12} {:<10} {:>8} {:>5}  {}",
            printable(&r.name),
            r.status.as_str(),
            r.latency_ms
                .map_or_else(|| "-".into(), |ms| format!("{ms}ms")),
            r.consecutive_failures,
            printable(&r.message)
        )?;
    }
    Ok(())
}
