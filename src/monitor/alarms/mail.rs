//! E-mail to a [`Target::Email`] over SMTP with `lettre`: STARTTLS (default), implicit
//! TLS or plain (a relay on this machine), with optional authentication. The password goes
//! only to lettre's credentials; errors name the host and what failed, never the password.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::model::Target;

/// How long one SMTP conversation may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Sends one plain-text message to every recipient of `target` (an e-mail target).
pub(super) async fn send(target: &Target, subject: &str, body: &str) -> Result<(), String> {
    let Target::Email {
        name,
        host,
        port,
        security,
        username,
        password,
        from,
        to,
    } = target
    else {
        return Err("not an e-mail target".into());
    };
    let from: Mailbox = from
        .parse()
        .map_err(|e| format!("target {name}: the from address {from:?} is not valid: {e}"))?;
    let mut builder = Message::builder()
        .from(from)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for addr in to {
        let mb: Mailbox = addr
            .parse()
            .map_err(|e| format!("target {name}: the address {addr:?} is not valid: {e}"))?;
        builder = builder.to(mb);
    }
    let message = builder
        .body(body.to_string())
        .map_err(|e| format!("target {name}: the message cannot be built: {e}"))?;
    let transport = match security.as_str() {
        "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        "none" => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host.as_str(),
        )),
        _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
    }
    .map_err(|e| format!("target {name}: SMTP to {host}:{port} cannot be set up: {e}"))?;
    let mut transport = transport.port(*port).timeout(Some(TIMEOUT));
    if !username.is_empty() {
        transport = transport.credentials(Credentials::new(username.clone(), password.clone()));
    }
    let transport = transport.build();
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("target {name}: SMTP to {host}:{port} failed: {e}"))
}
