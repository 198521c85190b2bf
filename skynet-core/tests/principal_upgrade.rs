//! Upgrading a ledger written before principals existed (SQLite): every
//! existing API key becomes its own principal, old jobs belong to the local
//! operator and keep their idempotency keys, now scoped to that principal.

#![cfg(feature = "sqlite")]

use skynet_core::store::keys;
use skynet_core::store::{JobFilter, connect};
use skynet_core::{JobId, Principal};
use sqlx::migrate::Migrator;
use std::path::Path;

/// The migrations that existed before principals, applied as they were.
async fn old_ledger(dir: &Path) -> String {
    let old = dir.join("old-migrations");
    std::fs::create_dir(&old).expect("mkdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    for entry in std::fs::read_dir(&src).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        if name.starts_with("000") {
            std::fs::copy(&path, old.join(&name)).expect("copy");
        }
    }
    let url = format!("sqlite://{}?mode=rwc", dir.join("old.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
    Migrator::new(old.as_path())
        .await
        .expect("migrator")
        .run(&pool)
        .await
        .expect("old migrations");
    sqlx::query(
        "INSERT INTO api_keys (id, name, scopes, secret_hash, created_at) \
         VALUES ('0a1b2c3d4e5f', 'ci', 'read,submit', ?, 0)",
    )
    .bind(hex_of(b"secret"))
    .execute(&pool)
    .await
    .expect("old key");
    sqlx::query(
        "INSERT INTO jobs (id, intent, status, risk, root, provider, max_attempts, run_at, \
         created_at, source, idempotency_key) \
         VALUES (?, 'list the files', 'denied', 'READ_ONLY', '/tmp', 'local', 3, 0, 0, 'http', \
         'deploy-1')",
    )
    .bind(JobId::new().to_string())
    .execute(&pool)
    .await
    .expect("old job");
    pool.close().await;
    format!("sqlite://{}", dir.join("old.db").display())
}

fn hex_of(secret: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret))
}

#[tokio::test]
async fn an_old_ledger_upgrades_to_principals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = old_ledger(dir.path()).await;
    let store = connect(&url).await.expect("upgrade");
    let key = store
        .get_key("0a1b2c3d4e5f")
        .await
        .expect("get")
        .expect("key");
    assert_eq!(key.principal.as_str(), "key:0a1b2c3d4e5f");
    let verified = keys::verify(store.as_ref(), "sk_0a1b2c3d4e5f_secret")
        .await
        .expect("verify")
        .expect("the old key still works");
    assert_eq!(verified.principal, key.principal);

    let jobs = store.list_jobs(&JobFilter::default()).await.expect("list");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].principal, Principal::local());
    assert_eq!(jobs[0].idempotency_key.as_deref(), Some("deploy-1"));
    // The old key is now the local operator's: another principal may use it.
    let mut other = jobs[0].clone();
    other.id = JobId::new();
    other.status = skynet_core::JobStatus::Created;
    other.principal = Principal::new("alice").expect("principal");
    let (_, created) = store.insert_job(&other).await.expect("insert");
    assert!(created);
    let mut same = other.clone();
    same.id = JobId::new();
    same.principal = Principal::local();
    let (existing, created) = store.insert_job(&same).await.expect("insert");
    assert!(!created);
    assert_eq!(existing.id, jobs[0].id);
}
