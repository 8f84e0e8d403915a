//! The pages before the drive: create an account on a pool, recover one from its phrase,
//! write the new phrase down, and unlock a home with its passphrase (typed into the page,
//! never put in an address).

use maud::{Markup, html};

use super::{Note, Section, layout};

/// The first page of a home without an account.
pub(crate) fn setup_page(pool: &str, note: Option<&Note>) -> Markup {
    layout(
        "Set up your drive",
        Section::Outside,
        note,
        html! {
            h1 { "Set up your drive" }
            p class="lead" {
                "Cairn keeps your files encrypted on this computer before they go to a pool of peers. "
                "Nobody else — not the pool, not the peers — can read them or their names."
            }
            div class="cards" {
                form class="card" method="post" action="/setup/create" {
                    h2 { "Create an account" }
                    (pool_field(pool, "create-pool"))
                    (passphrase_fields("create"))
                    button type="submit" class="primary" { "Create my account" }
                }
                div class="card" {
                    h2 { "Already have an account?" }
                    p { "Restore it on this computer with the 24-word recovery phrase you wrote down when you made it." }
                    a class="button" href="/setup/recover" { "Restore from my recovery phrase" }
                }
                div class="card" {
                    h2 { "Someone sent you a link?" }
                    p { "Open it without an account: the files come straight from the peers and are decrypted on this computer." }
                    a class="button" href="/open" { "Open a link" }
                }
            }
        },
    )
}

fn pool_field(pool: &str, id: &str) -> Markup {
    html! {
        div class="field" {
            label for=(id) { "Pool address" }
            input id=(id) type="url" name="pool" value=(pool) required placeholder="https://pool.example.org:7700" aria-describedby={ (id) "-hint" };
            p class="hint" id={ (id) "-hint" } { "The address of the pool you are joining, as its operator gave it to you." }
        }
    }
}

fn passphrase_fields(prefix: &str) -> Markup {
    html! {
        div class="field" {
            label for={ (prefix) "-passphrase" } { "Passphrase for this computer" }
            input id={ (prefix) "-passphrase" } type="password" name="passphrase" required minlength="8" autocomplete="new-password" aria-describedby={ (prefix) "-passphrase-hint" };
            p class="hint" id={ (prefix) "-passphrase-hint" } { "It locks your keys on this computer. At least 8 characters." }
        }
        div class="field" {
            label for={ (prefix) "-repeat" } { "Passphrase again" }
            input id={ (prefix) "-repeat" } type="password" name="repeat" required minlength="8" autocomplete="new-password";
        }
    }
}

/// Restoring an account from its phrase.
pub(crate) fn recover_page(pool: &str, note: Option<&Note>) -> Markup {
    layout(
        "Restore your account",
        Section::Outside,
        note,
        html! {
            h1 { "Restore your account" }
            form class="card wide" method="post" action="/setup/recover" {
                div class="field" {
                    label for="phrase" { "Recovery phrase (24 words)" }
                    textarea id="phrase" name="phrase" rows="4" required autocomplete="off" autocapitalize="none" spellcheck="false" {}
                }
                (pool_field(pool, "recover-pool"))
                (passphrase_fields("recover"))
                button type="submit" class="primary" { "Restore my account" }
                " "
                a href="/setup" { "Back" }
            }
        },
    )
}

/// The new account's phrase, shown once, with the check that it was written down.
pub(crate) fn phrase_page(words: &[&str], ask: usize, note: Option<&Note>) -> Markup {
    layout(
        "Your recovery phrase",
        Section::Outside,
        note,
        html! {
            h1 { "Write down your recovery phrase" }
            p class="lead" {
                "These 24 words are the only way back to your files if you lose this computer or forget your passphrase. "
                "They are shown only now. Write them on paper, in order, and keep them somewhere safe. Anyone who has them can read your files."
            }
            ol class="phrase" aria-label="Recovery phrase" {
                @for word in words { li { (word) } }
            }
            form class="card" method="post" action="/setup/phrase" {
                div class="field" {
                    label for="word" { "To check, type word number " (ask + 1) }
                    input id="word" type="text" name="word" required autocomplete="off" autocapitalize="none" spellcheck="false";
                }
                div class="field check" {
                    input id="written" type="checkbox" name="written" value="yes" required;
                    label for="written" { "I have written down my recovery phrase" }
                }
                button type="submit" class="primary" { "Open my drive" }
            }
        },
    )
}

/// A locked home asks for its passphrase.
pub(crate) fn unlock_page(note: Option<&Note>) -> Markup {
    layout(
        "Unlock your drive",
        Section::Outside,
        note,
        html! {
            h1 { "Unlock your drive" }
            form class="card" method="post" action="/unlock" {
                div class="field" {
                    label for="passphrase" { "Passphrase" }
                    input id="passphrase" type="password" name="passphrase" required autofocus autocomplete="current-password";
                }
                button type="submit" class="primary" { "Unlock" }
                p class="hint" { "Forgot it? Restore the account from its recovery phrase with " code { "cairn init --recover" } " in a new home." }
            }
        },
    )
}
