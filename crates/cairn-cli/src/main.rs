//! The `cairn` command: a thin clap front over Cairn's libraries.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

/// `println!` that returns an error instead of panicking when stdout is gone (a closed
/// pipe, as in `cairn ls | head`); `main` ends quietly on that error.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod files;
mod init;
mod leave;
mod local;
mod report;
mod selfcheck;
mod serve;
mod session;
mod share;
mod ui;
mod webdav;

use std::process::ExitCode;

use bytesize::ByteSize;
use cairn_core::RedundancyPolicy;
use clap::{Parser, Subcommand};

/// Cairn: a community cloud drive, encrypted on your device and spread across peers.
#[derive(Debug, Parser)]
#[command(name = "cairn", version)]
struct Cli {
    #[command(flatten)]
    global: session::Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a whole network on this machine — a pool and peers — with a ready client home;
    /// runs until Ctrl-C, and resumes with the same files when run again.
    Local(local::LocalArgs),
    /// Create an account on a pool (its recovery phrase is shown once), or restore one.
    Init(init::InitArgs),
    /// Upload a file (or, with -r, a folder): encrypted here, spread across peers.
    Put(files::PutArgs),
    /// Download a file (or, with -r, a folder); `-` writes to standard output. A share
    /// link instead of a path needs no account: `cairn get LINK [LOCAL|-]` (a folder to `-`
    /// is one zip).
    Get(files::GetArgs),
    /// List a folder.
    Ls(files::LsArgs),
    /// Make a folder.
    Mkdir(files::MkdirArgs),
    /// Move or rename a file or folder.
    Mv(files::MvArgs),
    /// Remove a file (or, with -r, a folder and everything in it).
    Rm(files::RmArgs),
    /// Make a link to a file or folder that opens without an account (`--list` the links,
    /// `--revoke ID` one); whoever has it runs `cairn get LINK`.
    Share(share::ShareArgs),
    /// Open the drive in a browser: served by this client on 127.0.0.1, encrypted here.
    Ui(ui::UiArgs),
    /// Serve the drive over WebDAV on 127.0.0.1, for file managers and rclone: mount the
    /// address it prints.
    Webdav(webdav::WebdavArgs),
    /// A file's redundancy and pieces, or the whole drive's health.
    Status(report::StatusArgs),
    /// The pool's peers, their states and space.
    Network(report::NetworkArgs),
    /// Run the whole data path in memory — keys, passphrase wrapping, path encryption,
    /// sealing, erasure coding with lost fragments, metadata — and report its speed.
    Selfcheck(SelfcheckArgs),
    /// Run a pool server: the registry of peers, placement and the encrypted object index.
    Pool(serve::PoolArgs),
    /// Run a peer: lend disk space to a pool and store encrypted pieces for it
    /// (`cairn peer leave` takes it out of the pool gracefully).
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            // One line, like every other error; `--help` has the details.
            // clap's message runs until its usage block; fold it into one line.
            let text = error.to_string();
            let message: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty() && !line.starts_with("Usage:"))
                .collect();
            eprintln!("{} (see --help)", message.join(" "));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Selfcheck(args) => run_selfcheck(args),
        Command::Pool(args) => serve::run_pool(args),
        Command::Peer(args) => serve::run_peer(args),
        Command::Local(args) => local::local(args),
        Command::Init(args) => init::init(&cli.global, args),
        Command::Put(args) => files::put(&cli.global, args),
        Command::Get(args) => files::get(&cli.global, args),
        Command::Ls(args) => files::ls(&cli.global, args),
        Command::Mkdir(args) => files::mkdir(&cli.global, args),
        Command::Mv(args) => files::mv(&cli.global, args),
        Command::Rm(args) => files::rm(&cli.global, args),
        Command::Share(args) => share::share(&cli.global, args),
        Command::Ui(args) => ui::ui(&cli.global, args),
        Command::Webdav(args) => webdav::webdav(&cli.global, args),
        Command::Status(args) => report::status(&cli.global, args),
        Command::Network(args) => report::network(&cli.global, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if closed_stdout(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `error` is stdout closing under us (the reader of a pipe went away).
fn closed_stdout(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
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
