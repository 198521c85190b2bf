//! Placing a job on a provider at submit, and `diagnose`: the engine's
//! side of [`crate::scheduler`].

use super::Skynet;
use crate::job::JobId;
use crate::plan::Plan;
use crate::risk::RiskLevel;
use crate::scheduler::{Diagnosis, ExecutionSpec, Scheduler, required_capabilities, required_of};
use crate::{Error, Result};

/// Where a submitted job goes, and the scores behind it when there was a
/// choice to make.
pub(crate) struct Placement {
    /// The provider recorded on the job.
    pub provider: String,
    /// Set when the scheduler chose among several candidates.
    pub explanation: Option<Diagnosis>,
}

impl Skynet {
    /// The provider scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    /// The provider jobs run on when no candidates are configured.
    pub fn default_provider(&self) -> &str {
        &self.inner.default_provider
    }

    /// Which provider would run `spec`, with every candidate's scores:
    /// the spec's steps (catalog actions with their parameters), or with
    /// no steps the plan of the job `spec.job_id` names; parameters a step's
    /// action does not take are listed in [`Diagnosis::ignored_params`].
    /// With no candidate
    /// eligible and healthy, `fallback` (a registered provider) is taken
    /// if it can run the work; otherwise [`Error::NoEligibleProvider`].
    pub async fn diagnose(
        &self,
        spec: &ExecutionSpec,
        fallback: Option<&str>,
    ) -> Result<Diagnosis> {
        let mut ignored = Vec::new();
        let (required, risk) = if !spec.steps.is_empty() {
            let built = spec.actions()?;
            ignored = built.ignored;
            if spec.job_id.is_some() {
                ignored.insert(
                    0,
                    crate::action::Ignored {
                        field: "job_id".into(),
                        reason: "the steps are given, so no job's plan is read".into(),
                    },
                );
            }
            let risk = built
                .value
                .iter()
                .map(|a| a.base_risk())
                .max()
                .unwrap_or(RiskLevel::ReadOnly);
            (required_of(&built.value), risk)
        } else if let Some(id) = &spec.job_id {
            let job = self.get(&JobId::parse(id)?).await?;
            let Some(plan) = &job.plan else {
                return Err(Error::InvalidInput(format!(
                    "job {id} has no plan to place; give the steps instead"
                )));
            };
            (required_capabilities(plan), plan.risk)
        } else {
            return Err(Error::InvalidInput(
                "the execution spec has no steps: list them as {\"action\": \"git_status\", \"params\": {}}, or give a job_id"
                    .into(),
            ));
        };
        let mut diagnosis = self
            .inner
            .scheduler
            .diagnose(
                &self.inner.providers,
                &self.inner.store,
                required,
                risk,
                fallback,
            )
            .await?;
        diagnosis.ignored_params = ignored;
        Ok(diagnosis)
    }

    /// The provider for a judged plan (see [`Skynet::choose_provider`]),
    /// refused with [`Error::Forbidden`] (rule `provider.settings`) when
    /// that provider will not run one of its steps as configured (a local
    /// step that needs the host profile while it is off): said now, so
    /// nobody approves a plan that cannot run.
    pub(crate) async fn place(&self, plan: &Plan, requested: Option<&str>) -> Result<Placement> {
        let placed = self.choose_provider(plan, requested).await?;
        let Some(provider) = self.inner.providers.get(&placed.provider) else {
            return Ok(placed);
        };
        let refused: Vec<String> = plan
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let why = provider.refuses(&s.action, &s.command, s.risk)?;
                Some(format!("{}: {why}", super::judge::step_label(i, s)))
            })
            .collect();
        if refused.is_empty() {
            return Ok(placed);
        }
        Err(Error::Forbidden {
            decision: Box::new(crate::policy::Decision {
                risk: plan.risk,
                verdict: crate::policy::Verdict::Forbid,
                reasons: refused,
                rule: Some("provider.settings".into()),
            }),
        })
    }

    /// The provider for a judged plan: the requested one if it can run
    /// every step, else the only candidate, else the scheduler's pick.
    async fn choose_provider(&self, plan: &Plan, requested: Option<&str>) -> Result<Placement> {
        let sched = &self.inner.scheduler;
        let required = required_capabilities(plan);
        let requested = requested.map(crate::provider::canonical_name);
        let only = match (requested, sched.candidates()) {
            (Some(name), _) => Some(name),
            (None, [one]) => Some(one.as_str()),
            (None, _) => None,
        };
        if let Some(name) = only {
            if !self.inner.providers.contains_key(name) {
                return Err(self.unregistered_provider(name));
            }
            let missing = sched.matrix().missing(name, &required);
            if !missing.is_empty() {
                let capable = sched.matrix().capable_of(&required);
                let msg = format!(
                    "provider {name} cannot run {} (it runs: {}); providers that can run this plan: {}",
                    missing.join(", "),
                    sched.matrix().actions(name).join(", "),
                    if capable.is_empty() {
                        "none".to_string()
                    } else {
                        capable.join(", ")
                    }
                );
                return Err(match requested {
                    Some(_) => Error::InvalidInput(msg),
                    None => Error::NoEligibleProvider(msg),
                });
            }
            return Ok(Placement {
                provider: name.to_string(),
                explanation: None,
            });
        }
        let why = sched
            .diagnose(
                &self.inner.providers,
                &self.inner.store,
                required,
                plan.risk,
                None,
            )
            .await?;
        Ok(Placement {
            provider: why.selected_provider.clone(),
            explanation: Some(why),
        })
    }

    /// Keep the scheduler's reasons with the job, as a `provider_selected`
    /// event. The job is already stored, so a failure here is logged, not
    /// returned: the submit did happen.
    pub(crate) async fn record_placement(&self, id: &JobId, why: &Diagnosis) {
        let data = match serde_json::to_value(why) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(job = %id, "could not encode the provider choice: {e}");
                return;
            }
        };
        if let Err(e) = self
            .inner
            .store
            .append_event(id, "provider_selected", data)
            .await
        {
            tracing::warn!(job = %id, "could not record the provider choice: {e}");
        }
    }
}
