//! A JSON POST to a [`Target::Webhook`]: `{"text": …}` for Slack and Mattermost incoming
//! webhooks, or the alarm's fields (`generic`). HTTP/1.1 over hyper's client half (hyper
//! is already in the build through axum), TLS through rustls with the system's roots.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;

/// How long one POST may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Posts `body` as JSON to `url`; a non-2xx answer is an error with its status.
pub(super) async fn post(url: &str, body: &serde_json::Value) -> Result<(), String> {
    tokio::time::timeout(TIMEOUT, post_inner(url, body))
        .await
        .map_err(|_| format!("POST {url}: no answer within {} s", TIMEOUT.as_secs()))?
}

async fn post_inner(url: &str, body: &serde_json::Value) -> Result<(), String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("the webhook URL {url:?} is not valid: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(format!(
                "the webhook URL {url:?} must start with http(s)://"
            ));
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("the webhook URL {url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("POST {url}: cannot connect to {host}:{port}: {e}"))?;
    let authority = uri
        .authority()
        .map_or(host.clone(), |a| a.as_str().to_string());
    let json = body.to_string();
    if https {
        let tls = tls_connector()?;
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| format!("POST {url}: {host} is not a valid TLS name: {e}"))?;
        let stream = tls
            .connect(name, stream)
            .await
            .map_err(|e| format!("POST {url}: TLS with {host} failed: {e}"))?;
        exchange(stream, &path, &authority, json, url).await
    } else {
        exchange(stream, &path, &authority, json, url).await
    }
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!("a system certificate could not be loaded: {e}");
    }
    roots.add_parsable_certificates(native.certs);
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS cannot be set up: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn exchange<S>(
    stream: S,
    path: &str,
    authority: &str,
    json: String,
    url: &str,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("POST {url}: HTTP handshake failed: {e}"))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("webhook connection ended: {e}");
        }
    });
    let req = Request::post(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("pmtwatch/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(json)))
        .map_err(|e| format!("POST {url}: the request cannot be built: {e}"))?;
    let answer = sender.send_request(req).await;
    let result = match answer {
        Ok(resp) => {
            let status = resp.status();
            let text = resp
                .into_body()
                .collect()
                .await
                .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                .unwrap_or_default();
            if status.is_success() {
                Ok(())
            } else {
                let text: String = text.chars().take(200).collect();
                Err(format!("POST {url}: the server answered {status}: {text}"))
            }
        }
        Err(e) => Err(format!("POST {url}: {e}")),
    };
    driver.abort();
    result
}
