//! The `api_keys` table.

use super::SqliteStore;
use crate::store::codec::{KEY_COLUMNS, db, key_from_row, micros};
use crate::store::keys::{ApiKey, KeyStore};
use crate::{Error, Result};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &ApiKey) -> Result<()> {
        let scopes = key
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let done = sqlx::query(
            "INSERT INTO api_keys (id, name, scopes, secret_hash, created_at, revoked_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(scopes)
        .bind(&key.secret_hash)
        .bind(micros(key.created_at))
        .bind(key.revoked_at.map(micros))
        .execute(&self.write)
        .await
        .map_err(db("storing an API key"))?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict(format!("API key id {} exists", key.id)));
        }
        Ok(())
    }

    async fn get_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(db("reading an API key"))?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.read)
            .await
            .map_err(db("listing API keys"))?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_key(&self, id: &str, at: DateTime<Utc>) -> Result<ApiKey> {
        sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
            .bind(micros(at))
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db("revoking an API key"))?;
        self.get_key(id).await?.ok_or_else(|| {
            Error::InvalidInput(format!(
                "no API key {id:?}; list them with `skynet keys list`"
            ))
        })
    }
}
