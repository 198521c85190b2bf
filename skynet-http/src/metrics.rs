//! Prometheus metrics: HTTP latencies, jobs by status, queue depth, step
//! durations (of steps run by this process's workers), SSE flow.

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use skynet_core::{JobEvent, JobId, Skynet};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: Arc<String>,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    status: String,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    http: Family<RouteLabels, Histogram>,
    /// One shared label value per route pattern, so recording a request
    /// allocates nothing.
    routes: RwLock<HashMap<String, Arc<String>>>,
    jobs: Family<StatusLabels, Gauge>,
    queue_depth: Gauge,
    steps: Family<StepLabels, Histogram>,
    rate_limited: Counter,
    /// Mirrors core's process-wide redaction count at each render.
    redactions: Counter,
    sse_sent: Counter,
    sse_buffered: Gauge,
    sse_open: Gauge,
    storage: Family<StorageLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageLabels {
    kind: &'static str,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// The method as a label value (anything unusual is `other`, so a client
/// cannot grow the label set).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Seconds-scale buckets from 0.5 ms to about 16 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Step buckets from 10 ms to about 45 min.
fn step_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 18))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("skynet");
        let http = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let jobs = Family::<StatusLabels, Gauge>::default();
        let queue_depth = Gauge::default();
        let steps = Family::<StepLabels, Histogram>::new_with_constructor(
            step_histogram as fn() -> Histogram,
        );
        let rate_limited = Counter::default();
        let redactions = Counter::default();
        let sse_sent = Counter::default();
        let sse_buffered = Gauge::default();
        let sse_open = Gauge::default();
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and status",
            http.clone(),
        );
        registry.register("jobs", "Jobs in the ledger by status", jobs.clone());
        registry.register(
            "queue_depth",
            "Jobs queued and waiting for a worker",
            queue_depth.clone(),
        );
        registry.register(
            "step_duration_seconds",
            "Duration of steps run by this process's workers, by final status",
            steps.clone(),
        );
        registry.register(
            "http_rate_limited",
            "Requests refused with 429",
            rate_limited.clone(),
        );
        registry.register(
            "redactions",
            "Secrets replaced in output, errors and plans by this process",
            redactions.clone(),
        );
        registry.register(
            "http_sse_events_sent",
            "Events written to SSE streams",
            sse_sent.clone(),
        );
        registry.register(
            "http_sse_buffered_events",
            "Events read from the ledger and not yet written to an SSE stream",
            sse_buffered.clone(),
        );
        registry.register("http_sse_streams", "Open SSE streams", sse_open.clone());
        let storage = Family::<StorageLabels, Gauge>::default();
        registry.register(
            "storage",
            "What the ledger and the artifact store hold, by kind (rows, bytes, objects)",
            storage.clone(),
        );
        Metrics {
            registry,
            http,
            routes: RwLock::default(),
            jobs,
            queue_depth,
            steps,
            rate_limited,
            redactions,
            sse_sent,
            sse_buffered,
            sse_open,
            storage,
        }
    }

    /// Record one answered request.
    fn observe_request(
        &self,
        method: &'static str,
        route: Arc<String>,
        status: u16,
        took: Duration,
    ) {
        self.http
            .get_or_create(&RouteLabels {
                method,
                route,
                status,
            })
            .observe(took.as_secs_f64());
    }

    /// The shared label value for a route pattern (patterns are the
    /// router's, a small fixed set).
    fn route_label(&self, route: &str) -> Arc<String> {
        if let Some(label) = self.routes.read().ok().and_then(|r| r.get(route).cloned()) {
            return label;
        }
        let label = Arc::new(route.to_string());
        if let Ok(mut routes) = self.routes.write() {
            routes.insert(route.to_string(), label.clone());
        }
        label
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub(crate) fn sse_sent(&self) {
        self.sse_sent.inc();
    }

    /// Events held in SSE buffers changed by `delta`.
    pub(crate) fn sse_buffered(&self, delta: i64) {
        self.sse_buffered.inc_by(delta);
    }

    pub(crate) fn sse_open(&self, delta: i64) {
        self.sse_open.inc_by(delta);
    }

    /// Events currently buffered by all SSE streams.
    pub fn sse_buffered_now(&self) -> i64 {
        self.sse_buffered.get()
    }

    /// Refresh the ledger gauges and render the text exposition format.
    pub(crate) async fn render(&self, sk: &Skynet) -> skynet_core::Result<String> {
        let counts = sk.store().count_jobs_by_status().await?;
        for status in skynet_core::job::ALL_STATUSES {
            let n = counts
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            self.jobs
                .get_or_create(&StatusLabels {
                    status: status.as_str().to_string(),
                })
                .set(n);
            if status == skynet_core::JobStatus::Queued {
                self.queue_depth.set(n);
            }
        }
        let storage = sk.storage().await?;
        let l = &storage.ledger;
        let object_store = [
            ("artifact_objects", storage.objects),
            ("artifact_object_bytes", storage.object_bytes),
            ("unfinished_uploads", storage.unfinished_uploads),
        ];
        for (kind, value) in [
            ("jobs", Some(l.jobs)),
            ("tombstones", Some(l.tombstones)),
            ("log_lines", Some(l.log_lines)),
            ("log_bytes", Some(l.log_bytes)),
            ("artifact_records", Some(l.artifacts)),
            ("artifact_record_bytes", Some(l.artifact_bytes)),
        ]
        .into_iter()
        .chain(object_store)
        {
            if let Some(v) = value {
                self.storage
                    .get_or_create(&StorageLabels { kind })
                    .set(i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
        // Core counts redactions in a process-wide atomic (its redactors
        // know nothing of this registry): catch the counter up.
        let (now, shown) = (
            skynet_core::redact::redactions_total(),
            self.redactions.get(),
        );
        if now > shown {
            self.redactions.inc_by(now - shown);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .map_err(|e| skynet_core::Error::InvalidInput(format!("encoding metrics: {e}")))?;
        Ok(out)
    }

    /// Time steps from the live bus until the engine goes away.
    pub(crate) fn watch_steps(self: std::sync::Arc<Self>, sk: &Skynet) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut bus = sk.subscribe();
        let metrics = std::sync::Arc::downgrade(&self);
        runtime.spawn(async move {
            // Bounded: a step that never reports its end is forgotten
            // once this many are open.
            const MAX_OPEN: usize = 10_000;
            let mut started: HashMap<(JobId, u32), Instant> = HashMap::new();
            loop {
                let event = match bus.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let Some(metrics) = metrics.upgrade() else {
                    return;
                };
                match event {
                    JobEvent::StepStarted { job, step, .. } => {
                        if started.len() >= MAX_OPEN {
                            started.clear();
                        }
                        started.insert((job, step), Instant::now());
                    }
                    JobEvent::StepFinished {
                        job, step, status, ..
                    } => {
                        if let Some(t) = started.remove(&(job, step)) {
                            metrics
                                .steps
                                .get_or_create(&StepLabels { status })
                                .observe(t.elapsed().as_secs_f64());
                        }
                    }
                    _ => {}
                }
            }
        });
    }
}

/// Records every request's latency by method, matched route and status.
/// A route layer: the router has set [`MatchedPath`] when it runs.
#[derive(Clone)]
pub(crate) struct ObserveLayer(pub(crate) Arc<Metrics>);

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            metrics: self.0.clone(),
        }
    }
}

/// The service of [`ObserveLayer`].
#[derive(Clone)]
pub(crate) struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(req.method());
        let route = self.metrics.route_label(
            req.extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str),
        );
        Observed {
            inner: self.inner.call(req),
            metrics: self.metrics.clone(),
            labels: Some((method, route)),
            started,
        }
    }
}

/// The response future of [`Observe`].
pub(crate) struct Observed<F> {
    inner: F,
    metrics: Arc<Metrics>,
    labels: Option<(&'static str, Arc<String>)>,
    started: Instant,
}

impl<F, E> Future for Observed<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let resp = std::task::ready!(Pin::new(&mut self.inner).poll(cx))?;
        if let Some((method, route)) = self.labels.take() {
            let took = self.started.elapsed();
            self.metrics
                .observe_request(method, route, resp.status().as_u16(), took);
        }
        Poll::Ready(Ok(resp))
    }
}

/// Keeps the SSE buffered-events gauge true when a stream is dropped.
pub(crate) struct BufferedEvents {
    metrics: std::sync::Arc<Metrics>,
    held: AtomicI64,
}

impl BufferedEvents {
    pub(crate) fn new(metrics: std::sync::Arc<Metrics>) -> Self {
        metrics.sse_open(1);
        BufferedEvents {
            metrics,
            held: AtomicI64::new(0),
        }
    }
    pub(crate) fn add(&self, n: i64) {
        self.held.fetch_add(n, Ordering::Relaxed);
        self.metrics.sse_buffered(n);
    }
    pub(crate) fn sent_one(&self) {
        self.add(-1);
        self.metrics.sse_sent();
    }
}

impl Drop for BufferedEvents {
    fn drop(&mut self) {
        self.metrics
            .sse_buffered(-self.held.load(Ordering::Relaxed));
        self.metrics.sse_open(-1);
    }
}
