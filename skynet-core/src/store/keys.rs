//! API keys for front-ends that need callers to authenticate (the HTTP
//! control plane): scopes, creation, verification and the small storage
//! trait the store implements (on the ledger's own table and pool).
//!
//! A key reads `sk_<id>_<secret>`. The `id` is public and names the key in
//! lists and logs; only a SHA-256 of the `secret` is stored, and a presented
//! secret is compared with it in constant time. Secrets are 256 random bits,
//! so a fast hash is enough: there is nothing to brute-force.

use crate::principal::{Principal, Visibility};
use crate::store::codec::{db, key_from_row, micros};
use crate::store::dialect::{Affected, Dialect};
use crate::store::ledger::Ledger;
use crate::store::sql::query;
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What a key may do. Without `read:all` or `admin`, a key sees, approves
/// and reports on its own principal's jobs only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Read its principal's jobs, logs, events and plans; policy decisions.
    #[serde(rename = "read")]
    Read,
    /// Read every principal's jobs (with `read`'s routes).
    #[serde(rename = "read:all")]
    ReadAll,
    /// Submit jobs, report on its own, execute read-only plans.
    #[serde(rename = "submit")]
    Submit,
    /// Approve, deny and cancel jobs it can see (with separation of duties
    /// on, not its own principal's).
    #[serde(rename = "approve")]
    Approve,
    /// Report on any job (a remote agent or gateway relaying results).
    #[serde(rename = "gateway")]
    Gateway,
    /// Everything, including every principal's jobs, the `mock` provider and
    /// unredacted provider errors.
    #[serde(rename = "admin")]
    Admin,
}

/// Every scope, weakest first.
pub const ALL_SCOPES: [Scope; 6] = [
    Scope::Read,
    Scope::ReadAll,
    Scope::Submit,
    Scope::Approve,
    Scope::Gateway,
    Scope::Admin,
];

impl Scope {
    /// Stable string form.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::ReadAll => "read:all",
            Scope::Submit => "submit",
            Scope::Approve => "approve",
            Scope::Gateway => "gateway",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ALL_SCOPES
            .into_iter()
            .find(|sc| sc.as_str() == s.trim())
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown scope {s:?}; one of: {}",
                    ALL_SCOPES.map(Scope::as_str).join(", ")
                ))
            })
    }
}

const NO_SCOPE: &str = "give at least one scope: read, read:all, submit, approve, gateway or admin";

/// Parse `read,submit` into scopes (sorted, without duplicates).
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>> {
    let mut scopes = list
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Scope::from_str)
        .collect::<Result<Vec<_>>>()?;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(Error::InvalidInput(NO_SCOPE.into()));
    }
    Ok(scopes)
}

/// A stored key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public id (the part after `sk_`).
    pub id: String,
    /// A human label.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// Hex SHA-256 of the secret.
    #[serde(skip_serializing)]
    pub secret_hash: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Revoked (a revoked key authenticates nothing).
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whom it acts for: its jobs belong to this principal.
    pub principal: Principal,
}

impl ApiKey {
    /// Whether the key grants `scope` (`admin` grants every scope).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
}

/// A verified key as the engine sees it: whom it acts for and what it may
/// do. Front-ends build one per request and call
/// [`Skynet::acting_as`](crate::Skynet::acting_as).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The principal the caller acts for.
    pub principal: Principal,
    /// The scopes held.
    pub scopes: Vec<Scope>,
    /// A label for the audit trail (`http:ci/0a1b2c3d4e5f`).
    pub actor: String,
}

impl Grant {
    /// The grant of `key`, with `actor` for the audit trail.
    pub fn of_key(key: &ApiKey, actor: impl Into<String>) -> Self {
        Grant {
            principal: key.principal.clone(),
            scopes: key.scopes.clone(),
            actor: actor.into(),
        }
    }

    /// Whether `scope` is held (`admin` holds every scope, `read:all` holds `read`).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin)
            || self.scopes.contains(&scope)
            || (scope == Scope::Read && self.scopes.contains(&Scope::ReadAll))
    }

    /// Whose jobs the caller may see.
    pub fn visibility(&self) -> Visibility {
        if self.allows(Scope::ReadAll) {
            Visibility::All
        } else {
            Visibility::Own(self.principal.clone())
        }
    }
}

/// Storage for API keys. Small on purpose: generation and verification
/// live in this module, once, for every backend.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Store a new key ([`Error::Conflict`] if its id exists).
    async fn insert_key(&self, key: &ApiKey) -> Result<()>;
    /// The key with this id, revoked or not.
    async fn get_key(&self, id: &str) -> Result<Option<ApiKey>>;
    /// Every key, oldest first.
    async fn list_keys(&self) -> Result<Vec<ApiKey>>;
    /// Mark a key revoked (idempotent; [`Error::InvalidInput`] if unknown).
    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<ApiKey>;
}

/// A shared key store handle: every [`SharedStore`](crate::store::SharedStore)
/// is one (`let keys: SharedKeyStore = store.clone();`), on the store's own
/// pool.
pub type SharedKeyStore = Arc<dyn KeyStore>;

const PREFIX: &str = "sk_";

fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Create and store a key acting for `principal` (default: its own,
/// `key:<id>`); returns it and the full key text, which is shown once and
/// never stored.
pub async fn create(
    store: &dyn KeyStore,
    name: &str,
    scopes: &[Scope],
    principal: Option<Principal>,
) -> Result<(ApiKey, String)> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::InvalidInput(
            "give the key a name, e.g. `ci` or `dashboard`".into(),
        ));
    }
    if scopes.is_empty() {
        return Err(Error::InvalidInput(NO_SCOPE.into()));
    }
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut id);
    rand::thread_rng().fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let principal = match principal {
        Some(p) => p,
        None => Principal::of_key(&id)?,
    };
    let key = ApiKey {
        principal,
        id: id.clone(),
        name: name.to_string(),
        scopes,
        secret_hash: hash_secret(&secret),
        created_at: crate::store::chain::truncate_to_micros(Utc::now()),
        revoked_at: None,
    };
    store.insert_key(&key).await?;
    Ok((key, format!("{PREFIX}{id}_{secret}")))
}

/// The live key that `presented` is, or `None` (malformed, unknown, wrong
/// secret, revoked). The secret's hash is compared in constant time.
pub async fn verify(store: &dyn KeyStore, presented: &str) -> Result<Option<ApiKey>> {
    let Some((id, secret)) = presented
        .trim()
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('_'))
    else {
        return Ok(None);
    };
    let Some(key) = store.get_key(id).await? else {
        return Ok(None);
    };
    let matches: bool = hash_secret(secret)
        .as_bytes()
        .ct_eq(key.secret_hash.as_bytes())
        .into();
    Ok((matches && key.revoked_at.is_none()).then_some(key))
}

#[async_trait]
impl<D: Dialect> KeyStore for Ledger<D> {
    async fn insert_key(&self, key: &ApiKey) -> Result<()> {
        let scopes = key
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let done = query::<D>(
            "INSERT INTO api_keys (id, name, scopes, secret_hash, created_at, revoked_at, \
             principal) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(scopes)
        .bind(&key.secret_hash)
        .bind(micros(key.created_at))
        .bind(key.revoked_at.map(micros))
        .bind(key.principal.as_str())
        .execute(&self.write)
        .await
        .map_err(db("storing an API key"))?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict(format!("API key id {} exists", key.id)));
        }
        Ok(())
    }

    async fn get_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let row = query::<D>(&D::sql().key)
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(db("reading an API key"))?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let rows = query::<D>(&D::sql().keys)
            .fetch_all(&self.read)
            .await
            .map_err(db("listing API keys"))?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<ApiKey> {
        query::<D>("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(micros(at))
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db("revoking an API key"))?;
        self.get_key(id).await?.ok_or_else(|| {
            Error::InvalidInput(format!("no API key {id:?}; list the keys to find the id"))
        })
    }
}
