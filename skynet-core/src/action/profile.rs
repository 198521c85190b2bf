//! Sandbox profiles: how much of the host a local step sees, chosen from
//! its catalog action and its judged risk, never from a planner's label.
//!
//! - [`SandboxProfile::Default`]: the fail-closed sandbox (private PID and
//!   network namespaces, no host sockets, no capabilities).
//! - [`SandboxProfile::Inspect`]: READ_ONLY system inspection (`ps`, `ss`,
//!   `ip`, `uptime`, `systemctl status`): the host's processes and network
//!   are in sight, their environments are not, and no socket to a host
//!   service or another machine can be opened.
//! - [`SandboxProfile::Host`]: an approved ADMIN operation on the host
//!   itself (restart a service, kill a process, install a package), run
//!   outside any namespace, and only where the operator turned it on.

use super::Action;
use crate::plan::Command;
use crate::risk::RiskLevel;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How a local step is confined (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxProfile {
    /// The host hidden: the sandbox sees only itself.
    #[default]
    Default,
    /// READ_ONLY inspection of the host's processes and network.
    Inspect,
    /// An approved ADMIN operation on the host, without namespaces.
    Host,
}

impl SandboxProfile {
    /// The profile a step of `action` running `command`, judged `risk`,
    /// runs under: what the action asks for, but Inspect only for a
    /// READ_ONLY step and Host only for an ADMIN one, and either only when
    /// the command is exactly the one program the action resolves to (no
    /// pipeline, environment or input): a step labelled with an ops action
    /// but carrying another command keeps the default sandbox.
    pub fn for_step(action: &Action, command: &Command, risk: RiskLevel) -> SandboxProfile {
        let wanted = match action.sandbox_profile() {
            SandboxProfile::Inspect if risk == RiskLevel::ReadOnly => SandboxProfile::Inspect,
            SandboxProfile::Host if risk == RiskLevel::Admin => SandboxProfile::Host,
            _ => return SandboxProfile::Default,
        };
        // The ops actions resolve without looking at the root.
        let exact = command.pipe.is_empty()
            && command.env.is_empty()
            && command.stdin.is_none()
            && action
                .resolve(Path::new("/"))
                .is_ok_and(|own| own.argv == command.argv);
        if exact {
            wanted
        } else {
            SandboxProfile::Default
        }
    }

    /// Stable name (`default`, `inspect`, `host`).
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxProfile::Default => "default",
            SandboxProfile::Inspect => "inspect",
            SandboxProfile::Host => "host",
        }
    }

    /// Is this the default sandbox? (Views leave it out.)
    pub fn is_default(&self) -> bool {
        *self == SandboxProfile::Default
    }
}

impl std::fmt::Display for SandboxProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    /// The profile this catalog action asks for. System inspection of
    /// processes, sockets, interfaces, load and services asks for Inspect;
    /// the ops actions that change the host (services, signals, packages)
    /// ask for Host. [`SandboxProfile::for_step`] decides with the risk.
    pub fn sandbox_profile(&self) -> SandboxProfile {
        match self {
            Action::TopProcesses { .. }
            | Action::FindProcess { .. }
            | Action::ListPorts { .. }
            | Action::NetworkInfo { .. }
            | Action::Uptime
            | Action::ServiceStatus { .. } => SandboxProfile::Inspect,
            Action::ServiceControl { .. } | Action::KillProcess { .. } | Action::Package { .. } => {
                SandboxProfile::Host
            }
            _ => SandboxProfile::Default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{NetworkView, PackageOp, ProcessSort, ServiceOp};

    /// The command `action` resolves to.
    fn own(action: &Action) -> Command {
        let inv = action.resolve(Path::new("/")).expect("resolves");
        Command::piped(vec![inv.argv], "/")
    }

    #[test]
    fn inspection_is_read_only_and_the_host_is_admin_only() {
        let top = Action::TopProcesses {
            by: ProcessSort::Cpu,
        };
        let ports = Action::ListPorts { port: None };
        let routes = Action::NetworkInfo {
            what: NetworkView::Routes,
        };
        for a in [&top, &ports, &routes, &Action::Uptime] {
            assert_eq!(
                SandboxProfile::for_step(a, &own(a), RiskLevel::ReadOnly),
                SandboxProfile::Inspect
            );
            // Judged riskier (a policy file, a raised claim): the default.
            for risk in [RiskLevel::Write, RiskLevel::Admin] {
                assert_eq!(
                    SandboxProfile::for_step(a, &own(a), risk),
                    SandboxProfile::Default
                );
            }
        }
        let host = [
            Action::KillProcess {
                pid: Some(1234),
                name: None,
            },
            Action::ServiceControl {
                unit: "nginx".into(),
                op: ServiceOp::Restart,
            },
            Action::Package {
                op: PackageOp::Install,
                name: "jq".into(),
            },
        ];
        for a in &host {
            assert_eq!(a.base_risk(), RiskLevel::Admin, "{}", a.name());
            assert_eq!(
                SandboxProfile::for_step(a, &own(a), RiskLevel::Admin),
                SandboxProfile::Host
            );
            for risk in [RiskLevel::ReadOnly, RiskLevel::Write] {
                assert_eq!(
                    SandboxProfile::for_step(a, &own(a), risk),
                    SandboxProfile::Default
                );
            }
        }
        // An explicit argv never picks a profile, whatever it runs.
        let ps = Action::ExecuteCommand {
            argv: vec!["ps".into(), "-e".into()],
        };
        assert_eq!(
            SandboxProfile::for_step(&ps, &own(&ps), RiskLevel::ReadOnly),
            SandboxProfile::Default
        );
        // An ops action carrying another command, a pipeline or extra
        // environment keeps the default sandbox.
        let mut other = own(&top);
        other.argv = vec!["cat".into(), "/proc/1/status".into()];
        let mut piped = own(&top);
        piped.pipe = vec![crate::plan::Stage::new(vec!["nc".into(), "x".into()])];
        let mut with_env = own(&host[0]);
        with_env.env.insert("LD_PRELOAD".into(), "x".into());
        for (a, cmd, risk) in [
            (&top, &other, RiskLevel::ReadOnly),
            (&top, &piped, RiskLevel::ReadOnly),
            (&host[0], &with_env, RiskLevel::Admin),
        ] {
            assert_eq!(
                SandboxProfile::for_step(a, cmd, risk),
                SandboxProfile::Default
            );
        }
        assert_eq!(
            serde_json::to_string(&SandboxProfile::Inspect).expect("json"),
            "\"inspect\""
        );
    }
}
