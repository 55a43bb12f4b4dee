//! Reading an answer from a server Parley does not control: `Content-Length` is checked
//! before anything is read, then the body is read chunk by chunk and abandoned as soon as
//! it passes the limit. Memory stays bounded by the limit whatever the server claims or
//! streams (chunked, no length, endless).

/// Why an answer's body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {}", size(*.limit))]
    TooLarge { limit: usize },
    #[error("the answer was cut off: {0}")]
    Read(#[source] reqwest::Error),
}

/// The body of `response`, at most `max` bytes.
pub async fn read_limited(
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(BodyError::TooLarge { limit: max });
    }
    let mut body = Vec::with_capacity(
        response
            .content_length()
            .map_or(8 * 1024, |len| len as usize)
            .min(max),
    );
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge { limit: max });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers every connection with `head` and then `chunks` chunks of
    /// 64 KiB in chunked encoding (no Content-Length), or until the client hangs up.
    async fn streaming_server(head: &'static str, chunks: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 64 * 1024];
                    let frame = [
                        format!("{:x}\r\n", chunk.len()).into_bytes(),
                        chunk,
                        b"\r\n".to_vec(),
                    ]
                    .concat();
                    for _ in 0..chunks {
                        if socket.write_all(&frame).await.is_err() {
                            return;
                        }
                    }
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                });
            }
        });
        format!("http://{addr}/")
    }

    const CHUNKED: &str =
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";

    #[tokio::test]
    async fn a_streamed_answer_past_the_limit_is_abandoned() {
        // 16 GiB announced by nobody: the read stops just after 1 MiB.
        let url = streaming_server(CHUNKED, 256 * 1024).await;
        let response = reqwest::get(&url).await.unwrap();
        let err = read_limited(response, 1024 * 1024).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { .. }), "{err}");
        assert_eq!(err.to_string(), "the answer is larger than 1 MiB");
    }

    #[tokio::test]
    async fn a_claimed_length_past_the_limit_is_refused_before_reading() {
        let url =
            streaming_server("HTTP/1.1 200 OK\r\ncontent-length: 2147483648\r\n\r\n", 0).await;
        let response = reqwest::get(&url).await.unwrap();
        let err = read_limited(response, 1024 * 1024).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { .. }), "{err}");
    }

    #[tokio::test]
    async fn an_answer_within_the_limit_is_read_whole() {
        let url = streaming_server(CHUNKED, 4).await;
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(
            read_limited(response, 1024 * 1024).await.unwrap().len(),
            4 * 64 * 1024
        );
    }
}
