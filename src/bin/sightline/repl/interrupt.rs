//! Ctrl-C while a REPL command runs: the `ctrlc` crate's handler (a thread woken by
//! SIGINT) cancels the token of the command running, if any.
//!
//! At the prompt the terminal is in raw mode, so Ctrl-C is a key that rustyline reads
//! (it clears the line) and no SIGINT is raised; the handler only hears Ctrl-C while a
//! command runs or prints. It is installed only by the interactive REPL: scripts read
//! from a pipe keep the default (Ctrl-C ends the process).

use std::sync::Mutex;

use sightline::CancelToken;

/// The token of the command running now.
static RUNNING: Mutex<Option<CancelToken>> = Mutex::new(None);

fn running() -> std::sync::MutexGuard<'static, Option<CancelToken>> {
    // A poisoned lock still holds a usable token.
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the handler (once per process).
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        if let Some(t) = running().as_ref() {
            t.cancel();
        }
    })
    .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C handler: {e}"))
}

/// Ctrl-C cancels `token` until the guard is dropped.
pub fn arm(token: &CancelToken) -> Armed {
    *running() = Some(token.clone());
    Armed
}

/// While it lives, Ctrl-C cancels the command's token.
pub struct Armed;

impl Drop for Armed {
    fn drop(&mut self) {
        *running() = None;
    }
}
