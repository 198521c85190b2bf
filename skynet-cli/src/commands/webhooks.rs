//! `skynet webhook add|list|test|remove|deliveries|redeliver`, as the local
//! operator (every principal's endpoints; new ones are the operator's).

use super::{print_json, print_list};
use crate::cli::WebhookCommand;
use crate::exit::Exit;
use crate::render::printable;
use skynet_core::events::webhooks::{DeliveryState, NewWebhook};
use skynet_core::{Principal, Result, Skynet, Visibility};
use std::io::Write;

/// Run one `webhook` subcommand.
pub async fn run(sk: &Skynet, command: WebhookCommand, out: &mut dyn Write) -> Result<Exit> {
    let all = Visibility::All;
    match command {
        WebhookCommand::Add { url, types, json } => {
            let created = sk
                .add_webhook(&Principal::local(), NewWebhook { url, types })
                .await?;
            if json {
                print_json(out, &created)?;
            } else {
                let w = &created.webhook;
                writeln!(
                    out,
                    "Webhook {} added: {} ({}).",
                    w.id,
                    w.url,
                    filter(&w.types)
                )?;
                writeln!(out, "Signing secret (shown only now): {}", created.secret)?;
            }
        }
        WebhookCommand::List { json } => {
            let list = sk.webhooks(&all).await?;
            let header = format!("{:<36} {:<8} {:<24} URL", "ID", "STATE", "EVENTS");
            print_list(out, json, &list, "No webhooks.", &header, |w| {
                format!(
                    "{:<36} {:<8} {:<24} {}",
                    w.id,
                    if w.enabled { "on" } else { "off" },
                    filter(&w.types),
                    printable(&w.url)
                )
            })?;
        }
        WebhookCommand::Test { id, json } => {
            let t = sk.test_webhook(&id, &all).await?;
            if json {
                print_json(out, &t)?;
            } else if t.delivered {
                writeln!(
                    out,
                    "Webhook {id} answered {} in {} ms.",
                    t.status.unwrap_or_default(),
                    t.duration_ms
                )?;
            } else {
                writeln!(
                    out,
                    "Webhook {id} test failed after {} ms: {}",
                    t.duration_ms,
                    printable(t.error.as_deref().unwrap_or("no answer"))
                )?;
                return Ok(Exit::Unhealthy);
            }
        }
        WebhookCommand::Remove { id } => {
            sk.remove_webhook(&id, &all).await?;
            writeln!(out, "Webhook {id} removed.")?;
        }
        WebhookCommand::Deliveries {
            id,
            dead,
            limit,
            json,
        } => {
            let state = dead.then_some(DeliveryState::Dead);
            let list = sk
                .webhook_deliveries(id.as_deref(), state, &all, limit)
                .await?;
            let header = format!(
                "{:<36} {:<10} {:>8} {:<26} {:>4} LAST",
                "DELIVERY", "STATE", "EVENT", "TYPE", "TRY"
            );
            print_list(out, json, &list, "No deliveries.", &header, |d| {
                let last = match (&d.last_error, d.last_status) {
                    (Some(e), _) => printable(e),
                    (None, Some(s)) => s.to_string(),
                    (None, None) => String::new(),
                };
                format!(
                    "{:<36} {:<10} {:>8} {:<26} {:>4} {}",
                    d.id,
                    d.state.as_str(),
                    d.event_id,
                    d.event_type,
                    d.attempts,
                    last
                )
            })?;
        }
        WebhookCommand::Redeliver { delivery } => {
            let d = sk.redeliver_webhook(&delivery, &all).await?;
            writeln!(
                out,
                "Delivery {} will be sent again (serve and worker send it).",
                d.id
            )?;
        }
    }
    Ok(Exit::Ok)
}

fn filter(types: &[String]) -> String {
    if types.is_empty() {
        "all events".into()
    } else {
        types.join(",")
    }
}
