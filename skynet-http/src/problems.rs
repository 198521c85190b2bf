//! The problem responses routes share, defined once for the OpenAPI
//! document: each set is listed in a route's `responses(...)` by name, and
//! a route's own tuple for the same status (with a description saying
//! why) is listed after it and wins.

use axum::http::StatusCode;
use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// A problem+json response for each status, described by its reason.
fn problem_responses(statuses: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|&status| {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            problem_response(status, reason)
        })
        .collect()
}

/// One problem+json response.
fn problem_response(status: u16, description: &str) -> (String, RefOr<Response>) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content)
        .build();
    (status.to_string(), RefOr::T(response))
}

macro_rules! problem_set {
    ($(#[$doc:meta])* $name:ident: $($status:literal),+) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                problem_responses(&[$($status),+])
            }
        }
    };
}

problem_set!(
    /// Every route behind an API key: no usable key (401), a key without
    /// the scope (403), too many requests (429).
    Keyed: 401, 403, 429
);

problem_set!(
    /// A route with a JSON body: unusable input (400), too large (413),
    /// not JSON (415).
    JsonBody: 400, 413, 415
);

problem_set!(
    /// A route naming a job: a malformed request (400), no such job (404).
    JobPath: 400, 404
);

problem_set!(
    /// A route with query parameters: a bad value (400).
    Query: 400
);

/// A 404 for a route naming a record by id: `$what` is the record's name.
macro_rules! missing_record {
    ($(#[$doc:meta])* $name:ident: $what:literal) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let why = concat!("No ", $what, " with that id the caller may see");
                BTreeMap::from([problem_response(404, why)])
            }
        }
    };
}

missing_record!(
    /// A route naming a schedule the caller may not see or that is gone.
    NoSchedule: "schedule"
);

missing_record!(
    /// A route naming a trigger the caller may not see or that is gone.
    NoTrigger: "trigger"
);

missing_record!(
    /// A route naming a webhook the caller may not see or that is gone.
    NoWebhook: "webhook"
);

missing_record!(
    /// A route naming a webhook delivery the caller may not see.
    NoDelivery: "delivery"
);

missing_record!(
    /// A route naming a memory the caller may not see or that is gone.
    NoMemory: "memory"
);
