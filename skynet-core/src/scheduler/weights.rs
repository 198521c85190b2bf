//! How much each score counts towards a provider's total.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// Weights of the five scores. Only their ratios matter: the total is the
/// weighted sum of the scores divided by the sum of the weights, so it
/// stays in `0..=1` whatever scale the weights use.
///
/// Defaults: health 30, load 25, capability 25, success 15, latency 5.
/// Set them with `SKYNET_SCHEDULER_WEIGHTS=30,25,25,15,5` (that order) or
/// `[scheduler] weights = { health = 30, load = 25, ... }` in `skynet.toml`
/// (a field left out keeps its default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Weight of the health score.
    pub health: f64,
    /// Weight of the load score.
    pub load: f64,
    /// Weight of the capability score.
    pub capability: f64,
    /// Weight of the past-success score.
    pub success: f64,
    /// Weight of the latency score.
    pub latency: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            health: 30.0,
            load: 25.0,
            capability: 25.0,
            success: 15.0,
            latency: 5.0,
        }
    }
}

impl Weights {
    /// The five weights in the order `SKYNET_SCHEDULER_WEIGHTS` lists them.
    pub fn as_array(&self) -> [f64; 5] {
        [
            self.health,
            self.load,
            self.capability,
            self.success,
            self.latency,
        ]
    }

    /// Sum of the weights (positive once [`Weights::validate`] passed).
    pub fn sum(&self) -> f64 {
        self.as_array().iter().sum()
    }

    /// Parse `health,load,capability,success,latency` (five non-negative
    /// numbers). `what` names the setting in the error.
    pub fn parse_list(what: &str, text: &str) -> Result<Weights> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let bad = |why: String| {
            Error::Config(format!(
                "{what}: {text:?} {why}; write five numbers for health,load,capability,success,latency, e.g. 30,25,25,15,5"
            ))
        };
        let [health, load, capability, success, latency] = parts[..] else {
            return Err(bad(format!("has {} values, not 5", parts.len())));
        };
        let num = |name: &str, v: &str| {
            v.parse::<f64>()
                .map_err(|_| bad(format!("has {name} = {v:?}, which is not a number")))
        };
        Weights {
            health: num("health", health)?,
            load: num("load", load)?,
            capability: num("capability", capability)?,
            success: num("success", success)?,
            latency: num("latency", latency)?,
        }
        .validate(what)
    }

    /// Refuse negative, non-finite or all-zero weights. `what` names the
    /// setting in the error.
    pub fn validate(self, what: &str) -> Result<Weights> {
        let names = ["health", "load", "capability", "success", "latency"];
        for (name, w) in names.iter().zip(self.as_array()) {
            if !w.is_finite() || w < 0.0 {
                return Err(Error::Config(format!(
                    "{what}: the {name} weight is {w}; weights must be finite numbers >= 0"
                )));
            }
        }
        if self.sum() <= 0.0 {
            return Err(Error::Config(format!(
                "{what}: every weight is 0; give at least one a positive weight (default 30,25,25,15,5)"
            )));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_five_numbers_and_refuses_the_rest_naming_the_variable() {
        let w = Weights::parse_list("SKYNET_SCHEDULER_WEIGHTS", " 1, 2,3 ,4,0 ").expect("parse");
        assert_eq!(w.as_array(), [1.0, 2.0, 3.0, 4.0, 0.0]);
        assert_eq!(w.sum(), 10.0);
        for bad in [
            "1,2,3",
            "1,2,3,4,5,6",
            "a,1,1,1,1",
            "-1,1,1,1,1",
            "0,0,0,0,0",
            "inf,1,1,1,1",
            "",
        ] {
            let e = Weights::parse_list("SKYNET_SCHEDULER_WEIGHTS", bad).expect_err(bad);
            assert!(
                matches!(&e, Error::Config(m) if m.contains("SKYNET_SCHEDULER_WEIGHTS")),
                "{bad}: {e}"
            );
        }
        assert_eq!(Weights::default().as_array(), [30.0, 25.0, 25.0, 15.0, 5.0]);
    }
}
