//! Before the drive opens: creating an account on a pool (its recovery phrase shown once
//! and confirmed as written down), recovering one from its phrase, and unlocking a home
//! with its passphrase. Passphrases and phrases arrive only in form bodies.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cairn_client::{ClientError, Drive, Home, Protection};
use cairn_core::{KdfParams, MasterSecret, RecoveryPhrase};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::pages::{self, Note};
use crate::state::AppState;

#[derive(Deserialize)]
pub(crate) struct NewAccount {
    pool: String,
    passphrase: Zeroizing<String>,
    repeat: Zeroizing<String>,
    #[serde(default)]
    phrase: Option<Zeroizing<String>>,
}

/// `GET /setup`.
pub(crate) async fn setup(State(state): State<AppState>) -> Response {
    if state.has_home() {
        return Redirect::to("/").into_response();
    }
    pages::setup_page("", None).into_response()
}

/// `GET /setup/recover`.
pub(crate) async fn recover_form(State(state): State<AppState>) -> Response {
    if state.has_home() {
        return Redirect::to("/").into_response();
    }
    pages::recover_page("", None).into_response()
}

fn check_passphrase(form: &NewAccount) -> Result<(), String> {
    if form.passphrase.chars().count() < 8 {
        return Err("Choose a passphrase of at least 8 characters.".into());
    }
    if *form.passphrase != *form.repeat {
        return Err("The two passphrases differ; type the same one twice.".into());
    }
    Ok(())
}

/// Makes the home for `secret` on `pool`: the pool is reached first, so a wrong address
/// leaves nothing behind.
async fn make_home(
    state: &AppState,
    form: &NewAccount,
    secret: MasterSecret,
) -> Result<Drive, String> {
    let pool = form.pool.trim().trim_end_matches('/').to_owned();
    let drive = Drive::new(&pool, &secret, state.options().clone()).map_err(|e| e.to_string())?;
    drive.register().await.map_err(|e| match e {
        ClientError::PoolUnreachable { url, .. } => format!(
            "The pool at {url} does not answer. Check the address (and that the pool is running), then try again."
        ),
        other => other.to_string(),
    })?;
    let dir = state.home_dir().to_owned();
    let passphrase = form.passphrase.clone();
    tokio::task::spawn_blocking(move || {
        Home::create(
            &dir,
            &pool,
            &secret,
            Protection::Passphrase(passphrase.as_bytes(), KdfParams::DEFAULT),
            &mut rand::rng(),
        )
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    Ok(drive)
}

/// `POST /setup/create`.
pub(crate) async fn create(
    State(state): State<AppState>,
    Form(form): Form<NewAccount>,
) -> Response {
    if state.has_home() {
        return Redirect::to("/").into_response();
    }
    let problem = |text: String| {
        (
            StatusCode::BAD_REQUEST,
            pages::setup_page(&form.pool, Some(&Note::Problem(text))),
        )
            .into_response()
    };
    if let Err(text) = check_passphrase(&form) {
        return problem(text);
    }
    let secret = MasterSecret::generate(&mut rand::rng());
    let words = Zeroizing::new(RecoveryPhrase::from_secret(&secret).words().to_string());
    match make_home(&state, &form, secret).await {
        Ok(drive) => {
            state.opened(drive, Some(words));
            Redirect::to("/setup/phrase").into_response()
        }
        Err(text) => problem(text),
    }
}

/// `POST /setup/recover`.
pub(crate) async fn recover(
    State(state): State<AppState>,
    Form(form): Form<NewAccount>,
) -> Response {
    if state.has_home() {
        return Redirect::to("/").into_response();
    }
    let problem = |text: String| {
        (
            StatusCode::BAD_REQUEST,
            pages::recover_page(&form.pool, Some(&Note::Problem(text))),
        )
            .into_response()
    };
    let phrase = form.phrase.clone().unwrap_or_default();
    let words = Zeroizing::new(phrase.split_whitespace().collect::<Vec<_>>().join(" "));
    let secret = match RecoveryPhrase::parse(&words).and_then(|p| p.to_secret()) {
        Ok(secret) => secret,
        Err(e) => {
            return problem(format!(
                "That recovery phrase is not valid ({e}). Check each word and their order."
            ));
        }
    };
    if let Err(text) = check_passphrase(&form) {
        return problem(text);
    }
    match make_home(&state, &form, secret).await {
        Ok(drive) => {
            // A pool that lost its disk gets this account's records back from its ledger.
            if let Err(e) = drive.recover().await {
                tracing::warn!(
                    "the account's records could not be checked against its ledger: {e}"
                );
            }
            state.opened(drive, None);
            Redirect::to("/drive/?done=Your%20account%20is%20restored").into_response()
        }
        Err(text) => problem(text),
    }
}

/// Which word the confirmation asks for: fixed for a phrase, different between phrases.
fn asked(words: &str) -> usize {
    usize::from(blake3::hash(words.as_bytes()).as_bytes()[0]) % 24
}

/// `GET /setup/phrase`.
pub(crate) async fn phrase(State(state): State<AppState>) -> Response {
    let Some(words) = state.pending_phrase() else {
        return Redirect::to("/").into_response();
    };
    let list: Vec<&str> = words.split_whitespace().collect();
    pages::phrase_page(&list, asked(&words), None).into_response()
}

#[derive(Deserialize)]
pub(crate) struct Confirm {
    #[serde(default)]
    word: String,
    #[serde(default)]
    written: Option<String>,
}

/// `POST /setup/phrase`: the person confirms the phrase is written down.
pub(crate) async fn confirm(State(state): State<AppState>, Form(form): Form<Confirm>) -> Response {
    let Some(words) = state.pending_phrase() else {
        return Redirect::to("/").into_response();
    };
    let list: Vec<&str> = words.split_whitespace().collect();
    let ask = asked(&words);
    let right = list
        .get(ask)
        .is_some_and(|w| w.eq_ignore_ascii_case(form.word.trim()));
    let problem = if form.written.is_none() {
        Some("Tick the box once the phrase is written down.".to_owned())
    } else if !right {
        Some(format!(
            "Word number {} is not “{}”. Check what you wrote down against the list.",
            ask + 1,
            form.word.trim()
        ))
    } else {
        None
    };
    match problem {
        Some(text) => (
            StatusCode::BAD_REQUEST,
            pages::phrase_page(&list, ask, Some(&Note::Problem(text))),
        )
            .into_response(),
        None => {
            state.phrase_confirmed();
            Redirect::to("/drive/?done=Your%20drive%20is%20ready").into_response()
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct Unlock {
    passphrase: Zeroizing<String>,
}

/// `GET /unlock`.
pub(crate) async fn unlock_form(State(state): State<AppState>) -> Response {
    match state.drive() {
        Err(crate::state::Gate::Unlock) => pages::unlock_page(None).into_response(),
        _ => Redirect::to("/").into_response(),
    }
}

/// `POST /unlock`: a wrong passphrase changes nothing and says so.
pub(crate) async fn unlock(State(state): State<AppState>, Form(form): Form<Unlock>) -> Response {
    let opening = state.clone();
    let result =
        tokio::task::spawn_blocking(move || opening.unlock(form.passphrase.as_bytes())).await;
    match result {
        Ok(Ok(())) => Redirect::to("/drive/").into_response(),
        Ok(Err(ClientError::WrongPassphrase)) => (
            StatusCode::UNAUTHORIZED,
            pages::unlock_page(Some(&Note::Problem(
                "That passphrase is wrong. Try again.".into(),
            ))),
        )
            .into_response(),
        Ok(Err(other)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::unlock_page(Some(&Note::Problem(other.to_string()))),
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
