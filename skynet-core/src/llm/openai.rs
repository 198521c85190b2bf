//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`):
//! OpenAI, Ollama, vLLM, llama.cpp server, LM Studio.
//!
//! Structured output uses `response_format: {type: json_schema}`; servers
//! that ignore it still get the schema in the prompt, and the answer is
//! parsed defensively either way.

use super::http::{Transport, quote};
use super::{ChatModel, ChatRequest, ChatResponse, LlmSettings, Role, Usage};
use crate::{Error, Result};
use async_trait::async_trait;
use serde_json::{Value, json};

/// A Chat Completions client.
pub struct OpenAiChat {
    settings: LlmSettings,
    transport: Transport,
}

impl std::fmt::Debug for OpenAiChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiChat")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl OpenAiChat {
    /// A client for these settings (see [`LlmSettings::key_required`]).
    pub fn new(settings: &LlmSettings) -> Result<Self> {
        if settings.key_required() {
            settings.require_key()?;
        }
        let name = settings.provider.as_str();
        Ok(OpenAiChat {
            transport: Transport::new(
                name,
                settings.http.clone(),
                settings.api_key.iter().map(|k| k.expose().to_string()),
            )?,
            settings: settings.clone(),
        })
    }
}

/// The request body for `request`.
pub fn request_body(model: &str, request: &ChatRequest) -> Value {
    let mut messages = vec![json!({"role": "system", "content": request.system})];
    messages.extend(request.messages.iter().map(|m| {
        json!({
            "role": match m.role { Role::User => "user", Role::Assistant => "assistant" },
            "content": m.content,
        })
    }));
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "temperature": 0,
    });
    if let Some(schema) = &request.schema {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": schema.name, "schema": schema.schema, "strict": false},
        });
    }
    body
}

/// Read a Chat Completions response.
pub fn parse_response(vendor: &str, body: &Value) -> Result<ChatResponse> {
    let fail =
        |what: &str| Error::Planning(format!("{vendor}: {what}: {}", quote(&body.to_string())));
    let choice = body
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| fail("the response has no choices"))?;
    let message = choice
        .get("message")
        .ok_or_else(|| fail("the choice has no message"))?;
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        return Err(Error::Planning(format!(
            "{vendor}: the model refused: {}",
            quote(refusal)
        )));
    }
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| fail("the message has no text content"))?;
    let usage = body.get("usage");
    let count = |k: &str| {
        usage
            .and_then(|u| u.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(ChatResponse {
        text: text.to_string(),
        usage: Usage {
            input_tokens: count("prompt_tokens"),
            output_tokens: count("completion_tokens"),
        },
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[async_trait]
impl ChatModel for OpenAiChat {
    fn provider(&self) -> &str {
        self.settings.provider.as_str()
    }
    fn model(&self) -> &str {
        &self.settings.model
    }
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let body = request_body(&self.settings.model, request);
        let answer = self
            .transport
            .post_json_bearer(
                &self.settings.url("chat/completions"),
                self.settings.api_key.as_ref(),
                &body,
            )
            .await?;
        parse_response(self.provider(), &answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{JsonSchema, Message};

    #[test]
    fn refusals_and_missing_content_are_planning_errors() {
        let refused = json!({"choices": [{"message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]});
        assert!(
            matches!(parse_response("openai", &refused), Err(Error::Planning(m)) if m.contains("refused"))
        );
        assert!(parse_response("openai", &json!({"choices": []})).is_err());
        assert!(
            parse_response(
                "openai",
                &json!({"choices": [{"message": {"content": null}}]})
            )
            .is_err()
        );
    }

    #[test]
    fn the_body_puts_system_first_and_asks_for_the_schema() {
        let req = ChatRequest {
            system: "sys".into(),
            messages: vec![
                Message::user("u"),
                Message::assistant("a"),
                Message::user("u2"),
            ],
            schema: Some(JsonSchema {
                name: "n".into(),
                schema: json!({"type": "object"}),
            }),
            max_tokens: 10,
        };
        let b = request_body("m", &req);
        let roles: Vec<&str> = b["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["role"].as_str().expect("role"))
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(b["response_format"]["json_schema"]["name"], "n");
        assert_eq!(b["max_tokens"], 10);
    }
}
