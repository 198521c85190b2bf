//! `skynet chat`: conversational turns; work comes back as a proposal
//! that waits for `skynet approve` like any other plan.

use super::print_json;
use super::run::{no_worker_hint, print_submitted};
use crate::exit::Exit;
use crate::render;
use serde_json::json;
use skynet_core::chat::{ChatReply, ChatSession};
use skynet_core::view::JobView;
use skynet_core::{JobSource, Result, Skynet, SubmitRequest};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// One turn with `message`, or one turn per stdin line without.
pub async fn run(
    sk: &Skynet,
    json: bool,
    cwd: Option<PathBuf>,
    message: Vec<String>,
    out: &mut dyn Write,
) -> Result<Exit> {
    let mut request = SubmitRequest::new("").source(JobSource::Cli);
    request.root = cwd;
    let mut session = ChatSession::new(request);
    if !message.is_empty() {
        turn(sk, &mut session, &message.join(" "), json, out).await?;
        return Ok(Exit::Ok);
    }
    let mut failed = None;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if matches!(line, "exit" | "quit" | "/exit" | "/quit") {
            break;
        }
        // A failed turn (model down, bad answer) is reported and the
        // conversation goes on; the exit code says a turn failed. A
        // configuration error would fail every turn: stop at once.
        if let Err(e) = turn(sk, &mut session, line, json, out).await {
            if matches!(
                e,
                skynet_core::Error::Config(_) | skynet_core::Error::ConfigFile { .. }
            ) {
                return Err(e);
            }
            failed = Some(crate::exit::for_error(&e));
            if json {
                print_json(
                    out,
                    &json!({"error": {"code": e.kind().code(), "message": e.to_string()}}),
                )?;
            } else {
                writeln!(out, "error: {}", render::printable(&e.to_string()))?;
            }
        }
    }
    Ok(failed.unwrap_or(Exit::Ok))
}

async fn turn(
    sk: &Skynet,
    session: &mut ChatSession,
    message: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    match sk.chat(session, message).await? {
        ChatReply::Answer { text, usage } => {
            if json {
                print_json(out, &json!({"reply": text, "usage": usage}))?;
            } else {
                print_lines(out, &text)?;
            }
        }
        ChatReply::Proposal { reply, job } => {
            if json {
                print_json(
                    out,
                    &json!({"reply": reply, "job": JobView::new(&job, &[])}),
                )?;
                return Ok(());
            }
            if !reply.is_empty() {
                print_lines(out, &reply)?;
            }
            print_submitted(out, &job)?;
            no_worker_hint(sk, &job).await?;
        }
    }
    Ok(())
}

/// Model text line by line, each made safe for a terminal.
fn print_lines(out: &mut dyn Write, text: &str) -> std::io::Result<()> {
    for line in text.lines() {
        writeln!(out, "{}", render::printable(line))?;
    }
    Ok(())
}
