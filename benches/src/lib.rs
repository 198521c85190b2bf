//! Helpers shared by the benches: a program as a command, and one step run
//! through a provider the way the engine runs it (output drained).

pub mod corpus;
pub mod receiver;
pub mod sql_profile;

use skynet_core::provider::{ExecContext, Output, Provider};
use skynet_core::{Command, JobId, RiskLevel};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// `stages` connected by pipes in `root` (one stage: a single program).
pub fn command(stages: &[&[&str]], root: &Path) -> Command {
    let owned = |argv: &[&str]| argv.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Command::piped(stages.iter().map(|s| owned(s)).collect(), root)
}

/// Run `cmd` as READ_ONLY step `step` in `root` through `provider` (60 s
/// limit, 1 MiB of output), its output drained as the engine would.
pub async fn try_step(
    provider: &dyn Provider,
    cmd: &Command,
    root: &Path,
    step: usize,
) -> skynet_core::Result<Output> {
    let (tx, mut rx) = mpsc::channel(16);
    let ctx = ExecContext {
        job_id: JobId::new(),
        step,
        root: root.to_path_buf(),
        timeout: Some(Duration::from_secs(60)),
        cancel: CancellationToken::new(),
        output: tx,
        max_output_bytes: 1 << 20,
        risk: RiskLevel::ReadOnly,
        action: None,
    };
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let out = provider.execute(cmd, ctx).await;
    drain.await.expect("drain");
    out
}

/// [`try_step`], which must succeed.
pub async fn step(provider: &dyn Provider, cmd: &Command, root: &Path, step: usize) {
    let out = try_step(provider, cmd, root, step).await.expect("execute");
    assert!(out.success(), "{out:?}");
}
