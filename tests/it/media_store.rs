//! Inbound media that outlives Meta's seven days: a customer's photo is downloaded from the
//! Graph API double (the media id's URL, then the file, both with the sender's token),
//! checked against the SHA-256 the webhook declared, stored under its own hash and served
//! by the API with a key only; failures are retried durably, across a restart; Twilio's
//! `MediaUrl0` is fetched with the account's credentials; a sandbox customer's file shows
//! in the sandbox; and the retention sweep deletes what is past `media.retention`.

use crate::helpers::*;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "test-key-media";
const CUSTOMER: &str = "16315551181";
/// Meta's answer to `GET /{media-id}`, as documented (`tests/fixtures/meta`).
const MEDIA_URL_ANSWER: &str = include_str!("../fixtures/meta/media_url_response.json");
/// A small JPEG-looking file (the bytes only need to be bytes).
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 this is how the box arrived \xff\xd9";

fn sha_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn sha_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Parley with an API key, its media in `media` and quick retries.
async fn app_with(media: &Path, extra: &str, database_url: Option<String>) -> TestApp {
    let retry = if extra.contains("retry:") {
        ""
    } else {
        ", retry: { initial: 50ms, max_delay: 200ms, max_attempts: 3 }"
    };
    spawn_with(Options {
        database_url,
        extra_yaml: format!(
            "api_keys:\n  - {{ name: media, key_sha256: \"{}\" }}\nrate_limit: {{ per_second: 1000, burst: 1000 }}\nmedia: {{ dir: \"{}\", poll_interval: 50ms{retry}{extra} }}\n",
            sha_hex(KEY.as_bytes()),
            media.display()
        ),
        ..Options::default()
    })
    .await
}

/// A Meta image webhook as Meta sends it (`tests/fixtures/meta/image.json`'s shape).
fn meta_photo(wamid: &str, media_id: &str, sha256: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": "Sheena Nelson" }, "wa_id": CUSTOMER }],
            "messages": [{ "from": CUSTOMER, "id": wamid, "timestamp": now_unix().to_string(), "type": "image",
                "image": { "caption": "This is how the box arrived", "mime_type": "image/jpeg",
                           "sha256": sha256, "id": media_id } }]
        }}]}]
    }))
    .unwrap()
}

/// The Graph API double serves `media_id`: its URL answer (with `sha256` in hex as Meta
/// writes it there) and the file, both only with the sender's token.
async fn serve_media(meta: &MockServer, media_id: &str, bytes: &[u8]) {
    serve_media_after(meta, media_id, bytes, Duration::ZERO).await
}

/// `serve_media`, the file answered after `delay`.
async fn serve_media_after(meta: &MockServer, media_id: &str, bytes: &[u8], delay: Duration) {
    let mut answer: Value = serde_json::from_str(MEDIA_URL_ANSWER).unwrap();
    answer["id"] = json!(media_id);
    answer["url"] = json!(format!(
        "{}/whatsapp_business/attachments/{media_id}",
        meta.uri()
    ));
    answer["sha256"] = json!(sha_hex(bytes));
    answer["file_size"] = json!(bytes.len().to_string());
    Mock::given(method("GET"))
        .and(path(format!("/v26.0/{media_id}")))
        .and(header("authorization", "Bearer test-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(meta)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/whatsapp_business/attachments/{media_id}")))
        .and(header("authorization", "Bearer test-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/jpeg")
                .set_body_bytes(bytes.to_vec())
                .set_delay(delay),
        )
        .mount(meta)
        .await;
}

/// The inbound message's id in the API (its event id), from the Meta sender.
async fn message_id(app: &TestApp, wamid: &str) -> i64 {
    message_id_of(app, 1, wamid).await
}

/// The id of the message `wamid` that `CUSTOMER` sent to sender `sender`.
async fn message_id_of(app: &TestApp, sender: i64, wamid: &str) -> i64 {
    eventually(Duration::from_secs(10), "the message is stored", || async {
        let conversation = app
            .store
            .find_conversation(sender, &format!("+{CUSTOMER}"))
            .await
            .unwrap()?;
        app.store
            .conversation_inbound(conversation.id, None, 50)
            .await
            .unwrap()
            .into_iter()
            .find(|e| match &e.kind {
                parley::domain::EventKind::Message(m) => m.provider_message_id == wamid,
                _ => false,
            })
            .map(|e| e.id)
    })
    .await
}

/// `GET /api/messages/{id}/media` once its download has ended (stored or failed).
async fn settled_media(app: &TestApp, id: i64) -> Value {
    eventually(Duration::from_secs(15), "the download ends", || async {
        let (status, body) = get_keyed(app, &format!("/api/messages/{id}/media")).await;
        assert_eq!(status, 200, "{body}");
        (body["media"]["status"] != "queued").then(|| body["media"].clone())
    })
    .await
}

async fn get_keyed(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app
        .http
        .get(format!("{}{path}", app.addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn file_in(media: &Path, sha: &str) -> std::path::PathBuf {
    media.join(&sha[..2]).join(&sha[2..4]).join(sha)
}

#[tokio::test]
async fn a_customers_photo_is_stored_verified_and_served_only_with_a_key() {
    let media = tempfile::tempdir().unwrap();
    let app = app_with(media.path(), "", None).await;
    serve_media(&app.meta, "1519222646142028", PHOTO).await;
    let r = app
        .post_meta(&meta_photo(
            "wamid.photo1",
            "1519222646142028",
            &sha_base64(PHOTO),
        ))
        .await;
    assert_eq!(r.status(), 200);

    let id = message_id(&app, "wamid.photo1").await;
    let m = settled_media(&app, id).await;
    let sha = sha_hex(PHOTO);
    assert_eq!(m["status"], "stored", "{m}");
    assert_eq!(m["sha256"], sha.as_str());
    assert_eq!(m["content_type"], "image/jpeg");
    assert_eq!(m["size_bytes"], PHOTO.len());
    assert_eq!(m["kind"], "image");
    assert_eq!(m["url"], format!("/api/media/{sha}"));
    assert_eq!(std::fs::read(file_in(media.path(), &sha)).unwrap(), PHOTO);

    let url = format!("{}/api/media/{sha}", app.addr);
    let served = app.http.get(&url).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(served.status(), 200);
    let h = served.headers();
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-disposition"], "inline");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(served.bytes().await.unwrap(), PHOTO);

    // No key, a wrong key: refused, and nothing of the file in the answer.
    let bare = app.http.get(&url).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let wrong = app.http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(!wrong.text().await.unwrap().contains("JFIF"));
    // Names that are not a stored file's.
    for bad in [
        "00".repeat(32),
        "..%2F..%2Fparley.db".into(),
        sha.to_uppercase(),
    ] {
        let (status, _) = get_keyed(&app, &format!("/api/media/{bad}")).await;
        assert_eq!(status, 404, "{bad}");
    }
    // The same photo delivered again (Meta retries webhooks): one download, one file.
    app.post_meta(&meta_photo(
        "wamid.photo1",
        "1519222646142028",
        &sha_base64(PHOTO),
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lookups = app
        .meta
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v26.0/1519222646142028")
        .count();
    assert_eq!(lookups, 1);
}

#[tokio::test]
async fn a_failing_download_is_retried_then_stored() {
    let media = tempfile::tempdir().unwrap();
    let app = app_with(media.path(), "", None).await;
    // Meta fails twice (a 500, then a 429), then answers.
    Mock::given(method("GET"))
        .and(path("/v26.0/2001"))
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"error": {"message": "Service temporarily unavailable", "code": 2}}),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.meta)
        .await;
    Mock::given(method("GET"))
        .and(path("/v26.0/2001"))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&app.meta)
        .await;
    serve_media(&app.meta, "2001", PHOTO).await;
    app.post_meta(&meta_photo("wamid.retry", "2001", &sha_base64(PHOTO)))
        .await;
    let id = message_id(&app, "wamid.retry").await;
    let m = settled_media(&app, id).await;
    assert_eq!(m["status"], "stored", "{m}");
    assert_eq!(m["attempts"], 3);
    assert_eq!(m["error"], Value::Null);
    let (status, _) = get_keyed(&app, &format!("/api/media/{}", sha_hex(PHOTO))).await;
    assert_eq!(status, 200);
}

/// A media server that never answers within `media.download_timeout`: the failure says so
/// in the README's words, not as a bare transport error.
#[tokio::test]
async fn a_download_cut_by_the_timeout_says_so() {
    let media = tempfile::tempdir().unwrap();
    let app = app_with(
        media.path(),
        ", download_timeout: 500ms, retry: { initial: 50ms, max_delay: 100ms, max_attempts: 2 }",
        None,
    )
    .await;
    serve_media_after(&app.meta, "2003", PHOTO, Duration::from_secs(30)).await;
    app.post_meta(&meta_photo("wamid.slow", "2003", &sha_base64(PHOTO)))
        .await;
    let id = message_id(&app, "wamid.slow").await;
    let m = settled_media(&app, id).await;
    assert_eq!(m["status"], "failed", "{m}");
    let error = m["error"].as_str().unwrap();
    assert!(
        error.contains("did not arrive within media.download_timeout (500ms)"),
        "{error}"
    );
}

#[tokio::test]
async fn a_file_whose_sha256_differs_from_the_declared_one_is_refused() {
    let media = tempfile::tempdir().unwrap();
    let app = app_with(media.path(), "", None).await;
    let tampered: &[u8] = b"not the photo the customer sent";
    serve_media(&app.meta, "3001", tampered).await;
    // The webhook (signed by Meta) declares the real photo's hash.
    app.post_meta(&meta_photo("wamid.tampered", "3001", &sha_base64(PHOTO)))
        .await;
    let id = message_id(&app, "wamid.tampered").await;
    let m = settled_media(&app, id).await;
    assert_eq!(m["status"], "failed", "{m}");
    assert_eq!(m["attempts"], 3, "retried before giving up: {m}");
    let error = m["error"].as_str().unwrap();
    assert!(error.contains("SHA-256"), "{error}");
    assert!(error.contains(&sha_hex(PHOTO)), "{error}");
    assert!(error.contains("gave up after 3 attempts"), "{error}");
    assert_eq!(m["url"], Value::Null);
    for sha in [sha_hex(tampered), sha_hex(PHOTO)] {
        assert!(!file_in(media.path(), &sha).exists());
        let (status, _) = get_keyed(&app, &format!("/api/media/{sha}")).await;
        assert_eq!(status, 404);
    }
    // No half-written file is left behind.
    let parts = std::fs::read_dir(media.path().join("tmp")).map_or(0, |d| d.count());
    assert_eq!(parts, 0);
}

#[tokio::test]
async fn a_file_larger_than_whatsapp_allows_is_refused_without_reading_it() {
    let media = tempfile::tempdir().unwrap();
    let app = app_with(media.path(), ", max_bytes: 16", None).await;
    serve_media(&app.meta, "4001", PHOTO).await;
    app.post_meta(&meta_photo("wamid.big", "4001", &sha_base64(PHOTO)))
        .await;
    let id = message_id(&app, "wamid.big").await;
    let m = settled_media(&app, id).await;
    assert_eq!(m["status"], "failed", "{m}");
    assert_eq!(m["attempts"], 1, "a size does not get better: {m}");
    let error = m["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "the image is {} bytes, over the 16 bytes",
            PHOTO.len()
        )),
        "{error}"
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_keeps_the_download() {
    let media = tempfile::tempdir().unwrap();
    // Retries come after 1 s or more: the restart happens in between.
    let app = app_with(
        media.path(),
        ", retry: { initial: 2s, max_delay: 2s, max_attempts: 3 }",
        None,
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v26.0/5001"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.meta)
        .await;
    serve_media(&app.meta, "5001", PHOTO).await;
    app.post_meta(&meta_photo("wamid.restart", "5001", &sha_base64(PHOTO)))
        .await;
    let id = message_id(&app, "wamid.restart").await;
    // The first attempt failed and is recorded; the job waits for its retry.
    eventually(
        Duration::from_secs(10),
        "the first attempt fails",
        || async {
            let (_, body) = get_keyed(&app, &format!("/api/messages/{id}/media")).await;
            (body["media"]["attempts"] == 1).then_some(())
        },
    )
    .await;
    let app = app.restart().await;
    let m = settled_media(&app, id).await;
    assert_eq!(m["status"], "stored", "{m}");
    assert_eq!(
        std::fs::read(file_in(media.path(), &sha_hex(PHOTO))).unwrap(),
        PHOTO
    );
}

#[tokio::test]
async fn on_postgres_a_photo_is_downloaded_once_and_served() {
    let Some(url) = crate::postgres::fresh_database().await else {
        return;
    };
    let media = tempfile::tempdir().unwrap();
    let app = app_with(media.path(), "", Some(url)).await;
    serve_media(&app.meta, "6001", PHOTO).await;
    app.post_meta(&meta_photo("wamid.pg", "6001", &sha_base64(PHOTO)))
        .await;
    let id = message_id(&app, "wamid.pg").await;
    let m = settled_media(&app, id).await;
    assert_eq!(m["status"], "stored", "{m}");
    let served = app
        .http
        .get(format!("{}/api/media/{}", app.addr, sha_hex(PHOTO)))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap(), PHOTO);
}

/// A signed Twilio webhook of a photo whose file is at `media_url`; the answer's status.
async fn post_twilio_photo(app: &TestApp, sid: &str, media_url: &str) -> u16 {
    let params = [
        ("MediaContentType0", "image/jpeg"),
        ("SmsMessageSid", sid),
        ("NumMedia", "1"),
        ("ProfileName", "Sheena Nelson"),
        ("MessageType", "image"),
        ("WaId", CUSTOMER),
        ("Body", "This is how the box arrived"),
        ("To", "whatsapp:+15550783881"),
        ("MessageSid", sid),
        ("AccountSid", "ACtest"),
        ("From", "whatsapp:+16315551181"),
        ("MediaUrl0", media_url),
    ];
    post_twilio(app, "/webhooks/twilio", &params).await
}

#[tokio::test]
async fn twilio_media_is_fetched_with_the_account_credentials_only_from_twilio() {
    let media = tempfile::tempdir().unwrap();
    let app = app_with(media.path(), "", None).await;
    // Twilio's MediaUrl answers with a redirect to its file storage (another host), which
    // must not get the credentials.
    let storage = MockServer::start().await;
    let media_path = "/2010-04-01/Accounts/ACtest/Messages/MMe7d2129c328de74a6d11bb9249b958c3/Media/ME185c2cea02fc8a6f4bae7f88413c5122";
    Mock::given(method("GET"))
        .and(path(media_path))
        .and(wiremock::matchers::basic_auth("ACtest", TWILIO_TOKEN))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/files/box.jpg", storage.uri())),
        )
        .mount(&app.twilio)
        .await;
    Mock::given(method("GET"))
        .and(path("/files/box.jpg"))
        .and(|r: &Request| !r.headers.contains_key("authorization"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/jpeg")
                .set_body_bytes(PHOTO.to_vec()),
        )
        .mount(&storage)
        .await;
    let media_url = format!("{}{media_path}", app.twilio.uri());
    let status = post_twilio_photo(&app, "MMe7d2129c328de74a6d11bb9249b958c3", &media_url).await;
    assert_eq!(status, 200);
    let sha = sha_hex(PHOTO);
    let stored = eventually(
        Duration::from_secs(15),
        "the Twilio media is stored",
        || async { app.store.stored_media(&sha).await.unwrap() },
    )
    .await;
    assert_eq!(stored.sender_id, 2);
    assert_eq!(stored.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(std::fs::read(file_in(media.path(), &sha)).unwrap(), PHOTO);
}

#[tokio::test]
async fn a_twilio_media_url_off_twilios_api_is_refused_without_a_request() {
    let media = tempfile::tempdir().unwrap();
    let app = app_with(media.path(), "", None).await;
    // A signed webhook whose MediaUrl0 names another host (an internal service, say).
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(PHOTO.to_vec()))
        .mount(&elsewhere)
        .await;
    let sid = "MM0000000000000000000000000000e1se";
    let status =
        post_twilio_photo(&app, sid, &format!("{}/internal/secret", elsewhere.uri())).await;
    assert_eq!(status, 200);
    let id = message_id_of(&app, 2, sid).await;
    let m = settled_media(&app, id).await;
    assert_eq!(m["status"], "failed", "{m}");
    let error = m["error"].as_str().unwrap();
    assert!(error.contains("is not on Twilio's API"), "{error}");
    assert!(error.contains("api_base"), "{error}");
    assert_eq!(m["attempts"], 1, "not retried: {m}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
    assert!(app
        .twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .all(|r| !r.url.path().contains("internal")));
}

#[tokio::test]
async fn the_sandbox_shows_a_customers_photo_from_the_store() {
    let media = tempfile::tempdir().unwrap();
    let app = app_with(media.path(), "", None).await;
    let png: &[u8] = b"\x89PNG\r\n\x1a\n a tiny picture";
    let (status, body) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": "+34600000001", "media": {
            "kind": "image", "mime_type": "image/png",
            "data": base64::engine::general_purpose::STANDARD.encode(png) } }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let shown = eventually(Duration::from_secs(10), "the photo is stored", || async {
        let (_, body) = get_json(&app, "/sandbox/api/contacts/+34600000001/messages").await;
        let m = body["messages"]
            .as_array()?
            .iter()
            .find(|m| m["direction"] == "in")?
            .clone();
        (m["media"]["status"] == "stored").then_some(m)
    })
    .await;
    let url = shown["media"]["url"].as_str().unwrap();
    assert_eq!(url, format!("/sandbox/api/media/{}", sha_hex(png)));
    let served = app
        .http
        .get(format!("{}{url}", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap(), png);
    // The sandbox serves only its own customers' files, and refuses bad data.
    let (status, _) = get_json(&app, &format!("/sandbox/api/media/{}", "00".repeat(32))).await;
    assert_eq!(status, 404);
    let (status, body) = post_json(
        &app,
        "/sandbox/api/messages",
        json!({ "from": "+34600000001", "media": { "kind": "image", "data": "not base64!" } }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn media_past_the_retention_is_deleted_with_its_file() {
    let media = tempfile::tempdir().unwrap();
    let app = app_with(media.path(), ", retention: 4s, sweep_interval: 200ms", None).await;
    // The file comes 1.5 s after its message, so it is written well after its row: the
    // sweep that deletes the row past the retention must still delete the file (it once
    // kept a file written within the retention before the sweep, for ever).
    serve_media_after(&app.meta, "7001", PHOTO, Duration::from_millis(1_500)).await;
    app.post_meta(&meta_photo("wamid.old", "7001", &sha_base64(PHOTO)))
        .await;
    let id = message_id(&app, "wamid.old").await;
    let m = settled_media(&app, id).await;
    assert_eq!(m["status"], "stored", "{m}");
    let file = file_in(media.path(), &sha_hex(PHOTO));
    assert!(file.exists());
    eventually(Duration::from_secs(20), "the media is swept", || async {
        let (status, _) = get_keyed(&app, &format!("/api/messages/{id}/media")).await;
        (status == 404 && !file.exists()).then_some(())
    })
    .await;
    let (status, _) = get_keyed(&app, &format!("/api/media/{}", sha_hex(PHOTO))).await;
    assert_eq!(status, 404);
}

/// An S3-compatible bucket double: keeps objects PUT with a SigV4 `Authorization` for the
/// configured key, answers GET, HEAD (with `Last-Modified`) and DELETE.
#[derive(Clone, Default)]
struct Bucket(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>);

impl wiremock::Respond for Bucket {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let signed = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 Credential=AKIDMEDIA/"));
        if !signed || !req.headers.contains_key("x-amz-date") {
            return ResponseTemplate::new(403);
        }
        let key = req.url.path().to_string();
        let mut objects = self.0.lock().unwrap();
        match req.method.as_str() {
            "PUT" => {
                // The signed payload hash is the file's: the store checks it.
                let declared = req
                    .headers
                    .get("x-amz-content-sha256")
                    .unwrap()
                    .to_str()
                    .unwrap();
                if declared != sha_hex(&req.body) {
                    return ResponseTemplate::new(400);
                }
                objects.insert(key, req.body.clone());
                ResponseTemplate::new(200)
            }
            "GET" => match objects.get(&key) {
                Some(body) => ResponseTemplate::new(200).set_body_bytes(body.clone()),
                None => ResponseTemplate::new(404),
            },
            "HEAD" => match objects.get(&key) {
                Some(_) => ResponseTemplate::new(200)
                    .insert_header("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
                None => ResponseTemplate::new(404),
            },
            "DELETE" => {
                objects.remove(&key);
                ResponseTemplate::new(204)
            }
            _ => ResponseTemplate::new(405),
        }
    }
}

#[tokio::test]
async fn with_media_s3_files_go_to_the_bucket_and_are_served_from_it() {
    let media = tempfile::tempdir().unwrap();
    let s3 = MockServer::start().await;
    let bucket = Bucket::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(bucket.clone())
        .mount(&s3)
        .await;
    let app = app_with(
        media.path(),
        &format!(
            ", s3: {{ endpoint: \"{}\", bucket: media-bucket, region: eu-west-1, access_key_id: AKIDMEDIA, secret_access_key: secret, prefix: \"parley/\" }}",
            s3.uri()
        ),
        None,
    )
    .await;
    serve_media(&app.meta, "8001", PHOTO).await;
    app.post_meta(&meta_photo("wamid.s3", "8001", &sha_base64(PHOTO)))
        .await;
    let id = message_id(&app, "wamid.s3").await;
    let m = settled_media(&app, id).await;
    assert_eq!(m["status"], "stored", "{m}");
    let sha = sha_hex(PHOTO);
    let key = format!("/media-bucket/parley/{sha}");
    assert_eq!(
        bucket.0.lock().unwrap().get(&key).map(Vec::as_slice),
        Some(PHOTO)
    );
    // Nothing kept in the folder but files in transit (none now).
    assert!(!file_in(media.path(), &sha).exists());
    assert_eq!(
        std::fs::read_dir(media.path().join("tmp")).map_or(0, |d| d.count()),
        0
    );
    let served = app
        .http
        .get(format!("{}/api/media/{sha}", app.addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/jpeg");
    assert_eq!(served.bytes().await.unwrap(), PHOTO);
}

#[tokio::test]
async fn with_media_s3_the_retention_sweep_deletes_the_object() {
    let media = tempfile::tempdir().unwrap();
    let s3 = MockServer::start().await;
    let bucket = Bucket::default();
    Mock::given(wiremock::matchers::any())
        .respond_with(bucket.clone())
        .mount(&s3)
        .await;
    let app = app_with(
        media.path(),
        &format!(
            ", retention: 2s, sweep_interval: 200ms, s3: {{ endpoint: \"{}\", bucket: media-bucket, access_key_id: AKIDMEDIA, secret_access_key: secret }}",
            s3.uri()
        ),
        None,
    )
    .await;
    serve_media(&app.meta, "8002", PHOTO).await;
    app.post_meta(&meta_photo("wamid.s3old", "8002", &sha_base64(PHOTO)))
        .await;
    let id = message_id(&app, "wamid.s3old").await;
    assert_eq!(settled_media(&app, id).await["status"], "stored");
    let key = format!("/media-bucket/{}", sha_hex(PHOTO));
    assert!(bucket.0.lock().unwrap().contains_key(&key));
    eventually(Duration::from_secs(10), "the object is swept", || async {
        (!bucket.0.lock().unwrap().contains_key(&key)).then_some(())
    })
    .await;
}
