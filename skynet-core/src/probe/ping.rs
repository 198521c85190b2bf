//! The ping probe: SKYNET resolves and checks the target, then the job's
//! provider runs `ping -c 4 -W 2 ADDRESS`, with the network opened for
//! that exact argv (see [`is_checked_ping`]).

use super::ProbeConfig;
use crate::Result;
use crate::action::Action;
use crate::plan::Command;
use crate::provider::local::{effective_timeout, output, stop_signal};
use crate::provider::{ExecContext, ExitKind, Output, OutputLine, Provider, Stream};
use std::net::IpAddr;
use tokio::time::Instant;

/// Echo requests a ping probe sends.
const COUNT: &str = "4";
/// Seconds a ping probe waits for each reply.
const WAIT: &str = "2";

/// The argv a ping probe hands the provider.
pub(super) fn argv(ip: IpAddr) -> Vec<String> {
    ["ping", "-c", COUNT, "-W", WAIT]
        .iter()
        .map(|s| s.to_string())
        .chain([ip.to_string()])
        .collect()
}

/// Is `argv` exactly a ping probe's (`ping -c 4 -W 2 IP`, the target an
/// address, never a name)? The only argv a READ_ONLY step gets the
/// network for, and only with the `ping_host` action, which the engine
/// sets after checking the address.
pub(crate) fn is_checked_ping(action: Option<&Action>, command: &Command) -> bool {
    let [p, c, n, w, s, ip] = command.argv.as_slice() else {
        return false;
    };
    // One program, nothing else handed to it: a pipeline stage, an extra
    // variable or input would ride along on the granted network.
    let alone = command.pipe.is_empty() && command.env.is_empty() && command.stdin.is_none();
    alone
        && matches!(action, Some(Action::PingHost { host }) if host == ip)
        && (p, c, n, w, s)
            == (
                &"ping".into(),
                &"-c".into(),
                &COUNT.into(),
                &"-W".into(),
                &WAIT.into(),
            )
        && ip.parse::<IpAddr>().is_ok()
        && command.env.is_empty()
        && command.stdin.is_none()
}

pub(super) async fn run(
    config: &ProbeConfig,
    provider: &dyn Provider,
    host: &str,
    command: &Command,
    mut ctx: ExecContext,
) -> Result<Output> {
    let started = Instant::now();
    let timeout = effective_timeout(ctx.timeout, command.timeout_ms);
    let checked = tokio::select! {
        c = super::dns::checked(config, host) => c?,
        stop = stop_signal(timeout.map(|t| started + t), &ctx.cancel) => {
            return Ok(output(stop, None, started, (0, false)));
        }
    };
    let ip = match checked {
        Ok(ips) => ips[0],
        Err(e) => {
            let _ = ctx
                .output
                .send(OutputLine {
                    stream: Stream::Stderr,
                    text: e.clone(),
                })
                .await;
            return Ok(output(
                ExitKind::Exited,
                Some(2),
                started,
                (e.len() as u64 + 1, false),
            ));
        }
    };
    let mut ping = command.clone();
    ping.argv = argv(ip);
    ping.env.clear();
    ping.stdin = None;
    ping.timeout_ms = timeout.map(|t| t.saturating_sub(started.elapsed()).as_millis() as u64);
    let _ = ctx
        .output
        .send(OutputLine {
            stream: Stream::System,
            text: format!("{host} is {ip}: {}", ping.argv.join(" ")),
        })
        .await;
    ctx.action = Some(Action::PingHost {
        host: ip.to_string(),
    });
    ctx.timeout = None;
    provider.execute(&ping, ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(argv: &[&str]) -> Command {
        Command::piped(vec![argv.iter().map(|s| s.to_string()).collect()], "/")
    }

    #[test]
    fn only_the_exact_ping_of_the_checked_address_gets_the_network() {
        let ping = |h: &str| Action::PingHost { host: h.into() };
        let ok = cmd(&["ping", "-c", "4", "-W", "2", "1.1.1.1"]);
        assert!(is_checked_ping(Some(&ping("1.1.1.1")), &ok));
        assert!(
            !is_checked_ping(Some(&ping("1.0.0.1")), &ok),
            "another address"
        );
        assert!(!is_checked_ping(
            Some(&ping("example.com")),
            &cmd(&["ping", "-c", "4", "-W", "2", "example.com"])
        ));
        assert!(!is_checked_ping(None, &ok), "no action");
        assert!(
            !is_checked_ping(Some(&Action::Uptime), &ok),
            "another action"
        );
        assert!(!is_checked_ping(
            Some(&ping("1.1.1.1")),
            &cmd(&["ping", "-c", "4", "-W", "2", "-p", "ff", "1.1.1.1"])
        ));
        assert!(!is_checked_ping(
            Some(&ping("1.1.1.1")),
            &cmd(&["curl", "-c", "4", "-W", "2", "1.1.1.1"])
        ));
        let mut with_env = ok.clone();
        with_env.env.insert("LD_PRELOAD".into(), "x".into());
        assert!(!is_checked_ping(Some(&ping("1.1.1.1")), &with_env));
        let mut piped = ok.clone();
        piped.pipe = vec![crate::plan::Stage::new(vec!["nc".into(), "x".into()])];
        assert!(!is_checked_ping(Some(&ping("1.1.1.1")), &piped));
    }
}
