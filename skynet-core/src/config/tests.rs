//! Settings: layering, validation, and what each provider section does.

use super::*;
use std::collections::HashMap;

/// The error a broken provider section left (the load itself succeeds).
#[cfg(any(feature = "docker", feature = "ssh", feature = "gateway"))]
fn left_out(loaded: Result<Settings>, provider: &str) -> String {
    let s = loaded.expect("a broken provider section does not fail the load");
    assert!(
        s.notices
            .iter()
            .any(|n| n.contains(&format!("the {provider} provider is left out"))),
        "{:?}",
        s.notices
    );
    s.unusable
        .get(provider)
        .cloned()
        .unwrap_or_else(|| panic!("{provider} not left out: {:?}", s.unusable))
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

#[test]
fn env_overrides_file_overrides_defaults() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        home.path().join("skynet.toml"),
        "provider = \"mock\"\n[worker]\nlease = \"10s\"\nmax_attempts = 5\n",
    )
    .expect("write");
    let s = Settings::load_with(Some(home.path().into()), env(&[("SKYNET_LEASE", "20s")]))
        .expect("load");
    assert_eq!(s.provider, "mock");
    assert_eq!(s.engine.lease, Duration::from_secs(20));
    assert_eq!(s.engine.max_attempts, 5);
    assert!(s.database_url.ends_with("skynet.db"));
}

#[test]
fn bad_values_are_config_errors() {
    let home = tempfile::tempdir().expect("tempdir");
    let e = Settings::load_with(Some(home.path().into()), env(&[("SKYNET_LEASE", "soon")]));
    assert!(matches!(e, Err(Error::Config(m)) if m.contains("lease")));
    std::fs::write(home.path().join("skynet.toml"), "bogus = 1\n").expect("write");
    assert!(matches!(
        Settings::load_with(Some(home.path().into()), env(&[])),
        Err(Error::Config(_))
    ));
}

#[test]
fn the_memory_cap_comes_from_the_file_or_the_environment() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |vars: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(vars));
    assert_eq!(load(&[]).expect("load").engine.memory_max, None);
    std::fs::write(
        home.path().join("skynet.toml"),
        "[limits]\nmemory_max = 500\n",
    )
    .expect("write");
    assert_eq!(load(&[]).expect("load").engine.memory_max, Some(500));
    let env_wins = load(&[("SKYNET_MEMORY_MAX", "20")]).expect("load");
    assert_eq!(env_wins.engine.memory_max, Some(20));
    assert_eq!(
        load(&[("SKYNET_MEMORY_MAX", "off")])
            .expect("load")
            .engine
            .memory_max,
        None
    );
    for bad in ["0", "lots", "-3"] {
        assert!(
            matches!(load(&[("SKYNET_MEMORY_MAX", bad)]), Err(Error::Config(m)) if m.contains("memory_max")),
            "{bad}"
        );
    }
}

#[cfg(feature = "llm")]
#[test]
fn llm_settings_from_file_and_environment() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        home.path().join("skynet.toml"),
        "planner = \"llm\"\n[llm]\nprovider = \"gemini\"\nmodel = \"gemini-2.5-flash\"\ntimeout = \"5s\"\ndaily_token_budget = 1000\n",
    )
    .expect("write");
    let s = Settings::load_with(
        Some(home.path().into()),
        env(&[("GEMINI_API_KEY", "AIza-test-key-123456")]),
    )
    .expect("load");
    assert_eq!(s.planner, PlannerChoice::Llm);
    let llm = s.llm.as_ref().expect("llm configured");
    assert_eq!(llm.model, "gemini-2.5-flash");
    assert_eq!(llm.http.timeout, Duration::from_secs(5));
    assert_eq!(llm.daily_token_budget, Some(1000));
    assert_eq!(
        llm.api_key.as_ref().map(|k| k.expose()),
        Some("AIza-test-key-123456")
    );
    assert!(
        !format!("{s:?}").contains("AIza-test-key-123456"),
        "Debug hides the key"
    );

    // GOOGLE_AI_API_KEY wins over GEMINI_API_KEY; env wins over the file.
    let s = Settings::load_with(
        Some(home.path().into()),
        env(&[
            ("GEMINI_API_KEY", "second-choice"),
            ("GOOGLE_AI_API_KEY", "first-choice"),
            ("SKYNET_LLM_MODEL", "gemini-2.0-flash"),
            ("SKYNET_PLANNER", "auto"),
        ]),
    )
    .expect("load");
    let llm = s.llm.as_ref().expect("llm");
    assert_eq!(
        llm.api_key.as_ref().map(|k| k.expose()),
        Some("first-choice")
    );
    assert_eq!(llm.model, "gemini-2.0-flash");
    assert_eq!(s.planner, PlannerChoice::Auto);
}

#[cfg(feature = "llm")]
#[test]
fn llm_misconfiguration_says_what_to_set() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    // A model without its key: `auto` plans with the rules and says so;
    // the `llm` planner names the key to set.
    let s = load(&[("SKYNET_LLM_PROVIDER", "anthropic")]).expect("auto goes on");
    assert!(
        s.notices
            .iter()
            .any(|n| n.contains("ANTHROPIC_API_KEY") && n.contains("rules alone")),
        "{:?}",
        s.notices
    );
    let e = load(&[
        ("SKYNET_LLM_PROVIDER", "anthropic"),
        ("SKYNET_PLANNER", "llm"),
    ])
    .expect("load")
    .builder()
    .err()
    .expect("the llm planner needs the key");
    assert!(
        matches!(&e, Error::Config(m) if m.contains("ANTHROPIC_API_KEY")),
        "{e}"
    );
    let e = load(&[("SKYNET_LLM_PROVIDER", "skynet-9000")]).expect_err("unknown");
    assert!(matches!(&e, Error::Config(m) if m.contains("openai, ollama, gemini or anthropic")));
    let e = load(&[("SKYNET_PLANNER", "magic")]).expect_err("planner");
    assert!(matches!(&e, Error::Config(m) if m.contains("rules, llm or auto")));
    let e = load(&[
        ("SKYNET_LLM_PROVIDER", "ollama"),
        ("SKYNET_LLM_BASE_URL", "localhost:11434"),
    ])
    .expect_err("scheme");
    assert!(matches!(&e, Error::Config(m) if m.contains("http://")));
    let s = load(&[("SKYNET_LLM_PROVIDER", "ollama")]).expect("ollama needs no key");
    assert_eq!(
        s.llm.as_ref().map(|l| l.base_url.as_str()),
        Some("http://localhost:11434/v1")
    );
    let s = load(&[
        ("SKYNET_LLM_PROVIDER", "openai"),
        ("SKYNET_LLM_BASE_URL", "http://127.0.0.1:8000/v1"),
    ])
    .expect("a local OpenAI-compatible server (vLLM, llama.cpp) needs no key");
    assert!(s.llm.as_ref().is_some_and(|l| l.api_key.is_none()));
    assert!(
        load(&[("SKYNET_LLM_PROVIDER", "openai")])
            .expect("load")
            .llm
            .is_some_and(|l| l.missing_key().is_some()),
        "api.openai.com does"
    );
    assert!(load(&[]).expect("default").llm.is_none());
}

#[tokio::test]
async fn the_llm_planner_without_a_model_is_a_config_error() {
    let home = tempfile::tempdir().expect("tempdir");
    let s = Settings::load_with(Some(home.path().into()), env(&[("SKYNET_PLANNER", "llm")]))
        .expect("load");
    let e = s.build().await.expect_err("no model");
    assert!(
        matches!(&e, Error::Config(m) if m.contains("SKYNET_LLM_PROVIDER")),
        "{e}"
    );
}

#[cfg(all(feature = "docker", feature = "ssh"))]
#[test]
fn docker_and_ssh_are_configured_by_environment() {
    let home = tempfile::tempdir().expect("tempdir");
    let s = Settings::load_with(Some(home.path().into()), env(&[])).expect("load");
    assert!(s.docker.is_none() && s.ssh.is_none());
    assert_eq!(s.sandbox, SandboxMode::Auto);
    let s = Settings::load_with(
        Some(home.path().into()),
        env(&[
            ("SKYNET_DOCKER_IMAGE", "busybox:1"),
            ("SKYNET_DOCKER_MEMORY", "512m"),
            ("SKYNET_DOCKER_CPUS", "0.5"),
            ("SKYNET_SSH_HOST", "build1"),
            ("SKYNET_SSH_USER", "ci"),
            ("SKYNET_SSH_KEY", "/keys/id"),
            ("SKYNET_SSH_PORT", "2222"),
            ("HOME", "/home/me"),
            ("SKYNET_SANDBOX", "require"),
        ]),
    )
    .expect("load");
    let docker = s.docker.expect("docker");
    assert_eq!(
        (docker.image.as_str(), docker.memory_bytes, docker.cpus),
        ("busybox:1", 512 << 20, 0.5)
    );
    let ssh = s.ssh.expect("ssh");
    assert_eq!(
        (ssh.host.as_str(), ssh.port, ssh.user.as_str()),
        ("build1", 2222, "ci")
    );
    assert_eq!(ssh.known_hosts, PathBuf::from("/home/me/.ssh/known_hosts"));
    assert_eq!(s.sandbox, SandboxMode::Require);
    for (k, v) in [
        ("SKYNET_DOCKER_MEMORY", "lots"),
        ("SKYNET_SANDBOX", "maybe"),
    ] {
        let e = Settings::load_with(
            Some(home.path().into()),
            env(&[("SKYNET_DOCKER_IMAGE", "x"), (k, v)]),
        );
        match k {
            "SKYNET_DOCKER_MEMORY" => assert!(left_out(e, "docker").contains("lots")),
            _ => assert!(matches!(e, Err(Error::Config(_))), "{k}={v}"),
        }
    }
    let e = Settings::load_with(
        Some(home.path().into()),
        env(&[("SKYNET_SSH_HOST", "h"), ("SKYNET_SSH_USER", "u")]),
    );
    assert!(left_out(e, "ssh").contains("SKYNET_SSH_KEY"));
}

#[cfg(all(feature = "docker", feature = "ssh", feature = "gateway"))]
#[test]
fn scheduler_candidates_and_weights_from_file_and_environment() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    let s = load(&[]).expect("defaults");
    assert!(s.providers.is_empty());
    assert!(
        load(&[("SKYNET_PROVIDERS", " ")])
            .expect("blank")
            .providers
            .is_empty()
    );
    assert_eq!(s.scheduler_weights, Weights::default());
    let s = load(&[
        ("SKYNET_PROVIDERS", "mock, local"),
        ("SKYNET_SCHEDULER_WEIGHTS", "1,1,1,1,0"),
    ])
    .expect("load");
    assert_eq!(s.providers, ["mock", "local"]);
    assert_eq!(s.scheduler_weights.as_array(), [1.0, 1.0, 1.0, 1.0, 0.0]);
    for (pairs, says) in [
        (
            &[("SKYNET_PROVIDERS", "local,kubernetes")][..],
            "unknown provider \"kubernetes\"",
        ),
        (
            &[("SKYNET_PROVIDERS", "local,docker")][..],
            "SKYNET_DOCKER_IMAGE",
        ),
        (&[("SKYNET_PROVIDERS", "ssh")][..], "SKYNET_SSH_HOST"),
        (
            &[("SKYNET_PROVIDERS", "local,chathan")][..],
            "OPENCLAW_GATEWAY_URL",
        ),
        (
            &[
                ("SKYNET_PROVIDERS", "openclaw,gateway"),
                ("OPENCLAW_GATEWAY_URL", "http://10.0.0.1:7070"),
                ("OPENCLAW_GATEWAY_TOKEN", "t"),
            ][..],
            "gateway is listed twice",
        ),
        (
            &[("SKYNET_PROVIDERS", "local,,mock")][..],
            "empty provider name",
        ),
        (&[("SKYNET_PROVIDERS", "local,local")][..], "listed twice"),
        (
            &[("SKYNET_SCHEDULER_WEIGHTS", "30,25,x,15,5")][..],
            "SKYNET_SCHEDULER_WEIGHTS",
        ),
    ] {
        let e = load(pairs).expect_err(says);
        assert!(
            matches!(&e, Error::Config(m) if m.contains(says)),
            "{says}: {e}"
        );
    }
    std::fs::write(
        home.path().join("skynet.toml"),
        "providers = [\"local\", \"mock\"]\n[scheduler]\nweights = { health = 50, latency = 0 }\n",
    )
    .expect("write");
    let s = load(&[]).expect("file");
    assert_eq!(s.providers, ["local", "mock"]);
    assert_eq!(
        s.scheduler_weights.as_array(),
        [50.0, 25.0, 25.0, 15.0, 0.0]
    );
    std::fs::write(
        home.path().join("skynet.toml"),
        "[scheduler]\nweights = { health = -1 }\n",
    )
    .expect("write");
    let e = load(&[]).expect_err("negative");
    assert!(
        matches!(&e, Error::Config(m) if m.contains("[scheduler] weights")),
        "{e}"
    );
}

#[cfg(feature = "gateway")]
#[tokio::test]
async fn the_gateway_is_registered_by_url_and_its_aliases_resolve() {
    let home = tempfile::tempdir().expect("tempdir");
    let missing = Settings::load_with(
        Some(home.path().into()),
        env(&[("OPENCLAW_GATEWAY_URL", "http://10.0.0.2:7000")]),
    );
    assert!(left_out(missing, "gateway").contains("OPENCLAW_GATEWAY_TOKEN"));
    let s = Settings::load_with(
        Some(home.path().into()),
        env(&[
            ("OPENCLAW_GATEWAY_URL", "http://10.0.0.2:7000"),
            ("OPENCLAW_GATEWAY_TOKEN", " gw-token-123 \n"),
            ("SKYNET_PROVIDER", "openclaw"),
        ]),
    )
    .expect("settings");
    let gw = s.gateway.clone().expect("gateway");
    assert_eq!(gw.token.expose(), "gw-token-123");
    assert!(!format!("{s:?}").contains("gw-token-123"));
    let engine = s.build().await.expect("engine");
    assert!(engine.provider_names().contains(&"gateway".to_string()));
}

#[cfg(all(feature = "docker", feature = "ssh"))]
#[tokio::test]
async fn configured_providers_are_registered_by_name() {
    let home = tempfile::tempdir().expect("tempdir");
    let s = Settings::load_with(
        Some(home.path().into()),
        env(&[
            ("SKYNET_DOCKER_IMAGE", "busybox:1"),
            ("SKYNET_SSH_HOST", "build1"),
            ("SKYNET_SSH_USER", "ci"),
            ("SKYNET_SSH_KEY", "/keys/id"),
            ("SKYNET_SSH_KNOWN_HOSTS", "/keys/known_hosts"),
            ("SKYNET_PROVIDER", "docker"),
            ("SKYNET_DATABASE_URL", "sqlite::memory:"),
        ]),
    )
    .expect("load");
    let engine = s.build().await.expect("build");
    assert_eq!(engine.provider_names(), ["docker", "local", "mock", "ssh"]);
}

/// Each provider (and the LLM clients) left out of this build refuses to
/// be configured, naming the feature to rebuild with.
#[test]
fn a_compiled_out_feature_is_named_when_configured() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    let mut cases: Vec<(&[(&str, &str)], &str)> = Vec::new();
    if cfg!(not(feature = "docker")) {
        cases.push((&[("SKYNET_DOCKER_IMAGE", "busybox:1")], "docker"));
        cases.push((&[("SKYNET_PROVIDER", "docker")], "docker"));
        cases.push((&[("SKYNET_PROVIDERS", "local,docker")], "docker"));
    }
    if cfg!(not(feature = "ssh")) {
        cases.push((&[("SKYNET_SSH_HOST", "build1")], "ssh"));
    }
    if cfg!(not(feature = "gateway")) {
        cases.push((
            &[("OPENCLAW_GATEWAY_URL", "http://10.0.0.2:7000")],
            "gateway",
        ));
        cases.push((&[("SKYNET_PROVIDER", "openclaw")], "gateway"));
    }
    if cfg!(not(feature = "llm")) {
        cases.push((&[("SKYNET_LLM_PROVIDER", "ollama")], "llm"));
    }
    for (pairs, feature) in cases {
        let e = load(pairs).expect_err(feature);
        let says = format!("no `{feature}` feature; rebuild with --features {feature}");
        assert!(
            matches!(&e, Error::Config(m) if m.contains(&says)),
            "{pairs:?}: {e}"
        );
    }
    assert!(load(&[]).is_ok(), "nothing configured needs nothing");
}

#[test]
fn readable_paths_widen_what_the_policy_lets_steps_read() {
    let home = tempfile::tempdir().expect("tempdir");
    let root = tempfile::tempdir().expect("root");
    let logs = tempfile::tempdir().expect("logs");
    std::fs::write(logs.path().join("app.log"), "x").expect("write");
    let logs_dir = logs.path().canonicalize().expect("canonical");
    let log = logs_dir.join("app.log").display().to_string();
    let command = |program: &str| crate::plan::Command {
        argv: vec![program.into(), log.clone()],
        cwd: root.path().canonicalize().expect("canonical"),
        env: Default::default(),
        timeout_ms: None,
        stdin: None,
        pipe: Vec::new(),
    };
    let cat = |policy: &Policy| policy.check_command(&command("cat"), &command("cat").cwd);
    let closed = Settings::load_with(Some(home.path().into()), env(&[])).expect("load");
    assert!(!closed.sandbox_readable.contains(&logs_dir));
    let d = cat(&closed.policy().expect("policy"));
    assert_eq!(d.verdict, crate::policy::Verdict::Forbid, "{}", d.explain());

    let dir = logs.path().display().to_string();
    let open = Settings::load_with(
        Some(home.path().into()),
        env(&[("SKYNET_SANDBOX_READABLE", &dir)]),
    )
    .expect("load");
    assert_eq!(open.sandbox_readable, vec![logs_dir.clone()]);
    let policy = open.policy().expect("policy");
    let d = cat(&policy);
    assert_eq!(d.verdict, crate::policy::Verdict::Allow, "{}", d.explain());
    // Reading is not writing: a write there is still outside the root.
    let tee = command("tee");
    let d = policy.check_command(&tee, &tee.cwd);
    assert_eq!(d.verdict, crate::policy::Verdict::Forbid, "{}", d.explain());

    let e = Settings::load_with(
        Some(home.path().into()),
        env(&[("SKYNET_SANDBOX_READABLE", "/no/such/dir")]),
    );
    assert!(matches!(e, Err(Error::Config(m)) if m.contains("readable")));
}

#[test]
fn separation_of_duties_is_on_unless_turned_off() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    assert!(load(&[]).expect("load").separation_of_duties);
    std::fs::write(
        home.path().join("skynet.toml"),
        "separation_of_duties = false\n",
    )
    .expect("write");
    assert!(!load(&[]).expect("load").separation_of_duties);
    let on = load(&[("SKYNET_SEPARATION_OF_DUTIES", "true")]).expect("load");
    assert!(
        on.separation_of_duties,
        "the environment wins over the file"
    );
    let bad = load(&[("SKYNET_SEPARATION_OF_DUTIES", "maybe")]);
    assert!(
        matches!(&bad, Err(Error::Config(m)) if m.contains("separation_of_duties")),
        "{bad:?}"
    );
}

#[test]
fn http_limits_and_redaction_patterns_are_settings() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    assert_eq!(load(&[]).expect("load").http, HttpSettings::default());
    std::fs::write(
        home.path().join("skynet.toml"),
        "[http]\nmax_per_address = 8\nheader_timeout = \"5s\"\n\
         [redact]\npatterns = [\"corp-[0-9]{6}\"]\n",
    )
    .expect("write");
    let s = load(&[("SKYNET_HTTP_FAILED_AUTH_LIMIT", "3")]).expect("load");
    assert_eq!(s.http.max_per_address, 8);
    assert_eq!(s.http.header_timeout, Duration::from_secs(5));
    assert_eq!(s.http.failed_auth_limit, 3);
    assert_eq!(s.redact_patterns, ["corp-[0-9]{6}"]);
    for (var, value, names) in [
        ("SKYNET_HTTP_MAX_CONNECTIONS", "0", "max_connections"),
        ("SKYNET_HTTP_BODY_TIMEOUT", "soon", "body_timeout"),
        ("SKYNET_REDACT_PATTERNS", "corp-(", "corp-("),
    ] {
        let e = load(&[(var, value)]);
        assert!(
            matches!(&e, Err(Error::Config(m)) if m.contains(names)),
            "{var}: {e:?}"
        );
    }
}

#[test]
fn cors_origins_are_off_by_default_and_checked() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    assert!(load(&[]).expect("load").http.cors_origins.is_empty());
    std::fs::write(
        home.path().join("skynet.toml"),
        "[http]\ncors_origins = [\"https://App.example.com\", \"http://localhost:5173\"]\n",
    )
    .expect("write");
    assert_eq!(
        load(&[]).expect("file").http.cors_origins,
        ["https://app.example.com", "http://localhost:5173"]
    );
    let s = load(&[(
        "SKYNET_HTTP_CORS_ORIGINS",
        "https://a.example, https://b.example:8443",
    )])
    .expect("env wins");
    assert_eq!(
        s.http.cors_origins,
        ["https://a.example", "https://b.example:8443"]
    );
    assert_eq!(
        load(&[("SKYNET_HTTP_CORS_ORIGINS", "*")])
            .expect("any")
            .http
            .cors_origins,
        ["*"]
    );
    assert_eq!(
        load(&[(
            "SKYNET_HTTP_CORS_ORIGINS",
            "https://a.example:443/,http://[::1]:8080"
        )])
        .expect("normalised")
        .http
        .cors_origins,
        ["https://a.example", "http://[::1]:8080"]
    );
    for bad in [
        "a.example",
        "ftp://a.example",
        "https://a.example/app",
        "https://a.example:0",
        "*,https://a.example",
    ] {
        let e = load(&[("SKYNET_HTTP_CORS_ORIGINS", bad)]);
        assert!(
            matches!(&e, Err(Error::Config(m)) if m.contains("cors_origins")),
            "{bad}: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_configured_pattern_redacts_step_output() {
    let home = tempfile::tempdir().expect("tempdir");
    let s = Settings::load_with(
        Some(home.path().into()),
        env(&[
            ("SKYNET_REDACT_PATTERNS", "corp-[0-9]{6}"),
            ("SKYNET_SANDBOX", "off"),
            ("SKYNET_PROVIDER", "local"),
        ]),
    )
    .expect("load");
    let sk = s.build().await.expect("engine");
    std::fs::write(home.path().join("note.txt"), "badge corp-123456 ok\n").expect("write");
    let job = sk
        .submit(crate::SubmitRequest::new("read note.txt").root(home.path()))
        .await
        .expect("submit");
    let done = sk.run_job(&job.id, "test").await.expect("run");
    assert_eq!(done.status, crate::JobStatus::Succeeded, "{:?}", done.error);
    let lines = sk
        .logs(&job.id, &crate::store::LogQuery::default())
        .await
        .expect("logs");
    let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(text, ["badge [REDACTED] ok"]);
}

#[test]
fn telegram_users_roles_token_and_approval_ttl_are_settings() {
    use crate::config::TelegramRole;
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    let none = load(&[]).expect("load");
    assert!(none.telegram.token.is_none() && none.telegram.users.is_empty());
    assert_eq!(
        none.telegram.api_url,
        crate::config::DEFAULT_TELEGRAM_API_URL
    );
    assert_eq!(none.engine.approval_ttl, Duration::from_secs(24 * 3600));
    std::fs::write(
        home.path().join("skynet.toml"),
        "[limits]\napproval_ttl = \"2h\"\n[telegram]\napi_url = \"http://127.0.0.1:9/\"\n\
         users = [{ id = 5, role = \"viewer\" }, { id = 6, role = \"approver\" }]\n",
    )
    .expect("write");
    let file = load(&[
        ("TELEGRAM_BOT_TOKEN", "123:SECRET"),
        ("TELEGRAM_ALLOWED_USER_ID", "7"),
    ])
    .expect("load");
    assert_eq!(file.engine.approval_ttl, Duration::from_secs(7200));
    assert_eq!(file.telegram.api_url, "http://127.0.0.1:9");
    assert_eq!(file.telegram.users[&5], TelegramRole::Viewer);
    assert_eq!(file.telegram.users[&6], TelegramRole::Approver);
    assert_eq!(
        file.telegram.users[&7],
        TelegramRole::Admin,
        "the single user is an admin"
    );
    let token = file.telegram.token.as_ref().expect("token");
    assert_eq!(token.expose(), "123:SECRET");
    assert!(
        !format!("{file:?}").contains("SECRET"),
        "the token is never shown"
    );
    let hook = load(&[
        ("TELEGRAM_WEBHOOK_URL", "https://x/telegram/webhook"),
        ("TELEGRAM_WEBHOOK_SECRET", "WEBHOOKSECRET"),
    ])
    .expect("load");
    assert_eq!(
        hook.telegram.webhook_url.as_deref(),
        Some("https://x/telegram/webhook")
    );
    assert!(!format!("{hook:?}").contains("WEBHOOKSECRET"));
    let env_list = load(&[("TELEGRAM_USERS", "9:admin")]).expect("load");
    assert_eq!(env_list.telegram.users.len(), 1);
    for (k, v, says) in [
        ("TELEGRAM_USERS", "9:boss", "unknown role"),
        ("TELEGRAM_USERS", "nine:admin", "not a Telegram user id"),
        ("TELEGRAM_API_URL", "ftp://x", "http"),
        ("SKYNET_APPROVAL_TTL", "soon", "approval_ttl"),
        (
            "TELEGRAM_WEBHOOK_URL",
            "https://x/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET",
        ),
    ] {
        let e = load(&[(k, v)]);
        assert!(
            matches!(&e, Err(Error::Config(m)) if m.contains(says)),
            "{k}={v}: {e:?}"
        );
    }
}

#[test]
fn local_use_reads_what_operators_inspect_and_remote_callers_do_not() {
    let home = tempfile::tempdir().expect("tempdir");
    let root = tempfile::tempdir().expect("root");
    let root = root.path().canonicalize().expect("canonical");
    let local = Settings::load_with(Some(home.path().into()), env(&[])).expect("load");
    assert!(!local.sandbox_readable_configured);
    let cat = |policy: &Policy, path: &str| {
        let command = crate::plan::Command {
            argv: vec!["cat".into(), path.into()],
            cwd: root.clone(),
            env: Default::default(),
            timeout_ms: None,
            stdin: None,
            pipe: Vec::new(),
        };
        policy.check_command(&command, &root)
    };
    let policy = local.policy().expect("policy");
    for path in ["/etc/hostname", "/proc/loadavg", "/proc/meminfo"] {
        let d = cat(&policy, path);
        assert_eq!(
            d.risk,
            crate::RiskLevel::ReadOnly,
            "{path}: {}",
            d.explain()
        );
    }
    for path in ["/etc/shadow", "/proc/1/environ", "/proc/self/mem"] {
        let d = cat(&policy, path);
        assert_eq!(
            d.verdict,
            crate::policy::Verdict::Forbid,
            "{path}: {}",
            d.explain()
        );
    }
    let remote = local.clone().for_remote_callers().policy().expect("policy");
    let d = cat(&remote, "/etc/hostname");
    assert_eq!(d.verdict, crate::policy::Verdict::Forbid, "{}", d.explain());
    // A configured scope is the operator's choice, for remote callers too.
    let configured = Settings::load_with(
        Some(home.path().into()),
        env(&[("SKYNET_SANDBOX_READABLE", "/etc")]),
    )
    .expect("load")
    .for_remote_callers();
    let d = cat(&configured.policy().expect("policy"), "/etc/hostname");
    assert_eq!(d.risk, crate::RiskLevel::ReadOnly, "{}", d.explain());
}

/// SKYNET cannot sandbox a remote host: READ_ONLY work on SSH waits for a
/// human unless the operator vouches for the account.
#[cfg(feature = "ssh")]
#[tokio::test]
async fn an_ssh_host_confines_read_only_work_only_when_the_operator_says_so() {
    use crate::provider::Provider;
    let home = tempfile::tempdir().expect("tempdir");
    let ssh = |confined: Option<&str>| {
        let mut vars = vec![
            ("SKYNET_SSH_HOST", "build1"),
            ("SKYNET_SSH_USER", "ci"),
            ("SKYNET_SSH_KEY", "/keys/id"),
            ("HOME", "/home/me"),
        ];
        vars.extend(confined.map(|v| ("SKYNET_SSH_CONFINED", v)));
        Settings::load_with(Some(home.path().into()), env(&vars))
            .expect("load")
            .ssh
            .expect("ssh")
    };
    let default = crate::provider::SshProvider::new(ssh(None));
    assert!(!default.confines_read_only().await);
    assert!(
        default.capabilities().isolated,
        "still another machine for the scheduler"
    );
    let vouched = crate::provider::SshProvider::new(ssh(Some("true")));
    assert!(vouched.confines_read_only().await);
    let e = Settings::load_with(
        Some(home.path().into()),
        env(&[
            ("SKYNET_SSH_HOST", "build1"),
            ("SKYNET_SSH_USER", "ci"),
            ("SKYNET_SSH_KEY", "/keys/id"),
            ("HOME", "/home/me"),
            ("SKYNET_SSH_CONFINED", "perhaps"),
        ]),
    );
    assert!(left_out(e, "ssh").contains("ssh confined"));
}

#[cfg(feature = "llm")]
#[tokio::test]
async fn one_vendor_key_alone_selects_that_vendor_and_a_keyless_model_never_stops_the_rules() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    let s = load(&[("GOOGLE_AI_API_KEY", "g-key")]).expect("load");
    let llm = s.llm.expect("gemini selected by its key");
    assert_eq!(
        (llm.provider.as_str(), llm.model.as_str()),
        ("gemini", "gemini-2.5-flash")
    );
    let s = load(&[("ANTHROPIC_API_KEY", "a-key")]).expect("load");
    assert_eq!(s.llm.map(|l| l.provider.as_str()), Some("anthropic"));
    let s = load(&[("GOOGLE_AI_API_KEY", "g"), ("OPENAI_API_KEY", "o")]).expect("load");
    assert!(s.llm.is_none(), "two vendors' keys choose none");
    let s = load(&[
        ("GOOGLE_AI_API_KEY", "g"),
        ("SKYNET_LLM_PROVIDER", "openai"),
        ("OPENAI_API_KEY", "o"),
    ])
    .expect("load");
    assert_eq!(s.llm.map(|l| l.provider.as_str()), Some("openai"));

    // The README's sample: a model named in skynet.toml, no key anywhere.
    std::fs::write(
        home.path().join("skynet.toml"),
        "planner = \"auto\"\n[llm]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n",
    )
    .expect("write");
    let s = load(&[]).expect("loads without a key");
    assert_eq!(s.notices.len(), 1, "{:?}", s.notices);
    let sk = s.build().await.expect("builds with the rules");
    let plan = sk
        .plan(&crate::engine::SubmitRequest {
            intent: "check git status".into(),
            root: Some(home.path().into()),
            ..Default::default()
        })
        .await
        .expect("the rules plan it");
    assert_eq!(plan.planner, "rules");
}

#[test]
fn original_environment_names_are_read_as_aliases_with_notices() {
    let home = tempfile::tempdir().expect("tempdir");
    let extra = tempfile::tempdir().expect("extra");
    let extra_path = extra.path().canonicalize().expect("canonical");
    let names: Vec<String> = ["CELERY_BROKER_URL", "REDIS_URL", "PATH"]
        .map(String::from)
        .to_vec();
    let allowed = format!("{},/", extra_path.display());
    let s = Settings::load_named(
        Some(home.path().into()),
        env(&[
            ("SKYNET_EXECUTION_PROVIDER", "mock"),
            ("SKYNET_DB_PATH", "/srv/skynet/ledger.db"),
            ("HEARTBEAT_TIMEOUT_SECONDS", "45"),
            ("JOB_TIMEOUT_SECONDS", "600"),
            ("SKYNET_ALLOWED_PATHS", &allowed),
            ("SKYNET_LOG_LEVEL", "INFO"),
            ("CELERY_BROKER_URL", "redis://x"),
            ("REDIS_URL", "redis://x"),
        ]),
        &names,
    )
    .expect("load");
    assert_eq!(s.provider, "mock");
    assert_eq!(s.database_url, "sqlite:///srv/skynet/ledger.db");
    assert_eq!(s.engine.worker_offline_after, Duration::from_secs(45));
    assert_eq!(s.engine.timeouts.job, Some(Duration::from_secs(600)));
    assert_eq!(
        s.read_paths_extra,
        vec![extra_path.clone(), PathBuf::from("/")]
    );
    // Read scope only: the policy reads there; the sandbox writes nowhere new.
    assert!(
        s.policy()
            .expect("policy")
            .read_paths()
            .contains(&extra_path)
    );
    assert!(s.sandbox_writable.is_empty());
    // Remote callers lose the local default read scope, not the operator's paths.
    let remote = s.clone().for_remote_callers();
    assert!(
        remote
            .policy()
            .expect("policy")
            .read_paths()
            .contains(&extra_path)
    );
    for expected in [
        "SKYNET_EXECUTION_PROVIDER is read as SKYNET_PROVIDER; rename it",
        "SKYNET_DB_PATH is read as SKYNET_DATABASE_URL; rename it",
        "HEARTBEAT_TIMEOUT_SECONDS is read as SKYNET_WORKER_OFFLINE_AFTER; rename it",
        "JOB_TIMEOUT_SECONDS is read as SKYNET_JOB_TIMEOUT; rename it",
        "SKYNET_LOG_LEVEL is read as SKYNET_LOG; rename it",
    ] {
        assert!(
            s.notices.iter().any(|n| n == expected),
            "{expected}: {:?}",
            s.notices
        );
    }
    assert!(
        s.notices
            .iter()
            .any(|n| n.starts_with("SKYNET_ALLOWED_PATHS is read as extra read paths"))
    );
    assert!(
        s.notices
            .iter()
            .any(|n| n.starts_with("CELERY_BROKER_URL is ignored"))
    );
    assert!(
        s.notices
            .iter()
            .any(|n| n.starts_with("REDIS_URL is ignored"))
    );
    assert_eq!(s.notices.len(), 8, "{:?}", s.notices);

    // A new name beside its original wins, and the notice says so.
    let s = Settings::load_with(
        Some(home.path().into()),
        env(&[
            ("SKYNET_PROVIDER", "local"),
            ("SKYNET_EXECUTION_PROVIDER", "mock"),
        ]),
    )
    .expect("load");
    assert_eq!(s.provider, "local");
    assert_eq!(
        s.notices,
        vec!["SKYNET_EXECUTION_PROVIDER is ignored: SKYNET_PROVIDER is set and wins".to_string()]
    );
    // Bad input under an original name fails like the new name would.
    let e = Settings::load_with(
        Some(home.path().into()),
        env(&[("HEARTBEAT_TIMEOUT_SECONDS", "soon")]),
    )
    .expect_err("not a duration");
    assert!(
        matches!(&e, Error::Config(m) if m.contains("offline_after")),
        "{e}"
    );
    let e = Settings::load_with(
        Some(home.path().into()),
        env(&[("SKYNET_ALLOWED_PATHS", "/no/such/dir")]),
    )
    .expect_err("missing dir");
    assert!(
        matches!(&e, Error::Config(m) if m.contains("SKYNET_ALLOWED_PATHS")),
        "{e}"
    );
}

/// One misconfigured provider breaks only what uses it: the policy, local
/// runs and the other providers work; a job for it is refused with its
/// configuration error, also when it is the default, and never moved.
#[cfg(feature = "docker")]
#[tokio::test]
async fn a_broken_provider_breaks_only_the_work_that_uses_it() {
    let home = tempfile::tempdir().expect("tempdir");
    let root = tempfile::tempdir().expect("root");
    let s = Settings::load_with(
        Some(home.path().into()),
        env(&[
            ("SKYNET_DOCKER_IMAGE", "busybox"),
            ("SKYNET_DOCKER_MEMORY", "lots"),
            ("SKYNET_PROVIDER", "docker"),
            ("SKYNET_SANDBOX", "off"),
        ]),
    )
    .expect("load");
    assert!(s.policy().is_ok(), "the policy needs no provider");
    let sk = s.build().await.expect("builds without docker");
    let mut req = crate::engine::SubmitRequest::new("list the files").root(root.path());
    let e = sk
        .submit(req.clone())
        .await
        .expect_err("the default is docker");
    assert!(
        matches!(&e, Error::Config(m) if m.contains("\"docker\" cannot be used") && m.contains("lots")),
        "{e}"
    );
    assert!(
        sk.list(&Default::default()).await.expect("list").is_empty(),
        "nothing stored"
    );
    req.provider = Some("local".into());
    let job = sk.submit(req).await.expect("local still works");
    assert_eq!(job.provider, "local");
}

#[test]
fn timeout_levels_from_file_and_environment() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    // Defaults: no job or step limit, the cap, the providers' defaults.
    let t = load(&[]).expect("load").engine.timeouts;
    assert_eq!(t, crate::timeouts::TimeoutConfig::default());
    assert_eq!((t.job, t.step), (None, None));
    assert_eq!(t.provider_default("local"), Some(Duration::from_secs(60)));
    assert_eq!(t.provider_default("docker"), Some(Duration::from_secs(300)));
    assert_eq!(t.provider_default("ssh"), Some(Duration::from_secs(120)));
    std::fs::write(
        home.path().join("skynet.toml"),
        "[limits]\njob_timeout = \"1h\"\nstep_timeout = \"10m\"\nread_only_step_timeout = \"30s\"\n\
         [limits.provider_timeout]\nlocal = \"90s\"\nssh = \"off\"\n\
         [limits.action_timeout]\nrun_tests = \"2h\"\nbuild_project = \"off\"\n",
    )
    .expect("write");
    let t = load(&[]).expect("load").engine.timeouts;
    assert_eq!(t.job, Some(Duration::from_secs(3600)));
    assert_eq!(t.step, Some(Duration::from_secs(600)));
    assert_eq!(t.read_only_step, Duration::from_secs(30));
    assert_eq!(t.provider_default("local"), Some(Duration::from_secs(90)));
    assert_eq!(t.provider_default("ssh"), None);
    assert_eq!(t.provider_default("docker"), Some(Duration::from_secs(300)));
    assert_eq!(
        t.action_default(&crate::Action::RunTests),
        Some(Duration::from_secs(7200))
    );
    assert_eq!(t.action_default(&crate::Action::BuildProject), None);
    // The environment over the file; the action list replaces the table.
    let t = load(&[
        ("SKYNET_JOB_TIMEOUT", "off"),
        ("SKYNET_STEP_TIMEOUT", "5m"),
        ("SKYNET_LOCAL_TIMEOUT", "2m"),
        ("SKYNET_SSH_TIMEOUT", "3m"),
        ("SKYNET_DOCKER_TIMEOUT", "off"),
        ("SKYNET_GATEWAY_TIMEOUT", "1m"),
        ("SKYNET_ACTION_TIMEOUTS", "git_push=20m"),
    ])
    .expect("load")
    .engine
    .timeouts;
    assert_eq!(t.job, None);
    assert_eq!(t.step, Some(Duration::from_secs(300)));
    assert_eq!(t.provider_default("local"), Some(Duration::from_secs(120)));
    assert_eq!(t.provider_default("ssh"), Some(Duration::from_secs(180)));
    assert_eq!(t.provider_default("docker"), None);
    assert_eq!(
        t.provider_default("openclaw"),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        t.actions.keys().collect::<Vec<_>>(),
        ["git_push"],
        "the variable replaced the file's table"
    );
    // Bad values name the setting and what to write.
    for (var, value, says) in [
        ("SKYNET_LOCAL_TIMEOUT", "soon", "provider_timeout.local"),
        ("SKYNET_ACTION_TIMEOUTS", "run_tests", "action=duration"),
        (
            "SKYNET_ACTION_TIMEOUTS",
            "make_coffee=1m",
            "not a catalog action",
        ),
        (
            "SKYNET_ACTION_TIMEOUTS",
            "run_tests=0s",
            "action_timeout.run_tests",
        ),
        ("SKYNET_JOB_TIMEOUT", "0s", "job_timeout"),
    ] {
        match load(&[(var, value)]) {
            Err(Error::Config(m)) => assert!(m.contains(says), "{var}={value}: {m}"),
            other => panic!("{var}={value} should be refused, got {other:?}"),
        }
    }
    std::fs::write(
        home.path().join("skynet.toml"),
        "[limits.provider_timeout]\nmock = \"1s\"\n",
    )
    .expect("write");
    assert!(matches!(load(&[]), Err(Error::Config(_))));
}

#[test]
fn network_probes_allow_list_and_docker_host_are_settings() {
    use crate::probe::Cidr;
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    let none = load(&[]).expect("load").engine.probes;
    assert!(none.allow.ranges.is_empty() && none.allow.hosts.is_empty());
    assert_eq!(none.docker_host, None);
    std::fs::write(
        home.path().join("skynet.toml"),
        "[network]\nallow = [\"10.0.0.0/8\", \"Status.Internal\"]\n[docker]\nhost = \"unix:///run/d.sock\"\n",
    )
    .expect("write");
    let file = load(&[]).expect("file").engine.probes;
    assert_eq!(
        file.allow.ranges,
        [Cidr::parse("10.0.0.0/8").expect("cidr")]
    );
    assert_eq!(file.allow.hosts, ["status.internal"]);
    assert_eq!(file.docker_host.as_deref(), Some("unix:///run/d.sock"));
    let env_wins = load(&[
        ("SKYNET_NETWORK_ALLOW", "127.0.0.1, fd00::/8"),
        ("SKYNET_DOCKER_HOST", "tcp://127.0.0.1:2375"),
    ])
    .expect("env")
    .engine
    .probes;
    assert_eq!(env_wins.allow.ranges.len(), 2);
    assert!(
        env_wins.allow.hosts.is_empty(),
        "the file's list is replaced"
    );
    assert_eq!(
        env_wins.docker_host.as_deref(),
        Some("tcp://127.0.0.1:2375")
    );
    let e = load(&[("SKYNET_NETWORK_ALLOW", "10.0.0.0/40")]);
    assert!(
        matches!(&e, Err(Error::Config(m)) if m.contains("10.0.0.0/40")),
        "{e:?}"
    );
}

#[test]
fn the_host_profile_is_off_unless_the_file_or_the_environment_turns_it_on() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    assert!(!load(&[]).expect("load").sandbox_host_profile);
    std::fs::write(
        home.path().join("skynet.toml"),
        "[sandbox]\nhost_profile = true\n",
    )
    .expect("write");
    assert!(load(&[]).expect("load").sandbox_host_profile);
    let off = load(&[("SKYNET_SANDBOX_HOST_PROFILE", "false")]).expect("load");
    assert!(!off.sandbox_host_profile, "the environment wins");
    match load(&[("SKYNET_SANDBOX_HOST_PROFILE", "sometimes")]) {
        Err(Error::Config(m)) => assert!(m.contains("host_profile"), "{m}"),
        other => panic!("refused expected, got {other:?}"),
    }
}

#[test]
fn s3_artifacts_are_configured_by_file_and_environment() {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        home.path().join("skynet.toml"),
        "[artifacts]\ns3_bucket = \"from-file\"\ns3_prefix = \"ci/artifacts\"\ns3_part_size = \"16m\"\n",
    )
    .expect("write");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    #[cfg(feature = "s3")]
    {
        let s = load(&[
            ("S3_BUCKET", "original-name"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "very-secret-value"),
            ("AWS_SESSION_TOKEN", "session-token-value"),
        ])
        .expect("load");
        let s3 = s.artifacts.s3.clone().expect("an S3 store");
        // The original `S3_BUCKET` wins over the file, with a notice.
        assert_eq!(s3.bucket, "original-name");
        assert!(s.notices.iter().any(|n| n.contains("S3_BUCKET is read as")));
        assert_eq!(s3.prefix, "ci/artifacts");
        assert_eq!(s3.region, "eu-west-1");
        assert_eq!(s3.part_size, 16 << 20);
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let shown = format!("{s:?}");
        assert!(!shown.contains("very-secret-value") && !shown.contains("session-token-value"));
        assert_eq!(s.artifact_store().expect("store").backend(), "s3");
        for (key, value, says) in [
            (
                "SKYNET_ARTIFACT_S3_ENDPOINT",
                "http://s3.example.com",
                "ALLOW_HTTP",
            ),
            ("SKYNET_ARTIFACT_S3_PART_SIZE", "1m", "5 MiB"),
            ("SKYNET_ARTIFACT_S3_PREFIX", "../up", "not a key prefix"),
        ] {
            let e = load(&[(key, value)]).expect_err(key);
            assert!(
                matches!(e, Error::Config(_)) && e.to_string().contains(says),
                "{e}"
            );
        }
        let e = load(&[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")]).expect_err("half a key");
        assert!(e.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{e}");
    }
    #[cfg(not(feature = "s3"))]
    {
        let e = load(&[]).expect_err("no s3 feature");
        assert!(
            matches!(e, Error::Config(_)) && e.to_string().contains("--features s3"),
            "{e}"
        );
    }
}

#[test]
fn the_embedder_is_hashing_by_default_and_minilm_by_its_model_directory() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    assert_eq!(load(&[]).expect("load").embedder, EmbedderChoice::Hash);
    let e = load(&[("SKYNET_EMBEDDER", "word2vec")]).expect_err("unknown");
    assert!(e.to_string().contains("not one of hash, minilm"), "{e}");
    let chosen = load(&[("SKYNET_EMBED_MODEL_DIR", "/models/minilm")]);
    let explicit_hash = load(&[
        ("SKYNET_EMBEDDER", "hash"),
        ("SKYNET_EMBED_MODEL_DIR", "/models/minilm"),
    ]);
    assert_eq!(explicit_hash.expect("load").embedder, EmbedderChoice::Hash);
    #[cfg(feature = "minilm")]
    {
        assert_eq!(
            chosen.expect("load").embedder,
            EmbedderChoice::MiniLm {
                model_dir: "/models/minilm".into()
            }
        );
        let e = load(&[("SKYNET_EMBEDDER", "minilm")]).expect_err("no directory");
        assert!(
            matches!(&e, Error::Config(m) if m.contains("SKYNET_EMBED_MODEL_DIR")),
            "{e}"
        );
        std::fs::write(
            home.path().join("skynet.toml"),
            "[embedder]\nkind = \"minilm\"\nmodel_dir = \"/srv/minilm\"\n",
        )
        .expect("write");
        assert_eq!(
            load(&[]).expect("load").embedder,
            EmbedderChoice::MiniLm {
                model_dir: "/srv/minilm".into()
            }
        );
    }
    #[cfg(not(feature = "minilm"))]
    assert!(
        matches!(&chosen, Err(Error::Config(m)) if m.contains("`minilm` feature")),
        "{chosen:?}"
    );
}

/// The hosted embedder a load chose (panics on another choice).
#[cfg(feature = "llm")]
fn remote_choice(choice: EmbedderChoice) -> (&'static str, RemoteEmbedding) {
    match choice {
        EmbedderChoice::OpenAi(r) => ("openai", r),
        EmbedderChoice::Gemini(r) => ("gemini", r),
        other => panic!("expected a hosted embedder, got {other:?}"),
    }
}

#[cfg(feature = "llm")]
#[test]
fn hosted_embedders_are_chosen_with_their_defaults_and_the_llm_transport_limits() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    let key = "sk-embed-config-secret-1";
    let s = load(&[("SKYNET_EMBEDDER", "openai"), ("OPENAI_API_KEY", key)]).expect("load");
    assert!(!format!("{s:?}").contains(key), "the key shows in Debug");
    let (kind, r) = remote_choice(s.embedder);
    assert_eq!(kind, "openai");
    assert_eq!(
        (r.model.as_str(), r.base_url.as_str(), r.dimension),
        ("text-embedding-3-small", "https://api.openai.com/v1", 1536)
    );
    assert_eq!(r.api_key.as_ref().map(|k| k.expose()), Some(key));
    assert_eq!(r.http, crate::llm::HttpOptions::default());

    // Gemini: its own key variables, 768 dimensions asked of any model;
    // the LLM's transport limits apply, from the file or the environment.
    std::fs::write(
        home.path().join("skynet.toml"),
        "[llm]\ntimeout = \"7s\"\nmax_retries = 1\n[embedder]\nkind = \"GEMINI\"\n",
    )
    .expect("write");
    let (kind, r) = remote_choice(
        load(&[
            ("GEMINI_API_KEY", "g-key"),
            ("SKYNET_LLM_MAX_RESPONSE_BYTES", "1000"),
        ])
        .expect("load")
        .embedder,
    );
    assert_eq!(kind, "gemini");
    assert_eq!(
        (r.model.as_str(), r.dimension),
        ("gemini-embedding-001", 768)
    );
    assert_eq!(
        r.base_url,
        "https://generativelanguage.googleapis.com/v1beta"
    );
    assert_eq!(r.http.timeout, std::time::Duration::from_secs(7));
    assert_eq!(r.http.retry.max_retries, 1);
    assert_eq!(r.http.max_response_bytes, 1000);
    // SKYNET_EMBED_API_KEY wins over the vendor's variable.
    let (_, r) = remote_choice(
        load(&[
            ("GEMINI_API_KEY", "g-key"),
            ("SKYNET_EMBED_API_KEY", "embed-key"),
        ])
        .expect("load")
        .embedder,
    );
    assert_eq!(r.api_key.as_ref().map(|k| k.expose()), Some("embed-key"));

    // An OpenAI-compatible server elsewhere (Ollama): no key needed, every
    // setting from the file, the environment over it.
    std::fs::write(
        home.path().join("skynet.toml"),
        "[embedder]\nkind = \"openai\"\nmodel = \"nomic-embed-text\"\n\
         base_url = \"http://127.0.0.1:11434/v1\"\ndimension = 768\n",
    )
    .expect("write");
    let (_, r) = remote_choice(load(&[]).expect("load").embedder);
    assert_eq!(
        (r.model.as_str(), r.base_url.as_str(), r.dimension),
        ("nomic-embed-text", "http://127.0.0.1:11434/v1", 768)
    );
    assert!(r.api_key.is_none());
    let (_, r) = remote_choice(
        load(&[
            ("SKYNET_EMBED_DIMENSION", "1024"),
            ("SKYNET_EMBED_MODEL", "mxbai-embed-large"),
        ])
        .expect("load")
        .embedder,
    );
    assert_eq!((r.model.as_str(), r.dimension), ("mxbai-embed-large", 1024));
}

#[cfg(feature = "llm")]
#[test]
fn hosted_embedder_settings_that_cannot_work_are_refused_saying_what_to_set() {
    let home = tempfile::tempdir().expect("tempdir");
    let load = |pairs: &[(&str, &str)]| Settings::load_with(Some(home.path().into()), env(pairs));
    let refused = |pairs: &[(&str, &str)], wants: &[&str]| {
        let e = load(pairs).expect_err("refused");
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        let text = e.to_string();
        for w in wants {
            assert!(text.contains(w), "{text:?} lacks {w:?}");
        }
        text
    };
    refused(
        &[("SKYNET_EMBEDDER", "openai")],
        &[
            "openai embedder needs an API key",
            "SKYNET_EMBED_API_KEY or OPENAI_API_KEY",
        ],
    );
    refused(
        &[("SKYNET_EMBEDDER", "gemini"), ("OPENAI_API_KEY", "k")],
        &["SKYNET_EMBED_API_KEY or GOOGLE_AI_API_KEY or GEMINI_API_KEY"],
    );
    let openai = [("SKYNET_EMBEDDER", "openai"), ("OPENAI_API_KEY", "k")];
    let with = |extra: (&'static str, &'static str)| {
        let mut v = openai.to_vec();
        v.push(extra);
        v
    };
    refused(
        &with(("SKYNET_EMBED_MODEL", "nomic-embed-text")),
        &[
            "\"nomic-embed-text\" has no known dimension",
            "SKYNET_EMBED_DIMENSION",
        ],
    );
    for bad in ["0", "-3", "abc", "100000", "1.5"] {
        refused(
            &with(("SKYNET_EMBED_DIMENSION", bad)),
            &["SKYNET_EMBED_DIMENSION", "whole number from 1 to 16384"],
        );
    }
    for bad in [
        "localhost:11434",
        "ftp://example.com/v1",
        "https://",
        "not a url",
    ] {
        refused(
            &with(("SKYNET_EMBED_BASE_URL", bad)),
            &["SKYNET_EMBED_BASE_URL", "http:// or https://"],
        );
    }
    refused(
        &with(("SKYNET_EMBED_MODEL", "  ")),
        &["SKYNET_EMBED_MODEL", "empty"],
    );
    refused(
        &[("SKYNET_EMBEDDER", "word2vec")],
        &["not one of hash, minilm, openai, gemini"],
    );
    // The key never appears in a refusal.
    let text = refused(
        &[
            ("SKYNET_EMBEDDER", "openai"),
            ("OPENAI_API_KEY", "sk-never-shown"),
            ("SKYNET_EMBED_DIMENSION", "x"),
        ],
        &["SKYNET_EMBED_DIMENSION"],
    );
    assert!(!text.contains("sk-never-shown"));

    // A file key another kind uses is a mistake worth naming.
    std::fs::write(
        home.path().join("skynet.toml"),
        "[embedder]\nkind = \"openai\"\nmodel_dir = \"/srv/minilm\"\n",
    )
    .expect("write");
    refused(
        &[("OPENAI_API_KEY", "k")],
        &["[embedder] model_dir does not apply to the openai embedder"],
    );
    std::fs::write(
        home.path().join("skynet.toml"),
        "[embedder]\nkind = \"hash\"\ndimension = 768\n",
    )
    .expect("write");
    refused(
        &[],
        &[
            "[embedder] dimension does not apply to the hash embedder",
            "openai or gemini",
        ],
    );
    // The environment's are ignored: they may be set for another choice.
    std::fs::remove_file(home.path().join("skynet.toml")).expect("remove");
    assert_eq!(
        load(&[
            ("SKYNET_EMBED_DIMENSION", "768"),
            ("SKYNET_EMBED_MODEL", "m")
        ])
        .expect("load")
        .embedder,
        EmbedderChoice::Hash
    );
}

#[cfg(not(feature = "llm"))]
#[test]
fn hosted_embedders_need_the_llm_feature() {
    let home = tempfile::tempdir().expect("tempdir");
    let e = Settings::load_with(
        Some(home.path().into()),
        env(&[("SKYNET_EMBEDDER", "openai"), ("OPENAI_API_KEY", "k")]),
    )
    .expect_err("no llm feature");
    assert!(e.to_string().contains("--features llm"), "{e}");
}
