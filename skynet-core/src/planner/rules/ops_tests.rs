//! The operations vocabulary, table-driven: each phrasing with the actions
//! it must plan, their argv and the risk the step gets; and no phrasing is
//! ever planned at a lower risk than the policy gives its argv.

use super::RulePlanner;
use crate::action::{
    Action, ContainerView, HostFact, NetworkView, PackageOp, ProcessSort, ServiceOp, StashOp,
};
use crate::policy::{Policy, PolicyContext};
use crate::probe::Probe;
use crate::risk::RiskLevel;
use std::path::{Path, PathBuf};

const RO: RiskLevel = RiskLevel::ReadOnly;
const W: RiskLevel = RiskLevel::Write;
const AD: RiskLevel = RiskLevel::Admin;

fn s(v: &str) -> String {
    v.to_string()
}
fn top(by: ProcessSort) -> Action {
    Action::TopProcesses { by }
}
fn pgrep(name: &str) -> Action {
    Action::FindProcess { name: s(name) }
}
fn df(path: Option<&str>) -> Action {
    Action::DiskFree { path: path.map(s) }
}
fn sizes(path: &str) -> Action {
    Action::FolderSizes { path: s(path) }
}
fn ports(port: Option<u16>) -> Action {
    Action::ListPorts { port }
}
fn host(what: HostFact) -> Action {
    Action::HostInfo { what }
}
fn net(what: NetworkView) -> Action {
    Action::NetworkInfo { what }
}
fn dns(h: &str) -> Action {
    Action::DnsLookup { host: s(h) }
}
fn ping(h: &str) -> Action {
    Action::PingHost { host: s(h) }
}
fn status(unit: &str) -> Action {
    Action::ServiceStatus { unit: s(unit) }
}
fn svc(unit: &str, op: ServiceOp) -> Action {
    Action::ServiceControl { unit: s(unit), op }
}
fn journal(unit: Option<&str>, kernel: bool, lines: u32) -> Action {
    Action::Journal {
        unit: unit.map(s),
        kernel,
        lines,
    }
}
fn head(path: &str, lines: u32) -> Action {
    Action::HeadFile {
        path: s(path),
        lines,
    }
}
fn tail(path: &str, lines: u32) -> Action {
    Action::TailFile {
        path: s(path),
        lines,
    }
}
fn wc(path: &str) -> Action {
    Action::CountLines { path: s(path) }
}
fn find(path: &str, name: Option<&str>, larger: Option<&str>, days: Option<u32>) -> Action {
    Action::FindFiles {
        path: s(path),
        name: name.map(s),
        larger_than: larger.map(s),
        changed_within_days: days,
    }
}
fn largest(path: &str, count: u32) -> Action {
    Action::LargestFiles {
        path: s(path),
        count,
    }
}
fn count_files(path: &str) -> Action {
    Action::CountFiles { path: s(path) }
}
fn piped(stages: &[&[&str]]) -> Action {
    Action::ExecutePipeline {
        stages: stages
            .iter()
            .map(|stage| stage.iter().map(|w| s(w)).collect())
            .collect(),
    }
}
fn cp(from: &str, to: &str) -> Action {
    Action::CopyPath {
        from: s(from),
        to: s(to),
    }
}
fn mv(from: &str, to: &str) -> Action {
    Action::MovePath {
        from: s(from),
        to: s(to),
    }
}
fn chmod(path: &str, mode: &str) -> Action {
    Action::ChangeMode {
        path: s(path),
        mode: s(mode),
    }
}
fn append(path: &str, content: &str) -> Action {
    Action::AppendFile {
        path: s(path),
        content: s(content),
    }
}
fn branch(name: &str) -> Action {
    Action::GitCreateBranch { name: s(name) }
}
fn switch(b: &str, create: bool) -> Action {
    Action::GitSwitch {
        branch: s(b),
        create,
    }
}
fn add(paths: &[&str]) -> Action {
    Action::GitAdd {
        paths: paths.iter().map(|p| s(p)).collect(),
    }
}
fn stash(op: StashOp) -> Action {
    Action::GitStash { op }
}
fn pull(remote: Option<&str>, b: Option<&str>) -> Action {
    Action::GitPull {
        remote: remote.map(s),
        branch: b.map(s),
    }
}
fn fetch(remote: Option<&str>) -> Action {
    Action::GitFetch {
        remote: remote.map(s),
    }
}
fn gshow(rev: &str) -> Action {
    Action::GitShow { rev: s(rev) }
}
fn blame(path: &str) -> Action {
    Action::GitBlame { path: s(path) }
}
fn tag(name: Option<&str>) -> Action {
    Action::GitTag { name: name.map(s) }
}
fn pkg(op: PackageOp, name: &str) -> Action {
    Action::Package { op, name: s(name) }
}
fn kill(pid: Option<u32>, name: Option<&str>) -> Action {
    Action::KillProcess {
        pid,
        name: name.map(s),
    }
}
fn version(tool: &str) -> Action {
    Action::ToolVersion { tool: s(tool) }
}
fn which(tool: &str) -> Action {
    Action::ToolLocation { tool: s(tool) }
}
fn http(url: &str) -> Action {
    Action::HttpStatus { url: s(url) }
}
fn containers(what: ContainerView, name: Option<&str>) -> Action {
    Action::Containers {
        what,
        name: name.map(s),
    }
}

const PS_CPU: &str = "ps -eo pid,user,pcpu,pmem,etime,comm --sort=-pcpu";
const PS_MEM: &str = "ps -eo pid,user,pcpu,pmem,etime,comm --sort=-pmem";

/// (phrasing, actions, argv of each step joined, risk of the plan).
type Case = (&'static str, Vec<Action>, Vec<&'static str>, RiskLevel);

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use ContainerView as C;
    use HostFact as H;
    use NetworkView as N;
    use PackageOp as P;
    use ProcessSort::{Cpu, Memory};
    use ServiceOp as Sv;
    use StashOp as St;
    let one = |p: &'static str, a: Action, argv: &'static str, r: RiskLevel| -> Case {
        (p, vec![a], vec![argv], r)
    };
    vec![
        // processes: top CPU / memory / by name
        one("show running processes", top(Cpu), PS_CPU, RO),
        one("list all processes", top(Cpu), PS_CPU, RO),
        one("ps aux", top(Cpu), PS_CPU, RO),
        one("top", top(Cpu), PS_CPU, RO),
        one("show the top processes", top(Cpu), PS_CPU, RO),
        one("show me the top 10 cpu processes", top(Cpu), PS_CPU, RO),
        one("which processes are using the most cpu", top(Cpu), PS_CPU, RO),
        one("what is running", top(Cpu), PS_CPU, RO),
        one("what processes are running", top(Cpu), PS_CPU, RO),
        one("show processes sorted by cpu", top(Cpu), PS_CPU, RO),
        one("what is using all the memory", top(Memory), PS_MEM, RO),
        one("show the top memory processes", top(Memory), PS_MEM, RO),
        one("which process is eating the most ram", top(Memory), PS_MEM, RO),
        one("list processes using the most memory", top(Memory), PS_MEM, RO),
        one("memory usage by process", top(Memory), PS_MEM, RO),
        one("is nginx running", pgrep("nginx"), "pgrep -a -- nginx", RO),
        one("show python processes", pgrep("python"), "pgrep -a -- python", RO),
        one("find processes named postgres", pgrep("postgres"), "pgrep -a -- postgres", RO),
        one("pgrep sshd", pgrep("sshd"), "pgrep -a -- sshd", RO),
        one("what is the pid of redis-server", pgrep("redis-server"), "pgrep -a -- redis-server", RO),
        // memory
        one("check memory", Action::MemoryUsage, "free -h", RO),
        one("show memory usage", Action::MemoryUsage, "free -h", RO),
        one("free -h", Action::MemoryUsage, "free -h", RO),
        one("how much memory is free", Action::MemoryUsage, "free -h", RO),
        one("how much ram do we have", Action::MemoryUsage, "free -h", RO),
        one("are we running out of memory", Action::MemoryUsage, "free -h", RO),
        one("what's the RAM usage", Action::MemoryUsage, "free -h", RO),
        // disk free
        one("df -h", df(None), "df -h", RO),
        one("how much disk space is left", df(None), "df -h", RO),
        one("show free disk space", df(None), "df -h", RO),
        one("is the disk full", df(None), "df -h", RO),
        one("are we running out of disk space", df(None), "df -h", RO),
        one("list the filesystems", df(None), "df -h", RO),
        one("show free disk space on src", df(Some("src")), "df -h -- src", RO),
        // disk usage of folders
        one("show the sizes of all folders", sizes("."), "du -h -d 1 -- .", RO),
        one("what is taking up disk space in target", sizes("target"), "du -h -d 1 -- target", RO),
        one("show the biggest directories", sizes("."), "du -h -d 1 -- .", RO),
        one("du -h -d 1 src", sizes("src"), "du -h -d 1 -- src", RO),
        one("disk usage by folder", sizes("."), "du -h -d 1 -- .", RO),
        one("which folders take the most space", sizes("."), "du -h -d 1 -- .", RO),
        // ports and who listens
        one("what's using port 8080", ports(Some(8080)), "ss -tulpn sport = :8080", RO),
        one("who is listening on port 443", ports(Some(443)), "ss -tulpn sport = :443", RO),
        one("which process uses port 5432", ports(Some(5432)), "ss -tulpn sport = :5432", RO),
        one("is port 3000 in use", ports(Some(3000)), "ss -tulpn sport = :3000", RO),
        one("check port 22", ports(Some(22)), "ss -tulpn sport = :22", RO),
        one("lsof -i :9090", ports(Some(9090)), "ss -tulpn sport = :9090", RO),
        one("show open ports", ports(None), "ss -tulpn", RO),
        one("list listening ports", ports(None), "ss -tulpn", RO),
        one("which ports are open", ports(None), "ss -tulpn", RO),
        one("netstat -tulpn", ports(None), "ss -tulpn", RO),
        one("ss -tlnp", ports(None), "ss -tulpn", RO),
        // uptime and load
        one("show uptime", Action::Uptime, "uptime", RO),
        one("uptime", Action::Uptime, "uptime", RO),
        one("what is the load average", Action::Uptime, "uptime", RO),
        one("how long has the server been up", Action::Uptime, "uptime", RO),
        one("check the system load", Action::Uptime, "uptime", RO),
        one("how busy is the machine", Action::Uptime, "uptime", RO),
        // OS, kernel, hostname
        one("show the kernel version", host(H::Kernel), "uname -r", RO),
        one("uname -r", host(H::Kernel), "uname -r", RO),
        one("what is the kernel release", host(H::Kernel), "uname -r", RO),
        one("show the os release", host(H::Os), "cat /etc/os-release", RO),
        one("which distro is this", host(H::Os), "cat /etc/os-release", RO),
        one("what operating system are we running", host(H::Os), "cat /etc/os-release", RO),
        one("hostname", host(H::Hostname), "hostname", RO),
        one("what is the hostname", host(H::Hostname), "hostname", RO),
        one("show the machine name", host(H::Hostname), "hostname", RO),
        one("which host is this", host(H::Hostname), "hostname", RO),
        // interfaces and routes
        one("show network interfaces", net(N::Interfaces), "ip addr show", RO),
        one("ip addr", net(N::Interfaces), "ip addr show", RO),
        one("what is my ip address", net(N::Interfaces), "ip addr show", RO),
        one("list the ip addresses", net(N::Interfaces), "ip addr show", RO),
        one("ifconfig", net(N::Interfaces), "ip addr show", RO),
        one("show the routing table", net(N::Routes), "ip route show", RO),
        one("ip route", net(N::Routes), "ip route show", RO),
        one("what is the default gateway", net(N::Routes), "ip route show", RO),
        one("route -n", net(N::Routes), "ip route show", RO),
        // DNS, reachability and status URLs: probes SKYNET runs itself,
        // READ_ONLY with the network label (checked addresses only)
        one("resolve example.com", dns("example.com"), "skynet-probe dns example.com", RO),
        one("look up github.com", dns("github.com"), "skynet-probe dns github.com", RO),
        one("dig example.org", dns("example.org"), "skynet-probe dns example.org", RO),
        one("what does api.example.com resolve to", dns("api.example.com"), "skynet-probe dns api.example.com", RO),
        one("ping example.com", ping("example.com"), "skynet-probe ping example.com", RO),
        one("is github.com reachable", ping("github.com"), "skynet-probe ping github.com", RO),
        one("can we reach 10.0.0.1", ping("10.0.0.1"), "skynet-probe ping 10.0.0.1", RO),
        one("check connectivity to example.net", ping("example.net"), "skynet-probe ping example.net", RO),
        one("check https://example.com/health", http("https://example.com/health"), "skynet-probe http-get https://example.com/health", RO),
        one("is https://example.com up", http("https://example.com"), "skynet-probe http-get https://example.com/", RO),
        one("is http://status.example.org/ping healthy", http("http://status.example.org/ping"), "skynet-probe http-get http://status.example.org/ping", RO),
        one("check the status of https://api.example.com/v1/health", http("https://api.example.com/v1/health"), "skynet-probe http-get https://api.example.com/v1/health", RO),
        one("health check https://example.net/healthz", http("https://example.net/healthz"), "skynet-probe http-get https://example.net/healthz", RO),
        one("does https://example.com/ respond", http("https://example.com/"), "skynet-probe http-get https://example.com/", RO),
        // services: status (systemctl has no READ_ONLY grammar: approval) and control
        one("systemctl status nginx", status("nginx"), "systemctl status --no-pager nginx", AD),
        one("check the nginx service", status("nginx"), "systemctl status --no-pager nginx", AD),
        one("show the status of the docker service", status("docker"), "systemctl status --no-pager docker", AD),
        one("is the sshd service running", status("sshd"), "systemctl status --no-pager sshd", AD),
        one("restart nginx", svc("nginx", Sv::Restart), "systemctl restart nginx", AD),
        one("restart the nginx service", svc("nginx", Sv::Restart), "systemctl restart nginx", AD),
        one("systemctl restart postgresql", svc("postgresql", Sv::Restart), "systemctl restart postgresql", AD),
        one("stop the redis service", svc("redis", Sv::Stop), "systemctl stop redis", AD),
        one("start docker", svc("docker", Sv::Start), "systemctl start docker", AD),
        one("service cron reload", svc("cron", Sv::Reload), "systemctl reload cron", AD),
        one("reload nginx", svc("nginx", Sv::Reload), "systemctl reload nginx", AD),
        // logs: journal of a unit, kernel, files
        one("show nginx logs", journal(Some("nginx"), false, 50), "journalctl --no-pager --lines=50 -u nginx", RO),
        one("show the last 100 log lines of sshd", journal(Some("sshd"), false, 100), "journalctl --no-pager --lines=100 -u sshd", RO),
        one("journalctl -u docker", journal(Some("docker"), false, 50), "journalctl --no-pager --lines=50 -u docker", RO),
        one("get the logs for the cron service", journal(Some("cron"), false, 50), "journalctl --no-pager --lines=50 -u cron", RO),
        one("why did nginx fail", journal(Some("nginx"), false, 50), "journalctl --no-pager --lines=50 -u nginx", RO),
        one("show kernel messages", journal(None, true, 50), "journalctl --no-pager --lines=50 -k", RO),
        one("dmesg", journal(None, true, 50), "journalctl --no-pager --lines=50 -k", RO),
        one("show the last 20 kernel logs", journal(None, true, 20), "journalctl --no-pager --lines=20 -k", RO),
        one("show the system journal", journal(None, false, 50), "journalctl --no-pager --lines=50", RO),
        one("tail the last 50 lines of the syslog", tail("/var/log/syslog", 50), "tail -n 50 -- /var/log/syslog", RO),
        one("show the last 20 lines of app.log", tail("app.log", 20), "tail -n 20 -- app.log", RO),
        one("tail -n 30 server.log", tail("server.log", 30), "tail -n 30 -- server.log", RO),
        one("tail build.log", tail("build.log", 10), "tail -n 10 -- build.log", RO),
        one("show the end of notes.txt", tail("notes.txt", 10), "tail -n 10 -- notes.txt", RO),
        one("show the last line of out.txt", tail("out.txt", 1), "tail -n 1 -- out.txt", RO),
        one("grep for ERROR in app.log", Action::SearchFiles { pattern: s("ERROR"), path: s("app.log") }, "grep -rn --fixed-strings -e ERROR -- app.log", RO),
        // files: head, count, find, copy, move, chmod, append
        one("show the first 20 lines of README.md", head("README.md", 20), "head -n 20 -- README.md", RO),
        one("head README.md", head("README.md", 10), "head -n 10 -- README.md", RO),
        one("head -n 5 Cargo.toml", head("Cargo.toml", 5), "head -n 5 -- Cargo.toml", RO),
        one("show the beginning of main.rs", head("main.rs", 10), "head -n 10 -- main.rs", RO),
        one("show the first line of VERSION", head("VERSION", 1), "head -n 1 -- VERSION", RO),
        one("preview data.csv", head("data.csv", 10), "head -n 10 -- data.csv", RO),
        one("count the lines in main.rs", wc("main.rs"), "wc -l -- main.rs", RO),
        one("how many lines are in README.md", wc("README.md"), "wc -l -- README.md", RO),
        one("wc -l src/lib.rs", wc("src/lib.rs"), "wc -l -- src/lib.rs", RO),
        one("count lines of notes.txt", wc("notes.txt"), "wc -l -- notes.txt", RO),
        one("find large files", find(".", None, Some("100M"), None), "find . -type f -size +100M", RO),
        one("find files larger than 500MB", find(".", None, Some("500M"), None), "find . -type f -size +500M", RO),
        one("list files bigger than 1G in target", find("target", None, Some("1G"), None), "find target -type f -size +1G", RO),
        // pipelines SKYNET connects itself: one step, judged stage by stage
        one("show the biggest files", largest(".", 10), "du -ah -- . | sort -rh | head -n 10", RO),
        one("the 10 largest files", largest(".", 10), "du -ah -- . | sort -rh | head -n 10", RO),
        one("show the 5 largest files in src", largest("src", 5), "du -ah -- src | sort -rh | head -n 5", RO),
        one("list the top 20 biggest files under target", largest("target", 20), "du -ah -- target | sort -rh | head -n 20", RO),
        one("largest files in /var/log", largest("/var/log", 10), "du -ah -- /var/log | sort -rh | head -n 10", RO),
        one("what are the largest files here", largest(".", 10), "du -ah -- . | sort -rh | head -n 10", RO),
        one("which files take up the most space", largest(".", 10), "du -ah -- . | sort -rh | head -n 10", RO),
        one("which files are taking up space in build", largest("build", 10), "du -ah -- build | sort -rh | head -n 10", RO),
        one("find the 3 heaviest files", largest(".", 3), "du -ah -- . | sort -rh | head -n 3", RO),
        one("how many files are in src", count_files("src"), "find src -type f | wc -l", RO),
        one("how many files are there", count_files("."), "find . -type f | wc -l", RO),
        one("count the files in docs", count_files("docs"), "find docs -type f | wc -l", RO),
        one("show the number of files under target", count_files("target"), "find target -type f | wc -l", RO),
        one("how many files does src have", count_files("src"), "find src -type f | wc -l", RO),
        one("run `du -ah . | sort -rh | head -n 3`", piped(&[&["du", "-ah", "."], &["sort", "-rh"], &["head", "-n", "3"]]), "du -ah . | sort -rh | head -n 3", RO),
        one("run `grep -c 'a|b' notes.txt`", Action::ExecuteCommand { argv: vec![s("grep"), s("-c"), s("a|b"), s("notes.txt")] }, "grep -c a|b notes.txt", RO),
        // a later stage's risk is the pipeline's
        one("run `ls | tee listing.txt`", piped(&[&["ls"], &["tee", "listing.txt"]]), "ls | tee listing.txt", W),
        one("run `cat notes.txt | sort | uniq -c`", piped(&[&["cat", "notes.txt"], &["sort"], &["uniq", "-c"]]), "cat notes.txt | sort | uniq -c", W),
        one("find files modified in the last 3 days", find(".", None, None, Some(3)), "find . -type f -mtime -3", RO),
        one("show files changed today", find(".", None, None, Some(1)), "find . -type f -mtime -1", RO),
        one("list recently modified files in src", find("src", None, None, Some(7)), "find src -type f -mtime -7", RO),
        one("find files named Cargo.toml", find(".", Some("Cargo.toml"), None, None), "find . -type f -name Cargo.toml", RO),
        one("find all *.log files", find(".", Some("*.log"), None, None), "find . -type f -name *.log", RO),
        one("find files matching '*.rs' in src", find("src", Some("*.rs"), None, None), "find src -type f -name *.rs", RO),
        one("copy a.txt to b.txt", cp("a.txt", "b.txt"), "cp -r -- a.txt b.txt", W),
        one("cp config.toml config.bak", cp("config.toml", "config.bak"), "cp -r -- config.toml config.bak", W),
        one("duplicate the folder src as src2", cp("src", "src2"), "cp -r -- src src2", W),
        one("move a.txt to docs/", mv("a.txt", "docs/"), "mv -- a.txt docs/", W),
        one("rename old.md to new.md", mv("old.md", "new.md"), "mv -- old.md new.md", W),
        one("mv x.rs y.rs", mv("x.rs", "y.rs"), "mv -- x.rs y.rs", W),
        one("chmod 644 notes.txt", chmod("notes.txt", "644"), "chmod 644 -- notes.txt", AD),
        one("make run.sh executable", chmod("run.sh", "+x"), "chmod +x -- run.sh", AD),
        one("set the permissions of key.txt to 600", chmod("key.txt", "600"), "chmod 600 -- key.txt", AD),
        one("append 'done' to log.txt", append("log.txt", "done\n"), "tee -a -- log.txt", W),
        one("add line 'x = 1' to the end of config.ini", append("config.ini", "x = 1\n"), "tee -a -- config.ini", W),
        // git housekeeping
        one("what branch am I on", Action::GitBranches, "git branch --list", RO),
        one("list branches", Action::GitBranches, "git branch --list", RO),
        one("show all local branches", Action::GitBranches, "git branch --list", RO),
        one("git branch", Action::GitBranches, "git branch --list", RO),
        one("create a branch feature-x", branch("feature-x"), "git branch feature-x", W),
        one("make a new branch called fix/login", branch("fix/login"), "git branch fix/login", W),
        one("git branch hotfix", branch("hotfix"), "git branch hotfix", W),
        one("switch to branch main", switch("main", false), "git switch main", W),
        one("checkout develop", switch("develop", false), "git switch develop", W),
        one("go back to main", switch("main", false), "git switch main", W),
        one("git checkout -b feature-y", switch("feature-y", true), "git switch -c feature-y", W),
        one("create a branch topic and switch to it", switch("topic", true), "git switch -c topic", W),
        one("stage all changes", add(&["."]), "git add -- .", W),
        one("git add .", add(&["."]), "git add -- .", W),
        one("stage src/main.rs", add(&["src/main.rs"]), "git add -- src/main.rs", W),
        one("add README.md to git", add(&["README.md"]), "git add -- README.md", W),
        one("stash my changes", stash(St::Push), "git stash push", W),
        one("git stash", stash(St::Push), "git stash push", W),
        one("put my changes aside", stash(St::Push), "git stash push", W),
        one("pop the stash", stash(St::Pop), "git stash pop", W),
        one("git stash pop", stash(St::Pop), "git stash pop", W),
        one("restore my stashed changes", stash(St::Pop), "git stash pop", W),
        one("apply the latest stash", stash(St::Apply), "git stash apply", W),
        // git-change (WRITE) matches every `git stash`, list included.
        one("list the stashes", stash(St::List), "git stash list", W),
        one("git pull", pull(None, None), "git pull", W),
        one("pull the latest changes", pull(None, None), "git pull", W),
        one("pull from upstream main", pull(Some("upstream"), Some("main")), "git pull upstream main", W),
        one("sync the repo", pull(None, None), "git pull", W),
        one("git fetch", fetch(None), "git fetch", W),
        one("fetch from origin", fetch(Some("origin")), "git fetch origin", W),
        one("fetch all branches", fetch(None), "git fetch", W),
        one("git show", gshow("HEAD"), "git show --no-ext-diff --no-textconv HEAD", RO),
        one("show commit abc1234", gshow("abc1234"), "git show --no-ext-diff --no-textconv abc1234", RO),
        one("what changed in commit HEAD~2", gshow("HEAD~2"), "git show --no-ext-diff --no-textconv HEAD~2", RO),
        one("git show v1.2.0", gshow("v1.2.0"), "git show --no-ext-diff --no-textconv v1.2.0", RO),
        one("git blame src/lib.rs", blame("src/lib.rs"), "git blame -- src/lib.rs", RO),
        one("who changed each line of main.rs", blame("main.rs"), "git blame -- main.rs", RO),
        one("blame README.md", blame("README.md"), "git blame -- README.md", RO),
        one("list tags", tag(None), "git tag --list", W),
        one("git tag", tag(None), "git tag --list", W),
        one("create a tag v2.0.0", tag(Some("v2.0.0")), "git tag v2.0.0", W),
        one("tag this commit as release-1", tag(Some("release-1")), "git tag release-1", W),
        // packages (ADMIN)
        one("install htop", pkg(P::Install, "htop"), "apt-get install -y htop", AD),
        one("apt install curl", pkg(P::Install, "curl"), "apt-get install -y curl", AD),
        one("install the package jq", pkg(P::Install, "jq"), "apt-get install -y jq", AD),
        one("uninstall nano", pkg(P::Remove, "nano"), "apt-get remove -y nano", AD),
        one("remove package vim", pkg(P::Remove, "vim"), "apt-get remove -y vim", AD),
        one("apt-get purge -y telnet", pkg(P::Remove, "telnet"), "apt-get remove -y telnet", AD),
        // kill (ADMIN)
        one("kill process 1234", kill(Some(1234), None), "kill 1234", AD),
        one("kill 4321", kill(Some(4321), None), "kill 4321", AD),
        one("terminate pid 99", kill(Some(99), None), "kill 99", AD),
        one("kill -TERM 777", kill(Some(777), None), "kill 777", AD),
        one("kill nginx", kill(None, Some("nginx")), "pkill -x nginx", AD),
        one("killall node", kill(None, Some("node")), "pkill -x node", AD),
        // tool versions and locations
        one("which python3", which("python3"), "which python3", RO),
        one("where is node installed", which("node"), "which node", RO),
        one("is docker installed", which("docker"), "which docker", RO),
        one("find the path of gcc", which("gcc"), "which gcc", RO),
        one("git --version", version("git"), "git --version", W),
        one("what version of python3 is installed", version("python3"), "python3 --version", W),
        one("show the node version", version("node"), "node --version", W),
        one("check the version of rustc", version("rustc"), "rustc --version", W),
        // containers: read through the Docker Engine API by SKYNET (a probe),
        // never a `docker` argv or the socket in a sandbox: READ_ONLY
        one("list docker containers", containers(C::List, None), "skynet-probe containers list", RO),
        one("docker ps", containers(C::List, None), "skynet-probe containers list", RO),
        one("which containers are running", containers(C::List, None), "skynet-probe containers list", RO),
        one("show the logs of container web", containers(C::Logs, Some("web")), "skynet-probe containers logs web --tail 100", RO),
        one("docker logs api", containers(C::Logs, Some("api")), "skynet-probe containers logs api --tail 100", RO),
        one("inspect container db", containers(C::Inspect, Some("db")), "skynet-probe containers inspect db", RO),
        // compound intents
        ("check memory and show the top processes", vec![Action::MemoryUsage, top(Cpu)], vec!["free -h", PS_CPU], RO),
        ("show uptime, check disk space left and list open ports", vec![Action::Uptime, df(None), ports(None)], vec!["uptime", "df -h", "ss -tulpn"], RO),
        ("stash my changes then switch to main and pull", vec![stash(St::Push), switch("main", false), pull(None, None)], vec!["git stash push", "git switch main", "git pull"], W),
        ("what's using port 8080 and kill process 1234", vec![ports(Some(8080)), kill(Some(1234), None)], vec!["ss -tulpn sport = :8080", "kill 1234"], AD),
        ("search for salt and pepper", vec![Action::SearchFiles { pattern: s("salt and pepper"), path: s(".") }], vec!["grep -rn --fixed-strings -e salt and pepper -- ."], RO),
        ("show nginx logs and restart nginx", vec![journal(Some("nginx"), false, 50), svc("nginx", Sv::Restart)], vec!["journalctl --no-pager --lines=50 -u nginx", "systemctl restart nginx"], AD),
    ]
}

/// Where operators read outside the root; the default read scope is
/// configured elsewhere, so the test names it.
fn context(root: &Path) -> PolicyContext {
    PolicyContext::rooted(root)
        .with_read_paths([PathBuf::from("/etc/os-release"), PathBuf::from("/var/log")])
}

#[test]
fn ops_phrasings_plan_the_expected_actions_argv_and_risk() {
    let cases = cases();
    assert!(cases.len() >= 150, "only {} phrasings", cases.len());
    let root = tempfile::tempdir().expect("tempdir");
    let policy = Policy::default();
    let ctx = context(root.path());
    let planner = RulePlanner::new();
    let mut failures = Vec::new();
    for (intent, want_actions, want_argv, want_risk) in &cases {
        let got = match planner.actions(intent) {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("{intent:?}: {e}"));
                continue;
            }
        };
        let actions: Vec<Action> = got.iter().map(|(_, a)| a.clone()).collect();
        if &actions != want_actions {
            failures.push(format!(
                "{intent:?}: want {want_actions:?}, got {actions:?}"
            ));
            continue;
        }
        let mut plan_risk = RO;
        let mut argvs = Vec::new();
        for action in &actions {
            let (argv, line) = match action.resolve(root.path()) {
                // A pipeline's stages are judged one by one.
                Ok(inv) => (
                    std::iter::once(inv.argv.clone())
                        .chain(inv.pipe.iter().cloned())
                        .collect::<Vec<_>>(),
                    inv.display_line(),
                ),
                Err(e) => {
                    failures.push(format!("{intent:?}: {e}"));
                    continue;
                }
            };
            // A probe is judged by its own rule, like the engine's judge.
            let decision = match Probe::from_action(action) {
                Some(probe) => probe.decision(),
                None => policy.check_stages(&argv, &ctx),
            };
            // What the engine gives the step: the catalog's claim, raised
            // by the policy, never lowered.
            let step_risk = action.base_risk().max(decision.risk);
            if step_risk < decision.risk {
                failures.push(format!("{intent:?}: planned below the policy for {argv:?}"));
            }
            if decision.verdict == crate::policy::Verdict::Forbid {
                failures.push(format!(
                    "{intent:?}: {argv:?} is forbidden: {}",
                    decision.explain()
                ));
            }
            plan_risk = plan_risk.max(step_risk);
            argvs.push(line);
        }
        if argvs != *want_argv {
            failures.push(format!(
                "{intent:?}: want argv {want_argv:?}, got {argvs:?}"
            ));
        }
        if plan_risk != *want_risk {
            failures.push(format!("{intent:?}: want {want_risk:?}, got {plan_risk:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn names_that_could_be_options_are_refused_with_the_clause() {
    for intent in [
        "restart -rf",
        "install --reinstall",
        "kill --all",
        "create a branch -D",
        "resolve -x",
        // SIGKILL is not what kill_process sends: no silent downgrade.
        "kill -9 777",
    ] {
        let e = planner_error(intent);
        assert!(e.contains("(clause 1 of 1)"), "{intent}: {e}");
    }
}

fn planner_error(intent: &str) -> String {
    match RulePlanner::new().actions(intent) {
        Err(crate::Error::Planning(m)) => m,
        other => panic!("{intent:?} should not plan, got {other:?}"),
    }
}

#[test]
fn only_network_probes_carry_the_network_label() {
    let root = tempfile::tempdir().expect("tempdir");
    for (intent, actions, _, _) in cases() {
        for action in &actions {
            let label = Probe::from_action(action).and_then(|p| p.network_target());
            let network = matches!(
                action,
                Action::DnsLookup { .. } | Action::PingHost { .. } | Action::HttpStatus { .. }
            );
            assert_eq!(label.is_some(), network, "{intent:?}: {action:?} {label:?}");
            if network {
                let argv = action.resolve(root.path()).expect("resolves").argv;
                assert_eq!(argv[0], crate::probe::PROGRAM, "{intent:?}");
            }
        }
    }
}
