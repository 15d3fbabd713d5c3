//! `GET/POST /login` and `/logout`. Failures look the same for an unknown user and a wrong
//! password; every login, logout, failure and lock goes to the audit log; too many
//! failures lock the account and the address ([`super::throttle`]); a guess counts from
//! before its password is checked, and only a few checks run at once.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::auth::{self, client_addr, current_user, origin_allowed};
use super::error::AppError;
use super::throttle::Refused;
use super::{AppState, pages};

/// The login form's fields. `Debug` hides the password.
#[derive(serde::Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The one message for an unknown user and a wrong password.
pub const BAD_LOGIN: &str = "Wrong user name or password.";

fn redirect(status: StatusCode, to: &'static str) -> Response {
    (status, [(header::LOCATION, to)]).into_response()
}

fn login_page(status: StatusCode, message: Option<&str>, username: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(pages::login(message, username)),
    )
        .into_response()
}

/// `GET /login`: the form, or straight to the shell when already signed in.
pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if current_user(&state, &headers).await?.is_some() {
        return Ok(redirect(StatusCode::SEE_OTHER, "/"));
    }
    Ok(login_page(StatusCode::OK, None, ""))
}

/// `POST /login`: checks the password off the async threads, then sets the cookie.
pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    // A foreign Origin is refused (login CSRF); a missing or `null` one (old browsers,
    // privacy settings) is allowed: the worst such a post can do is sign someone in.
    let null_origin = headers
        .get(header::ORIGIN)
        .is_some_and(|v| v.as_bytes() == b"null");
    if !null_origin && !origin_allowed(&state, &headers, false) {
        return Ok(login_page(
            StatusCode::FORBIDDEN,
            Some("This form was sent from another site; open pmtwatch directly and sign in."),
            "",
        ));
    }
    let addr = client_addr(&state, peer, &headers);
    let name: String = form.username.trim().chars().take(64).collect();
    let store = state.store().clone();

    // The guess is counted before the password is checked, so parallel requests get no
    // more guesses than sequential ones.
    let attempt = match state.throttle().begin(&name, addr) {
        Ok(a) => a,
        Err(refused) => {
            let (left, why) = match refused {
                Refused::Locked(left) => (left, "login_refused_locked"),
                Refused::Busy(left) => (left, "login_refused_busy"),
            };
            let minutes = left.as_secs().div_ceil(60).max(1);
            let (n, a) = (name.clone(), addr.to_string());
            store
                .run(move |s| s.audit(&n, why, &json!({ "client": a })))
                .await?;
            return Ok(login_page(
                StatusCode::TOO_MANY_REQUESTS,
                Some(&format!(
                    "Too many failed sign-ins from this account or address. Try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )),
                &name,
            ));
        }
    };

    let (n, password) = (name.clone(), form.password);
    let user = {
        // At most a few argon2 checks at once; the others wait here without a thread.
        let _turn = state.throttle().verify_turn().await;
        store.run(move |s| s.verify_login(&n, &password)).await?
    };
    let Some(user) = user else {
        let locked = attempt.failed();
        let (n, a) = (name.clone(), addr.to_string());
        store
            .run(move |s| {
                s.audit(&n, "login_failed", &json!({ "client": a }))?;
                for key in locked {
                    s.audit(
                        &n,
                        "login_locked",
                        &json!({ "client": a, "locked": key.kind(), "key": key.value() }),
                    )?;
                }
                Ok(())
            })
            .await?;
        return Ok(login_page(StatusCode::UNAUTHORIZED, Some(BAD_LOGIN), &name));
    };

    attempt.succeeded();
    let absolute = state.config().absolute_secs();
    let (uid, uname, a) = (user.id, user.name.clone(), addr.to_string());
    let session = store
        .run(move |s| {
            let session = s.create_session(uid, absolute, &a)?;
            s.audit(
                &uname,
                "login",
                &json!({ "client": a, "session": session.id }),
            )?;
            Ok(session)
        })
        .await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/".to_string()),
            (header::SET_COOKIE, auth::set_cookie(&state, &session.token)),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response())
}

/// `GET` or `POST /logout`: ends the session (closing its open pages' sockets) and clears
/// the cookie. The cookie is `SameSite=Strict`, so another site cannot log a user out.
pub async fn logout(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(user) = current_user(&state, &headers).await? else {
        // Nothing to end: like every other route without a session, off to the login page.
        return Ok((
            StatusCode::FOUND,
            [
                (header::LOCATION, "/login".to_string()),
                (header::SET_COOKIE, auth::clear_cookie(&state)),
            ],
        )
            .into_response());
    };
    {
        let a = client_addr(&state, peer, &headers).to_string();
        let (sid, name) = (user.session_id, user.name.clone());
        state
            .store()
            .run(move |s| {
                s.delete_session(sid)?;
                s.audit(&name, "logout", &json!({ "client": a, "session": sid }))
            })
            .await?;
        state.revoke_session(user.session_id);
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_string()),
            (header::SET_COOKIE, auth::clear_cookie(&state)),
        ],
    )
        .into_response())
}
