//! Placeholder: the local process provider (being written).
use super::{Capabilities, ExecContext, Health, Output, Provider};
use crate::Result;
use crate::plan::Command;
use async_trait::async_trait;

/// Runs argv as a local process group.
#[derive(Debug, Clone, Default)]
pub struct LocalProvider {}

impl LocalProvider {
    /// A local provider with the default environment allowlist.
    pub fn new() -> Self {
        LocalProvider {}
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn name(&self) -> &str {
        "local"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn health(&self) -> Health {
        Health {
            healthy: true,
            message: "ok".into(),
        }
    }
    async fn execute(&self, _command: &Command, _ctx: ExecContext) -> Result<Output> {
        Err(crate::Error::Provider {
            provider: "local".into(),
            message: "not yet".into(),
        })
    }
}
