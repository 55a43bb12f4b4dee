//! Inbound media kept by Parley: `GET /api/media/{sha256}` sends a stored file (streamed
//! from the media store, never read whole into memory), and
//! `GET /api/messages/{message_id}/media` says what became of an inbound message's media
//! (queued, stored with its file's address, or failed with the reason). Both need an API
//! key like the rest of the API. Files are what customers sent: they are served so that a
//! browser never runs them (`nosniff`, a sandboxing `Content-Security-Policy`, and
//! `attachment` for anything but plain images, audio and video).

use crate::http::error::{Error, PathParam};
use crate::http::state::AppState;
use crate::store::files::{is_sha256_name, MediaBytes};
use crate::store::{DownloadStatus, MediaRecord};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

/// Bytes read from the file per chunk of the answer.
const CHUNK: usize = 64 * 1024;

/// `GET /api/media/{sha256}`.
pub async fn file(
    State(st): State<AppState>,
    PathParam(sha256): PathParam,
) -> Result<Response, Error> {
    let missing = || Error::not_found(format!("no stored media file {sha256}"));
    if !is_sha256_name(&sha256) {
        return Err(Error::not_found(
            "a media file is named by the 64 lowercase hex digits of its SHA-256",
        ));
    }
    let record = st.store.stored_media(&sha256).await?.ok_or_else(missing)?;
    let (file, len) = st
        .media_files
        .open(&sha256)
        .await
        .map_err(|e| {
            tracing::error!(%sha256, error = %e, "a stored media file could not be read");
            Error::unavailable("the media file could not be read, please retry")
        })?
        .ok_or_else(missing)?;
    Ok(serve(file, len, &record))
}

/// `GET /api/messages/{message_id}/media`: `message_id` is the inbound message's id in
/// `GET /api/conversations/{id}/messages`.
pub async fn of_message(
    State(st): State<AppState>,
    PathParam(raw): PathParam,
) -> Result<Json<Value>, Error> {
    let Some(message_id) = raw.parse::<i64>().ok().filter(|id| *id > 0) else {
        return Err(Error::not_found(format!(
            "no message has the id `{}`: `message_id` is the whole number `id` of an inbound message in GET /api/conversations/{{id}}/messages",
            raw.chars().take(40).collect::<String>()
        )));
    };
    let record =
        st.store.event_media(message_id).await?.ok_or_else(|| {
            Error::not_found(format!("message {message_id} has no inbound media"))
        })?;
    Ok(Json(json!({ "success": true, "media": describe(&record) })))
}

/// A download as the API shows it.
pub fn describe(r: &MediaRecord) -> Value {
    json!({
        "message_id": r.event_id,
        "provider_message_id": r.provider_message_id,
        "conversation_id": r.conversation_id,
        "kind": r.kind.as_str(),
        "status": r.status.as_str(),
        "attempts": r.attempts,
        "error": r.error,
        "sha256": r.sha256,
        "content_type": r.content_type,
        "size_bytes": r.size_bytes,
        "url": (r.status == DownloadStatus::Stored)
            .then(|| r.sha256.as_ref().map(|s| format!("/api/media/{s}")))
            .flatten(),
        "received_at": r.created_at.to_rfc3339(),
        "stored_at": r.stored_at.map(|t| t.to_rfc3339()),
    })
}

/// Whether a browser may show this type in place: images (not SVG, which can hold
/// scripts), audio and video.
fn inline(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    (essence.starts_with("image/") && essence != "image/svg+xml")
        || essence.starts_with("audio/")
        || essence.starts_with("video/")
}

/// The file as an answer, streamed in chunks (from the folder or the object store).
pub fn serve(bytes: MediaBytes, len: u64, record: &MediaRecord) -> Response {
    let content_type = record
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let disposition = if inline(&content_type) {
        "inline"
    } else {
        "attachment"
    };
    let stream = futures::stream::unfold(Some(bytes), |bytes| async move {
        let next = match bytes? {
            MediaBytes::File(mut file) => {
                let mut buf = vec![0u8; CHUNK];
                match file.read(&mut buf).await {
                    Ok(0) => return None,
                    Ok(n) => {
                        buf.truncate(n);
                        (Ok(buf), Some(MediaBytes::File(file)))
                    }
                    Err(e) => (Err(e), None),
                }
            }
            MediaBytes::Remote(mut response) => match response.chunk().await {
                Ok(None) => return None,
                Ok(Some(chunk)) => (Ok(chunk.to_vec()), Some(MediaBytes::Remote(response))),
                Err(e) => (Err(std::io::Error::other(e)), None),
            },
        };
        Some(next)
    });
    let mut response = Body::from_stream(stream).into_response();
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    let value = |v: &str| {
        HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("application/octet-stream"))
    };
    headers.insert(header::CONTENT_TYPE, value(&content_type));
    // An object store that did not say its length streams without one, never "0".
    if len > 0 {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static(disposition),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    // The name is the content: it never changes.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    if let Some(sha256) = &record.sha256 {
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{sha256}\"")) {
            headers.insert(header::ETAG, etag);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::inline;

    #[test]
    fn only_plain_images_audio_and_video_are_shown_in_place() {
        for t in [
            "image/jpeg",
            "image/webp",
            "audio/ogg; codecs=opus",
            "video/mp4",
        ] {
            assert!(inline(t), "{t}");
        }
        for t in [
            "image/svg+xml",
            "text/html",
            "application/pdf",
            "application/octet-stream",
        ] {
            assert!(!inline(t), "{t}");
        }
    }
}
