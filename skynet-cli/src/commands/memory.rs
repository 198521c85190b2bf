//! `skynet memory add|search|similar|stats|forget|pin|reindex`: what SKYNET remembers,
//! as the local operator (every principal's memories).

use super::print_json;
use crate::cli::MemoryCommand;
use crate::exit::Exit;
use skynet_core::memory::{MemoryFilter, NewMemory, Scored, SearchQuery, parse_when};
use skynet_core::{Error, Result, SimilarTo, Skynet};
use std::io::Write;

/// Run one `memory` subcommand.
pub async fn run(sk: &Skynet, command: MemoryCommand, out: &mut dyn Write) -> Result<Exit> {
    match command {
        MemoryCommand::Add {
            content,
            memory_type,
            tags,
            pinned,
            json,
        } => {
            let new = NewMemory {
                content,
                memory_type: Some(memory_type.parse()?),
                tags,
                pinned,
                ..Default::default()
            };
            let m = sk.remember(new).await?;
            if json {
                print_json(out, &m)?;
            } else {
                writeln!(out, "Remembered {} ({}).", m.id, m.memory_type)?;
            }
        }
        MemoryCommand::Search {
            query,
            limit,
            memory_type,
            tags,
            outcome,
            json,
        } => {
            let q = SearchQuery {
                query,
                limit: Some(limit),
                filter: MemoryFilter {
                    memory_type: memory_type.map(|t| t.parse()).transpose()?,
                    tags,
                    outcome: outcome.map(|o| o.parse()).transpose()?,
                    ..Default::default()
                },
            };
            show(out, &sk.search_memories(&q).await?, json)?;
        }
        MemoryCommand::Similar {
            what,
            id,
            limit,
            json,
        } => {
            let to = if id {
                SimilarTo::MemoryId(what)
            } else {
                SimilarTo::Content(what)
            };
            show(out, &sk.similar_memories(&to, Some(limit)).await?, json)?;
        }
        MemoryCommand::Stats { json } => {
            let s = sk.memory_stats().await?;
            if json {
                print_json(out, &s)?;
            } else {
                writeln!(
                    out,
                    "{} memories, average importance {:.2}; embedder {}, index {}",
                    s.counts.total, s.counts.average_importance, s.embedder, s.index
                )?;
                for (kind, n) in &s.counts.by_type {
                    writeln!(out, "  {kind}: {n}")?;
                }
                let ix = &s.index_detail;
                writeln!(
                    out,
                    "vector index: {}, {} vectors ({} forgotten), ~{:.1} MB, at most {} vectors, \
                     used from {}",
                    ix.kind,
                    ix.vectors,
                    ix.tombstones,
                    ix.bytes as f64 / 1e6,
                    ix.max_vectors,
                    ix.threshold
                        .map_or_else(|| "never (off)".to_string(), |t| format!("{t} memories"))
                )?;
            }
        }
        MemoryCommand::Forget {
            id: Some(id), json, ..
        } => {
            if !sk.forget_memory(&id).await? {
                return Err(Error::InvalidInput(format!(
                    "no memory {id:?}; `skynet memory search` shows ids"
                )));
            }
            if json {
                print_json(out, &serde_json::json!({ "forgotten": id }))?;
            } else {
                writeln!(out, "Forgot {id}.")?;
            }
        }
        MemoryCommand::Forget {
            id: None,
            memory_type,
            tags,
            outcome,
            since,
            before,
            job,
            json,
        } => {
            let now = chrono::Utc::now();
            let filter = MemoryFilter {
                memory_type: memory_type.map(|t| t.parse()).transpose()?,
                tags,
                outcome: outcome.map(|o| o.parse()).transpose()?,
                since: since.map(|t| parse_when("--since", &t, now)).transpose()?,
                until: before
                    .map(|t| parse_when("--before", &t, now))
                    .transpose()?,
                job_id: job,
            };
            let n = sk.forget_memories(&filter).await?;
            if json {
                print_json(out, &serde_json::json!({ "forgotten": n }))?;
            } else {
                writeln!(out, "Forgot {n} memories (pinned ones are kept).")?;
            }
        }
        MemoryCommand::Pin { id, off, json } => {
            if !sk.pin_memory(&id, !off).await? {
                return Err(Error::InvalidInput(format!(
                    "no memory {id:?}; `skynet memory search` shows ids"
                )));
            }
            if json {
                print_json(out, &serde_json::json!({ "id": id, "pinned": !off }))?;
            } else if off {
                writeln!(out, "Unpinned {id}.")?;
            } else {
                writeln!(out, "Pinned {id}.")?;
            }
        }
        MemoryCommand::Reindex { batch, json } => {
            // Progress goes to standard error, one line rewritten in
            // place, so `--json` output stays clean.
            let report = sk
                .reindex_memories(Some(batch), |p| {
                    if !json {
                        eprint!("\rre-embedding memories: {}/{}", p.done, p.total);
                    }
                })
                .await;
            if !json {
                eprintln!();
            }
            let report = report?;
            if json {
                print_json(out, &report)?;
            } else {
                writeln!(
                    out,
                    "Re-embedded {} memories with {} ({} already were).",
                    report.reembedded, report.model, report.current
                )?;
            }
        }
    }
    Ok(Exit::Ok)
}

fn show(out: &mut dyn Write, found: &[Scored], json: bool) -> Result<()> {
    if json {
        return print_json(out, &serde_json::json!({ "results": found }));
    }
    if found.is_empty() {
        writeln!(out, "Nothing found.")?;
    }
    for s in found {
        let first = s.memory.content.lines().next().unwrap_or_default();
        writeln!(
            out,
            "{:.3}  {}  {}  {}",
            s.score, s.memory.id, s.memory.memory_type, first
        )?;
    }
    Ok(())
}
