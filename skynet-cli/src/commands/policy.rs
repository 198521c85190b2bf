//! policy check / rules / defaults.

use super::{print_json, settings};
use crate::cli::{Global, PolicyCommand};
use crate::exit::Exit;
use crate::render;
use skynet_core::{Policy, PolicyContext, Result, Verdict};
use std::io::Write;

/// `skynet policy ...` (needs no database).
pub async fn run(global: &Global, command: PolicyCommand, out: &mut dyn Write) -> Result<Exit> {
    match command {
        PolicyCommand::Defaults => {
            write!(out, "{}", Policy::default_rules_toml())?;
            Ok(Exit::Ok)
        }
        PolicyCommand::Rules { json } => {
            let policy = settings(global)?.policy()?;
            if json {
                print_json(out, &policy.rules())?;
            } else {
                for r in policy.rules() {
                    writeln!(out, "{:<28} {}", r.name, r.reason)?;
                }
            }
            Ok(Exit::Ok)
        }
        PolicyCommand::Check { json, root, argv } => {
            let policy = settings(global)?.policy()?;
            let root = skynet_core::policy::resolve_root(root)?;
            let decision = policy.check(&argv, &PolicyContext::rooted(root));
            if json {
                print_json(out, &decision)?;
            } else {
                render::decision(out, &decision)?;
            }
            Ok(match decision.verdict {
                Verdict::Allow => Exit::Ok,
                Verdict::Prompt => Exit::NotApproved,
                Verdict::Forbid => Exit::Forbidden,
            })
        }
    }
}
