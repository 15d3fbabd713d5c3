//! The control layer: the one place where "who may do what" and "what happened is audited"
//! live, between the two front ends (`web` for HTTP, `views` for the screen) and the
//! [`crate::monitor`] below them.
//!
//! - [`commands`]: every action a browser or an API client can ask for, with its role check,
//!   its audit entry and then the monitor call ([`Commands`], [`CommandError`]).
//! - [`hub`]: the live, read-only state every browser renders ([`Hub`]).
//!
//! Neither `web` nor `views` imports the other (except `web` launching the root component):
//! both come here. This layer has no HTTP and no UI code.

pub mod commands;
pub mod hub;

pub use commands::{CommandError, Commands};
pub use hub::{ExecutorStatus, Hub};
