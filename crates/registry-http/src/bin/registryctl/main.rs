//! `registryctl`: operates a registry cluster through any node's HTTP API. Human tables by
//! default, `--json` for scripts. Exit code 0 on success, 1 when the cluster refuses or cannot
//! be reached (the reason on stderr), 2 for bad usage.

mod client;
mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clap::Subcommand;

#[derive(Debug, Parser)]
#[command(
    name = "registryctl",
    version,
    about = "Operate a registry cluster through any of its nodes"
)]
struct Cli {
    /// Any node's HTTP base URL (`host:port` means `http://host:port`), or several separated by
    /// commas: the next is tried when one cannot be reached.
    #[arg(
        long,
        env = "REGISTRY_SERVER",
        default_value = "http://127.0.0.1:8761",
        global = true
    )]
    server: String,
    /// Credentials when the cluster requires them: `NAME:PASSWORD` (or put them in the server
    /// URL: `http://NAME:PASSWORD@host:8761`).
    #[arg(long, env = "REGISTRY_USER", hide_env_values = true, global = true)]
    user: Option<String>,
    /// A CA certificate (PEM) to trust for HTTPS, besides the system's roots.
    #[arg(long, env = "REGISTRY_CA", global = true)]
    ca: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Members, leader, term, revision and health of each node; each member's reachability and
    /// replication lag as the leader sees them.
    Status,
    /// The background workers of the node asked, their state and last error.
    Workers,
    /// List, add, promote or remove members.
    Members {
        #[command(subcommand)]
        action: MembersAction,
    },
    /// Consistent point-in-time backups of every record, and their restore.
    Snapshot {
        #[command(subcommand)]
        action: SnapshotAction,
    },
    /// Registered instances, from every protocol and origin.
    Instances {
        #[command(subcommand)]
        action: InstancesAction,
    },
    /// Before maintenance: keeps node ID from standing for election and, if it leads, moves
    /// leadership to the most caught-up voter (writes wait a moment, none fail). Lasts until
    /// `undrain` or a restart.
    Drain {
        /// The node's id (`--node-id`).
        id: u64,
    },
    /// Lets a drained node stand for election again.
    Undrain {
        /// The node's id (`--node-id`).
        id: u64,
    },
    /// Reads a password on standard input and prints its salted Argon2 hash, for a user's
    /// `password_argon2` in the configuration (no server is asked).
    HashPassword,
}

#[derive(Debug, Subcommand)]
enum InstancesAction {
    /// Instances matching every filter given.
    List {
        #[command(flatten)]
        filter: commands::InstanceFilter,
    },
    /// One instance of a service, in full.
    Get {
        /// The service's id (Eureka apps: `eureka.<app>` in lower case).
        service: String,
        /// The instance's id.
        id: String,
        /// `domain/project`; default `default/default`.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MembersAction {
    /// The members, their roles, and their reachability and replication lag as the leader sees them.
    List,
    /// Adds a node (started with --join) as learner, waits until it caught up, then makes it a voter.
    Add {
        /// The new node's id (its `--node-id`; the node checks it before it is added).
        id: u64,
        /// The new node's Raft address (HOST:PORT).
        raft_addr: String,
        /// Keep it a learner (replicated to, not voting) until `members promote`.
        #[arg(long)]
        learner: bool,
    },
    /// Makes a learner a voter, once it has caught up.
    Promote {
        /// The learner's node id.
        id: u64,
    },
    /// Removes a node from the cluster.
    Remove {
        /// The node's id.
        id: u64,
    },
}

#[derive(Debug, Subcommand)]
enum SnapshotAction {
    /// Saves every record, as of one revision, to FILE.
    Save {
        /// Where to write the snapshot (a JSON file).
        file: PathBuf,
    },
    /// Restores FILE into the cluster, which must hold no services or instances.
    Restore {
        /// A snapshot written by `snapshot save`.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::HashPassword) {
        return hash_password();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("registryctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = match client::Client::new(&cli.server, cli.user.as_deref(), cli.ca.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("registryctl: {e:#}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Status => commands::status(&client, cli.json).await,
            Command::Workers => commands::workers(&client, cli.json).await,
            Command::Members { action } => match action {
                MembersAction::List => commands::members(&client, cli.json).await,
                MembersAction::Add { id, raft_addr, learner } => {
                    commands::add_member(&client, id, &raft_addr, learner, cli.json).await
                }
                MembersAction::Promote { id } => commands::promote_member(&client, id, cli.json).await,
                MembersAction::Remove { id } => commands::remove_member(&client, id, cli.json).await,
            },
            Command::Instances { action } => match action {
                InstancesAction::List { filter } => commands::list_instances(&client, &filter, cli.json).await,
                InstancesAction::Get { service, id, tenant } => {
                    commands::get_instance(&client, &service, &id, tenant.as_deref(), cli.json).await
                }
            },
            Command::Drain { id } => commands::drain(&client, id, false, cli.json).await,
            Command::Undrain { id } => commands::drain(&client, id, true, cli.json).await,
            Command::Snapshot { action } => match action {
                SnapshotAction::Save { file } => commands::save(&client, &file, cli.json).await,
                SnapshotAction::Restore { file } => commands::restore(&client, &file, cli.json).await,
            },
            Command::HashPassword => unreachable!("handled before connecting"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registryctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `registryctl hash-password`: the first line of standard input, hashed.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("registryctl: cannot read the password: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("registryctl: give the password on standard input");
        return ExitCode::from(2);
    }
    match registry_http::auth::users::hash_password(password) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("registryctl: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::Parser;

    use super::Cli;

    /// Every argument and subcommand, at any depth, that has no help text (clap's own `--help`
    /// and `--version` aside), named by its path.
    fn undocumented(command: &clap::Command, path: &str, found: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let own = !matches!(arg.get_id().as_str(), "help" | "version");
            if own && arg.get_help().is_none() && arg.get_long_help().is_none() {
                found.push(format!("{path} <{}>", arg.get_id()));
            }
        }
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let sub_path = format!("{path} {}", sub.get_name());
            if sub.get_about().is_none() && sub.get_long_about().is_none() {
                found.push(sub_path.clone());
            }
            undocumented(sub, &sub_path, found);
        }
    }

    #[test]
    fn every_argument_and_subcommand_has_help() {
        let command = Cli::command();
        command.clone().debug_assert();
        let mut found = Vec::new();
        undocumented(&command, "registryctl", &mut found);
        assert!(found.is_empty(), "without help text: {found:?}");
    }

    #[test]
    fn json_is_a_global_flag_every_command_takes() {
        let command = Cli::command();
        let names = |c: &clap::Command| -> Vec<String> {
            let mut all = Vec::new();
            for sub in c.get_subcommands() {
                if sub.has_subcommands() {
                    all.extend(
                        sub.get_subcommands()
                            .map(|s| format!("{} {}", sub.get_name(), s.get_name())),
                    );
                } else {
                    all.push(sub.get_name().to_string());
                }
            }
            all
        };
        for name in names(&command)
            .iter()
            .filter(|n| !n.starts_with("help") && !n.ends_with(" help") && *n != "hash-password")
        {
            let mut argv: Vec<&str> = vec!["registryctl", "--json"];
            argv.extend(name.split(' '));
            // Each command's required positionals.
            let extra: &[&str] = match name.as_str() {
                "members add" => &["4", "127.0.0.1:7104"],
                "members promote" | "members remove" | "drain" | "undrain" => &["4"],
                "snapshot save" | "snapshot restore" => &["backup.json"],
                "instances get" => &["svc", "i-1"],
                _ => &[],
            };
            argv.extend(extra);
            let parsed = Cli::try_parse_from(&argv);
            assert!(parsed.as_ref().is_ok_and(|c| c.json), "{argv:?}: {parsed:?}");
        }
    }
}
