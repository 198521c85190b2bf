//! One function per command; each parses its input, calls the core, renders.

mod agent;
mod artifacts;
mod autonomy;
mod chat;
mod docs;
mod health;
mod inspect;
mod keys;
mod memory;
mod policy;
mod review;
mod run;
mod serve;
mod telegram;
mod triggers;
mod webhooks;
mod worker;

use crate::cli::{Cli, Command, Global};
use crate::exit::Exit;
use skynet_core::config::Settings;
use skynet_core::{Error, JobId, Result, Skynet};
use std::io::Write;

/// Run one parsed command, writing its output to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<Exit> {
    match cli.command {
        Command::Actions { json } => {
            if json {
                print_json(out, &skynet_core::action::CATALOG)?;
            } else {
                for a in skynet_core::action::CATALOG {
                    writeln!(
                        out,
                        "{:<18} {:<9} {:<36} {}",
                        a.name,
                        a.base_risk.as_str(),
                        a.params,
                        a.summary
                    )?;
                }
            }
            Ok(Exit::Ok)
        }
        Command::Chat { json, cwd, message } => {
            chat::run(&engine(&cli.global).await?, json, cwd, message, out).await
        }
        Command::Policy { command } => policy::run(&cli.global, command, out).await,
        Command::Run {
            yes,
            json,
            timeout,
            intent,
        } => {
            let sk = engine(&cli.global).await?;
            let exit = run::run(&sk, intent, yes, json, timeout, out).await;
            // The run's memory is written in the background: let it land.
            sk.flush_memories(std::time::Duration::from_secs(2)).await;
            exit
        }
        Command::Plan { json, intent } => {
            run::plan(&engine(&cli.global).await?, intent, json, out).await
        }
        Command::Submit {
            json,
            priority,
            idempotency_key,
            timeout,
            intent,
        } => {
            run::submit(
                &engine(&cli.global).await?,
                intent,
                json,
                priority,
                idempotency_key,
                timeout,
                out,
            )
            .await
        }
        Command::Approve {
            id,
            plan_hash,
            detach,
            json,
        } => {
            run::approve(
                &engine(&cli.global).await?,
                &parse_id(&id)?,
                plan_hash,
                detach,
                json,
                out,
            )
            .await
        }
        Command::Deny { id, reason, json } => {
            let sk = engine(&cli.global).await?;
            let job = sk.deny(&parse_id(&id)?, reason, &actor()).await?;
            inspect::print_job_brief(&job, json, out)?;
            Ok(Exit::Ok)
        }
        Command::Cancel { id, json } => {
            let sk = engine(&cli.global).await?;
            let job = sk.cancel(&parse_id(&id)?, &actor()).await?;
            inspect::print_job_brief(&job, json, out)?;
            Ok(Exit::Ok)
        }
        Command::Review {
            id,
            requeue,
            fail,
            mark_succeeded: _,
            reason,
            plan_hash,
            json,
        } => {
            let resolution = review::resolution(requeue, fail);
            let args = review::ReviewArgs {
                resolution,
                reason,
                plan_hash,
                json,
            };
            review::review(&engine(&cli.global).await?, &parse_id(&id)?, args, out).await
        }
        Command::Retry { id, json } => {
            review::retry(&engine(&cli.global).await?, &parse_id(&id)?, json, out).await
        }
        Command::Jobs {
            json,
            status,
            limit,
            dead_letter,
        } => {
            let filter = inspect::job_filter(status, limit, dead_letter)?;
            inspect::jobs(&engine(&cli.global).await?, json, &filter, out).await
        }
        Command::Show { id, json } => {
            inspect::show(&engine(&cli.global).await?, &parse_id(&id)?, json, out).await
        }
        Command::Logs {
            id,
            follow,
            tail,
            search,
            step,
            raw,
            since,
            until,
            stream,
        } => {
            let now = chrono::Utc::now();
            let instant = |what: &str, text: Option<String>| {
                text.map(|t| skynet_core::clock::parse_instant(what, &t, now))
                    .transpose()
            };
            let since = instant("--since", since)?;
            let until = instant("--until", until)?;
            let stream = stream
                .map(|s| skynet_core::provider::Stream::parse(&s))
                .transpose()?;
            inspect::logs(
                &engine(&cli.global).await?,
                &parse_id(&id)?,
                inspect::LogsOptions {
                    follow,
                    tail,
                    search,
                    step,
                    raw,
                    since,
                    until,
                    stream,
                },
                out,
            )
            .await
        }
        Command::Artifacts { id, json, command } => {
            artifacts::run(&engine(&cli.global).await?, id, json, command, out).await
        }
        Command::Events {
            id: Some(id),
            follow: false,
            types: None,
            json,
        } => inspect::events(&engine(&cli.global).await?, &parse_id(&id)?, json, out).await,
        Command::Events {
            id,
            follow,
            types,
            json,
        } => {
            let job = id.as_deref().map(parse_id).transpose()?;
            let types = types
                .as_deref()
                .map(skynet_core::events::EventType::parse_filter)
                .transpose()?
                .unwrap_or_default();
            let opts = inspect::LogOptions {
                job,
                types,
                follow,
                json,
            };
            inspect::event_log(&engine(&cli.global).await?, opts, out).await
        }
        Command::Worker {
            once,
            concurrency,
            prefetch,
            id,
            grace,
        } => {
            let opts = skynet_core::WorkerOptions {
                id: id.unwrap_or_else(skynet_core::engine::worker::default_worker_id),
                concurrency,
                once,
                grace,
                prefetch,
                ..Default::default()
            };
            worker::run(&engine(&cli.global).await?, opts, out).await
        }
        Command::Providers { json } => {
            health::providers(&engine(&cli.global).await?, json, out).await
        }
        Command::Gc { dry_run, json } => {
            inspect::gc(&engine(&cli.global).await?, dry_run, json, out).await
        }
        Command::Health { json } => health::health(&engine(&cli.global).await?, json, out).await,
        Command::Workers { json } => worker::list(&engine(&cli.global).await?, json, out).await,
        Command::Serve {
            bind,
            workers,
            root,
            rate_limit,
            rate_burst,
            insecure_no_auth,
        } => {
            let opts = serve::ServeOptions {
                bind,
                workers,
                root,
                rate_limit,
                rate_burst,
                insecure_no_auth,
            };
            serve::run(&settings(&cli.global)?, opts, out).await
        }
        Command::Keys { command } => keys::run(&settings(&cli.global)?, command, out).await,
        Command::Memory { command } => memory::run(&engine(&cli.global).await?, command, out).await,
        Command::Schedule { command } => {
            autonomy::schedule(&engine(&cli.global).await?, command, out).await
        }
        Command::Trigger { command } => {
            triggers::run(&engine(&cli.global).await?, command, out).await
        }
        Command::Initiative { command } => {
            autonomy::initiative(&engine(&cli.global).await?, command, out).await
        }
        Command::Webhook { command } => {
            webhooks::run(&engine(&cli.global).await?, command, out).await
        }
        Command::Telegram { workers } => telegram::run(&settings(&cli.global)?, workers, out).await,
        Command::Agent {
            listen,
            token_file,
            root,
            tls_cert,
            tls_key,
        } => {
            let opts = agent::AgentOptions {
                listen,
                token_file,
                root,
                tls: tls_cert.zip(tls_key),
            };
            agent::run(&settings(&cli.global)?, opts, out).await
        }
        Command::Completions { shell } => docs::completions(shell, out),
        Command::Man => docs::man(out),
    }
}

/// Settings from file and env, then flags on top.
pub fn settings(global: &Global) -> Result<Settings> {
    let mut s = Settings::load(global.home.clone())?;
    for notice in &s.notices {
        eprintln!("notice: {notice}");
    }
    if let Some(url) = &global.database_url {
        s.database_url = url.clone();
    }
    if let Some(p) = &global.policy {
        s.policy_file = Some(p.clone());
    }
    if let Some(p) = &global.planner {
        s.planner = skynet_core::planner::PlannerChoice::parse(p).map_err(|e| match e {
            Error::Config(m) => Error::InvalidInput(format!("--planner: {m}")),
            other => other,
        })?;
    }
    Ok(s)
}

async fn engine(global: &Global) -> Result<Skynet> {
    settings(global)?.build().await
}

/// A listening socket on `addr`; a refusal names the address and the
/// flag that picks another.
pub async fn listen(addr: std::net::SocketAddr, flag: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "the address is already in use (another skynet running?)".to_string()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges)".to_string()
            }
            _ => e.to_string(),
        };
        Error::Config(format!(
            "cannot listen on {addr}: {why}; stop the other server or choose another address with {flag}"
        ))
    })
}

fn parse_id(id: &str) -> Result<JobId> {
    JobId::parse(id)
}

/// Who is acting: `cli:$USER`.
pub fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// Parse a `--timeout`-style flag.
pub fn duration_flag(what: &str, v: Option<String>) -> Result<Option<std::time::Duration>> {
    skynet_core::config::duration_input(what, v.as_deref())
}

/// Write JSON (pretty) followed by a newline.
pub fn print_json(out: &mut dyn Write, value: &impl serde::Serialize) -> Result<()> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| Error::InvalidInput(e.to_string()))?;
    writeln!(out, "{text}")?;
    Ok(())
}

/// A listing: JSON with `--json`, else `empty` when there is nothing, else
/// a table (`header`, then `row` for each record).
pub fn print_list<T: serde::Serialize>(
    out: &mut dyn Write,
    json: bool,
    list: &[T],
    empty: &str,
    header: &str,
    row: impl Fn(&T) -> String,
) -> Result<()> {
    if json {
        return print_json(out, &list);
    }
    if list.is_empty() {
        writeln!(out, "{empty}")?;
        return Ok(());
    }
    writeln!(out, "{header}")?;
    for item in list {
        writeln!(out, "{}", row(item))?;
    }
    Ok(())
}

/// The HTTP servers' connection caps and deadlines from the settings.
pub fn http_limits(
    http: &skynet_core::config::HttpSettings,
) -> (skynet_http::conn::ConnLimits, skynet_http::serve::Timeouts) {
    (
        skynet_http::conn::ConnLimits {
            max_connections: http.max_connections,
            max_per_address: http.max_per_address,
        },
        skynet_http::serve::Timeouts {
            header_read: http.header_timeout,
            body_idle: http.body_timeout,
        },
    )
}
