//! `pmtwatch token …`: API tokens for scripts and dashboards that read the JSON API and a
//! run's files (`Authorization: Bearer <token>`). Works on the same database a running
//! `serve` uses. `create` prints the token once, alone on stdout (so `TOKEN=$(pmtwatch
//! token create grafana)` works), and how to use it on stderr; the database keeps only its
//! SHA-256. Creating and revoking are audit-logged with the actor `cli`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::json;

use crate::model::rfc3339;

use crate::store::Store;

/// Arguments of `pmtwatch token`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// Data directory of the server (as for `serve`).
    #[arg(long, value_name = "DIR", env = "PMTWATCH_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// The `token` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token named NAME and print it (shown only this once).
    Create { name: String },
    /// List tokens: name, created, last used (never the tokens themselves).
    List,
    /// Revoke the token named NAME (scripts using it get 401 at once).
    Revoke { name: String },
}

/// Who the audit log names for these commands; the OS user goes into the details.
const ACTOR: &str = "cli";

fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// Runs `pmtwatch token …`.
pub fn run(args: &TokenArgs) -> anyhow::Result<ExitCode> {
    let dir = super::serve::data_dir(args.data_dir.as_deref());
    let store = Store::open_dir(&dir)?;
    match &args.command {
        TokenCommand::Create { name } => {
            let token = store.create_api_token(name)?;
            store.audit(
                ACTOR,
                "api_token_create",
                &json!({ "token": name, "os_user": os_user() }),
            )?;
            {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", token.expose()).context("writing the token to stdout")?;
                out.flush().context("writing the token to stdout")?;
            }
            eprintln!(
                "pmtwatch: API token '{name}' created; it is shown only this once (the server \
                 keeps only its hash). Keep it secret. Use it as\n  \
                 curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8080/api/runs\n\
                 Revoke it with: pmtwatch token revoke {name} --data-dir {}",
                dir.display()
            );
        }
        TokenCommand::List => {
            let tokens = store.api_tokens()?;
            if tokens.is_empty() {
                println!(
                    "no API tokens yet: pmtwatch token create NAME --data-dir {}",
                    dir.display()
                );
            }
            for t in tokens {
                let used = t.last_used_at.map_or_else(|| "never".into(), rfc3339);
                println!(
                    "{}\tcreated {}\tlast used {used}",
                    t.name,
                    rfc3339(t.created_at)
                );
            }
        }
        TokenCommand::Revoke { name } => {
            if !store.revoke_api_token(name)? {
                bail!("no API token named '{name}' (see `pmtwatch token list`)");
            }
            store.audit(
                ACTOR,
                "api_token_revoke",
                &json!({ "token": name, "os_user": os_user() }),
            )?;
            println!("revoked {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
