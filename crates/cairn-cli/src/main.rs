//! The `cairn` command: a thin clap front over Cairn's libraries.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod selfcheck;
mod serve;

use std::process::ExitCode;

use bytesize::ByteSize;
use cairn_core::RedundancyPolicy;
use clap::{Parser, Subcommand};

/// Cairn: a community cloud drive, encrypted on your device and spread across peers.
#[derive(Debug, Parser)]
#[command(name = "cairn", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole data path in memory — keys, passphrase wrapping, path encryption,
    /// sealing, erasure coding with lost fragments, metadata — and report its speed.
    Selfcheck(SelfcheckArgs),
    /// Run a pool server: the registry of peers, placement and the encrypted object index.
    Pool(serve::PoolArgs),
    /// Run a peer: lend disk space to a pool and store encrypted pieces for it.
    Peer(serve::PeerArgs),
}

/// Options of `cairn selfcheck`.
#[derive(Debug, clap::Args)]
struct SelfcheckArgs {
    /// Bytes of random data to push through the data path (e.g. `256MiB`, `1GB`).
    #[arg(long, default_value = "256MiB", value_parser = parse_size)]
    size: u64,
    /// Plaintext bytes per segment (4KiB..=256MiB).
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    segment_size: u64,
    /// Redundancy: `ec:K+M`, `rep:KxR`, or `auto` (chosen for 6 peers at 99% availability).
    #[arg(long, default_value = "ec:4+2")]
    redundancy: RedundancyPolicy,
    /// Print one JSON object instead of the human report.
    #[arg(long)]
    json: bool,
}

fn parse_size(text: &str) -> Result<u64, String> {
    text.parse::<ByteSize>().map(|s| s.as_u64()).map_err(|e| {
        format!("`{text}` is not a size ({e}); write a number with a unit, like 64MiB or 1GB")
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Selfcheck(args) => run_selfcheck(args),
        Command::Pool(args) => serve::run_pool(args),
        Command::Peer(args) => serve::run_peer(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_selfcheck(args: SelfcheckArgs) -> anyhow::Result<()> {
    let segment_size = u32::try_from(args.segment_size)
        .map_err(|_| anyhow::anyhow!("--segment-size must be at most 256MiB"))?;
    let redundancy = match args.redundancy {
        RedundancyPolicy::Fixed(r) => r,
        RedundancyPolicy::Auto => cairn_core::policy::choose_policy(6, 0.99, 0.999_999)?,
    };
    let options = selfcheck::Options {
        size: args.size,
        segment_size,
        redundancy,
    };
    let report = selfcheck::run(&options, &mut rand::rng(), |line| {
        if !args.json {
            println!("{line}");
        }
    })?;
    if args.json {
        println!("{}", report.to_json());
    }
    Ok(())
}
