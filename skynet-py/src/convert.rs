//! Small conversions between Rust values and Python objects.

use chrono::{DateTime, SecondsFormat, Utc};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;
use std::time::Duration;

/// A JSON value as plain Python objects (dict, list, str, int, float,
/// bool, None): what `to_dict()` returns.
pub(crate) fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Serialize `value` and hand it to Python as plain objects.
pub(crate) fn to_py_dict<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value)
        .map_err(|e| PyValueError::new_err(format!("cannot serialize: {e}")))?;
    json_to_py(py, &json)
}

/// A timestamp as an aware `datetime.datetime` in UTC.
pub(crate) fn datetime<'py>(py: Python<'py>, at: &DateTime<Utc>) -> PyResult<Bound<'py, PyAny>> {
    // Microseconds: `fromisoformat` on Python 3.9/3.10 takes at most six
    // fractional digits.
    let text = at.to_rfc3339_opts(SecondsFormat::Micros, false);
    py.import("datetime")?
        .getattr("datetime")?
        .call_method1("fromisoformat", (text,))
}

/// A timestamp as RFC 3339 text (for `repr`s and dicts).
pub(crate) fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Seconds from Python (`timeout=1.5`) as a `Duration`; negative, NaN and
/// absurdly large values are refused with a message that says so.
pub(crate) fn seconds(what: &str, secs: Option<f64>) -> PyResult<Option<Duration>> {
    match secs {
        None => Ok(None),
        Some(s) => Duration::try_from_secs_f64(s).map(Some).map_err(|_| {
            PyValueError::new_err(format!(
                "{what} must be a non-negative number of seconds, got {s}"
            ))
        }),
    }
}

/// A Python value (dict, list, str, number, bool, None) as JSON, through
/// Python's own `json` module; anything it cannot encode is a ValueError.
pub(crate) fn py_to_json(value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let text: String = value
        .py()
        .import("json")?
        .call_method1("dumps", (value,))
        .map_err(|e| PyValueError::new_err(format!("not JSON-serializable: {e}")))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("not JSON: {e}")))
}

/// A JSON value handed to Python as plain objects when a future ends.
pub(crate) struct Json(pub(crate) Value);

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.0)
    }
}

/// Bytes handed to Python as `bytes` when a future ends (a `Vec<u8>`
/// would become a list of ints).
pub(crate) struct Bytes(pub(crate) Vec<u8>);

impl<'py> IntoPyObject<'py> for Bytes {
    type Target = pyo3::types::PyBytes;
    type Output = Bound<'py, pyo3::types::PyBytes>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        Ok(pyo3::types::PyBytes::new(py, &self.0))
    }
}

/// A time argument as text for core's parser: a string as given, or an
/// aware `datetime` in ISO 8601 (a naive one is refused: its zone is
/// unknown).
pub(crate) fn instant_text(
    what: &str,
    value: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(text) = value.extract::<String>() {
        return Ok(Some(text));
    }
    let aware = value
        .getattr("tzinfo")
        .map(|tz| !tz.is_none())
        .map_err(|_| PyValueError::new_err(format!("{what} must be a datetime or a string")))?;
    if !aware {
        return Err(PyValueError::new_err(format!(
            "{what} is a naive datetime: give it a timezone (datetime.now(timezone.utc))"
        )));
    }
    Ok(Some(value.call_method0("isoformat")?.extract()?))
}
