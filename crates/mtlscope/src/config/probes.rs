use anyhow::Result;
use serde::{Deserialize, Serialize};

/// `[probes]`: trajectory probes recorded at evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbesConfig {
    /// Master switch.
    pub enabled: bool,
}

impl Default for ProbesConfig {
    fn default() -> Self {
        Self { enabled: false }
    }
}

impl ProbesConfig {
    pub(super) fn validate(&self) -> Result<()> {
        Ok(())
    }
}
