//! `ferry`: the command line for people: inspect, check and locate ferry stores, fetch and
//! verify their content, and handle the keys of ferry's encryption, with or without git-annex
//! on the machine.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ferry::cli;
use ferry::settings::{Phase, Settings};
use ferry_backends::layout::Layout;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "ferry: a git-annex special remote engine; tools to inspect and check its stores"
)]
struct Cli {
    /// The git-annex repository whose remotes to use (default: the current directory).
    #[arg(long, global = true, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a remote's configuration and store, and say how to fix each problem.
    Doctor {
        /// The remote's name (as in `git annex info`) or UUID.
        remote: String,
    },
    /// List the objects in a remote's store and the git-annex key each one holds.
    Ls {
        /// The remote's name (as in `git annex info`) or UUID.
        remote: String,
    },
    /// Print where git-annex keys are stored under each layout (or one).
    Locate {
        /// Only this layout: lower, directory, nodir, mixed or frankencase.
        #[arg(long)]
        layout: Option<Layout>,
        /// The remote's prefix= value.
        #[arg(long)]
        prefix: Option<String>,
        /// git-annex keys, as `git annex lookupkey FILE` prints them.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Make a new master key for ferry's encryption and write its token to a file (mode 0600).
    Keygen {
        /// Wrap the key with a passphrase (Argon2id), asked on the terminal or taken from
        /// FERRY_PASSPHRASE_FILE / FERRY_PASSPHRASE.
        #[arg(long)]
        passphrase: bool,
        /// The file to write the token to (it must not exist, unless --force).
        #[arg(long, value_name = "FILE", required_unless_present = "stdout")]
        out: Option<PathBuf>,
        /// Print the token on stdout instead of writing a file.
        #[arg(long, conflicts_with = "out")]
        stdout: bool,
        /// Argon2id memory in KiB (default 262144 = 256 MiB; at least 65536).
        #[arg(long, value_name = "KIB", requires = "passphrase")]
        argon2_memory_kib: Option<u32>,
        /// Replace an existing --out file.
        #[arg(long)]
        force: bool,
    },
    /// Show a remote's key token (ferry_key), to keep it somewhere safe.
    ExportKey {
        /// The remote's name or UUID.
        #[arg(long, value_name = "NAME")]
        remote: String,
        /// Write the token to this file (mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace an existing --out file.
        #[arg(long)]
        force: bool,
    },
    /// Unlock a passphrase-protected remote for git-annex: unwrap its key once and cache it
    /// (mode 0600) under .git/annex/ferry/keys/.
    Unlock {
        /// The remote's name or UUID.
        #[arg(long, value_name = "NAME")]
        remote: String,
    },
    /// Decrypt one object file copied out of an encrypted store.
    Decrypt {
        /// The object file (named FERRYHMACSHA256--… as in the store).
        object: PathBuf,
        /// Where to write the content (it must not exist, unless --force).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The object's name in the store, when the file was renamed.
        #[arg(long)]
        name: Option<String>,
        /// Take the key from this remote of the repository.
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
        /// A file holding the key token (or set FERRY_KEY_FILE).
        #[arg(long, value_name = "FILE", conflicts_with = "remote")]
        key_file: Option<PathBuf>,
        /// Replace an existing --out file.
        #[arg(long)]
        force: bool,
    },
}

fn main() {
    ferry::logging::init("warn");
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ferry: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Runs the command; the exit code is 1 when a check found a problem.
fn run(cli: Cli) -> anyhow::Result<i32> {
    let repo = match cli.repo {
        Some(r) => r,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match cli.command {
        Command::Doctor { remote } => {
            let config = cli::repo::find_remote(&repo, &remote)?;
            let findings = runtime.block_on(cli::doctor::doctor(&repo, &config));
            let bad = findings.iter().any(|f| !f.ok);
            if cli.json {
                cli::print_json(&findings)?;
            } else {
                let lines: Vec<String> = findings
                    .iter()
                    .map(|f| {
                        format!(
                            "{} {}: {}",
                            if f.ok { "ok     " } else { "PROBLEM" },
                            f.check,
                            f.detail
                        )
                    })
                    .collect();
                cli::print_lines(&lines)?;
            }
            Ok(i32::from(bad))
        }
        Command::Ls { remote } => {
            let config = cli::repo::find_remote(&repo, &remote)?;
            let settings =
                Settings::from_config(|k| config.get(k).map(str::to_owned), Phase::Use, &repo)
                    .map_err(|e| anyhow::anyhow!("remote {remote} is misconfigured: {e}"))?;
            let secrets = cli::repo::secrets_for(&repo, &config, &settings);
            let backend = ferry::storage::open(&settings, &secrets)?;
            let listed = runtime.block_on(cli::ls::ls(backend.as_ref()))?;
            if cli.json {
                cli::print_json(&listed)?;
            } else {
                let lines: Vec<String> = listed
                    .iter()
                    .map(|l| format!("{:>12}  {}", l.size, l.path))
                    .collect();
                cli::print_lines(&lines)?;
            }
            Ok(0)
        }
        Command::Locate {
            layout,
            prefix,
            keys,
        } => {
            let lines = cli::locate::locate(&keys, layout, prefix.as_deref())?;
            cli::print_lines(&lines)?;
            Ok(0)
        }
        Command::Keygen {
            passphrase,
            out,
            stdout: _,
            argon2_memory_kib,
            force,
        } => {
            // clap requires --out unless --stdout, and refuses both.
            let destination = match out {
                Some(path) => cli::keygen::Destination::File(path),
                None => cli::keygen::Destination::Stdout,
            };
            let made = cli::keygen::keygen(&destination, passphrase, argon2_memory_kib, force)?;
            eprintln!("ferry: {}", made.warning);
            if cli.json {
                cli::print_json(&made)?;
            } else if let Some(token) = &made.token {
                // stdout holds the token alone, so `ferry keygen --stdout > file` works.
                cli::print_lines(std::slice::from_ref(token))?;
                eprintln!("ferry: key id {}", made.key_id);
            } else {
                cli::print_lines(&cli::keygen::describe(&made, made.file.as_deref()))?;
            }
            Ok(0)
        }
        Command::ExportKey { remote, out, force } => {
            let config = cli::repo::find_remote(&repo, &remote)?;
            let exported = cli::export_key::export_key(&config)?;
            eprintln!("ferry: {}", exported.warning);
            if let Some(path) = &out {
                cli::keys::write_token(path, &exported.token, force)?;
            }
            if cli.json {
                cli::print_json(&exported)?;
            } else if let Some(path) = &out {
                cli::print_lines(&[format!(
                    "wrote the {} key of {} (key id {}) to {} (mode 0600)",
                    exported.kind,
                    exported.remote,
                    exported.key_id.as_deref().unwrap_or("?"),
                    path.display()
                )])?;
            } else {
                cli::print_lines(std::slice::from_ref(&exported.token))?;
                eprintln!(
                    "ferry: {} key of {} (key id {})",
                    exported.kind,
                    exported.remote,
                    exported.key_id.as_deref().unwrap_or("?")
                );
            }
            Ok(0)
        }
        Command::Unlock { remote } => {
            let config = cli::repo::find_remote(&repo, &remote)?;
            let unlocked = cli::unlock::unlock(&repo, &config)?;
            if cli.json {
                cli::print_json(&unlocked)?;
            } else {
                let line = match &unlocked.cache {
                    Some(path) => format!(
                        "unlocked {} (key id {}); git-annex can use it now. The key is kept in {} (mode 0600) until you delete that file",
                        unlocked.remote,
                        unlocked.key_id,
                        path.display()
                    ),
                    None => format!(
                        "{} has a plain key (key id {}), not protected by a passphrase: nothing to unlock",
                        unlocked.remote, unlocked.key_id
                    ),
                };
                cli::print_lines(&[line])?;
            }
            Ok(0)
        }
        Command::Decrypt {
            object,
            out,
            name,
            remote,
            key_file,
            force,
        } => {
            let name = cli::decrypt::object_name_of(&object, name.as_deref())?;
            let master = match remote {
                Some(remote) => {
                    let config = cli::repo::find_remote(&repo, &remote)?;
                    cli::keys::remote_master(&repo, &config)?
                }
                None => cli::keys::master_from_key_file(key_file.as_deref())?,
            };
            let done = cli::decrypt::decrypt(&master, &object, &name, &out, force)?;
            if cli.json {
                cli::print_json(&done)?;
            } else {
                cli::print_lines(&[format!(
                    "decrypted {} ({} bytes, authentic) to {}",
                    done.object.display(),
                    done.bytes,
                    done.out.display()
                )])?;
            }
            Ok(0)
        }
    }
}
