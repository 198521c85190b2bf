//! A small, strict reader of OpenSSH client configuration
//! (`~/.ssh/config`, ssh_config(5)) for exactly what the SSH provider
//! uses: `Host` blocks with their patterns, and `HostName`, `User`, `Port`
//! and `IdentityFile`.
//!
//! Why not a crate: `ssh2-config` (0.9, fine for rust 1.95) keeps reading
//! after a `Match` line as if it belonged to the `Host` block before it, so
//! a conditional `User` or `IdentityFile` would apply to the wrong host;
//! `russh-config` refuses settings before the first `Host` (legal, they
//! apply to every host) and silently drops a bad `Port`.
//!
//! The rules followed (ssh_config(5)):
//! - keywords are case-insensitive; a keyword and its arguments are
//!   separated by whitespace and/or one `=`; arguments may be quoted with
//!   `"`; lines starting with `#` (and words from an unquoted `#` on) are
//!   comments;
//! - settings before the first `Host` apply to every host; a `Host` line
//!   lists patterns (`*` any run of characters, `?` one character, `!`
//!   negates: a host matching a negated pattern never takes the block),
//!   and its settings apply to a host that matches one of them;
//! - for each setting the first value obtained wins, reading top down, so
//!   specific blocks go first and `Host *` defaults last; `IdentityFile`
//!   accumulates instead (each one is tried, in order);
//! - `HostName` may use `%h` (the name given) and `%%`; `IdentityFile` may
//!   start with `~/` and use `%d` (home), `%u` (local user), `%h` (the
//!   resolved host), `%r` (the remote user) and `%%`.
//!
//! Not supported, and said so: `Match` blocks are skipped (their settings
//! never apply, since their conditions are not evaluated) and `Include`
//! lines are ignored, each with a warning. Other keywords are left to
//! OpenSSH. A bad `Port`, a missing or extra argument, or an unknown `%`
//! token is an error naming the line.

use std::path::{Path, PathBuf};

/// What the file says about one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostEntry {
    /// The address to connect to (`HostName`), tokens expanded.
    pub(crate) host_name: Option<String>,
    /// The remote user.
    pub(crate) user: Option<String>,
    /// The port.
    pub(crate) port: Option<u16>,
    /// Key files, in order, with `~`, `%d`, `%u` expanded (`%h`, `%r`
    /// are left for [`HostEntry::identity_files`]).
    identity_files: Vec<String>,
}

impl HostEntry {
    /// The key files with the remaining tokens filled in: `host` (the
    /// resolved host name) for `%h`, `user` (the remote user) for `%r`.
    pub(crate) fn identity_files(&self, host: &str, user: &str) -> Vec<PathBuf> {
        self.identity_files
            .iter()
            .map(|f| PathBuf::from(expand(f, &[('h', host), ('r', user)])))
            .collect()
    }
}

/// A parsed file.
#[derive(Debug, Clone, Default)]
pub(crate) struct SshConfigFile {
    blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
struct Block {
    /// `None`: the settings before the first `Host` (every host).
    patterns: Option<Vec<Pattern>>,
    host_name: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    identity_files: Vec<String>,
}

#[derive(Debug, Clone)]
struct Pattern {
    glob: String,
    negated: bool,
}

/// Where the file lives and what its tokens expand to.
pub(crate) struct Context<'a> {
    /// The local home directory (`~`, `%d`).
    pub(crate) home: &'a Path,
    /// The local user (`%u`).
    pub(crate) local_user: &'a str,
}

impl SshConfigFile {
    /// Read `path`; a missing file is an empty one. Errors name the file
    /// and line.
    pub(crate) fn read(path: &Path, cx: &Context) -> Result<SshConfigFile, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                SshConfigFile::parse(&text, cx).map_err(|e| format!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SshConfigFile::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Parse the text of a configuration file.
    pub(crate) fn parse(text: &str, cx: &Context) -> Result<SshConfigFile, String> {
        let mut blocks = Vec::new();
        // The block being read (first the settings for every host).
        let mut block = Block::new(None);
        // Inside a skipped `Match` block.
        let mut skipping = false;
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let words = split_words(raw).map_err(|e| format!("line {line}: {e}"))?;
            let Some((keyword, args)) = words.split_first() else {
                continue;
            };
            let keyword = keyword.to_ascii_lowercase();
            let one = |what: &str| -> Result<String, String> {
                match args {
                    [arg] => Ok(arg.clone()),
                    [] => Err(format!("line {line}: {what} needs a value")),
                    _ => Err(format!(
                        "line {line}: {what} takes one value, got {}",
                        args.len()
                    )),
                }
            };
            match keyword.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(format!("line {line}: Host needs at least one pattern"));
                    }
                    let patterns = args
                        .iter()
                        .map(|a| match a.strip_prefix('!') {
                            Some(glob) => Pattern {
                                glob: glob.to_string(),
                                negated: true,
                            },
                            None => Pattern {
                                glob: a.clone(),
                                negated: false,
                            },
                        })
                        .collect();
                    blocks.push(std::mem::replace(&mut block, Block::new(Some(patterns))));
                    skipping = false;
                }
                "match" => {
                    tracing::warn!(
                        line,
                        "~/.ssh/config: Match blocks are not evaluated by SKYNET; the settings of \
                         this one are skipped"
                    );
                    skipping = true;
                }
                _ if skipping => {}
                "include" => {
                    tracing::warn!(
                        line,
                        "~/.ssh/config: Include is not followed by SKYNET; set the host's \
                         HostName, User, Port and IdentityFile in this file or in SKYNET's settings"
                    );
                }
                "hostname" => {
                    let value = one("HostName")?;
                    check_tokens(&value, &['h', '%']).map_err(|e| format!("line {line}: {e}"))?;
                    block.host_name.get_or_insert(value);
                }
                "user" => {
                    let value = one("User")?;
                    block.user.get_or_insert(value);
                }
                "port" => {
                    let value = one("Port")?;
                    let port = value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| {
                            format!("line {line}: Port {value:?} is not a port number (1-65535)")
                        })?;
                    block.port.get_or_insert(port);
                }
                "identityfile" => {
                    let value = one("IdentityFile")?;
                    check_tokens(&value, &['d', 'u', 'h', 'r', '%'])
                        .map_err(|e| format!("line {line}: {e}"))?;
                    let home = cx.home.to_string_lossy();
                    let value = match value.strip_prefix("~/") {
                        Some(rest) => format!("{}/{rest}", home.trim_end_matches('/')),
                        None if value == "~" => home.to_string(),
                        None => value,
                    };
                    // `%h` and `%r` wait for the lookup; `%%` stays for it too.
                    let value = expand_keeping(&value, &[('d', &home), ('u', cx.local_user)]);
                    block.identity_files.push(value);
                }
                // Every other keyword is OpenSSH's business, not ours.
                _ => {}
            }
        }
        blocks.push(block);
        Ok(SshConfigFile { blocks })
    }

    /// What applies to `host` (the name as given): the first value of each
    /// setting from the blocks it matches, top down; `IdentityFile`s from
    /// all of them, in order.
    pub(crate) fn lookup(&self, host: &str) -> HostEntry {
        let mut entry = HostEntry::default();
        for block in self.blocks.iter().filter(|b| b.applies_to(host)) {
            if entry.host_name.is_none() {
                entry.host_name = block
                    .host_name
                    .as_deref()
                    .map(|h| expand(h, &[('h', host)]));
            }
            entry.user = entry.user.take().or_else(|| block.user.clone());
            entry.port = entry.port.or(block.port);
            entry
                .identity_files
                .extend(block.identity_files.iter().cloned());
        }
        entry
    }
}

impl Block {
    fn new(patterns: Option<Vec<Pattern>>) -> Block {
        Block {
            patterns,
            host_name: None,
            user: None,
            port: None,
            identity_files: Vec::new(),
        }
    }

    fn applies_to(&self, host: &str) -> bool {
        let Some(patterns) = &self.patterns else {
            return true;
        };
        let mut matched = false;
        for p in patterns {
            if glob_matches(p.glob.as_bytes(), host.as_bytes()) {
                if p.negated {
                    return false;
                }
                matched = true;
            }
        }
        matched
    }
}

/// `*` matches any run of characters, `?` exactly one; the rest literally
/// (host names compare case-insensitively, as OpenSSH lowercases them).
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_matches(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob_matches(rest, &text[1..]),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, more)| t.eq_ignore_ascii_case(c) && glob_matches(rest, more)),
    }
}

/// Split a line into words: whitespace separates, one `=` may separate
/// the keyword from its arguments, `"` quotes, an unquoted `#` at the
/// start of a word begins a comment.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || (c == '=' && words.len() == 1) {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(ch) => word.push(ch),
                    None => return Err("a quote is not closed".into()),
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                // The keyword may end at `=` (`Port=22`).
                if ch.is_whitespace() || (ch == '=' && words.is_empty()) || ch == '"' {
                    break;
                }
                word.push(ch);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}

/// Refuse `%` tokens other than `allowed`.
fn check_tokens(value: &str, allowed: &[char]) -> Result<(), String> {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some(t) if allowed.contains(&t) => {}
                Some(t) => {
                    return Err(format!("the token %{t} in {value:?} is not supported here"));
                }
                None => return Err(format!("{value:?} ends with a lone %")),
            }
        }
    }
    Ok(())
}

/// Replace `%x` tokens from `values`, and `%%` with `%`.
fn expand(value: &str, values: &[(char, &str)]) -> String {
    expand_with(value, values, true)
}

/// Like [`expand`], leaving other tokens (and `%%`) for a later pass.
fn expand_keeping(value: &str, values: &[(char, &str)]) -> String {
    expand_with(value, values, false)
}

fn expand_with(value: &str, values: &[(char, &str)], last_pass: bool) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') if last_pass => out.push('%'),
            Some(t) => match values.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push('%');
                    out.push(t);
                }
            },
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SshConfigFile {
        SshConfigFile::parse(
            text,
            &Context {
                home: Path::new("/home/ann"),
                local_user: "ann",
            },
        )
        .expect("parses")
    }

    #[test]
    fn an_alias_resolves_to_its_host_port_user_and_key() {
        let file = parse(
            "# build machines\n\
             Host build build.lan\n\
             \tHostName 10.1.2.3\n\
             \tUser ci\n\
             \tPort=2222\n\
             \tIdentityFile ~/.ssh/build_ed25519\n\
             \tForwardAgent no\n",
        );
        let e = file.lookup("build");
        assert_eq!(e.host_name.as_deref(), Some("10.1.2.3"));
        assert_eq!(e.user.as_deref(), Some("ci"));
        assert_eq!(e.port, Some(2222));
        assert_eq!(
            e.identity_files("10.1.2.3", "ci"),
            [PathBuf::from("/home/ann/.ssh/build_ed25519")]
        );
        assert_eq!(file.lookup("build.lan").port, Some(2222));
        assert_eq!(file.lookup("other"), HostEntry::default());
    }

    #[test]
    fn the_first_value_obtained_wins_and_wildcards_match() {
        let file = parse(
            "User everyone-global\n\
             Host web-*\n  User web\n  IdentityFile %d/.ssh/web\n\
             Host web-01\n  User never\n  Port 2201\n\
             Host *.example.com !bad.example.com\n  HostName %h.internal\n\
             Host *\n  User fallback\n  Port 22\n  IdentityFile ~/.ssh/id_%r@%h\n",
        );
        // Settings before any Host come first for every host.
        let web = file.lookup("web-01");
        assert_eq!(web.user.as_deref(), Some("everyone-global"));
        assert_eq!(
            web.port,
            Some(2201),
            "the later block still adds what is unset"
        );
        assert_eq!(
            web.identity_files("web-01", "u"),
            [
                PathBuf::from("/home/ann/.ssh/web"),
                PathBuf::from("/home/ann/.ssh/id_u@web-01")
            ],
            "IdentityFile accumulates in order"
        );
        assert_eq!(
            file.lookup("db.example.com").host_name.as_deref(),
            Some("db.example.com.internal")
        );
        assert_eq!(file.lookup("bad.example.com").host_name, None, "negated");
        assert_eq!(file.lookup("WEB-01").port, Some(2201), "case-insensitive");
        assert!(glob_matches(b"h?st", b"host"));
        assert!(!glob_matches(b"h?st", b"hst"));
    }

    #[test]
    fn match_blocks_are_skipped_not_misapplied() {
        let file = parse(
            "Host build\n  HostName 10.0.0.9\n\
             Match host build exec \"true\"\n  User wrong\n  Port 1\n\
             Host build\n  User right\n",
        );
        let e = file.lookup("build");
        assert_eq!(e.user.as_deref(), Some("right"));
        assert_eq!(e.port, None);
    }

    #[test]
    fn bad_values_name_their_line() {
        let cx = Context {
            home: Path::new("/home/ann"),
            local_user: "ann",
        };
        for (text, says) in [
            ("Host a\n  Port ssh\n", "line 2: Port"),
            ("Host a\n  Port 0\n", "line 2: Port"),
            ("Host\n", "line 1: Host needs"),
            ("Host a\n  User\n", "line 2: User needs"),
            ("Host a\n  HostName a b\n", "line 2: HostName takes one"),
            ("Host a\n  IdentityFile ~/.ssh/%C\n", "line 2: the token %C"),
            ("Host a\n  User \"ci\n", "line 2: a quote"),
        ] {
            let e = SshConfigFile::parse(text, &cx).expect_err(text);
            assert!(e.contains(says), "{text:?}: {e}");
        }
        assert_eq!(
            split_words("IdentityFile \"/keys/my key\" # mine").expect("words"),
            ["IdentityFile", "/keys/my key"]
        );
    }
}
