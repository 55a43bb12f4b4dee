//! A Chatwoot double built from Chatwoot's documented Application API (`/api/v1/accounts/
//! {account}/…`, `api_access_token` header): it keeps contacts, contact inboxes,
//! conversations (with their status and assignee), messages (JSON or multipart with
//! `attachments[]`), answers as Chatwoot does, and can be taken down (503) or made to lose
//! its answers (the message is created, the answer is a 503).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "cw-access-token";
pub const ACCOUNT: i64 = 1;
pub const INBOX: i64 = 7;

/// A file received as an attachment.
#[derive(Debug, Clone)]
pub struct File {
    pub message_id: i64,
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
pub struct Cw {
    pub contacts: Vec<Value>,
    pub contact_inboxes: Vec<(i64, String)>,
    pub conversations: Vec<Value>,
    pub messages: Vec<Value>,
    pub files: Vec<File>,
    pub assignments: Vec<(i64, Value)>,
    /// Everything answers 503.
    pub down: bool,
    /// The next this many message creations happen but are answered 503.
    pub lose_answers: u32,
    next_id: i64,
}

impl Cw {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }
}

#[derive(Clone)]
pub struct ChatwootDouble {
    pub state: Arc<Mutex<Cw>>,
    pub url: String,
}

impl ChatwootDouble {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(Cw::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { state, url }
    }

    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// Messages of Chatwoot conversation `conversation`, in creation order.
    pub fn messages(&self, conversation: i64) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.messages
            .iter()
            .filter(|m| m["conversation_id"] == conversation)
            .cloned()
            .collect()
    }

    pub fn conversations(&self) -> Vec<Value> {
        self.state.lock().unwrap().conversations.clone()
    }

    pub fn status(&self, conversation: i64) -> String {
        let s = self.state.lock().unwrap();
        s.conversations
            .iter()
            .find(|c| c["id"] == conversation)
            .and_then(|c| c["status"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

async fn handle(
    State(state): State<Arc<Mutex<Cw>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    if s.down {
        return answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "down"}));
    }
    if headers
        .get("api_access_token")
        .and_then(|v| v.to_str().ok())
        != Some(TOKEN)
    {
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "Invalid Access Token"}),
        );
    }
    let prefix = format!("/api/v1/accounts/{ACCOUNT}/");
    let Some(rest) = uri.path().strip_prefix(&prefix) else {
        return answer(StatusCode::NOT_FOUND, json!({"error": "not found"}));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let query = uri.query().unwrap_or_default().to_string();
    let json_body = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["contacts", "search"]) => {
            let q = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("q="))
                .unwrap_or_default()
                .replace("%2B", "+")
                .replace("%3A", ":");
            let found: Vec<Value> = s
                .contacts
                .iter()
                .filter(|c| {
                    [&c["identifier"], &c["phone_number"], &c["name"]]
                        .iter()
                        .any(|v| v.as_str().is_some_and(|v| v.contains(&q)))
                })
                .cloned()
                .collect();
            answer(
                StatusCode::OK,
                json!({"meta": {"count": found.len()}, "payload": found}),
            )
        }
        ("POST", ["contacts"]) => {
            let b = json_body();
            if s.contacts
                .iter()
                .any(|c| c["identifier"] == b["identifier"])
            {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Identifier has already been taken"}),
                );
            }
            let id = s.id();
            let contact = json!({"id": id, "name": b["name"], "identifier": b["identifier"],
                "phone_number": b["phone_number"], "type": "contact"});
            s.contacts.push(contact.clone());
            answer(
                StatusCode::OK,
                json!({"payload": {"contact": contact, "contact_inbox": null}}),
            )
        }
        ("POST", ["contacts", contact, "contact_inboxes"]) => {
            let contact: i64 = contact.parse().unwrap_or_default();
            let b = json_body();
            let source = b["source_id"].as_str().unwrap_or_default().to_string();
            if b["inbox_id"] != INBOX {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "inbox"}),
                );
            }
            if s.contact_inboxes.iter().any(|(_, src)| *src == source) {
                return answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "Source has already been taken"}),
                );
            }
            s.contact_inboxes.push((contact, source.clone()));
            answer(
                StatusCode::OK,
                json!({"source_id": source, "inbox": {"id": INBOX}}),
            )
        }
        ("GET", ["contacts", contact, "conversations"]) => {
            let contact: i64 = contact.parse().unwrap_or_default();
            let found: Vec<Value> = s
                .conversations
                .iter()
                .filter(|c| c["contact_id"] == contact)
                .cloned()
                .collect();
            answer(StatusCode::OK, json!({"payload": found}))
        }
        ("POST", ["conversations"]) => {
            let b = json_body();
            let source = b["source_id"].as_str().unwrap_or_default();
            if !s.contact_inboxes.iter().any(|(_, src)| src == source) {
                return answer(StatusCode::NOT_FOUND, json!({"error": "contact inbox"}));
            }
            let id = s.id();
            let conversation = json!({"id": id, "account_id": ACCOUNT, "inbox_id": b["inbox_id"],
                "contact_id": b["contact_id"], "status": b["status"].as_str().unwrap_or("open"),
                "additional_attributes": b["additional_attributes"]});
            s.conversations.push(conversation.clone());
            answer(StatusCode::OK, conversation)
        }
        (_, ["conversations", conversation, what]) => {
            let conversation: i64 = conversation.parse().unwrap_or_default();
            let Some(i) = s.conversations.iter().position(|c| c["id"] == conversation) else {
                return answer(
                    StatusCode::NOT_FOUND,
                    json!({"error": "Resource could not be found"}),
                );
            };
            match (method.as_str(), *what) {
                ("GET", "messages") => {
                    let found: Vec<Value> = s
                        .messages
                        .iter()
                        .filter(|m| m["conversation_id"] == conversation)
                        .cloned()
                        .collect();
                    answer(StatusCode::OK, json!({"meta": {}, "payload": found}))
                }
                ("POST", "messages") => create_message(&mut s, conversation, &headers, &body),
                ("POST", "toggle_status") => {
                    let status = json_body()["status"].as_str().unwrap_or("open").to_string();
                    s.conversations[i]["status"] = json!(status);
                    answer(
                        StatusCode::OK,
                        json!({"payload": {"success": true, "current_status": status, "conversation_id": conversation}}),
                    )
                }
                ("POST", "assignments") => {
                    s.assignments.push((conversation, json_body()));
                    answer(StatusCode::OK, json!({"id": 3, "name": "Ana"}))
                }
                _ => answer(StatusCode::NOT_FOUND, json!({"error": "not found"})),
            }
        }
        _ => answer(StatusCode::NOT_FOUND, json!({"error": "not found"})),
    }
}

fn create_message(s: &mut Cw, conversation: i64, headers: &HeaderMap, body: &[u8]) -> Response {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let (fields, files) = match ct.strip_prefix("multipart/form-data; boundary=") {
        Some(boundary) => multipart(body, boundary),
        None => (
            serde_json::from_slice::<Value>(body).unwrap_or(Value::Null),
            Vec::new(),
        ),
    };
    let id = s.id();
    let private = fields["private"] == true || fields["private"] == "true";
    let attachments: Vec<Value> = files
        .iter()
        .map(|(name, ct, _)| json!({"file_type": ct.split('/').next(), "data_url": format!("http://cw.invalid/{name}")}))
        .collect();
    for (filename, content_type, bytes) in files {
        s.files.push(File {
            message_id: id,
            filename,
            content_type,
            bytes,
        });
    }
    let message = json!({"id": id, "conversation_id": conversation, "content": fields["content"],
        "message_type": fields["message_type"].as_str().unwrap_or("outgoing"),
        "private": private, "source_id": fields["source_id"], "attachments": attachments});
    s.messages.push(message.clone());
    if s.lose_answers > 0 {
        s.lose_answers -= 1;
        return answer(StatusCode::SERVICE_UNAVAILABLE, json!({"error": "lost"}));
    }
    answer(StatusCode::OK, message)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The fields and the files (`name, content type, bytes`) of a multipart body.
fn multipart(body: &[u8], boundary: &str) -> (Value, Vec<(String, String, Vec<u8>)>) {
    let mut fields = serde_json::Map::new();
    let mut files = Vec::new();
    let delimiter = format!("--{boundary}");
    let mut rest = body;
    while let Some(start) = find(rest, delimiter.as_bytes()) {
        rest = &rest[start + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let content = &rest[head_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes()).unwrap_or(content.len());
        let value = &content[..end];
        let attr = |key: &str| {
            head.split(&format!("{key}=\""))
                .nth(1)
                .and_then(|v| v.split('"').next())
                .map(str::to_string)
        };
        let name = attr("name").unwrap_or_default();
        match attr("filename") {
            Some(filename) => {
                let ct = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Type: "))
                    .unwrap_or_default()
                    .to_string();
                files.push((filename, ct, value.to_vec()));
            }
            None => {
                fields.insert(name, json!(String::from_utf8_lossy(value)));
            }
        }
        rest = &content[end..];
    }
    (Value::Object(fields), files)
}
