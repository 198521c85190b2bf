//! The remote execution agent (`skynet agent`): the gateway protocol
//! ([`skynet_core::provider::gateway::protocol`]) over HTTP(S), in front of
//! an [`AgentJobs`] table that runs steps with the sandboxed local
//! provider inside the agent's root.
//!
//! Every route needs `Authorization: Bearer <token>`; the token is
//! compared in constant time and never logged.

mod tls;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use skynet_core::provider::gateway::agent::AgentJobs;
use skynet_core::provider::gateway::protocol::{
    AgentHealth, ExecuteRequest, OutputsAnswer, OutputsRequest, StatusAnswer,
};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
pub use tls::{TlsListener, tls_listener};
use tokio::io::AsyncReadExt;

/// Largest `/execute` body (stdin travels in it).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
struct AgentState {
    jobs: AgentJobs,
    /// SHA-256 of the token: comparing digests keeps the comparison
    /// constant-time whatever the presented token's length.
    token_digest: Arc<[u8; 32]>,
}

impl crate::extract::BodyLimit for AgentState {
    fn max_body_bytes(&self) -> usize {
        MAX_BODY_BYTES
    }
}

/// The agent's routes over `jobs`, guarded by `token`.
pub fn router(jobs: AgentJobs, token: &str) -> Router {
    let state = AgentState {
        jobs,
        token_digest: Arc::new(Sha256::digest(token.as_bytes()).into()),
    };
    Router::new()
        .route("/execute", post(execute))
        .route("/status/{job_id}", get(status))
        .route("/cancel/{job_id}", post(cancel))
        .route("/health", get(health))
        .route("/outputs/{job_id}", post(outputs))
        .route("/outputs/{job_id}/file", get(output_file))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Serve `app` over plain HTTP until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::serve(listener, app, shutdown).await
}

/// Serve `app` over TLS until `shutdown` resolves.
pub async fn serve_tls(
    listener: TlsListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::serve::serve_connections(listener, app, crate::serve::Timeouts::default(), shutdown)
        .await
}

async fn require_token(State(state): State<AgentState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented else {
        return ApiError::unauthorized("send the agent's token as `Authorization: Bearer <token>`")
            .into_response();
    };
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    if !bool::from(digest.ct_eq(&*state.token_digest)) {
        return ApiError::unauthorized("the token is not this agent's token").into_response();
    }
    next.run(req).await
}

async fn execute(
    State(state): State<AgentState>,
    ApiJson(req): ApiJson<ExecuteRequest>,
) -> Result<(StatusCode, Json<StatusAnswer>), ApiError> {
    let answer = state.jobs.submit(req)?;
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// `GET /status/{job_id}` parameters.
#[derive(Debug, Deserialize)]
struct StatusQuery {
    #[serde(default)]
    offset: u64,
    #[serde(default)]
    wait_ms: u64,
}

async fn status(
    State(state): State<AgentState>,
    ApiPath(job_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Result<Json<StatusAnswer>, ApiError> {
    state
        .jobs
        .status(&job_id, q.offset, Duration::from_millis(q.wait_ms))
        .await
        .map(Json)
        .ok_or_else(|| unknown(&job_id))
}

async fn cancel(
    State(state): State<AgentState>,
    ApiPath(job_id): ApiPath<String>,
) -> Result<Json<StatusAnswer>, ApiError> {
    state
        .jobs
        .cancel(&job_id)
        .map(Json)
        .ok_or_else(|| unknown(&job_id))
}

async fn health(State(state): State<AgentState>) -> Json<AgentHealth> {
    Json(state.jobs.health().await)
}

/// `POST /outputs/{job_id}`: which files of the agent's root a finished
/// job's declared patterns match (the confined search of local
/// collection), with their sizes and SHA-256.
async fn outputs(
    State(state): State<AgentState>,
    ApiPath(job_id): ApiPath<String>,
    ApiJson(req): ApiJson<OutputsRequest>,
) -> Result<Json<OutputsAnswer>, ApiError> {
    state
        .jobs
        .outputs(&job_id, req)
        .await?
        .map(Json)
        .ok_or_else(|| unknown(&job_id))
}

/// `GET /outputs/{job_id}/file` parameters.
#[derive(Debug, Deserialize)]
struct OutputFileQuery {
    /// The file, relative to the agent's root, exactly as listed.
    name: String,
    /// Refused when the file is larger.
    max_bytes: u64,
}

/// `GET /outputs/{job_id}/file?name=N&max_bytes=M`: one output's bytes,
/// opened again under the same rules as the listing.
async fn output_file(
    State(state): State<AgentState>,
    ApiPath(job_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<OutputFileQuery>,
) -> Result<Response, ApiError> {
    let (file, size) = state
        .jobs
        .open_output(&job_id, &q.name, q.max_bytes)
        .await?
        .ok_or_else(|| unknown(&job_id))?;
    let reader = tokio::fs::File::from_std(file).take(size);
    let body = axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(reader));
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/octet-stream".to_string(),
            ),
            (axum::http::header::CONTENT_LENGTH, size.to_string()),
        ],
        body,
    )
        .into_response())
}

fn unknown(job_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "this agent knows no job {job_id:?}: it never ran here, finished long ago, or the \
             agent restarted since"
        ),
    )
}
