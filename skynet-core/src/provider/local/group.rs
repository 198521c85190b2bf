//! The process group a step runs in, and how it is stopped.
//!
//! Every step gets its own group (`process_group(0)`), so signalling the
//! group reaches grandchildren too (`sh -c 'sleep 1000 & sleep 1000'`).

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// A step's process group; its id is the leader's (the child's) pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessGroup {
    pgid: i32,
}

impl ProcessGroup {
    /// The group led by the freshly spawned child `pid`.
    pub(crate) fn led_by(pid: u32) -> Option<ProcessGroup> {
        let pgid = i32::try_from(pid).ok().filter(|p| *p > 1)?;
        Some(ProcessGroup { pgid })
    }

    /// The group a freshly spawned child leads, or the provider error for
    /// a child without a usable pid (nothing could be signalled).
    pub(crate) fn of(child: Option<u32>) -> crate::Result<ProcessGroup> {
        child
            .and_then(ProcessGroup::led_by)
            .ok_or_else(|| crate::Error::Provider {
                provider: "local".into(),
                message: "the spawned process has no usable pid".into(),
            })
    }

    /// Ask every member to stop (SIGTERM).
    pub(crate) fn terminate(self) {
        self.signal(Signal::SIGTERM);
    }

    /// Kill every member (SIGKILL). Harmless when the group is already gone.
    pub(crate) fn kill(self) {
        self.signal(Signal::SIGKILL);
    }

    fn signal(self, signal: Signal) {
        match killpg(Pid::from_raw(self.pgid), signal) {
            // Nobody left: the normal case once a step has finished.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => {
                tracing::warn!(pgid = self.pgid, %signal, error = %e, "cannot signal process group")
            }
        }
    }
}

/// Live (not zombie) processes in process group `pgid`, read from `/proc`.
///
/// Used to prove that a step left no survivors. Zombies do not count: on
/// machines whose PID 1 does not reap orphans they linger without running.
pub fn live_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut live = Vec::new();
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command: state ppid pgrp ...
        let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[2] == pgid.to_string() && f[0] != "Z" && f[0] != "X" {
            live.push(pid);
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_pids_that_would_signal_everything() {
        assert_eq!(ProcessGroup::led_by(0), None);
        assert_eq!(ProcessGroup::led_by(1), None);
        assert_eq!(ProcessGroup::led_by(u32::MAX), None);
        assert_eq!(
            ProcessGroup::led_by(4242),
            Some(ProcessGroup { pgid: 4242 })
        );
    }
}
