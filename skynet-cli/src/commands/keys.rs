//! `skynet keys create|list|revoke`: the HTTP control plane's API keys.

use super::print_json;
use crate::cli::KeysCommand;
use crate::exit::Exit;
use skynet_core::config::Settings;
use skynet_core::store::keys::{self, parse_scopes};
use skynet_core::{Error, Principal, Result};
use std::io::Write;

/// Run one `keys` subcommand against the ledger's key table.
pub async fn run(settings: &Settings, command: KeysCommand, out: &mut dyn Write) -> Result<Exit> {
    if settings.database_url.starts_with("sqlite://") {
        std::fs::create_dir_all(&settings.home).map_err(|e| {
            Error::Config(format!(
                "cannot create SKYNET_HOME {}: {e}",
                settings.home.display()
            ))
        })?;
    }
    let store: keys::SharedKeyStore = skynet_core::store::connect(&settings.database_url).await?;
    match command {
        KeysCommand::Create {
            name,
            scopes,
            principal,
            json,
        } => {
            let scopes = parse_scopes(&scopes)?;
            let principal = principal.map(|p| p.parse::<Principal>()).transpose()?;
            let (key, token) = keys::create(store.as_ref(), &name, &scopes, principal).await?;
            if json {
                print_json(
                    out,
                    &serde_json::json!({
                        "id": key.id,
                        "name": key.name,
                        "scopes": key.scopes,
                        "principal": key.principal,
                        "key": token,
                    }),
                )?;
            } else {
                writeln!(out, "{token}")?;
                writeln!(
                    out,
                    "Key {} ({}) for principal {} with scopes {}. It is shown only now: store \
                     it safely.",
                    key.id,
                    key.name,
                    key.principal,
                    scope_list(&key.scopes)
                )?;
            }
        }
        KeysCommand::List { json } => {
            let list = store.list_keys().await?;
            if json {
                print_json(out, &list)?;
            } else if list.is_empty() {
                writeln!(
                    out,
                    "No keys. Create one with `skynet keys create NAME --scopes read`."
                )?;
            } else {
                for k in &list {
                    let state = match k.revoked_at {
                        Some(at) => format!("revoked {}", at.to_rfc3339()),
                        None => "active".to_string(),
                    };
                    writeln!(
                        out,
                        "{}  {:<16} {:<20} {:<28} {}",
                        k.id,
                        k.name,
                        k.principal.as_str(),
                        scope_list(&k.scopes),
                        state
                    )?;
                }
            }
        }
        KeysCommand::Revoke { id } => {
            let key = store
                .revoke_key(id.trim(), chrono::Utc::now())
                .await
                .map_err(|e| match e {
                    Error::InvalidInput(m) => {
                        Error::InvalidInput(format!("{m} (`skynet keys list` shows them)"))
                    }
                    other => other,
                })?;
            writeln!(out, "Key {} ({}) is revoked.", key.id, key.name)?;
        }
    }
    Ok(Exit::Ok)
}

fn scope_list(scopes: &[keys::Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}
