//! The READ_ONLY allow-list: each program that may run without approval
//! declares its complete grammar (options with arity, abbreviations,
//! operand types). An argv is READ_ONLY only if it parses against that
//! grammar with allowed options only; its read paths are returned for the
//! scope check. Anything undeclared makes the step at least WRITE.

mod find;
pub(crate) mod git;
mod programs;
pub(crate) mod spec;

use spec::{Item, Name, Spec};

/// What a program's operands are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operands {
    /// Files or directories it reads.
    Paths,
    /// Text it prints or names it looks up; never opened.
    Text,
    /// Any words, options included, printed or ignored (echo, true).
    Anything,
    /// Any words; those that look like paths are only tested (`test -f`).
    Probe,
    /// A pattern first (unless given by `-e`/`-f`), then paths: grep, rg.
    PatternThenPaths,
    /// `+FORMAT` only (date).
    DateFormat,
    /// `ps`: BSD-style option words.
    Ps,
    /// `find`: starting points, then an expression.
    Find,
    /// `git`: global options, a subcommand and its own grammar.
    Git,
    /// No operands at all (`hostname NAME` would set the name).
    None,
    /// Only these words, in any order (`ip addr show`): the words that
    /// change something (`add`, `del`, `set`, `flush`) are not listed.
    Words(&'static [&'static str]),
}

/// A READ_ONLY program's grammar.
#[derive(Debug)]
pub(crate) struct Program {
    /// Basenames it is run as.
    pub(crate) names: &'static [&'static str],
    /// Its options.
    pub(crate) spec: Spec,
    /// Options it has that are not READ_ONLY, and why.
    pub(crate) refused: &'static [(&'static [&'static str], &'static str)],
    /// Options whose value is a file it reads.
    pub(crate) paths: &'static [&'static str],
    /// Options that make it run until stopped (`tail -f`).
    pub(crate) follow: &'static [&'static str],
    /// Its operands.
    pub(crate) operands: Operands,
    /// It reads the contents of files below the directories it is given
    /// (grep -r, rg): a secret below one is refused. Programs that only
    /// list names (ls -R, find, du, tree) do not count.
    pub(crate) recurses: bool,
}

/// The grammar's verdict on one argv.
#[derive(Debug, Default)]
pub(crate) struct Judgement<'a> {
    /// Paths the command reads (operands and option values).
    pub(crate) reads: Vec<&'a str>,
    /// Why it is not READ_ONLY, if it is not.
    pub(crate) refused: Option<String>,
    /// Why it runs until stopped, if it does (READ_ONLY only when bounded).
    pub(crate) follows: Option<String>,
    /// It descends into the directories it reads.
    pub(crate) recurses: bool,
}

impl<'a> Judgement<'a> {
    fn refuse(&mut self, why: String) {
        if self.refused.is_none() {
            self.refused = Some(why);
        }
    }
}

/// The grammar of `program` (a basename), if it is on the allow-list.
pub(crate) fn lookup(program: &str) -> Option<&'static Program> {
    programs::PROGRAMS
        .iter()
        .find(|p| p.names.contains(&program))
}

/// Is `program` on the READ_ONLY allow-list (as a program or a wrapper)?
pub(crate) fn knows(program: &str) -> bool {
    lookup(program).is_some() || super::wrappers::is_transparent(program)
}

/// Every name on the allow-list, for messages.
pub(crate) fn known_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = programs::PROGRAMS
        .iter()
        .flat_map(|p| p.names.iter().copied())
        .chain(super::wrappers::TRANSPARENT.iter().copied())
        .collect();
    v.sort_unstable();
    v
}

/// Judge `argv` (whose basename selected `program`).
pub(crate) fn judge<'a>(program: &'static Program, argv: &'a [String]) -> Judgement<'a> {
    let mut j = Judgement {
        recurses: program.recurses,
        ..Judgement::default()
    };
    let args = argv.get(1..).unwrap_or(&[]);
    match program.operands {
        Operands::Find => find::judge(args, &mut j),
        Operands::Git => git::judge(args, &mut j),
        Operands::Anything => {}
        Operands::Probe => j
            .reads
            .extend(args.iter().filter_map(|a| super::paths::path_candidate(a))),
        _ => judge_options(program, args, &mut j),
    }
    j
}

/// The common case: options from `program.spec`, typed operands.
fn judge_options<'a>(program: &'static Program, args: &'a [String], j: &mut Judgement<'a>) {
    let mut operands: Vec<&'a str> = Vec::new();
    let mut pattern_given = false;
    let result = spec::parse(&program.spec, args, |item| {
        match item {
            Item::Opt { name, value, .. } => {
                option(program, name, value, j)?;
                if name.is(&["-e", "--regexp", "-f", "--file", "--files", "--type-list"])
                    && program.operands == Operands::PatternThenPaths
                {
                    pattern_given = true;
                }
            }
            Item::Operand { value, .. } => operands.push(value),
        }
        Ok(true)
    });
    if let Err(why) = result {
        j.refuse(why);
        return;
    }
    match program.operands {
        Operands::Paths => j.reads.extend(operands.iter().filter(|o| **o != "-")),
        Operands::PatternThenPaths => {
            let skip = usize::from(!pattern_given);
            j.reads
                .extend(operands.iter().skip(skip).filter(|o| **o != "-"));
        }
        Operands::DateFormat => {
            if let Some(o) = operands.iter().find(|o| !o.starts_with('+')) {
                j.refuse(format!("the operand `{o}` sets the clock"));
            }
        }
        Operands::Ps => {
            // BSD words (`ps aux`): letters only; `e` would print the
            // environments of other processes.
            if let Some(o) = operands
                .iter()
                .find(|o| !o.chars().all(|c| "auxwfjlhrTU".contains(c)))
            {
                j.refuse(format!("the operand `{o}` is not on the list"));
            }
        }
        Operands::None => {
            if let Some(o) = operands.first() {
                j.refuse(format!(
                    "the operand `{o}` is not allowed (it would change a setting)"
                ));
            }
        }
        Operands::Words(words) => {
            if let Some(o) = operands.iter().find(|o| !words.contains(o)) {
                j.refuse(format!(
                    "the operand `{o}` is not on the list ({})",
                    words.join(", ")
                ));
            }
        }
        Operands::Text | Operands::Anything | Operands::Probe | Operands::Find | Operands::Git => {}
    }
}

/// Apply one parsed option of `program`.
fn option<'a>(
    program: &Program,
    name: Name,
    value: Option<&'a str>,
    j: &mut Judgement<'a>,
) -> Result<(), String> {
    if let Some((_, why)) = program.refused.iter().find(|(names, _)| name.is(names)) {
        return Err(format!("`{}` {why}", name.show()));
    }
    if name.is(program.follow) {
        j.follows = Some(format!("`{}` keeps running until stopped", name.show()));
    }
    if let Some(v) = value
        && name.is(program.paths)
        && v != "-"
    {
        j.reads.push(v);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(words: &[&str]) -> (Vec<String>, Option<String>, bool) {
        let argv: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        let p = lookup(words[0]).unwrap();
        let j = judge(p, &argv);
        (
            j.reads.iter().map(|s| s.to_string()).collect(),
            j.refused,
            j.follows.is_some(),
        )
    }

    #[test]
    fn typed_operands_and_refusals() {
        assert_eq!(run(&["cat", "-n", "a b", "-", "c"]).0, ["a b", "c"]);
        assert_eq!(run(&["grep", "-rn", "/usr", "src"]).0, ["src"]);
        assert_eq!(run(&["grep", "-e", "x", "src", "t"]).0, ["src", "t"]);
        assert_eq!(run(&["diff", "--from-file=lnk", "a"]).0, ["lnk", "a"]);
        assert!(run(&["sort", "--outp=x"]).1.is_some());
        assert!(run(&["ls", "--dereference"]).1.is_some());
        assert!(run(&["ls", "--der"]).1.is_some());
        assert!(run(&["sha256sum", "-c", "sums"]).1.is_some());
        assert!(run(&["date", "0101"]).1.is_some());
        assert!(run(&["tail", "-f", "x"]).2);
        assert!(!run(&["tail", "-n", "5", "x"]).2);
        assert!(run(&["ls", "-la", "--color=auto", "src"]).1.is_none());
    }

    #[test]
    fn system_inspection_grammars_allow_only_reading() {
        for ok in [
            &["hostname"][..],
            &["hostname", "-f"],
            &["ss", "-tulpn"],
            &["ss", "-tulpn", "sport", "=", ":8080"],
            &["ip", "addr", "show"],
            &["ip", "-4", "route", "list"],
            &["journalctl", "--no-pager", "--lines=50", "-u", "nginx"],
            &["journalctl", "--no-pager", "-k", "-n", "20"],
            &["pgrep", "-a", "--", "nginx"],
        ] {
            assert!(run(ok).1.is_none(), "{ok:?}: {:?}", run(ok).1);
        }
        for bad in [
            &["hostname", "evil"][..],
            &["hostname", "-F", "/tmp/name"],
            &["hostname", "-b", "x"],
            &["ss", "-K", "dst", "1.2.3.4"],
            &["ss", "--kill"],
            &["ss", "-D", "dump"],
            &["ss", "-F", "filter"],
            &["ss", "-N", "netns"],
            &["ip", "addr", "add", "10.0.0.1/24", "dev", "eth0"],
            &["ip", "route", "flush", "all"],
            &["ip", "link", "set", "eth0", "down"],
            &["ip", "-b", "cmds"],
            &["ip", "-n", "ns", "addr"],
            &["ip", "netns", "exec", "x", "sh"],
            &["journalctl", "--vacuum-size=1M"],
            &["journalctl", "--rotate"],
            &["journalctl", "-n", "--rotate"],
            &["journalctl", "--flush"],
            &["journalctl", "-D", "/tmp/j"],
            &["journalctl", "--file=/tmp/x.journal"],
            &["journalctl", "--setup-keys"],
            &["pgrep", "-F", "/run/x.pid"],
            &["pgrep", "--signal", "KILL", "x"],
        ] {
            assert!(run(bad).1.is_some(), "{bad:?} must not be READ_ONLY");
        }
        assert!(run(&["journalctl", "-f"]).1.is_some() || run(&["journalctl", "-f"]).2);
    }
}
