//! `planner` and `[llm]`: which planner makes plans, and the language
//! model behind the LLM planner (see [`crate::llm::settings`]).

use super::Settings;
use super::layers::Layers;
use crate::llm::LlmSettings;
use crate::llm::settings::LlmFileSection;
use crate::planner::{AutoPlanner, LlmPlanner, Planner, PlannerChoice, RulePlanner};
use crate::{Error, Result};
use std::sync::Arc;

/// The planner choice (`SKYNET_PLANNER`, `planner`, default `auto`).
pub(super) fn planner_choice(layers: &Layers, file: Option<String>) -> Result<PlannerChoice> {
    match layers.pick("SKYNET_PLANNER", file) {
        Some(p) => PlannerChoice::parse(&p),
        None => Ok(PlannerChoice::default()),
    }
}

/// The model, if one is configured; in a build without the `llm`
/// feature, configuring one is an error naming the feature. A model
/// without its key is kept (the `llm` planner then says which key to set)
/// with a notice that `auto` plans with the rules alone.
pub(super) fn resolve(
    layers: &Layers,
    file: &LlmFileSection,
    planner: PlannerChoice,
    notices: &mut Vec<String>,
) -> Result<Option<LlmSettings>> {
    let llm = LlmSettings::load(file, layers.env())?;
    if let Some(missing) = llm.as_ref().and_then(LlmSettings::missing_key)
        && planner != PlannerChoice::Llm
    {
        notices.push(format!(
            "{}; until then the planner uses the rules alone",
            missing.to_string().trim_start_matches("configuration: ")
        ));
    }
    if cfg!(not(feature = "llm")) && llm.is_some() {
        return Err(crate::provider::feature_missing(
            "SKYNET_LLM_PROVIDER ([llm] provider) is set",
            "llm",
        ));
    }
    Ok(llm)
}

/// The planner the settings choose, and the LLM planner (for chat) when
/// a model is configured.
pub(super) type Planners = (Arc<dyn Planner>, Option<Arc<LlmPlanner>>);

/// The planners these settings make (see [`Planners`]).
pub(super) fn planners(settings: &Settings) -> Result<Planners> {
    // Without its key the model is left out, except for the `llm`
    // planner, whose build then names the key to set; `auto` and chat go
    // on with the rules (the load left a notice saying so).
    let usable = settings
        .llm
        .as_ref()
        .filter(|s| s.missing_key().is_none() || settings.planner == PlannerChoice::Llm);
    let llm = match usable {
        Some(s) => Some(Arc::new(LlmPlanner::from_settings(
            s,
            Some(settings.home.join("llm-usage.json")),
        )?)),
        None => None,
    };
    let planner: Arc<dyn Planner> = match (settings.planner, &llm) {
        (PlannerChoice::Llm, Some(l)) => l.clone(),
        (PlannerChoice::Llm, None) => {
            return Err(Error::Config(
                "the llm planner needs a model: set SKYNET_LLM_PROVIDER (openai, gemini, anthropic, ollama) and the provider's key variable, or [llm] in skynet.toml".into(),
            ));
        }
        (PlannerChoice::Auto, Some(l)) => Arc::new(AutoPlanner::new(l.clone())),
        (PlannerChoice::Rules, _) | (PlannerChoice::Auto, None) => Arc::new(RulePlanner::new()),
    };
    Ok((planner, llm))
}
