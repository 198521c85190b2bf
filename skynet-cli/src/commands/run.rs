//! run, plan, submit, approve.

use super::{actor, duration_flag, print_json};
use crate::cli::IntentArgs;
use crate::exit::{self, Exit};
use crate::render;
use skynet_core::engine::worker::default_worker_id;
use skynet_core::provider::Stream;
use skynet_core::store::LogQuery;
use skynet_core::view::{JobView, PlanView};
use skynet_core::{
    Gate, Job, JobEvent, JobId, JobSource, JobStatus, Result, RunHere, Skynet, SubmitRequest,
};
use std::io::{IsTerminal, Write};

fn request(args: &IntentArgs) -> Result<SubmitRequest> {
    let mut req = SubmitRequest::new(args.text()).source(JobSource::Cli);
    req.root = args.cwd.clone();
    req.provider = args.provider.clone();
    req.step_timeout = duration_flag("--step-timeout", args.step_timeout.clone())?;
    req.artifacts = args.artifacts.clone();
    Ok(req)
}

/// `skynet plan`: dry run.
pub async fn plan(sk: &Skynet, args: IntentArgs, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let plan = sk.plan(&request(&args)?).await?;
    if json {
        print_json(out, &PlanView::new(&plan))?;
    } else {
        render::plan(out, &plan, &[])?;
    }
    Ok(Exit::Ok)
}

/// `skynet submit`: queue it (or leave it awaiting approval).
pub async fn submit(
    sk: &Skynet,
    args: IntentArgs,
    json: bool,
    priority: i32,
    idempotency_key: Option<String>,
    timeout: Option<String>,
    out: &mut dyn Write,
) -> Result<Exit> {
    let mut req = request(&args)?;
    req.priority = priority;
    req.idempotency_key = idempotency_key;
    req.timeout = duration_flag("--timeout", timeout)?;
    let job = sk.submit(req).await?;
    if json {
        print_json(out, &JobView::new(&job, &[]))?;
    } else {
        print_submitted(out, &job)?;
    }
    no_worker_hint(sk, &job).await?;
    Ok(Exit::Ok)
}

/// A job just submitted, for people: its plan, its status and, when it
/// waits for approval, how to give it.
pub(super) fn print_submitted(out: &mut dyn Write, job: &Job) -> std::io::Result<()> {
    if let Some(p) = &job.plan {
        render::plan(out, p, &[])?;
    }
    writeln!(out, "Job {} is {}.", job.id, job.status)?;
    if job.status == JobStatus::Planned {
        approve_hint(out, job)?;
    }
    Ok(())
}

/// Queued work with no worker online would wait silently: say so (on
/// stderr, so `--json` output stays one document) and how to run it.
pub(super) async fn no_worker_hint(sk: &Skynet, job: &Job) -> Result<()> {
    if job.status != JobStatus::Queued || sk.workers_online().await? > 0 {
        return Ok(());
    }
    render::err_line(&format!(
        "note: no worker is online, so job {} waits in the queue; run it now with `skynet worker --once`, or keep workers running with `skynet worker` or `skynet serve`",
        job.id
    ));
    Ok(())
}

/// `skynet run`: plan, gate, run here, stream.
pub async fn run(
    sk: &Skynet,
    args: IntentArgs,
    yes: bool,
    json: bool,
    timeout: Option<String>,
    out: &mut dyn Write,
) -> Result<Exit> {
    let mut req = request(&args)?;
    req.timeout = duration_flag("--timeout", timeout)?;
    let gate = if yes {
        Gate::Approve(actor())
    } else {
        Gate::Hold
    };
    let job = sk.start(&req, &gate).await?;
    let Some(plan) = job.plan.clone() else {
        return Ok(Exit::Internal);
    };
    if !json {
        render::plan(out, &plan, &[])?;
    }
    if job.status == JobStatus::Planned {
        let approved = std::io::stdin().is_terminal() && ask_approval(&plan).await?;
        if !approved {
            if json {
                print_json(out, &JobView::new(&job, &[]))?;
            } else {
                writeln!(out, "Job {} awaits approval ({}).", job.id, plan.risk)?;
                approve_hint(out, &job)?;
            }
            return Ok(Exit::NotApproved);
        }
        sk.approve(&job.id, &plan.hash, &actor()).await?;
    }
    finish_here(sk, &job.id, json, out).await
}

/// `skynet approve`: bind the approval to the reviewed hash, then run.
pub async fn approve(
    sk: &Skynet,
    id: &JobId,
    plan_hash: Option<String>,
    detach: bool,
    json: bool,
    out: &mut dyn Write,
) -> Result<Exit> {
    let hash = match plan_hash {
        Some(h) => h,
        None => {
            let job = sk.get(id).await?;
            let Some(plan) = &job.plan else {
                return Err(skynet_core::Error::InvalidInput(format!(
                    "job {id} has no plan to approve"
                )));
            };
            if !std::io::stdin().is_terminal() {
                return Err(skynet_core::Error::ApprovalRequired(id.clone()));
            }
            render::plan(out, plan, &[])?;
            if !ask_approval(plan).await? {
                writeln!(out, "Not approved.")?;
                return Ok(Exit::NotApproved);
            }
            plan.hash.clone()
        }
    };
    let job = sk.approve(id, &hash, &actor()).await?;
    if detach {
        if json {
            print_json(out, &JobView::new(&job, &[]))?;
        } else {
            writeln!(out, "Job {} approved and queued for a worker.", job.id)?;
        }
        return Ok(Exit::Ok);
    }
    finish_here(sk, id, json, out).await
}

pub(super) fn approve_hint(out: &mut dyn Write, job: &Job) -> std::io::Result<()> {
    let hash = job
        .plan
        .as_ref()
        .map(|p| p.hash.as_str())
        .unwrap_or_default();
    writeln!(out, "Review it with:  skynet show {}", job.id)?;
    writeln!(
        out,
        "Approve it with: skynet approve {} --plan-hash {}",
        job.id, hash
    )
}

/// Ask on the terminal whether to approve `plan` (shown above).
async fn ask_approval(plan: &skynet_core::Plan) -> Result<bool> {
    let q = format!(
        "Approve this {} plan {}? [y/N] ",
        plan.risk,
        plan.short_hash()
    );
    ask(&q).await
}

/// Ask a yes/no question on the terminal.
pub(super) async fn ask(question: &str) -> Result<bool> {
    let question = question.to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let _ = write!(std::io::stderr(), "{question}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| skynet_core::Error::Io(std::io::Error::other(e)))??;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Run the queued job in this process with [`Skynet::run_here`] (claimed
/// like a worker would, so it runs exactly once; a retry run here when due;
/// a job another worker claimed waited for), streaming its output; Ctrl-C
/// cancels it.
async fn finish_here(sk: &Skynet, id: &JobId, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let mut rx = sk.subscribe();
    let opts = RunHere {
        worker: default_worker_id(),
        timeout: None,
        log_tail: None,
    };
    let (runner, job_id) = (sk.clone(), id.clone());
    let mut task = tokio::spawn(async move { runner.run_here(&job_id, &opts).await });
    // Output is streamed live when this process runs the steps; when
    // another worker runs them, it comes from the ledger.
    let (mut last_seq, mut ran_here, mut cancelled) = (None, false, false);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    let done = loop {
        tokio::select! {
            res = &mut task => {
                while let Ok(ev) = rx.try_recv() {
                    show_event(out, id, &ev, json, &mut ran_here)?;
                }
                break res.map_err(|e| skynet_core::Error::Io(std::io::Error::other(e)))??;
            }
            ev = rx.recv() => {
                if let Ok(ev) = ev {
                    show_event(out, id, &ev, json, &mut ran_here)?;
                }
            }
            _ = tick.tick(), if !ran_here && !json => print_new_logs(sk, id, &mut last_seq, out).await?,
            _ = tokio::signal::ctrl_c(), if !cancelled => cancel_here(sk, id, &mut cancelled).await?,
        }
    };
    if !ran_here && !json {
        print_new_logs(sk, id, &mut last_seq, out).await?;
    }
    let job = done.job;
    if json {
        print_json(out, &JobView::new(&job, &done.steps))?;
    } else {
        writeln!(out, "Job {} {}.", job.id, job.status)?;
        if let Some(e) = job.error_message() {
            writeln!(out, "  {e}")?;
        }
    }
    Ok(exit::for_status(job.status))
}

/// Ctrl-C: cancel the job (once); the run then ends as cancelled.
async fn cancel_here(sk: &Skynet, id: &JobId, cancelled: &mut bool) -> Result<()> {
    *cancelled = true;
    render::err_line(&format!("cancelling job {id} ..."));
    sk.cancel(id, &actor()).await.map(|_| ())
}

/// Print the job's stored output after `last_seq` (lines another worker wrote).
async fn print_new_logs(
    sk: &Skynet,
    id: &JobId,
    last_seq: &mut Option<i64>,
    out: &mut dyn Write,
) -> Result<()> {
    let query = LogQuery {
        after_seq: *last_seq,
        ..Default::default()
    };
    for line in sk.logs(id, &query).await? {
        *last_seq = Some(line.seq);
        render::log_line(out, &line, false)?;
    }
    Ok(())
}

/// Note whether this process runs the job's steps, and print the event.
fn show_event(
    out: &mut dyn Write,
    id: &JobId,
    ev: &JobEvent,
    json: bool,
    ran_here: &mut bool,
) -> std::io::Result<()> {
    *ran_here |= matches!(ev, JobEvent::StepStarted { job, .. } if job == id);
    if json {
        return Ok(());
    }
    print_event(out, id, ev)
}

fn print_event(out: &mut dyn Write, id: &JobId, ev: &JobEvent) -> std::io::Result<()> {
    if ev.job() != id {
        return Ok(());
    }
    match ev {
        JobEvent::StepStarted {
            step, description, ..
        } => writeln!(out, "==> step {}: {description}", step + 1),
        JobEvent::Output {
            stream: Stream::Stderr,
            text,
            ..
        } => {
            render::err_line(&render::output_text(text, false));
            Ok(())
        }
        JobEvent::Output { text, .. } => writeln!(out, "{}", render::output_text(text, false)),
        JobEvent::StepFinished {
            step,
            status,
            exit_code,
            ..
        } if status != "succeeded" => writeln!(
            out,
            "==> step {} {status}{}",
            step + 1,
            exit_code
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default()
        ),
        _ => Ok(()),
    }
}
