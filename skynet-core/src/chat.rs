//! Conversations with SKYNET ([`Skynet::chat`]): short-history turns with
//! the configured model. A plain question gets an answer; a request for
//! work becomes a plan proposal that is judged, gated and recorded exactly
//! like a submitted intent (READ_ONLY may queue at once, anything riskier
//! waits for `approve` with its plan hash).

use crate::engine::{Skynet, SubmitRequest};
use crate::job::Job;
use crate::llm::Message;
use crate::plan::{Plan, PlanUsage};
use crate::planner::llm::Turn;
use crate::planner::{PlanRequest, Planner};
use crate::{Error, Result};
use async_trait::async_trait;

/// Longest chat message accepted, in bytes.
const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// One conversation: where its work runs and what was said lately.
#[derive(Debug, Clone)]
pub struct ChatSession {
    /// Template for proposed jobs (root, provider, source, context...);
    /// the intent is the message that asked for the work.
    pub request: SubmitRequest,
    /// Messages kept as context (oldest dropped first; default 10).
    pub max_history: usize,
    /// How to speak (a front-end's personality prompt, put before the
    /// system prompt); it changes the tone, never what may run.
    pub personality: Option<String>,
    history: Vec<Message>,
}

impl ChatSession {
    /// A conversation whose work is submitted like `request`.
    pub fn new(request: SubmitRequest) -> Self {
        ChatSession {
            request,
            max_history: 10,
            personality: None,
            history: Vec::new(),
        }
    }

    /// The remembered messages, oldest first.
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    fn remember(&mut self, user: &str, assistant: String) {
        self.history.push(Message::user(user));
        self.history.push(Message::assistant(assistant));
        let excess = self.history.len().saturating_sub(self.max_history);
        self.history.drain(..excess);
    }
}

/// What a chat turn produced.
#[derive(Debug, Clone)]
pub enum ChatReply {
    /// An answer; nothing was planned.
    Answer {
        /// The model's words (secrets redacted).
        text: String,
        /// What the turn cost.
        usage: PlanUsage,
    },
    /// Work was asked for: a job holding the judged plan, `planned`
    /// (awaiting approval) or `queued` (auto-approved READ_ONLY).
    Proposal {
        /// The model's words (secrets redacted).
        reply: String,
        /// The recorded job.
        job: Box<Job>,
    },
}

/// Hands the engine the plan the conversation already produced.
struct Proposed(Plan);

#[async_trait]
impl Planner for Proposed {
    fn name(&self) -> &str {
        &self.0.planner
    }
    async fn plan(&self, _request: &PlanRequest) -> Result<Plan> {
        Ok(self.0.clone())
    }
}

impl Skynet {
    /// One conversational turn. Needs a model ([`crate::SkynetBuilder::llm`]).
    pub async fn chat(&self, session: &mut ChatSession, message: &str) -> Result<ChatReply> {
        let message = message.trim();
        if message.is_empty() {
            return Err(Error::InvalidInput("the message is empty".into()));
        }
        if message.len() > MAX_MESSAGE_BYTES {
            return Err(Error::InvalidInput(format!(
                "the message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                message.len()
            )));
        }
        let Some(llm) = self.inner.llm.clone() else {
            return Err(Error::Config(
                "chat needs a language model: set SKYNET_LLM_PROVIDER (openai, gemini, anthropic, ollama) and the provider's key variable, or [llm] in skynet.toml".into(),
            ));
        };
        let req = &session.request;
        let plan_request = PlanRequest {
            intent: message.to_string(),
            root: crate::policy::resolve_root(req.root.clone())?,
            context: req.context.clone(),
            constraints: req.constraints.clone(),
            step_timeout_ms: req.step_timeout.map(|d| d.as_millis() as u64),
            past_runs: Vec::new(),
        };
        let redact = |t: &str| self.inner.redactor.redact(t);
        match llm
            .converse(
                &plan_request,
                session.history(),
                message,
                session.personality.as_deref(),
            )
            .await?
        {
            (Turn::Reply(text), usage) => {
                let text = redact(&text);
                session.remember(message, text.clone());
                Ok(ChatReply::Answer { text, usage })
            }
            (Turn::Proposal { reply, plan }, _) => {
                let mut submit = session.request.clone();
                submit.intent = message.to_string();
                let job = self.submit_with(submit, &Proposed(*plan)).await?;
                let reply = redact(&reply);
                let summary = job.plan.as_ref().map_or("", |p| p.summary.as_str());
                session.remember(
                    message,
                    format!(
                        "{reply}\n[proposed job {}: {summary}; {}]",
                        job.id, job.status
                    ),
                );
                Ok(ChatReply::Proposal {
                    reply,
                    job: Box::new(job),
                })
            }
        }
    }
}
