//! Secrets: paths no command may read or write, even inside the sandbox
//! root or a configured read path. The same list is published for the
//! sandbox, which masks it at run time (see [`secret_paths`]).

use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

/// What operators inspect: the read scope a local user gets by default
/// beyond the sandbox root (configuration, kernel and process status,
/// logs, the journal, runtime status files). Secrets inside stay closed
/// ([`SYSTEM_SECRETS`], `/proc/*/environ`, `/proc/*/mem`, ...); writes stay
/// inside the root. Remote callers (HTTP, chat) get none of it unless the
/// operator configures a read scope.
pub const INSPECT_READ_SCOPE: &[&str] = &["/etc", "/proc", "/sys", "/var/log", "/run"];

/// Directories a sandbox root may not contain: a root is also the write
/// scope, and with one of these inside it, steps could change the system
/// (and the child's `PATH`, which drops entries inside the root, would be
/// empty).
pub const SYSTEM_DIRS: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr",
    "/var",
];

/// [`INSPECT_READ_SCOPE`] as it exists on this machine, resolved.
pub fn inspect_read_scope() -> Vec<PathBuf> {
    INSPECT_READ_SCOPE
        .iter()
        .filter_map(|p| Path::new(p).canonicalize().ok())
        .filter(|p| p.is_dir())
        .collect()
}

/// Absolute secret paths; each covers everything under it. The sandbox
/// masks the same list (`provider/local/secrets.rs`).
pub const SYSTEM_SECRETS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
    "/run/secrets",
    "/run/credentials",
    "/run/user",
    // Sockets whose server does anything root asks.
    "/run/docker.sock",
    "/run/containerd",
    "/run/podman",
];

/// Secrets in a home directory (relative to it). SKYNET's own home
/// (`SKYNET_HOME`, default `~/.skynet`) is added on top.
pub const HOME_SECRETS: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".kube",
    ".docker",
    ".azure",
    ".config/gcloud",
    ".netrc",
    ".git-credentials",
    ".pgpass",
];

/// Files of every process that hold its secrets: `/proc/<pid>/<name>`
/// (also `/proc/self/<name>` and `/proc/<pid>/task/<tid>/<name>`).
pub const SECRET_PROC_FILES: &[&str] = &["environ", "mem"];

/// File names that hold keys, wherever they are (`*` is any text).
pub const SECRET_FILE_NAMES: &[&str] = &["*.pem", "*.key", "id_rsa*", "id_ed25519*", "id_ecdsa*"];

/// The secrets the policy refuses, resolved for this process's
/// environment (`HOME`, `SKYNET_HOME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secrets {
    /// Absolute paths; everything under each is secret too.
    pub paths: Vec<PathBuf>,
    /// `/proc/*/NAME` files (see [`SECRET_PROC_FILES`]).
    pub proc_files: &'static [&'static str],
    /// File-name patterns (see [`SECRET_FILE_NAMES`]).
    pub file_names: &'static [&'static str],
}

static SECRETS: LazyLock<Secrets> = LazyLock::new(Secrets::from_env);

impl Secrets {
    /// The secrets for this process, computed once from `HOME` and
    /// `SKYNET_HOME` (default `~/.skynet`).
    pub fn current() -> &'static Secrets {
        &SECRETS
    }

    /// The secrets for the given home directories.
    pub fn for_homes(home: Option<&Path>, skynet_home: Option<&Path>) -> Secrets {
        let mut paths: Vec<PathBuf> = SYSTEM_SECRETS.iter().map(PathBuf::from).collect();
        if let Some(home) = home.filter(|h| h.is_absolute()) {
            let home = canonical(home);
            paths.extend(HOME_SECRETS.iter().map(|d| home.join(d)));
            if skynet_home.is_none() {
                paths.push(home.join(".skynet"));
            }
        }
        if let Some(sk) = skynet_home.filter(|h| h.is_absolute()) {
            paths.push(canonical(sk));
        }
        Secrets {
            paths,
            proc_files: SECRET_PROC_FILES,
            file_names: SECRET_FILE_NAMES,
        }
    }

    fn from_env() -> Secrets {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let skynet = std::env::var_os("SKYNET_HOME").map(PathBuf::from);
        Secrets::for_homes(home.as_deref(), skynet.as_deref())
    }

    /// Is `path` (absolute, resolved) a secret or inside one?
    pub fn contains(&self, path: &Path) -> bool {
        if self.paths.iter().any(|s| path.starts_with(s)) {
            return true;
        }
        if self.is_proc_secret(path) {
            return true;
        }
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|name| self.file_names.iter().any(|p| name_matches(p, name)))
    }

    /// Would reading `dir` recursively reach a secret path?
    pub fn below(&self, dir: &Path) -> Option<&Path> {
        self.paths
            .iter()
            .find(|s| s.starts_with(dir) && s.as_path() != dir && s.exists())
            .map(PathBuf::as_path)
    }

    fn is_proc_secret(&self, path: &Path) -> bool {
        let mut comps = path.components();
        if comps.next() != Some(Component::RootDir)
            || comps.next() != Some(Component::Normal("proc".as_ref()))
        {
            return false;
        }
        // Any file named like a secret anywhere under /proc: covers
        // /proc/PID/environ, /proc/self/task/TID/mem, /proc/thread-self/...
        path.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| self.proc_files.contains(&n))
    }
}

/// The secret paths, absolute, for the sandbox to mask (bubblewrap
/// `--tmpfs`/`--ro-bind /dev/null` over each one that exists). The
/// policy refuses these and also [`SECRET_PROC_FILES`] under `/proc` and
/// [`SECRET_FILE_NAMES`] anywhere; see [`Secrets::contains`].
pub fn secret_paths() -> Vec<PathBuf> {
    Secrets::current().paths.clone()
}

/// `pattern` with at most one `*` (at either end) against a file name.
fn name_matches(pattern: &str, name: &str) -> bool {
    if let Some(suffix) = pattern.strip_prefix('*') {
        name.len() > suffix.len() && name.ends_with(suffix)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        name.starts_with(prefix)
    } else {
        name == pattern
    }
}

fn canonical(p: &Path) -> PathBuf {
    super::paths::resolve(Path::new("/"), p).unwrap_or_else(|| p.to_path_buf())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_cover_system_home_proc_and_key_names() {
        let s = Secrets::for_homes(Some(Path::new("/home/u")), None);
        for p in [
            "/etc/shadow",
            "/etc/sudoers.d/x",
            "/home/u/.ssh/config",
            "/home/u/.aws",
            "/home/u/.skynet/skynet.db",
            "/proc/1/environ",
            "/proc/self/task/3/mem",
            "/run/user/1000/bus",
            "/work/p/server.pem",
            "/work/p/id_rsa.pub",
            "/work/p/tls.key",
        ] {
            assert!(s.contains(Path::new(p)), "{p}");
        }
        for p in [
            "/etc/passwd",
            "/home/u/.sshx",
            "/proc/1/status",
            "/work/p/key",
            "/work/p/.key",
            "/work/p/keys.rs",
        ] {
            assert!(!s.contains(Path::new(p)), "{p}");
        }
        let s = Secrets::for_homes(Some(Path::new("/home/u")), Some(Path::new("/srv/sk")));
        assert!(s.contains(Path::new("/srv/sk/db")));
        assert!(!s.contains(Path::new("/home/u/.skynet")));
    }

    #[test]
    fn a_directory_holding_an_existing_secret_is_found() {
        let home = tempfile::tempdir().unwrap();
        let s = Secrets::for_homes(Some(home.path()), None);
        let home = home.path().canonicalize().unwrap();
        assert_eq!(s.below(&home), None);
        std::fs::create_dir(home.join(".ssh")).unwrap();
        assert_eq!(s.below(&home), Some(home.join(".ssh").as_path()));
        assert_eq!(s.below(&home.join(".ssh")), None);
    }
}
