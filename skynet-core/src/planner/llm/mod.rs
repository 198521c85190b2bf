//! The LLM planner: asks a [`ChatModel`] for a plan in the catalog's
//! terms and maps the answer to the same typed [`Plan`] the rule planner
//! makes. The model only proposes: its answer is validated step by step
//! ([`answer`]), its risk labels can only raise a step's risk, and the
//! engine's policy judges every step afterwards like any other plan.

mod answer;
mod prompt;

#[cfg(test)]
mod tests;

use crate::llm::{ChatModel, ChatRequest, LlmSettings, Message, TokenBudget, Usage, pricing};
use crate::plan::{Plan, PlanUsage, Step};
use crate::planner::{PlanRequest, Planner};
use crate::redact::Redactor;
use crate::{Error, Result};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;

/// Longest answer asked of the model, in tokens.
const MAX_ANSWER_TOKENS: u32 = 4096;

/// Plans with a language model.
pub struct LlmPlanner {
    model: Arc<dyn ChatModel>,
    name: String,
    budget: Option<Arc<TokenBudget>>,
    price: Option<(f64, f64)>,
    /// The configured keys, taken out of every answer before it is parsed,
    /// so a model echoing its key cannot put it in a plan or an error.
    redactor: Redactor,
}

impl std::fmt::Debug for LlmPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmPlanner")
            .field("name", &self.name)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// A conversation turn's outcome, before anything is stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// A plain answer (no work asked for, or the model answered in prose).
    Reply(String),
    /// Work to propose: the reply and the plan (not yet judged).
    Proposal {
        /// What the model said to the person.
        reply: String,
        /// The plan, to be judged and gated like any other (boxed: a plan
        /// is large beside a reply).
        plan: Box<Plan>,
    },
}

impl LlmPlanner {
    /// A planner over `model`, priced from the built-in table.
    pub fn new(model: Arc<dyn ChatModel>) -> Self {
        let name = format!("llm:{}:{}", model.provider(), model.model());
        let price = pricing::list_price(model.provider(), model.model());
        LlmPlanner {
            model,
            name,
            budget: None,
            price,
            redactor: Redactor::values_only(Vec::new()),
        }
    }

    /// A planner for these settings; `budget_file` keeps the daily token
    /// count when the settings set a budget.
    pub fn from_settings(settings: &LlmSettings, budget_file: Option<PathBuf>) -> Result<Self> {
        let mut planner = LlmPlanner::new(crate::llm::connect(settings)?);
        planner.redactor =
            Redactor::values_only(settings.api_key.iter().map(|k| k.expose().to_string()));
        if let Some(p) = settings.price_per_mtok {
            planner.price = Some(p);
        }
        if let Some(limit) = settings.daily_token_budget {
            planner.budget = Some(Arc::new(TokenBudget::new(limit, budget_file)));
        }
        Ok(planner)
    }

    /// Take these values (API keys, tokens) out of every answer before it
    /// is parsed, stored or shown.
    pub fn with_secrets(mut self, secrets: impl IntoIterator<Item = String>) -> Self {
        self.redactor = Redactor::values_only(secrets);
        self
    }

    /// Refuse once `budget` is spent.
    pub fn with_budget(mut self, budget: Arc<TokenBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The model behind this planner.
    pub fn model(&self) -> &Arc<dyn ChatModel> {
        &self.model
    }

    /// One chat turn: `history` (oldest first) then `message`. A request
    /// for work comes back as a [`Turn::Proposal`] whose plan still has to
    /// be judged; anything else is a [`Turn::Reply`]. A `personality`
    /// (how to speak, never what may run) opens the system prompt.
    pub async fn converse(
        &self,
        request: &PlanRequest,
        history: &[Message],
        message: &str,
        personality: Option<&str>,
    ) -> Result<(Turn, PlanUsage)> {
        let mut messages = history.to_vec();
        messages.push(Message::user(message));
        let system = match personality.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => format!("{p}\n\n{}", prompt::chat_system(request)),
            None => prompt::chat_system(request),
        };
        let chat = ChatRequest {
            system,
            messages,
            schema: Some(prompt::chat_schema()),
            max_tokens: MAX_ANSWER_TOKENS,
        };
        let (text, _finish, usage) = self.ask(&chat).await?;
        let vendor = self.model.provider();
        // A model that ignored the schema and answered in prose is simply
        // talking: that is a reply, never a plan.
        let Some(value) = crate::llm::extract::json_object(&text) else {
            return Ok((Turn::Reply(text.trim().to_string()), usage));
        };
        let parsed = answer::parse_answer(vendor, &value, "reply", &request.root)?;
        if parsed.steps.is_empty() {
            return Ok((Turn::Reply(parsed.text), usage));
        }
        let mut plan = self.build_plan(request, parsed.steps, String::new())?;
        plan.usage = Some(usage.clone());
        Ok((
            Turn::Proposal {
                reply: parsed.text,
                plan: Box::new(plan),
            },
            usage,
        ))
    }

    /// Send `chat` within the budget; returns text, finish reason, usage.
    async fn ask(&self, chat: &ChatRequest) -> Result<(String, Option<String>, PlanUsage)> {
        if let Some(b) = &self.budget {
            b.check()?;
        }
        let response = self.model.complete(chat).await?;
        if let Some(b) = &self.budget {
            b.record(&response.usage);
        }
        let usage = self.plan_usage(&response.usage);
        tracing::info!(
            planner = %self.name,
            input_tokens = usage.input_tokens,
            output_tokens = usage.output_tokens,
            "model answered"
        );
        // The configured keys go before anything reads the answer: the
        // plan (summary, descriptions, argv), a parse error's quote and
        // the reply all derive from this text.
        let text = match self.redactor.redact_cow(&response.text) {
            std::borrow::Cow::Borrowed(_) => response.text,
            std::borrow::Cow::Owned(t) => t,
        };
        Ok((text, response.finish_reason, usage))
    }

    fn plan_usage(&self, usage: &Usage) -> PlanUsage {
        PlanUsage {
            model: format!("{}:{}", self.model.provider(), self.model.model()),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            estimated_cost_usd: self.price.map(|p| pricing::cost(usage, p)),
        }
    }

    /// Steps → plan: resolve each action (a failure names the step); a
    /// step's risk starts at max(catalog base risk, model's label).
    fn build_plan(
        &self,
        request: &PlanRequest,
        steps: Vec<answer::ProposedStep>,
        summary: String,
    ) -> Result<Plan> {
        let mut out = Vec::with_capacity(steps.len());
        for (i, s) in steps.into_iter().enumerate() {
            let inv = s.action.resolve(&request.root).map_err(|e| match e {
                Error::Planning(why) => {
                    Error::Planning(format!("step {} ({:?}): {why}", i + 1, s.description))
                }
                other => other,
            })?;
            let claimed = s.claimed.unwrap_or_default();
            out.push(Step {
                description: s.description,
                risk: s.action.base_risk().max(claimed),
                command: inv.into_command(request.root.clone()),
                action: s.action,
                decision: None,
                estimate_ms: None,
                network: None,
                artifacts: s.artifacts,
            });
        }
        let summary = if summary.is_empty() {
            out.iter()
                .map(|s| s.description.as_str())
                .collect::<Vec<_>>()
                .join(", then ")
        } else {
            summary
        };
        Ok(Plan::new(summary, out, self.name.clone()))
    }
}

#[async_trait]
impl Planner for LlmPlanner {
    fn name(&self) -> &str {
        &self.name
    }

    async fn plan(&self, request: &PlanRequest) -> Result<Plan> {
        let chat = ChatRequest {
            system: prompt::plan_system(request),
            messages: vec![Message::user(prompt::user_message(request))],
            schema: Some(prompt::plan_schema()),
            max_tokens: MAX_ANSWER_TOKENS,
        };
        let (text, finish, usage) = self.ask(&chat).await?;
        let vendor = self.model.provider();
        let value = answer::answer_json(vendor, &text, finish.as_deref())?;
        let parsed = answer::parse_answer(vendor, &value, "summary", &request.root)?;
        if parsed.steps.is_empty() {
            return Err(Error::Planning(format!(
                "{vendor}: the model proposed no steps{}; rephrase the intent, or plan with the rules planner",
                if parsed.text.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", parsed.text)
                }
            )));
        }
        let mut plan = self.build_plan(request, parsed.steps, parsed.text)?;
        plan.usage = Some(usage);
        Ok(plan)
    }
}
