//! HTTP-level tests of the operator web app: `pmtwatch::web::app` served on 127.0.0.1:0
//! and spoken to over real TCP (hand-written HTTP/1.1 and WebSocket handshakes, so the
//! tests see exactly the status lines and headers a browser would), plus the `user` CLI
//! against a running `serve` binary.
//!
//! - `routes`: which routes need a session and what they answer without one.
//! - `login`: cookies, same message for unknown user and wrong password, throttling,
//!   logout, expiry, tokens stored hashed.
//! - `socket`: the LiveView socket's authentication before the upgrade.
//! - `commands`: server-side role checks of mutating actions.
//! - `cli`: `pmtwatch user …` against the database of a running `pmtwatch serve`.
//! - `links`: shareable `/runs/{id}[/points/{label}]` pages and the socket's query.
//! - `files`: a run's plots, result documents, gain map, ZIP, overlay; hostile labels.
//! - `api_runs`: the read-only run API with sessions and API tokens.
//! - `logbook`: logbook entries with an attached file (the form post: roles, Origin, size,
//!   names) and the attached files (bytes, types, disposition; in the ZIP and the API).
//! - `references`: reference spectrum uploads (roles, Origin, formats) and reads.
//! - `metrics`: `/metrics` (token or session, Prometheus text, `promtool check metrics`).
//! - `token_cli`: `pmtwatch token create|list|revoke` through the real binary.
//! - `fixture`: a finished run with real processed points and their local files.
//! - `util`: the test server and the raw HTTP client.

mod api_runs;
mod cli;
mod commands;
mod files;
mod fixture;
mod links;
mod logbook;
mod login;
mod metrics;
mod references;
mod routes;
mod socket;
mod token_cli;
mod util;
