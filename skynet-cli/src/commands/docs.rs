//! Documents generated from the command-line syntax itself, so they never
//! drift from it: shell completion scripts and the manual page.

use crate::cli::Cli;
use crate::exit::Exit;
use clap::CommandFactory;
use skynet_core::Result;
use std::io::Write;

/// Write the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<Exit> {
    let mut cmd = Cli::command();
    // Into a buffer first: clap_complete panics on a failed write (a
    // closed pipe); write_all reports it as an error instead.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "skynet", &mut script);
    out.write_all(&script)?;
    Ok(Exit::Ok)
}

/// Write the `skynet(1)` manual page (roff): options, every subcommand
/// with its summary, version and commit.
pub fn man(out: &mut dyn Write) -> Result<Exit> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    out.write_all(&page)?;
    Ok(Exit::Ok)
}
