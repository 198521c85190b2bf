//! Anthropic Messages (`POST {base}/messages`).
//!
//! Structured output: the schema becomes the input schema of one tool the
//! model is made to call (`tool_choice`), and the tool's input is the
//! answer. Text blocks are returned as they are otherwise.

use super::http::{Transport, quote};
use super::{ChatModel, ChatRequest, ChatResponse, LlmSettings, Role, Usage};
use crate::{Error, Result};
use async_trait::async_trait;
use serde_json::{Value, json};

/// The API version this adapter speaks.
pub const API_VERSION: &str = "2023-06-01";

/// An Anthropic client.
pub struct AnthropicChat {
    settings: LlmSettings,
    transport: Transport,
}

impl std::fmt::Debug for AnthropicChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicChat")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AnthropicChat {
    /// A client for these settings (a key is required).
    pub fn new(settings: &LlmSettings) -> Result<Self> {
        let key = settings.require_key()?;
        Ok(AnthropicChat {
            transport: Transport::new(
                "anthropic",
                settings.http.clone(),
                [key.expose().to_string()],
            )?,
            settings: settings.clone(),
        })
    }
}

/// The request body for `request`.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let messages: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            json!({
                "role": match m.role { Role::User => "user", Role::Assistant => "assistant" },
                "content": m.content,
            })
        })
        .collect();
    let mut body = json!({
        "model": model,
        "max_tokens": request.max_tokens,
        "system": request.system,
        "messages": messages,
        "temperature": 0,
    });
    if let Some(schema) = &request.schema {
        body["tools"] = json!([{
            "name": schema.name,
            "description": "Give your answer by calling this tool.",
            "input_schema": schema.schema,
        }]);
        body["tool_choice"] = json!({"type": "tool", "name": schema.name});
    }
    body
}

/// Read a Messages response.
pub fn parse_response(body: &Value) -> Result<ChatResponse> {
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Error::Planning(format!(
                "anthropic: the response has no content: {}",
                quote(&body.to_string())
            ))
        })?;
    let tool_input = blocks
        .iter()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
        .and_then(|b| b.get("input"));
    let text = match tool_input {
        Some(input) => input.to_string(),
        None => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    let count = |k: &str| {
        body.pointer(&format!("/usage/{k}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(ChatResponse {
        text,
        usage: Usage {
            input_tokens: count("input_tokens"),
            output_tokens: count("output_tokens"),
        },
        finish_reason: body
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[async_trait]
impl ChatModel for AnthropicChat {
    fn provider(&self) -> &str {
        "anthropic"
    }
    fn model(&self) -> &str {
        &self.settings.model
    }
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let key = self.settings.require_key()?;
        let answer = self
            .transport
            .post_json(
                &self.settings.url("messages"),
                &[
                    ("x-api-key", key.expose()),
                    ("anthropic-version", API_VERSION),
                ],
                &request_body(&self.settings.model, request),
            )
            .await?;
        parse_response(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_input_wins_over_text_and_text_blocks_join() {
        let body = json!({
            "content": [
                {"type": "text", "text": "Let me plan."},
                {"type": "tool_use", "id": "t", "name": "skynet_plan", "input": {"steps": []}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 5, "output_tokens": 6},
        });
        let r = parse_response(&body).expect("parsed");
        assert_eq!(r.text, "{\"steps\":[]}");
        assert_eq!(r.finish_reason.as_deref(), Some("tool_use"));
        let body =
            json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]});
        assert_eq!(parse_response(&body).expect("parsed").text, "a\nb");
        assert!(parse_response(&json!({"type": "message"})).is_err());
    }
}
