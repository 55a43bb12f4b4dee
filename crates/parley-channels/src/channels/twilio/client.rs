//! The Twilio Messages API client for one WhatsApp sender: sends one message per call and
//! checks the account's credentials. It never retries; the outbox does, from the
//! `SendFailure`'s class.

use super::content::{self, ContentCache, MemoryContentCache};
use super::wire::{self, Account, ApiError, ContentResource, MessageResource};
use crate::channels::{Channel, FetchError, MediaBody, MediaSource, ProviderHealth, SendOk};
use crate::config::{TwilioInteractive, TwilioSettings};
use crate::domain::{ContactRef, OutboundMessage, PhoneNumber, SendFailure};
use async_trait::async_trait;
use chrono::Utc;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;

/// A health check is a person waiting on a page; do not let a hung connection hold it.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Provider answers are a few hundred bytes; reading stops past this (a proxy's error
/// page or a broken server cannot grow Parley's memory).
const MAX_ANSWER: usize = 1024 * 1024;

pub struct TwilioClient {
    http: reqwest::Client,
    settings: TwilioSettings,
    /// Our WhatsApp sender number, sent as `From=whatsapp:+E164`.
    from: PhoneNumber,
    /// URL Twilio should POST delivery statuses to, when Parley is reachable from outside.
    status_callback: Option<String>,
    /// Content SIDs of the quick-reply and list-picker templates already created.
    contents: Arc<dyn ContentCache>,
}

impl TwilioClient {
    pub fn new(
        http: reqwest::Client,
        settings: TwilioSettings,
        from: PhoneNumber,
        status_callback: Option<String>,
    ) -> Self {
        Self {
            http,
            settings,
            from,
            status_callback,
            contents: Arc::new(MemoryContentCache::default()),
        }
    }

    /// Keeps created Content SIDs in `cache` (the database, in the daemon).
    pub fn with_content_cache(mut self, cache: Arc<dyn ContentCache>) -> Self {
        self.contents = cache;
        self
    }

    /// The SID of the template `wanted`: from the cache, or created now and cached.
    /// `Ok(None)`: Twilio refused the template (HTTP 4xx), so the message goes as text.
    async fn content_sid(
        &self,
        wanted: &content::Interactive,
    ) -> Result<Option<String>, SendFailure> {
        let account = &self.settings.account_sid;
        match self.contents.get(account, &wanted.hash).await {
            Ok(Some(sid)) => return Ok(Some(sid)),
            Ok(None) => {}
            // Creating a second template is harmless; failing the send is not.
            Err(e) => tracing::warn!(error = %e, "could not read the Twilio content cache"),
        }
        let url = format!(
            "{}/v1/Content",
            self.settings.content_api_base.trim_end_matches('/')
        );
        let response = self
            .with_auth(self.http.post(url))
            .json(&wanted.create)
            .send()
            .await
            // Nothing reached the customer yet: any failure here is safe to retry.
            .map_err(|e| {
                SendFailure::transport(format!(
                    "could not reach Twilio's Content API: {}",
                    chain(&e)
                ))
            })?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = crate::net::read_limited(response, MAX_ANSWER)
            .await
            .unwrap_or_default();
        if status.is_success() {
            let sid = serde_json::from_slice::<ContentResource>(&body)
                .map_err(|e| {
                    SendFailure::transport(format!(
                        "Twilio's Content API answered HTTP {status} without a readable sid: {e}"
                    ))
                })?
                .sid;
            crate::metrics::twilio_content_created();
            if let Err(e) = self.contents.put(account, &wanted.hash, &sid).await {
                tracing::warn!(error = %e, content_sid = %sid, "could not cache a Twilio content SID");
            }
            return Ok(Some(sid));
        }
        let error: Option<ApiError> = serde_json::from_slice(&body).ok();
        let code = error.as_ref().and_then(|e| e.code);
        let title = error
            .and_then(|e| e.message)
            .unwrap_or_else(|| format!("Twilio's Content API answered HTTP {status}"));
        if status.is_client_error()
            && status != StatusCode::TOO_MANY_REQUESTS
            && status != StatusCode::UNAUTHORIZED
        {
            tracing::warn!(%status, ?code, %title, "Twilio refused an interactive content template; sending numbered text instead");
            return Ok(None);
        }
        Err(SendFailure::new(Some(status.as_u16()), code, title).with_retry_after(retry_after))
    }

    fn account_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}",
            self.settings.api_base.trim_end_matches('/'),
            self.settings.account_sid
        )
    }

    fn with_auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(&self.settings.account_sid, Some(&self.settings.auth_token))
    }
}

/// The query parameter of a status callback URL that carries the outbox id.
pub const OUTBOX_PARAM: &str = "parley_outbox";

#[async_trait]
impl Channel for TwilioClient {
    async fn send(&self, message: &OutboundMessage) -> Result<SendOk, SendFailure> {
        self.send_tracked(message, None).await
    }

    /// The outbox id travels in the message's `StatusCallback` URL (Twilio signs and calls
    /// that exact URL), so its status callbacks name the send even when Parley never heard
    /// the answer to the send itself.
    async fn send_tracked(
        &self,
        message: &OutboundMessage,
        outbox_id: Option<i64>,
    ) -> Result<SendOk, SendFailure> {
        let callback = self.status_callback.as_deref().map(|url| match outbox_id {
            Some(id) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}{OUTBOX_PARAM}={id}")
            }
            None => url.to_string(),
        });
        let interactive = match self.settings.interactive {
            TwilioInteractive::Content => content::interactive(&message.content),
            TwilioInteractive::Text => None,
        };
        let content_sid = match &interactive {
            Some(wanted) => self.content_sid(wanted).await?,
            None => None,
        };
        let form = match (&interactive, content_sid) {
            (Some(wanted), Some(sid)) => wire::content_form(
                &self.from,
                &message.to,
                &sid,
                &wanted.variables,
                callback.as_deref(),
            ),
            _ => wire::message_form(&self.from, message, callback.as_deref())?,
        };
        let url = format!("{}/Messages.json", self.account_url());
        let response = self
            .with_auth(self.http.post(url))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                let text = format!("could not reach Twilio: {}", chain(&e));
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
            .map_err(|e| match e {
                crate::net::BodyError::Read(e) => SendFailure::unknown_outcome(format!(
                    "Twilio's answer was cut off: {}",
                    chain(&e)
                )),
                other => SendFailure::new(
                    Some(status.as_u16()),
                    None,
                    format!("Twilio answered HTTP {status} but {other}"),
                ),
            })?;
        if status.is_success() {
            return match serde_json::from_slice::<MessageResource>(&body) {
                Ok(resource) => Ok(SendOk {
                    provider_message_id: resource.sid,
                }),
                // Twilio took the message, so retrying could deliver it twice: this
                // classifies as permanent (2xx, no code).
                Err(e) => Err(SendFailure::new(
                    Some(status.as_u16()),
                    None,
                    format!("Twilio accepted the message but its answer had no readable sid: {e}"),
                )),
            };
        }
        let error: Option<ApiError> = serde_json::from_slice(&body).ok();
        let code = error.as_ref().and_then(|e| e.code);
        let title = error
            .and_then(|e| e.message)
            .unwrap_or_else(|| format!("Twilio answered HTTP {status} without an error message"));
        Err(SendFailure::new(Some(status.as_u16()), code, title).with_retry_after(retry_after))
    }

    /// Twilio's typing indicator (Public Beta since 2025): marks the message read too.
    async fn show_typing(&self, _to: &ContactRef, message_id: &str) -> Result<(), SendFailure> {
        if !self.settings.typing_indicator {
            return Ok(());
        }
        let url = format!(
            "{}/v2/Indicators/Typing.json",
            self.settings.messaging_api_base.trim_end_matches('/')
        );
        let response = self
            .with_auth(self.http.post(url))
            .form(&[("messageId", message_id), ("channel", "whatsapp")])
            .send()
            .await
            .map_err(|e| {
                SendFailure::transport(format!("could not reach Twilio: {}", chain(&e)))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = crate::net::read_limited(response, MAX_ANSWER)
            .await
            .unwrap_or_default();
        let error: Option<ApiError> = serde_json::from_slice(&body).ok();
        let code = error.as_ref().and_then(|e| e.code);
        let title = error
            .and_then(|e| e.message)
            .unwrap_or_else(|| format!("Twilio answered HTTP {status} to a typing indicator"));
        Err(SendFailure::new(Some(status.as_u16()), code, title))
    }

    /// `GET MediaUrl0` with the account's credentials. Twilio answers with a redirect to
    /// its file storage; the credentials go only to Twilio's own API host (`api_base`),
    /// never to a host the redirect names (reqwest drops them on a redirect to another
    /// host). A `MediaUrl0` on any other origin is refused without a request: it is a URL
    /// from outside, and Parley fetches it from inside the operator's network.
    async fn fetch_media(
        &self,
        http: &reqwest::Client,
        source: MediaSource<'_>,
    ) -> Result<MediaBody, FetchError> {
        let Some(url) = source.url else {
            return Err(FetchError::Permanent(
                "the webhook gave no MediaUrl0 to download".into(),
            ));
        };
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| FetchError::Permanent(format!("MediaUrl0 `{url}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::Permanent(format!(
                "MediaUrl0 `{url}` is not an http(s) URL"
            )));
        }
        let own_host = reqwest::Url::parse(&self.settings.api_base)
            .is_ok_and(|base| base.origin() == parsed.origin());
        if !own_host {
            return Err(FetchError::Permanent(format!(
                "MediaUrl0 `{url}` is not on Twilio's API ({}, the sender's api_base): Parley \
                 downloads a customer's file only from there",
                self.settings.api_base
            )));
        }
        let response = self.with_auth(http.get(parsed)).send().await.map_err(|e| {
            FetchError::no_answer(&e, format!("no answer from Twilio for {url}: {e}"))
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::from_status(
                status,
                format!("Twilio answered HTTP {status} for {url}"),
            ));
        }
        let mime_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(MediaBody {
            size: response.content_length(),
            response,
            mime_type,
            sha256: None,
        })
    }

    async fn check_health(&self) -> ProviderHealth {
        let url = format!("{}.json", self.account_url());
        let sid = &self.settings.account_sid;
        let response = match self
            .with_auth(self.http.get(url))
            .timeout(HEALTH_TIMEOUT)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => {
                return ProviderHealth {
                    reachable: false,
                    credentials_valid: false,
                    detail: format!(
                        "Could not reach Twilio at {}: {}. Check this host's network, DNS and \
                         proxy settings, and the sender's api_base.",
                        self.settings.api_base,
                        chain(&e)
                    ),
                }
            }
        };
        let status = response.status();
        let body = crate::net::read_limited(response, MAX_ANSWER)
            .await
            .unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED {
            let code = serde_json::from_slice::<ApiError>(&body)
                .ok()
                .and_then(|e| e.code)
                .unwrap_or(20003);
            return ProviderHealth {
                reachable: true,
                credentials_valid: false,
                detail: format!(
                    "Twilio rejected the credentials for account {sid} (error {code}): check \
                     account_sid and auth_token for this sender; a rotated auth token must be \
                     updated here too."
                ),
            };
        }
        if !status.is_success() {
            return ProviderHealth {
                reachable: true,
                credentials_valid: false,
                detail: format!(
                    "Twilio answered HTTP {status} for account {sid}, so the credentials could \
                     not be confirmed; try again later and check https://status.twilio.com."
                ),
            };
        }
        let account: Option<Account> = serde_json::from_slice(&body).ok();
        let name = account
            .as_ref()
            .and_then(|a| a.friendly_name.as_deref())
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let detail = match account.as_ref().and_then(|a| a.status.as_deref()) {
            Some("active") => format!("Twilio account {sid}{name} is active."),
            None => format!("Twilio accepted the credentials for account {sid}."),
            Some("suspended") => format!(
                "Twilio account {sid}{name} is suspended: sends will fail until it is \
                 reactivated in the Twilio Console."
            ),
            Some("closed") => format!(
                "Twilio account {sid}{name} is closed: configure this sender with an open account."
            ),
            Some(other) => format!("Twilio account {sid}{name} has status `{other}`."),
        };
        ProviderHealth {
            reachable: true,
            credentials_valid: true,
            detail,
        }
    }
}

/// `Retry-After` as delay-seconds or an HTTP date; a date in the past means "now".
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or_default(),
    )
}

/// An error with its causes: reqwest's own message rarely says *why* ("connection refused").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
