//! `skynet trigger add|list|pause|resume|remove`, as the local operator
//! (every principal's triggers; new ones are the operator's).

use super::{print_json, print_list};
use crate::cli::TriggerCommand;
use crate::exit::Exit;
use crate::render::printable;
use skynet_core::triggers::{NewTrigger, Trigger, parse_conditions};
use skynet_core::{Principal, Result, Skynet, Visibility};
use std::io::Write;

/// Run one `trigger` subcommand.
pub async fn run(sk: &Skynet, command: TriggerCommand, out: &mut dyn Write) -> Result<Exit> {
    let all = Visibility::All;
    match command {
        TriggerCommand::Add {
            intent,
            on,
            conditions,
            max,
            name,
            json,
        } => {
            let new = NewTrigger {
                name,
                on,
                conditions: parse_conditions(conditions.iter().map(String::as_str))?,
                intent,
                rate: max.as_deref().map(str::parse).transpose()?,
                ..Default::default()
            };
            let t = sk.add_trigger(&Principal::local(), new).await?;
            if json {
                print_json(out, &t)?;
            } else {
                writeln!(
                    out,
                    "Trigger {} added: on {}{}, at most {}.",
                    t.id,
                    printable(&t.on),
                    filter(&t),
                    t.rate
                )?;
            }
        }
        TriggerCommand::List { json } => {
            let list = sk.triggers(&all).await?;
            let header = format!(
                "{:<36} {:<7} {:<36} {:<10} {:>6} INTENT",
                "ID", "STATE", "ON", "RATE", "FIRED"
            );
            print_list(out, json, &list, "No triggers.", &header, |t| {
                format!(
                    "{:<36} {:<7} {:<36} {:<10} {:>6} {}",
                    t.id,
                    if t.paused { "paused" } else { "active" },
                    format!("{}{}", printable(&t.on), filter(t)),
                    t.rate.to_string(),
                    t.fired,
                    printable(&t.intent)
                )
            })?;
        }
        TriggerCommand::Pause { id } => {
            let t = sk.pause_trigger(&id, &all).await?;
            writeln!(out, "Trigger {} paused.", t.id)?;
        }
        TriggerCommand::Resume { id } => {
            let t = sk.resume_trigger(&id, &all).await?;
            writeln!(out, "Trigger {} resumed.", t.id)?;
        }
        TriggerCommand::Remove { id } => {
            sk.remove_trigger(&id, &all).await?;
            writeln!(out, "Trigger {id} removed.")?;
        }
    }
    Ok(Exit::Ok)
}

/// ` where provider=docker` (nothing without conditions).
fn filter(t: &Trigger) -> String {
    if t.conditions.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = t
        .conditions
        .iter()
        .map(|(k, v)| format!("{}={}", printable(k), printable(v)))
        .collect();
    format!(" where {}", parts.join(","))
}
