//! The gateway provider speaking the original gateway protocol
//! ([`wire`] has the exact bodies): `POST /execute` with the step as a
//! catalog action (plus the argv SKYNET judged), then `GET /status/{id}`
//! polled every [`GatewayConfig::poll_interval`](super::GatewayConfig),
//! `POST /cancel/{id}` on cancel or at the deadline.
//!
//! The remote side decides for itself what an action runs, which SKYNET's
//! policy never saw, so the provider confines READ_ONLY work only when the
//! operator marks the gateway trusted (`OPENCLAW_GATEWAY_TRUSTED`).

pub mod wire;

use super::client::describe;
use super::{GatewayProvider, RETRY_PAUSE, relative_cwd, remote_job_id};
use crate::plan::Command;
use crate::provider::local::capture::{ChunkLines, OutputSink};
use crate::provider::local::{effective_timeout, output};
use crate::provider::{ExecContext, ExitKind, Health, Output, Stream};
use crate::{Error, Result};
use reqwest::{Method, RequestBuilder, StatusCode};
use std::time::Duration;
use tokio::time::Instant;
use wire::{ExecuteBody, ExecutionSpec, JobState, JobStatus, WireStep};

/// How long to wait for the last lines once the job ended.
const FLUSH_LIMIT: Duration = Duration::from_secs(1);

/// What one call got.
enum Answer {
    /// An HTTP answer and its body.
    Reply(StatusCode, Vec<u8>),
    /// No answer. `sent`: the request may have reached the gateway (so a
    /// job it carried may be running there).
    Unreachable { sent: bool, why: String },
}

async fn send(call: RequestBuilder) -> Answer {
    match call.send().await {
        Err(e) => Answer::Unreachable {
            sent: !e.is_connect(),
            why: describe(e),
        },
        Ok(resp) => {
            let status = resp.status();
            match resp.bytes().await {
                Ok(body) => Answer::Reply(status, body.to_vec()),
                Err(e) => Answer::Unreachable {
                    sent: true,
                    why: describe(e),
                },
            }
        }
    }
}

/// The explanation in an error answer: its `error`, `detail` or `message`
/// field, else the start of its text.
fn detail(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) {
        for key in ["error", "detail", "message"] {
            if let Some(serde_json::Value::String(d)) = map.get(key) {
                return d.clone();
            }
        }
    }
    String::from_utf8_lossy(body).chars().take(200).collect()
}

impl GatewayProvider {
    /// The gateway answered `call` outside the protocol.
    fn off_protocol(&self, call: &str, e: wire::WireError) -> Error {
        self.error(format!(
            "answered {call} outside the original gateway protocol: {e}"
        ))
    }

    /// Run `command` as one job on the gateway.
    pub(super) async fn execute_original(
        &self,
        command: &Command,
        ctx: ExecContext,
    ) -> Result<Output> {
        let started = Instant::now();
        if ctx.cancel.is_cancelled() {
            return Ok(output(ExitKind::Cancelled, None, started, (0, false)));
        }
        let timeout = effective_timeout(ctx.timeout, command.timeout_ms);
        let job_id = remote_job_id(&ctx);
        let step = WireStep::new(
            ctx.action.as_ref(),
            command,
            relative_cwd(&command.cwd, &ctx.root)?,
            ctx.risk,
            timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        );
        let body = ExecuteBody {
            job_id: job_id.clone(),
            execution_spec: ExecutionSpec { steps: vec![step] },
        };
        if !self.submit(&body, &ctx, started).await? {
            // Cancelled before the gateway took it.
            return Ok(output(ExitKind::Cancelled, None, started, (0, false)));
        }
        let mut follow = Follow {
            provider: self,
            job_id: &job_id,
            lines: ChunkLines::new(OutputSink::new(ctx.output.clone(), ctx.max_output_bytes)),
            seen_out: 0,
            seen_err: 0,
            cancel_sent: None,
            timed_out: false,
            last_answer: Instant::now(),
        };
        let (exit, code) = follow.run(&ctx, timeout.map(|t| started + t)).await?;
        let counts = follow.lines.finish(FLUSH_LIMIT).await;
        Ok(output(exit, code, started, counts))
    }

    /// `POST /execute` until accepted. A call that never reached the
    /// gateway is retried within the grace; one that may have reached it
    /// is not (the original protocol does not promise to take a repeated
    /// job id as the same job). `Ok(false)`: cancelled before that.
    async fn submit(
        &self,
        body: &ExecuteBody,
        ctx: &ExecContext,
        started: Instant,
    ) -> Result<bool> {
        loop {
            let call = self
                .client
                .request(Method::POST, "/execute", self.client.request_timeout())
                .json(body);
            let why = match send(call).await {
                Answer::Reply(status, answer) if status.is_success() => {
                    wire::parse_accepted(&answer)
                        .map_err(|e| self.off_protocol("POST /execute", e))?;
                    return Ok(true);
                }
                Answer::Reply(status, answer) => return Err(self.refused(status, detail(&answer))),
                Answer::Unreachable { sent: true, why } => {
                    return Err(self.error(format!(
                        "sent job {} but got no answer ({why}); it may be running there: its \
                         outcome is unknown",
                        body.job_id
                    )));
                }
                Answer::Unreachable { sent: false, why } => why,
            };
            if started.elapsed() >= self.config.unreachable_grace {
                return Err(self.error(format!(
                    "unreachable for {:?} ({why}); job {} did not start",
                    self.config.unreachable_grace, body.job_id
                )));
            }
            tokio::select! {
                () = tokio::time::sleep(RETRY_PAUSE) => {}
                () = ctx.cancel.cancelled() => return Ok(false),
            }
        }
    }

    /// `GET /status`: the gateway answers, and has an agent if it says.
    pub(super) async fn health_original(&self) -> Health {
        let started = Instant::now();
        let call = self
            .client
            .request(Method::GET, "/status", self.client.request_timeout());
        let url = self.client.url();
        match send(call).await {
            Answer::Reply(status, body) if status.is_success() => {
                match serde_json::from_slice::<serde_json::Value>(&body) {
                    Ok(serde_json::Value::Object(map)) => {
                        if map.get("agent_connected") == Some(&serde_json::Value::Bool(false)) {
                            Health {
                                healthy: false,
                                message: format!(
                                    "gateway at {url} (original protocol) answers, but no agent \
                                     is connected to it"
                                ),
                            }
                        } else {
                            Health {
                                healthy: true,
                                message: format!(
                                    "gateway at {url} (original protocol) answered in {} ms",
                                    started.elapsed().as_millis()
                                ),
                            }
                        }
                    }
                    _ => Health {
                        healthy: false,
                        message: format!(
                            "gateway at {url} answered GET /status with something that is not a \
                             JSON object"
                        ),
                    },
                }
            }
            Answer::Reply(status, body) => Health {
                healthy: false,
                message: format!(
                    "gateway at {url} refused the health check ({status}): {}",
                    detail(&body)
                ),
            },
            Answer::Unreachable { why, .. } => Health {
                healthy: false,
                message: format!("gateway at {url} unreachable: {why}"),
            },
        }
    }
}

/// Following one job until it ends.
struct Follow<'a> {
    provider: &'a GatewayProvider,
    job_id: &'a str,
    lines: ChunkLines,
    /// Bytes of the cumulative stdout and stderr already forwarded.
    seen_out: usize,
    seen_err: usize,
    /// When the cancel went out.
    cancel_sent: Option<Instant>,
    /// The deadline passed: a cancelled end is a timeout.
    timed_out: bool,
    last_answer: Instant,
}

impl Follow<'_> {
    async fn run(
        &mut self,
        ctx: &ExecContext,
        deadline: Option<Instant>,
    ) -> Result<(ExitKind, Option<i32>)> {
        let config = &self.provider.config;
        // After a cancel the gateway gets this long to report the end.
        let confirm = config.request_timeout * 2;
        loop {
            if self.cancel_sent.is_none() && deadline.is_some_and(|d| Instant::now() >= d) {
                self.timed_out = true;
                self.send_cancel().await;
            }
            if let Some(at) = self.cancel_sent
                && at.elapsed() >= confirm
            {
                self.note(format!(
                    "[the gateway did not confirm the cancel of job {} within {confirm:?}; it \
                     may still run there]",
                    self.job_id
                ))
                .await;
                return Ok((self.stopped(), None));
            }
            let path = format!("/status/{}", self.job_id);
            let call = self.provider.client.request(
                Method::GET,
                &path,
                self.provider.client.request_timeout(),
            );
            let failed = match send(call).await {
                Answer::Reply(status, body) if status.is_success() => {
                    self.last_answer = Instant::now();
                    let answer = wire::parse_status(&body, self.job_id)
                        .map_err(|e| self.provider.off_protocol(&format!("GET {path}"), e))?;
                    self.forward(&answer).await;
                    if answer.state.is_terminal() {
                        return Ok(self.end(&answer).await);
                    }
                    None
                }
                Answer::Reply(StatusCode::NOT_FOUND, body) => {
                    return Err(self.provider.error(format!(
                        "no longer knows job {} ({}); the gateway restarted or dropped it, so \
                         the step's outcome is unknown",
                        self.job_id,
                        detail(&body)
                    )));
                }
                Answer::Reply(
                    status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                    body,
                ) => {
                    return Err(self.provider.error(format!(
                        "refused the status call ({status}: {}); job {} may still run there; \
                         check OPENCLAW_GATEWAY_TOKEN",
                        detail(&body),
                        self.job_id
                    )));
                }
                Answer::Reply(status, body) => Some(format!("{status}: {}", detail(&body))),
                Answer::Unreachable { why, .. } => Some(why),
            };
            if let Some(why) = failed {
                if self.last_answer.elapsed() >= config.unreachable_grace {
                    return Err(self.provider.unreachable(self.job_id, &why));
                }
                tracing::debug!(job = self.job_id, error = %why, "gateway status call failed; retrying");
            }
            // Poll again after the interval, at once on a cancel or the
            // deadline.
            let until_deadline = async {
                match deadline {
                    Some(d) if self.cancel_sent.is_none() => tokio::time::sleep_until(d).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep(config.poll_interval) => {}
                () = until_deadline => {}
                () = ctx.cancel.cancelled(), if self.cancel_sent.is_none() => {
                    self.send_cancel().await;
                }
            }
        }
    }

    /// How a job we stopped ended.
    fn stopped(&self) -> ExitKind {
        if self.timed_out {
            ExitKind::TimedOut
        } else {
            ExitKind::Cancelled
        }
    }

    /// The step's end from the job's final status.
    async fn end(&mut self, answer: &JobStatus) -> (ExitKind, Option<i32>) {
        if let Some(e) = &answer.error {
            self.note(format!("[gateway: {e}]")).await;
        }
        match answer.state {
            JobState::Completed => (ExitKind::Exited, Some(answer.exit_code.unwrap_or(0))),
            // A failure always fails the step, even without a code.
            JobState::Failed => (
                ExitKind::Exited,
                Some(answer.exit_code.filter(|c| *c != 0).unwrap_or(1)),
            ),
            JobState::Cancelled => (self.stopped(), None),
            JobState::TimedOut => (ExitKind::TimedOut, None),
            JobState::Queued | JobState::Running => (self.stopped(), None),
        }
    }

    /// Forward the output the gateway added since the last answer.
    async fn forward(&mut self, answer: &JobStatus) {
        let never = std::future::pending::<()>();
        tokio::pin!(never);
        for (stream, text, seen) in [
            (Stream::Stdout, &answer.stdout, &mut self.seen_out),
            (Stream::Stderr, &answer.stderr, &mut self.seen_err),
        ] {
            // Cumulative text: anything shorter than what was seen is a
            // gateway that starts over, which cannot be followed.
            if let Some(new) = text.get(*seen..)
                && !new.is_empty()
            {
                self.lines
                    .push(stream, new.as_bytes(), never.as_mut())
                    .await;
                *seen = text.len();
            }
        }
    }

    async fn note(&mut self, text: String) {
        let never = std::future::pending::<()>();
        tokio::pin!(never);
        self.lines.note(Stream::System, text, never).await;
    }

    /// Ask the gateway to stop the job (best effort: the status poll
    /// learns how it ended).
    async fn send_cancel(&mut self) {
        self.cancel_sent = Some(Instant::now());
        let call = self.provider.client.request(
            Method::POST,
            &format!("/cancel/{}", self.job_id),
            self.provider.client.request_timeout(),
        );
        match send(call).await {
            Answer::Reply(status, _) if status.is_success() => {}
            Answer::Reply(status, body) => {
                tracing::warn!(job = self.job_id, %status, detail = %detail(&body), "gateway refused the cancel")
            }
            Answer::Unreachable { why, .. } => {
                tracing::warn!(job = self.job_id, error = %why, "gateway cancel call failed")
            }
        }
    }
}
