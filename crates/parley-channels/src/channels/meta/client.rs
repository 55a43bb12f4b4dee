//! The Graph API client for one Meta sender: sends messages and checks the account's health.
//!
//! It makes exactly one HTTP request per call and never retries: a failed send comes back as
//! a `SendFailure` classified from the HTTP status and Meta's `error.code`, and the outbox
//! decides what to do. Timeouts come from the `reqwest::Client` the caller passes in.

use super::request::{SendRequest, TypingRequest};
use super::wire;
use super::words::{describe_transport, snippet};
use crate::channels::{Channel, FetchError, MediaBody, MediaSource, ProviderHealth, SendOk};
use crate::config::MetaSettings;
use crate::domain::{ContactRef, OutboundMessage, SendFailure};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::StatusCode;
use std::fmt;
use std::time::Duration;

/// Meta's error code for an access token that is expired, revoked or otherwise invalid.
const INVALID_TOKEN_CODE: i64 = 190;

/// Provider answers are a few hundred bytes; reading stops past this (a proxy's error
/// page or a broken server cannot grow Parley's memory).
pub(super) const MAX_ANSWER: usize = 1024 * 1024;

pub struct MetaClient {
    http: reqwest::Client,
    settings: MetaSettings,
    /// The `/messages` address and the `Authorization` header, made once here rather than
    /// for every send (parsing the address, its host's IDNA check included, was about 5 %
    /// of a worker's time at 1,000 sends/s). `None` when they cannot be made: then each
    /// request makes them, and fails with reqwest's own error, as before.
    messages_url: Option<reqwest::Url>,
    authorization: Option<HeaderValue>,
}

impl MetaClient {
    pub fn new(http: reqwest::Client, settings: MetaSettings) -> Self {
        let messages_url = reqwest::Url::parse(&address(&settings, "/messages"))
            .ok()
            .filter(|url| url.has_host());
        let authorization = HeaderValue::try_from(format!("Bearer {}", settings.access_token))
            .ok()
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        Self {
            http,
            settings,
            messages_url,
            authorization,
        }
    }

    /// A POST to the phone number's `/messages`, with its access token.
    fn post_messages(&self) -> reqwest::RequestBuilder {
        let request = match &self.messages_url {
            Some(url) => self.http.post(url.clone()),
            None => self.http.post(self.url("/messages")),
        };
        match &self.authorization {
            Some(value) => request.header(AUTHORIZATION, value.clone()),
            None => request.bearer_auth(&self.settings.access_token),
        }
    }

    fn url(&self, tail: &str) -> String {
        address(&self.settings, tail)
    }

    /// A request to the phone number's `tail` (`/thread_control`), with its access token
    /// (`routing.rs`).
    pub(super) fn graph(&self, method: reqwest::Method, tail: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url(tail));
        match &self.authorization {
            Some(value) => request.header(AUTHORIZATION, value.clone()),
            None => request.bearer_auth(&self.settings.access_token),
        }
    }
}

/// The Graph API address of the phone number's `tail` (`/messages`, or `""` for itself).
fn address(settings: &MetaSettings, tail: &str) -> String {
    format!(
        "{}/{}{tail}",
        settings.api_base.trim_end_matches('/'),
        settings.phone_number_id
    )
}

// By hand, so the access token and app secret never reach a log line.
impl fmt::Debug for MetaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaClient")
            .field("api_base", &self.settings.api_base)
            .field("phone_number_id", &self.settings.phone_number_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Channel for MetaClient {
    async fn send(&self, message: &OutboundMessage) -> Result<SendOk, SendFailure> {
        self.send_tracked(message, None).await
    }

    async fn send_tracked(
        &self,
        message: &OutboundMessage,
        outbox_id: Option<i64>,
    ) -> Result<SendOk, SendFailure> {
        if let crate::domain::OutboundContent::ThreadControl(action) = &message.content {
            // A thread-control call queued like a send: its id names the call and the row.
            MetaClient::thread_control(self, &message.to, action, None).await?;
            let row = outbox_id.map_or_else(
                || chrono::Utc::now().timestamp_micros().to_string(),
                |id| id.to_string(),
            );
            return Ok(SendOk {
                provider_message_id: format!("thread_control:{}:{row}", action.name()),
            });
        }
        let response = self
            .post_messages()
            .json(&SendRequest::new(message).tagged(outbox_id))
            .send()
            .await
            .map_err(|e| {
                let text = format!("no answer from Meta: {}", describe_transport(&e));
                if e.is_connect() {
                    SendFailure::transport(text)
                } else {
                    SendFailure::unknown_outcome(text)
                }
            })?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = crate::net::read_limited(response, MAX_ANSWER)
            .await
            .map_err(|e| {
                let why = match &e {
                    crate::net::BodyError::Read(e) => describe_transport(e),
                    other => other.to_string(),
                };
                SendFailure::new(
                    Some(status.as_u16()),
                    None,
                    format!("Meta answered HTTP {status} but the body could not be read: {why}"),
                )
            })?;
        if status.is_success() {
            let id = serde_json::from_slice::<wire::SendResponse>(&body)
                .ok()
                .and_then(|r| r.messages.into_iter().next())
                .map(|m| m.id);
            return match id {
                Some(provider_message_id) => Ok(SendOk {
                    provider_message_id,
                }),
                None => Err(SendFailure::new(
                    Some(status.as_u16()),
                    None,
                    format!(
                        "Meta answered HTTP {status} without a message id: {}",
                        snippet(&body)
                    ),
                )),
            };
        }
        Err(send_failure(status, &body).with_retry_after(retry_after))
    }

    async fn show_typing(&self, _to: &ContactRef, message_id: &str) -> Result<(), SendFailure> {
        let response = self
            .post_messages()
            .json(&TypingRequest::new(message_id))
            .send()
            .await
            .map_err(|e| {
                SendFailure::transport(format!("no answer from Meta: {}", describe_transport(&e)))
            })?;
        let status = response.status();
        let body = crate::net::read_limited(response, MAX_ANSWER)
            .await
            .unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        Err(send_failure(status, &body))
    }

    async fn check_health(&self) -> ProviderHealth {
        let response = self
            .http
            .get(self.url(""))
            .query(&[("fields", "id,display_phone_number,verified_name")])
            .bearer_auth(&self.settings.access_token)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                return ProviderHealth {
                    reachable: false,
                    credentials_valid: false,
                    detail: format!(
                    "could not reach Meta at {}: {}; check the network and senders[].meta.api_base",
                    self.settings.api_base,
                    describe_transport(&e)
                ),
                }
            }
        };
        let status = response.status();
        let body = crate::net::read_limited(response, MAX_ANSWER)
            .await
            .unwrap_or_default();
        health_from(&self.settings.phone_number_id, status, &body)
    }

    async fn fetch_media(
        &self,
        http: &reqwest::Client,
        source: MediaSource<'_>,
    ) -> Result<MediaBody, FetchError> {
        super::media::fetch(http, &self.settings, source).await
    }

    async fn thread_control(
        &self,
        to: &ContactRef,
        action: &crate::domain::ThreadAction,
        metadata: Option<&str>,
    ) -> Result<(), SendFailure> {
        MetaClient::thread_control(self, to, action, metadata).await
    }

    async fn routing_roles(&self) -> Option<Result<crate::domain::RoutingRoles, String>> {
        Some(MetaClient::routing_roles(self).await)
    }
}

/// A failed send from Meta's Graph error envelope; a body that is not one keeps the HTTP
/// status but has no code.
pub(super) fn send_failure(status: StatusCode, body: &[u8]) -> SendFailure {
    match serde_json::from_slice::<wire::GraphErrorEnvelope>(body) {
        Ok(envelope) => {
            let error = envelope.error;
            let message = error
                .message
                .unwrap_or_else(|| format!("Meta answered HTTP {status}"));
            let title = match error.error_data.and_then(|d| d.details) {
                Some(details) => format!("{message}: {details}"),
                None => message,
            };
            SendFailure::new(Some(status.as_u16()), error.code, title)
        }
        Err(_) => SendFailure::new(
            Some(status.as_u16()),
            None,
            format!("Meta answered HTTP {status}: {}", snippet(body)),
        ),
    }
}

fn health_from(phone_number_id: &str, status: StatusCode, body: &[u8]) -> ProviderHealth {
    let error = serde_json::from_slice::<wire::GraphErrorEnvelope>(body)
        .ok()
        .map(|e| e.error);
    let code = error.as_ref().and_then(|e| e.code);
    let message = error
        .and_then(|e| e.message)
        .unwrap_or_else(|| snippet(body));
    let unhealthy = |detail: String| ProviderHealth {
        reachable: true,
        credentials_valid: false,
        detail,
    };
    if status.is_success() {
        let info = serde_json::from_slice::<wire::PhoneNumberInfo>(body).ok();
        let number = info
            .as_ref()
            .and_then(|i| i.display_phone_number.as_deref());
        let name = info.as_ref().and_then(|i| i.verified_name.as_deref());
        let detail = match (number, name) {
            (Some(number), Some(name)) => format!(
                "Meta accepted the access token for phone number id {phone_number_id} ({number}, {name})"
            ),
            _ => format!("Meta accepted the access token for phone number id {phone_number_id}"),
        };
        return ProviderHealth {
            reachable: true,
            credentials_valid: true,
            detail,
        };
    }
    if code == Some(INVALID_TOKEN_CODE) {
        return unhealthy(format!(
            "access token rejected by Meta (code {INVALID_TOKEN_CODE}): {message}; generate a new token and update senders[].meta.access_token"
        ));
    }
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        let code = code.map(|c| format!(", code {c}")).unwrap_or_default();
        return unhealthy(format!(
            "Meta refused the access token (HTTP {status}{code}): {message}; check that the token has the whatsapp_business_messaging permission for phone number id {phone_number_id}"
        ));
    }
    if status.is_server_error() {
        return unhealthy(format!(
            "Meta answered HTTP {status}: {message}; the credentials could not be checked, try again later"
        ));
    }
    let code = code.map(|c| format!(", code {c}")).unwrap_or_default();
    unhealthy(format!(
        "Meta could not look up phone number id {phone_number_id} (HTTP {status}{code}): {message}; check senders[].meta.phone_number_id and the token's access to it"
    ))
}

/// `Retry-After` in seconds. The HTTP-date form is not used by Meta and is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests;
