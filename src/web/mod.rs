//! The HTTP side of the operator web app (axum): login/logout, the LiveView shell and its
//! authenticated socket, the JSON API, embedded static assets, graceful shutdown.
//!
//! - [`app`] builds the router from an [`AppState`]; tests call it and serve it on
//!   `127.0.0.1:0`. [`serve`] runs it on a listener until a shutdown future resolves.
//! - [`auth`]: session cookie, Origin check, client address. [`login`]: the login form,
//!   throttling ([`throttle`]), logout. [`liveview`]: `/` and `/ws`. [`api`]: `/api/…`.
//! - Every mutating action goes through [`crate::control::Commands`] (role check, audit).
//! - [`files`]: a run's files (plots, result documents, gain map, ZIP). [`references`]:
//!   reference spectra per PMT type (upload over plain HTTP, list, read). [`logbook`]:
//!   logbook entries with an attached file (a form post) and the attached files.
//! - [`config`]: settings (`serve --config`). Live state comes from [`crate::control::Hub`].
//!
//! Route table. Everything except `/healthz`, `/login` and `/assets/*` needs a session;
//! pages redirect (302) to `/login`, `/ws`, `/api/*`, `/references*` and the file routes
//! answer 401. Routes marked (T) also take an API token (`Authorization: Bearer`).
//! - `GET /healthz` · `GET|POST /login` · `GET|POST /logout`
//! - pages: `GET /` · `GET /runs/{id}` · `GET /runs/{id}/points/{label}` (shareable links:
//!   the shell, opening that run or point) · socket `GET /ws[?run={id}&point={label}]`
//! - API: `GET /api/me` · `GET /api/status` · `GET /api/runs` (T) · `GET /api/runs/{id}` (T)
//! - files (T): `GET /runs/{id}/points/{label}/charge.png[?overlay=1]` ·
//!   `GET /runs/{id}/points/{label}/result.json` · `GET /runs/{id}/gainmap.png` ·
//!   `GET /runs/{id}/download.zip` (each with `?download=1` for a named attachment)
//! - references: `GET /references` (T) · `GET /references/{pmt_type}` (T) ·
//!   `POST /references/{pmt_type}` (operator or admin session, same-site Origin)
//! - logbook: `POST /runs/{id}/logbook` (an entry with a file: operator or admin session,
//!   same-site Origin, ≤ 10 MiB) · `GET /runs/{id}/logbook/{entry}/attachment` (T)
//!   ([`logbook`])
//! - `GET /assets/{style.css,reconnect.js,uploads.js,favicon.svg}` · `GET /favicon.ico`
//! - `GET /metrics` (T): Prometheus text format ([`metrics`])

pub(crate) mod api;
pub(crate) mod assets;
pub mod auth;
pub(crate) mod config;
pub(crate) mod error;
pub(crate) mod files;
pub(crate) mod liveview;
pub(crate) mod logbook;
pub(crate) mod login;
pub(crate) mod metrics;
pub(crate) mod pages;
pub(crate) mod references;
pub mod throttle;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use dioxus_liveview::LiveViewPool;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::control::{Commands, Hub, Reads};
use crate::monitor::Monitor;
use crate::store::Store;
pub use config::WebConfig;
use throttle::Throttle;

/// The server's shared handles. Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: WebConfig,
    pool: LiveViewPool,
    throttle: Throttle,
    hub: Hub,
    monitor: Monitor,
    commands: Commands,
    reads: Reads,
    /// The LiveView glue script, built once (~39 KB).
    glue: String,
    /// Session ids that just logged out; their open sockets close.
    revoked: broadcast::Sender<i64>,
    /// Set to true when the server begins shutting down; every socket closes.
    shutdown: watch::Sender<bool>,
    /// LiveView connections currently open (each holds one VirtualDom).
    live_sockets: AtomicUsize,
}

/// Counts an open LiveView connection for as long as it lives.
pub(crate) struct LiveSocketGuard(AppState);

impl Drop for LiveSocketGuard {
    fn drop(&mut self) {
        self.0.inner.live_sockets.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state around a started [`Monitor`]. Call inside a tokio runtime (the
    /// LiveView pool starts threads).
    pub fn new(store: Store, config: WebConfig, monitor: Monitor) -> Self {
        let hub = Hub::new(&monitor);
        let throttle = Throttle::new(
            config.throttle_failures,
            config.throttle_window,
            config.lock_duration,
        );
        Self {
            inner: Arc::new(Inner {
                commands: Commands::new(store.clone(), monitor.clone(), config.idle_timeout),
                reads: Reads::new(store.clone(), monitor.clone(), config.idle_timeout),
                monitor,
                store,
                config,
                pool: LiveViewPool::new(),
                throttle,
                hub,
                glue: dioxus_liveview::interpreter_glue("/ws"),
                revoked: broadcast::channel(256).0,
                shutdown: watch::Sender::new(false),
                live_sockets: AtomicUsize::new(0),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn config(&self) -> &WebConfig {
        &self.inner.config
    }
    pub fn hub(&self) -> &Hub {
        &self.inner.hub
    }
    pub fn monitor(&self) -> &Monitor {
        &self.inner.monitor
    }
    pub fn commands(&self) -> &Commands {
        &self.inner.commands
    }

    /// The read side the views use (History, run detail, point results).
    pub fn reads(&self) -> &Reads {
        &self.inner.reads
    }
    pub(crate) fn pool(&self) -> &LiveViewPool {
        &self.inner.pool
    }
    pub(crate) fn throttle(&self) -> &Throttle {
        &self.inner.throttle
    }
    pub(crate) fn glue(&self) -> &str {
        &self.inner.glue
    }

    /// How many LiveView connections are open now.
    pub fn live_sockets(&self) -> usize {
        self.inner.live_sockets.load(Ordering::Relaxed)
    }

    /// Counts one more open LiveView connection until the guard drops.
    pub(crate) fn live_socket_guard(&self) -> LiveSocketGuard {
        self.inner.live_sockets.fetch_add(1, Ordering::Relaxed);
        LiveSocketGuard(self.clone())
    }

    /// Closes every open page of this session (after logout).
    pub(crate) fn revoke_session(&self, session_id: i64) {
        // No receivers (no open page) is fine.
        let _ = self.inner.revoked.send(session_id);
    }

    /// Closes every LiveView socket (the server is stopping).
    pub fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Resolves when `session_id` logs out, expires (idle or absolute; looked at every
    /// few seconds, so an open page stops receiving updates soon after) or the server
    /// begins shutting down.
    pub(crate) fn session_ended(
        &self,
        session_id: i64,
    ) -> impl Future<Output = ()> + Send + 'static {
        let mut revoked = self.inner.revoked.subscribe();
        let mut shutdown = self.inner.shutdown.subscribe();
        let store = self.store().clone();
        let config = self.config();
        let idle = config.idle_secs();
        let shortest = config.idle_timeout.min(config.absolute_timeout);
        let every = (shortest / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
        async move {
            let mut check = tokio::time::interval(every);
            check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // The select only decides; the store is asked after it (the other
                // branches' futures are not `Send` across an await).
                let look = tokio::select! {
                    _ = check.tick() => true,
                    r = revoked.recv() => match r {
                        Ok(id) if id == session_id => return,
                        Ok(_) => false,
                        // Missed messages: close to be safe; the page reloads and
                        // re-authenticates.
                        Err(_) => return,
                    },
                    _ = shutdown.wait_for(|stopping| *stopping) => return,
                };
                if look {
                    let valid = store.run(move |s| s.session_valid(session_id, idle)).await;
                    // A store error closes too: the page reloads and re-authenticates.
                    if !valid.unwrap_or(false) {
                        return;
                    }
                }
            }
        }
    }
}

/// The router. Serve it with `into_make_service_with_connect_info::<SocketAddr>()` (the
/// login handler needs the client address), as [`serve`] does.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", get(login::logout).post(login::logout))
        .route("/", get(liveview::index))
        .route("/ws", get(liveview::socket))
        .route("/runs/{id}", get(liveview::run_page))
        .route("/runs/{id}/points/{label}", get(liveview::point_page))
        .route(
            "/runs/{id}/points/{label}/charge.png",
            get(files::charge_png),
        )
        .route(
            "/runs/{id}/points/{label}/result.json",
            get(files::result_json),
        )
        .route("/runs/{id}/gainmap.png", get(files::gain_map))
        .route("/runs/{id}/hv.png", get(files::hv_png))
        .route("/runs/{id}/hv-lab.png", get(files::hv_lab_png))
        .route("/runs/{id}/download.zip", get(files::download_zip))
        .route(
            "/runs/{id}/logbook",
            post(logbook::upload).layer(DefaultBodyLimit::max(logbook::MAX_FORM)),
        )
        .route(
            "/runs/{id}/logbook/{entry}/attachment",
            get(logbook::attachment),
        )
        .route("/references", get(references::list))
        .route(
            "/references/{pmt_type}",
            get(references::get).post(references::upload),
        )
        .route("/api/me", get(api::me))
        .route("/api/status", get(api::status))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::run))
        .route("/metrics", get(metrics::metrics))
        .route("/assets/style.css", get(assets::style))
        .route("/assets/reconnect.js", get(assets::reconnect))
        .route("/assets/uploads.js", get(assets::uploads))
        .route("/assets/favicon.svg", get(assets::favicon))
        .route("/favicon.ico", get(assets::favicon))
        .fallback(fallback)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// `GET /healthz`: 200 without a session (the reconnect script polls it).
async fn healthz() -> &'static str {
    "ok"
}

/// Unknown paths: without a session, the same answer as every other route (login redirect,
/// or 401 under `/api/`); with one, 404.
async fn fallback(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, error::AppError> {
    if auth::current_user(&state, &headers).await?.is_some() {
        return Ok((StatusCode::NOT_FOUND, "no such page").into_response());
    }
    if uri.path().starts_with("/api/") {
        return Ok(error::AppError::NoSession.into_response());
    }
    Ok((StatusCode::FOUND, [(header::LOCATION, "/login")]).into_response())
}

/// Headers on every answer: no framing by other sites, no MIME sniffing, no referrer to
/// other sites. (`same-origin`, not `no-referrer`: with `no-referrer` Chromium sends
/// `Origin: null` on our own login form post, which the Origin check must then refuse.)
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// Serves the app on `listener` until `shutdown` resolves, then closes every LiveView
/// socket and waits for requests in flight. A background task purges expired sessions
/// every 10 minutes until then.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let purge = tokio::spawn(purge_sessions(state.clone()));
    let st = state.clone();
    // TCP_NODELAY: LiveView edits are small frames; with Nagle's algorithm a frame written
    // in two parts waits for the browser's delayed ACK (~40 ms, measured on closing the
    // review panel) before its second part is sent.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on an accepted connection: {e}");
        }
    });
    let result = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        st.begin_shutdown();
    })
    .await;
    purge.abort();
    result
}

async fn purge_sessions(state: AppState) {
    let mut stopping = state.inner.shutdown.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let idle = state.config().idle_secs();
        match state
            .store()
            .run(move |s| s.purge_expired_sessions(idle))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!("purged {n} expired sessions"),
            Err(e) => tracing::warn!("purging expired sessions failed: {e}"),
        }
    }
}
