//! `sk.webhooks`: webhook endpoints for Python, as the local operator
//! (every principal's endpoints; new ones are the operator's).
//! `Webhooks` blocks; `AsyncWebhooks` returns awaitables. Both call the
//! same core methods as the CLI and the HTTP routes; results are dicts in
//! the HTTP API's shape (the secret only in `add`'s).

use crate::convert::Json;
use crate::errors::Failure;
use pyo3::prelude::*;
use skynet_core::events::webhooks::{DeliveryState, NewWebhook};
use skynet_core::{Error, Principal, Skynet as Core, Visibility};

fn json(value: impl serde::Serialize) -> Result<Json, Failure> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| Failure::Core(Error::InvalidInput(format!("encoding a result: {e}"))))
}

pub(crate) async fn add(core: Core, url: String, types: Vec<String>) -> Result<Json, Failure> {
    json(
        core.add_webhook(&Principal::local(), NewWebhook { url, types })
            .await?,
    )
}

pub(crate) async fn list(core: Core) -> Result<Json, Failure> {
    json(core.webhooks(&Visibility::All).await?)
}

pub(crate) async fn test(core: Core, id: String) -> Result<Json, Failure> {
    json(core.test_webhook(&id, &Visibility::All).await?)
}

pub(crate) async fn remove(core: Core, id: String) -> Result<(), Failure> {
    Ok(core.remove_webhook(&id, &Visibility::All).await?)
}

pub(crate) async fn deliveries(
    core: Core,
    id: Option<String>,
    dead: bool,
    limit: u32,
) -> Result<Json, Failure> {
    let state = dead.then_some(DeliveryState::Dead);
    json(
        core.webhook_deliveries(id.as_deref(), state, &Visibility::All, limit)
            .await?,
    )
}

pub(crate) async fn redeliver(core: Core, delivery: String) -> Result<Json, Failure> {
    json(core.redeliver_webhook(&delivery, &Visibility::All).await?)
}

/// Generate the `#[pymethods]` of a webhooks handle; `$finish` turns an
/// engine future into the Python result.
macro_rules! webhook_methods {
    ($class:ident, $finish:path) => {
        #[pymethods]
        impl $class {
            /// Add an endpoint for ``types`` (names or prefixes such as
            /// ``"provider.*"``; none: every event). The result holds the
            /// signing secret (``whsec_…``), shown this once.
            #[pyo3(signature = (url, types = None))]
            fn add<'py>(
                &self,
                py: Python<'py>,
                url: String,
                types: Option<Vec<String>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                $finish(
                    py,
                    $crate::webhooks::add(self.core.clone(), url, types.unwrap_or_default()),
                )
            }

            /// Every endpoint, oldest first (never a secret).
            fn list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::webhooks::list(self.core.clone()))
            }

            /// Send a signed test message now; says what came back.
            fn test<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::webhooks::test(self.core.clone(), id))
            }

            /// Remove an endpoint with its deliveries.
            fn remove<'py>(&self, py: Python<'py>, id: String) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::webhooks::remove(self.core.clone(), id))
            }

            /// Deliveries, newest first: one endpoint's with ``id``, only
            /// dead letters with ``dead``.
            #[pyo3(signature = (id = None, *, dead = false, limit = 100))]
            fn deliveries<'py>(
                &self,
                py: Python<'py>,
                id: Option<String>,
                dead: bool,
                limit: u32,
            ) -> PyResult<Bound<'py, PyAny>> {
                $finish(
                    py,
                    $crate::webhooks::deliveries(self.core.clone(), id, dead, limit),
                )
            }

            /// Send a delivery again with a fresh round of attempts.
            fn redeliver<'py>(
                &self,
                py: Python<'py>,
                delivery: String,
            ) -> PyResult<Bound<'py, PyAny>> {
                $finish(py, $crate::webhooks::redeliver(self.core.clone(), delivery))
            }
        }
    };
}

/// `Skynet.webhooks`: the blocking handle.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct Webhooks {
    pub(crate) core: Core,
}

/// `AsyncSkynet.webhooks`: each method returns an awaitable.
#[pyclass(frozen, module = "skynet._skynet")]
pub(crate) struct AsyncWebhooks {
    pub(crate) core: Core,
}

webhook_methods!(Webhooks, crate::sync::blocking);
webhook_methods!(AsyncWebhooks, crate::aio::awaitable);
