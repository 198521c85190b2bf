//! The original system's environment names, read as aliases of SKYNET's.
//!
//! A configuration written for the original system keeps working: each old
//! name is read where its new name is unset (the new name wins when both
//! are set) and leaves a one-line notice naming the new one. Names that no
//! longer apply (a broker, Celery) leave a notice saying they are ignored
//! and why. The notices are in [`super::Settings::notices`]; front-ends
//! print them once at start.

/// One original name and how its value becomes the new name's.
struct Alias {
    old: &'static str,
    new: &'static str,
    /// The old value in the new variable's syntax.
    convert: fn(&str) -> String,
}

fn same(v: &str) -> String {
    v.to_string()
}

/// `SKYNET_DB_PATH` held a file path; the new name is a database URL.
fn sqlite_url(v: &str) -> String {
    format!("sqlite://{}", v.trim())
}

/// The original wrote timeouts as whole seconds; SKYNET reads durations.
fn seconds(v: &str) -> String {
    let v = v.trim();
    if v.bytes().all(|b| b.is_ascii_digit()) && !v.is_empty() {
        format!("{v}s")
    } else {
        v.to_string()
    }
}

/// The original listed providers and paths with commas.
fn comma_list(v: &str) -> String {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

const ALIASES: &[Alias] = &[
    Alias {
        old: "SKYNET_EXECUTION_PROVIDER",
        new: "SKYNET_PROVIDER",
        convert: same,
    },
    Alias {
        old: "SKYNET_MONITORED_PROVIDERS",
        new: "SKYNET_PROVIDERS",
        convert: comma_list,
    },
    Alias {
        old: "SKYNET_DB_PATH",
        new: "SKYNET_DATABASE_URL",
        convert: sqlite_url,
    },
    Alias {
        old: "SKYNET_SSH_USERNAME",
        new: "SKYNET_SSH_USER",
        convert: same,
    },
    Alias {
        old: "SKYNET_SSH_KEY_PATH",
        new: "SKYNET_SSH_KEY",
        convert: same,
    },
    Alias {
        old: "SKYNET_LOG_LEVEL",
        new: "SKYNET_LOG",
        convert: lowercase,
    },
    Alias {
        old: "AI_PROVIDER",
        new: "SKYNET_LLM_PROVIDER",
        convert: same,
    },
    Alias {
        old: "HEARTBEAT_TIMEOUT_SECONDS",
        new: "SKYNET_WORKER_OFFLINE_AFTER",
        convert: seconds,
    },
    Alias {
        old: "S3_BUCKET",
        new: "SKYNET_ARTIFACT_S3_BUCKET",
        convert: same,
    },
    Alias {
        old: "JOB_TIMEOUT_SECONDS",
        new: "SKYNET_JOB_TIMEOUT",
        convert: seconds,
    },
];

/// Log levels were upper case (`INFO`); the filter wants `info`.
fn lowercase(v: &str) -> String {
    v.trim().to_ascii_lowercase()
}

/// Original names that no longer apply, by exact name or by prefix (`_`
/// at the end), and why.
const IGNORED: &[(&str, &str)] = &[
    (
        "REDIS_URL",
        "SKYNET queues jobs in its own ledger (SQLite, or PostgreSQL for many machines); no broker is needed",
    ),
    (
        "CELERY_",
        "SKYNET runs jobs on `skynet worker` processes, not Celery; the workers share the ledger",
    ),
];

/// The environment with the aliases applied, and the notices they leave.
pub(crate) struct Aliased<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Aliased<'a> {
    /// Aliases over `env`.
    pub(crate) fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Aliased { env }
    }

    /// `key` from the environment, else from its original name (converted).
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        (self.env)(key).or_else(|| {
            ALIASES
                .iter()
                .filter(|a| a.new == key)
                .find_map(|a| (self.env)(a.old).map(|v| (a.convert)(&v)))
        })
    }

    /// One line per original name in use; `names` lists every variable
    /// that is set (for the prefixes of ignored names).
    pub(crate) fn notices<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Vec<String> {
        let mut notices: Vec<String> = ALIASES
            .iter()
            .filter(|a| (self.env)(a.old).is_some())
            .map(|a| match (self.env)(a.new) {
                Some(_) => format!("{} is ignored: {} is set and wins", a.old, a.new),
                None => format!("{} is read as {}; rename it", a.old, a.new),
            })
            .collect();
        if (self.env)("SKYNET_ALLOWED_PATHS").is_some() {
            notices.push(
                "SKYNET_ALLOWED_PATHS is read as extra read paths (SKYNET_SANDBOX_READABLE adds them too); it never widens where steps may write".into(),
            );
        }
        let mut ignored: Vec<&str> = names
            .into_iter()
            .filter(|n| {
                IGNORED
                    .iter()
                    .any(|(name, _)| match name.strip_suffix('_') {
                        Some(_) => n.starts_with(name),
                        None => n == name,
                    })
            })
            .collect();
        ignored.sort_unstable();
        ignored.dedup();
        for name in ignored {
            let why = IGNORED
                .iter()
                .find(|(n, _)| name == *n || (n.ends_with('_') && name.starts_with(n)))
                .map(|(_, why)| *why)
                .unwrap_or_default();
            notices.push(format!("{name} is ignored: {why}"));
        }
        notices
    }
}

/// `key` from the process environment, else from its original name (for
/// settings read before [`super::Settings`] load, such as `SKYNET_LOG`;
/// the load's notices name the original).
pub fn env_or_alias(key: &str) -> Option<String> {
    let env = |k: &str| std::env::var(k).ok();
    Aliased::new(&env).get(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn old_names_convert_and_new_names_win() {
        let e = env(&[
            ("SKYNET_DB_PATH", "/var/lib/skynet/db.sqlite"),
            ("JOB_TIMEOUT_SECONDS", "600"),
            ("SKYNET_MONITORED_PROVIDERS", "local, docker ,ssh"),
            ("SKYNET_LOG_LEVEL", "DEBUG"),
            ("AI_PROVIDER", "gemini"),
            ("SKYNET_LLM_PROVIDER", "openai"),
        ]);
        let a = Aliased::new(&e);
        assert_eq!(
            a.get("SKYNET_DATABASE_URL").as_deref(),
            Some("sqlite:///var/lib/skynet/db.sqlite")
        );
        assert_eq!(a.get("SKYNET_JOB_TIMEOUT").as_deref(), Some("600s"));
        assert_eq!(
            a.get("SKYNET_PROVIDERS").as_deref(),
            Some("local,docker,ssh")
        );
        assert_eq!(a.get("SKYNET_LOG").as_deref(), Some("debug"));
        assert_eq!(a.get("SKYNET_LLM_PROVIDER").as_deref(), Some("openai"));
        assert_eq!(a.get("SKYNET_SSH_USER"), None);
        let notices = a.notices([]);
        assert!(
            notices.contains(&"SKYNET_DB_PATH is read as SKYNET_DATABASE_URL; rename it".into())
        );
        assert!(
            notices.contains(&"AI_PROVIDER is ignored: SKYNET_LLM_PROVIDER is set and wins".into())
        );
        assert_eq!(notices.len(), 5, "{notices:?}");
    }

    #[test]
    fn broker_and_celery_names_are_reported_ignored() {
        let e = env(&[]);
        let notices = Aliased::new(&e).notices([
            "CELERY_BROKER_URL",
            "REDIS_URL",
            "CELERY_RESULT_BACKEND",
            "PATH",
            "REDIS_URLS",
        ]);
        assert_eq!(notices.len(), 3, "{notices:?}");
        assert!(notices[0].starts_with("CELERY_BROKER_URL is ignored: SKYNET runs jobs on"));
        assert!(notices[2].starts_with("REDIS_URL is ignored: SKYNET queues jobs"));
    }

    #[test]
    fn whole_seconds_become_durations_and_durations_stay() {
        assert_eq!(seconds("30"), "30s");
        assert_eq!(seconds(" 5m "), "5m");
        assert_eq!(seconds(""), "");
    }
}
