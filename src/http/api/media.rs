//! Media URLs are checked before a send is accepted, against WhatsApp's limits (seed 003's
//! table): Image 5 MB JPEG/PNG; Video 16 MB MP4 (and 3GPP, seed 004); Audio 16 MB
//! AAC/MP3/M4A/AMR/OGG; Document 100 MB PDF/DOC/DOCX/PPT/PPTX/TXT.
//!
//! How: one HEAD request (no redirects followed, `api.media_check.timeout`) through the
//! network guard (`crate::net`): a host that is, or resolves to, a private, loopback,
//! link-local or other internal address is refused, and the connection goes to the address
//! that was checked (unless `api.media_check.allow_private_networks`). `Content-Type` must be an accepted type (a
//! missing or `application/octet-stream` type falls back to the URL's extension) and
//! `Content-Length`, when given, within the size limit; a missing length is accepted (the
//! provider enforces it). 404/410 is refused. Anything else that prevents a verdict (no
//! answer, 3xx, 403, 405, 5xx) is accepted by default and refused with
//! `when_unverifiable: refuse`.

use crate::config::{MediaCheckConfig, Unverifiable};
use crate::domain::limits::media_bytes_max;
use crate::domain::MediaKind;
use crate::http::error::Error;
use axum::http::StatusCode;

/// Why a media URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaProblem {
    /// Not an http(s) URL: bad input (400).
    BadUrl(String),
    /// A proper URL whose file does not qualify (422).
    Unacceptable(String),
}

/// 422 naming `media_url`: `VALIDATION_ERROR` for a bad URL, `INVALID_MEDIA` for a file
/// that does not qualify. (`/api/v1` answers a bad URL with 400, see `messages_v1`.)
impl From<MediaProblem> for Error {
    fn from(p: MediaProblem) -> Self {
        match p {
            MediaProblem::BadUrl(m) => Error::field("media_url", m),
            MediaProblem::Unacceptable(m) => {
                Error::new(StatusCode::UNPROCESSABLE_ENTITY, "INVALID_MEDIA", m)
                    .with_field("media_url")
            }
        }
    }
}

const MB: u64 = 1024 * 1024;

/// Accepted MIME types and file extensions, and the size limit, of a media kind.
pub fn limits(kind: MediaKind) -> (&'static [&'static str], &'static [&'static str], u64) {
    match kind {
        MediaKind::Image => (
            &["image/jpeg", "image/png"],
            &["jpg", "jpeg", "png"],
            media_bytes_max(MediaKind::Image),
        ),
        MediaKind::Video => (
            &["video/mp4", "video/3gpp"],
            &["mp4", "3gp"],
            media_bytes_max(MediaKind::Video),
        ),
        MediaKind::Audio => (
            &[
                "audio/aac",
                "audio/mpeg",
                "audio/mp3",
                "audio/mp4",
                "audio/m4a",
                "audio/x-m4a",
                "audio/amr",
                "audio/ogg",
            ],
            &["aac", "mp3", "m4a", "amr", "ogg"],
            media_bytes_max(MediaKind::Audio),
        ),
        MediaKind::Document => (
            &[
                "application/pdf",
                "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.ms-powerpoint",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                "text/plain",
            ],
            &["pdf", "doc", "docx", "ppt", "pptx", "txt"],
            media_bytes_max(MediaKind::Document),
        ),
        MediaKind::Sticker => (
            &["image/webp"],
            &["webp"],
            media_bytes_max(MediaKind::Sticker),
        ),
    }
}

fn describe(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "JPEG or PNG, at most 5 MB",
        MediaKind::Video => "MP4 or 3GPP, at most 16 MB",
        MediaKind::Audio => "AAC, MP3, M4A, AMR or OGG, at most 16 MB",
        MediaKind::Document => "PDF, DOC, DOCX, PPT, PPTX or TXT, at most 100 MB",
        MediaKind::Sticker => "WEBP, at most 500 KB",
    }
}

/// The URL must be http(s) with a host; returns it parsed.
pub fn parse_url(field: &str, url: &str) -> Result<reqwest::Url, MediaProblem> {
    let parsed = reqwest::Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            MediaProblem::BadUrl(format!(
                "{field} must be a URL starting with http:// or https://"
            ))
        })?;
    Ok(parsed)
}

/// What a HEAD answer says about a file of `kind`, as a pure function.
pub fn judge(
    kind: MediaKind,
    url: &reqwest::Url,
    content_type: Option<&str>,
    content_length: Option<u64>,
) -> Result<(), MediaProblem> {
    let (types, extensions, max) = limits(kind);
    let mime = content_type
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|t| !t.is_empty() && t != "application/octet-stream" && t != "binary/octet-stream");
    let ok_type = match &mime {
        Some(t) => types.contains(&t.as_str()),
        None => {
            let ext = url
                .path()
                .rsplit('/')
                .next()
                .and_then(|name| name.rsplit_once('.'))
                .map(|(_, e)| e.to_ascii_lowercase());
            ext.is_some_and(|e| extensions.contains(&e.as_str()))
        }
    };
    if !ok_type {
        return Err(MediaProblem::Unacceptable(format!(
            "media_url is {}; {} messages accept {}",
            mime.as_deref().unwrap_or("a file of unknown type"),
            kind.as_str(),
            describe(kind)
        )));
    }
    if let Some(len) = content_length.filter(|l| *l > max) {
        return Err(MediaProblem::Unacceptable(format!(
            "media_url is {:.1} MB; {} messages accept {}",
            len as f64 / MB as f64,
            kind.as_str(),
            describe(kind)
        )));
    }
    Ok(())
}

fn refused(r: crate::net::Refused) -> MediaProblem {
    MediaProblem::Unacceptable(format!(
        "media_url points to a private network address ({}); only public URLs can be sent",
        r.ip
    ))
}

/// The client of media checks: HEAD only, no redirects followed (a 3xx is "unverifiable"),
/// names resolved through the network guard unless private networks are allowed.
pub fn client(cfg: &MediaCheckConfig) -> reqwest::Client {
    crate::net::client_builder(cfg.allow_private_networks, 0)
        .timeout(cfg.timeout)
        .build()
        .unwrap_or_default()
}

/// Checks a media URL for a message of `kind` (see the module docs).
pub async fn check(
    http: &reqwest::Client,
    cfg: &MediaCheckConfig,
    kind: MediaKind,
    url: &str,
) -> Result<(), MediaProblem> {
    let url = parse_url("media_url", url)?;
    if !cfg.enabled {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().to_string();
    if !cfg.allow_private_networks {
        // Literal addresses here; names are refused by the client's resolver (below).
        crate::net::Guard::system()
            .check_url(&url)
            .map_err(refused)?;
    }
    let unverifiable = |why: String| match cfg.when_unverifiable {
        Unverifiable::Accept => {
            tracing::info!(%host, %why, "media URL could not be checked; accepted, the provider will judge it");
            Ok(())
        }
        Unverifiable::Refuse => Err(MediaProblem::Unacceptable(format!(
            "media_url could not be checked: {why}"
        ))),
    };
    let response = match http.head(url.clone()).timeout(cfg.timeout).send().await {
        Ok(r) => r,
        Err(e) => {
            if let Some(why) = crate::net::refusal(&e) {
                return Err(MediaProblem::Unacceptable(format!(
                    "media_url points to a private network address: {why}; only public URLs can be sent"
                )));
            }
            if e.is_timeout() {
                return unverifiable(format!("{host} did not answer in time"));
            }
            return unverifiable(format!("{host} could not be reached ({e})"));
        }
    };
    let status = response.status();
    if status.as_u16() == 404 || status.as_u16() == 410 {
        return Err(MediaProblem::Unacceptable(format!(
            "media_url was not found (HTTP {})",
            status.as_u16()
        )));
    }
    if !status.is_success() {
        return unverifiable(format!("{host} answered HTTP {}", status.as_u16()));
    }
    let headers = response.headers();
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let length = headers
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(declared_length);
    judge(kind, &url, content_type, length)
}

/// A `Content-Length` as a size: digits past what 64 bits hold are a file too large for
/// any message, not an unknown size; anything but digits (`-5`) says nothing.
fn declared_length(value: &str) -> Option<u64> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn a_length_too_long_to_read_is_too_large_and_a_negative_one_unknown() {
        assert_eq!(declared_length(" 5242881 "), Some(5_242_881));
        assert_eq!(declared_length("99999999999999999999999"), Some(u64::MAX));
        assert!(judge(
            MediaKind::Image,
            &url("https://a.example/x.png"),
            Some("image/png"),
            declared_length("99999999999999999999999"),
        )
        .is_err());
        for nothing in ["-5", "", "5e3", "0x10"] {
            assert_eq!(declared_length(nothing), None, "{nothing}");
        }
    }

    #[test]
    fn types_and_sizes_follow_whatsapps_limits() {
        let u = url("https://example.com/a");
        assert!(judge(MediaKind::Image, &u, Some("image/png"), Some(5 * MB)).is_ok());
        assert!(judge(MediaKind::Image, &u, Some("image/jpeg; charset=x"), None).is_ok());
        assert!(judge(MediaKind::Image, &u, Some("image/gif"), Some(10)).is_err());
        assert!(judge(MediaKind::Image, &u, Some("image/png"), Some(5 * MB + 1)).is_err());
        assert!(judge(MediaKind::Video, &u, Some("video/mp4"), Some(16 * MB)).is_ok());
        assert!(judge(MediaKind::Audio, &u, Some("audio/ogg"), None).is_ok());
        assert!(judge(
            MediaKind::Document,
            &u,
            Some("application/pdf"),
            Some(100 * MB)
        )
        .is_ok());
        assert!(judge(
            MediaKind::Document,
            &u,
            Some("application/pdf"),
            Some(100 * MB + 1)
        )
        .is_err());
    }

    #[test]
    fn unknown_types_fall_back_to_the_extension() {
        let pdf = url("https://example.com/files/report.PDF");
        assert!(judge(
            MediaKind::Document,
            &pdf,
            Some("application/octet-stream"),
            None
        )
        .is_ok());
        assert!(judge(MediaKind::Document, &pdf, None, None).is_ok());
        assert!(judge(MediaKind::Image, &pdf, None, None).is_err());
    }

    #[test]
    fn only_http_urls_are_media_urls() {
        assert!(parse_url("media_url", "ftp://example.com/a.png").is_err());
        assert!(parse_url("media_url", "not a url").is_err());
        assert!(parse_url("media_url", "https://example.com/a.png").is_ok());
    }
}
