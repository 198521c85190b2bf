//! Path heuristics: which arguments are paths, how they resolve, and
//! whether they stay inside the sandbox roots.
//!
//! A path resolves against the working directory (`~` is `$HOME`); its
//! longest existing prefix is canonicalized (so symlinks and `..` behave as
//! the kernel sees them) and the non-existing rest is normalised lexically.

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
        || (s.contains('/') && !s.contains("://"))
}

/// Is `p` (resolved) a `.git` directory or git's code-bearing files in
/// one (`config`, `hooks/`, `info/`)? Writing them plants programs that
/// later READ_ONLY git commands would run.
pub(crate) fn in_git_internals(p: &Path) -> bool {
    let mut after_git = false;
    for c in p.components() {
        let Component::Normal(name) = c else { continue };
        if name == ".git" {
            after_git = true;
        } else if after_git && (name == "config" || name == "hooks" || name == "info") {
            return true;
        }
    }
    p.file_name().is_some_and(|n| n == ".git")
}

/// The part of an argument that may be a path: the whole argument, the
/// value of `--opt=value`, `-oVALUE` or `key=value`, without a leading
/// `@` (curl's `@FILE`) or `file://`; `None` if nothing is.
pub(crate) fn path_candidate(arg: &str) -> Option<&str> {
    let (c, forced) = value_part(arg)?;
    (forced || looks_like_path(c))
        .then_some(c)
        .filter(|c| !HARMLESS_DEVICES.contains(c))
}

/// The value part of an argument (see [`path_candidate`]) and whether it
/// is a path whatever it looks like (`@FILE`, `file://PATH`).
pub(crate) fn value_part(arg: &str) -> Option<(&str, bool)> {
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
    if let Some(rest) = candidate.strip_prefix('@').filter(|r| !r.is_empty()) {
        return Some((rest, true));
    }
    if let Some(rest) = candidate.strip_prefix("file://") {
        return Some((rest.strip_prefix("localhost").unwrap_or(rest), true));
    }
    Some((candidate, false))
}

/// In a short-option cluster (`-uo/etc/x`) an attached value may belong to
/// any letter, so every later place a path could start is returned, to be
/// checked as well (conservative: `-oout/x` also yields `/x`).
pub(crate) fn cluster_path_suffixes(arg: &str) -> Vec<&str> {
    if !arg.starts_with('-') || arg.starts_with("--") {
        return Vec::new();
    }
    let bytes = arg.as_bytes();
    (3..arg.len())
        .filter(|&i| bytes[i - 1].is_ascii_alphanumeric() && arg.is_char_boundary(i))
        .map(|i| &arg[i..])
        .filter(|s| {
            (s.starts_with('/')
                || s.starts_with("./")
                || s.starts_with("../")
                || s.starts_with('~'))
                && !HARMLESS_DEVICES.contains(s)
        })
        .collect()
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

/// Is the plain word `arg` (not an option) a symlink in `cwd`?
pub(crate) fn is_symlink_in(cwd: &Path, arg: &str) -> bool {
    !arg.is_empty()
        && !arg.starts_with('-')
        && !arg.contains('/')
        && arg != "."
        && arg != ".."
        && std::fs::symlink_metadata(cwd.join(arg)).is_ok_and(|m| m.file_type().is_symlink())
}

/// Which of `argv[1..]` are free text (patterns, messages), never paths.
/// Indexed like `argv`; `argv[0]` is always `true` (the program is exempt).
pub(crate) fn text_args<S: AsRef<str>>(argv: &[S]) -> Vec<bool> {
    // Not `vec![false; n]`: that is `calloc`, which glibc serves from the
    // arena under its lock, never from the per-thread cache.
    let mut text = Vec::with_capacity(argv.len());
    text.resize(argv.len(), false);
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

/// The sandbox roots, as given and (computed on first need) canonical.
#[derive(Debug)]
pub(crate) struct Sandbox<'a> {
    raw: &'a [PathBuf],
    canonical: Option<Vec<PathBuf>>,
    /// Directories (besides the roots) that may be read.
    read_raw: &'a [PathBuf],
    read_canonical: Option<Vec<PathBuf>>,
}

/// Why a path is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Escape {
    /// It resolves outside every root.
    Outside(PathBuf),
    /// It cannot be resolved (`~user`, `~` without `$HOME`, a symlink loop).
    Unresolvable,
}

/// Most symlinks followed while resolving one path (as the kernel's 40).
const MAX_SYMLINKS: u32 = 40;

impl<'a> Sandbox<'a> {
    /// Roots as given; they are canonicalized lazily, at most once.
    #[cfg(test)]
    pub(crate) fn new(roots: &'a [PathBuf]) -> Sandbox<'a> {
        Sandbox::with_read_paths(roots, &[])
    }

    /// Roots (read and write) plus directories that may only be read.
    pub(crate) fn with_read_paths(roots: &'a [PathBuf], read: &'a [PathBuf]) -> Sandbox<'a> {
        Sandbox {
            raw: roots,
            canonical: None,
            read_raw: read,
            read_canonical: None,
        }
    }

    /// Resolve `arg` from `cwd`; `Ok(resolved)` if inside a root or a
    /// read path.
    pub(crate) fn check_read(&mut self, arg: &str, cwd: &Path) -> Result<PathBuf, Escape> {
        let p = resolve_arg(arg, cwd).ok_or(Escape::Unresolvable)?;
        if self.contains(&p) || self.read_raw.iter().any(|r| p.starts_with(r)) {
            return Ok(p);
        }
        let read = self.read_canonical.get_or_insert_with(|| {
            self.read_raw
                .iter()
                .map(|r| resolve(Path::new("/"), r).unwrap_or_else(|| r.clone()))
                .collect()
        });
        if read.iter().any(|r| p.starts_with(r)) {
            Ok(p)
        } else {
            Err(Escape::Outside(p))
        }
    }

    /// The read paths, for messages (empty if none).
    pub(crate) fn read_paths_display(&self) -> String {
        let v: Vec<_> = self
            .read_raw
            .iter()
            .map(|r| r.display().to_string())
            .collect();
        v.join(", ")
    }

    fn canonical_roots(&mut self) -> &[PathBuf] {
        self.canonical.get_or_insert_with(|| {
            self.raw
                .iter()
                .map(|r| resolve(Path::new("/"), r).unwrap_or_else(|| r.clone()))
                .collect()
        })
    }

    /// The roots, canonical, for messages.
    pub(crate) fn roots_display(&mut self) -> String {
        let v: Vec<_> = self
            .canonical_roots()
            .iter()
            .map(|r| r.display().to_string())
            .collect();
        v.join(", ")
    }

    /// Is `resolved` (from [`Sandbox::resolve`]) inside a root?
    ///
    /// Comparing with a root as given is sound: a resolved path only keeps
    /// a symlink component when it was resolved from that very root (the
    /// working directory), and leaving the root lexically leaves it anyway.
    pub(crate) fn contains(&mut self, resolved: &Path) -> bool {
        self.raw.iter().any(|r| resolved.starts_with(r))
            || self
                .canonical_roots()
                .iter()
                .any(|r| resolved.starts_with(r))
    }

    /// Resolve `arg` from `cwd`; `Ok(resolved)` if inside a root.
    /// `cwd` must be a root as given or a path this module resolved.
    pub(crate) fn check(&mut self, arg: &str, cwd: &Path) -> Result<PathBuf, Escape> {
        let p = resolve_arg(arg, cwd).ok_or(Escape::Unresolvable)?;
        if self.contains(&p) {
            Ok(p)
        } else {
            Err(Escape::Outside(p))
        }
    }
}

/// Resolve an argument: `~` is `$HOME`, relative paths start at `cwd`.
fn resolve_arg(arg: &str, cwd: &Path) -> Option<PathBuf> {
    if let Some(rest) = arg.strip_prefix('~') {
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None; // ~user: someone else's home
        }
        let home = PathBuf::from(std::env::var_os("HOME")?);
        let home = resolve(Path::new("/"), &home)?;
        return resolve(&home, Path::new(rest.trim_start_matches('/')));
    }
    resolve(cwd, Path::new(arg))
}

/// Resolve `rel` from `base` as the kernel would: each existing component
/// is checked with `lstat` and symlinks are followed (dangling ones too);
/// the parts that do not exist are normalised lexically. `None` on a
/// symlink loop.
pub(crate) fn resolve(base: &Path, rel: &Path) -> Option<PathBuf> {
    let mut budget = MAX_SYMLINKS;
    let mut out = base.to_path_buf();
    walk(&mut out, rel, &mut budget)?;
    Some(out)
}

fn walk(out: &mut PathBuf, rel: &Path, budget: &mut u32) -> Option<()> {
    for comp in rel.components() {
        match comp {
            Component::Prefix(_) => {}
            Component::RootDir => *out = PathBuf::from("/"),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                let is_link =
                    std::fs::symlink_metadata(&*out).is_ok_and(|m| m.file_type().is_symlink());
                if is_link {
                    *budget = budget.checked_sub(1)?;
                    let target = std::fs::read_link(&*out).ok()?;
                    out.pop();
                    walk(out, &target, budget)?;
                }
            }
        }
    }
    Some(())
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
        assert!(looks_like_path("a b/../../etc"));
        for p in ["main.rs", "-rf", "https://x.org/a", "status"] {
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
        assert_eq!(path_candidate("@/etc/shadow"), Some("/etc/shadow"));
        assert_eq!(path_candidate("f=@/etc/shadow"), Some("/etc/shadow"));
        assert_eq!(path_candidate("file:///etc/shadow"), Some("/etc/shadow"));
        assert_eq!(path_candidate("--data=@x/y"), Some("x/y"));
        assert!(in_git_internals(Path::new("/r/.git/config")));
        assert!(in_git_internals(Path::new("/r/.git/hooks/pre-commit")));
        assert!(in_git_internals(Path::new("/r/.git")));
        assert!(!in_git_internals(Path::new("/r/.git/HEAD")));
        assert!(!in_git_internals(Path::new("/r/config/x")));
        assert_eq!(
            cluster_path_suffixes("-uo/home/me/.bashrc")[0],
            "/home/me/.bashrc"
        );
        assert_eq!(cluster_path_suffixes("-I./include"), Vec::<&str>::new());
        assert_eq!(cluster_path_suffixes("--output=/x"), Vec::<&str>::new());
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
        let roots = [root.clone()];
        let mut sb = Sandbox::new(&roots);
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
        std::os::unix::fs::symlink(outside.join("new"), root.join("dangling")).unwrap();
        std::os::unix::fs::symlink(root.join("loop"), root.join("loop")).unwrap();
        let roots = [root.clone()];
        let mut sb = Sandbox::new(&roots);
        // A dangling link still leads outside: writing through it creates the target.
        assert!(matches!(
            sb.check("dangling", &root),
            Err(Escape::Outside(_))
        ));
        assert_eq!(sb.check("loop/x", &root), Err(Escape::Unresolvable));
        // `missing/../link`: `mkdir -p` would create `missing` and follow `link`.
        assert!(matches!(
            sb.check("missing/../link/x", &root),
            Err(Escape::Outside(_))
        ));
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
        let roots = [alias.clone()];
        let mut sb = Sandbox::new(&roots);
        assert!(sb.check("a/b", &alias).is_ok());
        assert!(sb.check("..", &alias).is_err());
        assert!(sb.check(real.join("x").to_str().unwrap(), &alias).is_ok());
    }
}
