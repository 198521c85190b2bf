//! `skynet artifacts JOB [--json]` and `skynet artifacts get JOB NAME
//! [-o FILE]`.

use super::{parse_id, print_json};
use crate::cli::ArtifactsCommand;
use crate::exit::Exit;
use skynet_core::{Error, Result, Skynet};
use std::io::Write;
use tokio::io::AsyncReadExt;

/// List a job's artifacts, or write one out.
pub async fn run(
    sk: &Skynet,
    id: Option<String>,
    json: bool,
    command: Option<ArtifactsCommand>,
    out: &mut dyn Write,
) -> Result<Exit> {
    match command {
        Some(ArtifactsCommand::Get { id, name, output }) => {
            get(sk, &id, &name, output.as_deref(), out).await
        }
        None => {
            let id = id.ok_or_else(|| Error::InvalidInput("name a job".into()))?;
            let kept = sk.artifacts(&parse_id(&id)?).await?;
            if json {
                print_json(out, &serde_json::json!({ "artifacts": kept }))?;
            } else if kept.is_empty() {
                writeln!(out, "no artifacts")?;
            } else {
                for a in &kept {
                    writeln!(
                        out,
                        "{}  {:>12}  step {}  {}  sha256 {}",
                        a.name.escape_debug(),
                        a.size,
                        a.step + 1,
                        a.content_type,
                        a.sha256
                    )?;
                }
            }
            Ok(Exit::Ok)
        }
    }
}

async fn get(
    sk: &Skynet,
    id: &str,
    name: &str,
    output: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> Result<Exit> {
    let (_, mut reader) = sk.open_artifact(&parse_id(id)?, name, None).await?;
    match output {
        Some(path) => {
            // Written beside the target and renamed: a failed fetch never
            // leaves a half file under the name asked for.
            let part = path.with_extension("skynet-part");
            let mut file = tokio::fs::File::create(&part).await?;
            let copied = tokio::io::copy(&mut reader, &mut file).await;
            let done = match copied {
                Ok(_) => file.sync_all().await,
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e.into());
            }
            tokio::fs::rename(&part, path).await?;
        }
        None => {
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = reader.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])?;
            }
            out.flush()?;
        }
    }
    Ok(Exit::Ok)
}
