//! Probes: READ_ONLY steps SKYNET performs itself, in process, instead of
//! handing a program the network or the Docker socket.
//!
//! A DNS lookup, an HTTP GET of a status URL and a container listing are
//! probes; a ping is a probe that checks its target and then runs
//! `ping -c 4 -W 2 IP` on the job's provider with the network opened for
//! that one checked address. Every network probe resolves its target
//! itself and refuses loopback, link-local (cloud metadata), private and
//! other closed ranges unless the operator allow-listed them
//! ([`address::NetworkAllow`]); the HTTP GET is pinned to the checked
//! address and never follows a redirect.
//!
//! A probe step's command is `skynet-probe KIND ...`, which is what the
//! plan shows and the hash covers. A step is a probe only when its action
//! is a probe action *and* its command is exactly the argv that action
//! resolves to ([`Probe::of`]); the judge then takes the probe's own rule
//! (READ_ONLY), and the engine runs the probe instead of the provider.
//! Anything else (a `skynet-probe` argv under `execute_command`, a stored
//! plan whose command differs) is judged by the policy like any argv, as
//! an unknown program: at least WRITE.

pub mod address;
mod containers;
mod dns;
mod http;
mod ping;
mod run;

pub use address::{ALLOW_SETTING, Cidr, NetworkAllow};
pub use http::check_url;
pub(crate) use ping::is_checked_ping;
pub(crate) use run::dispatch;

use crate::action::{Action, ContainerView};
use crate::plan::Command;
use crate::policy::{Decision, Policy, Verdict};
use crate::risk::RiskLevel;
use std::path::Path;

/// The program name a probe step's argv starts with. No such program is
/// ever run: the engine performs the probe.
pub const PROGRAM: &str = "skynet-probe";

/// Lines of a container's log a `containers logs` probe shows.
pub const CONTAINER_LOG_LINES: u32 = 100;

/// What probes need from the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeConfig {
    /// What network probes may reach besides public addresses.
    pub allow: NetworkAllow,
    /// The Docker daemon containers are listed on (`[docker] host`,
    /// `SKYNET_DOCKER_HOST`; `None`: `DOCKER_HOST` or the default socket).
    pub docker_host: Option<String>,
}

/// One probe, with its typed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Resolve a host name.
    Dns {
        /// Name (or address) to resolve.
        host: String,
    },
    /// Ping a host after checking its address.
    Ping {
        /// Name or address to reach.
        host: String,
    },
    /// GET a status URL, no redirects.
    HttpGet {
        /// The checked URL.
        url: String,
    },
    /// Containers through the Docker Engine API.
    Containers {
        /// List, logs or inspect.
        what: ContainerView,
        /// The container (logs, inspect).
        name: Option<String>,
    },
}

impl Probe {
    /// The probe a step stands for: its action is a probe action and its
    /// command is exactly what that action resolves to (no environment, no
    /// stdin). `None` for everything else, which runs as a command.
    pub fn of(action: &Action, command: &Command) -> Option<Probe> {
        let probe = Probe::from_action(action)?;
        let exact = command.argv == probe.argv()
            && command.env.is_empty()
            && command.stdin.is_none()
            && command.pipe.is_empty();
        exact.then_some(probe)
    }

    /// The probe an action resolves to, when it is a probe action whose
    /// parameters are valid.
    pub fn from_action(action: &Action) -> Option<Probe> {
        let probe = match action {
            Action::DnsLookup { host } => Probe::Dns { host: host.clone() },
            Action::PingHost { host } => Probe::Ping { host: host.clone() },
            Action::HttpStatus { url } => Probe::HttpGet {
                url: check_url(url).ok()?,
            },
            Action::Containers { what, name } => Probe::Containers {
                what: *what,
                name: name.clone(),
            },
            _ => return None,
        };
        // The action's own argv (its parameters checked) must be this one.
        let argv = action.resolve(Path::new("/")).ok()?.argv;
        (argv == probe.argv()).then_some(probe)
    }

    /// The argv a probe step carries: what the plan shows and hashes.
    pub fn argv(&self) -> Vec<String> {
        let mut a = vec![PROGRAM.to_string()];
        let s = |v: &str| v.to_string();
        match self {
            Probe::Dns { host } => a.extend([s("dns"), host.clone()]),
            Probe::Ping { host } => a.extend([s("ping"), host.clone()]),
            Probe::HttpGet { url } => a.extend([s("http-get"), url.clone()]),
            Probe::Containers { what, name } => {
                a.push(s("containers"));
                match what {
                    ContainerView::List => a.push(s("list")),
                    ContainerView::Logs => a.extend([
                        s("logs"),
                        name.clone().unwrap_or_default(),
                        s("--tail"),
                        CONTAINER_LOG_LINES.to_string(),
                    ]),
                    ContainerView::Inspect => {
                        a.extend([s("inspect"), name.clone().unwrap_or_default()])
                    }
                }
            }
        }
        a
    }

    /// The rule name behind the probe's decision (`probe:dns`, ...).
    pub fn rule(&self) -> &'static str {
        match self {
            Probe::Dns { .. } => "probe:dns",
            Probe::Ping { .. } => "probe:ping",
            Probe::HttpGet { .. } => "probe:http-get",
            Probe::Containers { .. } => "probe:containers",
        }
    }

    /// The probe's own rule: READ_ONLY, allowed, saying what it reaches.
    pub fn decision(&self) -> Decision {
        let reason = match self {
            Probe::Dns { host } => format!(
                "SKYNET resolves {host} itself (the network label: only public addresses, or ones allowed by {ALLOW_SETTING})"
            ),
            Probe::Ping { host } => format!(
                "SKYNET checks {host}'s address, then pings that address alone with the network open (the network label)"
            ),
            Probe::HttpGet { url } => format!(
                "SKYNET sends one GET to {url} itself: checked address, no redirects followed, size and time capped (the network label)"
            ),
            Probe::Containers { .. } => {
                "SKYNET reads the containers through the Docker Engine API itself; no step gets the Docker socket".to_string()
            }
        };
        Decision {
            risk: RiskLevel::ReadOnly,
            verdict: Verdict::Allow,
            reasons: vec![reason],
            rule: Some(self.rule().to_string()),
        }
    }

    /// What the step reaches over the network, for the plan's network
    /// label; `None` for a probe that needs no network.
    pub fn network_target(&self) -> Option<String> {
        match self {
            Probe::Dns { host } => Some(format!("dns {host}")),
            Probe::Ping { host } => Some(format!("ping {host}")),
            Probe::HttpGet { url } => Some(format!("GET {url}")),
            Probe::Containers { .. } => None,
        }
    }
}

/// A step's decision: the probe's own rule for a probe step, the policy's
/// for every other command. The one place the judge, the run-time recheck
/// and `check` ask.
pub fn judge(policy: &Policy, action: &Action, command: &Command, root: &Path) -> Decision {
    match Probe::of(action, command) {
        Some(probe) => probe.decision(),
        None => policy.check_command(command, root),
    }
}

/// The network label of a step: what it reaches, when it is a probe that
/// needs the network.
pub fn network_label(action: &Action, command: &Command) -> Option<String> {
    Probe::of(action, command).and_then(|p| p.network_target())
}
