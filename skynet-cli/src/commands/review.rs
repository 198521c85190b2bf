//! review, retry.

use super::{actor, print_json};
use crate::exit::Exit;
use crate::render;
use skynet_core::view::JobView;
use skynet_core::{
    JobId, JobSource, JobStatus, Result, RetryRequest, ReviewRequest, ReviewResolution, Skynet,
};
use std::io::{IsTerminal, Write};

/// The resolution the flags name (clap makes exactly one of them set).
pub fn resolution(requeue: bool, fail: bool) -> ReviewResolution {
    if requeue {
        ReviewResolution::Requeue
    } else if fail {
        ReviewResolution::Fail
    } else {
        ReviewResolution::MarkSucceeded
    }
}

/// What `skynet review` was given.
#[derive(Debug)]
pub struct ReviewArgs {
    pub resolution: ReviewResolution,
    pub reason: Option<String>,
    pub plan_hash: Option<String>,
    pub json: bool,
}

/// `skynet review`: resolve a job in `needs_review`. A requeue without
/// `--plan-hash` shows the plan and asks on a terminal; elsewhere core
/// refuses it, saying the hash is needed.
pub async fn review(
    sk: &Skynet,
    id: &JobId,
    args: ReviewArgs,
    out: &mut dyn Write,
) -> Result<Exit> {
    let mut plan_hash = args.plan_hash;
    if args.resolution == ReviewResolution::Requeue
        && plan_hash.is_none()
        && std::io::stdin().is_terminal()
    {
        let job = sk.get(id).await?;
        // Not under review: let core say so.
        if let (JobStatus::NeedsReview, Some(plan)) = (job.status, &job.plan) {
            render::plan(out, plan, &sk.steps(id).await?)?;
            let question = format!(
                "Queue this {} plan {} again? [y/N] ",
                plan.risk,
                plan.short_hash()
            );
            if !super::run::ask(&question).await? {
                writeln!(out, "Not requeued.")?;
                return Ok(Exit::NotApproved);
            }
            plan_hash = Some(plan.hash.clone());
        }
    }
    let req = ReviewRequest {
        resolution: args.resolution,
        reason: args.reason,
        plan_hash,
    };
    let job = sk.resolve_review(id, &req, &actor()).await?;
    if args.json {
        print_json(out, &JobView::new(&job, &sk.steps(id).await?))?;
    } else {
        writeln!(out, "Job {} is {}.", job.id, job.status)?;
        if job.status == JobStatus::Queued {
            writeln!(
                out,
                "A worker runs it from the interrupted step (`skynet worker` if none is running)."
            )?;
        }
    }
    Ok(Exit::Ok)
}

/// `skynet retry`: submit a finished job's plan again as a new job.
pub async fn retry(sk: &Skynet, id: &JobId, json: bool, out: &mut dyn Write) -> Result<Exit> {
    let req = RetryRequest {
        source: JobSource::Cli,
        actor: actor(),
        ..RetryRequest::default()
    };
    let job = sk.retry(id, &req).await?;
    if json {
        print_json(out, &JobView::new(&job, &[]))?;
        return Ok(Exit::Ok);
    }
    if let Some(plan) = &job.plan {
        render::plan(out, plan, &[])?;
    }
    writeln!(
        out,
        "Job {} retries job {id}; it is {}.",
        job.id, job.status
    )?;
    if job.status == JobStatus::Planned {
        super::run::approve_hint(out, &job)?;
    }
    Ok(Exit::Ok)
}
