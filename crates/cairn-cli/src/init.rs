//! `cairn init`: a new account (its recovery phrase shown once) or, with `--recover`, an
//! existing one restored from its phrase on a fresh home.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use cairn_client::{Drive, DriveOptions, Home, Protection};
use cairn_core::{KdfParams, MasterSecret, RecoveryPhrase};
use zeroize::Zeroizing;

use crate::session::{Global, runtime};

/// Options of `cairn init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The pool's URL, e.g. `http://127.0.0.1:7700`.
    #[arg(long)]
    pool: String,
    /// Restore an account from its recovery phrase (read from CAIRN_RECOVERY_PHRASE, a
    /// prompt on a terminal, or a line on standard input).
    #[arg(long)]
    recover: bool,
    /// Keep the master secret without a passphrase: a local playground, refused for any
    /// pool not on this machine.
    #[arg(long)]
    no_passphrase: bool,
}

fn read_phrase() -> anyhow::Result<RecoveryPhrase> {
    let text = if let Ok(text) = std::env::var("CAIRN_RECOVERY_PHRASE") {
        Zeroizing::new(text)
    } else if std::io::stdin().is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password("Recovery phrase (24 words): ")
                .context("cannot read the recovery phrase")?,
        )
    } else {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the recovery phrase from standard input")?;
        line
    };
    Ok(RecoveryPhrase::parse(text.trim())?)
}

fn new_passphrase(global: &Global) -> anyhow::Result<Zeroizing<String>> {
    let Some(first) = global.passphrase("New passphrase: ")? else {
        bail!(
            "a passphrase is needed to protect the master secret; set CAIRN_PASSPHRASE, pass --passphrase-file, or run on a terminal"
        );
    };
    if first.is_empty() {
        bail!("the passphrase is empty; choose one you can remember");
    }
    let asked = global.passphrase_file.is_none() && std::env::var("CAIRN_PASSPHRASE").is_err();
    if asked {
        let again = global
            .passphrase("Repeat the passphrase: ")?
            .unwrap_or_default();
        if *again != *first {
            bail!("the two passphrases differ; run `cairn init` again");
        }
    }
    Ok(first)
}

/// `cairn init`.
pub fn init(global: &Global, args: InitArgs) -> anyhow::Result<()> {
    let dir = global.home_dir()?;
    if Home::exists(&dir) {
        bail!(
            "{} already holds a Cairn client; use another --home (or CAIRN_HOME) for a second one",
            dir.display()
        );
    }
    let pool = args.pool.trim_end_matches('/').to_owned();
    let secret = if args.recover {
        read_phrase()?.to_secret()?
    } else {
        MasterSecret::generate(&mut rand::rng())
    };
    let passphrase = if args.no_passphrase {
        None
    } else {
        Some(new_passphrase(global)?)
    };
    // Reach the pool before writing anything, so a wrong URL leaves no half-made home.
    let drive = Drive::new(&pool, &secret, DriveOptions::default())?;
    let opened = runtime()?.block_on(drive.register())?;
    let protection = match &passphrase {
        Some(p) => Protection::Passphrase(p.as_bytes(), KdfParams::DEFAULT),
        None => Protection::Playground,
    };
    Home::create(&dir, &pool, &secret, protection, &mut rand::rng())?;
    if args.recover {
        say!(
            "restored account {} on {pool}; client home {}",
            opened.account,
            dir.display()
        );
        // A pool that lost its disk gets this account's records back from its ledger.
        let recovered = runtime()?.block_on(drive.recover())?;
        if recovered.given_back + recovered.moved + recovered.removed > 0
            || recovered.unreadable + recovered.unfetched > 0
        {
            say!("{}", crate::session::recovered_line(&recovered));
        }
        return Ok(());
    }
    say!(
        "opened account {} on {pool}; client home {}",
        opened.account,
        dir.display()
    );
    say!();
    say!("Your recovery phrase is shown only this once. Write it down and keep it safe:");
    say!("it is the only way back to your files if you lose this device or your passphrase.");
    say!();
    say!("  {}", RecoveryPhrase::from_secret(&secret).words());
    say!();
    Ok(())
}
