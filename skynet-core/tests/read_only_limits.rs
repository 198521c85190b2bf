//! Auto-approved READ_ONLY work is bounded: each process of a READ_ONLY
//! local step gets a CPU-time limit (WRITE steps do not). Run without a
//! sandbox and under bubblewrap and Landlock where the machine has them.
//! (The READ_ONLY step cap, a level of the timeout hierarchy, is tested
//! with the others in `timeouts.rs`.)

mod provider_support;

use provider_support::{Step, command, sandboxes};
use skynet_core::RiskLevel;
use skynet_core::provider::{ExitKind, LocalProvider, Stream};
use std::time::Duration;

fn providers(test: &str) -> Vec<(&'static str, LocalProvider)> {
    let mut all = vec![("no sandbox", LocalProvider::new())];
    all.extend(sandboxes(test));
    all.into_iter()
        .map(|(name, p)| (name, p.with_read_only_cpu(Some(Duration::from_secs(1)))))
        .collect()
}

#[tokio::test]
async fn read_only_steps_get_a_cpu_limit_and_write_steps_do_not() {
    for (name, local) in providers("read_only_steps_get_a_cpu_limit") {
        let root = tempfile::tempdir().expect("root");
        for (risk, want) in [(RiskLevel::ReadOnly, "1"), (RiskLevel::Write, "unlimited")] {
            let mut step = Step::new(root.path());
            step.risk = risk;
            let r = step
                .run_on(
                    &local,
                    &command(&["sh", "-c", "ulimit -t"], root.path()),
                    None,
                )
                .await
                .expect("runs");
            let out = r.texts(Stream::Stdout).join("\n");
            assert_eq!(out.trim(), want, "{name}, {risk}: {}", r.all());
        }
    }
}

#[tokio::test]
async fn a_busy_read_only_step_is_stopped_by_its_cpu_limit() {
    for (name, local) in providers("a_busy_read_only_step_is_stopped") {
        let root = tempfile::tempdir().expect("root");
        let mut step = Step::new(root.path());
        step.risk = RiskLevel::ReadOnly;
        step.timeout = Some(Duration::from_secs(120));
        // `yes` burns a core; only its CPU limit can end it before the
        // (far longer) timeout.
        let r = step
            .run_on(
                &local,
                &command(&["sh", "-c", "yes > /dev/null"], root.path()),
                None,
            )
            .await
            .expect("runs");
        // Killed by SIGXCPU (the shell reports 152) well before 120 s.
        assert!(
            matches!(r.out.exit, ExitKind::Exited | ExitKind::Signaled) && !r.out.success(),
            "{name}: {:?}",
            r.out
        );
        assert!(r.out.duration_ms < 60_000, "{name}: {:?}", r.out);
    }
}
