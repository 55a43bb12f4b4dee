//! The accept loop: HTTP/1 connections served by hyper with a header-read timeout, an idle
//! timeout and a bounded number of open connections, so clients that trickle a header (or
//! a body) one byte at a time cannot use up the process's files and lock webhooks out.
//!
//! When `max_connections` are open, the oldest connection that is not in the middle of a
//! request (waiting for its header, or idle between requests) is closed to make room: a new
//! webhook always gets in, and a request already being answered is never cut. Accept
//! errors (`EMFILE` when files run out anyway) are logged and retried after a short pause;
//! they never stop the loop.

use crate::config::HttpConfig;
use crate::metrics as m;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long the loop pauses after an accept error that is not about one connection.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// One open connection, as the registry sees it.
struct Slot {
    /// Requests being answered on it right now.
    busy: Arc<AtomicUsize>,
    close: CancellationToken,
}

/// Open connections by accept order (oldest first).
#[derive(Default)]
struct Registry {
    next: u64,
    open: BTreeMap<u64, Slot>,
}

impl Registry {
    /// Makes room for one more connection: `Some` when there is room (evicting the oldest
    /// connection not in a request if needed), `None` when every open one is busy.
    fn admit(&mut self, max: usize) -> Option<(u64, Arc<AtomicUsize>, CancellationToken)> {
        if self.open.len() >= max {
            let idle = self
                .open
                .iter()
                .find(|(_, s)| s.busy.load(Ordering::Acquire) == 0)
                .map(|(id, _)| *id)?;
            if let Some(evicted) = self.open.remove(&idle) {
                evicted.close.cancel();
            }
        }
        let id = self.next;
        self.next += 1;
        let slot = Slot {
            busy: Arc::default(),
            close: CancellationToken::new(),
        };
        let handles = (id, slot.busy.clone(), slot.close.clone());
        self.open.insert(id, slot);
        Some(handles)
    }
}

/// Serves `router` on `listener` until `stop` is cancelled, then lets requests in flight
/// finish (closing idle connections at once) for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: HttpConfig,
    stop: CancellationToken,
    grace: Duration,
) {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let connections = TaskTracker::new();
    loop {
        let (stream, _peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "accept error; retrying shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let admitted = registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(config.max_connections);
        let Some((id, busy, close)) = admitted else {
            metrics::counter!(m::HTTP_CONNECTIONS_REFUSED).increment(1);
            tracing::warn!(
                max_connections = config.max_connections,
                "every connection is busy with a request; closing a new one"
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let registry = registry.clone();
        let router = router.clone();
        let stop = stop.clone();
        let config = config.clone();
        connections.spawn(async move {
            serve_connection(stream, router, &config, busy, close, stop).await;
            registry
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .open
                .remove(&id);
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("HTTP requests still in flight after {grace:?}; closing them");
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    config: &HttpConfig,
    busy: Arc<AtomicUsize>,
    close: CancellationToken,
    stop: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let router = router.clone();
        let guard = Busy::enter(&busy);
        async move {
            let response = router.oneshot(request).await;
            drop(guard);
            response
        }
    });
    let io = TokioIo::new(IdleTimeout::new(stream, config.idle_timeout));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let mut conn = pin!(builder.serve_connection(io, service));
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = close.cancelled() => return,
        _ = stop.cancelled() => {}
    }
    // Shutting down: finish the request in flight, then close.
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn => {}
        _ = close.cancelled() => {}
    }
}

/// Counts a request as in flight while alive.
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Errors about one connection that does not concern the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A stream that fails with `TimedOut` once a read or write has waited `limit` with no byte
/// moving in either direction.
struct IdleTimeout {
    inner: TcpStream,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    fn new(inner: TcpStream, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
        }
    }

    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.limit);
    }

    /// Called when the inner stream is not ready: an error once the deadline has passed.
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for longer than http.idle_timeout",
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.check(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_registry_closes_the_oldest_idle_connection_never_a_busy_one() {
        let mut r = Registry::default();
        let (_, busy0, close0) = r.admit(2).unwrap();
        let (_, _busy1, close1) = r.admit(2).unwrap();
        busy0.fetch_add(1, Ordering::AcqRel);
        let (id2, busy2, _) = r.admit(2).unwrap();
        assert!(!close0.is_cancelled(), "busy connection kept");
        assert!(close1.is_cancelled(), "oldest idle connection closed");
        busy2.fetch_add(1, Ordering::AcqRel);
        assert!(r.admit(2).is_none(), "all busy: the new one is refused");
        assert_eq!(r.open.keys().copied().collect::<Vec<_>>(), [0, id2]);
    }
}
