//! `skynet schedule add|list|pause|resume|remove` and `skynet initiative
//! status|pause|resume`, as the local operator (every principal's
//! schedules; new ones are the operator's).

use super::{actor, duration_flag, print_json, print_list};
use crate::cli::{InitiativeCommand, ScheduleCommand};
use crate::exit::Exit;
use crate::render::printable;
use skynet_core::schedules::{MissedTicks, NewSchedule, Schedule};
use skynet_core::{Error, Principal, Result, Skynet, Visibility};
use std::io::Write;

/// Run one `schedule` subcommand.
pub async fn schedule(sk: &Skynet, command: ScheduleCommand, out: &mut dyn Write) -> Result<Exit> {
    let all = Visibility::All;
    match command {
        ScheduleCommand::Add {
            mut args,
            every,
            tz,
            catch_up,
            json,
        } => {
            let every = duration_flag("--every", every)?;
            let (cron, intent) = match (every, args.len()) {
                (Some(_), 1) => (None, args.remove(0)),
                (None, 2) => {
                    let intent = args.remove(1);
                    (Some(args.remove(0)), intent)
                }
                (Some(_), _) => {
                    return Err(Error::InvalidInput(
                        "with --every, give only the intent (no cron expression)".into(),
                    ));
                }
                (None, _) => {
                    return Err(Error::InvalidInput(
                        "give a cron expression and an intent, e.g. \"*/5 * * * *\" \"check disk \
                         usage\", or --every 10m and the intent"
                            .into(),
                    ));
                }
            };
            let new = NewSchedule {
                intent,
                cron,
                every,
                time_zone: tz,
                missed: if catch_up {
                    MissedTicks::CatchUp
                } else {
                    MissedTicks::Skip
                },
                ..Default::default()
            };
            let s = sk.add_schedule(&Principal::local(), new).await?;
            if json {
                print_json(out, &s)?;
            } else {
                writeln!(
                    out,
                    "Schedule {} added: {}; next tick {}.",
                    s.id,
                    cadence(&s),
                    s.next_tick_at.to_rfc3339()
                )?;
            }
        }
        ScheduleCommand::List { json } => {
            let list = sk.schedules(&all).await?;
            let header = format!(
                "{:<36} {:<7} {:<28} {:<25} {:>6} INTENT",
                "ID", "STATE", "WHEN", "NEXT TICK", "FIRED"
            );
            print_list(out, json, &list, "No schedules.", &header, |s| {
                format!(
                    "{:<36} {:<7} {:<28} {:<25} {:>6} {}",
                    s.id,
                    if s.paused { "paused" } else { "active" },
                    cadence(s),
                    s.next_tick_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    s.fired,
                    printable(&s.intent)
                )
            })?;
        }
        ScheduleCommand::Pause { id } => {
            let s = sk.pause_schedule(&id, &all).await?;
            writeln!(out, "Schedule {} paused.", s.id)?;
        }
        ScheduleCommand::Resume { id } => {
            let s = sk.resume_schedule(&id, &all).await?;
            writeln!(
                out,
                "Schedule {} resumed; next tick {}.",
                s.id,
                s.next_tick_at.to_rfc3339()
            )?;
        }
        ScheduleCommand::Remove { id } => {
            sk.remove_schedule(&id, &all).await?;
            writeln!(out, "Schedule {id} removed.")?;
        }
    }
    Ok(Exit::Ok)
}

/// `*/5 * * * * (Europe/Paris)` or `every 10m`, and the missed-tick policy.
fn cadence(s: &Schedule) -> String {
    let when = match (&s.cron, s.every_ms) {
        (Some(cron), _) => format!("{} ({})", printable(cron), s.time_zone),
        (None, Some(ms)) => format!(
            "every {}",
            humantime::format_duration(std::time::Duration::from_millis(ms))
        ),
        (None, None) => "?".into(),
    };
    match s.missed {
        MissedTicks::Skip => when,
        MissedTicks::CatchUp => format!("{when}, catch up"),
    }
}

/// Run one `initiative` subcommand.
pub async fn initiative(
    sk: &Skynet,
    command: InitiativeCommand,
    out: &mut dyn Write,
) -> Result<Exit> {
    let status = match command {
        InitiativeCommand::Status { json } => {
            let status = sk.initiative_status().await?;
            if json {
                print_json(out, &status)?;
                return Ok(Exit::Ok);
            }
            status
        }
        InitiativeCommand::Pause => sk.set_initiative_paused(true, &actor()).await?,
        InitiativeCommand::Resume => sk.set_initiative_paused(false, &actor()).await?,
    };
    let u = &status.usage;
    writeln!(
        out,
        "initiative: {} in this configuration (every {}s); kill switch {}{}",
        if status.enabled { "on" } else { "off" },
        status.interval_secs,
        if u.paused { "SET (paused)" } else { "clear" },
        u.changed_by
            .as_deref()
            .map(|by| format!(", last changed by {}", printable(by)))
            .unwrap_or_default()
    )?;
    writeln!(
        out,
        "jobs: {}/{} in the last hour, {}/{} in the last day, {}/{} waiting for approval",
        u.last_hour,
        status.budget.per_hour,
        u.last_day,
        status.budget.per_day,
        u.waiting,
        status.budget.max_waiting
    )?;
    Ok(Exit::Ok)
}
