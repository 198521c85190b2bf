//! Command-line syntax.

use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;

/// `skynet --version`: the crate version and the commit it was built from
/// (see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SKYNET_COMMIT"),
    ")"
);

/// SKYNET: turn plain-language intents into judged, approved, recorded runs.
#[derive(Debug, Parser)]
#[command(name = "skynet", version = VERSION, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (flags override env override skynet.toml).
#[derive(Debug, Args)]
pub struct Global {
    /// Home directory holding skynet.db and skynet.toml [env: SKYNET_HOME; default ~/.skynet]
    #[arg(long, global = true)]
    pub home: Option<PathBuf>,
    /// Ledger URL, e.g. sqlite:///path/skynet.db [env: SKYNET_DATABASE_URL]
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Policy rules file replacing the built-in rules [env: SKYNET_POLICY_FILE]
    #[arg(long, global = true)]
    pub policy: Option<PathBuf>,
    /// Planner: rules, llm, or auto (rules first, the model for the rest) [env: SKYNET_PLANNER; default auto]
    #[arg(long, global = true)]
    pub planner: Option<String>,
}

/// Intent and where to run it.
#[derive(Debug, Args)]
pub struct IntentArgs {
    /// Sandbox root the steps run in and may not leave (default: current directory)
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Provider to run on (local, mock; docker, ssh and gateway (alias
    /// chathan, openclaw) when configured; default: the scheduler picks
    /// among SKYNET_PROVIDERS)
    #[arg(long)]
    pub provider: Option<String>,
    /// Per-step time limit, e.g. 30s, 10m
    #[arg(long)]
    pub step_timeout: Option<String>,
    /// Keep these files as the job's artifacts after its last step: a path
    /// or glob pattern relative to the root (`target/release/app`,
    /// `reports/*.xml`); repeat for more
    #[arg(long = "artifact", value_name = "PATTERN")]
    pub artifacts: Vec<String>,
    /// What to do, in plain words
    #[arg(required = true, num_args = 1.., trailing_var_arg = true)]
    pub intent: Vec<String>,
}

impl IntentArgs {
    pub fn text(&self) -> String {
        self.intent.join(" ")
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan, judge, approve (asking if needed) and run an intent here and now
    Run {
        /// Approve WRITE/ADMIN plans without asking
        #[arg(long, short = 'y')]
        yes: bool,
        /// Print the final job as JSON instead of streaming output
        #[arg(long)]
        json: bool,
        /// Whole-job time limit, e.g. 90s, 10m
        #[arg(long)]
        timeout: Option<String>,
        #[command(flatten)]
        intent: IntentArgs,
    },
    /// Show the plan for an intent without storing or running anything
    Plan {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        intent: IntentArgs,
    },
    /// Queue an intent for a worker (READ_ONLY plans are auto-approved)
    Submit {
        #[arg(long)]
        json: bool,
        /// Higher runs first
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i32,
        /// A second submit with the same key returns the first job
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Whole-job time limit, e.g. 90s, 10m
        #[arg(long)]
        timeout: Option<String>,
        #[command(flatten)]
        intent: IntentArgs,
    },
    /// Approve a planned job's plan, then run it here (unless --detach)
    Approve {
        /// Job id
        id: String,
        /// The plan hash you reviewed (asked for on a terminal if omitted)
        #[arg(long)]
        plan_hash: Option<String>,
        /// Leave it in the queue for a worker instead of running it here
        #[arg(long)]
        detach: bool,
        #[arg(long)]
        json: bool,
    },
    /// Deny a planned job
    Deny {
        /// Job id
        id: String,
        /// Why
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job that has not finished (kills a running step)
    Cancel {
        /// Job id
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Resolve a job whose worker was lost during a WRITE/ADMIN step (needs_review)
    #[command(group(ArgGroup::new("resolution").required(true).args(["requeue", "fail", "mark_succeeded"])))]
    Review {
        /// Job id
        id: String,
        /// Queue it again from the interrupted step: a fresh approval of its plan
        #[arg(long)]
        requeue: bool,
        /// End it as failed
        #[arg(long)]
        fail: bool,
        /// End it as succeeded: you checked that the interrupted step did its work
        #[arg(long)]
        mark_succeeded: bool,
        /// Why (kept with your name in the job's events)
        #[arg(long)]
        reason: Option<String>,
        /// The plan hash you reviewed (with --requeue: asked for on a terminal if omitted)
        #[arg(long)]
        plan_hash: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Submit a finished job's plan again as a new job, judged again by the policy
    Retry {
        /// Job id
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// List jobs, newest first
    Jobs {
        #[arg(long)]
        json: bool,
        /// Only jobs in this status (created, planned, queued, running, succeeded, failed, timed_out, denied, cancelled, needs_review)
        #[arg(long)]
        status: Option<String>,
        /// At most this many
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only dead letters: jobs that failed after using every attempt
        #[arg(long)]
        dead_letter: bool,
    },
    /// Show one job with its plan and step states
    Show {
        /// Job id
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a job's output
    Logs {
        /// Job id
        id: String,
        /// Keep printing new lines until the job finishes
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only the last N lines
        #[arg(long)]
        tail: Option<u32>,
        /// Only lines containing this text
        #[arg(long)]
        search: Option<String>,
        /// Only this step (1-based)
        #[arg(long)]
        step: Option<u32>,
        /// Print control characters (colours, escape sequences) as the
        /// step wrote them instead of escaped
        #[arg(long)]
        raw: bool,
        /// Only lines recorded at or after this time (RFC 3339, or a
        /// duration ago: `10m`, `2h`)
        #[arg(long)]
        since: Option<String>,
        /// Only lines recorded before this time (RFC 3339, or a duration ago)
        #[arg(long)]
        until: Option<String>,
        /// Only this stream: stdout, stderr or system
        #[arg(long)]
        stream: Option<String>,
    },
    /// Show the global event log (job lifecycle and system events), or
    /// with a job id its audit events and their hash chain check
    Events {
        /// Job id (without one: the global event log)
        id: Option<String>,
        /// Keep printing new events as they come (a job's stream ends when
        /// the job has finished)
        #[arg(long)]
        follow: bool,
        /// Only these event types, comma-separated (`job.failed`,
        /// `provider.*`); see docs/events.md
        #[arg(long = "type", value_name = "TYPES")]
        types: Option<String>,
        /// One JSON object per event (a job's audit events: one document)
        #[arg(long)]
        json: bool,
    },
    /// List the files a job kept as artifacts, or fetch one
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Artifacts {
        /// Job id
        #[arg(required = true)]
        id: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: Option<ArtifactsCommand>,
    },
    /// Run queued jobs
    Worker {
        /// Exit when the queue is empty
        #[arg(long)]
        once: bool,
        /// Jobs at once
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Jobs claimed ahead beyond those running, so a busy worker claims
        /// in batches (default: as many as --concurrency); they keep their
        /// leases alive while they wait and go back at once on shutdown
        #[arg(long)]
        prefetch: Option<usize>,
        /// Worker id (default host-pid-random)
        #[arg(long, env = "SKYNET_WORKER_ID")]
        id: Option<String>,
        /// On SIGTERM/Ctrl-C, how long running jobs may take to finish
        /// before they are handed back (e.g. 30s, 2m)
        #[arg(long, env = "SKYNET_WORKER_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
        grace: std::time::Duration,
    },
    /// List the workers that drain the queue: online, busy or offline
    Workers {
        #[arg(long)]
        json: bool,
    },
    /// Check every provider now: status, latency, failures in a row, message
    Providers {
        #[arg(long)]
        json: bool,
    },
    /// Remove what retention no longer keeps (old logs, artifacts,
    /// finished jobs, unfinished uploads; see `[retention]`)
    Gc {
        /// Only list what would be removed
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check the ledger, queue, workers and providers now; exit 6 if any is unhealthy
    Health {
        #[arg(long)]
        json: bool,
    },
    /// List the action catalog the planners map intents to
    Actions {
        #[arg(long)]
        json: bool,
    },
    /// Talk to SKYNET's model: answers, or plan proposals that go through approval.
    /// With a message, one turn; without, one turn per line of standard input.
    Chat {
        #[arg(long)]
        json: bool,
        /// Sandbox root proposed work runs in (default: current directory)
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// The message (omit to read lines from standard input)
        #[arg(num_args = 0.., trailing_var_arg = true)]
        message: Vec<String>,
    },
    /// Inspect the policy engine
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Serve the HTTP control plane (with in-process workers) until SIGTERM
    Serve {
        /// Address to listen on
        #[arg(long, default_value = "127.0.0.1:8000")]
        bind: std::net::SocketAddr,
        /// In-process workers (0: a pure control plane; run `skynet worker` elsewhere)
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Jobs' sandbox roots must lie inside this directory (default: current directory)
        #[arg(long)]
        root: Option<PathBuf>,
        /// Requests per second allowed per API key (sustained)
        #[arg(long, default_value_t = 50)]
        rate_limit: u32,
        /// Requests allowed per API key in a burst
        #[arg(long, default_value_t = 100)]
        rate_burst: u32,
        /// No API keys at all: every caller is admin. Local development only; loopback only
        #[arg(long)]
        insecure_no_auth: bool,
    },
    /// Run the Telegram bot (long polling, with in-process workers) until SIGTERM
    Telegram {
        /// In-process workers (0: jobs run on `skynet worker` elsewhere)
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
    /// Run a remote execution agent for the `gateway` provider until SIGTERM
    Agent {
        /// Address to listen on, e.g. 0.0.0.0:7070
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// File holding the shared token (mode 600; whitespace trimmed)
        #[arg(long)]
        token_file: PathBuf,
        /// Steps run inside this directory and may not leave it (default: current directory)
        #[arg(long)]
        root: Option<PathBuf>,
        /// PEM certificate chain: serve HTTPS (needs --tls-key)
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for --tls-cert
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Manage the HTTP control plane's API keys
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// What SKYNET remembers: every run, and notes you add
    Memory {
        #[command(subcommand)]
        command: MemoryCommand,
    },
    /// Recurring intents: each tick is a job judged like any other (serve and worker fire them)
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// Triggers: when an event matches, submit an intent (serve and worker fire them)
    Trigger {
        #[command(subcommand)]
        command: TriggerCommand,
    },
    /// The initiative engine: jobs SKYNET proposes itself, READ_ONLY unless a human approves
    Initiative {
        #[command(subcommand)]
        command: InitiativeCommand,
    },
    /// Webhooks: events POSTed to your endpoints, signed (Standard Webhooks), retried, dead letters kept
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// Print a shell completion script: skynet completions bash > /etc/bash_completion.d/skynet
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): skynet man > /usr/share/man/man1/skynet.1
    Man,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule: skynet schedule add "*/5 * * * *" "check disk usage", or --every 10m "..."
    Add {
        /// A five-field cron expression then the intent; with --every, the intent alone
        #[arg(required = true, num_args = 1..=2, value_names = ["CRON", "INTENT"])]
        args: Vec<String>,
        /// Fire at this interval instead of by a cron expression (10m, 1h)
        #[arg(long)]
        every: Option<String>,
        /// The IANA time zone the cron expression is read in (default UTC)
        #[arg(long)]
        tz: Option<String>,
        /// After ticks were missed (nothing running), fire once for them instead of skipping them
        #[arg(long)]
        catch_up: bool,
        #[arg(long)]
        json: bool,
    },
    /// List schedules
    List {
        #[arg(long)]
        json: bool,
    },
    /// Pause a schedule: it fires nothing until resumed
    Pause { id: String },
    /// Resume a schedule from its next tick
    Resume { id: String },
    /// Remove a schedule (its jobs stay)
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TriggerCommand {
    /// Add a trigger: skynet trigger add --on provider.degraded --where provider=docker "check the provider's disk"
    Add {
        /// What to submit when a matching event happens
        intent: String,
        /// Event types or prefixes, comma separated (provider.degraded, job.failed, provider.*)
        #[arg(long, required = true, value_name = "TYPE[,TYPE]")]
        on: String,
        /// Only events whose payload field equals this value (repeatable): provider=docker
        #[arg(long = "where", value_name = "FIELD=VALUE")]
        conditions: Vec<String>,
        /// At most this many firings: N/hour (default 3/hour), N/minute, N/day
        #[arg(long, value_name = "N/hour")]
        max: Option<String>,
        /// A short name (default: the intent)
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List triggers
    List {
        #[arg(long)]
        json: bool,
    },
    /// Pause a trigger: events fire it no more until resumed
    Pause { id: String },
    /// Resume a trigger (for events from now on)
    Resume { id: String },
    /// Remove a trigger (its jobs stay)
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint; prints its signing secret once: skynet webhook add https://hooks.example.com/in --type job.failed
    Add {
        /// http:// or https:// URL (loopback and private addresses need SKYNET_WEBHOOK_ALLOW)
        url: String,
        /// Only these event types or prefixes (job.failed, provider.*); repeat or comma-separate; default all
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List endpoints (never their secrets)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Send a signed test message to an endpoint now
    Test {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint with its deliveries
    Remove { id: String },
    /// Deliveries, newest first (one endpoint's with its id)
    Deliveries {
        /// Only this endpoint's
        id: Option<String>,
        /// Only dead letters (attempts used up, or refused)
        #[arg(long)]
        dead: bool,
        /// At most this many
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Send a delivery again with a fresh round of attempts
    Redeliver { delivery: String },
}

#[derive(Debug, Subcommand)]
pub enum InitiativeCommand {
    /// Whether it runs, its kill switch and what its budgets have used
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Set the kill switch: every process stops proposing within one round
    Pause,
    /// Clear the kill switch
    Resume,
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Remember a text (secrets are redacted)
    Add {
        /// The text
        content: String,
        /// task_execution, failure, success_pattern, user_preference, system_state or note
        #[arg(long = "type", default_value = "note")]
        memory_type: String,
        /// A label (repeatable)
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Keep it: never evicted, kept when its job is pruned
        #[arg(long)]
        pinned: bool,
        #[arg(long)]
        json: bool,
    },
    /// Hybrid search (full text and vectors, weighed by importance)
    Search {
        /// What to look for
        query: String,
        /// Results, 1 to 100
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// Only this type
        #[arg(long = "type")]
        memory_type: Option<String>,
        /// Only with this tag (repeatable)
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Only this outcome: success, failure, neutral
        #[arg(long)]
        outcome: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The memories most like a text or (with --id) a memory
    Similar {
        /// The text, or the memory's id with --id
        what: String,
        /// Treat WHAT as a memory id
        #[arg(long)]
        id: bool,
        /// Results, 1 to 100
        #[arg(long, default_value_t = 10)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Counts by type, average importance, embedder and index
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Forget a memory by its id, or (with filters) every unpinned one
    /// matching: skynet memory forget --type note --before 30d
    Forget {
        /// The memory's id (or give filters instead)
        #[arg(required_unless_present_any = ["memory_type", "tags", "outcome", "since", "before", "job"],
              conflicts_with_all = ["memory_type", "tags", "outcome", "since", "before", "job"])]
        id: Option<String>,
        /// Only this type
        #[arg(long = "type")]
        memory_type: Option<String>,
        /// Only with this tag (repeatable)
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Only this outcome: success, failure, neutral
        #[arg(long)]
        outcome: Option<String>,
        /// Only created at or after: RFC 3339, or an age such as 7d
        #[arg(long)]
        since: Option<String>,
        /// Only created before: RFC 3339, or an age such as 30d
        #[arg(long)]
        before: Option<String>,
        /// Only memories of this job
        #[arg(long)]
        job: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Pin a memory (never evicted, kept when its job is pruned), or unpin it
    Pin {
        /// The memory's id
        id: String,
        /// Unpin instead
        #[arg(long)]
        off: bool,
        #[arg(long)]
        json: bool,
    },
    /// Re-embed memories whose vectors another model made (resumable: run
    /// it again after an interruption and it continues)
    Reindex {
        /// Memories per batch, 1 to 1000
        #[arg(long, default_value_t = skynet_core::engine::REINDEX_BATCH)]
        batch: u32,
        #[arg(long)]
        json: bool,
    },
}

/// `skynet artifacts get`.
#[derive(Debug, Subcommand)]
pub enum ArtifactsCommand {
    /// Write one artifact's bytes (checked against its SHA-256) to a file
    /// or standard output
    Get {
        /// Job id
        id: String,
        /// The artifact's name (its path in the job's root)
        name: String,
        /// Write to this file instead of standard output
        #[arg(long, short = 'o')]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once (only its hash is stored)
    Create {
        /// A label, e.g. ci or dashboard
        name: String,
        /// Comma-separated scopes: read, read:all, submit, approve, gateway, admin
        #[arg(long, default_value = "read")]
        scopes: String,
        /// The principal the key acts for (default: its own, `key:<id>`);
        /// keys of one principal share its jobs
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id
    Revoke {
        /// The key's id (the part after `sk_`, as `keys list` shows it)
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Classify a command: skynet policy check -- git push origin main
    Check {
        #[arg(long)]
        json: bool,
        /// Sandbox root for path checks (default: current directory)
        #[arg(long)]
        root: Option<PathBuf>,
        /// The command, after `--`
        #[arg(required = true, num_args = 1.., last = true)]
        argv: Vec<String>,
    },
    /// List the rules in force
    Rules {
        #[arg(long)]
        json: bool,
    },
    /// Print the built-in rules file (a starting point for your own)
    Defaults,
}

impl Cli {
    /// Whether the command asked for JSON output (errors are then JSON too).
    pub fn wants_json(&self) -> bool {
        match &self.command {
            Command::Run { json, .. }
            | Command::Plan { json, .. }
            | Command::Submit { json, .. }
            | Command::Approve { json, .. }
            | Command::Deny { json, .. }
            | Command::Cancel { json, .. }
            | Command::Review { json, .. }
            | Command::Retry { json, .. }
            | Command::Jobs { json, .. }
            | Command::Show { json, .. }
            | Command::Events { json, .. }
            | Command::Artifacts { json, .. }
            | Command::Chat { json, .. }
            | Command::Providers { json }
            | Command::Health { json }
            | Command::Actions { json } => *json,
            Command::Policy {
                command: PolicyCommand::Check { json, .. } | PolicyCommand::Rules { json },
            } => *json,
            Command::Keys {
                command: KeysCommand::Create { json, .. } | KeysCommand::List { json },
            } => *json,
            Command::Memory {
                command:
                    MemoryCommand::Add { json, .. }
                    | MemoryCommand::Search { json, .. }
                    | MemoryCommand::Similar { json, .. }
                    | MemoryCommand::Stats { json }
                    | MemoryCommand::Forget { json, .. }
                    | MemoryCommand::Pin { json, .. }
                    | MemoryCommand::Reindex { json, .. },
            } => *json,
            Command::Schedule {
                command: ScheduleCommand::Add { json, .. } | ScheduleCommand::List { json },
            }
            | Command::Trigger {
                command: TriggerCommand::Add { json, .. } | TriggerCommand::List { json },
            }
            | Command::Initiative {
                command: InitiativeCommand::Status { json },
            }
            | Command::Webhook {
                command:
                    WebhookCommand::Add { json, .. }
                    | WebhookCommand::List { json }
                    | WebhookCommand::Test { json, .. }
                    | WebhookCommand::Deliveries { json, .. },
            } => *json,
            _ => false,
        }
    }
}
