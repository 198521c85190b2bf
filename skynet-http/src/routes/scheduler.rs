//! The scheduler's explanation: where work would run, and why.

use super::core_err;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::problems::{JsonBody, Keyed};
use crate::schema::{DiagnoseBody, DiagnosisView};
use axum::extract::State;
use skynet_core::scheduler::Diagnosis;
use skynet_core::store::keys::Scope;

/// Score every candidate provider for the given steps (or a stored job's
/// plan) and name the one the scheduler would choose. Parameters a step's
/// action does not take are listed in `ignored_params`. Nothing runs.
#[utoipa::path(post, path = "/v1/scheduler/diagnose", tag = "scheduler", request_body = DiagnoseBody,
    responses(
        (status = 200, body = DiagnosisView),
        Keyed, JsonBody,
        (status = 400, description = "Unknown action, bad parameters or an unregistered fallback", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No job with that job_id", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "No candidate is eligible and healthy and there is no usable fallback (the detail says why, provider by provider)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = [])))]
pub(crate) async fn diagnose(
    caller: Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<DiagnoseBody>,
) -> ApiResult<ApiJson<Diagnosis>> {
    caller.require(Scope::Read)?;
    let spec = body.spec().map_err(ApiError::bad_request)?;
    let diagnosis = state
        .sk
        .diagnose(&spec, body.fallback.as_deref())
        .await
        .map_err(core_err(&caller))?;
    Ok(ApiJson(diagnosis))
}
