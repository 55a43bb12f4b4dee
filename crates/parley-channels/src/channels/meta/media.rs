//! Inbound media from the Graph API: `GET /{media-id}` (with the sender's token) answers
//! with a URL valid for a few minutes and the file's MIME type, SHA-256 and size; `GET` on
//! that URL (with the token again) sends the bytes. Meta keeps a media id for 7 days.

use super::wire;
use super::words::{describe_transport, snippet};
use crate::channels::{FetchError, MediaBody, MediaSource};
use crate::config::MetaSettings;

/// The answer naming the file's URL is a few hundred bytes.
const MAX_ANSWER: usize = 64 * 1024;

pub(super) async fn fetch(
    http: &reqwest::Client,
    settings: &MetaSettings,
    source: MediaSource<'_>,
) -> Result<MediaBody, FetchError> {
    let Some(media_id) = source.media_id else {
        return Err(FetchError::Permanent(
            "the webhook gave no media id to download".into(),
        ));
    };
    if media_id.is_empty() || !media_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FetchError::Permanent(format!(
            "`{media_id}` is not a Meta media id"
        )));
    }
    let lookup = format!("{}/{media_id}", settings.api_base.trim_end_matches('/'));
    let answer = http
        .get(&lookup)
        .bearer_auth(&settings.access_token)
        .send()
        .await
        .map_err(|e| {
            FetchError::no_answer(
                &e,
                format!(
                    "no answer from Meta for media {media_id}: {}",
                    describe_transport(&e)
                ),
            )
        })?;
    let status = answer.status();
    let body = crate::net::read_limited(answer, MAX_ANSWER)
        .await
        .map_err(|e| FetchError::Transient(format!("Meta's answer for media {media_id}: {e}")))?;
    if !status.is_success() {
        return Err(FetchError::from_status(
            status,
            format!(
                "Meta answered HTTP {status} for media {media_id}: {}",
                snippet(&body)
            ),
        ));
    }
    let info: wire::MediaUrl = serde_json::from_slice(&body).map_err(|_| {
        FetchError::Permanent(format!(
            "Meta's answer for media {media_id} names no file URL: {}",
            snippet(&body)
        ))
    })?;
    if !token_may_go_to(&info.url, &settings.api_base) {
        return Err(FetchError::Permanent(format!(
            "Meta's answer for media {media_id} names a file URL the access token is not sent to ({}): it must be https on a public host",
            snippet(info.url.as_bytes())
        )));
    }
    let response = http
        .get(&info.url)
        .bearer_auth(&settings.access_token)
        .send()
        .await
        .map_err(|e| {
            FetchError::no_answer(
                &e,
                format!(
                    "no answer from Meta's media server for media {media_id}: {}",
                    describe_transport(&e)
                ),
            )
        })?;
    let status = response.status();
    if !status.is_success() {
        // The URL lives 5 minutes: any refusal is worth a fresh lookup later.
        return Err(FetchError::Transient(format!(
            "Meta's media server answered HTTP {status} for media {media_id}"
        )));
    }
    Ok(MediaBody {
        response,
        mime_type: info.mime_type,
        sha256: info.sha256,
        size: info.file_size.and_then(|s| s.bytes()),
    })
}

/// Whether the access token may go with a request to `url`, the file URL a lookup named:
/// https to a public host (Meta's `lookaside.fbsbx.com`), or the Graph API's own origin
/// (`api_base`, a double on this machine in tests). A broken or hostile answer naming
/// `http://169.254.169.254/…` or `http://localhost:…` would otherwise be sent the token.
fn token_may_go_to(url: &str, api_base: &str) -> bool {
    let (Ok(url), Ok(base)) = (reqwest::Url::parse(url), reqwest::Url::parse(api_base)) else {
        return false;
    };
    if url.origin() == base.origin() {
        return true;
    }
    url.scheme() == "https"
        && url
            .host_str()
            .is_some_and(|h| !crate::net::is_private_host(h))
}

#[cfg(test)]
mod tests {
    use super::token_may_go_to;
    use super::wire::{FileSize, MediaUrl};
    use crate::channels::FetchError;
    use reqwest::StatusCode;

    #[test]
    fn metas_media_url_answer_is_read_with_its_size_as_text_or_number() {
        let fixture = include_str!("../../../../../tests/fixtures/meta/media_url_response.json");
        let answer: MediaUrl = serde_json::from_str(fixture).unwrap();
        assert!(answer
            .url
            .starts_with("https://lookaside.fbsbx.com/whatsapp_business/attachments/"));
        assert_eq!(answer.mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(
            answer.sha256.as_deref(),
            Some("0b28c895dbe49cad540477d9e57fe74466e665ad1aa828d8143d7a21dff0cf1f")
        );
        assert_eq!(answer.file_size.and_then(|s| s.bytes()), Some(303_833));
        let numeric: MediaUrl =
            serde_json::from_str(r#"{"url": "https://x/y", "file_size": 12345}"#).unwrap();
        assert!(matches!(numeric.file_size, Some(FileSize::Number(12345))));
        assert_eq!(FileSize::Text("lots".into()).bytes(), None);
    }

    #[test]
    fn media_request_failures_are_classified_by_status() {
        let class =
            |code: u16| FetchError::from_status(StatusCode::from_u16(code).unwrap(), "x".into());
        for transient in [500, 502, 503, 429, 408, 401, 403] {
            assert!(
                matches!(class(transient), FetchError::Transient(_)),
                "{transient}"
            );
        }
        // An unknown or expired media id does not come back.
        for permanent in [400, 404, 410] {
            assert!(
                matches!(class(permanent), FetchError::Permanent(_)),
                "{permanent}"
            );
        }
    }

    /// The token goes to https on a public host or to the Graph API's own origin only.
    #[test]
    fn the_access_token_goes_only_to_a_public_https_host_or_the_api_itself() {
        let api = "https://graph.facebook.com/v26.0";
        for yes in [
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1",
            "https://graph.facebook.com/v26.0/file",
        ] {
            assert!(token_may_go_to(yes, api), "{yes}");
        }
        for no in [
            "http://lookaside.fbsbx.com/x",
            "http://169.254.169.254/latest/meta-data/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.5/x",
            "https://[::1]/x",
            "https://localhost/x",
            "https://a.localhost./x",
            "not a url",
        ] {
            assert!(!token_may_go_to(no, api), "{no}");
        }
        // A double on this machine, as the tests' Graph API is.
        assert!(token_may_go_to(
            "http://127.0.0.1:9000/file/1",
            "http://127.0.0.1:9000/v26.0"
        ));
        assert!(!token_may_go_to(
            "http://127.0.0.1:9001/file/1",
            "http://127.0.0.1:9000/v26.0"
        ));
    }
}
