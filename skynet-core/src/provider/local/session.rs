//! One running step: its child, pipes and output, pumped in a single task
//! (no helper threads or tasks per step).

use super::capture::{LineBuffer, OutputSink, forward_lines};
use super::group::ProcessGroup;
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

/// A spawned step.
pub(crate) struct Session<'a> {
    child: Child,
    group: ProcessGroup,
    stdin: Option<ChildStdin>,
    stdin_data: &'a [u8],
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out: LineBuffer,
    err: LineBuffer,
    sink: OutputSink,
    status: Option<ExitStatus>,
}

enum Event {
    Read(Stream, io::Result<usize>),
    Wrote(io::Result<usize>),
    Exited(io::Result<ExitStatus>),
}

impl<'a> Session<'a> {
    /// Take over a freshly spawned child (pipes included).
    pub(crate) fn new(
        mut child: Child,
        group: ProcessGroup,
        stdin_data: &'a [u8],
        sink: OutputSink,
    ) -> Session<'a> {
        let mut stdin = child.stdin.take();
        if stdin_data.is_empty() {
            // Nothing to write: close now so the child sees end of input.
            stdin = None;
        }
        Session {
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            child,
            group,
            stdin,
            stdin_data,
            out: LineBuffer::new(Stream::Stdout),
            err: LineBuffer::new(Stream::Stderr),
            sink,
            status: None,
        }
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

    fn exit(&self) -> ExitEnd {
        match self.status {
            Some(s) => match s.code() {
                Some(code) => ExitEnd {
                    kind: ExitKind::Exited,
                    exit_code: Some(code),
                },
                None => ExitEnd {
                    kind: ExitKind::Signaled,
                    exit_code: None,
                },
            },
            // Not reaped despite SIGKILL (e.g. stuck in the kernel);
            // kill_on_drop is the backstop.
            None => ExitEnd {
                kind: ExitKind::Signaled,
                exit_code: None,
            },
        }
    }

    async fn drain_for(&mut self, limit: Duration) -> Result<()> {
        let limit = sleep(limit);
        tokio::pin!(limit);
        self.pump(limit, None).await?;
        Ok(())
    }

    /// Move data (stdin in, output out) and reap the child until it has
    /// exited and closed its pipes, or `until` fires, or (with
    /// `straggler_grace`) the pipes outlive the child by that long.
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
            if self.status.is_some() {
                if self.stdout.is_none() && self.stderr.is_none() {
                    return Ok(PumpEnd::Finished);
                }
                if grace.is_none()
                    && let Some(g) = straggler_grace
                {
                    grace = Some(Box::pin(sleep(g)));
                }
            }
            let event = tokio::select! {
                v = until.as_mut() => return Ok(PumpEnd::Interrupted(v)),
                () = elapsed(&mut grace), if grace.is_some() => return Ok(PumpEnd::Stragglers),
                r = read_some(&mut self.stdout, self.out.read_target()), if self.stdout.is_some() => {
                    Event::Read(Stream::Stdout, r)
                }
                r = read_some(&mut self.stderr, self.err.read_target()), if self.stderr.is_some() => {
                    Event::Read(Stream::Stderr, r)
                }
                r = write_some(&mut self.stdin, self.stdin_data), if self.stdin.is_some() => Event::Wrote(r),
                r = self.child.wait(), if self.status.is_none() => Event::Exited(r),
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
                Event::Wrote(Ok(n)) if n > 0 => {
                    self.stdin_data = &self.stdin_data[n..];
                    if self.stdin_data.is_empty() {
                        self.stdin = None;
                    }
                }
                // The child closed its stdin (or the write failed): stop feeding it.
                Event::Wrote(_) => self.stdin = None,
                Event::Exited(Ok(status)) => self.status = Some(status),
                Event::Exited(Err(e)) => {
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
