//! Placeholder: the mock provider (being written).
use super::{Capabilities, ExecContext, Health, Output, Provider};
use crate::Result;
use crate::plan::Command;
use async_trait::async_trait;

/// Deterministic outputs for tests and dry runs.
#[derive(Debug, Clone, Default)]
pub struct MockProvider {}

impl MockProvider {
    /// A mock provider.
    pub fn new() -> Self {
        MockProvider {}
    }
}

#[async_trait]
impl Provider for MockProvider {
    fn name(&self) -> &str {
        "mock"
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
            provider: "mock".into(),
            message: "not yet".into(),
        })
    }
}
