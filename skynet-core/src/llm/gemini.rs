//! Google Gemini `generateContent` (`POST {base}/models/{model}:generateContent`).
//!
//! The key travels in the `x-goog-api-key` header, never in the URL, so
//! it cannot leak through an error that quotes the URL. Structured output
//! uses `responseMimeType: application/json` with a `responseSchema`.

use super::http::{Transport, quote};
use super::{ChatModel, ChatRequest, ChatResponse, LlmSettings, Role, Usage};
use crate::{Error, Result};
use async_trait::async_trait;
use serde_json::{Value, json};

/// A Gemini client.
pub struct GeminiChat {
    settings: LlmSettings,
    transport: Transport,
}

impl std::fmt::Debug for GeminiChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiChat")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl GeminiChat {
    /// A client for these settings (a key is required).
    pub fn new(settings: &LlmSettings) -> Result<Self> {
        let key = settings.require_key()?;
        Ok(GeminiChat {
            transport: Transport::new("gemini", settings.http.clone(), [key.expose().to_string()])?,
            settings: settings.clone(),
        })
    }
}

/// The request body for `request`.
pub fn request_body(request: &ChatRequest) -> Value {
    let contents: Vec<Value> = request
        .messages
        .iter()
        .map(|m| {
            json!({
                "role": match m.role { Role::User => "user", Role::Assistant => "model" },
                "parts": [{"text": m.content}],
            })
        })
        .collect();
    let mut config = json!({"maxOutputTokens": request.max_tokens, "temperature": 0});
    if let Some(schema) = &request.schema {
        config["responseMimeType"] = json!("application/json");
        config["responseSchema"] = openapi_schema(&schema.schema);
    }
    json!({
        "systemInstruction": {"parts": [{"text": request.system}]},
        "contents": contents,
        "generationConfig": config,
    })
}

/// Gemini's schema dialect: OpenAPI types in capitals, no
/// `additionalProperties`.
fn openapi_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "additionalProperties")
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("type", Value::String(t)) => Value::String(t.to_ascii_uppercase()),
                        ("properties", Value::Object(props)) => Value::Object(
                            props
                                .iter()
                                .map(|(name, s)| (name.clone(), openapi_schema(s)))
                                .collect(),
                        ),
                        ("enum", v) | ("required", v) => v.clone(),
                        (_, v) => openapi_schema(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(openapi_schema).collect()),
        other => other.clone(),
    }
}

/// Read a `generateContent` response.
pub fn parse_response(body: &Value) -> Result<ChatResponse> {
    if let Some(reason) = body
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
    {
        return Err(Error::Planning(format!(
            "gemini: the request was blocked ({reason}); rephrase the intent"
        )));
    }
    let candidate = body.pointer("/candidates/0").ok_or_else(|| {
        Error::Planning(format!(
            "gemini: the response has no candidates: {}",
            quote(&body.to_string())
        ))
    })?;
    let text: String = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                // Thinking models return their reasoning as `thought` parts.
                .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let finish = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .map(str::to_string);
    if text.is_empty() {
        return Err(Error::Planning(format!(
            "gemini: the answer has no text (finish reason {})",
            finish.as_deref().unwrap_or("unknown")
        )));
    }
    let count = |k: &str| {
        body.pointer(&format!("/usageMetadata/{k}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(ChatResponse {
        text,
        usage: Usage {
            input_tokens: count("promptTokenCount"),
            output_tokens: count("candidatesTokenCount"),
        },
        finish_reason: finish,
    })
}

#[async_trait]
impl ChatModel for GeminiChat {
    fn provider(&self) -> &str {
        "gemini"
    }
    fn model(&self) -> &str {
        &self.settings.model
    }
    async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let key = self.settings.require_key()?;
        let url = self
            .settings
            .url(&format!("models/{}:generateContent", self.settings.model));
        let answer = self
            .transport
            .post_json(
                &url,
                &[("x-goog-api-key", key.expose())],
                &request_body(request),
            )
            .await?;
        parse_response(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thought_parts_are_not_the_answer() {
        let body = json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Maybe {\"steps\": []}?", "thought": true},
                {"text": "{\"summary\": \"s\", \"steps\": []}"},
            ]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4},
        });
        let r = parse_response(&body).expect("parsed");
        assert_eq!(r.text, "{\"summary\": \"s\", \"steps\": []}");
        assert_eq!(r.usage.total(), 7);
    }

    #[test]
    fn blocked_prompts_and_empty_candidates_are_planning_errors() {
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
        assert!(
            matches!(parse_response(&blocked), Err(Error::Planning(m)) if m.contains("SAFETY"))
        );
        assert!(parse_response(&json!({"candidates": []})).is_err());
    }

    #[test]
    fn schemas_use_openapi_type_names() {
        let s = openapi_schema(&json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {"type": {"type": "string", "enum": ["object"]}},
        }));
        assert_eq!(s["type"], "OBJECT");
        assert_eq!(
            s["properties"]["type"]["type"], "STRING",
            "a property named type is a property"
        );
        assert_eq!(
            s["properties"]["type"]["enum"][0], "object",
            "enum values unchanged"
        );
        assert!(s.get("additionalProperties").is_none());
    }
}
