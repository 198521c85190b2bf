//! The default policy, table-driven: risk and verdict for many argvs.
#![allow(clippy::unwrap_used)]

use skynet_core::policy::{Decision, Policy, PolicyContext, Verdict};
use skynet_core::{Error, RiskLevel};
use std::path::Path;

use RiskLevel::{Admin as A, ReadOnly as R, Write as W};
use Verdict::{Allow, Forbid, Prompt};

fn argv(cmd: &[&str]) -> Vec<String> {
    cmd.iter().map(|s| s.to_string()).collect()
}

/// A sandbox root with a few files in it.
fn sandbox() -> (tempfile::TempDir, PolicyContext) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("README.md"), "hi").unwrap();
    (dir, PolicyContext::rooted(root))
}

fn check(policy: &Policy, ctx: &PolicyContext, cmd: &[&str]) -> Decision {
    policy.check(&argv(cmd), ctx)
}

/// Every case decided as expected (risk and verdict); the wrong ones are
/// listed together, each with the decision's explanation.
fn assert_decisions(p: &Policy, ctx: &PolicyContext, cases: &[(&[&str], RiskLevel, Verdict)]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(cmd, risk, verdict)| {
            let d = check(p, ctx, cmd);
            (d.risk != *risk || d.verdict != *verdict)
                .then(|| format!("{cmd:?}: want {risk} {verdict:?}, got {}", d.explain()))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn default_rules_load_and_are_listed() {
    let p = Policy::default();
    assert!(p.rules().len() > 40);
    assert!(p.rules().iter().any(|r| r.name == "git-inspect"));
    let json = serde_json::to_value(p.rules()).unwrap();
    assert_eq!(json[0]["name"], "inspect-files");
    assert!(json[0]["match"].is_array());
    // The published text is the one in force.
    let again = Policy::from_toml(Policy::default_rules_toml()).unwrap();
    assert_eq!(again.rules(), p.rules());
}

#[test]
fn table_of_commands() {
    let (_dir, ctx) = sandbox();
    let p = Policy::default();
    let cases: &[(&[&str], RiskLevel, Verdict)] = &[
        // READ_ONLY
        (&["ls", "-la"], R, Allow),
        (&["ls", "-la", "--", "src"], R, Allow),
        (&["cat", "README.md"], R, Allow),
        (&["/bin/cat", "./README.md"], R, Allow),
        (&["head", "-n", "5", "README.md"], R, Allow),
        (&["timeout", "60", "tail", "-f", "log.txt"], R, Allow),
        (&["wc", "-l", "src/main.rs"], R, Allow),
        (&["grep", "-rn", "TODO", "."], R, Allow),
        (&["grep", "-rn", "/usr/lib", "src"], R, Allow),
        (&["grep", "-e", "/etc", "src"], R, Allow),
        (&["rg", "fn main", "src"], R, Allow),
        (&["find", ".", "-name", "*.rs"], R, Allow),
        (&["du", "-sh", "."], R, Allow),
        (&["df", "-h"], R, Allow),
        (&["uname", "-a"], R, Allow),
        (&["pwd"], R, Allow),
        (&["echo", "hello", "/etc/passwd"], R, Allow),
        (&["date"], R, Allow),
        (&["whoami"], R, Allow),
        (&["id"], R, Allow),
        (&["stat", "README.md"], R, Allow),
        (&["file", "README.md"], R, Allow),
        (&["which", "git"], R, Allow),
        (&["env"], R, Allow),
        (&["tree"], R, Allow),
        (&["true"], R, Allow),
        (&["git", "status"], R, Allow),
        (&["/usr/bin/git", "diff", "--cached"], R, Allow),
        (&["git", "log", "--oneline", "-n", "5"], R, Allow),
        (&["git", "show", "HEAD"], R, Allow),
        (&["git", "branch"], R, Allow),
        (&["git", "branch", "-a"], R, Allow),
        (&["timeout", "5", "ls"], R, Allow),
        (&["nice", "-n", "10", "cat", "README.md"], R, Allow),
        (&["cat", "/dev/null"], R, Allow),
        // WRITE
        (&["tee", "--", "out.txt"], W, Prompt),
        (&["mkdir", "-p", "--", "build/x"], W, Prompt),
        (&["touch", "x"], W, Prompt),
        (&["cp", "README.md", "b.md"], W, Prompt),
        (&["mv", "a", "b"], W, Prompt),
        (&["cargo", "test"], W, Prompt),
        (&["cargo", "build", "--release"], W, Prompt),
        (&["npm", "test"], W, Prompt),
        (&["npm", "install"], W, Prompt),
        (&["make"], W, Prompt),
        (&["go", "test", "./..."], W, Prompt),
        (&["python3", "-m", "pytest"], W, Prompt),
        (&["pytest"], W, Prompt),
        (
            &["git", "commit", "--all", "-m", "fix /etc handling"],
            W,
            Prompt,
        ),
        (&["git", "add", "."], W, Prompt),
        (&["git", "checkout", "main"], W, Prompt),
        (&["git", "merge", "topic"], W, Prompt),
        (&["git", "branch", "new-feature"], W, Prompt),
        (&["git", "diff", "--output=out.patch"], W, Prompt),
        (&["sed", "-i", "s/a/b/", "README.md"], W, Prompt),
        (&["curl", "-fsSL", "https://example.org/x"], W, Prompt),
        (&["wget", "https://example.org/x"], W, Prompt),
        (&["frobnicate", "--all"], W, Prompt),
        (&["./run.sh"], W, Prompt),
        (&["sort", "-o", "out", "README.md"], W, Prompt),
        (&["find", ".", "-fprint", "list.txt"], W, Prompt),
        // Issue 14: follows until stopped, unless bounded by `timeout`.
        (&["tail", "-f", "log.txt"], W, Prompt),
        (&["env", "LD_PRELOAD=./x.so", "cat", "README.md"], W, Prompt),
        (&["xargs", "cat"], W, Prompt),
        (&["bash", "build.sh"], W, Prompt),
        // ADMIN
        (&["rm", "x"], A, Prompt),
        (&["rm", "-r", "--", "build"], A, Prompt),
        (&["rm", "-rf", "./build"], A, Prompt),
        (&["rmdir", "d"], A, Prompt),
        (&["unlink", "x"], A, Prompt),
        (&["shred", "secret.txt"], A, Prompt),
        (&["find", ".", "-name", "*.tmp", "-delete"], A, Prompt),
        (&["find", ".", "-exec", "grep", "x", "{}", ";"], A, Prompt),
        (&["git", "push"], A, Prompt),
        (&["git", "push", "origin", "main"], A, Prompt),
        (&["git", "push", "--force", "origin", "main"], A, Prompt),
        (&["git", "reset", "--hard", "HEAD~1"], A, Prompt),
        (&["git", "clean", "-fd"], A, Prompt),
        (&["git", "clean", "-xdf"], A, Prompt),
        (&["git", "branch", "-D", "old"], A, Prompt),
        (&["sudo", "ls"], A, Prompt),
        (&["su", "-"], A, Prompt),
        (&["doas", "id"], A, Prompt),
        (&["chmod", "+x", "run.sh"], A, Prompt),
        (&["chown", "me", "README.md"], A, Prompt),
        (&["chgrp", "staff", "README.md"], A, Prompt),
        (&["setcap", "cap_net_raw+ep", "bin"], A, Prompt),
        (&["apt-get", "install", "-y", "curl"], A, Prompt),
        (&["apt", "install", "curl"], A, Prompt),
        (&["dpkg", "-i", "x.deb"], A, Prompt),
        (&["yum", "install", "x"], A, Prompt),
        (&["dnf", "install", "x"], A, Prompt),
        (&["pacman", "-S", "x"], A, Prompt),
        (&["pip", "install", "requests"], A, Prompt),
        (&["python3", "-m", "pip", "install", "x"], A, Prompt),
        (&["npm", "install", "-g", "typescript"], A, Prompt),
        (&["kill", "-9", "1234"], A, Prompt),
        (&["pkill", "node"], A, Prompt),
        (&["killall", "node"], A, Prompt),
        (&["ssh", "host", "uptime"], A, Prompt),
        (&["scp", "README.md", "host:"], A, Prompt),
        (&["sftp", "host"], A, Prompt),
        (&["nc", "-l", "8080"], A, Prompt),
        (&["telnet", "host"], A, Prompt),
        (&["rsync", "-a", "src/", "host:backup/"], A, Prompt),
        (&["docker", "run", "alpine"], A, Prompt),
        (&["podman", "ps"], A, Prompt),
        (&["kubectl", "get", "pods"], A, Prompt),
        (&["systemctl", "restart", "nginx"], A, Prompt),
        (&["service", "nginx", "stop"], A, Prompt),
        (&["crontab", "-e"], A, Prompt),
        (&["sudo", "-u", "root", "cat", "README.md"], A, Prompt),
        // Forbidden
        (&["rm", "-rf", "/"], A, Forbid),
        (&["rm", "-fr", "/*"], A, Forbid),
        (&["rm", "-r", "~"], A, Forbid),
        (&["rm", "--recursive", "--no-preserve-root", "/"], A, Forbid),
        (&["dd", "if=/dev/zero", "of=/dev/sda"], A, Forbid),
        (&["shred", "/dev/sda"], A, Forbid),
        (&["wipefs", "-a", "/dev/sda"], A, Forbid),
        (&["mkfs.ext4", "/dev/sdb1"], A, Forbid),
        (&["fdisk", "/dev/sda"], A, Forbid),
        (&["parted", "/dev/sda", "mklabel", "gpt"], A, Forbid),
        (&["sgdisk", "--zap-all", "/dev/sda"], A, Forbid),
        (&["shutdown", "-h", "now"], A, Forbid),
        (&["reboot"], A, Forbid),
        (&["halt"], A, Forbid),
        (&["poweroff"], A, Forbid),
        (&["init", "0"], A, Forbid),
        (&["init", "6"], A, Forbid),
        (&["sudo", "reboot"], A, Forbid),
        (&["cat", "/etc/passwd"], A, Forbid),
        (&["ls", ".."], A, Forbid),
        (&["cp", "README.md", "../stolen"], A, Forbid),
        (&["tee", "--output-error=warn", "--", "/tmp/x"], A, Forbid),
        (&["gcc", "-o/tmp/evil", "x.c"], A, Forbid),
        (&["dd", "if=README.md", "of=/tmp/x"], A, Forbid),
        (&["git", "diff", "--output=/tmp/x"], A, Forbid),
        (&["ls", "~/"], A, Forbid),
    ];
    assert!(cases.len() >= 60);
    assert_decisions(&p, &ctx, cases);
    for (cmd, _, _) in cases {
        let d = check(&p, &ctx, cmd);
        assert!(!d.reasons.is_empty(), "{cmd:?} has no reasons");
    }
}

#[test]
fn shell_scripts() {
    let (_dir, ctx) = sandbox();
    let p = Policy::default();
    let cases: &[(&[&str], RiskLevel, Verdict)] = &[
        (&["sh", "-c", "git status && ls"], W, Prompt),
        (&["bash", "-lc", "ls -la | wc -l; echo done"], W, Prompt),
        (&["sh", "-c", "echo hi > out.txt"], W, Prompt),
        (&["sh", "-c", "make 2>&1 > /dev/null"], W, Prompt),
        (&["sh", "-c", "rm -rf /"], A, Forbid),
        (&["sh", "-c", "rm -rf /*"], A, Forbid),
        (&["sh", "-c", "ls; rm x"], A, Prompt),
        (&["bash", "-c", "echo $(id)"], A, Prompt),
        (&["bash", "-c", "echo `id`"], A, Prompt),
        (&["bash", "-c", "cat <<EOF\nx\nEOF"], A, Prompt),
        (&["bash", "-c", "ls *.rs"], A, Prompt),
        (&["sh", "-c", "echo x > /etc/passwd"], A, Forbid),
        (&["sh", "-c", "cat < /etc/shadow"], A, Forbid),
        (&["sh", "-c", "cd /etc && cat passwd"], A, Forbid),
        (&["sh", "-c", "cd src && cat ../../x"], A, Forbid),
        (&["sh", "-c", "cd src && cat main.rs"], W, Prompt),
        (&["bash", "-c", ":(){ :|:& };:"], A, Forbid),
        (&["sh", "-c", "sudo reboot"], A, Forbid),
        (&["env", "sh", "-c", "ls"], W, Prompt),
        (&["busybox", "sh", "-c", "rm -rf /"], A, Forbid),
        (&["timeout", "10", "bash", "-c", "git push"], A, Prompt),
        (&["bash"], A, Prompt),
        (&["sh", "-c", "exec rm x"], A, Prompt),
        (&["sh", "-c", "LD_PRELOAD=/tmp/x.so ls"], A, Forbid),
        (&["zsh", "-c", "if true; then ls; fi"], A, Prompt),
    ];
    assert_decisions(&p, &ctx, cases);
    let d = check(&p, &ctx, &["bash", "-c", "echo $(id)"]);
    assert_eq!(d.rule.as_deref(), Some("shell-unanalysable"));
    assert!(
        d.reasons[0].contains("shell script could not be analysed"),
        "{d:?}"
    );
    let d = check(&p, &ctx, &["sh", "-c", "git status && ls"]);
    assert_eq!(d.rule.as_deref(), Some("shell-script"));
    let d = check(&p, &ctx, &["bash", "-c", ":(){ :|:& };:"]);
    assert_eq!(d.rule.as_deref(), Some("fork-bomb"));
}

#[test]
fn decisions_explain_themselves() {
    let (_dir, ctx) = sandbox();
    let p = Policy::default();
    let d = check(&p, &ctx, &["git", "status"]);
    assert_eq!(d.rule.as_deref(), Some("git-inspect"));
    assert_eq!(
        d.reasons,
        vec!["git inspection commands do not change the repository".to_string()]
    );
    // Strictest wins: `rm -rf /` matches `delete` (ADMIN) and `rm-root` (forbid).
    let d = check(&p, &ctx, &["rm", "-rf", "/"]);
    assert_eq!(d.rule.as_deref(), Some("rm-root"));
    assert!(d.reasons.iter().any(|r| r == "deletes files"), "{d:?}");
    let d = check(&p, &ctx, &["git", "push", "--force"]);
    assert_eq!(d.rule.as_deref(), Some("git-force-push"));
    let d = check(&p, &ctx, &["foo"]);
    assert_eq!(d.rule, None);
    assert_eq!(
        d.reasons,
        vec!["unknown program `foo`: treated as WRITE".to_string()]
    );
    let d = check(&p, &ctx, &["git", "frobnicate"]);
    assert!(
        d.reasons[0].contains("the subcommand `frobnicate` is not on git's read-only list"),
        "{d:?}"
    );
    assert_eq!(d.rule.as_deref(), Some("not-read-only"));
    let d = check(&p, &ctx, &["ls", "--dereference"]);
    assert!(
        d.reasons
            .iter()
            .any(|r| r.contains("`--dereference` follows symbolic links")),
        "names the option: {d:?}"
    );
    let d = check(&p, &ctx, &["cat", "/etc/passwd"]);
    assert_eq!(d.rule.as_deref(), Some("path-outside-root"));
    assert!(d.reasons[0].contains("`/etc/passwd`"), "{d:?}");
    assert!(d.reasons[0].contains("project"), "names the root: {d:?}");
}

#[test]
fn empty_argv_is_forbidden() {
    let (_dir, ctx) = sandbox();
    let p = Policy::default();
    for cmd in [vec![], vec![String::new()], vec!["  ".to_string()]] {
        let d = p.check(&cmd, &ctx);
        assert_eq!(d.verdict, Forbid);
        assert!(d.reasons[0].contains("empty"));
    }
}

#[test]
fn symlink_escape_and_cwd_outside_root_are_forbidden() {
    let (dir, ctx) = sandbox();
    let root = &ctx.roots[0];
    std::os::unix::fs::symlink(dir.path(), root.join("up")).unwrap();
    let p = Policy::default();
    let d = check(&p, &ctx, &["cat", "up/secret"]);
    assert_eq!(
        (d.verdict, d.rule.as_deref()),
        (Forbid, Some("path-outside-root"))
    );
    let outside = PolicyContext {
        roots: ctx.roots.clone(),
        read_paths: Vec::new(),
        cwd: dir.path().to_path_buf(),
    };
    let d = check(&p, &outside, &["ls"]);
    assert_eq!(d.verdict, Forbid);
    assert!(d.reasons[0].contains("working directory"), "{d:?}");
    let sub = PolicyContext {
        roots: ctx.roots.clone(),
        read_paths: Vec::new(),
        cwd: root.join("src"),
    };
    assert_eq!(check(&p, &sub, &["cat", "../README.md"]).verdict, Allow);
    assert_eq!(check(&p, &sub, &["cat", "../../x"]).verdict, Forbid);
}

#[test]
fn custom_rules_replace_the_defaults() {
    let (dir, ctx) = sandbox();
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        r#"
[[rule]]
name = "ls-only"
pattern = ["ls"]
risk = "READ_ONLY"
reason = "listing is harmless"
match = [["ls", "-l"]]
"#,
    )
    .unwrap();
    let p = Policy::load(&path).unwrap();
    assert_eq!(p.rules().len(), 1);
    assert_eq!(check(&p, &ctx, &["ls"]).verdict, Allow);
    // `cat` is no longer known: WRITE.
    assert_eq!(check(&p, &ctx, &["cat", "README.md"]).risk, W);
    // Built-in checks still apply.
    assert_eq!(check(&p, &ctx, &["ls", "/etc"]).verdict, Forbid);
    assert_eq!(check(&p, &ctx, &["sh", "-c", "ls"]).risk, W);
}

#[test]
fn malformed_rules_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[[rule]\n", "malformed TOML"),
        (
            "[[rule]]\nname='x'\npattern=['ls']\nrisk='HUGE'\nreason='r'\nmatch=[['ls']]\n",
            "rule `x`: unknown risk",
        ),
        (
            "[[rule]]\nname='y'\npattern=['ls']\nrisk='WRITE'\nreason='r'\nmatch=[['cat']]\n",
            "rule `y`: example [\"cat\"] should match but does not",
        ),
        (
            "[[rule]]\nname='z'\npattern=['ls']\nrisk='WRITE'\nreason='r'\nmatch=[['ls']]\nnot_match=[['ls','-l']]\n",
            "rule `z`: example [\"ls\", \"-l\"] should not match but does",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let err = Policy::load(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::PolicyRules(_)), "{msg}");
        assert!(msg.contains(want), "{msg} should contain {want}");
        assert!(
            msg.contains(&path.display().to_string()),
            "{msg} names the file"
        );
    }
    let err = Policy::load(Path::new("/nonexistent/rules.toml")).unwrap_err();
    assert!(err.to_string().contains("cannot read rules file"), "{err}");
}

#[test]
fn wrapper_working_directory_is_followed() {
    let (dir, ctx) = sandbox();
    let root = &ctx.roots[0];
    std::os::unix::fs::symlink(dir.path(), root.join("src").join("up")).unwrap();
    let p = Policy::default();
    // From the root `up` does not exist; from `src` it leads outside.
    assert_eq!(check(&p, &ctx, &["cat", "up"]).verdict, Allow);
    assert_eq!(
        check(&p, &ctx, &["env", "-C", "src", "cat", "up"]).verdict,
        Forbid
    );
    assert_eq!(check(&p, &ctx, &["env", "-C", "src", "ls"]).verdict, Allow);
    assert_eq!(
        check(&p, &ctx, &["sh", "-c", "cd src; cat up/x"]).verdict,
        Forbid
    );
    // A dangling link out of the root is outside too.
    std::os::unix::fs::symlink("/nonexistent-skynet/x", root.join("dangling")).unwrap();
    assert_eq!(check(&p, &ctx, &["tee", "dangling"]).verdict, Forbid);
}

/// Holes found in review: project programs posing as system ones, git
/// options that run programs, values hidden in short-option clusters.
#[test]
fn review_regressions() {
    let root = tempfile::tempdir().expect("tempdir");
    let ctx = skynet_core::PolicyContext::rooted(root.path().canonicalize().expect("canon"));
    let policy = skynet_core::Policy::default();
    let check = |words: &[&str]| {
        let argv: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        policy.check(&argv, &ctx)
    };
    use skynet_core::{RiskLevel, Verdict};
    for argv in [
        &["./ls"][..],
        &["bin/cat", "x"],
        &["timeout", "5", "./git", "status"],
    ] {
        let d = check(argv);
        assert!(d.risk >= RiskLevel::Write, "{argv:?}: {d:?}");
    }
    assert_eq!(check(&["/usr/bin/ls", "-la"]).risk, RiskLevel::ReadOnly);
    let d = check(&["git", "grep", "-Otouch /tmp/pwned;", "."]);
    assert_eq!(d.risk, RiskLevel::Admin, "{d:?}");
    assert_eq!(
        check(&["sort", "--compress-program=sh", "x"]).risk,
        RiskLevel::Admin
    );
    assert_eq!(
        check(&["sort", "-uo/home/me/.bashrc", "notes"]).verdict,
        Verdict::Forbid
    );
    assert_eq!(
        check(&["sort", "-uoout.txt", "notes"]).risk,
        RiskLevel::Write
    );
    // Abbreviated long options and bundled short ones, as getopt parses them.
    for argv in [
        &["git", "grep", "--open-files-in=sh", "PWNME"][..],
        &["git", "grep", "-iOsh", "pwnme"],
        &["sort", "-S", "64k", "--comp=sh", "data"],
        &["date", "--se=2020-01-01"],
        &["date", "-us", "2020-01-01"],
    ] {
        assert_eq!(check(argv).risk, RiskLevel::Admin, "{argv:?}");
    }
    assert_eq!(
        check(&["sort", "--outp=src/main.rs", "README.md"]).risk,
        RiskLevel::Write
    );
    // Reads that follow symlinks (possibly out of the root) need approval.
    for argv in [
        &["grep", "-R", "root", "."][..],
        &["ls", "-RL", "."],
        &["find", "-L", "."],
        &["sort", "--files0-from=list0"],
    ] {
        let d = check(argv);
        assert!(
            d.risk >= RiskLevel::Write && d.verdict == Verdict::Prompt,
            "{argv:?}: {d:?}"
        );
    }
    // ... while the plain forms stay READ_ONLY.
    for argv in [
        &["grep", "-rn", "x", "."][..],
        &["find", ".", "-maxdepth", "1"],
        &["ls", "-la"],
    ] {
        assert_eq!(check(argv).risk, RiskLevel::ReadOnly, "{argv:?}");
    }
}

/// Issue 14: the READ_ONLY catalog actions' argv stay READ_ONLY, and
/// the rule README shows for `cat` stays `inspect-files`.
#[test]
fn catalog_actions_stay_read_only() {
    let (_dir, ctx) = sandbox();
    let p = Policy::default();
    for cmd in [
        &["git", "status"][..],
        &["git", "diff", "--no-ext-diff", "--no-textconv"],
        &[
            "git",
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--staged",
            "--",
            "src",
        ],
        &["git", "log", "--oneline", "-n", "10"],
        &["ls", "-la", "--", "src"],
        &["cat", "--", "README.md"],
        &[
            "grep",
            "-rn",
            "--fixed-strings",
            "-e",
            "/etc/x a",
            "--",
            "src",
        ],
        &["du", "-sh", "--", "."],
        &["uname", "-a"],
    ] {
        let d = check(&p, &ctx, cmd);
        assert_eq!((d.risk, d.verdict), (R, Allow), "{cmd:?}: {}", d.explain());
    }
    let d = check(&p, &ctx, &["cat", "--", "README.md"]);
    assert_eq!(d.rule.as_deref(), Some("inspect-files"));
}

/// Read scope and write scope are separate; secrets are in neither.
#[test]
fn read_paths_widen_reads_only_and_secrets_stay_closed() {
    let (dir, ctx) = sandbox();
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(shared.join("docs")).unwrap();
    std::fs::write(shared.join("docs/a.txt"), "a").unwrap();
    std::fs::write(shared.join("tls.pem"), "k").unwrap();
    let p = Policy::default();
    let doc = shared.join("docs/a.txt").display().to_string();
    // Without read paths: outside the root.
    assert_eq!(check(&p, &ctx, &["cat", &doc]).verdict, Forbid);
    let ctx = ctx.with_read_paths([shared.clone()]);
    assert_eq!(check(&p, &ctx, &["cat", &doc]).verdict, Allow);
    assert_eq!(check(&p, &ctx, &["grep", "-rn", "x", &doc]).verdict, Allow);
    // Reading is allowed there, writing is not.
    assert_eq!(check(&p, &ctx, &["cp", "README.md", &doc]).verdict, Forbid);
    assert_eq!(check(&p, &ctx, &["tee", &doc]).verdict, Forbid);
    // A key file inside a read path is still a secret.
    let key = shared.join("tls.pem").display().to_string();
    let d = check(&p, &ctx, &["cat", &key]);
    assert_eq!(
        (d.verdict, d.rule.as_deref()),
        (Forbid, Some("secret-path")),
        "{d:?}"
    );
    // And the published list holds what the sandbox must mask.
    let secrets = skynet_core::policy::secret_paths();
    assert!(secrets.iter().any(|s| s == Path::new("/etc/shadow")));
    assert!(secrets.iter().any(|s| s.ends_with(".ssh")));
}

/// Commands that can send data out are never READ_ONLY, and neither is
/// ping (a READ_ONLY ping exists only as SKYNET's probe, which checks the
/// address first); `docker ...` typed by a user stays ADMIN (containers
/// are read through the Engine API by the `containers` probe instead).
#[test]
fn commands_that_send_data_out_are_at_least_write() {
    let (_dir, ctx) = sandbox();
    let p = Policy::default();
    let url = "https://example.org/upload";
    let at_least: &[(&[&str], RiskLevel)] = &[
        (&["curl", "-d", "x", url], W),
        (&["curl", "-dx", url], W),
        (&["curl", "--data", "x", url], W),
        (&["curl", "--data=@README.md", url], W),
        (&["curl", "--data-binary", "@README.md", url], W),
        (&["curl", "-T", "README.md", url], W),
        (&["curl", "--upload-file", "README.md", url], W),
        (&["curl", "-F", "f=@README.md", url], W),
        (&["curl", "--form", "f=@README.md", url], W),
        (&["curl", "-X", "POST", url], W),
        (&["curl", url], W),
        (&["wget", "--post-data", "x", url], W),
        (&["scp", "README.md", "host:/tmp/"], A),
        (&["scp", "host:/etc/passwd", "."], A),
        (&["nc", "example.org", "80"], A),
        (&["nc", "-l", "8080"], A),
        (&["ncat", "example.org", "443"], A),
        (&["socat", "-", "TCP:example.org:80"], A),
        (&["ping", "-c", "4", "-W", "2", "1.1.1.1"], W),
        (&["ping", "example.org"], W),
        (&["getent", "hosts", "example.org"], W),
        (&["docker", "ps"], A),
        (&["docker", "logs", "web"], A),
        (&["docker", "inspect", "web"], A),
        (&["skynet-probe", "dns", "example.org"], W),
    ];
    for (cmd, floor) in at_least {
        let d = check(&p, &ctx, cmd);
        assert!(
            d.risk >= *floor && d.risk > R,
            "{cmd:?} is {} (want at least {floor}): {}",
            d.risk,
            d.explain()
        );
    }
}
