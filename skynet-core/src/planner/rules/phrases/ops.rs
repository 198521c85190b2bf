//! The operations vocabulary: processes, memory, disks, ports, uptime,
//! host and network facts, services, logs, git housekeeping, file chores,
//! packages, tools and containers. Tried after the explicit commands,
//! commits, pushes, writes and deletes, before search/read/list, so "show
//! the first 20 lines of README.md" is a head and not a read.

use super::{Rule, rule};
use crate::action::{
    Action, ContainerView, HostFact, NetworkView, PackageOp, ProcessSort, ServiceOp, StashOp,
    plain_name, plain_ref,
};
use crate::planner::rules::build::{Reject, dir, param};
use crate::planner::rules::matcher::Captures;
use crate::planner::rules::words::{parse_count, show};

/// `VERB UNIT`, `systemctl VERB UNIT`, `service UNIT VERB`.
macro_rules! service_patterns {
    ($verb:literal) => {
        [
            concat!(
                $verb,
                " [service|daemon|unit|server] {unit} [service|daemon|unit|server]"
            ),
            concat!("systemctl ", $verb, " {unit}"),
            concat!("service {unit} ", $verb),
        ]
    };
}

/// Every ops rule, most specific first.
pub(super) static OPS_RULES: &[Rule] = &[
    // Status URLs first: "is https://x up" is an HTTP check, not a ping or
    // a service (the rule declines anything but an http(s) URL).
    rule(
        &[
            "(check|test|probe|fetch) [http|https|web] [(status|health|health check|endpoint|url|page)] [of|for|at] {url}",
            "(http|https|web) (status|health|health check) [of|for|at] {url}",
            "(status|health|health check) [of|for|at] {url}",
            "is {url} (up|down|reachable|online|alive|healthy|responding|ok|working)",
            "(check|test) [if|whether|that] {url} is (up|down|reachable|online|alive|healthy|responding|ok|working)",
            "(does|do) {url} (respond|answer|work|load)",
        ],
        |c| {
            let url = param(c, "url")?;
            let lower = url.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return Err(Reject::Decline);
            }
            crate::probe::check_url(&url).map_err(|e| Reject::Explain(e.to_string()))?;
            Ok(Action::HttpStatus { url })
        },
    ),
    // ---- kill (ADMIN)
    rule(
        &[
            "kill|terminate|stop|end [process|pid|proc] [id|number] {pid:n}",
            "kill -15|-TERM|-SIGTERM {pid:n}",
        ],
        |c| {
            let pid = count(c, "pid")?;
            if pid == 0 {
                return Err(Reject::Explain("process 0 is not a process id".into()));
            }
            Ok(Action::KillProcess {
                pid: Some(pid),
                name: None,
            })
        },
    ),
    rule(
        &[
            "kill|pkill|killall|terminate [all] [the] [processes|process] [named|called] {name} [processes|process]",
        ],
        |c| {
            let name = name_param(c, "name", "process name")?;
            Ok(Action::KillProcess {
                pid: None,
                name: Some(name),
            })
        },
    ),
    // ---- services (control is ADMIN)
    rule(&service_patterns!("start"), |c| {
        service(c, ServiceOp::Start)
    }),
    rule(&service_patterns!("stop"), |c| service(c, ServiceOp::Stop)),
    rule(
        &[
            "restart|bounce [service|daemon|unit|server] {unit} [service|daemon|unit|server]",
            "systemctl restart {unit}",
            "service {unit} restart",
        ],
        |c| service(c, ServiceOp::Restart),
    ),
    rule(&service_patterns!("reload"), |c| {
        service(c, ServiceOp::Reload)
    }),
    rule(
        &[
            "systemctl status {unit}",
            "service {unit} status",
            "[(show|check|get|display|view|see|what is)] [me] status of [service|daemon|unit] {unit} service|daemon|unit|server",
            "[(show|check|get|display|view|see|what is)] [me] status of service|daemon|unit {unit}",
            "[(show|check|get|display|view|see|what is)] [me] status of {unit} service|daemon|unit|server",
            "(show|check|get|display|view|see) [me] {unit} service|daemon|unit [status]",
            "(show|check|get|display|view|see) [me] [service|daemon|unit] {unit} status",
            "is [service|daemon|unit] {unit} service|daemon|unit (running|active|up|ok|healthy)",
            "is {unit} (active|healthy)",
        ],
        |c| {
            Ok(Action::ServiceStatus {
                unit: unit_param(c)?,
            })
        },
    ),
    // ---- logs: journal, kernel
    rule(
        &[
            "journalctl -k",
            "dmesg [-T|-H]",
            "[(show|get|view|display|print|read|check|see|tail)] [me] [last|latest|recent] [{lines:n}] kernel (messages|logs|log|ring buffer|log messages) [lines]",
        ],
        |c| {
            Ok(Action::Journal {
                unit: None,
                kernel: true,
                lines: lines(c, 50)?,
            })
        },
    ),
    rule(
        &[
            "journalctl -u|--unit {unit}",
            "journalctl -u|--unit {unit} -n {lines:n}",
            "[(show|get|view|display|print|read|check|see|tail)] [me] [last|latest|recent] [{lines:n}] [journal] (log|logs|journal|log lines|log entries|journal entries) (of|for|from) [service|daemon|unit] {unit} [service|daemon|unit]",
            "[(show|get|view|display|print|read|check|see|tail)] [me] [last|latest|recent] [{lines:n}] {unit} [service|daemon|unit] (logs|journal|log lines|log entries)",
            "why did {unit} (fail|crash|stop|die)",
        ],
        |c| {
            let unit = unit_param(c)?;
            Ok(Action::Journal {
                unit: Some(unit),
                kernel: false,
                lines: lines(c, 50)?,
            })
        },
    ),
    rule(
        &[
            "journalctl",
            "[(show|get|view|display|print|read|check|see|tail)] [me] [last|latest|recent] [{lines:n}] (system log|system logs|journal|journal entries|system journal|syslog entries) [lines|entries]",
        ],
        |c| {
            Ok(Action::Journal {
                unit: None,
                kernel: false,
                lines: lines(c, 50)?,
            })
        },
    ),
    // ---- containers (the policy makes docker ADMIN: planned for approval)
    rule(
        &[
            "docker ps [-a]",
            "[(list|show|get|display|see|what are)] [me] [all] [running|docker|active] containers",
            "(what|which) containers are (running|up|there)",
        ],
        |_| {
            Ok(Action::Containers {
                what: ContainerView::List,
                name: None,
            })
        },
    ),
    rule(
        &[
            "docker logs {name}",
            "[(show|get|view|display|print|tail)] [me] [docker] logs (of|for|from) [docker] container {name}",
            "[(show|get|view|display|print|tail)] [me] [docker] container {name} logs",
        ],
        |c| container(c, ContainerView::Logs),
    ),
    rule(
        &[
            "docker inspect {name}",
            "(inspect|describe) [docker] container {name}",
        ],
        |c| container(c, ContainerView::Inspect),
    ),
    // ---- files: head, tail, count, find, copy, move, chmod, append
    rule(
        &[
            "(show|print|display|get|see|read|view|tail) [me] last|final line (of|from|in) [file] {path}",
        ],
        |c| tail(c, Some(1)),
    ),
    rule(
        &[
            "tail [-n] [{lines:n}] {path}",
            "(show|print|display|get|see|read|view|tail|give) [me] last|final [{lines:n}] (lines|line|entries|log lines) (of|from|in) [file] {path}",
            "(show|print|display|get|see|read|view) [me] end|bottom|tail of [file] {path}",
        ],
        |c| tail(c, None),
    ),
    rule(
        &["(show|print|display|get|see|read|view) [me] first line (of|from|in) [file] {path}"],
        |c| head(c, Some(1)),
    ),
    rule(
        &[
            "head [-n] [{lines:n}] {path}",
            "(show|print|display|get|see|read|view|give) [me] first|top [{lines:n}] (lines|line) (of|from|in) [file] {path}",
            "(show|print|display|get|see|read|view) [me] (beginning|start|top|head) of [file] {path}",
            "(preview|peek at|skim) [file] {path}",
        ],
        |c| head(c, None),
    ),
    rule(
        &[
            "wc -l {path}",
            "(count|get|show|check) [me] [number of] (lines|line count) (in|of|for) [file] {path}",
            "count [lines of] {path:file} [lines]",
            "how many lines (are in|are there in|in|does|is) [file] {path} [have|contain|has|long]",
            "how long is [file] {path:file}",
        ],
        |c| {
            Ok(Action::CountLines {
                path: file_alias(param(c, "path")?),
            })
        },
    ),
    // The largest files: a pipeline (du | sort | head), one step.
    rule(
        &[
            "(find|show|list|get|display|see|give) [me] [the] [top] [{count:n}] (largest|biggest|heaviest) files [and (folders|directories|dirs)] [in|under|below|inside {path:dir}] [here]",
            "(what|which) (is|are) [the] [top] [{count:n}] (largest|biggest|heaviest) files [in|under|below|inside {path:dir}] [here]",
            "(which|what) files (take|use|are taking|are using|take up|use up) [the] most (space|disk space|room|disk) [in|under|below|inside {path:dir}]",
            "(which|what) files are taking up space [in|under|below|inside {path:dir}]",
            "[the] [top] [{count:n}] (largest|biggest|heaviest) files [in|under|below|inside {path:dir}]",
        ],
        |c| {
            let count = match c.get("count") {
                Some(n) => parse_count(n).ok_or(Reject::Decline)?,
                None => 10,
            };
            if !(1..=10_000).contains(&count) {
                return Err(Reject::Explain(format!(
                    "can list 1 to 10000 of the largest files, not {count}"
                )));
            }
            Ok(Action::LargestFiles {
                path: dir(c),
                count,
            })
        },
    ),
    // How many files: a pipeline (find | wc -l), one step.
    rule(
        &[
            "how many files (are|are there|exist|do we have|do i have|does it have) [in|under|below|inside {path:dir}]",
            "how many files (are in|are there in|are under|are inside) {path:dir}",
            "how many files does {path:dir} (have|contain|hold)",
            "(count|show|get|what is) [me] [the] (number|count) of files [in|under|below|inside {path:dir}]",
            "count [all] [the] files [in|under|below|inside {path:dir}]",
        ],
        |c| Ok(Action::CountFiles { path: dir(c) }),
    ),
    rule(
        &[
            "(find|show|list|get|search for|look for|locate) [me] [all] files|file (larger|bigger|over|above|greater|more) [than] {size} [in|under|below|inside {path:dir}]",
            "(find|show|list|get|search for|look for|locate) [me] [all] (large|big|huge|heavy) files [in|under|below|inside {path:dir}]",
            "(what|which) files are (large|big|huge) [in|under|inside {path:dir}]",
        ],
        |c| {
            let larger_than = match c.get("size") {
                Some(s) => Some(size(s)?),
                None => Some("100M".to_string()),
            };
            Ok(Action::FindFiles {
                path: dir(c),
                name: None,
                larger_than,
                changed_within_days: None,
            })
        },
    ),
    rule(
        &[
            "(find|show|list|get|search for|look for|locate) [me] [all] files (changed|modified|edited|touched|updated|created) (in the last|within|within the last|in last|during the last|over the last|in the past|over the past|during the past) {days:n} (days|day) [in|under|below|inside {path:dir}]",
            "(find|show|list|get|search for|look for|locate) [me] [all] files (changed|modified|edited|touched|updated|created) (in the last|within|within the last|in last|during the last|over the last|in the past) (day|24 hours) [in|under|below|inside {path:dir}]",
            "(find|show|list|get|search for|look for|locate) [me] [all] files (changed|modified|edited|touched|updated|created) today [in|under|below|inside {path:dir}]",
        ],
        |c| {
            let days = match c.get("days") {
                Some(d) => parse_count(d).ok_or(Reject::Decline)?,
                None => 1,
            };
            if !(1..=36_500).contains(&days) {
                return Err(Reject::Explain(format!(
                    "can look back 1 to 36500 days, not {days}"
                )));
            }
            find(c, None, Some(days))
        },
    ),
    rule(
        &[
            "(find|show|list|get|search for|look for|locate) [me] [all] recently (changed|modified|edited|touched|updated) files [in|under|below|inside {path:dir}]",
            "(find|show|list|get|search for|look for|locate) [me] [all] files (changed|modified|edited|touched|updated) (this week|recently|lately) [in|under|below|inside {path:dir}]",
        ],
        |c| find(c, None, Some(7)),
    ),
    rule(
        &[
            "(find|locate|search for|look for|list|show) [me] [all] files|file (named|called|matching|with name|with the name) {name} [in|under|below|inside {path:dir}]",
            "(find|locate|list|show) [me] [all] {name:file} files [in|under|below|inside {path:dir}]",
            "find [{path:dir}] -name|-iname {name}",
        ],
        |c| {
            let name = param(c, "name")?;
            find(c, Some(name), None)
        },
    ),
    rule(
        &[
            "cp [-r|-R|-a] {from} {to}",
            "(copy|duplicate) [file|directory|folder|dir] {from} (to|into|as) [file|directory|folder|dir] {to}",
            "make [a] copy of {from} (at|as|called|named|in|to) {to}",
        ],
        |c| {
            Ok(Action::CopyPath {
                from: param(c, "from")?,
                to: param(c, "to")?,
            })
        },
    ),
    rule(
        &[
            "mv {from} {to}",
            "(move|rename) [file|directory|folder|dir] {from} (to|into|as) [file|directory|folder|dir] {to}",
        ],
        |c| {
            Ok(Action::MovePath {
                from: param(c, "from")?,
                to: param(c, "to")?,
            })
        },
    ),
    rule(
        &[
            "chmod {mode} {path}",
            "(set|change) [the] (permissions|mode|perms|file mode) (of|on|for) [file] {path} to {mode}",
        ],
        |c| {
            Ok(Action::ChangeMode {
                path: param(c, "path")?,
                mode: param(c, "mode")?,
            })
        },
    ),
    rule(
        &[
            "make [file] {path} (executable|runnable)",
            "chmod +x {path}",
        ],
        |c| {
            Ok(Action::ChangeMode {
                path: param(c, "path")?,
                mode: "+x".into(),
            })
        },
    ),
    rule(
        &[
            "append {content+} to [end of] [file] {path}",
            "add (line|text) {content+} to [end of] [file] {path}",
            "add {content:q} to end of [file] {path}",
        ],
        |c| {
            let mut content = c.get("content").unwrap_or_default().to_string();
            // Appending a line: end it, as `echo text >> file` would.
            if !content.ends_with('\n') {
                content.push('\n');
            }
            Ok(Action::AppendFile {
                path: param(c, "path")?,
                content,
            })
        },
    ),
    // ---- git housekeeping
    rule(
        &[
            "git checkout -b {name}",
            "git switch -c {name}",
            "(create|make|start|open) [a] [new] [git] branch [named|called] {name} and (switch|check out|checkout|move) [(to it|over)]",
            "(switch|checkout|check out|move) to [a] new branch [named|called] {name}",
        ],
        |c| {
            Ok(Action::GitSwitch {
                branch: ref_param(c, "name", "branch")?,
                create: true,
            })
        },
    ),
    rule(
        &[
            "git branch {name}",
            "(create|make|add|start|open) [a] [new] [git] branch [named|called] {name}",
            "new branch {name}",
        ],
        |c| {
            let name = ref_param(c, "name", "branch")?;
            if name.starts_with('-') {
                return Err(Reject::Decline);
            }
            Ok(Action::GitCreateBranch { name })
        },
    ),
    rule(
        &[
            "git branch [-l|--list|-a]",
            "[(list|show|get|display|see|what are|which are)] [me] [all] [git|local] branches",
            "(what|which) branch (am i on|are we on|is this|is checked out|is current|am i in|are we in)",
            "(show|get|what is) [me] [the] current branch",
        ],
        |_| Ok(Action::GitBranches),
    ),
    rule(
        &[
            "git switch {name}",
            "(switch|change|move|go|checkout|check out) [over|back] to [git] [branch] {name} [branch]",
            "(checkout|check out) [branch] {name}",
        ],
        |c| {
            Ok(Action::GitSwitch {
                branch: ref_param(c, "name", "branch")?,
                create: false,
            })
        },
    ),
    rule(
        &[
            "git add (-A|--all|.)",
            "(stage|add) (everything|all|all changes|all files|all the changes|all the files|changes|my changes|everything changed) [to (git|index|staging|staging area|commit)]",
            "stage",
        ],
        |_| {
            Ok(Action::GitAdd {
                paths: vec![".".into()],
            })
        },
    ),
    rule(
        &[
            "git add {path}",
            "stage [file] {path}",
            "add [file] {path} to (git|index|staging|staging area|commit)",
        ],
        |c| {
            Ok(Action::GitAdd {
                paths: vec![param(c, "path")?],
            })
        },
    ),
    rule(
        &[
            "git stash [push|save]",
            "stash [all|away] [(changes|work|everything|it|edits|local changes|work in progress)]",
            "(save|put|set) [away|aside] [my|the] (changes|work|edits) (aside|away|to stash|in stash|on stash)",
            "shelve [my] [changes|work]",
        ],
        |_| Ok(Action::GitStash { op: StashOp::Push }),
    ),
    rule(
        &[
            "git stash pop",
            "(pop|unstash|restore|bring back) [latest|last] [(stash|stashed changes|changes from stash)]",
            "(pop|unstash|restore|bring back) [my] stashed changes",
            "(pop|unstash|apply and drop) stash",
        ],
        |_| Ok(Action::GitStash { op: StashOp::Pop }),
    ),
    rule(&["git stash apply", "apply [latest|last] stash"], |_| {
        Ok(Action::GitStash { op: StashOp::Apply })
    }),
    rule(
        &[
            "git stash list",
            "[(list|show|get|display|see|what are)] [me] [all] (stashes|stash list|stashed changes|stash entries)",
        ],
        |_| Ok(Action::GitStash { op: StashOp::List }),
    ),
    rule(
        &[
            "[git] pull [latest|new] [changes|commits|updates|code] [from {remote} [{branch}]]",
            "git pull {remote} [{branch}]",
            "(sync|update) [local] (repo|repository|branch|checkout|code|clone) [from {remote}]",
            "get [latest|new] (changes|commits|updates|code) from {remote}",
        ],
        |c| {
            let remote = opt_ref(c, "remote", "remote")?;
            let branch = opt_ref(c, "branch", "branch")?;
            Ok(Action::GitPull { remote, branch })
        },
    ),
    rule(
        &[
            "[git] fetch [all|latest|new|everything] [changes|commits|updates|branches|tags] [from {remote}]",
            "git fetch {remote}",
        ],
        |c| {
            Ok(Action::GitFetch {
                remote: opt_ref(c, "remote", "remote")?,
            })
        },
    ),
    rule(
        &[
            "git show [{rev}]",
            "(show|view|display|describe) [me] commit {rev}",
            "(show|view|display) [me] (changes|diff) (in|of|from|for) commit {rev}",
            "what (changed|is) in commit {rev}",
        ],
        |c| {
            let rev = c.get("rev").unwrap_or("HEAD").to_string();
            if !looks_like_rev(&rev) {
                return Err(Reject::Decline);
            }
            if rev.starts_with('-') {
                return Err(Reject::Explain(format!(
                    "{} is not a commit; for git show options wrap the command in backticks",
                    show(&rev)
                )));
            }
            Ok(Action::GitShow { rev })
        },
    ),
    rule(
        &[
            "git blame {path}",
            "(blame|annotate) [file] {path}",
            "(show|get) [me] [git] blame (of|for) [file] {path}",
            "(who|who last) (changed|wrote|edited|modified|touched) (each line of|the lines of|lines in|lines of|file) {path}",
            "who (changed|wrote|edited|modified|touched) {path:file}",
        ],
        |c| {
            Ok(Action::GitBlame {
                path: param(c, "path")?,
            })
        },
    ),
    rule(
        &[
            "git tag [-l|--list]",
            "[(list|show|get|display|see|what are)] [me] [all] [git|release] tags",
        ],
        |_| Ok(Action::GitTag { name: None }),
    ),
    rule(
        &[
            "git tag {name}",
            "(create|add|make) [a] [new] [git|release] tag [named|called] {name}",
            "tag [current|this] [commit|release|version] (as|with) {name}",
        ],
        |c| {
            Ok(Action::GitTag {
                name: Some(ref_param(c, "name", "tag")?),
            })
        },
    ),
    // ---- packages (ADMIN)
    rule(
        &[
            "apt|apt-get|dnf|yum install [-y] {name}",
            "install [package] {name} [package]",
            "add package {name}",
        ],
        |c| package(c, PackageOp::Install),
    ),
    rule(
        &[
            "apt|apt-get|dnf|yum (remove|purge) [-y] {name}",
            "(uninstall|purge) [package] {name} [package]",
            "(remove|delete) package {name}",
        ],
        |c| package(c, PackageOp::Remove),
    ),
    // ---- network: ports, interfaces, routes, DNS, reachability
    rule(
        &[
            "lsof -i {port}",
            "ss -ltnp sport = {port}",
            "(what|who|which process|which program|what process|what program|which service|what service) is (using|on|listening on|bound to|holding|occupying|running on|taking) [tcp|udp] port {port}",
            "(what|who|which process|which program|what process|what program) (uses|listens on|has|holds|owns|runs on) [tcp|udp] port {port}",
            "is [tcp|udp] port {port} (open|free|in use|used|taken|available|busy|listening)",
            "(check|show|inspect) [me] [tcp|udp] port {port}",
        ],
        |c| {
            let raw = param(c, "port")?;
            let text = raw.trim_start_matches(':');
            let port = text.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                Reject::Explain(format!("{} is not a port (1 to 65535)", show(&raw)))
            })?;
            Ok(Action::ListPorts { port: Some(port) })
        },
    ),
    rule(
        &[
            "ss [-tulpn|-tlnp|-ltnp|-tuln|-lntp|-tunlp|-antp|-lnt|-tulnp]",
            "netstat [-tulpn|-tlnp|-ltnp|-tuln|-lntp|-tunlp|-an|-antp|-lnt]",
            "lsof -i",
            "[(show|list|check|get|display|see|what are)] [me] [all] [the] [(open|listening|used|active|tcp|udp|network)] [network] (ports|sockets)",
            "(what|which) ports are (open|listening|in use|used|bound|taken)",
            "(what|who) is listening [(on which ports|on what ports|on the network)]",
        ],
        |_| Ok(Action::ListPorts { port: None }),
    ),
    rule(
        &[
            "ip (a|addr|address|link) [show]",
            "ifconfig [-a]",
            "[(show|list|get|display|check|what are)] [me] [all] [network] (interfaces|nics|network cards|network adapters|adapters|ip addresses|ips)",
            "(what|which) (is|are) [ip] (ip|ip address|ip addresses|address|addresses) [(of this machine|of the machine|of this server)]",
            "(show|get|check) [me] [the] ip [address|addresses]",
        ],
        |_| {
            Ok(Action::NetworkInfo {
                what: NetworkView::Interfaces,
            })
        },
    ),
    rule(
        &[
            "ip (r|route) [show|list]",
            "route [-n]",
            "netstat -r|-rn|-nr",
            "[(show|list|get|display|check|what are|what is)] [me] [all] [network|ip|kernel] (routes|routing table|route table|default route|default gateway|gateway|routing)",
        ],
        |_| {
            Ok(Action::NetworkInfo {
                what: NetworkView::Routes,
            })
        },
    ),
    rule(
        &[
            "(dig|nslookup|host|getent hosts) {host}",
            "(resolve|look up|lookup) [dns] [for|of] [host|hostname|domain|name] {host}",
            "dns lookup [of|for] {host}",
            "(what|which) (ip|address|ip address) does {host} (resolve to|have|point to|map to)",
            "what does {host} resolve to",
        ],
        |c| Ok(Action::DnsLookup { host: host(c)? }),
    ),
    rule(
        &[
            "ping [-c {n:n}] {host}",
            "(can we|can i|can you|do we|does it) (reach|ping|connect to|get to) {host}",
            "is {host} (reachable|up|online|alive|down|responding|pingable)",
            "(check|test) [if|whether|that] {host} is (reachable|up|online|alive|responding)",
            "(check|test) (connectivity|reachability|connection|network) to {host}",
        ],
        |c| {
            let h = host(c)?;
            // "is nginx up" is about a process, not a host on the network.
            if !h.contains('.') && !h.contains(':') && !h.eq_ignore_ascii_case("localhost") {
                return Err(Reject::Decline);
            }
            Ok(Action::PingHost { host: h })
        },
    ),
    // ---- processes
    rule(
        &[
            "[(show|list|display|get|see|what are)] [me] top|biggest|heaviest|largest [{count:n}] (memory|ram|mem) (processes|procs|hogs|consumers|users|eaters)",
            "[(show|list|display|get|see|what are|find)] [me] [top] [{count:n}] (processes|procs|programs) (using|by|eating|consuming|hogging|sorted by|ordered by) [(most|the most|all)] (memory|ram|mem)",
            "(what|which) [process|processes|program|programs] (is|are) (using|eating|hogging|consuming) [(all|most|the most|so much|all the|too much)] (memory|ram|mem)",
            "(what|which) (process|processes|program|programs) (uses|use|eats|consume|consumes) [(all|most|the most|so much|too much)] (memory|ram|mem)",
            "(memory|ram|mem) usage by process",
        ],
        |_| {
            Ok(Action::TopProcesses {
                by: ProcessSort::Memory,
            })
        },
    ),
    rule(
        &[
            "ps [aux|-ef|-e|-aux|ax|-A]",
            "top|htop",
            "[(show|list|display|get|see|check|what are|view)] [me] [all] [the] [running|active|current] (processes|procs|tasks|programs)",
            "[(show|list|display|get|see|what are)] [me] top|busiest|heaviest|biggest [{count:n}] [cpu] (processes|procs)",
            "[(show|list|display|get|see|what are|find)] [me] [top] [{count:n}] (processes|procs|programs) (using|by|eating|consuming|hogging|sorted by|ordered by) [(most|the most|all)] (cpu|processor)",
            "(what|which) [process|processes|program|programs] (is|are) (using|eating|hogging|consuming) [(all|most|the most|so much|all the|too much)] (cpu|processor)",
            "what is running",
            "(what|which) processes are running",
            "cpu usage by process",
        ],
        |_| {
            Ok(Action::TopProcesses {
                by: ProcessSort::Cpu,
            })
        },
    ),
    rule(
        &[
            "pgrep [-a|-l] {name}",
            "is {name} (running|up|alive|started)",
            "(show|find|list|get) [me] [all] {name} (processes|process)",
            "(show|find|list|get) [me] [all] (processes|process) (named|called|matching|for|of) {name}",
            "(what is|show|get|find) [me] (pid|pids|process id|process ids) of {name}",
        ],
        |c| {
            let name = name_param(c, "name", "process name")?;
            if [
                "running",
                "all",
                "active",
                "current",
                "top",
                "system",
                "memory",
                "cpu",
                "it",
                "everything",
                "this",
                "that",
            ]
            .contains(&name.to_lowercase().as_str())
            {
                return Err(Reject::Decline);
            }
            Ok(Action::FindProcess { name })
        },
    ),
    // ---- memory, disks, uptime, host
    rule(
        &[
            "free [-h|-m|-g|-mh|-hm]",
            "[(check|show|get|display|see|view|what is|how is|report)] [me] [the] [current|free|available|used|total|system] (memory|ram|mem) [usage|use|status|info|stats|left|free|available|utilization|situation]",
            "how much (memory|ram|free memory|free ram) [is] [(free|available|used|left|in use)] [(is there|do we have|do i have|is left|is free)]",
            "(is|are) [(we|the system|the machine|the server)] (low on|running out of|out of) (memory|ram)",
        ],
        |_| Ok(Action::MemoryUsage),
    ),
    rule(
        &[
            "df [-h|-H|-hT|-Th|-k]",
            "[(check|show|get|display|see|what is)] [me] [the] (free|available|remaining) (disk|storage) [space] [left|remaining|available] [on {path}]",
            "[(check|show|get|display|see)] [me] [the] (free space|disk free|space left|free disk space|disk space left|disk space remaining) [on {path}]",
            "how much (disk|storage|disk space|storage space|space) [(is|do we have|do i have)] (left|free|available|remaining)",
            "(is|are) [the] (disk|disks) [almost|nearly] full",
            "(am i|are we|is the system|is the machine) (running out of|low on|out of) [disk] space",
            "[(check|show|get|display|list|see)] [me] [all] [the] (filesystems|file systems|mounts|mounted filesystems|partitions|disks|drives) [(usage|space|sizes|free space)]",
        ],
        |c| {
            Ok(Action::DiskFree {
                path: c.get("path").map(str::to_string),
            })
        },
    ),
    rule(
        &[
            "du -h (-d|--max-depth) 1 [{path:dir}]",
            "du (-hd1|-h1|-d1)  [{path:dir}]",
            "(show|list|get|check|find|what are) [me] [the] sizes of [all] [the] (folders|directories|subfolders|subdirectories|dirs) [in|under|inside {path:dir}]",
            "(show|list|find|get|which are|what are) [me] [the] (biggest|largest|big|large|heaviest) (folders|directories|dirs|subfolders|subdirectories) [in|under|inside {path:dir}]",
            "(which|what) (folders|directories|dirs) (are biggest|are largest|take the most space|use the most space|take most space|use most space|are big|are large)",
            "what is (taking|using|eating) [up] [all] [the] [disk] space [in|under|inside {path:dir}]",
            "[(show|check|get)] [me] (disk usage|space usage|sizes) (by|per|of each|for each) (folder|directory|subfolder|dir|subdirectory) [in|under|inside {path:dir}]",
        ],
        |c| Ok(Action::FolderSizes { path: dir(c) }),
    ),
    rule(
        &[
            "uptime",
            "[(show|check|get|display|what is|print|see)] [me] [the] [system|server|machine|host|cpu] (uptime|load|load average|loadavg|load averages|up time)",
            "how long (has|have|is) [the] (system|server|machine|box|computer|host|it|this machine) been (up|running|on)",
            "when did [the] (system|server|machine|box|host) [last] (boot|start|reboot|come up)",
            "how busy is [the] (system|server|machine|cpu|box|host)",
        ],
        |_| Ok(Action::Uptime),
    ),
    rule(
        &[
            "uname -r",
            "[(show|get|check|what is|print|display|see)] [me] [the] [linux] kernel (version|release)",
        ],
        |_| {
            Ok(Action::HostInfo {
                what: HostFact::Kernel,
            })
        },
    ),
    rule(
        &[
            "[(show|get|check|what is|print|display|see)] [me] [the] (os|linux|distro|distribution|operating system) (release|version|name)",
            "(what|which) (distro|distribution|linux distribution|linux distro|linux version|operating system) [(is this|is running|are we running|am i running|is installed|do we have|are we on|am i on)]",
            "lsb_release [-a]",
        ],
        |_| Ok(Action::HostInfo { what: HostFact::Os }),
    ),
    rule(
        &[
            "hostname",
            "[(show|get|print|what is|display|check|see)] [me] [the] (hostname|host name|machine name|computer name|server name|name of this machine|name of the machine|name of this server)",
            "(what|which) (machine|host|server|box) (is this|am i on|are we on)",
        ],
        |_| {
            Ok(Action::HostInfo {
                what: HostFact::Hostname,
            })
        },
    ),
    // ---- tools
    rule(
        &[
            "which {tool}",
            "where is {tool} (installed|located)",
            "where is {tool}",
            "(show|get|find|what is) [me] [the] (path|location) (of|to) [program|binary|command|tool|executable] {tool}",
            "is {tool} (installed|available|on the path|in path|on path)",
        ],
        |c| {
            Ok(Action::ToolLocation {
                tool: name_param(c, "tool", "program name")?,
            })
        },
    ),
    rule(
        &[
            "{tool} --version|-V|version",
            "(what|which) version of {tool} [(is installed|do we have|is this|is running|am i running|are we running|is available|do i have)]",
            "(show|get|check|print|display|see) [me] [the] {tool} version",
            "(show|get|check|print|display|see) [me] [the] version of {tool}",
        ],
        |c| {
            let tool = name_param(c, "tool", "program name")?;
            if ["os", "kernel", "linux", "system", "git repo"].contains(&tool.as_str()) {
                return Err(Reject::Decline);
            }
            Ok(Action::ToolVersion { tool })
        },
    ),
];

/// `HEAD~2`, `abc1234`, `v1.2.0`, `origin/main`: not "history".
fn looks_like_rev(rev: &str) -> bool {
    let hex = rev.len() >= 4 && rev.bytes().all(|b| b.is_ascii_hexdigit());
    let tag = rev.starts_with('v') && rev[1..].starts_with(|c: char| c.is_ascii_digit());
    hex || tag || rev.starts_with("HEAD") || rev.contains(['~', '^', '/', '@'])
}

fn count(c: &Captures, name: &str) -> Result<u32, Reject> {
    c.get(name).and_then(parse_count).ok_or(Reject::Decline)
}

/// The `{lines:n}` slot, or `default`; 1 to 10000.
fn lines(c: &Captures, default: u32) -> Result<u32, Reject> {
    let n = match c.get("lines") {
        None => default,
        Some(v) => parse_count(v).ok_or(Reject::Decline)?,
    };
    if !(1..=10_000).contains(&n) {
        return Err(Reject::Explain(format!(
            "can show 1 to 10000 lines, not {n}"
        )));
    }
    Ok(n)
}

/// A name parameter that must be one plain word.
fn name_param(c: &Captures, slot: &str, what: &str) -> Result<String, Reject> {
    let v = param(c, slot)?;
    if plain_name(&v) {
        return Ok(v);
    }
    Err(Reject::Explain(format!(
        "{} is not a plain {what} (letters, digits and . _ + : @ -, not starting with -)",
        show(&v)
    )))
}

fn ref_param(c: &Captures, slot: &str, what: &str) -> Result<String, Reject> {
    let v = param(c, slot)?;
    // "switch to it" names nothing; it may end the clause before.
    if ["it", "this", "that", "them", "there"].contains(&v.to_lowercase().as_str()) {
        return Err(Reject::Decline);
    }
    if plain_ref(&v) {
        return Ok(v);
    }
    Err(Reject::Explain(format!(
        "{} is not a plain {what} name; for git options wrap the command in backticks",
        show(&v)
    )))
}

fn opt_ref(c: &Captures, slot: &str, what: &str) -> Result<Option<String>, Reject> {
    match c.get(slot) {
        None => Ok(None),
        Some(_) => ref_param(c, slot, what).map(Some),
    }
}

/// Words that follow "status"/"logs" but are not services.
const NOT_UNITS: &[&str] = &[
    "git",
    "repo",
    "repository",
    "the",
    "working",
    "tree",
    "project",
    "branch",
    "system",
    "me",
    "it",
    "commit",
    "commits",
    "container",
    "build",
    "test",
    "tests",
    "job",
    "jobs",
    "plan",
];

fn unit_param(c: &Captures) -> Result<String, Reject> {
    let unit = name_param(c, "unit", "service name")?;
    if NOT_UNITS.contains(&unit.to_lowercase().as_str()) {
        return Err(Reject::Decline);
    }
    Ok(unit)
}

fn service(c: &Captures, op: ServiceOp) -> Result<Action, Reject> {
    Ok(Action::ServiceControl {
        unit: unit_param(c)?,
        op,
    })
}

fn container(c: &Captures, what: ContainerView) -> Result<Action, Reject> {
    Ok(Action::Containers {
        what,
        name: Some(name_param(c, "name", "container name")?),
    })
}

fn package(c: &Captures, op: PackageOp) -> Result<Action, Reject> {
    Ok(Action::Package {
        op,
        name: name_param(c, "name", "package name")?,
    })
}

fn host(c: &Captures) -> Result<String, Reject> {
    let h = name_param(c, "host", "host name")?;
    if h.chars().all(|ch| ch.is_ascii_alphabetic()) && h.len() < 3 {
        return Err(Reject::Decline);
    }
    Ok(h)
}

/// Well-known log names people say instead of a path.
fn file_alias(path: String) -> String {
    match path.to_lowercase().as_str() {
        "syslog" | "system log" => "/var/log/syslog".into(),
        "auth.log" | "authlog" => "/var/log/auth.log".into(),
        "kern.log" => "/var/log/kern.log".into(),
        "dmesg" => "/var/log/dmesg".into(),
        _ => path,
    }
}

fn tail(c: &Captures, fixed: Option<u32>) -> Result<Action, Reject> {
    Ok(Action::TailFile {
        path: file_alias(param(c, "path")?),
        lines: match fixed {
            Some(n) => n,
            None => lines(c, 10)?,
        },
    })
}

fn head(c: &Captures, fixed: Option<u32>) -> Result<Action, Reject> {
    Ok(Action::HeadFile {
        path: file_alias(param(c, "path")?),
        lines: match fixed {
            Some(n) => n,
            None => lines(c, 10)?,
        },
    })
}

/// `100M`, `100MB`, `2g`, `500k` as find's `-size` unit.
fn size(raw: &str) -> Result<String, Reject> {
    let t = raw.trim().trim_end_matches(['b', 'B']);
    let (digits, unit) = t.split_at(t.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(t.len()));
    let unit = match unit.to_ascii_lowercase().as_str() {
        "" | "m" | "mi" => "M",
        "k" | "ki" => "k",
        "g" | "gi" => "G",
        _ => "?",
    };
    if digits.is_empty() || unit == "?" || digits.len() > 9 {
        return Err(Reject::Explain(format!(
            "{} is not a size; say it like 100M, 2G or 500k",
            show(raw)
        )));
    }
    Ok(format!("{digits}{unit}"))
}

fn find(c: &Captures, name: Option<String>, days: Option<u32>) -> Result<Action, Reject> {
    Ok(Action::FindFiles {
        path: dir(c),
        name,
        larger_than: None,
        changed_within_days: days,
    })
}
