//! RFC 9457 problem details: one mapping from core [`ErrorKind`] to an HTTP
//! status and a stable `code`, so every route answers errors alike.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use skynet_core::{Decision, Error, ErrorKind, Viewer};
use utoipa::ToSchema;

/// A problem+json body (RFC 9457) with SKYNET's stable `code`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`urn:skynet:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong here and what to do about it.
    pub detail: String,
    /// Stable machine-readable code (`not_found`, `stale_approval`, ...).
    pub code: String,
    /// The policy decision behind a refusal, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::DecisionView>)]
    pub decision: Option<crate::schema::DecisionView>,
}

/// An error a handler returns; renders as problem+json.
#[derive(Debug)]
pub struct ApiError(Box<Parts>);

#[derive(Debug)]
struct Parts {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    decision: Option<Decision>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// A problem with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError(Box::new(Parts {
            status,
            code,
            title: status.canonical_reason().unwrap_or("Error"),
            detail: detail.into(),
            decision: None,
            retry_after: None,
        }))
    }

    /// 401: no usable key.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403: the key lacks a scope.
    pub fn missing_scope(scope: skynet_core::store::keys::Scope) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this API key lacks the `{scope}` scope; ask an admin for a key that has it"),
        )
    }

    /// 429 with the seconds to wait.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests for this API key; retry in {retry_after} s"),
        );
        e.0.retry_after = Some(retry_after);
        e
    }

    /// 429: too many failed authentications from this address.
    pub fn auth_rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "too many failed authentications from this address; retry in {retry_after} s \
                 with a valid API key"
            ),
        );
        e.0.retry_after = Some(retry_after);
        e
    }

    /// 400 for unusable input.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidInput.code(),
            detail,
        )
    }

    /// Attach the policy decision that caused the problem.
    pub fn with_decision(mut self, decision: Decision) -> Self {
        self.0.decision = Some(decision);
        self
    }

    /// Map a core error as `viewer` may read it ([`Error::withheld_for`]).
    /// The one mapping of the API: status by [`ErrorKind`] ([`status_of`]),
    /// `code` = [`ErrorKind::code`], the decision behind a refusal, and a
    /// hint in this API's words.
    pub fn from_core(e: Error, viewer: Viewer) -> Self {
        let kind = e.kind();
        let decision = e.decision().cloned();
        if e.is_internal() {
            tracing::error!(error = %e, source = ?std::error::Error::source(&e), "internal error");
        }
        let detail = match (e.withheld_for(viewer), hint(&e)) {
            (Some(words), _) => words,
            (None, Some(hint)) => format!("{e}; {hint}"),
            (None, None) => e.to_string(),
        };
        let mut api = Self::new(status_of(kind), kind.code(), detail);
        api.0.decision = decision;
        api
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }
}

/// What an API caller does about an error, in this API's words.
fn hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::PlanNeedsApproval { .. } => "submit it to POST /v1/jobs".into(),
        Error::ApprovalRequired(id) => format!(
            "review it with GET /v1/jobs/{id}, then POST /v1/jobs/{id}/approve with the plan_hash you reviewed"
        ),
        Error::StaleApproval { job, .. } => {
            format!("review it again with GET /v1/jobs/{job}")
        }
        Error::UnknownAction { .. } => {
            "POST /v1/policy/check judges a command line sent as `command`".into()
        }
        _ => return None,
    })
}

/// The HTTP status of each core error kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::Planning => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Forbidden | ErrorKind::NotPermitted => StatusCode::FORBIDDEN,
        ErrorKind::ApprovalRequired => StatusCode::FORBIDDEN,
        ErrorKind::StaleApproval => StatusCode::CONFLICT,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::LeaseLost => StatusCode::CONFLICT,
        ErrorKind::Provider => StatusCode::BAD_GATEWAY,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Cancelled => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self::from_core(e, Viewer::Other)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = *self.0;
        let body = Problem {
            kind: format!("urn:skynet:problem:{}", this.code),
            title: this.title.to_string(),
            status: this.status.as_u16(),
            detail: this.detail,
            code: this.code.to_string(),
            decision: this
                .decision
                .as_ref()
                .map(crate::schema::DecisionView::from),
        };
        let mut resp = (this.status, crate::extract::ApiJson(body)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = this.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_admin_reads_no_provider_detail() {
        let failed = || Error::Provider {
            provider: "ssh-prod".into(),
            message: "auth failed for deploy@10.0.0.7".into(),
        };
        let other = ApiError::from_core(failed(), Viewer::Other);
        assert_eq!(other.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            other.0.detail,
            "provider ssh-prod failed; the details need an admin key"
        );
        let admin = ApiError::from_core(failed(), Viewer::Admin);
        assert!(
            admin.0.detail.contains("deploy@10.0.0.7"),
            "{}",
            admin.0.detail
        );
    }
}
