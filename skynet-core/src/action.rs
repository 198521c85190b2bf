//! The action catalog: named, typed actions that each resolve to an argv.
//!
//! Providers only ever receive argv (plus optional stdin), never a shell
//! string, so a parameter can never become a second command.

mod ops;
pub mod params;
mod profile;

pub(crate) use ops::MAX_STAGES;
pub use ops::{
    ContainerView, HostFact, NetworkView, PackageOp, ProcessSort, ServiceOp, StashOp, plain_name,
    plain_ref, plain_size,
};
pub use params::{Ignored, Lenient};
pub use profile::SandboxProfile;

use crate::risk::RiskLevel;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One catalog action with its parameters. Serialized with `kind` = the
/// catalog name, e.g. `{"kind":"read_file","path":"README.md"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// `git status`.
    GitStatus,
    /// `git diff --no-ext-diff --no-textconv [--staged] [-- PATH]`.
    GitDiff {
        /// Limit to this path.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        /// Show staged changes.
        #[serde(default)]
        staged: bool,
    },
    /// `git log --oneline -n COUNT`.
    GitLog {
        /// How many commits (default 10).
        #[serde(default = "default_log_count")]
        count: u32,
    },
    /// `ls -la PATH`.
    ListDirectory {
        /// Directory (default `.`).
        #[serde(default = "default_dot")]
        path: String,
    },
    /// `cat -- PATH`.
    ReadFile {
        /// File to read.
        path: String,
    },
    /// `grep -rn --fixed-strings -e PATTERN -- PATH`.
    SearchFiles {
        /// Text to look for (literal, not a regex).
        pattern: String,
        /// Where to look (default `.`).
        #[serde(default = "default_dot")]
        path: String,
    },
    /// `du -sh -- PATH`.
    DiskUsage {
        /// Where (default `.`).
        #[serde(default = "default_dot")]
        path: String,
    },
    /// `uname -a`.
    SystemInfo,
    /// Write `content` to `path` (via `tee`, content on stdin; no shell).
    WriteFile {
        /// Target file.
        path: String,
        /// Full new content.
        content: String,
    },
    /// `mkdir -p -- PATH`.
    CreateDirectory {
        /// Directory to create.
        path: String,
    },
    /// The project's test command, detected from its files.
    RunTests,
    /// The project's build command, detected from its files.
    BuildProject,
    /// `git commit --all -m MESSAGE`.
    GitCommit {
        /// Commit message.
        message: String,
    },
    /// `git push [REMOTE [BRANCH]]`.
    GitPush {
        /// Remote (default `origin`).
        #[serde(default = "default_remote")]
        remote: String,
        /// Branch, if named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    /// `rm -r -- PATH`.
    DeletePath {
        /// What to delete.
        path: String,
    },
    /// `ps -eo pid,user,pcpu,pmem,etime,comm --sort=-pcpu` (or `-pmem`).
    TopProcesses {
        /// Rank by CPU or memory.
        #[serde(default)]
        by: ProcessSort,
    },
    /// `pgrep -a -- NAME`.
    FindProcess {
        /// Process name to look for.
        name: String,
    },
    /// `free -h`.
    MemoryUsage,
    /// `df -h [-- PATH]`.
    DiskFree {
        /// Only the filesystem holding this path.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// `du -h -d 1 -- PATH`: the size of each folder below PATH.
    FolderSizes {
        /// Where (default `.`).
        #[serde(default = "default_dot")]
        path: String,
    },
    /// `ss -tulpn [sport = :PORT]`.
    ListPorts {
        /// Only this local port.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
    /// `uptime`.
    Uptime,
    /// `cat /etc/os-release`, `uname -r` or `hostname`.
    HostInfo {
        /// Which fact.
        what: HostFact,
    },
    /// `ip addr show` or `ip route show`.
    NetworkInfo {
        /// Interfaces or routes.
        what: NetworkView,
    },
    /// Resolve HOST in SKYNET's process (a probe: `skynet-probe dns HOST`).
    DnsLookup {
        /// Name to resolve.
        host: String,
    },
    /// Check HOST's address, then `ping -c 4 -W 2 ADDRESS` (a probe:
    /// `skynet-probe ping HOST`).
    PingHost {
        /// Host to reach.
        host: String,
    },
    /// `systemctl status --no-pager UNIT`.
    ServiceStatus {
        /// The unit.
        unit: String,
    },
    /// `systemctl start|stop|restart|reload UNIT`.
    ServiceControl {
        /// The unit.
        unit: String,
        /// What to do.
        op: ServiceOp,
    },
    /// `journalctl --no-pager -n LINES [-u UNIT | -k]`.
    Journal {
        /// Only this unit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<String>,
        /// Kernel messages only.
        #[serde(default)]
        kernel: bool,
        /// How many lines (default 50).
        #[serde(default = "default_lines")]
        lines: u32,
    },
    /// `head -n LINES -- PATH`.
    HeadFile {
        /// File to read.
        path: String,
        /// How many lines (default 10).
        #[serde(default = "default_head")]
        lines: u32,
    },
    /// `tail -n LINES -- PATH`.
    TailFile {
        /// File to read.
        path: String,
        /// How many lines (default 10).
        #[serde(default = "default_head")]
        lines: u32,
    },
    /// `wc -l -- PATH`.
    CountLines {
        /// File to count.
        path: String,
    },
    /// `find PATH -type f [-name NAME] [-size +SIZE] [-mtime -DAYS]`.
    FindFiles {
        /// Where to look (default `.`).
        #[serde(default = "default_dot")]
        path: String,
        /// A name or glob (`*.log`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Only files larger than this (`100M`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        larger_than: Option<String>,
        /// Only files changed in the last this many days.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        changed_within_days: Option<u32>,
    },
    /// `cp -r -- FROM TO`.
    CopyPath {
        /// Source.
        from: String,
        /// Destination.
        to: String,
    },
    /// `mv -- FROM TO`.
    MovePath {
        /// Source.
        from: String,
        /// Destination.
        to: String,
    },
    /// `chmod MODE -- PATH`.
    ChangeMode {
        /// File or directory.
        path: String,
        /// Octal (`644`) or symbolic (`+x`) mode.
        mode: String,
    },
    /// Append `content` to `path` (`tee -a`, content on stdin).
    AppendFile {
        /// Target file.
        path: String,
        /// Text to add at the end.
        content: String,
    },
    /// `git branch --list`.
    GitBranches,
    /// `git branch NAME`.
    GitCreateBranch {
        /// New branch.
        name: String,
    },
    /// `git switch [-c] BRANCH`.
    GitSwitch {
        /// Branch to switch to.
        branch: String,
        /// Create it first.
        #[serde(default)]
        create: bool,
    },
    /// `git add -- PATHS`.
    GitAdd {
        /// What to stage (default `.`).
        paths: Vec<String>,
    },
    /// `git stash push|pop|apply|list`.
    GitStash {
        /// What to do.
        #[serde(default)]
        op: StashOp,
    },
    /// `git pull [REMOTE [BRANCH]]`.
    GitPull {
        /// Remote, if named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<String>,
        /// Branch, if named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
    },
    /// `git fetch [REMOTE]`.
    GitFetch {
        /// Remote, if named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remote: Option<String>,
    },
    /// `git show --no-ext-diff --no-textconv REV`.
    GitShow {
        /// Commit, tag or branch (default `HEAD`).
        #[serde(default = "default_head_rev")]
        rev: String,
    },
    /// `git blame -- PATH`.
    GitBlame {
        /// File.
        path: String,
    },
    /// `git tag --list`, or `git tag NAME` to create one.
    GitTag {
        /// Tag to create; none lists the tags.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// `apt-get install|remove -y NAME`.
    Package {
        /// Install or remove.
        op: PackageOp,
        /// The package.
        name: String,
    },
    /// `kill PID` or `pkill -x NAME`.
    KillProcess {
        /// Process id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        /// Exact process name (when no pid).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// `TOOL --version`.
    ToolVersion {
        /// Program name.
        tool: String,
    },
    /// `which TOOL`.
    ToolLocation {
        /// Program name.
        tool: String,
    },
    /// List containers, a container's last 100 log lines or its
    /// configuration, through the Docker Engine API (a probe:
    /// `skynet-probe containers ...`).
    Containers {
        /// List, logs or inspect.
        what: ContainerView,
        /// The container (logs and inspect).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// GET a status URL once, in SKYNET's process, without following
    /// redirects (a probe: `skynet-probe http-get URL`).
    HttpStatus {
        /// The `http` or `https` URL.
        url: String,
    },
    /// Any argv; its risk is whatever the policy says.
    ExecuteCommand {
        /// Program and arguments, already split.
        argv: Vec<String>,
    },
    /// `du -ah -- PATH | sort -rh | head -n COUNT`: the largest files (and
    /// folders) below PATH, a pipeline SKYNET connects itself.
    LargestFiles {
        /// Where (default `.`).
        #[serde(default = "default_dot")]
        path: String,
        /// How many (default 10).
        #[serde(default = "default_head")]
        count: u32,
    },
    /// `find PATH -type f | wc -l`: how many files are below PATH.
    CountFiles {
        /// Where (default `.`).
        #[serde(default = "default_dot")]
        path: String,
    },
    /// Programs connected by pipes, each stage's output the next one's
    /// input (no shell); its risk is the strictest stage's, as the policy
    /// judges each.
    ExecutePipeline {
        /// Each stage's program and arguments, already split; at least two.
        stages: Vec<Vec<String>>,
    },
}

fn default_log_count() -> u32 {
    10
}
fn default_dot() -> String {
    ".".to_string()
}
fn default_lines() -> u32 {
    50
}
fn default_head() -> u32 {
    10
}
fn default_head_rev() -> String {
    "HEAD".to_string()
}
fn default_remote() -> String {
    "origin".to_string()
}

/// A catalog entry's description, for help text and LLM prompts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CatalogEntry {
    /// Catalog name (`kind`).
    pub name: &'static str,
    /// Parameters, as `name: type` text.
    pub params: &'static str,
    /// The risk the action claims before the policy looks at its argv.
    pub base_risk: RiskLevel,
    /// What it does.
    pub summary: &'static str,
}

/// Every catalog action, in a stable order.
pub const CATALOG: &[CatalogEntry] = &[
    entry(
        "git_status",
        "",
        RiskLevel::ReadOnly,
        "show the working tree status",
    ),
    entry(
        "git_diff",
        "path?: string, staged?: bool",
        RiskLevel::ReadOnly,
        "show changes",
    ),
    entry(
        "git_log",
        "count?: int",
        RiskLevel::ReadOnly,
        "show recent commits",
    ),
    entry(
        "list_directory",
        "path?: string",
        RiskLevel::ReadOnly,
        "list a directory",
    ),
    entry(
        "read_file",
        "path: string",
        RiskLevel::ReadOnly,
        "print a file",
    ),
    entry(
        "search_files",
        "pattern: string, path?: string",
        RiskLevel::ReadOnly,
        "search text in files",
    ),
    entry(
        "disk_usage",
        "path?: string",
        RiskLevel::ReadOnly,
        "size of a directory",
    ),
    entry("system_info", "", RiskLevel::ReadOnly, "kernel and machine"),
    entry(
        "top_processes",
        "by?: cpu|memory",
        RiskLevel::ReadOnly,
        "the busiest processes",
    ),
    entry(
        "find_process",
        "name: string",
        RiskLevel::ReadOnly,
        "processes with a name",
    ),
    entry(
        "memory_usage",
        "",
        RiskLevel::ReadOnly,
        "free and used memory",
    ),
    entry(
        "disk_free",
        "path?: string",
        RiskLevel::ReadOnly,
        "free space on the filesystems",
    ),
    entry(
        "folder_sizes",
        "path?: string",
        RiskLevel::ReadOnly,
        "size of each folder below a path",
    ),
    entry(
        "list_ports",
        "port?: int",
        RiskLevel::ReadOnly,
        "listening ports and who listens",
    ),
    entry("uptime", "", RiskLevel::ReadOnly, "uptime and load"),
    entry(
        "host_info",
        "what: os|kernel|hostname",
        RiskLevel::ReadOnly,
        "distribution, kernel or host name",
    ),
    entry(
        "network_info",
        "what: interfaces|routes",
        RiskLevel::ReadOnly,
        "network interfaces or routes",
    ),
    entry(
        "dns_lookup",
        "host: string",
        RiskLevel::ReadOnly,
        "resolve a host name (uses the network)",
    ),
    entry(
        "ping_host",
        "host: string",
        RiskLevel::ReadOnly,
        "check a host is reachable (uses the network)",
    ),
    entry(
        "service_status",
        "unit: string",
        RiskLevel::ReadOnly,
        "status of a service",
    ),
    entry(
        "journal",
        "unit?: string, kernel?: bool, lines?: int",
        RiskLevel::ReadOnly,
        "recent log lines of a unit or the kernel",
    ),
    entry(
        "head_file",
        "path: string, lines?: int",
        RiskLevel::ReadOnly,
        "first lines of a file",
    ),
    entry(
        "tail_file",
        "path: string, lines?: int",
        RiskLevel::ReadOnly,
        "last lines of a file",
    ),
    entry(
        "count_lines",
        "path: string",
        RiskLevel::ReadOnly,
        "count the lines of a file",
    ),
    entry(
        "find_files",
        "path?: string, name?: string, larger_than?: string, changed_within_days?: int",
        RiskLevel::ReadOnly,
        "find files by name, size or age",
    ),
    entry("git_branches", "", RiskLevel::ReadOnly, "list branches"),
    entry(
        "git_show",
        "rev?: string",
        RiskLevel::ReadOnly,
        "show a commit",
    ),
    entry(
        "git_blame",
        "path: string",
        RiskLevel::ReadOnly,
        "who changed each line",
    ),
    entry(
        "tool_version",
        "tool: string",
        RiskLevel::ReadOnly,
        "a program's version (runs it)",
    ),
    entry(
        "tool_location",
        "tool: string",
        RiskLevel::ReadOnly,
        "where a program is installed",
    ),
    entry(
        "containers",
        "what: list|logs|inspect, name?: string",
        RiskLevel::ReadOnly,
        "containers, their logs or configuration (through the Docker Engine API)",
    ),
    entry(
        "http_status",
        "url: string",
        RiskLevel::ReadOnly,
        "GET a status URL once, no redirects (uses the network)",
    ),
    entry(
        "largest_files",
        "path?: string, count?: int",
        RiskLevel::ReadOnly,
        "the largest files and folders below a path (du | sort | head)",
    ),
    entry(
        "count_files",
        "path?: string",
        RiskLevel::ReadOnly,
        "how many files are below a path (find | wc -l)",
    ),
    entry(
        "write_file",
        "path: string, content: string",
        RiskLevel::Write,
        "write a file",
    ),
    entry(
        "create_directory",
        "path: string",
        RiskLevel::Write,
        "create a directory",
    ),
    entry(
        "run_tests",
        "",
        RiskLevel::Write,
        "run the project's tests (runs project code)",
    ),
    entry(
        "build_project",
        "",
        RiskLevel::Write,
        "build the project (runs project code, writes outputs)",
    ),
    entry(
        "git_commit",
        "message: string",
        RiskLevel::Write,
        "commit tracked changes",
    ),
    entry(
        "copy_path",
        "from: string, to: string",
        RiskLevel::Write,
        "copy a file or directory",
    ),
    entry(
        "move_path",
        "from: string, to: string",
        RiskLevel::Write,
        "move or rename a file or directory",
    ),
    entry(
        "append_file",
        "path: string, content: string",
        RiskLevel::Write,
        "add text at the end of a file",
    ),
    entry(
        "git_create_branch",
        "name: string",
        RiskLevel::Write,
        "create a branch",
    ),
    entry(
        "git_switch",
        "branch: string, create?: bool",
        RiskLevel::Write,
        "switch branches",
    ),
    entry(
        "git_add",
        "paths: [string]",
        RiskLevel::Write,
        "stage changes",
    ),
    entry(
        "git_stash",
        "op?: push|pop|apply|list",
        RiskLevel::Write,
        "stash changes or restore them",
    ),
    entry(
        "git_pull",
        "remote?: string, branch?: string",
        RiskLevel::Write,
        "pull from a remote",
    ),
    entry(
        "git_fetch",
        "remote?: string",
        RiskLevel::Write,
        "fetch from a remote",
    ),
    entry(
        "git_tag",
        "name?: string",
        RiskLevel::Write,
        "list tags, or create one",
    ),
    entry(
        "execute_command",
        "argv: [string]",
        RiskLevel::Write,
        "run a program with arguments (no shell)",
    ),
    entry(
        "execute_pipeline",
        "stages: [[string]]",
        RiskLevel::Write,
        "run programs connected by pipes, each stage's output the next one's input (no shell)",
    ),
    entry(
        "git_push",
        "remote?: string, branch?: string",
        RiskLevel::Admin,
        "push to a remote",
    ),
    entry(
        "delete_path",
        "path: string",
        RiskLevel::Admin,
        "delete a file or directory",
    ),
    entry(
        "service_control",
        "unit: string, op: start|stop|restart|reload",
        RiskLevel::Admin,
        "start, stop, restart or reload a service",
    ),
    entry(
        "change_mode",
        "path: string, mode: string",
        RiskLevel::Admin,
        "change a file's permissions",
    ),
    entry(
        "package",
        "op: install|remove, name: string",
        RiskLevel::Admin,
        "install or remove a system package",
    ),
    entry(
        "kill_process",
        "pid?: int, name?: string",
        RiskLevel::Admin,
        "stop a process",
    ),
];

const fn entry(
    name: &'static str,
    params: &'static str,
    base_risk: RiskLevel,
    summary: &'static str,
) -> CatalogEntry {
    CatalogEntry {
        name,
        params,
        base_risk,
        summary,
    }
}

/// A resolved invocation: argv plus optional stdin, and for a pipeline
/// the further stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Program and arguments (a pipeline's first stage).
    pub argv: Vec<String>,
    /// Bytes fed to the program's stdin.
    pub stdin: Option<String>,
    /// A pipeline's further stages, in order (empty for one program).
    pub pipe: Vec<Vec<String>>,
}

impl Invocation {
    /// The command this invocation runs in `cwd`.
    pub fn into_command(self, cwd: std::path::PathBuf) -> crate::plan::Command {
        crate::plan::Command {
            argv: self.argv,
            cwd,
            env: std::collections::BTreeMap::new(),
            timeout_ms: None,
            stdin: self.stdin,
            pipe: self.pipe.into_iter().map(crate::plan::Stage::new).collect(),
        }
    }

    /// The whole invocation as people read it (`a | b`; not quoted, never
    /// run through a shell).
    pub fn display_line(&self) -> String {
        std::iter::once(&self.argv)
            .chain(&self.pipe)
            .map(|argv| argv.join(" "))
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

impl Action {
    /// The catalog name.
    pub fn name(&self) -> &'static str {
        match self {
            Action::GitStatus => "git_status",
            Action::GitDiff { .. } => "git_diff",
            Action::GitLog { .. } => "git_log",
            Action::ListDirectory { .. } => "list_directory",
            Action::ReadFile { .. } => "read_file",
            Action::SearchFiles { .. } => "search_files",
            Action::DiskUsage { .. } => "disk_usage",
            Action::SystemInfo => "system_info",
            Action::WriteFile { .. } => "write_file",
            Action::CreateDirectory { .. } => "create_directory",
            Action::RunTests => "run_tests",
            Action::BuildProject => "build_project",
            Action::GitCommit { .. } => "git_commit",
            Action::GitPush { .. } => "git_push",
            Action::DeletePath { .. } => "delete_path",
            Action::TopProcesses { .. } => "top_processes",
            Action::FindProcess { .. } => "find_process",
            Action::MemoryUsage => "memory_usage",
            Action::DiskFree { .. } => "disk_free",
            Action::FolderSizes { .. } => "folder_sizes",
            Action::ListPorts { .. } => "list_ports",
            Action::Uptime => "uptime",
            Action::HostInfo { .. } => "host_info",
            Action::NetworkInfo { .. } => "network_info",
            Action::DnsLookup { .. } => "dns_lookup",
            Action::PingHost { .. } => "ping_host",
            Action::ServiceStatus { .. } => "service_status",
            Action::ServiceControl { .. } => "service_control",
            Action::Journal { .. } => "journal",
            Action::HeadFile { .. } => "head_file",
            Action::TailFile { .. } => "tail_file",
            Action::CountLines { .. } => "count_lines",
            Action::FindFiles { .. } => "find_files",
            Action::CopyPath { .. } => "copy_path",
            Action::MovePath { .. } => "move_path",
            Action::ChangeMode { .. } => "change_mode",
            Action::AppendFile { .. } => "append_file",
            Action::GitBranches => "git_branches",
            Action::GitCreateBranch { .. } => "git_create_branch",
            Action::GitSwitch { .. } => "git_switch",
            Action::GitAdd { .. } => "git_add",
            Action::GitStash { .. } => "git_stash",
            Action::GitPull { .. } => "git_pull",
            Action::GitFetch { .. } => "git_fetch",
            Action::GitShow { .. } => "git_show",
            Action::GitBlame { .. } => "git_blame",
            Action::GitTag { .. } => "git_tag",
            Action::Package { .. } => "package",
            Action::KillProcess { .. } => "kill_process",
            Action::ToolVersion { .. } => "tool_version",
            Action::ToolLocation { .. } => "tool_location",
            Action::Containers { .. } => "containers",
            Action::HttpStatus { .. } => "http_status",
            Action::ExecuteCommand { .. } => "execute_command",
            Action::LargestFiles { .. } => "largest_files",
            Action::CountFiles { .. } => "count_files",
            Action::ExecutePipeline { .. } => "execute_pipeline",
        }
    }

    /// The risk the catalog claims; the policy may raise it, never lower it.
    ///
    /// `execute_command` and `execute_pipeline` claim nothing: an explicit
    /// argv is judged by the policy alone (which makes unknown programs
    /// WRITE), so `run \`ls\`` is as READ_ONLY as "list the files".
    pub fn base_risk(&self) -> RiskLevel {
        if matches!(
            self,
            Action::ExecuteCommand { .. } | Action::ExecutePipeline { .. }
        ) {
            return RiskLevel::ReadOnly;
        }
        let name = self.name();
        CATALOG
            .iter()
            .find(|e| e.name == name)
            .map_or(RiskLevel::Admin, |e| e.base_risk)
    }

    /// The outputs a step of this action keeps as artifacts when it
    /// declares none, by the tool that runs it (`program`, the argv's
    /// first word): test reports for tests, packages for builds.
    pub fn default_artifacts(&self, program: &str) -> &'static [&'static str] {
        match (self, program) {
            (Action::RunTests, "cargo") => &["target/nextest/*/junit.xml"],
            (Action::RunTests, "npm" | "python3" | "make") => {
                &["junit.xml", "reports/*.xml", "test-results/*.xml"]
            }
            (Action::BuildProject, "npm" | "python3" | "make") => &["dist/*"],
            _ => &[],
        }
    }

    /// How long a step of this action usually takes, in milliseconds, when
    /// no past run says otherwise: reads are quick, builds, tests and
    /// network operations are not.
    pub fn default_estimate_ms(&self) -> u64 {
        match self {
            Action::RunTests => 60_000,
            Action::BuildProject => 120_000,
            Action::Package { .. } => 30_000,
            Action::GitPush { .. } | Action::GitPull { .. } | Action::GitFetch { .. } => 5_000,
            Action::PingHost { .. } => 4_000,
            Action::ServiceControl { .. } => 3_000,
            Action::FindFiles { .. }
            | Action::FolderSizes { .. }
            | Action::DiskUsage { .. }
            | Action::LargestFiles { .. }
            | Action::CountFiles { .. } => 2_000,
            Action::ExecuteCommand { .. }
            | Action::ExecutePipeline { .. }
            | Action::Containers { .. }
            | Action::HttpStatus { .. } => 1_000,
            Action::SearchFiles { .. } | Action::DnsLookup { .. } | Action::GitBlame { .. } => 500,
            Action::GitStatus
            | Action::GitDiff { .. }
            | Action::GitLog { .. }
            | Action::GitShow { .. }
            | Action::GitCommit { .. }
            | Action::GitAdd { .. }
            | Action::GitStash { .. }
            | Action::GitSwitch { .. }
            | Action::Journal { .. }
            | Action::ServiceStatus { .. }
            | Action::TopProcesses { .. }
            | Action::ListPorts { .. }
            | Action::ToolVersion { .. } => 200,
            _ => 50,
        }
    }

    /// How long a step of this action may run when neither its command nor
    /// its request says (the action level of [`crate::timeouts`]): builds,
    /// tests, packages and network transfers get longer than any
    /// provider's default; the rest take the provider's (`None`).
    pub fn default_timeout(&self) -> Option<std::time::Duration> {
        let minutes = match self {
            Action::RunTests | Action::BuildProject => 30,
            Action::Package { .. } => 15,
            Action::GitPush { .. } | Action::GitPull { .. } | Action::GitFetch { .. } => 10,
            _ => return None,
        };
        Some(std::time::Duration::from_secs(minutes * 60))
    }

    /// Resolve to argv (+stdin). `root` is the sandbox root, used to detect
    /// the project's test/build tool.
    pub fn resolve(&self, root: &Path) -> Result<Invocation> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let argv = match self {
            Action::GitStatus => s(&["git", "status"]),
            Action::GitDiff { path, staged } => {
                // A repository's config must not pick programs to run.
                let mut a = s(&["git", "diff", "--no-ext-diff", "--no-textconv"]);
                if *staged {
                    a.push("--staged".into());
                }
                if let Some(p) = path {
                    a.push("--".into());
                    a.push(p.clone());
                }
                a
            }
            Action::GitLog { count } => s(&["git", "log", "--oneline", "-n", &count.to_string()]),
            Action::ListDirectory { path } => s(&["ls", "-la", "--", path]),
            Action::ReadFile { path } => s(&["cat", "--", path]),
            Action::SearchFiles { pattern, path } => {
                s(&["grep", "-rn", "--fixed-strings", "-e", pattern, "--", path])
            }
            Action::DiskUsage { path } => s(&["du", "-sh", "--", path]),
            Action::SystemInfo => s(&["uname", "-a"]),
            Action::WriteFile { path, content } => {
                return Ok(Invocation {
                    argv: s(&["tee", "--", path]),
                    stdin: Some(content.clone()),
                    pipe: Vec::new(),
                });
            }
            Action::CreateDirectory { path } => s(&["mkdir", "-p", "--", path]),
            Action::RunTests => detect_tool(root, ToolKind::Test)?,
            Action::BuildProject => detect_tool(root, ToolKind::Build)?,
            Action::GitCommit { message } => s(&["git", "commit", "--all", "-m", message]),
            Action::GitPush { remote, branch } => {
                let mut a = s(&["git", "push", remote]);
                if let Some(b) = branch {
                    a.push(b.clone());
                }
                a
            }
            Action::DeletePath { path } => s(&["rm", "-r", "--", path]),
            Action::AppendFile { path, content } => {
                return Ok(Invocation {
                    argv: s(&["tee", "-a", "--", path]),
                    stdin: Some(content.clone()),
                    pipe: Vec::new(),
                });
            }
            Action::ExecuteCommand { argv } => {
                if argv.is_empty() || argv[0].trim().is_empty() {
                    return Err(Error::Planning(
                        "execute_command needs a non-empty argv".into(),
                    ));
                }
                argv.clone()
            }
            Action::LargestFiles { .. }
            | Action::CountFiles { .. }
            | Action::ExecutePipeline { .. } => {
                let mut stages = ops::pipeline(self)?.into_iter();
                let argv = stages.next().unwrap_or_default();
                return Ok(Invocation {
                    argv,
                    stdin: None,
                    pipe: stages.collect(),
                });
            }
            other => ops::argv(other)?,
        };
        Ok(Invocation {
            argv,
            stdin: None,
            pipe: Vec::new(),
        })
    }
}

#[derive(Clone, Copy)]
enum ToolKind {
    Test,
    Build,
}

/// Pick the project's test or build command from the files at its root.
fn detect_tool(root: &Path, kind: ToolKind) -> Result<Vec<String>> {
    let has = |f: &str| root.join(f).exists();
    let v = |a: &[&str]| Ok(a.iter().map(|x| x.to_string()).collect());
    match kind {
        ToolKind::Test if has("Cargo.toml") => v(&["cargo", "test"]),
        ToolKind::Build if has("Cargo.toml") => v(&["cargo", "build"]),
        ToolKind::Test if has("package.json") => v(&["npm", "test"]),
        ToolKind::Build if has("package.json") => v(&["npm", "run", "build"]),
        ToolKind::Test if has("go.mod") => v(&["go", "test", "./..."]),
        ToolKind::Build if has("go.mod") => v(&["go", "build", "./..."]),
        ToolKind::Test if has("pyproject.toml") || has("setup.py") || has("pytest.ini") => {
            v(&["python3", "-m", "pytest"])
        }
        ToolKind::Build if has("pyproject.toml") => v(&["python3", "-m", "build"]),
        ToolKind::Test if has("Makefile") => v(&["make", "test"]),
        ToolKind::Build if has("Makefile") => v(&["make"]),
        ToolKind::Test => Err(Error::Planning(format!(
            "no test runner found in {} (looked for Cargo.toml, package.json, go.mod, pyproject.toml, Makefile); say run `YOUR TEST COMMAND` instead",
            root.display()
        ))),
        ToolKind::Build => Err(Error::Planning(format!(
            "no build tool found in {} (looked for Cargo.toml, package.json, go.mod, pyproject.toml, Makefile); say run `YOUR BUILD COMMAND` instead",
            root.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_serialize_with_kind_and_round_trip() {
        let a = Action::ReadFile {
            path: "a b.txt".into(),
        };
        let j = serde_json::to_value(&a).expect("json");
        assert_eq!(j["kind"], "read_file");
        assert_eq!(j["path"], "a b.txt");
        let back: Action = serde_json::from_value(j).expect("back");
        assert_eq!(back, a);
    }

    #[test]
    fn the_catalog_lists_exactly_the_actions() {
        let p = || "x".to_string();
        let all = [
            Action::GitStatus,
            Action::GitDiff {
                path: None,
                staged: false,
            },
            Action::GitLog { count: 1 },
            Action::ListDirectory { path: p() },
            Action::ReadFile { path: p() },
            Action::SearchFiles {
                pattern: p(),
                path: p(),
            },
            Action::DiskUsage { path: p() },
            Action::SystemInfo,
            Action::WriteFile {
                path: p(),
                content: p(),
            },
            Action::CreateDirectory { path: p() },
            Action::RunTests,
            Action::BuildProject,
            Action::GitCommit { message: p() },
            Action::GitPush {
                remote: p(),
                branch: None,
            },
            Action::DeletePath { path: p() },
            Action::ExecuteCommand { argv: vec![p()] },
            Action::TopProcesses {
                by: ProcessSort::Cpu,
            },
            Action::FindProcess { name: p() },
            Action::MemoryUsage,
            Action::DiskFree { path: None },
            Action::FolderSizes { path: p() },
            Action::ListPorts { port: Some(80) },
            Action::Uptime,
            Action::HostInfo { what: HostFact::Os },
            Action::NetworkInfo {
                what: NetworkView::Routes,
            },
            Action::DnsLookup { host: p() },
            Action::PingHost { host: p() },
            Action::ServiceStatus { unit: p() },
            Action::ServiceControl {
                unit: p(),
                op: ServiceOp::Restart,
            },
            Action::Journal {
                unit: None,
                kernel: true,
                lines: 5,
            },
            Action::HeadFile {
                path: p(),
                lines: 1,
            },
            Action::TailFile {
                path: p(),
                lines: 1,
            },
            Action::CountLines { path: p() },
            Action::FindFiles {
                path: p(),
                name: Some(p()),
                larger_than: None,
                changed_within_days: None,
            },
            Action::CopyPath { from: p(), to: p() },
            Action::MovePath { from: p(), to: p() },
            Action::ChangeMode {
                path: p(),
                mode: "644".into(),
            },
            Action::AppendFile {
                path: p(),
                content: p(),
            },
            Action::GitBranches,
            Action::GitCreateBranch { name: p() },
            Action::GitSwitch {
                branch: p(),
                create: false,
            },
            Action::GitAdd { paths: vec![p()] },
            Action::GitStash { op: StashOp::List },
            Action::GitPull {
                remote: None,
                branch: None,
            },
            Action::GitFetch { remote: None },
            Action::GitShow { rev: p() },
            Action::GitBlame { path: p() },
            Action::GitTag { name: None },
            Action::Package {
                op: PackageOp::Install,
                name: p(),
            },
            Action::KillProcess {
                pid: Some(1),
                name: None,
            },
            Action::ToolVersion { tool: p() },
            Action::ToolLocation { tool: p() },
            Action::Containers {
                what: ContainerView::List,
                name: None,
            },
            Action::HttpStatus {
                url: "https://example.com/health".into(),
            },
            Action::LargestFiles {
                path: p(),
                count: 10,
            },
            Action::CountFiles { path: p() },
            Action::ExecutePipeline {
                stages: vec![vec![p()], vec![p()]],
            },
        ];
        let mut names: Vec<&str> = all.iter().map(Action::name).collect();
        let mut catalog: Vec<&str> = CATALOG.iter().map(|e| e.name).collect();
        names.sort_unstable();
        catalog.sort_unstable();
        assert_eq!(names, catalog);
        for a in &all {
            let json = serde_json::to_value(a).expect("json");
            assert_eq!(json["kind"], a.name(), "serde kind and catalog name agree");
            let back: Action = serde_json::from_value(json).expect("round trip");
            assert_eq!(&back, a);
            let needs_project = matches!(a, Action::RunTests | Action::BuildProject);
            assert!(
                needs_project || a.resolve(Path::new("/tmp")).is_ok(),
                "{a:?} resolves"
            );
        }
    }

    #[test]
    fn parameters_stay_separate_arguments() {
        let a = Action::ReadFile {
            path: "x; rm -rf /".into(),
        };
        let inv = a.resolve(Path::new("/tmp")).expect("resolve");
        assert_eq!(inv.argv, vec!["cat", "--", "x; rm -rf /"]);
    }

    #[test]
    fn write_file_passes_content_on_stdin() {
        let a = Action::WriteFile {
            path: "f".into(),
            content: "hi\n".into(),
        };
        let inv = a.resolve(Path::new("/tmp")).expect("resolve");
        assert_eq!(inv.argv, vec!["tee", "--", "f"]);
        assert_eq!(inv.stdin.as_deref(), Some("hi\n"));
    }

    #[test]
    fn pipelines_resolve_to_stages_that_stay_separate_arguments() {
        let inv = Action::LargestFiles {
            path: "my dir; rm -rf /".into(),
            count: 5,
        }
        .resolve(Path::new("/tmp"))
        .expect("resolve");
        assert_eq!(inv.argv, ["du", "-ah", "--", "my dir; rm -rf /"]);
        assert_eq!(inv.pipe, [vec!["sort", "-rh"], vec!["head", "-n", "5"]]);
        assert_eq!(
            inv.display_line(),
            "du -ah -- my dir; rm -rf / | sort -rh | head -n 5"
        );
        let inv = Action::CountFiles { path: "src".into() }
            .resolve(Path::new("/tmp"))
            .expect("resolve");
        assert_eq!(inv.display_line(), "find src -type f | wc -l");
        let command = inv.into_command("/tmp".into());
        assert_eq!(command.stage_count(), 2);
        assert_eq!(command.stage_label(1), "stage 2 of 2 (`wc -l`)");
        for stages in [
            vec![],
            vec![vec!["ls".to_string()]],
            vec![vec!["ls".to_string()], vec![]],
            vec![vec!["ls".to_string()], vec![" ".to_string()]],
        ] {
            let e = Action::ExecutePipeline { stages }.resolve(Path::new("/"));
            assert!(matches!(e, Err(Error::Planning(_))), "{e:?}");
        }
    }

    #[test]
    fn empty_execute_command_is_a_planning_error() {
        let a = Action::ExecuteCommand { argv: vec![] };
        assert!(matches!(a.resolve(Path::new("/")), Err(Error::Planning(_))));
    }
}
