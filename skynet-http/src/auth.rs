//! Who is calling: API keys (scopes, constant-time check in core), the
//! per-key rate limit, and the insecure no-auth mode for local development.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use skynet_core::Principal;
use skynet_core::store::keys::{self, Grant, Scope, SharedKeyStore};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a verified key is trusted without asking the store again: a
/// revocation takes effect within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
/// Verified keys remembered at most (the cache is emptied when full).
const KEY_CACHE_MAX: usize = 4096;

/// A verified key: who it is, its rate-limit bucket, when it was checked.
type Verified = (Caller, Arc<str>, Instant);

/// Recently verified keys, by a SHA-256 of the presented key text, so a
/// busy client does not cost a store read per request.
#[derive(Default)]
pub(crate) struct KeyCache {
    entries: Mutex<HashMap<[u8; 32], Verified>>,
}

impl KeyCache {
    fn get(&self, digest: &[u8; 32]) -> Option<(Caller, Arc<str>)> {
        let entries = self.entries.lock().ok()?;
        let (caller, bucket, at) = entries.get(digest)?;
        (at.elapsed() < KEY_CACHE_TTL).then(|| (caller.clone(), bucket.clone()))
    }

    fn put(&self, digest: [u8; 32], caller: &Caller, bucket: &Arc<str>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= KEY_CACHE_MAX {
                entries.clear();
            }
            entries.insert(digest, (caller.clone(), bucket.clone(), Instant::now()));
        }
    }
}

/// How callers authenticate.
#[derive(Clone)]
pub enum Auth {
    /// Every route but `/v1/health` needs a live key from this store.
    Keys(SharedKeyStore),
    /// No keys: every caller is an anonymous admin. For local development
    /// only; `skynet serve --insecure-no-auth` binds loopback only.
    InsecureNoAuth,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Keys(_) => f.write_str("Auth::Keys"),
            Auth::InsecureNoAuth => f.write_str("Auth::InsecureNoAuth"),
        }
    }
}

/// An authenticated caller (cheap to clone: the key cache hands out
/// copies).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Whom the key acts for and what it may do; its `actor` names it for
    /// audit (`http:<key name>/<key id>`).
    grant: Arc<Grant>,
}

impl Caller {
    /// The caller's grant, for [`skynet_core::Skynet::acting_as`].
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// Who, for audit.
    pub fn actor(&self) -> &str {
        &self.grant.actor
    }

    /// Whether the caller holds `scope` (`admin` holds all).
    pub fn allows(&self, scope: Scope) -> bool {
        self.grant.allows(scope)
    }

    /// 403 unless the caller holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(ApiError::missing_scope(scope))
        }
    }

    /// Whether unredacted internals may be shown.
    pub fn is_admin(&self) -> bool {
        self.allows(Scope::Admin)
    }
}

/// Per-key token buckets.
pub(crate) struct Limiter {
    buckets: DefaultKeyedRateLimiter<Arc<str>>,
}

impl Limiter {
    pub(crate) fn new(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Limiter {
            buckets: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// `Err(seconds to wait)` when `key` is over its rate.
    fn check(&self, key: &Arc<str>) -> Result<(), u64> {
        self.buckets.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// Failed authentications per peer address: past [`FailedAuth::limit`]
/// failures in one window, the address's key checks are refused with 429
/// before the store is asked, until the window ends. Requests carrying a
/// recently verified key (the key cache) never come here, so a client with
/// a good key is not slowed by the bookkeeping.
pub(crate) struct FailedAuth {
    limit: u32,
    window: Duration,
    by_addr: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Addresses remembered at most (expired windows are dropped first).
const FAILED_AUTH_MAX_ADDRS: usize = 65_536;

impl FailedAuth {
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        FailedAuth {
            limit: limit.max(1),
            window,
            by_addr: Mutex::default(),
        }
    }

    /// `Err(seconds to wait)` when `ip` has failed too often this window.
    fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Ok(map) = self.by_addr.lock() else {
            return Ok(());
        };
        match map.get(&ip) {
            Some((start, n)) if *n >= self.limit && start.elapsed() < self.window => {
                let left = self.window.saturating_sub(start.elapsed());
                Err(left.as_secs() + u64::from(left.subsec_nanos() > 0))
            }
            _ => Ok(()),
        }
    }

    /// Count one failure from `ip`.
    fn failed(&self, ip: IpAddr) {
        let Ok(mut map) = self.by_addr.lock() else {
            return;
        };
        if map.len() >= FAILED_AUTH_MAX_ADDRS {
            let window = self.window;
            map.retain(|_, (start, _)| start.elapsed() < window);
            if map.len() >= FAILED_AUTH_MAX_ADDRS {
                map.clear();
            }
        }
        let entry = map.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// The key a request presents: `Authorization: Bearer KEY` or `X-Api-Key: KEY`.
fn presented_key(parts: &Parts) -> Option<&str> {
    if let Some(v) = parts.headers.get(AUTHORIZATION) {
        let v = v.to_str().ok()?;
        let (scheme, token) = v.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then_some(token.trim());
    }
    parts.headers.get("x-api-key")?.to_str().ok().map(str::trim)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (caller, bucket) = match &state.config.auth {
            Auth::InsecureNoAuth => (
                Caller {
                    grant: Arc::new(Grant {
                        principal: Principal::local(),
                        scopes: vec![Scope::Admin],
                        actor: "http:anonymous".into(),
                    }),
                },
                Arc::from("anonymous"),
            ),
            Auth::Keys(store) => {
                let Some(presented) = presented_key(parts) else {
                    return Err(ApiError::unauthorized(
                        "this route needs an API key: send `Authorization: Bearer sk_...` \
                         (create one with `skynet keys create NAME --scopes read`)",
                    ));
                };
                let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
                match state.key_cache.get(&digest) {
                    Some(hit) => hit,
                    None => {
                        // In-process callers (tests, embedders) have no
                        // address and no failure limit.
                        let peer = parts
                            .extensions
                            .get::<ConnectInfo<SocketAddr>>()
                            .map(|c| c.0.ip());
                        if let Some(ip) = peer
                            && let Err(wait) = state.failed_auth.check(ip)
                        {
                            state.metrics.rate_limited();
                            return Err(ApiError::auth_rate_limited(wait.max(1)));
                        }
                        let key = keys::verify(store.as_ref(), presented)
                            .await
                            .map_err(|e| ApiError::from_core(e, skynet_core::Viewer::Other))?;
                        let Some(key) = key else {
                            if let Some(ip) = peer {
                                state.failed_auth.failed(ip);
                            }
                            return Err(ApiError::unauthorized(
                                "the API key is unknown, wrong or revoked; list keys with \
                                 `skynet keys list`",
                            ));
                        };
                        let actor = format!("http:{}/{}", key.name, key.id);
                        let caller = Caller {
                            grant: Arc::new(Grant::of_key(&key, actor)),
                        };
                        let bucket: Arc<str> = key.id.into();
                        state.key_cache.put(digest, &caller, &bucket);
                        (caller, bucket)
                    }
                }
            }
        };
        if let Err(wait) = state.limiter.check(&bucket) {
            state.metrics.rate_limited();
            return Err(ApiError::rate_limited(wait.max(1)));
        }
        Ok(caller)
    }
}
