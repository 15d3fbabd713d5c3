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
//! - `util`: the test server and the raw HTTP client.

mod cli;
mod commands;
mod login;
mod routes;
mod socket;
mod util;
