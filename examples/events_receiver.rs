//! A webhook receiver for measuring events out (BENCHMARKS.md, "Events out"): `ok` answers
//! every POST with 204 at once, `hang` accepts connections and never answers. It counts
//! what it got (requests; connections when hanging) and prints the count every 5 seconds.
//!
//! `cargo run --release --example events_receiver -- 127.0.0.1:9400 ok`

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9400".into());
    let hang = args.next().as_deref() == Some("hang");
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("binds");
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            eprintln!("events_receiver: {} requests", c.load(Ordering::Relaxed));
        }
    });
    let mut held = Vec::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if hang {
            count.fetch_add(1, Ordering::Relaxed);
            // Never read, never answer, never close.
            held.push(stream);
            continue;
        }
        let count = count.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                count.fetch_add(1, Ordering::Relaxed);
                async move {
                    drop(req);
                    Ok::<_, Infallible>(
                        Response::builder()
                            .status(204)
                            .body(axum::body::Body::empty())
                            .unwrap(),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
