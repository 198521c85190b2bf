//! `/docs`: this API as a page to read (Swagger UI over the OpenAPI
//! document), its assets compiled into the binary: no CDN, nothing
//! fetched at run time. It needs what `/openapi.json` needs (a `read`
//! key), so a browser is asked for the key by HTTP Basic authentication:
//! any user name, the key as the password. The page reads the document
//! from `/docs/openapi.json`, under the same path, where the browser sends
//! the same credentials.

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::problems::Keyed;
use axum::extract::{FromRequestParts, Path};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use skynet_core::store::keys::Scope;
use std::sync::{Arc, LazyLock};
use utoipa_swagger_ui::Config;

/// The page's settings: the document next to it; no validator badge
/// (Swagger UI would fetch one from the internet).
static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
    Arc::new(
        Config::new(["openapi.json"])
            .validator_url("none")
            .try_it_out_enabled(true)
            .display_request_duration(true),
    )
});

/// A caller that may read the docs: a `read` key, as a bearer token or
/// as the password of HTTP Basic authentication.
pub(crate) struct DocsReader;

impl FromRequestParts<AppState> for DocsReader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        if let Some(key) = basic_password(parts)
            && let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {key}"))
        {
            parts.headers.insert(AUTHORIZATION, bearer);
        }
        let caller = Caller::from_request_parts(parts, state)
            .await
            .map_err(challenge)?;
        caller.require(Scope::Read).map_err(challenge)?;
        Ok(DocsReader)
    }
}

/// The password of `Authorization: Basic ...`, if that is what was sent.
fn basic_password(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_string())
}

/// The refusal, asking a browser for the key when there was none (or a
/// wrong one).
fn challenge(e: ApiError) -> Response {
    let mut resp = e.into_response();
    if resp.status() == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Basic realm=\"SKYNET API docs: the password is an API key\", charset=\"UTF-8\"",
            ),
        );
    }
    resp
}

/// This API as a page to read.
#[utoipa::path(get, path = "/docs/", tag = "operations",
    responses(
        (status = 200, description = "The API as an HTML page (Swagger UI; its assets are in the server)", content_type = "text/html", body = String),
        Keyed,
    ),
    security(("api_key" = [])))]
pub(crate) async fn page(reader: DocsReader) -> Response {
    file(reader, Path(String::new())).await
}

/// `/docs` without its slash: the page's relative links need it.
pub(crate) async fn bare() -> Redirect {
    Redirect::permanent("/docs/")
}

/// A file of the page, or the OpenAPI document it shows.
pub(crate) async fn file(_: DocsReader, Path(rest): Path<String>) -> Response {
    if rest == "openapi.json" {
        let mut resp = crate::openapi_json().into_response();
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return resp;
    }
    match utoipa_swagger_ui::serve(&rest, CONFIG.clone()) {
        Ok(Some(f)) => {
            let mut resp = f.bytes.into_owned().into_response();
            if let Ok(kind) = HeaderValue::from_str(&f.content_type) {
                resp.headers_mut().insert(CONTENT_TYPE, kind);
            }
            resp.headers_mut().insert(
                CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            );
            resp
        }
        Ok(None) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such file of the API docs; open /docs/",
        )
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "serving the API docs");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the API docs could not be served; the server log has the details",
            )
            .into_response()
        }
    }
}
