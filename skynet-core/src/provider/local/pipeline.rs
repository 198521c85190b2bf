//! Pipelines without a shell: a step whose command has stages
//! ([`Command::pipe`]) runs them connected by pipes, the standard output of
//! each the standard input of the next, the last one's output and every
//! stage's standard error captured as the step's.
//!
//! Every stage is prepared as if it ran alone ([`prepare::launch`]): its
//! working directory inside the root, its program resolved on the confined
//! `PATH` (a missing one fails the step naming the stage, before anything
//! starts), git's guard, the environment. Then, by confinement:
//!
//! - **Path confinement only, and Landlock**: the stages are spawned
//!   directly, with pipes SKYNET creates, all in one process group (the
//!   first stage leads it, so a timeout or a cancel signals them all).
//!   Landlock and seccomp restrict a process and what it starts, so the
//!   stages are started from one restricted thread: one sandbox set-up,
//!   every stage under it.
//! - **Bubblewrap**: a sandbox is a namespace set a process is started in;
//!   a stage started outside it cannot join it. One sandbox per stage would
//!   cost a start per stage, so one bubblewrap runs a *connector* that
//!   starts the stages inside. The connector is `/bin/sh` running a fixed
//!   script ([`CONNECTOR`]) that never changes with the step: the stages'
//!   words are its positional parameters, each program already resolved to
//!   an absolute path (so the shell neither searches `PATH` nor takes a
//!   word for a builtin, a function or an alias), and the script only ever
//!   expands them as `"$@"`: no `eval`, no word of the step parsed as shell
//!   syntax. It is infrastructure like bubblewrap and `prlimit`, not a step
//!   the policy judges; the stages are what the policy judged. (A re-exec
//!   of this binary as the connector is not available to programs that
//!   embed the library, and a helper binary would have to be installed
//!   beside every one of them; a POSIX shell is on every system bubblewrap
//!   runs on.) The connector reports how each stage ended on its standard
//!   input, a socket SKYNET holds the other end of; the stages never get
//!   that descriptor, except the first stage when the step feeds it input,
//!   which could write a false report: statuses are reports, not a
//!   security boundary (a stage decides its own exit status anyway).
//!
//! The step's result follows pipefail: the first stage in order that
//! failed names the failure (`stage 2 of 3 (`sort -rh`) exited with code
//! 2`). A stage other than the last that was killed by SIGPIPE (or exited
//! 141, how a shell reports that) did not fail: a later stage stopped
//! reading, as `head` does.

use super::capture::OutputSink;
use super::group::ProcessGroup;
use super::prepare::{self, CannotRun, Launch, Sandbox};
use super::sandbox::Confinement;
use super::session::{ExitEnd, Reports, Session};
use super::{LocalProvider, output, report_cannot_run};
use crate::plan::Command;
use crate::provider::{ExitKind, Output};
use crate::{Error, Result};
use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use tokio::process::Child;
use tokio::time::Instant;

/// The shell that runs [`CONNECTOR`] inside a bubblewrap sandbox.
pub(crate) const CONNECTOR_SHELL: &str = "/bin/sh";

/// The connector script. Its positional parameters: `1` when the first
/// stage reads the step's input (else `0`: it reads nothing), then for
/// each stage its word count and its words (the program as an absolute
/// path). Standard input is a socket: the step's input arrives on it, and
/// `INDEX STATUS` lines go back on it (descriptor 9, closed for every
/// stage). `s` runs the first stage of what it is given into a pipe to
/// itself run on the rest; both sides of a pipeline are subshells, so its
/// variables are never shared.
pub(crate) const CONNECTOR: &str = r#"exec 9>&0
if [ "$1" = 0 ]; then exec 0</dev/null; fi
shift
s() {
  i=$1 n=$2
  shift 2
  if [ "$#" -eq "$n" ]; then
    "$@" 9>&-
    echo "$i $?" >&9
    return
  fi
  {
    t=$(($# - n)) k=0
    while [ "$k" -lt "$n" ]; do
      set -- "$@" "$1"
      shift
      k=$((k + 1))
    done
    shift "$t"
    "$@" 9>&-
    echo "$i $?" >&9
  } | {
    shift "$n"
    s "$((i + 1))" "$@"
  }
}
s 1 "$@"
"#;

/// The name the connector shell sees as `$0`.
const CONNECTOR_NAME: &str = "skynet-pipeline";

/// How one stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StageEnd {
    /// Exited by itself with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Not known (not reaped, or not reported).
    Unknown,
}

impl StageEnd {
    /// How a reaped stage ended.
    pub(crate) fn of(status: ExitStatus) -> StageEnd {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => StageEnd::Exited(code),
            (None, Some(signal)) => StageEnd::Signaled(signal),
            (None, None) => StageEnd::Unknown,
        }
    }
}

/// Exit status a shell reports for a process killed by SIGPIPE.
const SHELL_SIGPIPE: i32 = 128 + nix::libc::SIGPIPE;

/// How a pipeline whose stages ended so (in order) ended: the first stage
/// that failed decides (pipefail); an earlier stage's broken pipe is not a
/// failure.
pub(crate) fn pipefail(ends: &[StageEnd]) -> ExitEnd {
    let last = ends.len().saturating_sub(1);
    for (i, end) in ends.iter().enumerate() {
        let broken_pipe = i < last
            && matches!(
                end,
                StageEnd::Signaled(nix::libc::SIGPIPE) | StageEnd::Exited(SHELL_SIGPIPE)
            );
        match end {
            StageEnd::Exited(0) => {}
            _ if broken_pipe => {}
            StageEnd::Exited(code) => {
                return ExitEnd {
                    kind: ExitKind::Exited,
                    exit_code: Some(*code),
                    stage: Some(i),
                };
            }
            StageEnd::Signaled(_) | StageEnd::Unknown => {
                return ExitEnd {
                    kind: ExitKind::Signaled,
                    exit_code: None,
                    stage: Some(i),
                };
            }
        }
    }
    ExitEnd {
        kind: ExitKind::Exited,
        exit_code: Some(0),
        stage: None,
    }
}

/// The stage ends a connector reported in `text` about a `stages`-stage
/// pipeline, when it reported every stage (the first report of a stage
/// counts); `None` otherwise.
pub(crate) fn parse_reports(text: &[u8], stages: usize) -> Option<Vec<StageEnd>> {
    let mut ends = vec![None; stages];
    for line in String::from_utf8_lossy(text).lines() {
        let mut words = line.split_whitespace();
        let (Some(index), Some(status), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let (Ok(index), Ok(status)) = (index.parse::<usize>(), status.parse::<i32>()) else {
            continue;
        };
        if let Some(slot @ None) = index.checked_sub(1).and_then(|i| ends.get_mut(i)) {
            *slot = Some(StageEnd::Exited(status));
        }
    }
    ends.into_iter().collect()
}

/// Run `command`'s stages connected by pipes (see the module docs).
#[allow(clippy::too_many_arguments)]
pub(super) async fn run<F: Future<Output = ExitKind>>(
    provider: &LocalProvider,
    command: &Command,
    root: &Path,
    confinement: &Confinement,
    sandbox: &Sandbox<'_>,
    sink: OutputSink,
    stop: Pin<&mut F>,
    started: Instant,
) -> Result<Output> {
    if let Some(i) = command.stages().position(<[String]>::is_empty) {
        return Err(Error::InvalidInput(format!(
            "stage {} of the pipeline has no program: its argv is empty",
            i + 1
        )));
    }
    let pipeline = Pipeline {
        provider,
        command,
        root,
        confinement,
        sandbox,
        started,
    };
    match confinement {
        Confinement::Bubblewrap(_) => connected(pipeline, sink, stop).await,
        Confinement::PathsOnly | Confinement::Landlock => direct(pipeline, sink, stop).await,
    }
}

/// What a pipeline runs and how it is confined.
#[derive(Clone, Copy)]
struct Pipeline<'a, 's> {
    provider: &'a LocalProvider,
    command: &'a Command,
    root: &'a Path,
    confinement: &'a Confinement,
    sandbox: &'a Sandbox<'s>,
    /// When the step started (its output's duration counts from here).
    started: Instant,
}

/// The stages spawned directly, in one process group.
async fn direct<F: Future<Output = ExitKind>>(
    p: Pipeline<'_, '_>,
    sink: OutputSink,
    stop: Pin<&mut F>,
) -> Result<Output> {
    let count = p.command.stage_count();
    let mut cmds = Vec::with_capacity(count);
    for i in 0..count {
        let stage = stage(p.command, i)?;
        match prepare::launch(&stage, p.root, &p.provider.env_allowlist, p.sandbox)? {
            Launch::Ready(prepared) => cmds.push(prepared.cmd),
            Launch::CannotRun(cannot) => {
                return Ok(cannot_run(sink, p.command, i, cannot, stop, p.started).await);
            }
        }
    }
    // Stage i writes into pipe i, which stage i + 1 reads; every stage's
    // stderr goes into one pipe. The parent's ends go with the commands.
    let (err_read, err_write) = std::io::pipe()?;
    let mut input = None;
    for (i, cmd) in cmds.iter_mut().enumerate() {
        if let Some(read) = input.take() {
            cmd.stdin(Stdio::from(read));
        }
        if i + 1 < count {
            let (read, write) = std::io::pipe()?;
            cmd.stdout(Stdio::from(write));
            input = Some(read);
        }
        cmd.stderr(Stdio::from(err_write.try_clone()?));
    }
    drop(err_write);
    let spawned = match p.confinement {
        Confinement::Landlock => {
            let limits = super::landlock::Limits {
                root: prepare::canonical_root(p.root)?,
                writable: p.sandbox.writable.to_vec(),
                network: p.sandbox.network,
                write: p.sandbox.write,
                profile: p.sandbox.profile,
            };
            let _spawning = super::SPAWNING.lock().await;
            let spawned = super::landlock::run_restricted(limits, move || spawn_stages(cmds))
                .await
                .map_err(|message| Error::Provider {
                    provider: "local".into(),
                    message: format!("cannot apply the Landlock sandbox: {message}"),
                })?;
            p.provider.counted_sandbox();
            spawned
        }
        _ => {
            // Another step's bubblewrap descriptors must not reach these.
            let _spawning = super::SPAWNING.lock().await;
            spawn_stages(cmds)
        }
    };
    let (mut children, failed) = spawned;
    p.provider.counted_processes(children.len());
    let group = children
        .first()
        .and_then(Child::id)
        .and_then(ProcessGroup::led_by);
    if let Some((i, e)) = failed {
        // Stop what did start; kill_on_drop reaps the rest.
        if let Some(group) = group {
            group.kill();
        }
        drop(children);
        return match prepare::spawn_failure(&e) {
            Some(cannot) => Ok(cannot_run(sink, p.command, i, cannot, stop, p.started).await),
            None => Err(Error::Provider {
                provider: "local".into(),
                message: format!("cannot start {}: {e}", p.command.stage_label(i)),
            }),
        };
    }
    let group = ProcessGroup::of(children.first().and_then(Child::id))?;
    let stdin = children.first_mut().and_then(|c| c.stdin.take());
    let stdout = children.last_mut().and_then(|c| c.stdout.take());
    let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(err_read))?;
    let data = p.command.stdin.as_deref().unwrap_or_default().as_bytes();
    let mut session = Session::of(children, group, stdin, stdout, Some(stderr), data, sink);
    let end = session.run(stop, p.provider.kill_grace).await?;
    let counts = session.finish().await;
    Ok(ended(end, p.started, counts))
}

/// Spawn `cmds` in order, every one after the first in the first one's
/// process group. Stops at the first that cannot start: what started,
/// and which one failed how.
fn spawn_stages(
    cmds: Vec<tokio::process::Command>,
) -> (Vec<Child>, Option<(usize, std::io::Error)>) {
    let mut children: Vec<Child> = Vec::with_capacity(cmds.len());
    let mut group = None;
    for (i, mut cmd) in cmds.into_iter().enumerate() {
        if let Some(pgid) = group {
            cmd.process_group(pgid);
        }
        match cmd.spawn() {
            Ok(child) => {
                group = group.or_else(|| child.id().and_then(|p| i32::try_from(p).ok()));
                children.push(child);
            }
            Err(e) => return (children, Some((i, e))),
        }
        // `cmd` goes here, and with it this process's ends of its pipes.
    }
    (children, None)
}

/// The stages started by one connector in one bubblewrap sandbox.
async fn connected<F: Future<Output = ExitKind>>(
    p: Pipeline<'_, '_>,
    sink: OutputSink,
    stop: Pin<&mut F>,
) -> Result<Output> {
    // Each stage checked and its program resolved as if it ran alone,
    // without starting anything.
    let alone = Sandbox {
        confinement: &Confinement::PathsOnly,
        cpu_seconds: None,
        ..*p.sandbox
    };
    let count = p.command.stage_count();
    let reads_input = if p.command.stdin.is_some() { "1" } else { "0" };
    let mut words: Vec<String> = [
        CONNECTOR_SHELL,
        "-c",
        CONNECTOR,
        CONNECTOR_NAME,
        reads_input,
    ]
    .map(String::from)
    .to_vec();
    for i in 0..count {
        let stage = stage(p.command, i)?;
        let program = match prepare::launch(&stage, p.root, &p.provider.env_allowlist, &alone)? {
            Launch::Ready(prepared) => prepared.cmd.as_std().get_program().to_owned(),
            Launch::CannotRun(cannot) => {
                return Ok(cannot_run(sink, p.command, i, cannot, stop, p.started).await);
            }
        };
        let program = program.into_string().map_err(|path| {
            Error::InvalidInput(format!(
                "{}: the program's path {} is not UTF-8",
                p.command.stage_label(i),
                path.to_string_lossy()
            ))
        })?;
        words.push(stage.argv.len().to_string());
        words.push(program);
        words.extend(stage.argv.into_iter().skip(1));
    }
    let connector = Command {
        argv: words,
        cwd: p.command.cwd.clone(),
        env: p.command.env.clone(),
        timeout_ms: None,
        stdin: p.command.stdin.clone(),
        pipe: Vec::new(),
    };
    let mut prepared =
        match prepare::launch(&connector, p.root, &p.provider.env_allowlist, p.sandbox)? {
            Launch::Ready(prepared) => prepared,
            Launch::CannotRun(cannot) => {
                let program = "/bin/sh (the pipeline connector)";
                return Ok(report_cannot_run(sink, program, cannot, stop, p.started).await);
            }
        };
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    prepared.cmd.stdin(Stdio::from(OwnedFd::from(theirs)));
    let mut child = match super::spawn(prepared, p.confinement, p.root, p.sandbox).await? {
        Ok(child) => child,
        Err(e) => {
            return Err(Error::Provider {
                provider: "local".into(),
                message: format!("cannot start the pipeline's sandbox: {e}"),
            });
        }
    };
    p.provider.counted_sandbox();
    p.provider.counted_processes(1);
    ours.set_nonblocking(true)?;
    let (reports, input) = tokio::net::UnixStream::from_std(ours)?.into_split();
    let group = ProcessGroup::of(child.id())?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let data = p.command.stdin.as_deref().unwrap_or_default().as_bytes();
    let mut session = Session::of(vec![child], group, Some(input), stdout, stderr, data, sink)
        .with_reports(Reports::new(reports, count));
    let end = session.run(stop, p.provider.kill_grace).await?;
    let counts = session.finish().await;
    Ok(ended(end, p.started, counts))
}

/// Stage `i` of `command` as a command of its own.
fn stage(command: &Command, i: usize) -> Result<Command> {
    command
        .stage(i)
        .ok_or_else(|| Error::InvalidInput(format!("the pipeline has no stage {}", i + 1)))
}

/// A stage that cannot start fails the step naming it, before any stage
/// has started.
async fn cannot_run<F: Future<Output = ExitKind>>(
    sink: OutputSink,
    command: &Command,
    i: usize,
    cannot: CannotRun,
    stop: Pin<&mut F>,
    started: Instant,
) -> Output {
    let program = command
        .stages()
        .nth(i)
        .and_then(<[String]>::first)
        .map_or("", String::as_str);
    let mut out = report_cannot_run(sink, program, cannot, stop, started).await;
    if out.exit == ExitKind::Exited {
        out.failed_stage = Some(i);
    }
    out
}

/// The step's `Output` from how its pipeline ended.
fn ended(end: ExitEnd, started: Instant, counts: (u64, bool)) -> Output {
    let mut out = output(end.kind, end.exit_code, started, counts);
    out.failed_stage = end.stage;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use StageEnd::{Exited, Signaled, Unknown};

    const PIPE: i32 = nix::libc::SIGPIPE;

    fn end(kind: ExitKind, code: Option<i32>, stage: Option<usize>) -> ExitEnd {
        ExitEnd {
            kind,
            exit_code: code,
            stage,
        }
    }

    #[test]
    fn reports_count_only_when_every_stage_is_reported_once() {
        assert_eq!(
            parse_reports(b"2 0\n1 141\n", 2),
            Some(vec![Exited(141), Exited(0)])
        );
        // The first report of a stage counts; noise is skipped.
        assert_eq!(
            parse_reports(b"junk\n1 3\n1 0\n2 0 x\n2 0\n", 2),
            Some(vec![Exited(3), Exited(0)])
        );
        assert_eq!(parse_reports(b"1 0\n", 2), None);
        assert_eq!(parse_reports(b"1 0\n3 0\n0 0\n", 2), None);
    }

    #[test]
    fn the_first_failing_stage_decides_and_broken_pipes_are_not_failures() {
        let ok = end(ExitKind::Exited, Some(0), None);
        assert_eq!(pipefail(&[Exited(0), Exited(0)]), ok);
        // `yes | head`: yes dies of SIGPIPE (or a shell says 141).
        assert_eq!(pipefail(&[Signaled(PIPE), Exited(0)]), ok);
        assert_eq!(pipefail(&[Exited(141), Exited(0)]), ok);
        // The last stage has nobody after it to stop reading.
        assert_eq!(
            pipefail(&[Exited(0), Signaled(PIPE)]),
            end(ExitKind::Signaled, None, Some(1))
        );
        assert_eq!(
            pipefail(&[Exited(0), Exited(141)]),
            end(ExitKind::Exited, Some(141), Some(1))
        );
        // In order: the first failure is named, not the last.
        assert_eq!(
            pipefail(&[Exited(0), Exited(2), Exited(1)]),
            end(ExitKind::Exited, Some(2), Some(1))
        );
        assert_eq!(
            pipefail(&[Signaled(9), Exited(1)]),
            end(ExitKind::Signaled, None, Some(0))
        );
        assert_eq!(
            pipefail(&[Unknown, Exited(0)]),
            end(ExitKind::Signaled, None, Some(0))
        );
    }
}
