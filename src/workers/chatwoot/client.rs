//! The calls the bridge makes to Chatwoot's Application API (`/api/v1/accounts/{account}/…`,
//! authenticated by the `api_access_token` header), each bounded by `chatwoot.timeout` and
//! its answer by `MAX_ANSWER`. A failure says whether trying again may help (`Retry`: no
//! answer, 5xx, 429, 401/403 (a token fixed in the config), or not (`Park`: another 4xx).

use crate::config::ChatwootConfig;
use serde_json::{json, Value};

/// The largest answer read from Chatwoot.
const MAX_ANSWER: usize = 1024 * 1024;

/// Why a call to Chatwoot failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Worth trying again later.
    Retry { status: Option<u16>, error: String },
    /// An answer that will not change by itself.
    Park { status: Option<u16>, error: String },
}

impl CallError {
    pub fn retry(error: impl Into<String>) -> Self {
        CallError::Retry {
            status: None,
            error: error.into(),
        }
    }
}

pub type CallResult<T> = Result<T, CallError>;

/// A file sent as a message's attachment.
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A message to create in a Chatwoot conversation.
pub struct NewMessage {
    pub content: String,
    /// `incoming` (from the customer) or `outgoing` (from the business).
    pub message_type: &'static str,
    pub private: bool,
    /// Parley's id of the message (`parley-evt-…`): how the bridge finds a message whose
    /// creation it is unsure of, and recognises its own messages in Chatwoot's webhooks.
    pub source_id: String,
}

/// Chatwoot's Application API for one account and inbox.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    inbox_id: i64,
}

impl Client {
    pub fn new(cfg: &ChatwootConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            base: format!(
                "{}/api/v1/accounts/{}",
                cfg.url.trim_end_matches('/'),
                cfg.account_id
            ),
            token: cfg.api_access_token.clone(),
            inbox_id: cfg.inbox_id,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("api_access_token", &self.token)
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> CallResult<Value> {
        let mut answer = req
            .send()
            .await
            .map_err(|e| CallError::retry(format!("Chatwoot did not answer: {e}")))?;
        let status = answer.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| CallError::retry(format!("Chatwoot's answer broke off: {e}")))?
        {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(CallError::Park {
                    status: Some(status),
                    error: format!("Chatwoot's answer is over {MAX_ANSWER} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) {
            return Ok(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
        let text: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        let error = format!("Chatwoot answered {status}: {text}");
        Err(
            if status >= 500 || matches!(status, 401 | 403 | 408 | 429) {
                CallError::Retry {
                    status: Some(status),
                    error,
                }
            } else {
                CallError::Park {
                    status: Some(status),
                    error,
                }
            },
        )
    }

    /// The contact whose identifier or phone number is `key` (`+14155550100`).
    pub async fn find_contact(&self, key: &str) -> CallResult<Option<i64>> {
        let found = self
            .call(
                self.request(reqwest::Method::GET, "/contacts/search")
                    .query(&[("q", key)]),
            )
            .await?;
        Ok(payload_list(&found)
            .iter()
            .find(|c| c["identifier"] == key || c["phone_number"] == key)
            .and_then(|c| c["id"].as_i64()))
    }

    /// Creates a contact; `phone` only when it is a phone number (E.164).
    pub async fn create_contact(
        &self,
        identifier: &str,
        name: Option<&str>,
        phone: Option<&str>,
    ) -> CallResult<i64> {
        let mut body = json!({ "identifier": identifier, "name": name.unwrap_or(identifier) });
        if let Some(p) = phone {
            body["phone_number"] = json!(p);
        }
        let made = self
            .call(self.request(reqwest::Method::POST, "/contacts").json(&body))
            .await?;
        id_in(&made, &["/payload/contact/id", "/payload/id", "/id"])
            .ok_or_else(|| answer_without("a contact id", &made))
    }

    /// Gives contact `contact_id` the address `source_id` in the inbox (already there: fine).
    pub async fn add_to_inbox(&self, contact_id: i64, source_id: &str) -> CallResult<()> {
        let path = format!("/contacts/{contact_id}/contact_inboxes");
        let body = json!({ "inbox_id": self.inbox_id, "source_id": source_id });
        match self
            .call(self.request(reqwest::Method::POST, &path).json(&body))
            .await
        {
            Ok(_) => Ok(()),
            // Chatwoot refuses a second contact inbox with the same source id: it is there.
            Err(CallError::Park {
                status: Some(422), ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The conversation of contact `contact_id` in the inbox that mirrors Parley
    /// conversation `parley_id` (made by an earlier attempt whose answer was lost).
    pub async fn find_conversation(
        &self,
        contact_id: i64,
        parley_id: i64,
    ) -> CallResult<Option<i64>> {
        let path = format!("/contacts/{contact_id}/conversations");
        let found = self.call(self.request(reqwest::Method::GET, &path)).await?;
        Ok(payload_list(&found)
            .iter()
            .find(|c| {
                c["inbox_id"].as_i64() == Some(self.inbox_id)
                    && c["additional_attributes"]["parley_conversation_id"].as_i64()
                        == Some(parley_id)
            })
            .and_then(|c| c["id"].as_i64()))
    }

    /// Creates the conversation mirroring Parley conversation `parley_id`.
    pub async fn create_conversation(
        &self,
        contact_id: i64,
        source_id: &str,
        parley_id: i64,
        status: &str,
    ) -> CallResult<i64> {
        let body = json!({
            "source_id": source_id,
            "inbox_id": self.inbox_id,
            "contact_id": contact_id,
            "status": status,
            "additional_attributes": { "parley_conversation_id": parley_id },
        });
        let made = self
            .call(
                self.request(reqwest::Method::POST, "/conversations")
                    .json(&body),
            )
            .await?;
        id_in(&made, &["/id"]).ok_or_else(|| answer_without("a conversation id", &made))
    }

    /// Creates a message (with a file: multipart, as Chatwoot's dashboard uploads).
    pub async fn post_message(
        &self,
        conversation: i64,
        m: &NewMessage,
        file: Option<&Attachment>,
    ) -> CallResult<i64> {
        let path = format!("/conversations/{conversation}/messages");
        let req = self.request(reqwest::Method::POST, &path);
        let req = match file {
            None => req.json(&json!({
                "content": m.content,
                "message_type": m.message_type,
                "private": m.private,
                "source_id": m.source_id,
            })),
            Some(f) => {
                let (content_type, body) = multipart(m, f);
                req.header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body)
            }
        };
        let made = self.call(req).await?;
        id_in(&made, &["/id", "/payload/id"]).ok_or_else(|| answer_without("a message id", &made))
    }

    /// The message with `source_id` among the conversation's latest, if Chatwoot has it.
    pub async fn find_message(
        &self,
        conversation: i64,
        source_id: &str,
    ) -> CallResult<Option<i64>> {
        let path = format!("/conversations/{conversation}/messages");
        let found = self.call(self.request(reqwest::Method::GET, &path)).await?;
        Ok(payload_list(&found)
            .iter()
            .find(|m| m["source_id"] == source_id)
            .and_then(|m| m["id"].as_i64()))
    }

    /// Sets the conversation's status (`open`, `resolved`, `pending`).
    pub async fn set_status(&self, conversation: i64, status: &str) -> CallResult<()> {
        let path = format!("/conversations/{conversation}/toggle_status");
        self.call(
            self.request(reqwest::Method::POST, &path)
                .json(&json!({ "status": status })),
        )
        .await
        .map(drop)
    }

    /// Assigns the conversation to an agent and/or a team.
    pub async fn assign(
        &self,
        conversation: i64,
        assignee_id: Option<i64>,
        team_id: Option<i64>,
    ) -> CallResult<()> {
        let path = format!("/conversations/{conversation}/assignments");
        for body in [
            assignee_id.map(|id| json!({ "assignee_id": id })),
            team_id.map(|id| json!({ "team_id": id })),
        ]
        .into_iter()
        .flatten()
        {
            self.call(self.request(reqwest::Method::POST, &path).json(&body))
                .await?;
        }
        Ok(())
    }
}

/// `payload` when it is a list (search, listings), or the answer itself when it is one.
fn payload_list(v: &Value) -> &[Value] {
    v["payload"]
        .as_array()
        .or_else(|| v.as_array())
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn id_in(v: &Value, pointers: &[&str]) -> Option<i64> {
    pointers
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_i64))
}

fn answer_without(what: &str, v: &Value) -> CallError {
    let text: String = v.to_string().chars().take(200).collect();
    CallError::Park {
        status: None,
        error: format!("Chatwoot's answer has no {what}: {text}"),
    }
}

/// A `multipart/form-data` body with the message's fields and the file as `attachments[]`.
fn multipart(m: &NewMessage, f: &Attachment) -> (String, Vec<u8>) {
    let boundary = format!("parley-{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::with_capacity(f.bytes.len() + 1024);
    for (name, value) in [
        ("content", m.content.as_str()),
        ("message_type", m.message_type),
        ("private", if m.private { "true" } else { "false" }),
        ("source_id", m.source_id.as_str()),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    let filename: String = f
        .filename
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\' | '/'))
        .take(120)
        .collect();
    let content_type: String = f
        .content_type
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(100)
        .collect();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"attachments[]\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&f.bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_name_cannot_break_out_of_its_part() {
        let m = NewMessage {
            content: "hi".into(),
            message_type: "incoming",
            private: false,
            source_id: "parley-evt-1".into(),
        };
        let f = Attachment {
            filename: "a\"\r\nX-Evil: 1/b.jpg".into(),
            content_type: "image/jpeg\r\nX: y".into(),
            bytes: vec![1, 2, 3],
        };
        let (ct, body) = multipart(&m, &f);
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("filename=\"aX-Evil: 1b.jpg\""), "{text}");
        assert!(text.contains("Content-Type: image/jpegX:y\r\n"), "{text}");
        assert!(text.contains("name=\"source_id\"\r\n\r\nparley-evt-1\r\n"));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }
}
