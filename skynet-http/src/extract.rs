//! Extractors whose rejections are problem+json like every other error,
//! and the JSON answer every handler gives.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON body: extracted like `axum::Json` but with problem+json
/// rejections; answered like `axum::Json`, serialized into one buffer.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// `Content-Type: application/json` exactly, the usual case, recognised
/// without parsing a media type (which allocates).
fn plain_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"application/json"))
}

/// The largest body a state's routes accept (the `DefaultBodyLimit` of
/// its router), for the early check of a declared `Content-Length`.
pub(crate) trait BodyLimit {
    /// Largest request body in bytes.
    fn max_body_bytes(&self) -> usize;
}

impl BodyLimit for crate::AppState {
    fn max_body_bytes(&self) -> usize {
        self.config.max_body_bytes
    }
}

/// 413 at once for a declared `Content-Length` over `limit`: waiting for
/// a body that may never come (or reading a gigabyte to refuse it) would
/// hold the connection for nothing. A header read, nothing allocated.
fn declared_too_large(headers: &HeaderMap, limit: usize) -> Option<ApiError> {
    let len: u64 = headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    (len > limit as u64).then(|| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body declares {len} bytes; the limit is {limit}"),
        )
    })
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync + BodyLimit,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(e) = declared_too_large(req.headers(), state.max_body_bytes()) {
            return Err(e);
        }
        if !plain_json(req.headers()) {
            // Parameters, `+json` types, wrong or missing types: axum's
            // own check decides. Boxed, as is the body read below: kept
            // inline, these futures would make every JSON route's request
            // future too large for the allocator's per-thread cache.
            let axum::Json(value) = Box::pin(axum::Json::<T>::from_request(req, state)).await?;
            return Ok(ApiJson(value));
        }
        let bytes = Box::pin(Bytes::from_request(req, state))
            .await
            .map_err(JsonRejection::from)?;
        // A plain parse first: axum's tracks the path of every key for its
        // error message, which costs allocations; only a body that fails
        // is parsed again by axum for that message.
        if let Ok(value) = serde_json::from_slice(&bytes) {
            return Ok(ApiJson(value));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(ApiJson(value))
    }
}

/// A JSON body that may be left out: no body (no `Content-Type`, nothing
/// sent) is `T::default()`; a body is read as [`ApiJson`] reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync + BodyLimit,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if req.headers().contains_key(header::CONTENT_TYPE) {
            let ApiJson(value) = Box::pin(ApiJson::<T>::from_request(req, state)).await?;
            return Ok(OptionalJson(value));
        }
        if let Some(e) = declared_too_large(req.headers(), state.max_body_bytes()) {
            return Err(e);
        }
        let bytes = Box::pin(Bytes::from_request(req, state))
            .await
            .map_err(JsonRejection::from)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body has no Content-Type: send it as application/json, or send no body",
        ))
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        // A `Vec` writer is much cheaper per token than `axum::Json`'s
        // `BytesMut` writer; most answers fit the first buffer.
        let mut buf = Vec::with_capacity(256);
        match serde_json::to_writer(&mut buf, &self.0) {
            Ok(()) => {
                let mut resp = Response::new(Body::from(buf));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                resp
            }
            // Like every other error: problem+json with core's code.
            Err(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the answer could not be written as JSON: {e}"),
            )
            .into_response(),
        }
    }
}

/// `axum::extract::Query` with problem+json rejections.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path` with problem+json rejections.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            "unsupported_media_type"
        } else {
            "invalid_input"
        };
        // Malformed and mistyped bodies are both the caller's input.
        let status = if status.is_client_error() && code == "invalid_input" {
            StatusCode::BAD_REQUEST
        } else {
            status
        };
        ApiError::new(status, code, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose serialization fails.
    struct Unwritable;

    impl Serialize for Unwritable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("not today"))
        }
    }

    #[test]
    fn an_answer_that_cannot_be_serialized_is_a_problem_json_500() {
        let resp = ApiJson(Unwritable).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            resp.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
    }
}
