//! `skynet providers` and `skynet health`: one round of the sentinel's
//! checks, now.

use crate::exit::Exit;
use crate::render::printable;
use skynet_core::engine::HealthCheck;
use skynet_core::sentinel::{HealthStatus, ProviderReport};
use skynet_core::{Result, Skynet};
use std::io::Write;

/// Check every provider once and print each one's status.
pub async fn providers(sk: &Skynet, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let reports = sk.provider_health(HealthCheck::Now).await;
    if json {
        super::print_json(out, &reports)?;
    } else {
        print_providers(&reports, out)?;
    }
    Ok(Exit::Ok)
}

/// Check everything once and print it; [`Exit::Unhealthy`] when core's
/// verdict is unhealthy.
pub async fn health(sk: &Skynet, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let summary = sk.health(HealthCheck::Now).await;
    let report = &summary.report;
    if json {
        let mut value = serde_json::to_value(report)
            .map_err(|e| skynet_core::Error::InvalidInput(format!("encoding health: {e}")))?;
        if let (Some(map), Some(storage)) = (value.as_object_mut(), &summary.storage) {
            map.insert("storage".into(), serde_json::json!(storage));
        }
        super::print_json(out, &value)?;
    } else {
        writeln!(out, "status: {}", summary.verdict)?;
        for (name, c) in &report.components {
            writeln!(
                out,
                "{name:<10} {:<10} {}",
                c.status.as_str(),
                printable(&c.message)
            )?;
        }
        if let Some(storage) = &summary.storage {
            writeln!(out, "{:<10} {:<10} {}", "storage", "", storage.summary())?;
        }
        if report
            .components
            .get("workers")
            .is_some_and(|c| c.status == HealthStatus::Unhealthy)
        {
            writeln!(
                out,
                "hint: run `skynet worker` (or `skynet serve --workers N`)"
            )?;
        }
        writeln!(out)?;
        print_providers(&report.providers, out)?;
    }
    Ok(if summary.verdict == HealthStatus::Unhealthy {
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
