//! Shell scripts: find the script in `sh -c SCRIPT`, and split simple
//! scripts into commands the policy can classify one by one.
//!
//! Only a small, safe subset is analysed: words (quoted or not), `;`,
//! newlines, `&&`, `||`, `|`, comments, leading `NAME=value` assignments,
//! `cd DIR`, and redirections `>`, `>>`, `N>`, `&>`, `<` to a path and
//! `N>&M`. Anything else (expansions, substitutions, globs, subshells,
//! braces, heredocs, background jobs, control flow) is "could not be
//! analysed", which the engine treats as ADMIN.

/// Programs treated as shells.
pub(crate) const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "rbash",
];

/// What a shell invocation runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ShellRun<'a> {
    /// `-c SCRIPT`; `operands` are the indices of `$0` and the arguments.
    Script {
        /// The script text.
        script: &'a str,
        /// Indices of option values and operands to path-check.
        checked: Vec<usize>,
    },
    /// A script file (index of its path, plus option values to check).
    File {
        /// Indices to path-check (the file and its arguments).
        checked: Vec<usize>,
    },
    /// Commands from stdin: cannot be checked.
    Stdin,
}

/// Read a shell's options to find what it runs.
pub(crate) fn shell_run(argv: &[String]) -> ShellRun<'_> {
    let mut has_c = false;
    let mut reads_stdin = false;
    let mut checked = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" || a == "-" {
            i += 1;
            break;
        }
        if a == "-o" || a == "+o" || a == "-O" || a == "+O" {
            i += 2;
            continue;
        }
        if a == "--rcfile" || a == "--init-file" {
            checked.push(i + 1);
            i += 2;
            continue;
        }
        if a.starts_with("--") {
            i += 1;
            continue;
        }
        if (a.starts_with('-') || a.starts_with('+')) && a.len() > 1 {
            let flags = &a[1..];
            has_c |= flags.contains('c');
            reads_stdin |= flags.contains('s') || flags.contains('i');
            i += 1;
            continue;
        }
        break;
    }
    checked.extend((i..argv.len()).filter(|&j| j > i || !has_c));
    checked.retain(|&j| j < argv.len());
    if has_c {
        match argv.get(i) {
            Some(script) => ShellRun::Script {
                script: script.as_str(),
                checked,
            },
            None => ShellRun::Stdin,
        }
    } else if reads_stdin || i >= argv.len() {
        ShellRun::Stdin
    } else {
        ShellRun::File { checked }
    }
}

/// A redirection in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// The file named.
    pub(crate) target: String,
    /// True for `>`/`>>` (writes), false for `<` (reads).
    pub(crate) writes: bool,
}

/// One simple command of a script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SimpleCommand {
    /// Leading `NAME=value` words.
    pub(crate) assignments: Vec<String>,
    /// The command's words (may be empty: `> file` alone).
    pub(crate) argv: Vec<String>,
    /// Its redirections.
    pub(crate) redirects: Vec<Redirect>,
}

#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    /// `;`, newline: an empty command around it is fine.
    Seq,
    /// `&&`, `||`, `|`: needs commands on both sides.
    Join,
    /// `>`, `>>`, `N>`, `&>`: the next word is written.
    RedirOut,
    /// `<`: the next word is read.
    RedirIn,
    /// `N>&M`: no file involved.
    DupFd,
}

/// Words that make a script more than simple commands.
const UNSUPPORTED_WORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "function", "select", "eval", "source", ".", "alias", "trap", "coproc", "!", "[[", "]]",
];

/// Is this script a classic fork bomb (`:(){ :|:& };:` and renamings)?
pub(crate) fn is_fork_bomb(script: &str) -> bool {
    let compact: String = script.chars().filter(|c| !c.is_whitespace()).collect();
    let mut from = 0;
    while let Some(pos) = compact[from..].find("(){") {
        let at = from + pos;
        let name_start = compact[..at]
            .rfind([';', '&', '|', '(', ')', '{', '}'])
            .map_or(0, |p| p + 1);
        let name = &compact[name_start..at];
        if !name.is_empty() && compact[at..].contains(&format!("{name}|{name}&")) {
            return true;
        }
        from = at + 3;
    }
    false
}

/// A parsed script: its commands, and a problem that leaves it only
/// partly analysed (unquoted globs, kept literally so rules still see them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Script {
    /// The simple commands, in order.
    pub(crate) commands: Vec<SimpleCommand>,
    /// Why the analysis is incomplete, if it is.
    pub(crate) partial: Option<String>,
}

/// Split a script into simple commands, or say why it cannot be analysed.
pub(crate) fn parse_script(script: &str) -> Result<Script, String> {
    let mut glob = None;
    let toks = lex(script, &mut glob)?;
    let mut commands = Vec::new();
    let mut cur = SimpleCommand::default();
    let mut after_join = false;
    let mut iter = toks.into_iter().peekable();
    while let Some(tok) = iter.next() {
        match tok {
            Tok::Word(w) => {
                if cur.argv.is_empty() && is_assignment(&w) {
                    cur.assignments.push(w);
                } else {
                    if cur.argv.is_empty() && UNSUPPORTED_WORDS.contains(&w.as_str()) {
                        return Err(format!("`{w}` is not a simple command"));
                    }
                    cur.argv.push(w);
                }
            }
            Tok::RedirOut | Tok::RedirIn => {
                let writes = tok == Tok::RedirOut;
                match iter.next() {
                    Some(Tok::Word(target)) => cur.redirects.push(Redirect { target, writes }),
                    _ => return Err("a redirection without a file name".into()),
                }
            }
            Tok::DupFd => {}
            Tok::Seq | Tok::Join => {
                let empty = cur.argv.is_empty() && cur.redirects.is_empty();
                if empty && (after_join || tok == Tok::Join) {
                    return Err("an operator without a command on both sides".into());
                }
                if !empty || !cur.assignments.is_empty() {
                    commands.push(std::mem::take(&mut cur));
                }
                after_join = tok == Tok::Join;
            }
        }
    }
    let empty = cur.argv.is_empty() && cur.redirects.is_empty() && cur.assignments.is_empty();
    if empty && after_join {
        return Err("the script ends with an operator".into());
    }
    if !empty {
        commands.push(cur);
    }
    if commands.is_empty() {
        return Err("the script is empty".into());
    }
    Ok(Script {
        commands,
        partial: glob.map(|c| format!("an unquoted glob `{c}`")),
    })
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        let mut c = name.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    })
}

fn lex(script: &str, glob: &mut Option<char>) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    // True while `word` holds only unquoted digits (a possible fd number).
    let mut fd_candidate = true;
    let mut chars = script.chars().peekable();
    macro_rules! end_word {
        () => {
            if in_word {
                toks.push(Tok::Word(std::mem::take(&mut word)));
                in_word = false;
            }
            fd_candidate = true;
        };
    }
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                end_word!();
            }
            '\n' | ';' => {
                end_word!();
                if c == ';' && chars.peek() == Some(&';') {
                    return Err("`;;` outside a case statement".into());
                }
                toks.push(Tok::Seq);
            }
            '&' => {
                end_word!();
                match chars.peek() {
                    Some('&') => {
                        chars.next();
                        toks.push(Tok::Join);
                    }
                    Some('>') => {
                        chars.next();
                        if chars.peek() == Some(&'>') {
                            chars.next();
                        }
                        toks.push(Tok::RedirOut);
                    }
                    _ => return Err("a background job (`&`)".into()),
                }
            }
            '|' => {
                end_word!();
                if matches!(chars.peek(), Some('|') | Some('&')) {
                    chars.next();
                }
                toks.push(Tok::Join);
            }
            '>' => {
                // `2>`: the digits just read are the fd, not a word.
                if in_word && fd_candidate {
                    word.clear();
                    in_word = false;
                }
                end_word!();
                match chars.peek() {
                    Some('>') | Some('|') => {
                        chars.next();
                        toks.push(Tok::RedirOut);
                    }
                    Some('&') => {
                        chars.next();
                        let mut digits = 0;
                        while chars.peek().is_some_and(char::is_ascii_digit) {
                            chars.next();
                            digits += 1;
                        }
                        if digits == 0 {
                            return Err("a `>&` redirection to something other than an fd".into());
                        }
                        toks.push(Tok::DupFd);
                    }
                    _ => toks.push(Tok::RedirOut),
                }
            }
            '<' => {
                if in_word && fd_candidate {
                    word.clear();
                    in_word = false;
                }
                end_word!();
                if matches!(chars.peek(), Some('<') | Some('(') | Some('&') | Some('>')) {
                    return Err("a heredoc, process substitution or fd redirection".into());
                }
                toks.push(Tok::RedirIn);
            }
            '\'' => {
                in_word = true;
                fd_candidate = false;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => word.push(x),
                        None => return Err("an unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                fd_candidate = false;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => word.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                word.push('\\');
                                word.push(x);
                            }
                            None => return Err("an unterminated double quote".into()),
                        },
                        Some('$') | Some('`') => {
                            return Err("an expansion or command substitution".into());
                        }
                        Some(x) => word.push(x),
                        None => return Err("an unterminated double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(x) => {
                    in_word = true;
                    fd_candidate = false;
                    word.push(x);
                }
                None => return Err("a trailing backslash".into()),
            },
            '#' if !in_word => {
                while chars.peek().is_some_and(|&x| x != '\n') {
                    chars.next();
                }
            }
            '$' | '`' => return Err("an expansion or command substitution".into()),
            '(' | ')' => return Err("a subshell or function".into()),
            '{' | '}' => return Err("a brace group or brace expansion".into()),
            '*' | '?' | '[' | ']' => {
                glob.get_or_insert(c);
                in_word = true;
                fd_candidate = false;
                word.push(c);
            }
            '!' => return Err("an unquoted `!`".into()),
            _ => {
                in_word = true;
                fd_candidate &= c.is_ascii_digit();
                word.push(c);
            }
        }
    }
    if in_word {
        toks.push(Tok::Word(word));
    }
    Ok(toks)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    fn argvs(script: &str) -> Vec<Vec<String>> {
        parse_script(script)
            .unwrap()
            .commands
            .into_iter()
            .map(|c| c.argv)
            .collect()
    }

    #[test]
    fn finds_the_script() {
        let a = sv(&["bash", "-lc", "ls", "name", "./x"]);
        assert_eq!(
            shell_run(&a),
            ShellRun::Script {
                script: "ls",
                checked: vec![3, 4]
            }
        );
        let a = sv(&["sh", "-e", "-o", "pipefail", "-c", "ls"]);
        assert!(matches!(
            shell_run(&a),
            ShellRun::Script { script: "ls", .. }
        ));
        let a = sv(&["bash", "run.sh", "arg"]);
        assert_eq!(
            shell_run(&a),
            ShellRun::File {
                checked: vec![1, 2]
            }
        );
        assert_eq!(shell_run(&sv(&["bash"])), ShellRun::Stdin);
        assert_eq!(shell_run(&sv(&["bash", "-s"])), ShellRun::Stdin);
        assert_eq!(shell_run(&sv(&["bash", "-c"])), ShellRun::Stdin);
    }

    #[test]
    fn splits_simple_scripts() {
        assert_eq!(
            argvs("git status && ls -la | wc -l; echo 'a b' \"c d\"\nid || true;"),
            vec![
                sv(&["git", "status"]),
                sv(&["ls", "-la"]),
                sv(&["wc", "-l"]),
                sv(&["echo", "a b", "c d"]),
                sv(&["id"]),
                sv(&["true"]),
            ]
        );
        let cmds = parse_script("X=./a make 2>&1 > out.log 2> err; cat < in # note")
            .unwrap()
            .commands;
        assert_eq!(cmds[0].assignments, sv(&["X=./a"]));
        assert_eq!(cmds[0].argv, sv(&["make"]));
        assert_eq!(
            cmds[0].redirects,
            vec![
                Redirect {
                    target: "out.log".into(),
                    writes: true
                },
                Redirect {
                    target: "err".into(),
                    writes: true
                }
            ]
        );
        assert_eq!(cmds[1].argv, sv(&["cat"]));
        assert!(!cmds[1].redirects[0].writes);
        assert_eq!(argvs("echo a2>b"), vec![sv(&["echo", "a2"])]);
        assert_eq!(argvs("echo 'a*' \\*"), vec![sv(&["echo", "a*", "*"])]);
        assert_eq!(parse_script("echo 'a*'").unwrap().partial, None);
        let globbed = parse_script("rm -rf /*").unwrap();
        assert_eq!(globbed.commands[0].argv, sv(&["rm", "-rf", "/*"]));
        assert!(globbed.partial.unwrap().contains("glob"));
    }

    #[test]
    fn refuses_what_it_cannot_analyse() {
        for s in [
            "echo $(id)",
            "echo `id`",
            "echo $HOME",
            "echo \"$HOME\"",
            "(cd x; ls)",
            "{ ls; }",
            "cat <<EOF\nx\nEOF",
            "diff <(ls) <(ls)",
            "sleep 1 &",
            "if true; then ls; fi",
            "for f in a; do ls; done",
            "eval ls",
            ". ./env.sh",
            "ls &&",
            "&& ls",
            "ls | | wc",
            "echo 'unterminated",
            "",
            "ls >",
        ] {
            assert!(parse_script(s).is_err(), "{s:?} should be refused");
        }
    }

    #[test]
    fn detects_fork_bombs() {
        assert!(is_fork_bomb(":(){ :|:& };:"));
        assert!(is_fork_bomb("bomb() { bomb | bomb & }; bomb"));
        assert!(!is_fork_bomb("f() { echo hi; }; f"));
        assert!(!is_fork_bomb("ls | wc -l"));
    }
}
