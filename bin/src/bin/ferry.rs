//! `ferry`: the command line for people: inspect, check and locate ferry stores, fetch and
//! verify their content, and handle the keys of ferry's encryption, with or without git-annex
//! on the machine.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ferry::cli;
use ferry::cli::annex_branch::BranchKeys;
use ferry::cli::store::{Store, StoreSpec};
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

/// Which store to read: a remote of the repository, or settings given here (outside any
/// repository, or for a store git-annex does not know).
#[derive(Args, Debug, Default)]
struct StoreArgs {
    /// The remote's name (as in `git annex info`) or UUID; its settings and key come from the
    /// repository.
    #[arg(long, value_name = "NAME")]
    remote: Option<String>,
    /// Without a repository: where objects are (directory, s3, webdav, gdrive).
    #[arg(long)]
    storage: Option<String>,
    /// Without a repository: the directory holding the objects (storage=directory).
    #[arg(long, value_name = "DIR")]
    directory: Option<PathBuf>,
    /// Without a repository: the layout (lower, directory, nodir, mixed, frankencase).
    #[arg(long)]
    layout: Option<String>,
    /// Without a repository: the prefix= value.
    #[arg(long)]
    prefix: Option<String>,
    /// Without a repository: any other remote setting, as in initremote (repeatable), e.g.
    /// `-c bucket=photos -c host=s3.example.org` or `-c ferry_encryption=aes256gcm`.
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// Without a repository, for an encrypted store: a file holding the key token (or set
    /// FERRY_KEY_FILE). A passphrase-wrapped token asks for its passphrase.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
}

impl StoreArgs {
    fn spec(self) -> anyhow::Result<StoreSpec> {
        let mut config = Vec::new();
        for (name, value) in [
            ("storage", self.storage),
            (
                "directory",
                self.directory.map(|d| d.to_string_lossy().into_owned()),
            ),
            ("layout", self.layout),
            ("prefix", self.prefix),
        ] {
            if let Some(v) = value {
                config.push((name.to_owned(), v));
            }
        }
        for pair in &self.config {
            config.push(StoreSpec::parse_pair(pair)?);
        }
        if let Some((k, _)) = config
            .iter()
            .find(|(k, _)| k == "ferry_key" || k == "ferry_passphrase")
        {
            anyhow::bail!(
                "-c {k}=… would put a secret on the command line, where other users can read it; put the key token in a file and give --key-file FILE (or FERRY_KEY_FILE)"
            );
        }
        Ok(StoreSpec {
            remote: self.remote,
            config,
            key_file: self.key_file,
        })
    }

    /// The store these flags name, and for a `--remote` the repository's git-annex branch (its
    /// keys and chunk logs; a store given by its settings has none).
    fn open(self, repo: &Path) -> anyhow::Result<(Store, Option<BranchKeys>)> {
        let spec = self.spec()?;
        let store = Store::open(repo, &spec)?;
        let branch = match spec.remote {
            Some(_) => Some(BranchKeys::read(repo)?),
            None => None,
        };
        Ok((store, branch))
    }
}

/// A remote named either way: `ferry ls nas` or, like the other commands, `ferry ls --remote nas`.
#[derive(Args)]
struct RemoteName {
    /// The remote's name (as in `git annex info`) or UUID.
    #[arg(value_name = "NAME", required_unless_present = "flag")]
    positional: Option<String>,
    /// The same, as a flag.
    #[arg(
        long = "remote",
        id = "flag",
        value_name = "NAME",
        conflicts_with = "positional"
    )]
    flag: Option<String>,
}

impl RemoteName {
    fn name(&self) -> &str {
        // clap makes sure exactly one of the two is given.
        self.positional
            .as_deref()
            .or(self.flag.as_deref())
            .unwrap_or_default()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check a remote's configuration and store, and say how to fix each problem.
    Doctor {
        #[command(flatten)]
        remote: RemoteName,
    },
    /// List the objects in a remote's store and the git-annex key each one holds.
    Ls {
        #[command(flatten)]
        remote: RemoteName,
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
    /// Fetch one key (or object path) from a store into a file, decrypted and verified.
    Get {
        /// A git-annex key (`git annex lookupkey FILE`), or an object path as `ferry ls` shows.
        what: String,
        /// Where to write the content (it must not exist, unless --force).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// Replace an existing --out file.
        #[arg(long)]
        force: bool,
    },
    /// Read back every object of a store and check its size, digest and authenticity.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
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
            let config = cli::repo::find_remote(&repo, remote.name())?;
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
            let config = cli::repo::find_remote(&repo, remote.name())?;
            let settings = cli::repo::settings_of(&repo, &config)?;
            let secrets = cli::repo::secrets_for(&repo, &config, &settings);
            // The stored objects as they are (sizes on the store), whether or not the key is at
            // hand.
            let backend = ferry::storage::open(&settings, &secrets)?;
            // HMAC object names map back to keys only with the remote's key; without it the
            // listing still works, just without keys.
            let known = if settings.encryption.enabled() {
                match Store::from_remote(&repo, &config)
                    .and_then(|store| Ok(store.known_objects(&BranchKeys::read(&repo)?)))
                {
                    Ok(known) => Some(known),
                    Err(e) => {
                        eprintln!("ferry: object names are shown without their keys: {e:#}");
                        None
                    }
                }
            } else {
                None
            };
            let listed = runtime.block_on(cli::ls::ls(backend.as_ref(), known.as_ref()))?;
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
            if cli.json {
                cli::print_json(&cli::locate::locate_all(&keys, layout, prefix.as_deref())?)?;
            } else {
                cli::print_lines(&cli::locate::locate(&keys, layout, prefix.as_deref())?)?;
            }
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
            let exported = cli::export_key::export_key(&repo, &config)?;
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
        Command::Get {
            what,
            out,
            store,
            force,
        } => {
            let (store, branch) = store.open(&repo)?;
            let fetched =
                runtime.block_on(cli::get::get(&store, branch.as_ref(), &what, &out, force))?;
            if cli.json {
                cli::print_json(&fetched)?;
            } else {
                cli::print_lines(&[format!(
                    "wrote {} ({} bytes, verified: {}) to {}",
                    fetched.key.as_deref().unwrap_or(&what),
                    fetched.bytes,
                    fetched.verified,
                    fetched.out.display()
                )])?;
            }
            Ok(0)
        }
        Command::Verify { store } => {
            let (store, branch) = store.open(&repo)?;
            let report = runtime.block_on(cli::verify::verify(&store, branch.as_ref()))?;
            if cli.json {
                cli::print_json(&report)?;
            } else {
                cli::print_lines(&cli::verify::describe(&report))?;
            }
            Ok(i32::from(!report.problems.is_empty()))
        }
    }
}
