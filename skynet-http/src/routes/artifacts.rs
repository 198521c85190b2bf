//! A job's artifacts: the list, and one artifact's bytes streamed with a
//! strong `ETag` (its SHA-256) and single byte ranges (RFC 9110 §14):
//! `Range` with `bytes=a-b`, `a-` or `-n`; an unsatisfiable one is 416 with
//! `Content-Range: bytes */SIZE`; `If-None-Match` naming the ETag is 304;
//! `If-Range` that does not match sends the whole artifact; a range set of
//! several ranges, or one not in bytes, is ignored (the whole artifact).
//! `?presign=1` answers instead with a presigned URL that reads the bytes
//! straight from the artifact store (S3; `expires` seconds, default 900),
//! as JSON; a store without such URLs (local) is a 400.

use super::{core_err, job_id};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::problems::{JobPath, Keyed};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use skynet_core::artifact::ByteRange;
use skynet_core::store::artifacts::ArtifactRecord;
use skynet_core::store::keys::Scope;
use utoipa::{IntoParams, ToSchema};

/// `GET .../artifacts/{name}` query.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArtifactQuery {
    /// `1` or `true`: answer with a presigned URL (JSON) instead of the
    /// bytes, when the artifact store has such URLs (S3).
    pub presign: Option<String>,
    /// How long the presigned URL works, in seconds (1 to 604800; default
    /// 900).
    pub expires: Option<u64>,
}

/// A job's artifacts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArtifactsView {
    /// By name.
    pub artifacts: Vec<ArtifactRecord>,
}

/// The artifacts a job's steps kept.
#[utoipa::path(get, path = "/v1/jobs/{id}/artifacts", tag = "jobs",
    params(("id" = String, Path, description = "Job id")),
    responses(
        (status = 200, body = ArtifactsView),
        Keyed, JobPath,
    ),
    security(("api_key" = [])))]
pub(crate) async fn list_artifacts(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<ArtifactsView>> {
    caller.require(Scope::Read)?;
    let id = job_id(&id)?;
    let artifacts = state.act(&caller, async |a| a.artifacts(&id).await).await?;
    Ok(ApiJson(ArtifactsView { artifacts }))
}

/// One artifact's bytes, checked against its SHA-256 before they are sent.
#[utoipa::path(get, path = "/v1/jobs/{id}/artifacts/{name}", tag = "jobs",
    params(
        ("id" = String, Path, description = "Job id"),
        ("name" = String, Path, description = "The artifact's name (its path in the root; slashes allowed)"),
        ("Range" = Option<String>, Header, description = "One byte range: `bytes=0-99`, `bytes=100-`, `bytes=-100`"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag already held: 304 if unchanged"),
        ("If-Range" = Option<String>, Header, description = "Send the range only if the ETag still matches"),
        ArtifactQuery,
    ),
    responses(
        (status = 200, description = "The whole artifact; with `presign=1`, JSON instead: `{url, expires_at, sha256, size}` (a URL that reads the bytes from the store until `expires_at`)", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range (`Content-Range` says which)", content_type = "application/octet-stream"),
        (status = 304, description = "Unchanged (`If-None-Match` named its ETag)"),
        (status = 416, description = "The range is outside the artifact (`Content-Range: bytes */SIZE`)"),
        Keyed, JobPath,
    ),
    security(("api_key" = [])))]
pub(crate) async fn get_artifact(
    caller: Caller,
    State(state): State<AppState>,
    ApiPath((id, name)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<ArtifactQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require(Scope::Read)?;
    let acting = state.acting(&caller);
    let job = job_id(&id)?;
    if let Some(flag) = query.presign.as_deref() {
        let wanted = match flag {
            "1" | "true" => true,
            "0" | "false" => false,
            other => {
                return Err(core_err(&caller)(skynet_core::Error::InvalidInput(
                    format!("presign={other:?}: use 1 or true"),
                )));
            }
        };
        if wanted {
            let expires = std::time::Duration::from_secs(query.expires.unwrap_or(900));
            let presigned = acting
                .presign_artifact(&job, &name, expires)
                .await
                .map_err(core_err(&caller))?;
            let mut r = ApiJson(presigned).into_response();
            // The URL is a credential: no cache keeps it.
            set(&mut r, header::CACHE_CONTROL, "no-store");
            return Ok(r);
        }
    }
    let record = acting
        .artifact(&job, &name)
        .await
        .map_err(core_err(&caller))?;
    let etag = format!("\"{}\"", record.sha256);
    if let Some(tags) = header_text(&headers, header::IF_NONE_MATCH)
        && etag_listed(tags, &record.sha256)
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        set(&mut r, header::ETAG, &etag);
        return Ok(r);
    }
    let if_range_ok = header_text(&headers, header::IF_RANGE).is_none_or(|t| t.trim() == etag);
    let range = match header_text(&headers, header::RANGE).filter(|_| if_range_ok) {
        Some(text) => match parse_range(text, record.size) {
            RangeAsk::Whole => None,
            RangeAsk::Part(r) => Some(r),
            RangeAsk::Unsatisfiable => {
                let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                set(
                    &mut r,
                    header::CONTENT_RANGE,
                    &format!("bytes */{}", record.size),
                );
                set(&mut r, header::ETAG, &etag);
                return Ok(r);
            }
        },
        None => None,
    };
    let (record, reader) = acting
        .open_artifact(&job, &name, range)
        .await
        .map_err(core_err(&caller))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
    let mut r = body.into_response();
    let length = match range {
        Some(part) => {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(
                &mut r,
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{}", part.start, part.end - 1, record.size),
            );
            part.end - part.start
        }
        None => record.size,
    };
    set(&mut r, header::CONTENT_LENGTH, &length.to_string());
    set(&mut r, header::CONTENT_TYPE, &record.content_type);
    set(&mut r, header::ETAG, &etag);
    set(&mut r, header::ACCEPT_RANGES, "bytes");
    // A step's file is never rendered as a page of this origin.
    set(&mut r, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut r, header::CONTENT_SECURITY_POLICY, "sandbox");
    set(
        &mut r,
        header::CONTENT_DISPOSITION,
        &format!("attachment; filename=\"{}\"", download_name(&record.name)),
    );
    Ok(r)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn set(r: &mut Response, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// The file name offered for download: the name's last part, with
/// anything but letters, digits, `.`, `-` and `_` replaced.
fn download_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or("artifact");
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.is_empty() {
        "artifact".into()
    } else {
        clean
    }
}

/// Whether an `If-None-Match` list names this ETag (weak comparison, as
/// RFC 9110 §13.1.2 asks), or is `*`.
fn etag_listed(list: &str, sha256: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == sha256)
}

/// What a `Range` header asks of an artifact of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeAsk {
    /// Ignored (not bytes, several ranges, malformed): send it all.
    Whole,
    /// One satisfiable range.
    Part(ByteRange),
    /// No byte of it is inside the artifact.
    Unsatisfiable,
}

fn parse_range(text: &str, size: u64) -> RangeAsk {
    let text = text.trim();
    let Some(unit_end) = text.find('=') else {
        return RangeAsk::Whole;
    };
    if !text[..unit_end].trim().eq_ignore_ascii_case("bytes") {
        return RangeAsk::Whole;
    }
    let spec = text[unit_end + 1..].trim();
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAsk::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // `-n`: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                RangeAsk::Unsatisfiable
            } else {
                RangeAsk::Part(ByteRange {
                    start: size.saturating_sub(n),
                    end: size,
                })
            }
        }
        (false, Some(start), end) if last.trim().is_empty() || end.is_some() => {
            if end.is_some_and(|e| e < start) {
                return RangeAsk::Whole;
            }
            if start >= size {
                return RangeAsk::Unsatisfiable;
            }
            let end = end.map_or(size, |e| e.saturating_add(1).min(size));
            RangeAsk::Part(ByteRange { start, end })
        }
        _ => RangeAsk::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> RangeAsk {
        RangeAsk::Part(ByteRange { start, end })
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), part(0, 10));
        assert_eq!(
            parse_range("bytes=90-200", 100),
            part(90, 100),
            "end clamped"
        );
        assert_eq!(parse_range("bytes=50-", 100), part(50, 100));
        assert_eq!(parse_range("bytes=-10", 100), part(90, 100));
        assert_eq!(parse_range("bytes=-500", 100), part(0, 100));
        assert_eq!(parse_range("bytes=100-", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), RangeAsk::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAsk::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=9-1", 100), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=x-1", 100), RangeAsk::Whole);
        assert_eq!(parse_range("bytes=+1-2", 100), RangeAsk::Whole);
    }

    #[test]
    fn etags_compare_weakly_for_if_none_match() {
        let sha = "ab".repeat(32);
        assert!(etag_listed(&format!("\"{sha}\""), &sha));
        assert!(etag_listed(&format!("\"x\", W/\"{sha}\""), &sha));
        assert!(etag_listed("*", &sha));
        assert!(!etag_listed("\"other\"", &sha));
    }

    #[test]
    fn download_names_are_plain() {
        assert_eq!(download_name("reports/a b\".xml"), "a_b_.xml");
        assert_eq!(download_name("target/release/app"), "app");
    }
}
