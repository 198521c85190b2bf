//! The S3-compatible artifact store (AWS S3, MinIO, R2 and the like) on
//! the `object_store` crate. Objects live under `PREFIX/objects/ab/<sha256>`,
//! the same addressing as the local store.
//!
//! - **Writing** streams: the first part (`part_size`, default 8 MiB) is
//!   read and hashed; a source that ends within it is one `PUT` straight to
//!   its address. A longer one is a multipart upload to `PREFIX/tmp/<id>`
//!   (at most two parts in flight, so a few parts in memory whatever the
//!   size), completed, then copied server-side to its address and the
//!   temporary object removed. Before the upload starts a marker
//!   `PREFIX/uploads/<id>` names it, so a writer killed mid-upload leaves a
//!   marker that [`ArtifactStore::unfinished_uploads`] lists and
//!   [`ArtifactStore::remove_unfinished_upload`] aborts; nothing appears under
//!   `objects/` until an upload is whole. The server-side copy caps one
//!   object at 5 GiB.
//! - **Reading** streams the object into an unlinked temporary file
//!   (`TMPDIR`) while hashing it, and serves from that file only once the
//!   digest matches the address: a corrupted object fails with
//!   [`Error::ArtifactCorrupt`] before a byte is served, ranges included,
//!   and what is served is exactly what was verified.
//! - **Presigned URLs** ([`ArtifactStore::presign`]) let a client fetch an
//!   object straight from the bucket (SigV4 query signing); those bytes
//!   bypass SKYNET's verification.
//!
//! Credentials never appear in `Debug`, logs or errors.

use super::{
    ArtifactStore, ByteRange, ObjectInfo, ObjectReader, StoredObject, UnfinishedUpload,
    check_address, verify,
};
use crate::error::{ArtifactAccessProblem, BoxError};
use crate::{Error, Result};
use async_trait::async_trait;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as Key;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// The smallest part S3 accepts (all but the last part of an upload).
pub const MIN_PART_SIZE: usize = 5 << 20;
/// The part size unless configured.
pub const DEFAULT_PART_SIZE: usize = 8 << 20;
/// The largest object a server-side copy places (S3's `CopyObject` limit).
pub const MAX_OBJECT_BYTES: u64 = 5 << 30;
/// The longest a presigned URL may live (SigV4's limit: 7 days).
pub const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);
/// Parts uploading at once.
const PARTS_IN_FLIGHT: usize = 2;

/// A credential value: its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Secret(String);

impl S3Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        S3Secret(value.into())
    }
    /// The value itself, for the client that signs with it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for S3Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the bucket is and how to sign for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket (`SKYNET_ARTIFACT_S3_BUCKET`, or the original `S3_BUCKET`).
    pub bucket: String,
    /// Key prefix inside the bucket (`SKYNET_ARTIFACT_S3_PREFIX`; default
    /// none): plain segments of letters, digits, `.`, `_`, `-`.
    pub prefix: String,
    /// The service's URL for S3-compatible servers
    /// (`SKYNET_ARTIFACT_S3_ENDPOINT`, else `AWS_ENDPOINT_URL`; default AWS).
    pub endpoint: Option<String>,
    /// The region (`SKYNET_ARTIFACT_S3_REGION`, else `AWS_REGION`, else
    /// `AWS_DEFAULT_REGION`, else `us-east-1`).
    pub region: String,
    /// Whether a plain `http://` endpoint that is not on loopback is
    /// allowed (`SKYNET_ARTIFACT_S3_ALLOW_HTTP`; loopback always is).
    pub allow_http: bool,
    /// `AWS_ACCESS_KEY_ID` (with the secret; without both, the instance's
    /// credentials are asked for).
    pub access_key_id: Option<String>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<S3Secret>,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<S3Secret>,
    /// Bytes per multipart part (`SKYNET_ARTIFACT_S3_PART_SIZE`, default
    /// 8 MiB, at least 5 MiB).
    pub part_size: usize,
}

impl S3Settings {
    /// Settings for `bucket` with the defaults: no prefix, AWS's endpoint,
    /// `us-east-1`, no static credentials.
    pub fn new(bucket: impl Into<String>) -> Self {
        S3Settings {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint: None,
            region: "us-east-1".into(),
            allow_http: false,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            part_size: DEFAULT_PART_SIZE,
        }
    }
}

/// Artifacts in an S3-compatible bucket.
#[derive(Clone)]
pub struct S3ArtifactStore {
    s3: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    part_size: usize,
}

impl std::fmt::Debug for S3ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3ArtifactStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("part_size", &self.part_size)
            .finish_non_exhaustive()
    }
}

/// Whether plain http to `host` stays on this machine: a literal loopback
/// address, or a name every address of which (as `resolve` finds them) is
/// loopback. A name is never trusted by its spelling: `localhost` may
/// resolve anywhere the resolver says.
fn is_loopback(
    host: &str,
    resolve: impl Fn(&str) -> std::io::Result<Vec<std::net::IpAddr>>,
) -> bool {
    // A URL's host is a literal (IPv6 in brackets; IPv4 already in its
    // dotted form, the URL parser normalises `127.1`) or a name.
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            resolve(host).is_ok_and(|ips| !ips.is_empty() && ips.iter().all(|ip| ip.is_loopback()))
        }
    }
}

/// The system resolver's addresses of `name`.
fn resolve_host(name: &str) -> std::io::Result<Vec<std::net::IpAddr>> {
    use std::net::ToSocketAddrs;
    Ok((name, 0).to_socket_addrs()?.map(|a| a.ip()).collect())
}

/// The prefix without surrounding slashes, checked to be plain segments.
fn clean_prefix(prefix: &str) -> Result<String> {
    let trimmed = prefix.trim_matches('/');
    let plain = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if trimmed.is_empty() || trimmed.split('/').all(plain) {
        Ok(trimmed.to_string())
    } else {
        Err(Error::Config(format!(
            "SKYNET_ARTIFACT_S3_PREFIX: {prefix:?} is not a key prefix; use segments of \
             letters, digits, '.', '_' and '-' separated by '/'"
        )))
    }
}

impl S3ArtifactStore {
    /// A store over `settings`; no request is made until first use.
    pub fn new(settings: S3Settings) -> Result<Self> {
        if settings.bucket.trim().is_empty() {
            return Err(Error::Config(
                "SKYNET_ARTIFACT_S3_BUCKET is empty; name the bucket artifacts go to".into(),
            ));
        }
        let prefix = clean_prefix(&settings.prefix)?;
        if settings.part_size < MIN_PART_SIZE {
            return Err(Error::Config(format!(
                "SKYNET_ARTIFACT_S3_PART_SIZE: {} bytes is under S3's minimum part of 5 MiB",
                settings.part_size
            )));
        }
        let mut allow_http = false;
        if let Some(endpoint) = &settings.endpoint {
            let url = reqwest::Url::parse(endpoint).map_err(|e| {
                Error::Config(format!(
                    "SKYNET_ARTIFACT_S3_ENDPOINT: {endpoint:?} is not a URL ({e})"
                ))
            })?;
            match url.scheme() {
                "https" => {}
                "http"
                    if settings.allow_http
                        || url.host_str().is_some_and(|h| is_loopback(h, resolve_host)) =>
                {
                    allow_http = true;
                }
                "http" => {
                    return Err(Error::Config(format!(
                        "SKYNET_ARTIFACT_S3_ENDPOINT: {endpoint} is plain http:// off loopback \
                         (a host name counts as loopback only if every address it resolves to \
                         is); use https://, a loopback address such as 127.0.0.1, or set \
                         SKYNET_ARTIFACT_S3_ALLOW_HTTP=true"
                    )));
                }
                other => {
                    return Err(Error::Config(format!(
                        "SKYNET_ARTIFACT_S3_ENDPOINT: scheme {other:?} is not http or https"
                    )));
                }
            }
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_allow_http(allow_http)
            // A dead endpoint fails in seconds, not after object_store's
            // default three minutes of retries.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(20),
                ..RetryConfig::default()
            });
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        match (&settings.access_key_id, &settings.secret_access_key) {
            (Some(id), Some(secret)) => {
                builder = builder
                    .with_access_key_id(id)
                    .with_secret_access_key(secret.expose());
                if let Some(token) = &settings.session_token {
                    builder = builder.with_token(token.expose());
                }
            }
            (None, None) => {}
            _ => {
                return Err(Error::Config(
                    "S3 artifact store: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                     or neither (for the instance's credentials)"
                        .into(),
                ));
            }
        }
        let s3 = builder.build().map_err(|e| {
            // object_store's builder errors name keys, never their values.
            Error::Config(format!("S3 artifact store: {e}"))
        })?;
        Ok(S3ArtifactStore {
            s3: Arc::new(s3),
            bucket: settings.bucket,
            prefix,
            endpoint: settings.endpoint,
            part_size: settings.part_size,
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The raw object store, for tests that tamper with stored objects.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.s3.clone()
    }

    fn key(&self, rest: &str) -> Key {
        if self.prefix.is_empty() {
            Key::from(rest)
        } else {
            Key::from(format!("{}/{rest}", self.prefix))
        }
    }

    /// Where the object `sha256` lives.
    pub fn object_key(&self, sha256: &str) -> String {
        self.key(&format!("objects/{}/{sha256}", &sha256[..2]))
            .to_string()
    }

    fn marker_key(&self, upload: &str) -> Key {
        self.key(&format!("uploads/{upload}"))
    }

    fn tmp_key(&self, upload: &str) -> Key {
        self.key(&format!("tmp/{upload}"))
    }

    /// A failure of the service while `doing` something, typed when the
    /// bucket is missing or the credentials are refused.
    fn failure(&self, doing: impl Into<String>, e: object_store::Error) -> Error {
        // Listing errors carry the service's answer in their Debug form
        // only; matched on, never shown.
        let text = format!("{e} {e:?}");
        let problem = match &e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                Some(ArtifactAccessProblem::CredentialsRefused)
            }
            _ if text.contains("NoSuchBucket") => Some(ArtifactAccessProblem::NoSuchBucket {
                bucket: self.bucket.clone(),
            }),
            _ if text.contains("InvalidAccessKeyId") || text.contains("SignatureDoesNotMatch") => {
                Some(ArtifactAccessProblem::CredentialsRefused)
            }
            _ => None,
        };
        match problem {
            Some(problem) => Error::ArtifactAccess {
                doing: doing.into(),
                problem,
                source: Box::new(e) as BoxError,
            },
            None => Error::artifact_storage(doing, e),
        }
    }

    /// Read up to one part from `source` into a fresh buffer; the boolean
    /// says whether the source ended.
    async fn read_part(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<(Vec<u8>, bool)> {
        let mut buf = vec![0u8; self.part_size];
        let mut filled = 0;
        while filled < buf.len() {
            let n = source
                .read(&mut buf[filled..])
                .await
                .map_err(|e| Error::artifact_storage("reading the artifact's bytes", e))?;
            if n == 0 {
                buf.truncate(filled);
                return Ok((buf, true));
            }
            filled += n;
        }
        Ok((buf, false))
    }

    /// The multipart path: everything after the first part, uploaded to
    /// `tmp`, then placed at its address.
    #[allow(clippy::too_many_arguments)]
    async fn upload_rest(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        first: Vec<u8>,
        mut hasher: Sha256,
        cap: u64,
        tmp: &Key,
        upload_id: &str,
    ) -> Result<StoredObject> {
        let mut size = first.len() as u64;
        let mut in_flight = tokio::task::JoinSet::new();
        let mut parts: Vec<(usize, PartId)> = Vec::new();
        let mut index = 0usize;
        let mut next = Some(first);
        while let Some(part) = next.take() {
            let (s3, key, id) = (self.s3.clone(), tmp.clone(), upload_id.to_string());
            let i = index;
            index += 1;
            in_flight.spawn(async move {
                s3.put_part(&key, &id, i, PutPayload::from(part))
                    .await
                    .map(|p| (i, p))
            });
            while in_flight.len() >= PARTS_IN_FLIGHT {
                parts.push(self.joined(in_flight.join_next().await)?);
            }
            let (buf, ended) = self.read_part(source).await?;
            size += buf.len() as u64;
            if size > cap {
                return Err(over_cap(cap));
            }
            hasher.update(&buf);
            if !buf.is_empty() {
                next = Some(buf);
            }
            if ended && next.is_some() {
                // The source ended: its last part goes up now and the
                // loop ends, as nothing is read after it.
                let Some(last) = next.take() else { break };
                let (s3, key, id) = (self.s3.clone(), tmp.clone(), upload_id.to_string());
                let i = index;
                in_flight.spawn(async move {
                    s3.put_part(&key, &id, i, PutPayload::from(last))
                        .await
                        .map(|p| (i, p))
                });
            }
        }
        while !in_flight.is_empty() {
            parts.push(self.joined(in_flight.join_next().await)?);
        }
        parts.sort_by_key(|(i, _)| *i);
        let parts = parts.into_iter().map(|(_, p)| p).collect();
        self.s3
            .complete_multipart(tmp, &upload_id.to_string(), parts)
            .await
            .map_err(|e| self.failure("completing a multipart upload", e))?;
        let sha256 = hex::encode(hasher.finalize());
        let dest = Key::from(self.object_key(&sha256));
        self.s3
            .copy(tmp, &dest)
            .await
            .map_err(|e| self.failure(format!("placing object {sha256}"), e))?;
        Ok(StoredObject { sha256, size })
    }

    fn joined(
        &self,
        joined: Option<
            std::result::Result<object_store::Result<(usize, PartId)>, tokio::task::JoinError>,
        >,
    ) -> Result<(usize, PartId)> {
        match joined {
            Some(Ok(Ok(part))) => Ok(part),
            Some(Ok(Err(e))) => Err(self.failure("uploading a part", e)),
            Some(Err(e)) => Err(Error::artifact_storage("uploading a part", e)),
            None => Err(Error::artifact_storage(
                "uploading a part",
                "no part upload was running",
            )),
        }
    }

    /// Remove the upload `upload`'s pieces (best effort for each): the
    /// multipart upload named in its marker, the temporary object, the
    /// marker. `false` if there was no marker.
    async fn remove_upload(&self, upload: &str) -> Result<bool> {
        let marker = self.marker_key(upload);
        let upload_id = match self.s3.get(&marker).await {
            Ok(found) => found
                .bytes()
                .await
                .map_err(|e| self.failure("reading an upload marker", e))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.failure("reading an upload marker", e)),
        };
        let tmp = self.tmp_key(upload);
        let upload_id = String::from_utf8_lossy(&upload_id).trim().to_string();
        if !upload_id.is_empty() {
            match self.s3.abort_multipart(&tmp, &upload_id).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.failure("aborting a multipart upload", e)),
            }
        }
        self.s3
            .delete(&tmp)
            .await
            .map_err(|e| self.failure("removing a temporary object", e))?;
        self.s3
            .delete(&marker)
            .await
            .map_err(|e| self.failure("removing an upload marker", e))?;
        Ok(true)
    }
}

fn over_cap(cap: u64) -> Error {
    if cap == MAX_OBJECT_BYTES {
        Error::InvalidInput(format!(
            "the artifact is larger than {MAX_OBJECT_BYTES} bytes, the most one S3 object \
             placed by a copy may hold"
        ))
    } else {
        Error::InvalidInput(format!(
            "the artifact is larger than the cap of {cap} bytes"
        ))
    }
}

/// Whether `id` can name an upload (32 lower-case hex digits).
fn check_upload_id(id: &str) -> Result<()> {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{:?} is not an upload id (32 lower-case hex digits)",
            id.chars().take(80).collect::<String>()
        )))
    }
}

#[async_trait]
impl ArtifactStore for S3ArtifactStore {
    fn backend(&self) -> &'static str {
        "s3"
    }

    async fn put(
        &self,
        source: &mut (dyn AsyncRead + Send + Unpin),
        max_bytes: u64,
    ) -> Result<StoredObject> {
        let cap = max_bytes.min(MAX_OBJECT_BYTES);
        let (first, ended) = self.read_part(source).await?;
        if first.len() as u64 > cap {
            return Err(over_cap(cap));
        }
        let mut hasher = Sha256::new();
        hasher.update(&first);
        if ended {
            let sha256 = hex::encode(hasher.finalize());
            let size = first.len() as u64;
            self.s3
                .put(
                    &Key::from(self.object_key(&sha256)),
                    PutPayload::from(first),
                )
                .await
                .map_err(|e| self.failure(format!("storing object {sha256}"), e))?;
            return Ok(StoredObject { sha256, size });
        }
        let upload = uuid::Uuid::now_v7().simple().to_string();
        let marker = self.marker_key(&upload);
        let tmp = self.tmp_key(&upload);
        // The marker first, so a writer killed at any later point leaves
        // something retention finds.
        self.s3
            .put(&marker, PutPayload::default())
            .await
            .map_err(|e| self.failure("starting an upload", e))?;
        let outcome = async {
            let upload_id = self
                .s3
                .create_multipart(&tmp)
                .await
                .map_err(|e| self.failure("starting a multipart upload", e))?;
            self.s3
                .put(&marker, PutPayload::from(upload_id.clone().into_bytes()))
                .await
                .map_err(|e| self.failure("starting an upload", e))?;
            self.upload_rest(source, first, hasher, cap, &tmp, &upload_id)
                .await
        }
        .await;
        if let Err(e) = self.remove_upload(&upload).await {
            tracing::warn!(upload = %upload, "artifact upload left for retention: {e}");
        }
        outcome
    }

    async fn get(&self, sha256: &str, size: u64, range: Option<ByteRange>) -> Result<ObjectReader> {
        check_address(sha256)?;
        let corrupt = |problem: String| verify::corrupt(sha256, problem);
        let found = match self.s3.get(&Key::from(self.object_key(sha256))).await {
            Ok(found) => found,
            Err(e @ object_store::Error::NotFound { .. }) => {
                return match self.failure("reading an object", e) {
                    Error::ArtifactStorage { .. } => Err(corrupt("the object is missing".into())),
                    typed => Err(typed),
                };
            }
            Err(e) => return Err(self.failure(format!("reading object {sha256}"), e)),
        };
        if found.meta.size != size {
            return Err(corrupt(format!(
                "{} bytes where {size} were stored",
                found.meta.size
            )));
        }
        let spool = tokio::task::spawn_blocking(tempfile::tempfile)
            .await
            .map_err(|e| Error::artifact_storage("creating a temporary file", e))?
            .map_err(|e| Error::artifact_storage("creating a temporary file", e))?;
        let mut file = tokio::fs::File::from_std(spool);
        let mut hasher = Sha256::new();
        let mut read = 0u64;
        let mut stream = found.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.failure(format!("reading object {sha256}"), e))?;
            read += chunk.len() as u64;
            if read > size {
                return Err(corrupt(format!("more than the {size} bytes stored")));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| Error::artifact_storage("writing a temporary file", e))?;
        }
        let digest = hex::encode(hasher.finalize());
        verify::check_content(sha256, size, read, &digest)?;
        let range = verify::range_within(range, size)?;
        file.flush()
            .await
            .map_err(|e| Error::artifact_storage("writing a temporary file", e))?;
        file.seek(std::io::SeekFrom::Start(range.start))
            .await
            .map_err(|e| Error::artifact_storage("reading a temporary file", e))?;
        Ok(Box::pin(file.take(range.end - range.start)))
    }

    async fn delete(&self, sha256: &str) -> Result<bool> {
        check_address(sha256)?;
        let key = Key::from(self.object_key(sha256));
        // S3 deletes answer the same whether or not the object was there.
        match self.s3.head(&key).await {
            Ok(_) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.failure(format!("looking up object {sha256}"), e)),
        }
        self.s3
            .delete(&key)
            .await
            .map_err(|e| self.failure(format!("removing object {sha256}"), e))?;
        Ok(true)
    }

    /// Judged by the object's `Last-Modified` (a writer storing the same
    /// bytes again rewrites the object, so it is fresh again), read by a
    /// `HEAD` just before the `DELETE`. The two are not one atomic step:
    /// `object_store` 0.13 has no conditional delete, and S3's own
    /// (`If-Match` on `DeleteObject`) compares ETags, which for one
    /// content-addressed key are the same for every rewrite of the same
    /// bytes, so it could not tell the fresh object from the old one; the
    /// `Last-Modified` condition exists for directory buckets only. What
    /// is left is one round trip between the `HEAD` and the `DELETE` in
    /// which a writer's rewrite would be removed; gc checks again that no
    /// record names the object right before, and the record a writer adds
    /// afterwards reads as a missing object (`ArtifactCorrupt`), never as
    /// other bytes.
    async fn delete_if_stored_before(
        &self,
        sha256: &str,
        not_after: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        check_address(sha256)?;
        let key = Key::from(self.object_key(sha256));
        let meta = match self.s3.head(&key).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(self.failure(format!("looking up object {sha256}"), e)),
        };
        if meta.last_modified > not_after {
            return Ok(false);
        }
        self.s3
            .delete(&key)
            .await
            .map_err(|e| self.failure(format!("removing object {sha256}"), e))?;
        Ok(true)
    }

    async fn objects(&self) -> Result<Vec<ObjectInfo>> {
        let root = self.key("objects");
        let mut listing = self.s3.list(Some(&root));
        let mut found = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.failure("listing objects", e))?;
            let Some(name) = meta.location.filename() else {
                continue;
            };
            if check_address(name).is_err() {
                continue;
            }
            found.push(ObjectInfo {
                sha256: name.to_string(),
                size: meta.size,
                stored_at: meta.last_modified,
            });
        }
        found.sort_by(|a, b| a.sha256.cmp(&b.sha256));
        Ok(found)
    }

    async fn unfinished_uploads(&self) -> Result<Vec<UnfinishedUpload>> {
        let root = self.key("uploads");
        let mut listing = self.s3.list(Some(&root));
        let mut found = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| self.failure("listing uploads", e))?;
            let Some(name) = meta.location.filename() else {
                continue;
            };
            if check_upload_id(name).is_ok() {
                // The marker holds the upload id, not its bytes: the
                // parts' size is unknown without listing them.
                found.push(UnfinishedUpload {
                    name: name.to_string(),
                    size: 0,
                    written_at: meta.last_modified,
                });
            }
        }
        found.sort_by(|a, b| a.written_at.cmp(&b.written_at).then(a.name.cmp(&b.name)));
        Ok(found)
    }

    async fn remove_unfinished_upload(&self, name: &str) -> Result<bool> {
        check_upload_id(name)?;
        self.remove_upload(name).await
    }

    async fn presign(&self, sha256: &str, expires_in: Duration) -> Result<Option<String>> {
        check_address(sha256)?;
        if expires_in.is_zero() || expires_in > MAX_PRESIGN {
            return Err(Error::InvalidInput(format!(
                "a presigned URL lives between 1 second and 7 days, not {}",
                humantime::format_duration(expires_in)
            )));
        }
        let url = self
            .s3
            .signed_url(
                reqwest::Method::GET,
                &Key::from(self.object_key(sha256)),
                expires_in,
            )
            .await
            .map_err(|e| self.failure(format!("presigning object {sha256}"), e))?;
        Ok(Some(url.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_plain_segments() {
        assert_eq!(clean_prefix("/a/b-c/").ok().as_deref(), Some("a/b-c"));
        assert_eq!(clean_prefix("").ok().as_deref(), Some(""));
        for bad in ["a/../b", "a//b", "a b", "./x"] {
            assert!(clean_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let mut s = S3Settings::new("b");
        s.access_key_id = Some("AKIDEXAMPLE".into());
        s.secret_access_key = Some(S3Secret::new("wJalrXUtnFEMI-very-secret"));
        s.session_token = Some(S3Secret::new("session-token-value"));
        let shown = format!("{s:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("token-value"));
        let store = S3ArtifactStore::new(s).map_err(|e| e.to_string());
        let shown = format!("{store:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("token-value"));
    }

    #[test]
    fn loopback_is_a_literal_address_or_a_name_resolving_only_to_loopback() {
        let host = |text: &str| text.to_string();
        let never = |_: &str| -> std::io::Result<Vec<std::net::IpAddr>> {
            panic!("a literal address is not resolved")
        };
        for ok in ["127.0.0.1", "127.8.9.10", "[::1]"] {
            assert!(is_loopback(&host(ok), never), "{ok}");
        }
        for not in ["10.0.0.1", "0.0.0.0", "[::]", "[::ffff:10.0.0.1]"] {
            assert!(!is_loopback(&host(not), never), "{not}");
        }
        let ips = |list: &[&str]| -> std::io::Result<Vec<std::net::IpAddr>> {
            Ok(list.iter().map(|a| a.parse().expect("ip")).collect())
        };
        let name = "localhost".to_string();
        assert!(is_loopback(&name, |_| ips(&["127.0.0.1", "::1"])));
        // The name's spelling earns nothing: one address off loopback,
        // none at all, or a failed lookup, and it is not loopback.
        assert!(!is_loopback(&name, |_| ips(&["127.0.0.1", "192.0.2.7"])));
        assert!(!is_loopback(&name, |_| ips(&[])));
        assert!(!is_loopback(&name, |_| Err(std::io::Error::other(
            "no DNS"
        ))));
        // The system resolver, for real: `localhost` here is loopback,
        // a name under `.invalid` never resolves.
        assert!(is_loopback(&name, resolve_host));
        assert!(!is_loopback(&host("s3.example.invalid"), resolve_host));
    }

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        let mut s = S3Settings::new("b");
        s.endpoint = Some("http://127.0.0.1:9000".into());
        assert!(S3ArtifactStore::new(s.clone()).is_ok());
        s.endpoint = Some("http://localhost:9000".into());
        assert!(
            S3ArtifactStore::new(s.clone()).is_ok(),
            "localhost resolves to loopback here"
        );
        for off in ["http://s3.internal.invalid:9000", "http://192.0.2.7:9000"] {
            s.endpoint = Some(off.into());
            let e = S3ArtifactStore::new(s.clone()).err().map(|e| e.to_string());
            assert!(
                e.as_ref()
                    .is_some_and(|e| e.contains("SKYNET_ARTIFACT_S3_ALLOW_HTTP")),
                "{off}: {e:?}"
            );
        }
        s.allow_http = true;
        assert!(S3ArtifactStore::new(s).is_ok());
    }
}
