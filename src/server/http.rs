//! The HTTP side: routes, CORS, limits, responses, and the commit thread.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::tracking::{self, Client, Tracked};
use super::{MAX_BODY_BYTES, MAX_BULK_REQUESTS, MAX_QUERY_BYTES, QUEUE_REQUESTS, ServeOptions};
use crate::appender::{AppendOptions, Appender};
use crate::db::Db;
use crate::error::{Error, ErrorKind, Result};

/// Matomo's answer to an image request: a 1×1 transparent GIF (43 bytes).
const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// One row for the commit thread, and where its outcome goes.
struct Job {
    line: String,
    reply: oneshot::Sender<std::result::Result<(), Failure>>,
}

/// Why a request was not stored: the client's fault (400) or ours (500/503).
#[derive(Debug)]
enum Failure {
    Bad(String),
    Server(String),
}

impl Failure {
    fn of(e: &Error) -> Failure {
        match e.kind() {
            ErrorKind::InvalidInput => Failure::Bad(e.to_string()),
            _ => Failure::Server(e.to_string()),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Bad(reason) => text(StatusCode::BAD_REQUEST, reason),
            Failure::Server(reason) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the request was not stored: {reason}"),
            ),
        }
    }
}

struct App {
    db: Db,
    jobs: mpsc::Sender<Job>,
    options: ServeOptions,
}

pub(super) async fn run(
    db: Db,
    options: ServeOptions,
    on_listening: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let appender = db.appender(AppendOptions::default())?;
    let (jobs, queue) = mpsc::channel::<Job>(QUEUE_REQUESTS);
    let committer = std::thread::Builder::new()
        .name("sightline-commit".into())
        .spawn(move || commit_loop(appender, queue))
        .map_err(|e| super::io_error("start the commit thread", e))?;

    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| bind_error(options.listen, e))?;
    let local = listener
        .local_addr()
        .map_err(|e| bind_error(options.listen, e))?;
    let app = Arc::new(App { db, jobs, options });
    let router = Router::new()
        .route("/matomo.php", any(track))
        .route("/piwik.php", any(track))
        .route("/health", get(health))
        .layer(middleware::from_fn(cors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app.clone());
    on_listening(local);
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            () = shutdown => {}
            () = signal() => {}
        }
    })
    .await;
    // Every handler has finished: dropping the last sender ends the commit thread once
    // it has committed what it holds.
    drop(app);
    let committed = committer
        .join()
        .map_err(|_| Error::internal("the commit thread panicked"))?;
    served.map_err(|e| super::io_error("serve HTTP", e))?;
    committed
}

fn bind_error(addr: SocketAddr, error: std::io::Error) -> Error {
    Error::Io {
        op: "listen on",
        path: addr.to_string().into(),
        error,
    }
}

/// SIGTERM or SIGINT (on Unix; Ctrl-C elsewhere).
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            // No signal handling: only the caller's future stops the server.
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The commit thread: takes every job waiting, appends them, commits once, replies.
/// Ends (after a last commit) when every sender is gone.
fn commit_loop(appender: Appender, mut queue: mpsc::Receiver<Job>) -> Result<()> {
    let mut batch: Vec<(oneshot::Sender<std::result::Result<(), Failure>>, bool)> = Vec::new();
    while let Some(first) = queue.blocking_recv() {
        let mut next = Some(first);
        while let Some(job) = next {
            // A row the engine rejects fails its own request only.
            match appender.append_json(&job.line) {
                Ok(()) => batch.push((job.reply, true)),
                Err(e) => {
                    let _ = job.reply.send(Err(Failure::of(&e)));
                }
            }
            next = if batch.len() < QUEUE_REQUESTS {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        let outcome = appender.commit();
        for (reply, _) in batch.drain(..) {
            let _ = reply.send(match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(Failure::Server(e.to_string())),
            });
        }
    }
    appender.close()
}

/// CORS for browsers, as Matomo's tracker endpoint answers: the request's `Origin` is
/// echoed and credentials allowed; a preflight (`OPTIONS`) is answered here.
async fn cors(request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let asked_headers = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    match origin {
        Some(o) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        asked_headers.unwrap_or(HeaderValue::from_static("Content-Type")),
    );
    response
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let body = json!({
        "status": "ok",
        "generation": app.db.snapshot().generation(),
        "queued": QUEUE_REQUESTS - app.jobs.capacity(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn text(status: StatusCode, reason: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{reason}\n"),
    )
        .into_response()
}

/// `GET|POST /matomo.php`: one request (query string or form body) or a bulk request.
async fn track(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::GET && method != Method::POST && method != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not accepted here: send GET or POST"),
        );
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        return r;
    }
    let query = uri.query().unwrap_or("");
    if uri.path().len() + query.len() > MAX_QUERY_BYTES {
        return text(
            StatusCode::URI_TOO_LONG,
            format!(
                "the request URL is longer than {MAX_QUERY_BYTES} bytes: send large requests \
                 as a POST body"
            ),
        );
    }
    let client = match client(&app.options, peer, &headers) {
        Ok(c) => c,
        Err(reason) => return text(StatusCode::BAD_REQUEST, reason),
    };
    let trimmed = body.trim_ascii_start();
    if method == Method::POST && trimmed.first() == Some(&b'{') {
        return match bulk(&app, trimmed, &client).await {
            Ok(n) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                // Matomo's answer, keys in its order.
                format!(r#"{{"status":"success","tracked":{n},"invalid":0}}"#),
            )
                .into_response(),
            Err(f) => f.into_response(),
        };
    }
    let mut params = match tracking::decode_params(query.as_bytes()) {
        Ok(p) => p,
        Err(reason) => return text(StatusCode::BAD_REQUEST, reason),
    };
    if method == Method::POST && !body.is_empty() {
        match tracking::decode_params(&body) {
            // The body's values win over the query string's (Matomo reads both).
            Ok(more) => {
                for (k, v) in more {
                    match params.iter_mut().find(|(n, _)| *n == k) {
                        Some(slot) => slot.1 = v,
                        None => params.push((k, v)),
                    }
                }
            }
            Err(reason) => return text(StatusCode::BAD_REQUEST, format!("body: {reason}")),
        }
    }
    let image =
        method != Method::POST && !params.iter().any(|(k, v)| k == "send_image" && v == "0");
    let row = match tracking::to_row(&params, &client) {
        Ok(Tracked::Row(row)) => row,
        Ok(Tracked::Ping) => return done(image),
        Err(reason) => return text(StatusCode::BAD_REQUEST, reason),
    };
    let (reply, outcome) = oneshot::channel();
    let job = Job {
        line: serde_json::Value::Object(row).to_string(),
        reply,
    };
    if app.jobs.send(job).await.is_err() {
        return Failure::Server("the server is shutting down".into()).into_response();
    }
    match outcome.await {
        Ok(Ok(())) => done(image),
        Ok(Err(f)) => f.into_response(),
        Err(_) => Failure::Server("the commit thread stopped".into()).into_response(),
    }
}

/// The success answer: the GIF for an image request, else 204.
fn done(image: bool) -> Response {
    if image {
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "image/gif"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            Body::from(GIF),
        )
            .into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

/// Who sent the request: the socket peer, or what a trusted proxy says.
fn client(
    options: &ServeOptions,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> std::result::Result<Client, String> {
    let header_text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mut ip = peer.ip().to_canonical();
    if options.trust_proxy
        && let Some(xff) = headers.get_all("x-forwarded-for").iter().next_back()
    {
        let xff = xff
            .to_str()
            .map_err(|_| "header X-Forwarded-For: not ASCII text".to_string())?;
        // The last entry is the address our proxy saw (earlier ones are the client's
        // word and can be forged).
        let last = xff.rsplit(',').next().unwrap_or("").trim();
        ip = last.parse::<IpAddr>().map_err(|_| {
            format!("header X-Forwarded-For: the last entry {last:?} is not an IP address")
        })?;
    }
    Ok(Client {
        ip: Some(ip.to_string()),
        user_agent: header_text(header::USER_AGENT),
        accept_language: header_text(header::ACCEPT_LANGUAGE),
        now_ms: jiff::Timestamp::now().as_millisecond(),
        trust_cip: options.trust_cip,
    })
}

/// A bulk request (`{"requests": ["?idsite=1&…", …]}`): every request mapped first,
/// then all stored in one transaction, in order. Any bad request fails the whole batch.
async fn bulk(app: &App, body: &[u8], client: &Client) -> std::result::Result<usize, Failure> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| Failure::Bad(format!("bulk body: invalid JSON ({e})")))?;
    let requests = doc
        .get("requests")
        .and_then(|r| r.as_array())
        .ok_or_else(|| {
            Failure::Bad(r#"bulk body: expected {"requests": ["?idsite=1&rec=1&…", …]}"#.into())
        })?;
    if requests.len() > MAX_BULK_REQUESTS {
        return Err(Failure::Bad(format!(
            "bulk body: {} requests; at most {MAX_BULK_REQUESTS} per bulk request",
            requests.len()
        )));
    }
    let mut lines = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let at = |reason: String| Failure::Bad(format!("bulk request {}: {reason}", i + 1));
        let r = r
            .as_str()
            .ok_or_else(|| at("not a string (each request is a query string)".into()))?;
        // "?a=1&b=2", or a whole "/matomo.php?a=1&b=2".
        let query = r.split_once('?').map_or(r, |(_, q)| q);
        let params = tracking::decode_params(query.as_bytes()).map_err(at)?;
        if let Tracked::Row(row) = tracking::to_row(&params, client).map_err(at)? {
            lines.push(serde_json::Value::Object(row).to_string());
        }
    }
    let n = requests.len();
    let db = app.db.clone();
    let stored = tokio::task::spawn_blocking(move || -> Result<()> {
        let mut tx = db.begin_write()?;
        for line in &lines {
            tx.append_json(line)?;
        }
        tx.commit().map(|_| ())
    })
    .await
    .map_err(|_| Failure::Server("the bulk write stopped".into()))?;
    stored.map_err(|e| Failure::of(&e)).map(|()| n)
}
