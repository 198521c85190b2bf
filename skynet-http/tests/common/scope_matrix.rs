//! Every route with every scope: a key holding one scope alone either
//! gets the route's answer or a 403 `insufficient_scope`.

use super::{Resp, TestApp};
use axum::http::StatusCode;
use serde_json::Value;
use skynet_core::store::keys::{ALL_SCOPES, Scope};

/// The scopes that may read (`read:all` and `admin` hold `read`).
const READERS: &[Scope] = &[Scope::Read, Scope::ReadAll, Scope::Admin];
/// The scopes that may submit (`admin` holds `submit`).
const SUBMITTERS: &[Scope] = &[Scope::Submit, Scope::Admin];
/// Only `admin`.
const ADMINS: &[Scope] = &[Scope::Admin];

/// One request of a scope matrix, who may make it and what they get.
pub struct Scoped {
    pub method: &'static str,
    pub uri: String,
    pub body: Option<Value>,
    /// Each of these scopes alone may make the request.
    pub allowed: &'static [Scope],
    /// The status an allowed key gets (200 unless [`Scoped::answers`] says).
    pub ok: StatusCode,
}

/// A request `read`, `read:all` and `admin` may make.
pub fn readers(method: &'static str, uri: impl Into<String>) -> Scoped {
    Scoped::new(method, uri.into(), READERS)
}

/// A request `submit` and `admin` may make.
pub fn submitters(method: &'static str, uri: impl Into<String>) -> Scoped {
    Scoped::new(method, uri.into(), SUBMITTERS)
}

/// A request only `admin` may make.
pub fn admins(method: &'static str, uri: impl Into<String>) -> Scoped {
    Scoped::new(method, uri.into(), ADMINS)
}

impl Scoped {
    fn new(method: &'static str, uri: String, allowed: &'static [Scope]) -> Self {
        Scoped {
            method,
            uri,
            body: None,
            allowed,
            ok: StatusCode::OK,
        }
    }

    /// With this JSON body.
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// An allowed key gets `ok`.
    pub fn answers(mut self, ok: StatusCode) -> Self {
        self.ok = ok;
        self
    }
}

impl TestApp {
    /// For each scope in `ALL_SCOPES` order (`admin` last), a new key of
    /// `principal` holding only that scope makes every request `calls`
    /// lists for it: an allowed key gets the request's `ok` status, any
    /// other a 403 `insufficient_scope`. `check` sees every answer.
    pub async fn scope_matrix(
        &self,
        principal: &str,
        calls: impl Fn(Scope) -> Vec<Scoped>,
        check: impl Fn(&Scoped, &Resp),
    ) {
        for scope in ALL_SCOPES {
            let key = self.key(&[scope], Some(principal)).await;
            for call in calls(scope) {
                let r = self
                    .call(call.method, &call.uri, Some(&key), call.body.clone())
                    .await;
                let (method, uri) = (call.method, &call.uri);
                if call.allowed.contains(&scope) {
                    assert_eq!(r.status, call.ok, "{scope} {method} {uri}: {}", r.text);
                } else {
                    assert_eq!(
                        r.status,
                        StatusCode::FORBIDDEN,
                        "{scope} {method} {uri}: {}",
                        r.text
                    );
                    assert_eq!(r.code(), "insufficient_scope", "{scope} {method} {uri}");
                }
                check(&call, &r);
            }
        }
    }
}
