//! The server's HTTP listeners: a hub's Admin API (`http_port`) and any server's own
//! `/metrics` and `/healthz` (`metrics_port`). An axum router on hyper's HTTP/1.1, served by
//! our own accept loop so the wire port's bind address and TLS acceptor apply unchanged; each
//! connection on a task of its own, so a slow or hostile client holds only its connection.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// How a listener bounds its clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// What the listener is, in log lines.
    pub name: &'static str,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// The most bytes of a request's head hyper buffers (`None`: hyper's default, about
    /// 400 KiB; at least 8,192).
    pub max_head_bytes: Option<usize>,
    /// Keep connections open between requests.
    pub keep_alive: bool,
    /// The most connections served at once; one over it is closed at once (`None`: no cap).
    pub max_connections: Option<usize>,
}

/// Serves `router` on `listener` (through `tls` when the wire port uses TLS) until
/// `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Option<crate::tls::Acceptor>,
    router: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = limits
        .max_connections
        .map(|n| Arc::new(Semaphore::new(n.min(Semaphore::MAX_PERMITS))));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(listener = limits.name, error = %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match &slots {
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(slot) => Some(slot),
                Err(_) => {
                    tracing::debug!(listener = limits.name, %peer, "too many connections: closed");
                    continue;
                }
            },
            None => None,
        };
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let stream = match &tls {
                Some(acceptor) => match acceptor.negotiate(stream).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        let name = limits.name;
                        tracing::debug!(listener = name, %peer, error = %error, "TLS failed");
                        return;
                    }
                },
                None => crate::tls::Stream::Plain(stream),
            };
            match stream {
                crate::tls::Stream::Plain(stream) => {
                    serve_connection(stream, router, limits).await;
                }
                crate::tls::Stream::Tls(stream) => {
                    serve_connection(*stream, router, limits).await;
                }
            }
            drop(slot);
        });
    }
}

async fn serve_connection<IO>(io: IO, router: Router, limits: Limits)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(limits.keep_alive);
    if let Some(max) = limits.max_head_bytes {
        builder.max_buf_size(max.max(8_192));
    }
    let served = builder
        .serve_connection(hyper_util::rt::TokioIo::new(io), service)
        .await;
    if let Err(error) = served {
        tracing::debug!(listener = limits.name, error = %error, "connection ended with an error");
    }
}
