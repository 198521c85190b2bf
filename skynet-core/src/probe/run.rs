//! Running a probe like a step: the same context (timeout, cancellation,
//! output channel and cap), an [`Output`] like a provider's.

use super::{Probe, ProbeConfig};
use crate::Result;
use crate::plan::Step;
use crate::provider::local::capture::OutputSink;
use crate::provider::local::{effective_timeout, output, stop_signal};
use crate::provider::{ExecContext, ExitKind, Output, Provider, Stream};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// What a finished in-process probe reports: its lines and its exit code
/// (0 success, 1 the target answered badly or not at all).
#[derive(Debug, Default)]
pub(super) struct Report {
    pub(super) lines: Vec<(Stream, String)>,
    pub(super) code: i32,
}

impl Report {
    pub(super) fn out(&mut self, text: impl Into<String>) {
        self.lines.push((Stream::Stdout, text.into()));
    }
    pub(super) fn err(&mut self, text: impl Into<String>) {
        self.lines.push((Stream::Stderr, text.into()));
        self.code = 1;
    }
}

/// Run `step`: its probe when it is one ([`Probe::of`]), else its command
/// on `provider`. The engine's one hand-over point for a step.
pub(crate) async fn dispatch(
    config: &ProbeConfig,
    provider: &dyn Provider,
    step: &Step,
    ctx: ExecContext,
) -> Result<Output> {
    match Probe::of(&step.action, &step.command) {
        None => provider.execute(&step.command, ctx).await,
        Some(Probe::Ping { host }) => {
            super::ping::run(config, provider, &host, &step.command, ctx).await
        }
        Some(Probe::Dns { host }) => {
            in_process(step, ctx, |_| super::dns::run(config, &host)).await
        }
        Some(Probe::HttpGet { url }) => {
            in_process(step, ctx, |limit| super::http::run(config, &url, limit)).await
        }
        Some(Probe::Containers { what, name }) => {
            in_process(step, ctx, |_| {
                super::containers::run(config, what, name.as_deref())
            })
            .await
        }
    }
}

/// Perform an in-process probe under the step's deadline and cancellation,
/// then forward its lines under the output cap.
async fn in_process<F, W>(step: &Step, ctx: ExecContext, work: F) -> Result<Output>
where
    F: FnOnce(Option<Duration>) -> W,
    W: Future<Output = Result<Report>>,
{
    let started = Instant::now();
    if ctx.cancel.is_cancelled() {
        return Ok(output(ExitKind::Cancelled, None, started, (0, false)));
    }
    let timeout = effective_timeout(ctx.timeout, step.command.timeout_ms);
    let report = tokio::select! {
        r = work(timeout) => r?,
        stop = stop_signal(timeout.map(|t| started + t), &ctx.cancel) => {
            return Ok(output(stop, None, started, (0, false)));
        }
    };
    let mut sink = OutputSink::new(ctx.output, ctx.max_output_bytes);
    for (stream, text) in report.lines {
        for line in text.lines() {
            let never = std::future::pending::<()>();
            tokio::pin!(never);
            sink.forward_text(stream, line.to_string(), never).await;
        }
    }
    let counted = sink.finish().await;
    Ok(output(
        ExitKind::Exited,
        Some(report.code),
        started,
        counted,
    ))
}
