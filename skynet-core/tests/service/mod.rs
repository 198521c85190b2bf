//! The one check of a test's service variable, shared by every crate's
//! tests (`#[path]`-included): a test whose service is missing skips and
//! says so, except under `CI=true`, where every service is started and a
//! missing one is a failure.

/// The value of `var`, or `None` after printing that `test` skipped.
#[allow(dead_code)]
pub fn service_var(test: &str, var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: {var} is not set, and CI=true requires every service (scripts/services.d)"
            );
            eprintln!(
                "SKIPPED {test}: {var} is not set (run `bash scripts/test`, which starts the service)"
            );
            None
        }
    }
}
