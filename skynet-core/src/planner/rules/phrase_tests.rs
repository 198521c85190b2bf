//! Table-driven tests: many phrasings per catalog action.

use super::RulePlanner;
use crate::action::Action;

fn diff(path: Option<&str>, staged: bool) -> Action {
    Action::GitDiff {
        path: path.map(str::to_string),
        staged,
    }
}
fn log(count: u32) -> Action {
    Action::GitLog { count }
}
fn ls(path: &str) -> Action {
    Action::ListDirectory { path: path.into() }
}
fn read(path: &str) -> Action {
    Action::ReadFile { path: path.into() }
}
fn search(pattern: &str, path: &str) -> Action {
    Action::SearchFiles {
        pattern: pattern.into(),
        path: path.into(),
    }
}
fn du(path: &str) -> Action {
    Action::DiskUsage { path: path.into() }
}
fn write(path: &str, content: &str) -> Action {
    Action::WriteFile {
        path: path.into(),
        content: content.into(),
    }
}
fn mkdir(path: &str) -> Action {
    Action::CreateDirectory { path: path.into() }
}
fn commit(message: &str) -> Action {
    Action::GitCommit {
        message: message.into(),
    }
}
fn push(remote: &str, branch: Option<&str>) -> Action {
    Action::GitPush {
        remote: remote.into(),
        branch: branch.map(str::to_string),
    }
}
fn rm(path: &str) -> Action {
    Action::DeletePath { path: path.into() }
}
fn exec(argv: &[&str]) -> Action {
    Action::ExecuteCommand {
        argv: argv.iter().map(|s| s.to_string()).collect(),
    }
}

fn cases() -> Vec<(&'static str, Action)> {
    use Action::{BuildProject, GitStatus, RunTests, SystemInfo};
    vec![
        // git_status
        ("check git status", GitStatus),
        ("git status", GitStatus),
        ("what's the status of the repo", GitStatus),
        ("show the git status", GitStatus),
        ("Please show me the status.", GitStatus),
        ("status", GitStatus),
        ("is the working tree clean?", GitStatus),
        ("are there any uncommitted changes", GitStatus),
        ("list all modified files", GitStatus),
        ("show me the untracked files", GitStatus),
        ("which files have changed", GitStatus),
        ("can you check the status of the working tree", GitStatus),
        // git_diff
        ("show the diff", diff(None, false)),
        ("git diff", diff(None, false)),
        ("show staged changes", diff(None, true)),
        ("diff src/main.rs", diff(Some("src/main.rs"), false)),
        (
            "show the diff for src/main.rs",
            diff(Some("src/main.rs"), false),
        ),
        ("git diff --staged", diff(None, true)),
        ("git diff --cached lib.rs", diff(Some("lib.rs"), true)),
        ("what's staged", diff(None, true)),
        ("show uncommitted changes in src", diff(Some("src"), false)),
        ("what did I change", diff(None, false)),
        ("show the diff of staged changes", diff(None, true)),
        // git_log
        ("show the last 5 commits", log(5)),
        ("git log", log(10)),
        ("show recent commits", log(10)),
        ("show the commit history", log(10)),
        ("show me the last five commits", log(5)),
        ("git log -n 3", log(3)),
        ("git log -7", log(7)),
        ("list the 20 most recent commits", log(20)),
        ("what are the latest commits", log(10)),
        ("show the last commit", log(1)),
        ("show the git log", log(10)),
        // list_directory
        ("list the files", ls(".")),
        ("list files in src", ls("src")),
        ("ls", ls(".")),
        ("ls -la /tmp", ls("/tmp")),
        ("show the directory", ls(".")),
        ("what's in the docs folder", ls("docs")),
        ("list src", ls("src")),
        ("show the contents of the docs directory", ls("docs")),
        ("list all files in the current directory", ls(".")),
        ("what files are in tests", ls("tests")),
        ("what's in src", ls("src")),
        ("whats in src", ls("src")),
        ("show me what's in docs", ls("docs")),
        ("open src/", ls("src/")),
        ("show the src folder", ls("src")),
        // read_file
        ("read README.md", read("README.md")),
        ("show me the contents of Cargo.toml", read("Cargo.toml")),
        ("cat src/lib.rs", read("src/lib.rs")),
        ("open notes.txt", read("notes.txt")),
        ("print the file a.txt", read("a.txt")),
        ("read Makefile", read("Makefile")),
        ("show README.md", read("README.md")),
        ("read 'my notes.txt'", read("my notes.txt")),
        ("what's in README.md?", read("README.md")),
        ("display the content of .env", read(".env")),
        // search_files
        ("search for TODO", search("TODO", ".")),
        ("find 'fn main' in src", search("fn main", "src")),
        ("grep for unwrap in the code", search("unwrap", ".")),
        ("search for fn main in src", search("fn main", "src")),
        ("search the code for FIXME", search("FIXME", ".")),
        ("grep foo src", search("foo", "src")),
        ("look for \"a, b\" in docs", search("a, b", "docs")),
        (
            "find all occurrences of unwrap() in src",
            search("unwrap()", "src"),
        ),
        ("where is parse_count used", search("parse_count", ".")),
        ("search src for TODO", search("TODO", "src")),
        ("find TODO", search("TODO", ".")),
        // disk_usage
        ("check disk usage", du(".")),
        ("how much space does target use", du("target")),
        ("du", du(".")),
        ("du -sh target", du("target")),
        ("how big is the target directory", du("target")),
        ("show disk usage of node_modules", du("node_modules")),
        ("what's the size of build", du("build")),
        // system_info
        ("show system info", SystemInfo),
        ("uname", SystemInfo),
        ("what OS is this", SystemInfo),
        ("uname -a", SystemInfo),
        ("which kernel are we running", SystemInfo),
        ("get the machine details", SystemInfo),
        // write_file
        (
            "write 'hello world' to notes.txt",
            write("notes.txt", "hello world"),
        ),
        (
            "create a file hello.txt with content hi",
            write("hello.txt", "hi"),
        ),
        (
            "create file a.txt containing \"x y\"",
            write("a.txt", "x y"),
        ),
        ("save 'x' into out/b.txt", write("out/b.txt", "x")),
        (
            "write 'a, b and c' to notes.txt",
            write("notes.txt", "a, b and c"),
        ),
        (
            "write hello there to the file x.md",
            write("x.md", "hello there"),
        ),
        ("create an empty file empty.txt", write("empty.txt", "")),
        (
            "make a new file n.txt with the text 'it's ok'",
            write("n.txt", "it's ok"),
        ),
        (
            "overwrite config.toml with 'a = 1'",
            write("config.toml", "a = 1"),
        ),
        // create_directory
        ("create a directory build", mkdir("build")),
        ("make a folder named out", mkdir("out")),
        ("mkdir logs", mkdir("logs")),
        ("mkdir -p a/b/c", mkdir("a/b/c")),
        ("create the logs directory", mkdir("logs")),
        ("create a new folder called 'my stuff'", mkdir("my stuff")),
        // run_tests
        ("run the tests", RunTests),
        ("test the project", RunTests),
        ("run tests", RunTests),
        ("run all the unit tests", RunTests),
        ("run the test suite", RunTests),
        ("test", RunTests),
        ("make sure the tests pass", RunTests),
        // build_project
        ("build the project", BuildProject),
        ("build", BuildProject),
        ("compile it", BuildProject),
        ("rebuild everything", BuildProject),
        ("run a build", BuildProject),
        // git_commit
        ("commit with message 'fix typo'", commit("fix typo")),
        ("commit the changes with message \"wip\"", commit("wip")),
        ("git commit -m 'x'", commit("x")),
        ("git commit -am \"two words\"", commit("two words")),
        (
            "commit all changes with the message: fix the build",
            commit("fix the build"),
        ),
        ("commit 'quick fix'", commit("quick fix")),
        (
            "create a commit with message 'release 1.0'",
            commit("release 1.0"),
        ),
        // git_push
        ("push to origin", push("origin", None)),
        ("push", push("origin", None)),
        ("git push origin main", push("origin", Some("main"))),
        (
            "push the branch main to upstream",
            push("upstream", Some("main")),
        ),
        ("push my changes", push("origin", None)),
        ("push to origin main", push("origin", Some("main"))),
        ("push to origin/main", push("origin", Some("main"))),
        ("push feature/x to fork", push("fork", Some("feature/x"))),
        ("git push upstream", push("upstream", None)),
        (
            "push the changes to origin branch dev",
            push("origin", Some("dev")),
        ),
        // delete_path
        ("delete build/", rm("build/")),
        ("remove the file old.txt", rm("old.txt")),
        ("rm tmp.log", rm("tmp.log")),
        ("rm -rf target", rm("target")),
        ("get rid of the folder 'old stuff'", rm("old stuff")),
        ("delete directory dist", rm("dist")),
        // execute_command
        (
            "run `cargo fmt --check`",
            exec(&["cargo", "fmt", "--check"]),
        ),
        ("execute `ls -la /tmp`", exec(&["ls", "-la", "/tmp"])),
        ("run `echo 'a b' c`", exec(&["echo", "a b", "c"])),
        ("`make lint`", exec(&["make", "lint"])),
        (
            "run `echo $HOME ~ *.rs`",
            exec(&["echo", "$HOME", "~", "*.rs"]),
        ),
        (
            "run the command `git fetch --all`",
            exec(&["git", "fetch", "--all"]),
        ),
        ("run \"make lint\"", exec(&["make", "lint"])),
        ("cargo test", exec(&["cargo", "test"])),
        (
            "run cargo clippy --all-targets",
            exec(&["cargo", "clippy", "--all-targets"]),
        ),
        ("npm run lint", exec(&["npm", "run", "lint"])),
    ]
}

#[test]
fn phrase_table_maps_each_phrasing_to_one_action() {
    let planner = RulePlanner::new();
    let cases = cases();
    assert!(
        cases.len() >= 60,
        "want a broad table, have {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for (intent, want) in &cases {
        match planner.actions(intent) {
            Ok(got) if got.len() == 1 && got[0].1 == *want => {}
            other => failures.push(format!("{intent:?}: want {want:?}, got {other:?}")),
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
fn phrases_are_case_insensitive_but_params_keep_case() {
    let planner = RulePlanner::new();
    let got = planner.actions("READ ReadMe.MD").expect("plans");
    assert_eq!(got[0].1, read("ReadMe.MD"));
    let got = planner.actions("Git Status").expect("plans");
    assert_eq!(got[0].1, Action::GitStatus);
}

#[test]
fn every_pattern_compiles() {
    let n = super::phrases::compile_all().expect("all patterns compile");
    assert!(n > 100, "expansions: {n}");
}
