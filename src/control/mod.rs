//! The control layer: the one place where "who may do what" and "what happened is audited"
//! live, between the two front ends (`web` for HTTP, `views` for the screen) and the
//! [`crate::monitor`] below them.
//!
//! - [`commands`]: every action a browser or an API client can ask for, with its role check,
//!   its audit entry and then the monitor call ([`Commands`], [`CommandError`]).
//! - [`reads`]: what a signed-in page may read (History, run detail, comparison, a point's
//!   result, cleanup preview, job log): session checked, no role needed ([`Reads`]).
//! - [`hub`]: the live, read-only state every browser renders ([`Hub`]).
//!
//! Neither `web` nor `views` imports the other (except `web` launching the root component):
//! both come here. This layer has no HTTP and no UI code.

pub(crate) mod commands;
pub(crate) mod hub;
pub(crate) mod reads;

pub use commands::{CommandError, Commands};
pub use hub::{ExecutorStatus, Hub};
pub use reads::Reads;

use crate::model::{SessionUser, User};
use crate::store::Store;

/// The account behind `who` as it is now in the database, if the page's session is still
/// valid (a role change or deletion from the CLI applies at once).
async fn account(store: &Store, who: &SessionUser, idle_secs: i64) -> Result<User, CommandError> {
    let sid = who.session_id;
    store
        .run(move |s| s.session_account(sid, idle_secs))
        .await?
        .ok_or(CommandError::SessionEnded)
}
