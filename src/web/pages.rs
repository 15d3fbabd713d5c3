//! The server-rendered pages: the login form (plain HTML, works without JavaScript), the
//! LiveView host page (the glue script plus our reconnect and upload scripts) and the
//! refusal of a plain form post.

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/style.css">"#;

/// The login page, with an optional message (already plain text; it is escaped here).
pub fn login(message: Option<&str>, username: &str) -> String {
    let message = message
        .map(|m| {
            format!(
                r#"<p class="login-error" id="login-error" role="alert">{}</p>"#,
                escape(m)
            )
        })
        .unwrap_or_default();
    let username = escape(username);
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head>{HEAD}
<title>Sign in · pmtwatch</title></head>
<body class="theme-dark login-body">
<main class="login-card">
<h1>pmtwatch</h1>
<p class="login-sub">PMT calibration monitoring</p>
{message}
<form method="post" action="/login" id="login-form">
<label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required autofocus value="{username}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" id="login-submit">Sign in</button>
</form>
<p class="login-hint">Accounts are created by an administrator (<code>pmtwatch user add</code>).</p>
</main></body></html>"#
    )
}

/// A refusal of a plain form post (the logbook's file upload): what happened, and a link
/// back to the run (or to the start page).
pub fn refusal(title: &str, why: &str, run: Option<i64>) -> String {
    let (href, back) = match run {
        Some(id) => (format!("/runs/{id}"), format!("Back to run {id}")),
        None => ("/".to_string(), "Back to pmtwatch".to_string()),
    };
    let (title, why) = (escape(title), escape(why));
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head>{HEAD}
<title>{title} · pmtwatch</title></head>
<body class="theme-dark login-body">
<main class="login-card">
<h1>{title}</h1>
<p class="login-error" id="refusal" role="alert">{why}</p>
<p><a id="refusal-back" href="{href}">{back}</a></p>
</main></body></html>"#
    )
}

/// The LiveView host page: Dioxus renders into `#main` over the socket at `/ws`.
pub fn shell(glue: &str, theme: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head>{HEAD}
<title>pmtwatch</title></head>
<body class="theme-{theme}">
<div id="reconnect-banner" class="reconnect-banner" hidden>reconnecting…</div>
<div id="main"></div>
{glue}
<script src="/assets/reconnect.js"></script>
<script src="/assets/uploads.js"></script>
</body></html>"#
    )
}
