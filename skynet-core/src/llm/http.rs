//! The one HTTP path every adapter uses: POST JSON, retry what is worth
//! retrying, cap the body, and keep the key out of every message.

use super::HttpOptions;
pub(crate) use super::quote_for_error as quote;
use super::retry::{parse_retry_after, retryable_status};
use crate::redact::Redactor;
use crate::retry::{Failure, GaveUp, retry};
use crate::{Error, Result};
use std::time::{Duration, SystemTime};

/// A vendor's HTTP client with its limits.
pub(crate) struct Transport {
    client: reqwest::Client,
    options: HttpOptions,
    redactor: Redactor,
    vendor: &'static str,
    /// The settings a 404 points at (the model and its base URL).
    model_settings: &'static str,
}

/// Why one attempt failed: worth another try after the delay (the
/// server's `Retry-After`, if any), or final.
type Attempt = Failure<String, Error>;

impl Transport {
    /// A transport for `vendor`; `secrets` are redacted from every error.
    pub(crate) fn new(
        vendor: &'static str,
        options: HttpOptions,
        secrets: impl IntoIterator<Item = String>,
    ) -> Result<Transport> {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("{vendor}: HTTP client: {}", e.without_url())))?;
        Ok(Transport {
            client,
            options,
            redactor: Redactor::new(secrets),
            vendor,
            model_settings: "SKYNET_LLM_MODEL and SKYNET_LLM_BASE_URL",
        })
    }

    /// Name `settings` (the model and base URL variables) in the hint of a
    /// 404, for a client configured elsewhere than `[llm]`.
    pub(crate) fn model_settings(mut self, settings: &'static str) -> Transport {
        self.model_settings = settings;
        self
    }

    /// [`Self::post_json`] with `Authorization: Bearer <key>` when a key
    /// is set (OpenAI-compatible chat and embedding endpoints).
    pub(crate) async fn post_json_bearer(
        &self,
        url: &str,
        key: Option<&super::ApiKey>,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let bearer = key.map(|k| format!("Bearer {}", k.expose()));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        self.post_json(url, &headers, body).await
    }

    /// POST `body` as JSON with `headers`, return the parsed JSON answer.
    pub(crate) async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let policy = &self.options.retry;
        let answer = retry(
            policy,
            || self.attempt(url, headers, body),
            |why: &String, retry, wait| {
                tracing::warn!(
                    vendor = self.vendor,
                    retry,
                    ?wait,
                    "{}",
                    self.redactor.redact(why)
                );
            },
        )
        .await;
        answer.map_err(|gave_up| {
            self.scrub(match gave_up {
                GaveUp::Fail(e) => e,
                GaveUp::Exhausted { last, attempts } => {
                    self.error(format!("{last}; gave up after {attempts} attempts"))
                }
                GaveUp::TooLong { last, asked } => self.error(format!(
                    "{last}; the server asks to wait {}s, longer than the {}s this client waits",
                    asked.as_secs(),
                    policy.max_delay.as_secs()
                )),
            })
        })
    }

    async fn attempt(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, Attempt> {
        let mut req = self.client.post(url).json(body);
        for (name, value) in headers {
            let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                Attempt::Fail(self.error(format!(
                    "the {name} header has characters HTTP does not allow; check the key"
                )))
            })?;
            // Sensitive values are left out of any debug logging by the
            // HTTP stack; every header we add carries a key or a version.
            value.set_sensitive(true);
            req = req.header(*name, value);
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(e)),
        };
        let status = resp.status().as_u16();
        if status != 200 {
            let after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            // The error body is only quoted, so a short read is enough.
            let text = self
                .read_capped(&mut resp, 64 * 1024)
                .await
                .unwrap_or_default();
            let raw = String::from_utf8_lossy(&text);
            let quoted = quote(&raw);
            let why = format!(
                "HTTP {status}{}",
                if quoted.is_empty() {
                    String::new()
                } else {
                    format!(": {quoted}")
                }
            );
            return Err(if retryable_status(status) {
                Attempt::Retry(why, after)
            } else {
                Attempt::Fail(self.error(format!("{why}{}", self.hint(status, &raw))))
            });
        }
        let bytes = match self
            .read_capped(&mut resp, self.options.max_response_bytes)
            .await
        {
            Ok(b) => b,
            Err(e) => return Err(e),
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            Attempt::Fail(self.error(format!(
                "the response is not JSON ({e}): {}",
                quote(&String::from_utf8_lossy(&bytes))
            )))
        })
    }

    /// Read the body chunk by chunk, refusing more than `cap` bytes.
    async fn read_capped(
        &self,
        resp: &mut reqwest::Response,
        cap: usize,
    ) -> Result<Vec<u8>, Attempt> {
        if let Some(len) = resp.content_length()
            && len > cap as u64
        {
            return Err(Attempt::Fail(self.too_big(cap)));
        }
        let mut out = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if out.len() + chunk.len() > cap {
                        return Err(Attempt::Fail(self.too_big(cap)));
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(out),
                Err(e) => return Err(self.transport_error(e)),
            }
        }
    }

    fn too_big(&self, cap: usize) -> Error {
        self.error(format!(
            "the response is larger than the {cap}-byte cap; raise [llm] max_response_bytes if the model is trusted to answer that much"
        ))
    }

    fn transport_error(&self, e: reqwest::Error) -> Attempt {
        let e = e.without_url();
        if e.is_timeout() {
            return Attempt::Fail(self.error(format!(
                "no complete answer within {:?} (timed out); raise [llm] timeout (SKYNET_LLM_TIMEOUT) or try again",
                self.options.timeout
            )));
        }
        if e.is_body() || e.is_decode() {
            return Attempt::Fail(
                self.error(format!("the response broke off: {}", source_chain(&e))),
            );
        }
        let why = format!("cannot reach the server: {}", source_chain(&e));
        if e.is_connect() || e.is_request() {
            Attempt::Retry(why, None)
        } else {
            Attempt::Fail(self.error(why))
        }
    }

    fn error(&self, message: String) -> Error {
        Error::Planning(format!("{}: {message}", self.vendor))
    }

    /// Last line of defence: no error leaves with a key in it.
    fn scrub(&self, e: Error) -> Error {
        match e {
            Error::Planning(m) => Error::Planning(self.redactor.redact(&m)),
            Error::Config(m) => Error::Config(self.redactor.redact(&m)),
            other => other,
        }
    }
}

impl Transport {
    /// What a person should do about a final HTTP status (Gemini refuses
    /// a bad key with 400 and the reason `API_KEY_INVALID`).
    fn hint(&self, status: u16, body: &str) -> String {
        match status {
            401 | 403 => " (check the API key variable for this provider)".into(),
            400 if body.contains("API_KEY_INVALID") => {
                " (check the API key variable for this provider)".into()
            }
            404 => format!(" (check {})", self.model_settings),
            400 | 422 => " (the server refused the request; check the model supports it)".into(),
            _ => String::new(),
        }
    }
}

fn source_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.dedup();
    parts.join(": ")
}
