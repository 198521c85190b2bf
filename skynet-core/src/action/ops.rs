//! The operations vocabulary's typed parameters and argv: processes,
//! memory, disks, ports, services, logs, packages, containers.
//!
//! Each choice is a closed enum, so a parameter can only ever select one
//! of the argvs written here; free text (a unit, a host, a package) is a
//! separate argument after the options, checked by [`plain_name`].

use crate::probe::Probe;
use serde::{Deserialize, Serialize};

/// How to rank processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProcessSort {
    /// Busiest CPU users first.
    #[default]
    Cpu,
    /// Largest resident memory first.
    Memory,
}

/// One fact about the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostFact {
    /// The distribution (`/etc/os-release`).
    Os,
    /// The kernel release.
    Kernel,
    /// The host name.
    Hostname,
}

/// A view of the network configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkView {
    /// Interfaces and their addresses.
    Interfaces,
    /// The routing table.
    Routes,
}

/// What to do to a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceOp {
    /// `systemctl start`.
    Start,
    /// `systemctl stop`.
    Stop,
    /// `systemctl restart`.
    Restart,
    /// `systemctl reload`.
    Reload,
}

impl ServiceOp {
    /// The systemctl verb.
    pub fn verb(self) -> &'static str {
        match self {
            ServiceOp::Start => "start",
            ServiceOp::Stop => "stop",
            ServiceOp::Restart => "restart",
            ServiceOp::Reload => "reload",
        }
    }
}

/// What to do with the stash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StashOp {
    /// Save the working tree's changes.
    #[default]
    Push,
    /// Restore the latest stash and drop it.
    Pop,
    /// Restore the latest stash and keep it.
    Apply,
    /// List the stashes.
    List,
}

/// Install or remove a system package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageOp {
    /// `apt-get install`.
    Install,
    /// `apt-get remove`.
    Remove,
}

/// A view of the containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerView {
    /// Running containers.
    List,
    /// A container's recent log lines.
    Logs,
    /// A container's configuration.
    Inspect,
}

/// A unit, host, package, tool, branch or container name: one word that
/// cannot be read as an option or a path.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('-')
        && !name.contains('/')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+:@-".contains(c))
}

/// A git ref name to create or switch to: like [`plain_name`] but `/` is
/// allowed inside (`feature/x`).
pub fn plain_ref(name: &str) -> bool {
    !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("..")
        && name.split('/').all(plain_name)
}

/// A `find -size` amount: digits and an optional unit (`100M`, `2G`).
pub fn plain_size(size: &str) -> bool {
    let digits = size.trim_end_matches(['k', 'M', 'G', 'c']);
    !digits.is_empty()
        && digits.len() + 1 >= size.len()
        && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The argv of an operations action; a planning error if a free-text
/// parameter could be read as an option or is not a plain name.
pub(super) fn argv(action: &super::Action) -> crate::Result<Vec<String>> {
    use super::Action as A;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let argv = match action {
        A::TopProcesses { by } => {
            let sort = match by {
                ProcessSort::Cpu => "--sort=-pcpu",
                ProcessSort::Memory => "--sort=-pmem",
            };
            s(&["ps", "-eo", "pid,user,pcpu,pmem,etime,comm", sort])
        }
        A::FindProcess { name } => s(&["pgrep", "-a", "--", name]),
        A::MemoryUsage => s(&["free", "-h"]),
        A::DiskFree { path: None } => s(&["df", "-h"]),
        A::DiskFree { path: Some(p) } => s(&["df", "-h", "--", p]),
        A::FolderSizes { path } => s(&["du", "-h", "-d", "1", "--", path]),
        A::ListPorts { port: None } => s(&["ss", "-tulpn"]),
        A::ListPorts { port: Some(p) } => s(&["ss", "-tulpn", "sport", "=", &format!(":{p}")]),
        A::Uptime => s(&["uptime"]),
        A::HostInfo { what: HostFact::Os } => s(&["cat", "/etc/os-release"]),
        A::HostInfo {
            what: HostFact::Kernel,
        } => s(&["uname", "-r"]),
        A::HostInfo {
            what: HostFact::Hostname,
        } => s(&["hostname"]),
        A::NetworkInfo {
            what: NetworkView::Interfaces,
        } => s(&["ip", "addr", "show"]),
        A::NetworkInfo {
            what: NetworkView::Routes,
        } => s(&["ip", "route", "show"]),
        A::DnsLookup { host } => Probe::Dns {
            host: target(host)?,
        }
        .argv(),
        A::PingHost { host } => Probe::Ping {
            host: target(host)?,
        }
        .argv(),
        A::HttpStatus { url } => Probe::HttpGet {
            url: crate::probe::check_url(url)?,
        }
        .argv(),
        A::ServiceStatus { unit } => s(&["systemctl", "status", "--no-pager", name("unit", unit)?]),
        A::ServiceControl { unit, op } => s(&["systemctl", op.verb(), name("unit", unit)?]),
        A::Journal {
            unit,
            kernel,
            lines,
        } => {
            let mut a = s(&["journalctl", "--no-pager", &format!("--lines={lines}")]);
            if let Some(u) = unit {
                a.extend(s(&["-u", name("unit", u)?]));
            } else if *kernel {
                a.push("-k".into());
            }
            a
        }
        A::HeadFile { path, lines } => s(&["head", "-n", &lines.to_string(), "--", path]),
        A::TailFile { path, lines } => s(&["tail", "-n", &lines.to_string(), "--", path]),
        A::CountLines { path } => s(&["wc", "-l", "--", path]),
        A::FindFiles {
            path,
            name: file_name,
            larger_than,
            changed_within_days,
        } => {
            // find has no `--`: a start that looks like an option is refused.
            if path.starts_with('-') || path.starts_with('(') || path == "!" {
                return Err(bad("path", path));
            }
            let mut a = s(&["find", path, "-type", "f"]);
            if let Some(n) = file_name {
                a.extend(s(&["-name", n]));
            }
            if let Some(size) = larger_than {
                if !plain_size(size) {
                    return Err(bad("size", size));
                }
                a.extend(s(&["-size", &format!("+{size}")]));
            }
            if let Some(days) = changed_within_days {
                a.extend(s(&["-mtime", &format!("-{days}")]));
            }
            a
        }
        A::CopyPath { from, to } => s(&["cp", "-r", "--", from, to]),
        A::MovePath { from, to } => s(&["mv", "--", from, to]),
        A::ChangeMode { path, mode } => {
            let ok = !mode.is_empty()
                && mode
                    .chars()
                    .all(|c| c.is_ascii_digit() || "ugoa+-=rwxXst,".contains(c))
                && !mode.starts_with('-');
            if !ok {
                return Err(bad("mode", mode));
            }
            s(&["chmod", mode, "--", path])
        }
        A::GitBranches => s(&["git", "branch", "--list"]),
        A::GitCreateBranch { name: b } => s(&["git", "branch", git_ref("branch", b)?]),
        A::GitSwitch { branch, create } => {
            let mut a = s(&["git", "switch"]);
            if *create {
                a.push("-c".into());
            }
            a.push(git_ref("branch", branch)?.to_string());
            a
        }
        A::GitAdd { paths } => {
            let mut a = s(&["git", "add", "--"]);
            if paths.is_empty() {
                a.push(".".into());
            }
            a.extend(paths.iter().cloned());
            a
        }
        A::GitStash { op } => match op {
            StashOp::Push => s(&["git", "stash", "push"]),
            StashOp::Pop => s(&["git", "stash", "pop"]),
            StashOp::Apply => s(&["git", "stash", "apply"]),
            StashOp::List => s(&["git", "stash", "list"]),
        },
        A::GitPull { remote, branch } => {
            let mut a = s(&["git", "pull"]);
            if let Some(r) = remote {
                a.push(git_ref("remote", r)?.to_string());
                if let Some(b) = branch {
                    a.push(git_ref("branch", b)?.to_string());
                }
            }
            a
        }
        A::GitFetch { remote } => {
            let mut a = s(&["git", "fetch"]);
            if let Some(r) = remote {
                a.push(git_ref("remote", r)?.to_string());
            }
            a
        }
        A::GitShow { rev } => {
            let ok = !rev.starts_with('-')
                && !rev.is_empty()
                && rev
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._/~^@{}-".contains(c));
            if !ok {
                return Err(bad("revision", rev));
            }
            s(&["git", "show", "--no-ext-diff", "--no-textconv", rev])
        }
        A::GitBlame { path } => s(&["git", "blame", "--", path]),
        A::GitTag { name: None } => s(&["git", "tag", "--list"]),
        A::GitTag { name: Some(t) } => s(&["git", "tag", git_ref("tag", t)?]),
        A::Package { op, name: pkg } => {
            let verb = match op {
                PackageOp::Install => "install",
                PackageOp::Remove => "remove",
            };
            s(&["apt-get", verb, "-y", name("package", pkg)?])
        }
        A::KillProcess { pid: Some(pid), .. } => s(&["kill", &pid.to_string()]),
        A::KillProcess {
            pid: None,
            name: Some(n),
        } => s(&["pkill", "-x", name("process", n)?]),
        A::KillProcess {
            pid: None,
            name: None,
        } => {
            return Err(crate::Error::Planning(
                "kill_process needs a pid or a name".into(),
            ));
        }
        A::ToolVersion { tool } => s(&[name("tool", tool)?, "--version"]),
        A::ToolLocation { tool } => s(&["which", name("tool", tool)?]),
        A::Containers { what, name: c } => {
            let container = || match c {
                Some(c) => name("container", c),
                None => Err(crate::Error::Planning(
                    "containers logs/inspect need a container name".into(),
                )),
            };
            let name = match what {
                ContainerView::List => None,
                ContainerView::Logs | ContainerView::Inspect => Some(container()?.to_string()),
            };
            Probe::Containers { what: *what, name }.argv()
        }
        other => {
            return Err(crate::Error::Planning(format!(
                "{} is not an operations action",
                other.name()
            )));
        }
    };
    Ok(argv)
}

/// A host a network probe reaches: a DNS name or an address.
fn target(host: &str) -> crate::Result<String> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if crate::probe::address::is_host_name(host) || literal.parse::<std::net::IpAddr>().is_ok() {
        Ok(host.to_string())
    } else {
        Err(bad("host", host))
    }
}

/// Most stages a pipeline may have.
pub(crate) const MAX_STAGES: usize = 16;

/// The stages of a pipeline action, in order (at least two, none empty);
/// a planning error for anything else.
pub(super) fn pipeline(action: &super::Action) -> crate::Result<Vec<Vec<String>>> {
    use super::Action as A;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let stages = match action {
        A::LargestFiles { path, count } => {
            if !(1..=10_000).contains(count) {
                return Err(crate::Error::Planning(format!(
                    "largest_files can list 1 to 10000 entries, not {count}"
                )));
            }
            vec![
                s(&["du", "-ah", "--", path]),
                s(&["sort", "-rh"]),
                s(&["head", "-n", &count.to_string()]),
            ]
        }
        A::CountFiles { path } => {
            // find has no `--`: a start that looks like an option is refused.
            if path.starts_with('-') || path.starts_with('(') || path == "!" {
                return Err(bad("path", path));
            }
            vec![s(&["find", path, "-type", "f"]), s(&["wc", "-l"])]
        }
        A::ExecutePipeline { stages } => {
            if stages.len() < 2 {
                return Err(crate::Error::Planning(format!(
                    "execute_pipeline needs at least two stages, not {}; one program is execute_command",
                    stages.len()
                )));
            }
            if stages.len() > MAX_STAGES {
                return Err(crate::Error::Planning(format!(
                    "execute_pipeline takes at most {MAX_STAGES} stages, not {}",
                    stages.len()
                )));
            }
            if let Some(i) = stages
                .iter()
                .position(|argv| argv.first().is_none_or(|p| p.trim().is_empty()))
            {
                return Err(crate::Error::Planning(format!(
                    "stage {} of execute_pipeline names no program",
                    i + 1
                )));
            }
            stages.clone()
        }
        other => {
            return Err(crate::Error::Planning(format!(
                "{} is not a pipeline action",
                other.name()
            )));
        }
    };
    Ok(stages)
}

fn name<'a>(what: &str, value: &'a str) -> crate::Result<&'a str> {
    if plain_name(value) {
        Ok(value)
    } else {
        Err(bad(what, value))
    }
}

fn git_ref<'a>(what: &str, value: &'a str) -> crate::Result<&'a str> {
    if plain_ref(value) {
        Ok(value)
    } else {
        Err(bad(what, value))
    }
}

fn bad(what: &str, value: &str) -> crate::Error {
    crate::Error::Planning(format!(
        "the {what} {:?} is not a plain name (letters, digits and . _ + : @ -, not starting with -); rephrase, or wrap the exact command in backticks",
        crate::planner::rules::show_param(value)
    ))
}
