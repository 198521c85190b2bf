//! The gateway provider (a remote SKYNET agent), registered when
//! `OPENCLAW_GATEWAY_URL` is set. Configured by the environment only.

use super::Settings;
use super::layers::Layers;
use crate::Result;
use crate::engine::SkynetBuilder;

/// The provider's configuration; `None` when no URL is set.
#[cfg(feature = "gateway")]
pub(super) fn resolve(layers: &Layers) -> Result<Option<crate::provider::GatewayConfig>> {
    use crate::Error;
    use std::path::{Path, PathBuf};
    let Some(url) = layers
        .var("OPENCLAW_GATEWAY_URL")
        .filter(|u| !u.trim().is_empty())
    else {
        return Ok(None);
    };
    let token = match (
        layers.var("OPENCLAW_GATEWAY_TOKEN"),
        layers.var("OPENCLAW_GATEWAY_TOKEN_FILE"),
    ) {
        (Some(t), _) => t.trim().to_string(),
        (None, Some(file)) => crate::provider::gateway::read_token_file(Path::new(&file))?,
        (None, None) => {
            return Err(Error::Config(
                "gateway: set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_TOKEN_FILE (the agent's \
                 token) along with OPENCLAW_GATEWAY_URL"
                    .into(),
            ));
        }
    };
    if token.is_empty() {
        return Err(Error::Config(
            "gateway: the token is empty; put the agent's token in OPENCLAW_GATEWAY_TOKEN".into(),
        ));
    }
    let mut config =
        crate::provider::GatewayConfig::new(url.trim(), crate::llm::ApiKey::new(token));
    config.ca_file = layers.var("OPENCLAW_GATEWAY_CA").map(PathBuf::from);
    Ok(Some(config))
}

/// No gateway provider in this build: configuring one is an error.
#[cfg(not(feature = "gateway"))]
pub(super) fn resolve(layers: &Layers) -> Result<Option<std::convert::Infallible>> {
    super::not_built(
        layers
            .var("OPENCLAW_GATEWAY_URL")
            .filter(|u| !u.trim().is_empty()),
        "OPENCLAW_GATEWAY_URL",
        "gateway",
    )
}

/// The agent's token, to keep out of logs and answers.
pub(super) fn secrets(settings: &Settings) -> Vec<String> {
    #[cfg(feature = "gateway")]
    if let Some(g) = &settings.gateway {
        return vec![g.token.expose().to_string()];
    }
    let _ = settings;
    Vec::new()
}

/// Register the provider if the settings configure it.
pub(super) fn register(settings: &Settings, builder: SkynetBuilder) -> Result<SkynetBuilder> {
    #[cfg(feature = "gateway")]
    if let Some(gateway) = &settings.gateway {
        return Ok(
            builder.provider(std::sync::Arc::new(crate::provider::GatewayProvider::new(
                gateway.clone(),
            )?)),
        );
    }
    let _ = settings;
    Ok(builder)
}
