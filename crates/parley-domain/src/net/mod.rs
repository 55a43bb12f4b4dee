//! Outbound HTTP that someone other than the operator points somewhere: `http` steps in
//! flows and the API's media checks. `address` says which IP addresses are internal,
//! `guard` keeps requests (and their redirects, and DNS answers) away from them, `body`
//! reads answers without letting a server decide how much memory Parley uses.

pub mod address;
pub mod body;
pub mod guard;

pub use address::{is_forbidden, is_metadata};
pub use body::{read_limited, BodyError};
pub use guard::{client_builder, refusal, refused_address, Guard, Refused, MAX_REDIRECTS};

/// Whether a URL's host (`10.0.0.5`, `[::1]`, `a.localhost.`) is on this machine or a
/// private network, as written: an address `is_forbidden` refuses, or a `localhost` name.
/// A public name may still resolve to a private address; the connecting guard sees that.
pub fn is_private_host(host: &str) -> bool {
    match host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
        Ok(ip) => is_forbidden(ip),
        Err(_) => {
            let name = host.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// Appends `value` to `out` with every byte but RFC 3986's unreserved ones (letters,
/// digits, `-._~`) and those in `keep` written as `%XX`: a value put into a URL stays one
/// value (an `http` step's blanks keep nothing; S3's signed paths keep `/` and `%`).
pub fn percent_encode_into(out: &mut String, value: &str, keep: &[u8]) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep.contains(&b)
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The client files are downloaded with (inbound media, voice notes to transcribe): the
/// whole download within `timeout`, at most 3 redirects (reqwest drops credentials on a
/// redirect to another host).
pub fn media_client(timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
}

/// A server on this machine that answers one request with its headers at once (a body of
/// 100 bytes announced), then sends the body a byte every 100 ms: for tests of timeouts
/// that end an answer trickling in.
#[cfg(any(test, feature = "test-support"))]
pub async fn trickling_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let _ = socket
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n",
            )
            .await;
        for _ in 0..100 {
            if socket.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    addr
}
