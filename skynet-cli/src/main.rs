//! `skynet`: plan, judge, approve and run tasks from a terminal.

use clap::Parser;

mod cli;
mod commands;
mod exit;
mod render;

fn main() -> std::process::ExitCode {
    let opts = cli::Cli::parse();
    // SKYNET_LOG, or the original SKYNET_LOG_LEVEL (settings print their
    // notices later; the log filter is needed before they load).
    let filter = skynet_core::config::env_or_alias("SKYNET_LOG");
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            filter.unwrap_or_default(),
        ))
        .with_writer(std::io::stderr)
        // No colour codes in a file or a pipe (journald, docker logs).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let json = opts.wants_json();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return exit::report(&skynet_core::Error::Io(e), json),
    };
    match runtime.block_on(commands::run(opts, &mut std::io::stdout())) {
        Ok(code) => code.into(),
        Err(e) => exit::report(&e, json),
    }
}
