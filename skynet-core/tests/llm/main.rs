//! LLM planning against a local HTTP server (wiremock) that speaks each
//! vendor's wire format: OpenAI-compatible Chat Completions, Gemini
//! `generateContent` and Anthropic Messages. No test reaches the internet.
//! Answers come from `tests/fixtures/llm/VENDOR/*.json`, written in each
//! vendor's documented response format.

#![allow(clippy::unwrap_used)]

mod chat;
mod robustness;
mod safety;
mod support;
mod vendors;
