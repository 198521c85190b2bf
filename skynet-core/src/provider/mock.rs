//! The mock provider: deterministic results without running anything.
//!
//! By default it echoes: one stdout line `mock: <argv>` and exit 0. Rules
//! keyed on a program or argv prefix script other outcomes, including
//! delays (which honour the timeout and cancellation) and provider
//! failures for retry tests. Every call is recorded.

use super::local::capture::OutputSink;
use super::local::{effective_timeout, stop_signal};
use super::{Capabilities, ExecContext, ExitKind, Health, Output, Provider, Stream};
use crate::plan::Command;
use crate::{Error, Result};
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// What the mock does for a matching command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MockResponse {
    /// Exit code reported.
    pub exit_code: i32,
    /// Lines sent on stdout, in order.
    pub stdout_lines: Vec<String>,
    /// Lines sent on stderr, after stdout.
    pub stderr_lines: Vec<String>,
    /// Time the "command" takes; honours the timeout and cancellation.
    pub delay: Option<Duration>,
    /// When set, `execute` fails as a provider error (after the delay).
    pub provider_error: Option<String>,
}

impl MockResponse {
    /// Exit with `code`, no output.
    pub fn exit(code: i32) -> Self {
        MockResponse {
            exit_code: code,
            ..MockResponse::default()
        }
    }

    /// Exit 0 after printing `lines` on stdout.
    pub fn stdout<S: Into<String>>(lines: impl IntoIterator<Item = S>) -> Self {
        MockResponse::exit(0).with_stdout(lines)
    }

    /// Fail as the provider itself (`Error::Provider`), not as the command.
    pub fn provider_error(message: impl Into<String>) -> Self {
        MockResponse {
            provider_error: Some(message.into()),
            ..MockResponse::default()
        }
    }

    /// Replace the stdout lines.
    pub fn with_stdout<S: Into<String>>(mut self, lines: impl IntoIterator<Item = S>) -> Self {
        self.stdout_lines = lines.into_iter().map(Into::into).collect();
        self
    }

    /// Replace the stderr lines.
    pub fn with_stderr<S: Into<String>>(mut self, lines: impl IntoIterator<Item = S>) -> Self {
        self.stderr_lines = lines.into_iter().map(Into::into).collect();
        self
    }

    /// Take `delay` before answering.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// The argv prefix a rule matches. From a `&str` it is split on
/// whitespace (`"git status"`); the first element also matches a program
/// given by path (`cat` matches `/bin/cat`). An empty prefix matches
/// everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgvPrefix(Vec<String>);

impl ArgvPrefix {
    fn matches(&self, argv: &[String]) -> bool {
        let Some((first, rest)) = self.0.split_first() else {
            return true;
        };
        let Some((program, args)) = argv.split_first() else {
            return false;
        };
        let program_matches = program == first
            || (!first.contains('/') && program.rsplit('/').next() == Some(first.as_str()));
        program_matches && args.len() >= rest.len() && rest.iter().zip(args).all(|(a, b)| a == b)
    }
}

impl From<&str> for ArgvPrefix {
    fn from(s: &str) -> Self {
        ArgvPrefix(s.split_whitespace().map(str::to_owned).collect())
    }
}

impl From<String> for ArgvPrefix {
    fn from(s: String) -> Self {
        ArgvPrefix::from(s.as_str())
    }
}

impl From<Vec<String>> for ArgvPrefix {
    fn from(v: Vec<String>) -> Self {
        ArgvPrefix(v)
    }
}

impl From<&[&str]> for ArgvPrefix {
    fn from(v: &[&str]) -> Self {
        ArgvPrefix(v.iter().map(|s| s.to_string()).collect())
    }
}

impl<const N: usize> From<[&str; N]> for ArgvPrefix {
    fn from(v: [&str; N]) -> Self {
        ArgvPrefix::from(&v[..])
    }
}

#[derive(Debug)]
struct MockRule {
    prefix: ArgvPrefix,
    response: MockResponse,
    /// Matches left; `None` = unlimited.
    remaining: Option<AtomicUsize>,
}

impl MockRule {
    /// Take one use of the rule if it matches and has uses left.
    fn claim(&self, argv: &[String]) -> bool {
        if !self.prefix.matches(argv) {
            return false;
        }
        match &self.remaining {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

impl Clone for MockRule {
    fn clone(&self) -> Self {
        MockRule {
            prefix: self.prefix.clone(),
            response: self.response.clone(),
            remaining: self
                .remaining
                .as_ref()
                .map(|n| AtomicUsize::new(n.load(Ordering::Acquire))),
        }
    }
}

/// Deterministic outputs for tests and dry runs; never starts a process.
///
/// Clones share the call log and rule use counts.
#[derive(Debug, Clone)]
pub struct MockProvider {
    /// Sorted longest prefix first, so the most specific rule wins.
    rules: Arc<Vec<MockRule>>,
    calls: Arc<Mutex<Vec<Vec<String>>>>,
    call_count: Arc<AtomicU64>,
    record_calls: bool,
}

impl Default for MockProvider {
    fn default() -> Self {
        MockProvider::new()
    }
}

impl MockProvider {
    /// A mock that echoes every command (`mock: <argv>`, exit 0) and
    /// records calls.
    pub fn new() -> Self {
        MockProvider {
            rules: Arc::new(Vec::new()),
            calls: Arc::new(Mutex::new(Vec::new())),
            call_count: Arc::new(AtomicU64::new(0)),
            record_calls: true,
        }
    }

    /// Answer commands starting with `prefix` with `response`. The longest
    /// matching prefix wins; among equals, the rule added first.
    pub fn with_rule(self, prefix: impl Into<ArgvPrefix>, response: MockResponse) -> Self {
        self.add_rule(prefix.into(), response, None)
    }

    /// Like [`MockProvider::with_rule`], but only for the first `times`
    /// matching calls; later calls fall through to other rules or the echo.
    /// `with_rule_times("git", MockResponse::provider_error("down"), 2)`
    /// fails twice, then succeeds.
    pub fn with_rule_times(
        self,
        prefix: impl Into<ArgvPrefix>,
        response: MockResponse,
        times: usize,
    ) -> Self {
        self.add_rule(prefix.into(), response, Some(times))
    }

    /// Stop recording argv (for benchmarks); [`MockProvider::call_count`]
    /// still counts.
    pub fn without_call_log(mut self) -> Self {
        self.record_calls = false;
        self
    }

    /// The argv of every call so far, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times `execute` was called.
    pub fn call_count(&self) -> u64 {
        self.call_count.load(Ordering::Relaxed)
    }

    fn add_rule(
        mut self,
        prefix: ArgvPrefix,
        response: MockResponse,
        times: Option<usize>,
    ) -> Self {
        let rules = Arc::make_mut(&mut self.rules);
        let at = rules.partition_point(|r| r.prefix.0.len() >= prefix.0.len());
        rules.insert(
            at,
            MockRule {
                prefix,
                response,
                remaining: times.map(AtomicUsize::new),
            },
        );
        self
    }

    fn respond(&self, argv: &[String]) -> Option<&MockResponse> {
        self.rules
            .iter()
            .find(|r| r.claim(argv))
            .map(|r| &r.response)
    }
}

#[async_trait]
impl Provider for MockProvider {
    fn name(&self) -> &str {
        "mock"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            actions: Vec::new(),
            isolated: true,
            max_concurrency: 1024,
        }
    }

    async fn health(&self) -> Health {
        Health {
            healthy: true,
            message: "mock provider: nothing runs".into(),
        }
    }

    /// A pipeline is answered like its first stage (echoed whole).
    fn runs_pipelines(&self) -> bool {
        true
    }

    async fn execute(&self, command: &Command, ctx: ExecContext) -> Result<Output> {
        let started = Instant::now();
        self.call_count.fetch_add(1, Ordering::Relaxed);
        if self.record_calls {
            self.calls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(command.argv.clone());
        }
        let finish = |exit, exit_code, (output_bytes, truncated)| Output {
            exit,
            exit_code,
            output_bytes,
            truncated,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            failed_stage: None,
        };
        if ctx.cancel.is_cancelled() {
            return Ok(finish(ExitKind::Cancelled, None, (0, false)));
        }
        let timeout = effective_timeout(ctx.timeout, command.timeout_ms);
        let stop = stop_signal(timeout.map(|t| started + t), &ctx.cancel);
        tokio::pin!(stop);
        let mut sink = OutputSink::new(ctx.output, ctx.max_output_bytes);

        let Some(response) = self.respond(&command.argv) else {
            let echo = if command.is_pipeline() {
                format!("mock: {}", command.display_line())
            } else {
                echo_line(&command.argv)
            };
            let stopped = sink.forward_text(Stream::Stdout, echo, stop.as_mut()).await;
            let counts = sink.finish().await;
            return Ok(match stopped {
                Some(kind) => finish(kind, None, counts),
                None => finish(ExitKind::Exited, Some(0), counts),
            });
        };

        if let Some(delay) = response.delay {
            tokio::select! {
                kind = stop.as_mut() => return Ok(finish(kind, None, (0, false))),
                () = tokio::time::sleep(delay) => {}
            }
        }
        if let Some(message) = &response.provider_error {
            return Err(Error::Provider {
                provider: "mock".into(),
                message: message.clone(),
            });
        }
        let lines = response
            .stdout_lines
            .iter()
            .map(|l| (Stream::Stdout, l))
            .chain(response.stderr_lines.iter().map(|l| (Stream::Stderr, l)));
        for (stream, line) in lines {
            if let Some(kind) = sink.forward_text(stream, line.clone(), stop.as_mut()).await {
                return Ok(finish(kind, None, sink.finish().await));
            }
        }
        let counts = sink.finish().await;
        Ok(finish(ExitKind::Exited, Some(response.exit_code), counts))
    }
}

/// `mock: <argv joined by spaces>`, built in one allocation.
fn echo_line(argv: &[String]) -> String {
    const PREFIX: &str = "mock:";
    let len = PREFIX.len() + argv.iter().map(|a| a.len() + 1).sum::<usize>();
    let mut line = String::with_capacity(len);
    line.push_str(PREFIX);
    for arg in argv {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::job::JobId;
    use crate::provider::OutputLine;
    use std::collections::BTreeMap;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    fn cmd(argv: &[&str]) -> Command {
        Command {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: "/".into(),
            env: BTreeMap::new(),
            timeout_ms: None,
            stdin: None,
            pipe: Vec::new(),
        }
    }

    fn ctx(cap: u64) -> (ExecContext, mpsc::Receiver<OutputLine>) {
        let (tx, rx) = mpsc::channel(64);
        let ctx = ExecContext {
            job_id: JobId::new(),
            step: 0,
            root: "/".into(),
            timeout: None,
            cancel: CancellationToken::new(),
            output: tx,
            max_output_bytes: cap,
            risk: crate::RiskLevel::ReadOnly,
            action: None,
        };
        (ctx, rx)
    }

    fn drain(rx: &mut mpsc::Receiver<OutputLine>) -> Vec<(Stream, String)> {
        let mut out = Vec::new();
        while let Ok(l) = rx.try_recv() {
            out.push((l.stream, l.text));
        }
        out
    }

    #[tokio::test]
    async fn default_echoes_the_argv_and_records_the_call() {
        let mock = MockProvider::new();
        let (ctx, mut rx) = ctx(1 << 20);
        let out = mock
            .execute(&cmd(&["git", "status", "-s"]), ctx)
            .await
            .unwrap();
        assert!(out.success());
        assert_eq!(
            drain(&mut rx),
            [(Stream::Stdout, "mock: git status -s".to_string())]
        );
        assert_eq!(out.output_bytes, "mock: git status -s\n".len() as u64);
        assert_eq!(mock.calls(), [vec!["git", "status", "-s"]]);
        assert_eq!(mock.call_count(), 1);
    }

    #[tokio::test]
    async fn most_specific_rule_wins_and_programs_match_by_path() {
        let mock = MockProvider::new()
            .with_rule("git", MockResponse::exit(3))
            .with_rule(
                ["git", "push"],
                MockResponse::exit(1)
                    .with_stderr(["rejected"])
                    .with_stdout(["pushing"]),
            );
        let (c, mut rx) = ctx(1 << 20);
        let out = mock
            .execute(&cmd(&["/usr/bin/git", "push", "origin"]), c)
            .await
            .unwrap();
        assert_eq!((out.exit, out.exit_code), (ExitKind::Exited, Some(1)));
        assert_eq!(
            drain(&mut rx),
            [
                (Stream::Stdout, "pushing".to_string()),
                (Stream::Stderr, "rejected".to_string())
            ]
        );
        let (c, _rx) = ctx(1 << 20);
        assert_eq!(
            mock.execute(&cmd(&["git", "log"]), c)
                .await
                .unwrap()
                .exit_code,
            Some(3)
        );
        let (c, mut rx) = ctx(1 << 20);
        assert!(mock.execute(&cmd(&["gitx"]), c).await.unwrap().success());
        assert_eq!(drain(&mut rx)[0].1, "mock: gitx");
    }

    #[tokio::test]
    async fn delay_is_cut_short_by_cancel() {
        let mock = MockProvider::new().with_rule(
            "slow",
            MockResponse::exit(0).with_delay(Duration::from_secs(60)),
        );
        let (c, _rx) = ctx(1 << 20);
        let cancel = c.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            cancel.cancel();
        });
        let out = mock.execute(&cmd(&["slow"]), c).await.unwrap();
        assert_eq!((out.exit, out.exit_code), (ExitKind::Cancelled, None));
        assert!(out.duration_ms < 10_000, "{out:?}");
    }

    #[tokio::test]
    async fn delay_longer_than_the_timeout_times_out() {
        let mock = MockProvider::new()
            .with_rule(
                "slow",
                MockResponse::stdout(["late"]).with_delay(Duration::from_secs(10)),
            )
            .with_rule(
                "quick",
                MockResponse::stdout(["late"]).with_delay(Duration::from_millis(20)),
            );
        let (mut c, mut rx) = ctx(1 << 20);
        c.timeout = Some(Duration::from_millis(100));
        let out = mock.execute(&cmd(&["slow"]), c).await.unwrap();
        assert_eq!(out.exit, ExitKind::TimedOut);
        assert!((100..5_000).contains(&out.duration_ms), "{out:?}");
        assert!(drain(&mut rx).is_empty());
        // A delay within the budget completes normally.
        let (mut c, mut rx) = ctx(1 << 20);
        c.timeout = Some(Duration::from_secs(20));
        assert!(mock.execute(&cmd(&["quick"]), c).await.unwrap().success());
        assert_eq!(drain(&mut rx), [(Stream::Stdout, "late".to_string())]);
    }

    #[tokio::test]
    async fn provider_error_for_a_limited_number_of_calls() {
        let mock = MockProvider::new().with_rule_times(
            "deploy",
            MockResponse::provider_error("host unreachable"),
            2,
        );
        for _ in 0..2 {
            let (c, _rx) = ctx(1 << 20);
            let err = mock.execute(&cmd(&["deploy"]), c).await.unwrap_err();
            assert!(
                matches!(&err, Error::Provider { provider, message } if provider == "mock" && message == "host unreachable"),
                "{err:?}"
            );
        }
        let (c, _rx) = ctx(1 << 20);
        assert!(mock.execute(&cmd(&["deploy"]), c).await.unwrap().success());
        assert_eq!(mock.call_count(), 3);
    }

    #[tokio::test]
    async fn output_cap_applies_to_mock_lines() {
        let mock = MockProvider::new()
            .with_rule("noisy", MockResponse::stdout(["aaaa", "bbbb", "cccc"]))
            .without_call_log();
        let (c, mut rx) = ctx(6);
        let out = mock.execute(&cmd(&["noisy"]), c).await.unwrap();
        assert!(out.truncated);
        assert_eq!(out.output_bytes, 15);
        let lines = drain(&mut rx);
        assert_eq!(lines[0], (Stream::Stdout, "aaaa".to_string()));
        assert_eq!(lines[1], (Stream::Stdout, "b".to_string()));
        assert_eq!(
            lines[2],
            (
                Stream::System,
                "[output truncated after 6 bytes; 9 more bytes dropped]".to_string()
            )
        );
        assert!(mock.calls().is_empty());
    }
}
