//! Path heuristics: which arguments are paths, how they resolve, and
//! whether they stay inside the sandbox roots.
//!
//! A path resolves against the working directory (`~` is `$HOME`); its
//! longest existing prefix is canonicalized (so symlinks and `..` behave as
//! the kernel sees them) and the non-existing rest is normalised lexically.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

/// Device files any command may name.
const HARMLESS_DEVICES: &[&str] = &["/dev/null", "/dev/stdin", "/dev/stdout", "/dev/stderr"];

/// Device files that read or write nothing real (`/dev/null`, ...).
pub(crate) fn is_harmless_device(s: &str) -> bool {
    HARMLESS_DEVICES.contains(&s)
}

/// Does `s` look like a path (rather than a word, flag or URL)?
pub(crate) fn looks_like_path(s: &str) -> bool {
    s.starts_with('/')
        || s.starts_with("./")
        || s.starts_with("../")
        || s.starts_with('~')
        || s == "."
        || s == ".."
        || (s.contains('/') && !s.contains(char::is_whitespace) && !s.contains("://"))
}

/// The part of an argument that may be a path: the whole argument, the
/// value of `--opt=value`, `-oVALUE` or `key=value`; `None` if nothing is.
pub(crate) fn path_candidate(arg: &str) -> Option<&str> {
    let candidate = if let Some(long) = arg.strip_prefix("--") {
        long.split_once('=').map(|(_, v)| v)?
    } else if arg.starts_with('-') {
        // `-o/tmp/x`: a short option with its value attached.
        arg.get(2..)?
    } else if let Some((key, value)) = arg.split_once('=')
        && is_identifier(key)
    {
        value
    } else {
        arg
    };
    (looks_like_path(candidate) && !HARMLESS_DEVICES.contains(&candidate)).then_some(candidate)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Which of `argv[1..]` are free text (patterns, messages), never paths.
/// Indexed like `argv`; `argv[0]` is always `true` (the program is exempt).
pub(crate) fn text_args<S: AsRef<str>>(argv: &[S]) -> Vec<bool> {
    let mut text = vec![false; argv.len()];
    if let Some(first) = text.first_mut() {
        *first = true;
    }
    let program = argv
        .first()
        .map(|p| super::rules::basename(p.as_ref()))
        .unwrap_or("");
    let arg = |i: usize| argv[i].as_ref();
    match program {
        // They print their arguments; they never open them.
        "echo" | "printf" => text.iter_mut().for_each(|t| *t = true),
        "git" => {
            let sub = argv.get(1).map(AsRef::as_ref);
            if matches!(sub, Some("commit" | "tag" | "merge" | "stash" | "notes")) {
                mark_option_values(argv, &mut text, &["-m", "--message"]);
            }
        }
        // The first operand is a pattern or script unless given by option.
        "grep" | "egrep" | "fgrep" | "rg" | "sed" | "awk" | "gawk" | "mawk" => {
            let by_option =
                mark_option_values(argv, &mut text, &["-e", "--regexp", "--expression"]);
            if matches!(program, "rg") {
                mark_option_values(argv, &mut text, &["-g", "--glob", "--iglob"]);
            }
            if !by_option && !(1..argv.len()).any(|i| matches!(arg(i), "-f" | "--file")) {
                let valued: &[&str] = match program {
                    "grep" | "egrep" | "fgrep" => &["-A", "-B", "-C", "-m", "-d", "-D"],
                    "rg" => &["-A", "-B", "-C", "-m", "-g", "-t", "-T", "-j", "-M", "-r"],
                    _ => &["-F", "-v", "-l"],
                };
                let mut i = 1;
                while i < argv.len() {
                    let a = arg(i);
                    if a == "--" {
                        if i + 1 < argv.len() {
                            text[i + 1] = true;
                        }
                        break;
                    }
                    if !a.starts_with('-') || a == "-" {
                        text[i] = true;
                        break;
                    }
                    i += if valued.contains(&a) { 2 } else { 1 };
                }
            }
        }
        _ => {}
    }
    text
}

/// Mark the values of `options` (`-m MSG`, `-mMSG`, `--message=MSG`) as
/// text; true if any was found.
fn mark_option_values<S: AsRef<str>>(argv: &[S], text: &mut [bool], options: &[&str]) -> bool {
    let mut found = false;
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_ref();
        if a == "--" {
            break;
        }
        if options.contains(&a) {
            found = true;
            if i + 1 < argv.len() {
                text[i + 1] = true;
            }
            i += 2;
            continue;
        }
        if options.iter().any(|o| {
            (o.starts_with("--") && a.starts_with(o) && a[o.len()..].starts_with('='))
                || (!o.starts_with("--") && a.len() > 2 && a.starts_with(o))
        }) {
            found = true;
            text[i] = true;
        }
        i += 1;
    }
    found
}

/// Canonical sandbox roots and the canonical working directory.
#[derive(Debug)]
pub(crate) struct Sandbox {
    roots: Vec<PathBuf>,
    home: Option<PathBuf>,
}

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Escape {
    /// It resolves outside every root.
    Outside(PathBuf),
    /// It cannot be resolved (`~user`, `~` without `$HOME`).
    Unresolvable,
}

impl Sandbox {
    /// Canonicalize the roots once.
    pub(crate) fn new(roots: &[PathBuf]) -> Sandbox {
        Sandbox {
            roots: roots.iter().map(|r| canonical(r)).collect(),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }

    /// The roots, canonical, for messages.
    pub(crate) fn roots_display(&self) -> String {
        let v: Vec<_> = self.roots.iter().map(|r| r.display().to_string()).collect();
        v.join(", ")
    }

    /// Is this canonical path inside a root?
    pub(crate) fn contains(&self, canonical_path: &Path) -> bool {
        self.roots.iter().any(|r| canonical_path.starts_with(r))
    }

    /// Resolve `arg` against `cwd`; `Ok(canonical)` if inside a root.
    pub(crate) fn check(&self, arg: &str, cwd: &Path) -> Result<PathBuf, Escape> {
        let p = self.resolve(arg, cwd).ok_or(Escape::Unresolvable)?;
        if self.contains(&p) {
            Ok(p)
        } else {
            Err(Escape::Outside(p))
        }
    }

    /// Absolute, canonical form of `arg` seen from `cwd`.
    pub(crate) fn resolve(&self, arg: &str, cwd: &Path) -> Option<PathBuf> {
        let expanded: Cow<'_, Path> = if let Some(rest) = arg.strip_prefix('~') {
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None; // ~user: someone else's home
            }
            let home = self.home.as_ref()?;
            Cow::Owned(home.join(rest.trim_start_matches('/')))
        } else {
            Cow::Borrowed(Path::new(arg))
        };
        let joined = cwd.join(expanded);
        Some(canonical(&joined))
    }
}

/// Canonicalize the longest existing prefix of `p` and append the rest,
/// normalised lexically. Never fails.
pub(crate) fn canonical(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let comps: Vec<Component<'_>> = p.components().collect();
    for k in (1..comps.len()).rev() {
        let prefix: PathBuf = comps[..k].iter().collect();
        if let Ok(mut base) = prefix.canonicalize() {
            push_lexically(&mut base, &comps[k..]);
            return base;
        }
    }
    let mut out = PathBuf::new();
    push_lexically(&mut out, &comps);
    out
}

fn push_lexically(base: &mut PathBuf, comps: &[Component<'_>]) {
    for c in comps {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                base.pop();
            }
            other => base.push(other.as_os_str()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn what_looks_like_a_path() {
        for p in ["/etc", "./a", "../a", "~", "~/x", ".", "..", "src/main.rs"] {
            assert!(looks_like_path(p), "{p}");
        }
        for p in [
            "main.rs",
            "-rf",
            "https://x.org/a",
            "hello world/x",
            "status",
        ] {
            assert!(!looks_like_path(p), "{p}");
        }
    }

    #[test]
    fn candidates_include_option_values() {
        assert_eq!(path_candidate("--output=/tmp/x"), Some("/tmp/x"));
        assert_eq!(path_candidate("-o/tmp/x"), Some("/tmp/x"));
        assert_eq!(path_candidate("of=/dev/sda"), Some("/dev/sda"));
        assert_eq!(path_candidate("--verbose"), None);
        assert_eq!(path_candidate("-rf"), None);
        assert_eq!(path_candidate("/dev/null"), None);
        assert_eq!(path_candidate("of=/dev/null"), None);
        assert_eq!(path_candidate("../x"), Some("../x"));
    }

    #[test]
    fn text_args_exempt_messages_and_patterns() {
        let t = text_args(&sv(&["git", "commit", "-m", "fix a/b", "/etc/x"]));
        assert_eq!(t, vec![true, false, false, true, false]);
        let t = text_args(&sv(&["grep", "-rn", "/usr/lib", "src"]));
        assert_eq!(t, vec![true, false, true, false]);
        let t = text_args(&sv(&["grep", "-e", "/usr", "/etc/passwd"]));
        assert_eq!(t, vec![true, false, true, false]);
        let t = text_args(&sv(&["sed", "-n", "/^x/p", "f"]));
        assert_eq!(t, vec![true, false, true, false]);
        let t = text_args(&sv(&["echo", "/etc"]));
        assert_eq!(t, vec![true, true]);
        let t = text_args(&sv(&["cat", "/etc"]));
        assert_eq!(t, vec![true, false]);
    }

    #[test]
    fn inside_root_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("src")).unwrap();
        let sb = Sandbox::new(std::slice::from_ref(&root));
        assert!(sb.check("src", &root).is_ok());
        assert!(sb.check("./src/new/file.rs", &root).is_ok());
        assert!(sb.check("src/../src", &root).is_ok());
        assert!(sb.check(".", &root).is_ok());
        assert!(matches!(sb.check("..", &root), Err(Escape::Outside(_))));
        assert!(matches!(
            sb.check("../root2/x", &root),
            Err(Escape::Outside(_))
        ));
        assert!(matches!(
            sb.check("src/../../x", &root),
            Err(Escape::Outside(_))
        ));
        assert!(matches!(
            sb.check("missing/../../x", &root),
            Err(Escape::Outside(_))
        ));
        assert!(matches!(
            sb.check("/etc/passwd", &root),
            Err(Escape::Outside(_))
        ));
        assert_eq!(sb.check("~someone/x", &root), Err(Escape::Unresolvable));
        // A sibling whose name extends the root's is not inside it.
        std::fs::create_dir_all(dir.path().join("rootx")).unwrap();
        assert!(sb.check("../rootx", &root).is_err());
    }

    #[test]
    fn symlink_pointing_outside_is_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        std::os::unix::fs::symlink(root.join("."), root.join("self")).unwrap();
        let sb = Sandbox::new(std::slice::from_ref(&root));
        assert!(matches!(sb.check("link", &root), Err(Escape::Outside(_))));
        assert!(matches!(
            sb.check("link/new-file", &root),
            Err(Escape::Outside(_))
        ));
        // `link/..` is the parent of `outside` to the kernel: outside too.
        assert!(matches!(
            sb.check("link/../x", &root),
            Err(Escape::Outside(_))
        ));
        assert!(sb.check("self/x", &root).is_ok());
    }

    #[test]
    fn root_given_through_a_symlink_is_canonicalized() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir_all(&real).unwrap();
        let alias = dir.path().join("alias");
        std::os::unix::fs::symlink(&real, &alias).unwrap();
        let sb = Sandbox::new(std::slice::from_ref(&alias));
        assert!(sb.check("a/b", &alias).is_ok());
        assert!(sb.check(real.join("x").to_str().unwrap(), &alias).is_ok());
    }
}
