//! `[gateway]`: the gateway provider, registered when a URL is set, or
//! when the original protocol is chosen (its URL defaults to
//! [`ORIGINAL_DEFAULT_URL`](crate::provider::gateway::ORIGINAL_DEFAULT_URL);
//! SKYNET's agent has no default address, so it needs a URL).

use super::Settings;
use super::layers::Layers;
use crate::Result;
use crate::engine::SkynetBuilder;
use serde::Deserialize;
use std::path::PathBuf;

/// `[gateway]` in `skynet.toml` (the token itself stays in the
/// environment or a file). Read whether or not this build has the
/// `gateway` feature, so a file that configures it is refused by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(super) struct GatewaySection {
    url: Option<String>,
    protocol: Option<String>,
    trusted: Option<bool>,
    token_file: Option<PathBuf>,
    ca: Option<PathBuf>,
}

#[cfg(feature = "gateway")]
impl GatewaySection {
    /// The provider's configuration; `None` when no gateway is set.
    pub(super) fn resolve(self, layers: &Layers) -> Result<Option<crate::provider::GatewayConfig>> {
        use crate::Error;
        use crate::provider::gateway::{GatewayProtocol, ORIGINAL_DEFAULT_URL};
        use std::path::Path;
        let protocol = match layers.pick("OPENCLAW_GATEWAY_PROTOCOL", self.protocol) {
            Some(p) => GatewayProtocol::parse(&p).ok_or_else(|| {
                Error::Config(format!(
                    "gateway protocol (OPENCLAW_GATEWAY_PROTOCOL, [gateway] protocol): {p:?} is \
                     not one of skynet, original"
                ))
            })?,
            None => GatewayProtocol::Skynet,
        };
        let url = match (
            layers
                .pick("OPENCLAW_GATEWAY_URL", self.url)
                .filter(|u| !u.trim().is_empty()),
            protocol,
        ) {
            (Some(url), _) => url.trim().to_string(),
            (None, GatewayProtocol::Original) => ORIGINAL_DEFAULT_URL.to_string(),
            (None, GatewayProtocol::Skynet) => return Ok(None),
        };
        let token_file = layers.pick(
            "OPENCLAW_GATEWAY_TOKEN_FILE",
            self.token_file.map(|p| p.display().to_string()),
        );
        let token = match (layers.var("OPENCLAW_GATEWAY_TOKEN"), token_file) {
            (Some(t), _) => Some(t.trim().to_string()),
            (None, Some(file)) => {
                Some(crate::provider::gateway::read_token_file(Path::new(&file))?)
            }
            (None, None) => None,
        };
        let token = match (token, protocol) {
            (Some(t), GatewayProtocol::Skynet) if t.is_empty() => {
                return Err(Error::Config(
                    "gateway: the token is empty; put the agent's token in OPENCLAW_GATEWAY_TOKEN"
                        .into(),
                ));
            }
            (None, GatewayProtocol::Skynet) => {
                return Err(Error::Config(
                    "gateway: set OPENCLAW_GATEWAY_TOKEN or OPENCLAW_GATEWAY_TOKEN_FILE (the \
                     agent's token) along with OPENCLAW_GATEWAY_URL"
                        .into(),
                ));
            }
            // The original gateway may run without a token.
            (token, _) => token.unwrap_or_default(),
        };
        let mut config = crate::provider::GatewayConfig::new(url, crate::llm::ApiKey::new(token));
        config.protocol = protocol;
        if let Some(v) = layers.pick("OPENCLAW_GATEWAY_TRUSTED", self.trusted) {
            config.trusted = super::worker::parse_bool("gateway trusted", &v)?;
        }
        config.ca_file = layers
            .pick(
                "OPENCLAW_GATEWAY_CA",
                self.ca.map(|p| p.display().to_string()),
            )
            .map(PathBuf::from);
        Ok(Some(config))
    }
}

#[cfg(not(feature = "gateway"))]
impl GatewaySection {
    /// No gateway provider in this build: configuring one is an error.
    pub(super) fn resolve(self, layers: &Layers) -> Result<Option<std::convert::Infallible>> {
        let url = layers
            .pick("OPENCLAW_GATEWAY_URL", self.url)
            .filter(|u| !u.trim().is_empty());
        let original = layers
            .pick("OPENCLAW_GATEWAY_PROTOCOL", self.protocol)
            .filter(|p| p.trim().eq_ignore_ascii_case("original"));
        super::not_built(
            url.or(original),
            "OPENCLAW_GATEWAY_URL or OPENCLAW_GATEWAY_PROTOCOL=original ([gateway])",
            "gateway",
        )
    }
}

/// The agent's token, to keep out of logs and answers.
pub(super) fn secrets(settings: &Settings) -> Vec<String> {
    #[cfg(feature = "gateway")]
    if let Some(g) = &settings.gateway
        && !g.token.expose().is_empty()
    {
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

#[cfg(all(test, feature = "gateway"))]
mod tests {
    use super::super::Settings;
    use crate::Error;
    use crate::provider::GatewayProtocol;
    use std::collections::HashMap;

    fn load(file: &str, pairs: &[(&str, &str)]) -> crate::Result<Settings> {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join("skynet.toml"), file).expect("write");
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::config::strict(Settings::load_with(Some(home.path().into()), move |k| {
            vars.get(k).cloned()
        }))
    }

    #[test]
    fn the_original_protocol_has_its_own_default_address_and_needs_no_token() {
        let s = load("", &[("OPENCLAW_GATEWAY_PROTOCOL", "original")]).expect("load");
        let gw = s.gateway.expect("registered without a URL");
        assert_eq!(gw.protocol, GatewayProtocol::Original);
        assert_eq!(gw.url, "http://127.0.0.1:8766");
        assert!(gw.token.expose().is_empty());
        assert!(!gw.trusted, "untrusted unless the operator says so");

        // SKYNET's agent keeps needing its URL (no default) and a token.
        assert!(load("", &[]).expect("load").gateway.is_none());
        let e = load("", &[("OPENCLAW_GATEWAY_URL", "http://10.0.0.2:7000")]);
        assert!(matches!(e, Err(Error::Config(m)) if m.contains("OPENCLAW_GATEWAY_TOKEN")));
    }

    #[test]
    fn the_gateway_section_is_read_and_the_environment_wins() {
        let file =
            "[gateway]\nurl = \"http://10.0.0.3:9000\"\nprotocol = \"original\"\ntrusted = true\n";
        let gw = load(file, &[]).expect("load").gateway.expect("gateway");
        assert_eq!(
            (gw.url.as_str(), gw.protocol, gw.trusted),
            ("http://10.0.0.3:9000", GatewayProtocol::Original, true)
        );
        let gw = load(
            file,
            &[
                ("OPENCLAW_GATEWAY_TRUSTED", "false"),
                ("OPENCLAW_GATEWAY_URL", "http://10.0.0.4:9000"),
            ],
        )
        .expect("load")
        .gateway
        .expect("gateway");
        assert_eq!(
            (gw.url.as_str(), gw.trusted),
            ("http://10.0.0.4:9000", false)
        );

        let e = load("", &[("OPENCLAW_GATEWAY_PROTOCOL", "openclaw")]);
        assert!(matches!(e, Err(Error::Config(m)) if m.contains("skynet, original")));
        let e = load(
            "[gateway]\nprotocol = \"original\"\ntrusted = \"maybe\"\n",
            &[],
        );
        assert!(matches!(e, Err(Error::Config(_))));
        let e = load(
            "",
            &[
                ("OPENCLAW_GATEWAY_PROTOCOL", "original"),
                ("OPENCLAW_GATEWAY_TRUSTED", "sure"),
            ],
        );
        assert!(matches!(e, Err(Error::Config(m)) if m.contains("gateway trusted")));
    }
}
