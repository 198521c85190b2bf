//! The HTTP side of [`super::GatewayProvider`]: one call per protocol
//! endpoint, each bounded by a request timeout.

use super::GatewayConfig;
use super::protocol::{
    AgentHealth, ExecuteRequest, OutputsAnswer, OutputsRequest, ProblemBody, StatusAnswer,
};
use crate::llm::ApiKey;
use crate::{Error, Result};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Why a call got no usable answer.
#[derive(Debug)]
pub(super) enum CallError {
    /// No answer: connection refused or reset, timeout, broken body.
    Unreachable(String),
    /// The agent answered with an error status.
    Refused { status: StatusCode, detail: String },
}

/// A client for one agent.
#[derive(Debug, Clone)]
pub(super) struct AgentClient {
    base: String,
    token: ApiKey,
    http: reqwest::Client,
    request_timeout: Duration,
}

impl AgentClient {
    /// A client for `config.url` trusting `config.ca_file` besides the
    /// system roots.
    pub(super) fn new(config: &GatewayConfig) -> Result<AgentClient> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.request_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| Error::Config(format!("gateway CA file {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                Error::Config(format!(
                    "gateway CA file {} is not a PEM certificate: {e}",
                    ca.display()
                ))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the gateway HTTP client: {e}")))?;
        Ok(AgentClient {
            base: config.url.trim_end_matches('/').to_string(),
            token: config.token.clone(),
            http,
            request_timeout: config.request_timeout,
        })
    }

    pub(super) fn url(&self) -> &str {
        &self.base
    }

    /// A call to `path`, with the bearer token when one is set (the
    /// original protocol may run without one).
    pub(super) fn request(&self, method: Method, path: &str, timeout: Duration) -> RequestBuilder {
        let call = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(timeout);
        match self.token.expose() {
            "" => call,
            token => call.bearer_auth(token),
        }
    }

    /// The limit on each call.
    pub(super) fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// `POST /execute`.
    pub(super) async fn execute(
        &self,
        req: &ExecuteRequest,
    ) -> std::result::Result<StatusAnswer, CallError> {
        let call = self
            .request(Method::POST, "/execute", self.request_timeout)
            .json(req);
        self.send(call).await
    }

    /// `GET /status/{id}`, waiting up to `wait` at the agent for news.
    pub(super) async fn status(
        &self,
        job_id: &str,
        offset: u64,
        wait: Duration,
    ) -> std::result::Result<StatusAnswer, CallError> {
        let path = format!(
            "/status/{job_id}?offset={offset}&wait_ms={}",
            wait.as_millis()
        );
        let call = self.request(Method::GET, &path, wait + self.request_timeout);
        self.send(call).await
    }

    /// `POST /cancel/{id}`.
    pub(super) async fn cancel(
        &self,
        job_id: &str,
    ) -> std::result::Result<StatusAnswer, CallError> {
        let call = self.request(
            Method::POST,
            &format!("/cancel/{job_id}"),
            self.request_timeout,
        );
        self.send(call).await
    }

    /// `GET /health`.
    pub(super) async fn health(&self) -> std::result::Result<AgentHealth, CallError> {
        let call = self.request(Method::GET, "/health", self.request_timeout);
        self.send(call).await
    }

    /// `POST /outputs/{id}`.
    pub(super) async fn outputs(
        &self,
        job_id: &str,
        req: &OutputsRequest,
    ) -> std::result::Result<OutputsAnswer, CallError> {
        let call = self
            .request(
                Method::POST,
                &format!("/outputs/{job_id}"),
                self.request_timeout * 4,
            )
            .json(req);
        self.send(call).await
    }

    /// `GET /outputs/{id}/file?name=N&max_bytes=M`: the answer whose body
    /// is the file, given `timeout` in all.
    pub(super) async fn output_file(
        &self,
        job_id: &str,
        name: &str,
        max_bytes: u64,
        timeout: Duration,
    ) -> std::result::Result<reqwest::Response, CallError> {
        let call = self
            .request(Method::GET, &format!("/outputs/{job_id}/file"), timeout)
            .query(&[("name", name), ("max_bytes", &max_bytes.to_string())]);
        let resp = call
            .send()
            .await
            .map_err(|e| CallError::Unreachable(describe(e)))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ProblemBody>(&text) {
            Ok(p) => CallError::Refused {
                status,
                detail: p.detail,
            },
            Err(_) => {
                CallError::Unreachable(format!("{status} from something that is not the agent"))
            }
        })
    }

    async fn send<T: DeserializeOwned>(
        &self,
        call: RequestBuilder,
    ) -> std::result::Result<T, CallError> {
        let resp = call
            .send()
            .await
            .map_err(|e| CallError::Unreachable(describe(e)))?;
        let status = resp.status();
        if status.is_success() {
            return resp
                .json::<T>()
                .await
                .map_err(|e| CallError::Unreachable(describe(e)));
        }
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<ProblemBody>(&text) {
            Ok(p) => Err(CallError::Refused {
                status,
                detail: p.detail,
            }),
            // Not the agent's problem+json: a proxy or another server
            // answered, so the agent itself was not reached.
            Err(_) => Err(CallError::Unreachable(format!(
                "{status} from something that is not the agent: {:?}",
                text.chars().take(200).collect::<String>()
            ))),
        }
    }
}

/// A reqwest error with its causes (the top level alone says little).
pub(super) fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = if e.is_timeout() {
        "no answer in time".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
