//! This build of skynet-core has no `sandbox` feature: no bubblewrap, no
//! Landlock. Local steps then run only when the sandbox is explicitly
//! off (`SKYNET_SANDBOX=off`): any other mode is refused with an error
//! naming the feature, rather than silently running unconfined.
//!
//! It stands in for the `landlock` module, whose two entry points here
//! always fail, so nothing below needs a cfg of its own.

use super::SandboxMode;
use crate::{Error, Result};
use std::path::PathBuf;

/// Why a sandboxed step cannot run in this build.
const WHY: &str = "this build of skynet-core has no `sandbox` feature; rebuild with --features sandbox, or set SKYNET_SANDBOX=off to run local steps with path confinement only";

/// `Ok` only when the sandbox is off; otherwise the provider error that
/// names the missing feature.
pub(crate) fn refuse_unless_off(mode: SandboxMode) -> Result<()> {
    match mode {
        SandboxMode::Off => Ok(()),
        _ => Err(Error::Provider {
            provider: "local".into(),
            message: format!("the sandbox is {mode:?}, but {WHY}"),
        }),
    }
}

/// Landlock is not built in.
pub(crate) fn probe() -> std::result::Result<(), String> {
    Err(WHY.into())
}

/// What a Landlock step would be confined to (unused in this build).
#[allow(dead_code)]
pub(crate) struct Limits {
    pub(crate) root: PathBuf,
    pub(crate) writable: Vec<PathBuf>,
    pub(crate) network: bool,
    pub(crate) write: bool,
    pub(crate) profile: crate::action::SandboxProfile,
}

/// Landlock is not built in.
pub(crate) async fn spawn(
    _cmd: tokio::process::Command,
    _limits: Limits,
) -> std::result::Result<std::io::Result<tokio::process::Child>, String> {
    Err(WHY.into())
}

/// Landlock is not built in.
pub(crate) async fn run_restricted<T: Send + 'static>(
    _limits: Limits,
    _f: impl FnOnce() -> T + Send + 'static,
) -> std::result::Result<T, String> {
    Err(WHY.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_off_runs_without_the_feature() {
        assert!(refuse_unless_off(SandboxMode::Off).is_ok());
        for mode in [
            SandboxMode::Auto,
            SandboxMode::Require,
            SandboxMode::Landlock,
        ] {
            let e = refuse_unless_off(mode).expect_err("refused");
            assert!(
                e.to_string()
                    .contains("no `sandbox` feature; rebuild with --features sandbox"),
                "{e}"
            );
        }
    }
}
