//! `pmtwatch user …`: lab accounts, managed on the command line (there is no
//! self-registration). Works on the same database a running `serve` uses (SQLite WAL);
//! every change is written to the audit log with the OS user as actor.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::json;

use crate::model::Role;

use crate::store::Store;

/// Arguments of `pmtwatch user`.
#[derive(Debug, Clone, clap::Args)]
pub struct UserArgs {
    /// Data directory of the server (as for `serve`).
    #[arg(long, value_name = "DIR", env = "PMTWATCH_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: UserCommand,
}

/// The `user` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum UserCommand {
    /// Create an account (password from a prompt, or the first line of stdin).
    Add {
        name: String,
        #[arg(long)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts with their roles.
    List,
    /// Set a new password (ends that user's sessions).
    Passwd {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an account's role (applies to its next action).
    Role { name: String, role: Role },
    /// Delete an account and its sessions (its audit entries stay).
    Delete { name: String },
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &Role::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

fn actor() -> String {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{who}")
}

fn read_password(name: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        let pw = line.trim_end_matches(['\n', '\r']).to_string();
        if pw.is_empty() {
            bail!("no password on standard input (give it as the first line)");
        }
        return Ok(pw);
    }
    let first = rpassword::prompt_password(format!("Password for {name}: "))
        .context("cannot read the password from the terminal (use --password-stdin)")?;
    let again = rpassword::prompt_password("Repeat the password: ")
        .context("cannot read the password from the terminal (use --password-stdin)")?;
    if first != again {
        bail!("the two passwords differ; nothing changed");
    }
    Ok(first)
}

/// Runs `pmtwatch user …`.
pub fn run(args: &UserArgs) -> anyhow::Result<ExitCode> {
    let dir = super::serve::data_dir(args.data_dir.as_deref());
    let store = Store::open_dir(&dir)?;
    let actor = actor();
    match &args.command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            crate::store::users::validate_name(name)?;
            let pw = read_password(name, *password_stdin)?;
            let user = store.add_user(name, *role, &pw)?;
            store.audit(
                &actor,
                "user_add",
                &json!({ "user": user.name, "role": role.as_str(), "via": "cli" }),
            )?;
            println!("added {} ({})", user.name, user.role);
        }
        UserCommand::List => {
            let users = store.list_users()?;
            if users.is_empty() {
                println!(
                    "no accounts yet: pmtwatch user add NAME --role admin --data-dir {}",
                    dir.display()
                );
            }
            for u in users {
                println!("{}\t{}", u.name, u.role);
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            if store.user_by_name(name)?.is_none() {
                bail!("no user named '{name}' (see `pmtwatch user list`)");
            }
            let pw = read_password(name, *password_stdin)?;
            store.set_password(name, &pw)?;
            store.audit(
                &actor,
                "user_passwd",
                &json!({ "user": name, "via": "cli" }),
            )?;
            println!("password of {name} changed; their sessions ended");
        }
        UserCommand::Role { name, role } => {
            store.set_role(name, *role)?;
            store.audit(
                &actor,
                "user_role",
                &json!({ "user": name, "role": role.as_str(), "via": "cli" }),
            )?;
            println!("{name} is now {role}");
        }
        UserCommand::Delete { name } => {
            store.delete_user(name)?;
            store.audit(
                &actor,
                "user_delete",
                &json!({ "user": name, "via": "cli" }),
            )?;
            println!("deleted {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
