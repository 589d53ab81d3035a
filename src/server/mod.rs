//! A Matomo-compatible tracking server (feature `server`; `sightline serve` runs it).
//!
//! Matomo's JavaScript, Node and other trackers send their requests here unchanged:
//! `GET|POST /matomo.php` (or `/piwik.php`) with the parameters of Matomo's HTTP
//! Tracking API in the query string, a form body or a bulk JSON body. Each request
//! becomes one input row ([`tracking`] maps the parameters; `docs/server.md` has the
//! table) and is acknowledged only once a commit made it durable.
//!
//! How the parts fit:
//!
//! - HTTP runs on a small multi-thread tokio runtime (axum); handlers never block.
//! - Single requests go through a bounded channel to one **commit thread**, which
//!   drains whatever has arrived, appends it to an [`Appender`](crate::Appender) and
//!   commits once for all of it (group commit); each request's reply waits for that
//!   commit. The channel's capacity bounds the rows held in memory, whatever the
//!   traffic: when it is full, handlers wait (back-pressure), they do not buffer.
//! - A bulk request is one write transaction of its own (on tokio's blocking pool), so
//!   it is all-or-nothing: a bad request anywhere in it stores none of it.
//! - Shutdown (SIGTERM or SIGINT, or the future given to [`serve`]): the listener
//!   stops accepting, requests in flight finish and are committed, then [`serve`]
//!   returns.

mod http;
pub(crate) mod tracking;

use std::future::Future;
use std::net::SocketAddr;

use crate::db::Db;
use crate::error::{Error, Result};

/// Longest accepted request target (path and query string), in bytes.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
/// Largest accepted request body (a form body or a bulk JSON body), in bytes.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Most tracking requests in one bulk request.
pub const MAX_BULK_REQUESTS: usize = 10_000;
/// Capacity of the channel to the commit thread, in requests: the most rows of single
/// requests held in memory at once (besides the batch being committed, itself at most
/// this many).
pub const QUEUE_REQUESTS: usize = 8_192;

/// How [`serve`] runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (port 0: any free port, reported to `on_listening`).
    pub listen: SocketAddr,
    /// Take the client address from the last `X-Forwarded-For` entry (set by the
    /// one reverse proxy in front of the server) instead of the socket peer.
    pub trust_proxy: bool,
    /// Let the `cip` parameter set the client address.
    pub trust_cip: bool,
    /// Worker threads of the HTTP runtime (at least 1).
    pub workers: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            trust_proxy: false,
            trust_cip: false,
            workers: 2,
        }
    }
}

/// Serves Matomo's tracking API into `db` (opened for writing) until SIGTERM or SIGINT
/// arrives, or `shutdown` completes; then drains the requests in flight, commits, and
/// returns. `on_listening` receives the bound address once the socket listens.
pub fn serve(
    db: &Db,
    options: &ServeOptions,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.workers.max(1))
        .max_blocking_threads(8)
        .thread_name("sightline-http")
        .enable_all()
        .build()
        .map_err(|e| io_error("start the HTTP runtime", e))?;
    runtime.block_on(http::run(
        db.clone(),
        options.clone(),
        on_listening,
        shutdown,
    ))
}

fn io_error(op: &'static str, error: std::io::Error) -> Error {
    Error::Io {
        op,
        path: std::path::PathBuf::new(),
        error,
    }
}
