//! One running step: its process (or a pipeline's processes), pipes and
//! output, pumped in a single task (no helper threads or tasks per step).

use super::capture::{LineBuffer, OutputSink, forward_lines};
use super::group::ProcessGroup;
use super::pipeline::{self, StageEnd};
use crate::provider::{ExitKind, Stream};
use crate::{Error, Result};
use std::future::{Future, pending};
use std::io;
use std::pin::Pin;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::time::{Sleep, sleep};

/// After the child exits, how long background processes may keep its
/// pipes open before the group is killed.
pub(crate) const STRAGGLER_GRACE: Duration = Duration::from_millis(200);
/// After SIGKILL, how long to keep draining pipes that something outside
/// the group may still hold.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(1);
/// Most bytes of stage reports a pipeline connector may send.
const MAX_REPORT_BYTES: usize = 64 * 1024;

/// Why a [`Session::pump`] returned.
#[derive(Debug)]
pub(crate) enum PumpEnd<T> {
    /// The child exited and both pipes reached end of input.
    Finished,
    /// The child exited but something kept its pipes open past the grace.
    Stragglers,
    /// The `until` future fired first.
    Interrupted(T),
}

/// A spawned step: one process, or a pipeline's, whose stdin `W` and
/// stderr `E` may be other pipes than a single child's.
pub(crate) struct Session<'a, W = ChildStdin, E = ChildStderr> {
    /// The processes SKYNET started: one (a program, or a sandbox holding
    /// a whole pipeline), or every stage of a pipeline in order.
    children: Vec<Child>,
    statuses: Vec<Option<ExitStatus>>,
    group: ProcessGroup,
    stdin: Option<W>,
    stdin_data: &'a [u8],
    stdout: Option<ChildStdout>,
    stderr: Option<E>,
    reports: Option<Reports>,
    out: LineBuffer,
    err: LineBuffer,
    sink: OutputSink,
}

/// The stage statuses a pipeline connector reports (see
/// [`super::pipeline`]): `INDEX STATUS` lines.
pub(crate) struct Reports {
    pipe: Option<tokio::net::unix::OwnedReadHalf>,
    buf: Vec<u8>,
    stages: usize,
}

impl Reports {
    /// Read the reports of a `stages`-stage pipeline from `pipe`.
    pub(crate) fn new(pipe: tokio::net::unix::OwnedReadHalf, stages: usize) -> Reports {
        Reports {
            pipe: Some(pipe),
            buf: Vec::new(),
            stages,
        }
    }
}

enum Event {
    Read(Stream, io::Result<usize>),
    Report(io::Result<usize>),
    Wrote(io::Result<usize>),
    Exited(usize, io::Result<ExitStatus>),
}

impl<'a> Session<'a> {
    /// Take over a freshly spawned child (pipes included).
    pub(crate) fn new(
        mut child: Child,
        group: ProcessGroup,
        stdin_data: &'a [u8],
        sink: OutputSink,
    ) -> Session<'a> {
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        Session::of(vec![child], group, stdin, stdout, stderr, stdin_data, sink)
    }
}

impl<'a, W: AsyncWrite + Unpin, E: AsyncRead + Unpin> Session<'a, W, E> {
    /// Take over spawned `children` (a pipeline's stages in order, or one
    /// process) with the pipes the step's input goes into and its output
    /// comes from.
    pub(crate) fn of(
        children: Vec<Child>,
        group: ProcessGroup,
        mut stdin: Option<W>,
        stdout: Option<ChildStdout>,
        stderr: Option<E>,
        stdin_data: &'a [u8],
        sink: OutputSink,
    ) -> Session<'a, W, E> {
        if stdin_data.is_empty() {
            // Nothing to write: close now so the child sees end of input.
            stdin = None;
        }
        Session {
            statuses: vec![None; children.len()],
            children,
            group,
            stdin,
            stdin_data,
            stdout,
            stderr,
            reports: None,
            out: LineBuffer::new(Stream::Stdout),
            err: LineBuffer::new(Stream::Stderr),
            sink,
        }
    }

    /// Also read a pipeline connector's stage reports.
    pub(crate) fn with_reports(mut self, reports: Reports) -> Self {
        self.reports = Some(reports);
        self
    }

    /// Run the step until it ends by itself or `stop` fires; then make sure
    /// no process of its group survives. Returns how it ended.
    pub(crate) async fn run<F>(
        &mut self,
        stop: Pin<&mut F>,
        kill_grace: Duration,
    ) -> Result<ExitEnd>
    where
        F: Future<Output = ExitKind>,
    {
        match self.pump(stop, Some(STRAGGLER_GRACE)).await? {
            PumpEnd::Finished => {
                // Background processes that did not hold the pipes. The
                // leader is reaped by now; its pgid stays reserved while any
                // member lives, and with none left this is a harmless ESRCH.
                self.group.kill();
            }
            PumpEnd::Stragglers => {
                self.group.kill();
                self.drain_for(DRAIN_AFTER_KILL).await?;
            }
            PumpEnd::Interrupted(kind) => {
                self.group.terminate();
                let grace = sleep(kill_grace);
                tokio::pin!(grace);
                self.pump(grace, Some(STRAGGLER_GRACE)).await?;
                self.group.kill();
                self.drain_for(DRAIN_AFTER_KILL).await?;
                return Ok(ExitEnd {
                    kind,
                    exit_code: None,
                    stage: None,
                });
            }
        }
        Ok(self.exit())
    }

    /// Count output, send the truncation marker if needed; returns
    /// `(bytes produced, truncated)`.
    pub(crate) async fn finish(self) -> (u64, bool) {
        self.sink.finish().await
    }

    fn exited(&self) -> bool {
        self.statuses.iter().all(Option::is_some)
    }

    fn exit(&self) -> ExitEnd {
        // A connector's reports say how each stage ended.
        let reported = self.reports.as_ref().and_then(|r| {
            let (text, stages) = r.text();
            pipeline::parse_reports(text, stages)
        });
        if let Some(ends) = reported {
            return pipeline::pipefail(&ends);
        }
        if self.children.len() > 1 {
            let ends: Vec<StageEnd> = self
                .statuses
                .iter()
                .map(|s| s.map_or(StageEnd::Unknown, StageEnd::of))
                .collect();
            return pipeline::pipefail(&ends);
        }
        match self.statuses.first().copied().flatten() {
            Some(s) => match s.code() {
                Some(code) => ExitEnd {
                    kind: ExitKind::Exited,
                    exit_code: Some(code),
                    stage: None,
                },
                None => ExitEnd {
                    kind: ExitKind::Signaled,
                    exit_code: None,
                    stage: None,
                },
            },
            // Not reaped despite SIGKILL (e.g. stuck in the kernel);
            // kill_on_drop is the backstop.
            None => ExitEnd {
                kind: ExitKind::Signaled,
                exit_code: None,
                stage: None,
            },
        }
    }

    async fn drain_for(&mut self, limit: Duration) -> Result<()> {
        let limit = sleep(limit);
        tokio::pin!(limit);
        self.pump(limit, None).await?;
        Ok(())
    }

    /// Move data (stdin in, output out) and reap the children until they
    /// have exited and closed their pipes, or `until` fires, or (with
    /// `straggler_grace`) the pipes outlive the children by that long.
    async fn pump<F: Future>(
        &mut self,
        mut until: Pin<&mut F>,
        straggler_grace: Option<Duration>,
    ) -> Result<PumpEnd<F::Output>> {
        // Lines left unsent by an earlier, interrupted pump go first.
        for (buf, open) in [
            (&mut self.out, self.stdout.is_some()),
            (&mut self.err, self.stderr.is_some()),
        ] {
            if let Some(v) = forward_lines(buf, &mut self.sink, !open, until.as_mut()).await {
                return Ok(PumpEnd::Interrupted(v));
            }
        }
        let mut grace: Option<Pin<Box<Sleep>>> = None;
        loop {
            let reporting = self.reports.as_ref().is_some_and(|r| r.pipe.is_some());
            if self.exited() {
                if self.stdout.is_none() && self.stderr.is_none() && !reporting {
                    return Ok(PumpEnd::Finished);
                }
                if grace.is_none()
                    && let Some(g) = straggler_grace
                {
                    grace = Some(Box::pin(sleep(g)));
                }
            }
            let running = !self.exited();
            let event = tokio::select! {
                v = until.as_mut() => return Ok(PumpEnd::Interrupted(v)),
                () = elapsed(&mut grace), if grace.is_some() => return Ok(PumpEnd::Stragglers),
                r = read_some(&mut self.stdout, self.out.read_target()), if self.stdout.is_some() => {
                    Event::Read(Stream::Stdout, r)
                }
                r = read_some(&mut self.stderr, self.err.read_target()), if self.stderr.is_some() => {
                    Event::Read(Stream::Stderr, r)
                }
                r = read_report(&mut self.reports), if reporting => Event::Report(r),
                r = write_some(&mut self.stdin, self.stdin_data), if self.stdin.is_some() => Event::Wrote(r),
                (i, r) = wait_next(&mut self.children, &self.statuses), if running => Event::Exited(i, r),
            };
            match event {
                Event::Read(stream, result) => {
                    let eof = match result {
                        Ok(0) => true,
                        Ok(n) => {
                            self.sink.produced(n);
                            false
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "reading step output failed; treating as end of output");
                            true
                        }
                    };
                    let buf = match stream {
                        Stream::Stdout => {
                            if eof {
                                self.stdout = None;
                            }
                            &mut self.out
                        }
                        _ => {
                            if eof {
                                self.stderr = None;
                            }
                            &mut self.err
                        }
                    };
                    if let Some(v) = forward_lines(buf, &mut self.sink, eof, until.as_mut()).await {
                        return Ok(PumpEnd::Interrupted(v));
                    }
                }
                Event::Report(result) => {
                    if let Some(reports) = &mut self.reports
                        && (!matches!(result, Ok(n) if n > 0)
                            || reports.buf.len() >= MAX_REPORT_BYTES)
                    {
                        // End of the reports (or more than any connector sends).
                        reports.pipe = None;
                    }
                }
                Event::Wrote(Ok(n)) if n > 0 => {
                    self.stdin_data = &self.stdin_data[n..];
                    if self.stdin_data.is_empty() {
                        self.stdin = None;
                    }
                }
                // The child closed its stdin (or the write failed): stop feeding it.
                Event::Wrote(_) => self.stdin = None,
                Event::Exited(i, Ok(status)) => self.statuses[i] = Some(status),
                Event::Exited(_, Err(e)) => {
                    return Err(Error::Provider {
                        provider: "local".into(),
                        message: format!("cannot wait for the step's process: {e}"),
                    });
                }
            }
        }
    }
}

/// How a step ended, as reported in its `Output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExitEnd {
    pub(crate) kind: ExitKind,
    pub(crate) exit_code: Option<i32>,
    /// For a pipeline that failed: the stage that failed it (0-based).
    pub(crate) stage: Option<usize>,
}

/// The next of `children` still running (`statuses[i]` is `None`) to exit.
/// At least one must be running.
async fn wait_next(
    children: &mut [Child],
    statuses: &[Option<ExitStatus>],
) -> (usize, io::Result<ExitStatus>) {
    if let [only] = children {
        return (0, only.wait().await);
    }
    // A pipeline: wait for whichever stage ends first. `Child::wait` is
    // cancel-safe, so the futures are simply made again next time.
    let waits = children
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| statuses[*i].is_none())
        .map(|(i, child)| Box::pin(async move { (i, child.wait().await) }));
    futures::future::select_all(waits).await.0
}

async fn read_report(reports: &mut Option<Reports>) -> io::Result<usize> {
    match reports {
        Some(Reports {
            pipe: Some(p), buf, ..
        }) => p.read_buf(buf).await,
        _ => pending().await,
    }
}

async fn read_some<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut Vec<u8>,
) -> io::Result<usize> {
    match pipe {
        Some(p) => p.read_buf(buf).await,
        None => pending().await,
    }
}

async fn write_some<W: AsyncWrite + Unpin>(pipe: &mut Option<W>, data: &[u8]) -> io::Result<usize> {
    match pipe {
        Some(p) => p.write(data).await,
        None => pending().await,
    }
}

async fn elapsed(timer: &mut Option<Pin<Box<Sleep>>>) {
    match timer {
        Some(t) => t.as_mut().await,
        None => pending().await,
    }
}

impl Reports {
    /// The report text and the number of stages it is about.
    pub(crate) fn text(&self) -> (&[u8], usize) {
        (&self.buf, self.stages)
    }
}
