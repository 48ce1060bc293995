//! `ferry`: the command line for people (inspection and recovery of ferry stores).

use clap::{Parser, Subcommand};
use ferry_backends::layout::Layout;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "ferry: git-annex special remote engine; tools for its stores"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
}

fn main() -> anyhow::Result<()> {
    ferry::logging::init("warn");
    let cli = Cli::parse();
    match cli.command {
        Command::Locate {
            layout,
            prefix,
            keys,
        } => {
            let lines = ferry::cli::locate::locate(&keys, layout, prefix.as_deref())?;
            ferry::cli::print_lines(&lines)?;
        }
    }
    Ok(())
}
