//! # skynet-http
//!
//! The SKYNET HTTP control plane: [`router`] builds an axum [`Router`] over
//! a [`Skynet`] engine. Handlers are short: they authenticate the caller,
//! call one core method and render its result; errors are RFC 9457
//! problem+json with a stable `code` per core error kind.
//!
//! ```no_run
//! # async fn demo() -> skynet_core::Result<()> {
//! use skynet_http::{Auth, HttpConfig};
//! let sk = skynet_core::Skynet::builder().database_url("sqlite://skynet.db").build().await?;
//! let keys = sk.store().clone(); // the ledger keeps the API keys
//! let app = skynet_http::router(sk, HttpConfig::new(Auth::Keys(keys), "."));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! skynet_http::serve(listener, app, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod agent;
mod auth;
pub mod conn;
mod cors;
mod error;
mod extract;
mod metrics;
mod openapi;
mod problems;
mod request_id;
mod routes;
pub mod schema;
pub mod serve;

pub use auth::{Auth, Caller, KEY_CACHE_TTL};
pub use error::{ApiError, Problem, status_of};
pub use metrics::Metrics;
pub use openapi::openapi_json;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use request_id::X_REQUEST_ID;
use skynet_core::Skynet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// How callers authenticate.
    pub auth: Auth,
    /// Jobs' sandbox roots must lie inside this directory; a request's
    /// relative root is taken inside it (default root: this directory).
    pub root: PathBuf,
    /// Sustained requests per second per key (default 50).
    pub rate_per_second: u32,
    /// Burst per key (default 100).
    pub rate_burst: u32,
    /// Largest request body in bytes (default 64 KiB).
    pub max_body_bytes: usize,
    /// Ends SSE streams (and anything long-lived) on shutdown, so a
    /// graceful shutdown does not wait on them forever.
    pub shutdown: CancellationToken,
    /// How often an idle SSE stream looks for events written by other
    /// processes (default 500 ms; events of this process wake it at once).
    pub sse_poll: Duration,
    /// SSE keep-alive comment interval (default 15 s).
    pub sse_keep_alive: Duration,
    /// Failed authentications allowed from one address per
    /// `failed_auth_window` before its key checks get 429 (default 20).
    pub failed_auth_limit: u32,
    /// The window failed authentications are counted in (default 60 s).
    pub failed_auth_window: Duration,
    /// Separation of duties (default on): a key cannot approve a job its
    /// own principal submitted unless it holds `admin`.
    pub separation_of_duties: bool,
    /// Browser origins allowed to call across origins (CORS): exact
    /// `scheme://host[:port]` origins, or `*` alone for any. Empty (the
    /// default): no CORS headers, so browsers refuse cross-origin calls.
    pub cors_origins: Vec<String>,
}

impl HttpConfig {
    /// Defaults with `auth` and jobs confined to `root`.
    pub fn new(auth: Auth, root: impl Into<PathBuf>) -> Self {
        HttpConfig {
            auth,
            root: root.into(),
            rate_per_second: 50,
            rate_burst: 100,
            max_body_bytes: 64 * 1024,
            shutdown: CancellationToken::new(),
            sse_poll: Duration::from_millis(500),
            sse_keep_alive: Duration::from_secs(15),
            separation_of_duties: true,
            failed_auth_limit: 20,
            failed_auth_window: Duration::from_secs(60),
            cors_origins: Vec::new(),
        }
    }
}

/// Shared state of every handler: one pointer, since axum clones it for
/// every extractor and middleware of every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] points to.
pub struct Shared {
    pub(crate) sk: Skynet,
    pub(crate) config: Arc<HttpConfig>,
    /// `config.root` canonicalized once when the router was built (`None`
    /// if it was not an existing directory then: resolved per request).
    pub(crate) canonical_root: Option<Arc<PathBuf>>,
    /// The policy context of `canonical_root`, built once for the policy
    /// checks that name no root of their own.
    pub(crate) root_context: Option<skynet_core::policy::PolicyContext>,
    pub(crate) limiter: Arc<auth::Limiter>,
    pub(crate) key_cache: Arc<auth::KeyCache>,
    pub(crate) failed_auth: Arc<auth::FailedAuth>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Shared {
    /// The engine acting for `caller`: ownership and separation of duties
    /// are core's rules, applied to this caller's grant.
    pub(crate) fn acting(&self, caller: &auth::Caller) -> skynet_core::engine::Acting<'_> {
        self.sk
            .acting_as(caller.grant().clone())
            .separation_of_duties(self.config.separation_of_duties)
    }
}

/// Build the v1 router over `sk`.
pub fn router(sk: Skynet, config: HttpConfig) -> Router {
    let metrics = Arc::new(Metrics::new());
    metrics.clone().watch_steps(&sk);
    let canonical_root = config
        .root
        .canonicalize()
        .ok()
        .filter(|r| r.is_dir())
        .map(Arc::new);
    let state = AppState(Arc::new(Shared {
        limiter: Arc::new(auth::Limiter::new(
            config.rate_per_second,
            config.rate_burst,
        )),
        key_cache: Arc::new(auth::KeyCache::default()),
        failed_auth: Arc::new(auth::FailedAuth::new(
            config.failed_auth_limit,
            config.failed_auth_window,
        )),
        root_context: canonical_root
            .as_deref()
            .map(|r| skynet_core::policy::PolicyContext::rooted(r.clone())),
        canonical_root,
        config: Arc::new(config),
        sk,
        metrics,
    }));
    let body_limit = state.config.max_body_bytes;
    // One `layer` call with the whole stack: axum boxes each `layer` call
    // around every route and clones every box per request, so five calls
    // cost about twenty allocations per request where one costs two.
    // Outermost first: the request id is set before the trace span reads it.
    let layers = tower::ServiceBuilder::new()
        .layer(request_id::RequestIds::new())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(&X_REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("http", method = %req.method(), uri = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .option_layer(cors::layer(&state.config.cors_origins))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(metrics::ObserveLayer(state.metrics.clone()));
    routes::all().layer(layers).with_state(state)
}

/// Serve `app` on `listener` until `shutdown` resolves, then stop
/// accepting and let in-flight requests finish. Connections are capped
/// at the default [`conn::ConnLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_limited(listener, app, conn::ConnLimits::default(), shutdown).await
}

/// [`serve`] with these connection caps: a connection beyond them is
/// closed at once. Raises the soft open-file limit to the hard one first.
pub async fn serve_limited(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: conn::ConnLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, limits, serve::Timeouts::default(), shutdown).await
}

/// [`serve_limited`] with these connection deadlines.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: conn::ConnLimits,
    timeouts: serve::Timeouts,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    conn::raise_nofile_limit();
    serve::serve_connections(
        conn::LimitedListener::new(listener, limits),
        app,
        timeouts,
        shutdown,
    )
    .await
}
