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
