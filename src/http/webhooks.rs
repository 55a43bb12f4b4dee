//! Webhook ingress. The signature is checked over the raw body before anything is parsed
//! or stored; a valid webhook is persisted (deduplicated, one transaction shared with
//! concurrent requests) and only then acknowledged with 200. Processing happens after the
//! acknowledgement, in the inbox worker.
//!
//! Choices made so providers never retry forever: unknown event types and items for a
//! sender that is not configured are logged and acknowledged with 200; so is every message
//! or status Parley cannot read (WARN, `parley_webhook_items_unparsed_total`, kept as an
//! unsupported message where it has an id and a sender) — a verified body is answered 200
//! whenever it is JSON (Meta) or a form (Twilio), so one odd item never makes the provider
//! retry, then disable, a batch of valid ones. A bad signature is 401 with nothing stored;
//! a body that is not JSON is 400; a storage failure is 503 so the provider retries.

use super::error::Error;
use super::state::AppState;
use crate::channels::{meta, twilio};
use crate::domain::{RouteKey, Routed, WebhookItem};
use crate::metrics as m;
use crate::store::IngestItem;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use std::collections::HashMap;

/// `GET /webhooks/meta?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
pub async fn meta_handshake(
    State(st): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<String, Error> {
    let tokens: Vec<&str> = st
        .senders
        .meta()
        .map(|(_, m)| m.verify_token.as_str())
        .collect();
    let challenge = meta::webhook::verify_handshake(
        q.get("hub.mode").map(String::as_str),
        q.get("hub.verify_token").map(String::as_str),
        q.get("hub.challenge").map(String::as_str),
        &tokens,
    )
    .ok_or_else(|| Error::forbidden(handshake_refusal(&q, &tokens)))?;
    let token = q.get("hub.verify_token").map(String::as_str);
    for (s, m) in st.senders.meta() {
        if token == Some(m.verify_token.as_str()) {
            st.webhook_log.record(s.id, st.clock.now());
        }
    }
    Ok(challenge)
}

/// Why Meta's handshake was refused, naming the part that is wrong: a right token with a
/// missing challenge must not send the operator off to change the token.
fn handshake_refusal(q: &HashMap<String, String>, tokens: &[&str]) -> &'static str {
    let token = q.get("hub.verify_token").map(String::as_str);
    if !token.is_some_and(|t| tokens.contains(&t)) {
        "verify token does not match any Meta sender's verify_token"
    } else if q.get("hub.mode").map(String::as_str) != Some("subscribe") {
        "hub.mode must be `subscribe` (the verify token is right)"
    } else {
        "hub.challenge is missing (the verify token is right)"
    }
}

pub async fn meta_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, Error> {
    metrics::counter!(m::WEBHOOKS_RECEIVED, "provider" => "meta").increment(1);
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    let verified: Vec<i64> = st
        .senders
        .meta()
        .filter(|(_, m)| meta::webhook::verify_signature(&m.app_secret, &body, signature))
        .map(|(s, _)| s.id)
        .collect();
    if verified.is_empty() {
        metrics::counter!(m::WEBHOOKS_REJECTED, "provider" => "meta", "reason" => "signature")
            .increment(1);
        return Err(Error::unauthorized(
            "X-Hub-Signature-256 is missing or does not match any Meta sender's app_secret",
        ));
    }
    for id in &verified {
        st.webhook_log.record(*id, st.clock.now());
    }
    let routed = meta::webhook::parse(&body).map_err(|e| {
        metrics::counter!(m::WEBHOOKS_REJECTED, "provider" => "meta", "reason" => "malformed")
            .increment(1);
        Error::invalid_request(format!("webhook body is not a Meta webhook: {e}"))
    })?;
    let stored = ingest(&st, "meta", routed, &verified).await?;
    Ok((StatusCode::OK, format!("EVENT_RECEIVED {stored}")))
}

pub async fn twilio_post(
    State(st): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<impl IntoResponse, Error> {
    metrics::counter!(m::WEBHOOKS_RECEIVED, "provider" => "twilio").increment(1);
    // Refused before the body is read when nothing could verify it: no Twilio sender, or
    // no signature shaped like one (base64 of a 20-byte HMAC-SHA1).
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    if st.senders.twilio().next().is_none() || !signature.is_some_and(signature_shaped) {
        metrics::counter!(m::WEBHOOKS_REJECTED, "provider" => "twilio", "reason" => "signature")
            .increment(1);
        return Err(Error::unauthorized(
            "X-Twilio-Signature is missing or malformed, or no Twilio sender is configured",
        ));
    }
    let params = twilio::webhook::parse_form(&body).map_err(|e| {
        metrics::counter!(m::WEBHOOKS_REJECTED, "provider" => "twilio", "reason" => "malformed")
            .increment(1);
        Error::invalid_request(format!("webhook body is not a form: {e}"))
    })?;
    let url = signed_url(&st, &headers, &uri);
    let verified: Vec<i64> = st
        .senders
        .twilio()
        .filter(|(_, t)| twilio::webhook::verify_signature(&t.auth_token, &url, &params, signature))
        .map(|(s, _)| s.id)
        .collect();
    if verified.is_empty() {
        metrics::counter!(m::WEBHOOKS_REJECTED, "provider" => "twilio", "reason" => "signature")
            .increment(1);
        return Err(Error::unauthorized(format!(
            "X-Twilio-Signature is missing or does not match any Twilio sender's auth_token for URL {url} (set public_url to the scheme and host Twilio calls, like https://bot.example.com, without /webhooks/twilio)"
        )));
    }
    for id in &verified {
        st.webhook_log.record(*id, st.clock.now());
    }
    // A verified webhook is never refused for its content: Twilio would retry it, then
    // give up. One that cannot be routed is logged, counted and acknowledged.
    let mut routed = twilio::webhook::parse(&params).unwrap_or_else(|e| {
        twilio::webhook::unparsed("webhook", &e);
        Vec::new()
    });
    // A status callback of a send Parley tagged: the outbox id is in the (signed) URL.
    let outbox_id = uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == twilio::OUTBOX_PARAM)
            .and_then(|(_, v)| v.parse::<i64>().ok())
    });
    for r in &mut routed {
        if let crate::domain::WebhookItem::Status(status) = &mut r.item {
            status.outbox_id = outbox_id;
        }
    }
    ingest(&st, "twilio", routed, &verified).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
    ))
}

/// Whether `header` could be an `X-Twilio-Signature`: the base64 of a 20-byte HMAC-SHA1
/// is 28 characters ending in `=`.
fn signature_shaped(header: &str) -> bool {
    let h = header.trim();
    h.len() == 28
        && h.ends_with('=')
        && h[..27]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The URL Twilio signed: `public_url` + path when configured, else rebuilt from the
/// request (honouring `X-Forwarded-Proto` from a TLS-terminating proxy).
fn signed_url(st: &AppState, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/webhooks/twilio");
    if let Some(base) = &st.config.public_url {
        return format!("{}{}", base.trim_end_matches('/'), path);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}{path}")
}

/// Stores an account-level change before the webhook is acknowledged: a template's status
/// or category, a customer's marketing stop or resume. Rare, so not group-committed.
async fn account_update(
    st: &AppState,
    item: &WebhookItem,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    let stored = match item {
        WebhookItem::Template(update) => st.store.record_template_update(update, now).await,
        WebhookItem::MarketingPreference(p) => st.store.set_marketing_preference(p, now).await,
        _ => Ok(()),
    };
    stored.map_err(|e| {
        tracing::warn!(error = %e, "account update not stored; answering 503 so the provider retries");
        Error::unavailable("could not store the webhook now, please retry")
    })
}

/// Routes items to senders whose secret verified the request and stores them. Returns how
/// many items were stored.
async fn ingest(
    st: &AppState,
    provider: &'static str,
    routed: Vec<Routed>,
    verified: &[i64],
) -> Result<usize, Error> {
    let now = st.clock.now();
    let mut items = Vec::with_capacity(routed.len());
    for r in routed {
        // A template's change is about the business account: the verified signature is
        // enough, whichever sender's secret it matched.
        if let WebhookItem::Template(update) = &r.item {
            account_update(st, &r.item, now).await?;
            tracing::info!(template = %update.name, change = ?update.change, "Meta changed a template");
            continue;
        }
        let sender = match st.senders.by_route(&r.route) {
            Some(s) if verified.contains(&s.config.id) => s.config.id,
            _ => {
                // With cells, a number whose webhooks reach the wrong cell: counted by its
                // number, logged at most every 30 s (it may be all of that number's traffic).
                let (RouteKey::MetaPhoneNumberId(number)
                | RouteKey::TwilioNumber(number)
                | RouteKey::MetaBusinessAccount(number)) = &r.route;
                m::webhook_for_unknown_number(provider, number);
                m::logs::log_every!(warn, provider, route = ?r.route, "webhook for a sender that is not configured (or signed with another sender's secret); acknowledged and ignored, counted in parley_webhooks_unknown_sender_total by number");
                continue;
            }
        };
        items.push(match r.item {
            WebhookItem::Message(message) => IngestItem::Message {
                sender_id: sender,
                message,
                received_at: now,
            },
            WebhookItem::Status(status) => IngestItem::Status {
                sender_id: sender,
                status,
                received_at: now,
            },
            // Handled above, before a sender is needed.
            WebhookItem::Template(_) => continue,
            item @ WebhookItem::MarketingPreference(_) => {
                account_update(st, &item, now).await?;
                continue;
            }
            WebhookItem::IdentityChange(change) => IngestItem::IdentityChange {
                sender_id: sender,
                change,
                received_at: now,
            },
        });
    }
    let n = items.len();
    let traced = super::traces::messages(&st.tracer, &items);
    let outcomes = st.ingestor.ingest(items).await.map_err(|e| {
        // The database's own words stay in the log: they are no business of the caller.
        // At most a line per 30 s: in an outage every webhook comes here.
        crate::metrics::logs::log_every!(warn, error = %e, "webhook not stored; answering 503 so the provider retries");
        Error::unavailable("could not store the webhook now, please retry")
    })?;
    super::traces::ingested(&st.tracer, traced, now, &outcomes, provider);
    Ok(n)
}
