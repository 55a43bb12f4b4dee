//! S3-compatible object storage for the media store (AWS S3, MinIO, Ceph, R2…): `PUT`,
//! `GET`, `HEAD` and `DELETE` of one object, and listing by prefix (ListObjectsV2, see
//! `s3_list`), path-style (`{endpoint}/{bucket}/{key}`),
//! signed with AWS Signature Version 4 over `reqwest` and the `hmac`/`sha2` Parley already
//! has. A file is uploaded from its verified temporary file, streamed, with its SHA-256 as
//! the signed payload hash, so the object store checks the bytes too.

pub mod list;

use crate::config::MediaS3Config;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;
use tokio::io::{AsyncRead, ReadBuf};

/// SHA-256 of an empty payload (GET, HEAD, DELETE).
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[derive(Clone)]
pub struct S3 {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    bucket: String,
    region: String,
    key_id: String,
    secret: String,
    prefix: String,
}

// By hand, so the secret key never reaches a log line.
impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3")
            .field("endpoint", &self.endpoint.as_str())
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl S3 {
    pub fn new(http: reqwest::Client, config: &MediaS3Config) -> Result<Self, String> {
        let endpoint = reqwest::Url::parse(config.endpoint.trim_end_matches('/'))
            .map_err(|e| format!("media.s3.endpoint: {e}"))?;
        Ok(Self {
            http,
            endpoint,
            bucket: config.bucket.clone(),
            region: config.region.clone(),
            key_id: config.access_key_id.clone(),
            secret: config.secret_access_key.clone(),
            prefix: config.prefix.clone(),
        })
    }

    fn url(&self, name: &str) -> reqwest::Url {
        let mut url = self.endpoint.clone();
        let path = format!(
            "{}/{}/{}{}",
            self.endpoint.path().trim_end_matches('/'),
            self.bucket,
            self.prefix,
            name
        );
        url.set_path(&path);
        url
    }

    fn signed(
        &self,
        method: reqwest::Method,
        name: &str,
        payload_sha256: &str,
    ) -> reqwest::RequestBuilder {
        self.signed_url(method, self.url(name), "", payload_sha256)
    }

    /// A request to `url` (whose query, if any, is `query`, already in SigV4's canonical
    /// form), signed.
    fn signed_url(
        &self,
        method: reqwest::Method,
        mut url: reqwest::Url,
        query: &str,
        payload_sha256: &str,
    ) -> reqwest::RequestBuilder {
        url.set_query((!query.is_empty()).then_some(query));
        let now = Utc::now();
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let host = host_header(&url);
        let headers = [
            ("host", host.as_str()),
            ("x-amz-content-sha256", payload_sha256),
            ("x-amz-date", amz_date.as_str()),
        ];
        let authorization = authorization_with_query(
            &Signing {
                key_id: &self.key_id,
                secret: &self.secret,
                region: &self.region,
                now,
            },
            method.as_str(),
            url.path(),
            query,
            &headers,
            payload_sha256,
        );
        self.http
            .request(method, url)
            .header("x-amz-content-sha256", payload_sha256)
            .header("x-amz-date", amz_date)
            .header("authorization", authorization)
    }

    /// Uploads the file at `path` (`len` bytes, SHA-256 `sha256` in hex) as `name`.
    pub async fn put_file(
        &self,
        name: &str,
        path: &Path,
        len: u64,
        sha256: &str,
    ) -> io::Result<()> {
        let file = tokio::fs::File::open(path).await?;
        let response = self
            .signed(reqwest::Method::PUT, name, sha256)
            .header("content-length", len)
            .body(reqwest::Body::wrap(FileBody {
                file,
                buf: vec![0; 64 * 1024],
            }))
            .send()
            .await
            .map_err(io::Error::other)?;
        expect_success("PUT", name, response.status())
    }

    /// The object `name` as a response to stream, with its length (0 when the answer did not
    /// say); `None` if missing.
    pub async fn get(&self, name: &str) -> io::Result<Option<(reqwest::Response, u64)>> {
        let response = self
            .signed(reqwest::Method::GET, name, EMPTY_SHA256)
            .send()
            .await
            .map_err(io::Error::other)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        expect_success("GET", name, response.status())?;
        let len = response.content_length().unwrap_or(0);
        Ok(Some((response, len)))
    }

    /// When `name` was last written; `None` if missing.
    pub async fn modified(&self, name: &str) -> io::Result<Option<SystemTime>> {
        let response = self
            .signed(reqwest::Method::HEAD, name, EMPTY_SHA256)
            .send()
            .await
            .map_err(io::Error::other)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        expect_success("HEAD", name, response.status())?;
        let modified = response
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|t| SystemTime::from(t.with_timezone(&Utc)))
            .ok_or_else(|| io::Error::other(format!("HEAD {name}: no Last-Modified")))?;
        Ok(Some(modified))
    }

    /// Every object whose name starts with `prefix` (names and sizes, without the bucket's
    /// own `prefix`), page by page; bounded by `list::MAX_KEYS`, `list::MAX_PAGES` and
    /// `list::MAX_PAGE_BYTES` per page.
    pub async fn list(&self, prefix: &str) -> io::Result<Vec<list::Object>> {
        let full = format!("{}{prefix}", self.prefix);
        let mut url = self.endpoint.clone();
        url.set_path(&format!(
            "{}/{}",
            self.endpoint.path().trim_end_matches('/'),
            self.bucket
        ));
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..list::MAX_PAGES {
            // The canonical query: names sorted, every name and value encoded.
            let mut query = String::new();
            if let Some(token) = &token {
                query.push_str("continuation-token=");
                crate::net::percent_encode_into(&mut query, token, b"");
                query.push('&');
            }
            query.push_str("list-type=2&prefix=");
            crate::net::percent_encode_into(&mut query, &full, b"");
            let what = format!("GET {}?list-type=2&prefix={full}", self.bucket);
            let mut response = self
                .signed_url(reqwest::Method::GET, url.clone(), &query, EMPTY_SHA256)
                .send()
                .await
                .map_err(io::Error::other)?;
            expect_success("GET", &what, response.status())?;
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(io::Error::other)? {
                if body.len() + chunk.len() > list::MAX_PAGE_BYTES {
                    return Err(io::Error::other(format!(
                        "{what}: a page of the listing is more than {} bytes",
                        list::MAX_PAGE_BYTES
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(body)
                .map_err(|_| io::Error::other(format!("{what}: the listing is not UTF-8")))?;
            let page =
                list::parse_page(&text).map_err(|e| io::Error::other(format!("{what}: {e}")))?;
            for object in page.objects {
                // Only what was asked for (a store that answers more is not believed).
                if let Some(name) = object.key.strip_prefix(&self.prefix) {
                    if name.starts_with(prefix) {
                        objects.push(list::Object {
                            key: name.to_string(),
                            size: object.size,
                        });
                    }
                }
            }
            if objects.len() > list::MAX_KEYS {
                return Err(io::Error::other(format!(
                    "{what}: the listing has more than {} keys",
                    list::MAX_KEYS
                )));
            }
            match page.next {
                Some(next) => token = Some(next),
                None => return Ok(objects),
            }
        }
        Err(io::Error::other(format!(
            "GET {}?list-type=2&prefix={full}: the listing has more than {} pages",
            self.bucket,
            list::MAX_PAGES
        )))
    }

    pub async fn delete(&self, name: &str) -> io::Result<()> {
        let response = self
            .signed(reqwest::Method::DELETE, name, EMPTY_SHA256)
            .send()
            .await
            .map_err(io::Error::other)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        expect_success("DELETE", name, response.status())
    }
}

fn expect_success(method: &str, name: &str, status: reqwest::StatusCode) -> io::Result<()> {
    if status.is_success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the object store answered HTTP {status} to {method} {name}"
        )))
    }
}

/// `host` or `host:port` when the port is not the scheme's default.
fn host_header(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Who signs, for which region, when.
pub struct Signing<'a> {
    pub key_id: &'a str,
    pub secret: &'a str,
    pub region: &'a str,
    pub now: DateTime<Utc>,
}

/// The `Authorization` header of a SigV4-signed S3 request with no query string.
/// `headers`: the signed headers, lowercase names, sorted by name.
pub fn authorization(
    signing: &Signing<'_>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    payload_sha256: &str,
) -> String {
    authorization_with_query(signing, method, path, "", headers, payload_sha256)
}

/// As `authorization`, for a request whose canonical query string (names sorted, names and
/// values encoded, `&`-joined) is `query`.
pub fn authorization_with_query(
    signing: &Signing<'_>,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    payload_sha256: &str,
) -> String {
    let amz_date = signing.now.format("%Y%m%dT%H%M%SZ").to_string();
    let date = signing.now.format("%Y%m%d").to_string();
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{method}\n{}\n{query}\n{canonical_headers}\n{signed_headers}\n{payload_sha256}",
        uri_encode_path(path)
    );
    let scope = format!("{date}/{}/s3/aws4_request", signing.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{}", signing.secret).as_bytes(),
        date.as_bytes(),
    );
    for part in [signing.region, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        signing.key_id
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Each path segment percent-encoded as SigV4 wants (unreserved characters kept, `/` kept
/// between segments). `reqwest::Url` has already encoded what a URL must; this decodes
/// nothing and encodes what remains (e.g. `$`).
fn uri_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    crate::net::percent_encode_into(&mut out, path, b"/%");
    out
}

/// A file as a request body, read in chunks as the request is sent.
struct FileBody {
    file: tokio::fs::File,
    buf: Vec<u8>,
}

impl hyper::body::Body for FileBody {
    type Data = hyper::body::Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) if read.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(hyper::body::Frame::data(
                hyper::body::Bytes::copy_from_slice(read.filled()),
            )))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws_example() -> Signing<'static> {
        Signing {
            key_id: "AKIAIOSFODNN7EXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
            now: DateTime::parse_from_rfc3339("2013-05-24T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    /// AWS's documented example "GET Object" (Signature Version 4, header-based auth).
    #[test]
    fn signs_awss_documented_get_object_example() {
        let auth = authorization(
            &aws_example(),
            "GET",
            "/test.txt",
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ],
            EMPTY_SHA256,
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// AWS's documented example "GET Bucket (List Objects)": a signed query string.
    #[test]
    fn signs_awss_documented_list_objects_example() {
        let auth = authorization_with_query(
            &aws_example(),
            "GET",
            "/",
            "max-keys=2&prefix=J",
            &[
                ("host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ],
            EMPTY_SHA256,
        );
        assert!(
            auth.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{auth}"
        );
    }

    #[test]
    fn paths_are_encoded_as_sigv4_wants() {
        assert_eq!(
            uri_encode_path("/bucket/ab/c.d-e_f~"),
            "/bucket/ab/c.d-e_f~"
        );
        assert_eq!(uri_encode_path("/test$file.text"), "/test%24file.text");
    }
}
