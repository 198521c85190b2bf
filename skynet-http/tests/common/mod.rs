//! A router over a real ledger (a SQLite file, or a fresh PostgreSQL
//! database), keys for every scope, and a helper that sends one request
//! in-process (`oneshot`, no server).
//!
//! Every suite is written once as `async fn case(db: Db)` and instantiated
//! per backend with [`on_every_backend!`]: `sqlite::case` always runs,
//! `postgres::case` runs against `SKYNET_TEST_POSTGRES_URL` (and says it
//! skipped without it).
#![allow(dead_code)]

#[path = "../../../skynet-core/tests/service/mod.rs"]
mod service;

mod scope_matrix;
// Each suite includes this module and uses only some of it.
#[allow(unused_imports)]
pub use scope_matrix::{Scoped, admins, readers, submitters};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use skynet_core::store::keys::{self, Scope, SharedKeyStore};
use skynet_core::{EngineConfig, Skynet};
use skynet_http::{Auth, HttpConfig};
use tower::ServiceExt;

/// Expand into `sqlite::$case` and `postgres::$case` tests, each calling
/// the suite's `async fn $case(db: Db)` on a multi-threaded runtime. A case
/// missing from the list is dead code, which the lints refuse.
macro_rules! on_every_backend {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case($crate::common::Db::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(db) = $crate::common::Db::postgres() else { return };
                    super::$case(db).await;
                }
            )+
        }
    };
}

/// The ledger a test runs on.
#[derive(Debug, Clone)]
pub enum Db {
    /// A SQLite file in the test's temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server this URL names.
    Postgres(String),
}

impl Db {
    /// PostgreSQL from `SKYNET_TEST_POSTGRES_URL`, or `None` (after saying
    /// the test skipped).
    pub fn postgres() -> Option<Db> {
        service::service_var("postgres", "SKYNET_TEST_POSTGRES_URL").map(Db::Postgres)
    }

    /// The store's backend name, as `/v1/health` shows it.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// A fresh, empty ledger URL for a test whose files live in `dir`.
    async fn fresh_url(&self, dir: &std::path::Path) -> String {
        match self {
            Db::Sqlite => format!("sqlite://{}", dir.join("skynet.db").display()),
            Db::Postgres(server) => {
                skynet_core::store::postgres::create_scratch_database(server, "skynet_t")
                    .await
                    .expect("create a test database")
            }
        }
    }
}

pub struct TestApp {
    pub db: Db,
    /// The ledger's URL (a secret-free test URL).
    pub url: String,
    pub sk: Skynet,
    pub app: Router,
    pub keys: SharedKeyStore,
    pub config: HttpConfig,
    pub dir: tempfile::TempDir,
    pub read: String,
    pub submit: String,
    pub approve: String,
    pub admin: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).expect("a JSON body")
    }
    /// The problem's stable code (asserts it is problem+json).
    pub fn code(&self) -> String {
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "errors are problem+json: {}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], self.status.as_u16(), "status in the body");
        body["code"].as_str().expect("a code").to_string()
    }
}

impl TestApp {
    pub async fn new(db: Db) -> Self {
        Self::with(db, |_| {}).await
    }

    /// An app on `db` whose `HttpConfig` `tweak` may change.
    pub async fn with(db: Db, tweak: impl FnOnce(&mut HttpConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("hello.txt"), "hello from a file\n").expect("write");
        std::fs::write(
            dir.path().join("creds.txt"),
            "password=hunter2\nkey AKIAIOSFODNN7EXAMPLE\n-----BEGIN OPENSSH PRIVATE KEY-----\n\
             b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n\
             -----END OPENSSH PRIVATE KEY-----\nthe end\n",
        )
        .expect("write");
        let url = db.fresh_url(dir.path()).await;
        let sk = Skynet::builder()
            .database_url(&url)
            .config(EngineConfig::default())
            .artifact_store(std::sync::Arc::new(
                skynet_core::artifact::LocalArtifactStore::new(dir.path().join(".artifacts")),
            ))
            .build()
            .await
            .expect("engine");
        let keys: SharedKeyStore = sk.store().clone();
        let mut tokens = Vec::new();
        // Each key is its own principal. The read and approve keys see
        // every principal's jobs (`read:all`), as a dashboard and a
        // reviewer would; the submit key sees nothing (it has no `read`).
        let fixture = [
            ("read", vec![Scope::ReadAll]),
            ("submit", vec![Scope::Submit]),
            ("approve", vec![Scope::Approve, Scope::ReadAll]),
            ("admin", vec![Scope::Admin]),
        ];
        for (name, scopes) in fixture {
            let (_, token) = keys::create(keys.as_ref(), name, &scopes, None)
                .await
                .expect("create key");
            tokens.push(token);
        }
        let mut config = HttpConfig::new(Auth::Keys(keys.clone()), dir.path());
        config.rate_per_second = 10_000;
        config.rate_burst = 10_000;
        tweak(&mut config);
        let app = skynet_http::router(sk.clone(), config.clone());
        let [read, submit, approve, admin] = tokens.try_into().expect("four keys");
        TestApp {
            db,
            url,
            sk,
            app,
            keys,
            config,
            dir,
            read,
            submit,
            approve,
            admin,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.call_with(method, uri, key, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        call_on(
            self.app.clone(),
            method,
            uri,
            key.map(str::to_string),
            body,
            headers,
        )
        .await
    }

    /// `GET uri` with the `read` key.
    pub async fn get_read(&self, uri: &str) -> Resp {
        self.call("GET", uri, Some(&self.read), None).await
    }

    /// `POST /v1/plan` with the `read` key.
    pub async fn plan(&self, body: Value) -> Resp {
        self.call("POST", "/v1/plan", Some(&self.read), Some(body))
            .await
    }

    /// Submit `intent` as the submit key; returns the job JSON.
    pub async fn submit_job(&self, intent: &str) -> Value {
        let r = self
            .call(
                "POST",
                "/v1/jobs",
                Some(&self.submit),
                Some(serde_json::json!({ "intent": intent })),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        r.json()
    }

    /// Submit `intent` and run it to its end with one worker pass; returns
    /// the job's id.
    pub async fn submit_and_run(&self, intent: &str) -> String {
        let id = self.submit_job(intent).await["id"]
            .as_str()
            .expect("id")
            .to_string();
        self.run_once().await;
        id
    }

    /// One `--once` worker pass that finishes exactly one job.
    pub async fn run_once(&self) {
        let report = self
            .sk
            .worker(
                skynet_core::WorkerOptions {
                    once: true,
                    ..Default::default()
                },
                tokio_util::sync::CancellationToken::new(),
            )
            .await
            .expect("worker");
        assert_eq!(report.jobs_finished, 1);
    }

    /// Everything the ledger holds, to prove a refused request changed nothing.
    pub async fn ledger_snapshot(&self) -> Vec<(String, String, usize)> {
        let jobs = self
            .sk
            .list(&skynet_core::store::JobFilter {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .expect("list");
        let mut out = Vec::new();
        for j in jobs {
            let events = self.sk.events(&j.id).await.expect("events").len();
            out.push((j.id.to_string(), j.status.to_string(), events));
        }
        out
    }
}

/// Send one request to `app` in-process (owned arguments, so it can be
/// spawned on another thread).
pub async fn call_on(
    app: Router,
    method: &str,
    uri: &str,
    key: Option<String>,
    body: Option<Value>,
    headers: Vec<(String, String)>,
) -> Resp {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(uri);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    for (n, v) in headers {
        req = req.header(n, v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let resp = app.oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// `app` served on a loopback TCP port until `t.config.shutdown` is
/// cancelled, and a client that calls it over that connection.
pub struct Tcp {
    pub base: String,
    pub addr: std::net::SocketAddr,
    client: reqwest::Client,
}

impl TestApp {
    /// Serve this app on 127.0.0.1 (a real server: accept loop, HTTP/1).
    pub async fn serve_tcp(&self) -> Tcp {
        self.serve_tcp_with(skynet_http::serve::Timeouts::default())
            .await
    }

    /// [`TestApp::serve_tcp`] with these connection deadlines.
    pub async fn serve_tcp_with(&self, timeouts: skynet_http::serve::Timeouts) -> Tcp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = self.config.shutdown.clone();
        tokio::spawn(skynet_http::serve_with(
            listener,
            self.app.clone(),
            skynet_http::conn::ConnLimits::default(),
            timeouts,
            async move { stop.cancelled().await },
        ));
        Tcp {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    /// The served OpenAPI document, after checking it lists every path.
    pub async fn openapi_listing(&self, paths: &[&str]) -> Value {
        let doc = self
            .call("GET", "/openapi.json", Some(&self.admin), None)
            .await
            .json();
        for path in paths {
            assert!(doc["paths"][path].is_object(), "{path} missing");
        }
        doc
    }

    /// Each request, made with the admin key, is a 404.
    pub async fn admin_gets_not_found(&self, requests: &[(&str, &str)]) {
        for (method, uri) in requests {
            let r = self.call(method, uri, Some(&self.admin), None).await;
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{method} {uri}: {}",
                r.text
            );
        }
    }

    /// A new key with these scopes acting for `principal` (its own when `None`).
    pub async fn key(&self, scopes: &[Scope], principal: Option<&str>) -> String {
        let principal = principal.map(|p| p.parse().expect("principal"));
        let (_, token) = keys::create(self.keys.as_ref(), "extra", scopes, principal)
            .await
            .expect("create key");
        token
    }
}

impl Tcp {
    /// One request over TCP, answered as a [`Resp`].
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("response");
        let status = StatusCode::from_u16(resp.status().as_u16()).expect("status");
        let mut headers = HeaderMap::new();
        for (n, v) in resp.headers() {
            if let (Ok(n), Ok(v)) = (
                axum::http::HeaderName::from_bytes(n.as_str().as_bytes()),
                axum::http::HeaderValue::from_bytes(v.as_bytes()),
            ) {
                headers.insert(n, v);
            }
        }
        Resp {
            status,
            headers,
            text: resp.text().await.expect("body"),
        }
    }
}
