//! Risk levels: READ_ONLY < WRITE < ADMIN.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How much harm a command can do. Ordered: `ReadOnly < Write < Admin`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Risk))]
pub enum RiskLevel {
    /// Inspects only; auto-approved by default.
    #[default]
    ReadOnly,
    /// Changes files, runs project code or an unknown program.
    Write,
    /// Deletes, pushes, escalates privilege, touches the system.
    Admin,
}

impl RiskLevel {
    /// Stable string form (`READ_ONLY`, `WRITE`, `ADMIN`).
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::ReadOnly => "READ_ONLY",
            RiskLevel::Write => "WRITE",
            RiskLevel::Admin => "ADMIN",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RiskLevel {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "READ_ONLY" | "READONLY" => Ok(RiskLevel::ReadOnly),
            "WRITE" => Ok(RiskLevel::Write),
            "ADMIN" => Ok(RiskLevel::Admin),
            other => Err(crate::Error::InvalidInput(format!(
                "unknown risk level {other:?}; use READ_ONLY, WRITE or ADMIN"
            ))),
        }
    }
}
