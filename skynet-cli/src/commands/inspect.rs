//! jobs, show, logs, events.

use super::print_json;
use crate::exit::Exit;
use crate::render;
use skynet_core::store::{JobFilter, LogQuery};
use skynet_core::view::JobView;
use skynet_core::{Error, Job, JobId, JobStatus, Result, Skynet};
use std::io::Write;
use std::time::Duration;

/// Print a job briefly (after deny/cancel).
pub fn print_job_brief(job: &Job, json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        print_json(out, &JobView::new(job, &[]))
    } else {
        writeln!(out, "Job {} is {}.", job.id, job.status)?;
        Ok(())
    }
}

/// The filter `skynet jobs` flags describe.
pub fn job_filter(status: Option<String>, limit: u32, dead_letter: bool) -> Result<JobFilter> {
    let statuses = match status {
        Some(s) => s
            .split(',')
            .map(|x| x.trim().parse::<JobStatus>())
            .collect::<Result<Vec<_>>>()?,
        None => vec![],
    };
    Ok(JobFilter {
        statuses,
        limit: Some(limit),
        dead_letter,
        ..Default::default()
    })
}

/// `skynet jobs`.
pub async fn jobs(
    sk: &Skynet,
    json: bool,
    filter: &JobFilter,
    out: &mut dyn Write,
) -> Result<Exit> {
    let jobs = sk.list(filter).await?;
    if json {
        let views: Vec<JobView> = jobs.iter().map(|j| JobView::new(j, &[])).collect();
        print_json(out, &views)?;
    } else if jobs.is_empty() {
        writeln!(out, "No jobs.")?;
    } else {
        for j in &jobs {
            render::job_line(out, j)?;
        }
    }
    Ok(Exit::Ok)
}

/// `skynet show`.
pub async fn show(sk: &Skynet, id: &JobId, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let job = sk.get(id).await?;
    let steps = sk.steps(id).await?;
    if json {
        print_json(out, &JobView::new(&job, &steps))?;
    } else {
        render::job(out, &job, &steps)?;
    }
    Ok(Exit::Ok)
}

/// What `skynet logs` prints and how.
#[derive(Debug, Default)]
pub struct LogsOptions {
    /// Keep printing new lines until the job finishes.
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<u32>,
    /// Only lines containing this text.
    pub search: Option<String>,
    /// Only this step (1-based).
    pub step: Option<u32>,
    /// Control characters as the step wrote them, not escaped.
    pub raw: bool,
    /// Only lines recorded at or after this instant.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only lines recorded before this instant.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only this stream.
    pub stream: Option<skynet_core::provider::Stream>,
}

/// `skynet logs [-f] [--raw]`.
pub async fn logs(sk: &Skynet, id: &JobId, opts: LogsOptions, out: &mut dyn Write) -> Result<Exit> {
    let step = match opts.step {
        Some(0) => return Err(Error::InvalidInput("--step counts from 1".into())),
        s => s.map(|n| n - 1),
    };
    let mut query = LogQuery {
        step,
        search: opts.search,
        after_seq: None,
        tail: opts.tail,
        since: opts.since,
        until: opts.until,
        stream: opts.stream,
    };
    loop {
        // Read the status first: lines written before it finished are then
        // all visible to the read that follows.
        let finished = sk.get(id).await?.status.is_terminal();
        let lines = sk.logs(id, &query).await?;
        for l in &lines {
            render::log_line(out, l, opts.raw)?;
            query.after_seq = Some(l.seq);
        }
        out.flush()?;
        query.tail = None;
        if !opts.follow || finished {
            return Ok(Exit::Ok);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `skynet gc [--dry-run] [--json]`.
pub async fn gc(sk: &Skynet, dry_run: bool, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let report = sk.gc(skynet_core::retention::GcOptions { dry_run }).await?;
    if json {
        print_json(out, &report)?;
        return Ok(Exit::Ok);
    }
    if let Some(why) = &report.skipped {
        writeln!(out, "gc skipped: {why}")?;
        return Ok(Exit::Ok);
    }
    writeln!(out, "{}", report.summary())?;
    for id in &report.jobs.job_ids {
        writeln!(out, "  job {id}")?;
    }
    let ev = &report.events;
    if let (Some(a), Some(b), Some(from), Some(to)) =
        (ev.first_id, ev.last_id, ev.first_at, ev.last_at)
    {
        writeln!(
            out,
            "  events of the global log: ids {a}..{b}, from {} to {}",
            from.to_rfc3339(),
            to.to_rfc3339()
        )?;
    }
    for a in &report.artifacts.records {
        writeln!(
            out,
            "  artifact {} {} ({} bytes)",
            a.job_id,
            render::printable(&a.name),
            a.size
        )?;
    }
    for name in &report.objects.names {
        writeln!(out, "  object {name}")?;
    }
    for name in &report.uploads.names {
        writeln!(out, "  unfinished upload {name}")?;
    }
    Ok(Exit::Ok)
}

/// `skynet events JOB` of a pruned job: its tombstone.
fn print_tombstone(
    out: &mut dyn Write,
    stone: &skynet_core::store::retention::Tombstone,
    json: bool,
) -> Result<Exit> {
    if json {
        print_json(out, &serde_json::json!({ "tombstone": stone }))?;
    } else {
        writeln!(
            out,
            "job {} was pruned at {}: it {} (finished {}); its chain had {} events, \
             head {}",
            stone.job_id,
            stone.pruned_at.to_rfc3339(),
            stone.status.as_str(),
            stone
                .finished_at
                .map_or_else(|| "-".to_string(), |t| t.to_rfc3339()),
            stone.event_count,
            stone.event_head.as_deref().unwrap_or("-"),
        )?;
    }
    Ok(Exit::Ok)
}

/// `skynet events`: the audit trail and whether its chain is intact, and
/// what gc removed from the job (a pruned job: its tombstone).
pub async fn events(sk: &Skynet, id: &JobId, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let events = match sk.events(id).await {
        Ok(events) => events,
        Err(Error::JobNotFound(e)) => {
            return match sk.tombstone(id).await? {
                Some(stone) => print_tombstone(out, &stone, json),
                None => Err(Error::JobNotFound(e)),
            };
        }
        Err(e) => return Err(e),
    };
    let report = sk.verify_events(id).await?;
    let pruned = sk.prune_marks(id).await?;
    if json {
        print_json(
            out,
            &serde_json::json!({"events": events, "chain": report, "pruned": pruned}),
        )?;
    } else {
        for e in &events {
            render::event(out, e)?;
        }
        for m in &pruned {
            let what = match m.what.as_str() {
                "logs" => format!(
                    "{} log lines ({} bytes) older than {}",
                    m.count,
                    m.bytes,
                    m.before.to_rfc3339()
                ),
                _ => format!(
                    "artifact {} ({} bytes)",
                    render::printable(&m.detail),
                    m.bytes
                ),
            };
            writeln!(out, "pruned at {}: {what}", m.pruned_at.to_rfc3339())?;
        }
        if report.intact {
            writeln!(out, "hash chain intact ({} events)", report.events)?;
        } else {
            writeln!(
                out,
                "HASH CHAIN BROKEN: {}",
                report.problem.as_deref().unwrap_or("unknown")
            )?;
        }
    }
    Ok(if report.intact {
        Exit::Ok
    } else {
        Exit::JobFailed
    })
}

/// What `skynet events` reads from the global event log.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Only this job's events.
    pub job: Option<JobId>,
    /// Only these types (empty: all).
    pub types: Vec<skynet_core::events::EventType>,
    /// Keep reading new events.
    pub follow: bool,
    /// JSON lines.
    pub json: bool,
}

/// How often `--follow` looks for new events.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(300);

/// Print the global event log (the local operator sees it all), then with
/// `follow` keep printing what comes; a followed job's stream ends once
/// the job has finished and its events are printed.
pub async fn event_log(sk: &Skynet, opts: LogOptions, out: &mut dyn Write) -> Result<Exit> {
    if let Some(job) = &opts.job {
        sk.get(job).await?;
    }
    let mut after = skynet_core::events::EventPosition::START;
    loop {
        let page = sk
            .event_log(skynet_core::store::event_log::EventLogQuery {
                after,
                limit: 500,
                types: opts.types.clone(),
                job: opts.job.clone(),
                ..Default::default()
            })
            .await?;
        print_log(out, &page, opts.json)?;
        if page.next > after {
            after = page.next;
            continue;
        }
        if !opts.follow {
            return Ok(Exit::Ok);
        }
        if let Some(job) = &opts.job
            && sk.get(job).await?.status.is_terminal()
        {
            // One more read catches events committed with the last status.
            let rest = sk
                .event_log(skynet_core::store::event_log::EventLogQuery {
                    after,
                    limit: 500,
                    types: opts.types.clone(),
                    job: Some(job.clone()),
                    ..Default::default()
                })
                .await?;
            print_log(out, &rest, opts.json)?;
            if rest.next == after {
                return Ok(Exit::Ok);
            }
            after = rest.next;
            continue;
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// A page of the global log: first the marker of each pruned range the
/// page's position was behind (`{"pruned": ANCHOR}` in JSON), then its
/// events.
fn print_log(
    out: &mut dyn Write,
    page: &skynet_core::store::event_log::EventPage,
    json: bool,
) -> std::io::Result<()> {
    for a in &page.pruned {
        if json {
            serde_json::to_writer(&mut *out, &serde_json::json!({ "pruned": a }))
                .map_err(std::io::Error::other)?;
            writeln!(out)?;
        } else {
            render::pruned_events(out, a)?;
        }
    }
    for e in &page.events {
        if json {
            serde_json::to_writer(&mut *out, e).map_err(std::io::Error::other)?;
            writeln!(out)?;
        } else {
            render::system_event(out, e)?;
        }
    }
    out.flush()
}
