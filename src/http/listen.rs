//! The accept loop: HTTP/1 connections served by hyper with a header-read timeout, an idle
//! timeout and a bounded number of open connections, so clients that trickle a header (or
//! a body) one byte at a time cannot use up the process's files and lock webhooks out.
//!
//! When `max_connections` are open, the oldest connection that is not answering a request
//! (waiting for its header, still receiving a request's body, or idle between requests) is
//! closed to make room: a new webhook always gets in, however many clients trickle bodies
//! a byte a second, and a request whose body has arrived is never cut. Accept errors
//! (`EMFILE` when files run out anyway) are logged and retried after a short pause; they
//! never stop the loop.
//!
//! A request's body that arrives in pieces reaches the handlers in pieces of at least
//! [`BODY_PIECE`] bytes (the last shorter), copied out of hyper's read buffer: a body
//! trickled a byte at a time arrives as one-byte frames, each of which pinned a read buffer
//! of kilobytes while the handler collected them (390 KiB trickled held 1.5 GB). A body
//! that arrives whole, as webhooks do, is handed on without a copy.

use crate::config::HttpConfig;
use crate::metrics as m;
use axum::Router;
use hyper::body::{Body as _, Incoming};
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

/// The smallest piece of a request body handed on, unless the body ends first.
const BODY_PIECE: usize = 16 * 1024;

/// One open connection, as the registry sees it.
struct Slot {
    /// Requests being answered on it right now (their bodies received whole).
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
        let (stream, peer) = tokio::select! {
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
            // Once per 30 s at most: at hundreds of refusals a second (a database outage
            // holding every request), a line each buried the log; the metric counts each.
            crate::metrics::logs::log_every!(
                warn,
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
            serve_connection(stream, peer, router, &config, busy, close, stop).await;
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
    peer: std::net::SocketAddr,
    router: Router,
    config: &HttpConfig,
    busy: Arc<AtomicUsize>,
    close: CancellationToken,
    stop: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let router = router.clone();
        // Busy once the body is in: a request still receiving one may be closed for room.
        let busy = Arc::new(Busy::new(&busy));
        let mut request = request.map(|body| {
            if body.is_end_stream() {
                busy.enter();
            }
            axum::body::Body::new(Pieces::new(body, busy.clone()))
        });
        // Who is asking, for the audit log (`api::auth`).
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        async move {
            let response = router.oneshot(request).await;
            busy.leave();
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

/// One request's part in its connection's count of requests being answered: counted from
/// when its body is whole (`enter`) until its answer is ready (`leave`, or dropped).
struct Busy {
    count: Arc<AtomicUsize>,
    counted: std::sync::atomic::AtomicBool,
}

impl Busy {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        Self {
            count: count.clone(),
            counted: Default::default(),
        }
    }

    fn enter(&self) {
        if !self.counted.swap(true, Ordering::AcqRel) {
            self.count.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn leave(&self) {
        if self.counted.swap(false, Ordering::AcqRel) {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.leave();
    }
}

/// A request body handed on in pieces of at least [`BODY_PIECE`] bytes (the last one
/// shorter), copied out of hyper's buffers; its request counts as busy once it has ended.
struct Pieces<B> {
    inner: B,
    piece: bytes::BytesMut,
    /// Trailers read while a piece was still being gathered, handed on after it.
    trailers: Option<hyper::HeaderMap>,
    ended: bool,
    busy: Arc<Busy>,
}

impl<B> Pieces<B> {
    fn new(inner: B, busy: Arc<Busy>) -> Self {
        Self {
            inner,
            piece: bytes::BytesMut::new(),
            trailers: None,
            ended: false,
            busy,
        }
    }

    fn take_piece(&mut self) -> hyper::body::Frame<bytes::Bytes> {
        hyper::body::Frame::data(self.piece.split().freeze())
    }
}

impl<B> hyper::body::Body for Pieces<B>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin,
{
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        loop {
            if this.ended {
                if !this.piece.is_empty() {
                    return Poll::Ready(Some(Ok(this.take_piece())));
                }
                return Poll::Ready(
                    this.trailers
                        .take()
                        .map(|t| Ok(hyper::body::Frame::trailers(t))),
                );
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    // A whole body in one frame (a webhook, mostly), or a piece's worth of
                    // it: handed on as it is, without a copy.
                    Ok(data)
                        if this.piece.is_empty()
                            && (data.len() >= BODY_PIECE || this.inner.is_end_stream()) =>
                    {
                        if this.inner.is_end_stream() {
                            this.ended = true;
                            this.busy.enter();
                        }
                        return Poll::Ready(Some(Ok(hyper::body::Frame::data(data))));
                    }
                    Ok(data) => {
                        this.piece.extend_from_slice(&data);
                        if this.piece.len() >= BODY_PIECE {
                            return Poll::Ready(Some(Ok(this.take_piece())));
                        }
                    }
                    Err(frame) => this.trailers = frame.into_trailers().ok(),
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    this.ended = true;
                    this.busy.enter();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.piece.is_empty() && self.trailers.is_none()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        let mut hint = self.inner.size_hint();
        let held = self.piece.len() as u64;
        hint.set_lower(hint.lower().saturating_add(held));
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper.saturating_add(held));
        }
        hint
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

    /// A body in one frame is handed on as it is, and its request is busy at once.
    #[tokio::test]
    async fn a_body_in_one_frame_is_handed_on_whole() {
        let body = axum::body::Body::from("{\"object\":\"whatsapp_business_account\"}");
        let count = Arc::new(AtomicUsize::new(0));
        let mut pieces = Pieces::new(body, Arc::new(Busy::new(&count)));
        let frame = std::future::poll_fn(|cx| Pin::new(&mut pieces).poll_frame(cx))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(frame.into_data().unwrap().len(), 38);
        assert_eq!(count.load(Ordering::Acquire), 1);
        assert!(
            std::future::poll_fn(|cx| Pin::new(&mut pieces).poll_frame(cx))
                .await
                .is_none()
        );
    }

    /// A body trickled one byte per frame is handed on in pieces of `BODY_PIECE` (the last
    /// shorter), and its request counts as busy only once the body has ended.
    #[tokio::test]
    async fn a_trickled_body_is_handed_on_in_pieces_and_busy_once_whole() {
        let n = BODY_PIECE + 100;
        let frames =
            (0..n).map(|i| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![(i % 251) as u8])));
        let body = axum::body::Body::from_stream(futures::stream::iter(frames));
        let count = Arc::new(AtomicUsize::new(0));
        let busy = Arc::new(Busy::new(&count));
        let mut pieces = Pieces::new(body, busy.clone());
        let mut sizes = Vec::new();
        let mut whole = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|cx| Pin::new(&mut pieces).poll_frame(cx)).await
        {
            let data = frame.unwrap().into_data().unwrap();
            assert_eq!(
                count.load(Ordering::Acquire),
                usize::from(sizes.len() == 1),
                "busy only at the end"
            );
            sizes.push(data.len());
            whole.extend_from_slice(&data);
        }
        assert_eq!(sizes, [BODY_PIECE, 100]);
        assert_eq!(whole.len(), n);
        assert!(whole.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        assert_eq!(count.load(Ordering::Acquire), 1);
        busy.leave();
        busy.leave();
        assert_eq!(count.load(Ordering::Acquire), 0, "left once");
    }

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
