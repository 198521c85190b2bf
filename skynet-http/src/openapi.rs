//! The OpenAPI document, generated from the handlers' annotations.

use crate::routes::*;
use crate::schema;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "SKYNET control plane", description = "Plan, judge, approve, queue and watch jobs. Errors are RFC 9457 problem+json with a stable `code`."),
    paths(
        health, metrics, gc, openapi, page,
        submit, list_jobs, get_job, approve, deny, cancel, logs,
        list_artifacts, get_artifact,
        review, retry,
        job_events, global_events,
        plan, report, policy_check, execute, providers_health,
        diagnose,
        store, search, similar, stats, get_memory, forget, forget_matching, pin,
        add_schedule, list_schedules, pause_schedule, resume_schedule, remove_schedule,
        add_trigger, list_triggers, pause_trigger, resume_trigger, remove_trigger,
        initiative_status, pause_initiative, resume_initiative,
        add_webhook, list_webhooks, remove_webhook, test_webhook, list_deliveries, redeliver,
    ),
    components(schemas(
        crate::error::Problem,
        skynet_core::events::SystemEvent, skynet_core::events::EventType,
        schema::Risk, schema::DecisionView, schema::ApprovalView, schema::StepStateView,
        schema::StepView, schema::PlanView, schema::JobView, schema::FailureView, schema::JobPage,
        schema::SubmitBody, schema::ApproveBody, schema::DenyBody,
        review::ReviewBody, skynet_core::ReviewResolution,
        schema::LogLineView, schema::LogsView,
        artifacts::ArtifactsView, skynet_core::store::artifacts::ArtifactRecord,
        schema::PlanBody, schema::PlanAnswer, schema::ApprovalGate,
        schema::ReportBody, schema::StepReport, schema::ReportAnswer,
        schema::PolicyCheckBody, schema::PolicyAnswer, schema::Ignored,
        schema::ExecuteBody, schema::ExecuteAnswer,
        schema::ProvidersHealth, schema::ProviderHealthView, schema::HealthSample,
        schema::HealthAnswer, schema::ComponentHealth,
        schema::DiagnoseBody, schema::ExecutionSpecBody, schema::SpecStepBody,
        schema::DiagnosisView, schema::ProviderScoreView,
        memory::MemoryStoreBody, memory::MemorySearchBody, memory::MemorySimilarBody,
        memory::MemoryView, memory::MemoryHit, skynet_core::memory::ScoreParts, memory::MemoryResults,
        skynet_core::memory::index::IndexReport,
        memory::MemoryStatsView, memory::MemoryForgetBody, memory::MemoryForgotten,
        memory::MemoryPinBody, skynet_core::memory::PastRuns, skynet_core::memory::PlanWarning,
        autonomy::ScheduleBody, skynet_core::schedules::Schedule,
        skynet_core::schedules::MissedTicks, skynet_core::JobOrigin,
        triggers::TriggerBody, skynet_core::triggers::Trigger, skynet_core::triggers::RateLimit,
        skynet_core::engine::InitiativeStatus, skynet_core::store::initiative::InitiativeBudget,
        skynet_core::store::initiative::InitiativeUsage,
        skynet_core::retention::GcReport, skynet_core::retention::GcJobs,
        skynet_core::retention::GcLogs, skynet_core::retention::GcArtifacts,
        skynet_core::retention::GcArtifact, skynet_core::retention::GcFiles,
        skynet_core::retention::GcEvents,
        skynet_core::store::event_log_anchors::EventLogAnchor,
        webhooks::WebhookBody, skynet_core::events::webhooks::Webhook,
        skynet_core::events::webhooks::CreatedWebhook, skynet_core::events::webhooks::Delivery,
        skynet_core::events::webhooks::DeliveryState, skynet_core::events::webhooks::TestOutcome,
    )),
    modifiers(&ApiKeyScheme),
)]
struct ApiDoc;

struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `skynet keys create`: `Authorization: Bearer sk_...`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document as pretty JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
