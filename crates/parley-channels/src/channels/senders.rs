//! The configured senders at run time: each with its channel client and pacing limiter,
//! and the lookups webhooks need (route key → sender, which secrets to verify with). Built
//! once at start; nothing here changes per request.

use super::meta::MetaClient;
use super::pacer::{Lane, Pacer};
use super::sandbox::SandboxChannel;
use super::twilio::TwilioClient;
use super::Channel;
use crate::config::{ChannelKind, Config, SenderConfig};
use crate::domain::RouteKey;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

pub struct SenderRuntime {
    pub config: SenderConfig,
    pub channel: Arc<dyn Channel>,
    pacer: Option<Pacer>,
    /// Set when the provider refused this sender's credentials or account (190, 368) in
    /// this process: the sends it had already claimed look at the database's stop before
    /// they go, instead of going out one after another into the same refusal.
    pub stop_seen: std::sync::atomic::AtomicBool,
    /// Conversation routing: the number's roles as last read (`read_routing_roles`).
    routing: std::sync::Mutex<Option<RoutingStatus>>,
}

/// The routing roles last read for a Meta sender with `meta.routing`, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingStatus {
    pub roles: Result<crate::domain::RoutingRoles, String>,
    pub read_at: chrono::DateTime<chrono::Utc>,
}

/// How long a routing-roles read may take.
const ROLES_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl SenderRuntime {
    /// Reads the number's routing roles (Meta senders with `meta.routing` only; `None`
    /// otherwise), keeps them for `/readyz` and sets `parley_thread_routing_role`.
    pub async fn read_routing_roles(&self) -> Option<RoutingStatus> {
        self.config.meta.as_ref()?.routing.as_ref()?;
        let roles = match tokio::time::timeout(ROLES_TIMEOUT, self.channel.routing_roles()).await {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(_) => Err(format!("Meta did not answer within {ROLES_TIMEOUT:?}")),
        };
        let sender = self.config.id.to_string();
        for role in ["primary", "escalation", "standby", "none"] {
            let held = roles.as_ref().is_ok_and(|r| r.labels().contains(&role));
            metrics::gauge!(crate::metrics::THREAD_ROUTING_ROLE, "sender" => sender.clone(), "role" => role)
                .set(if held { 1.0 } else { 0.0 });
        }
        if let Err(e) = &roles {
            tracing::warn!(sender = self.config.id, error = %e, "the number's routing roles could not be read");
        }
        let status = RoutingStatus {
            roles,
            read_at: chrono::Utc::now(),
        };
        *self.routing.lock().unwrap_or_else(|e| e.into_inner()) = Some(status.clone());
        Some(status)
    }

    /// The routing roles last read, if any.
    pub fn routing_status(&self) -> Option<RoutingStatus> {
        self.routing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until this sender may send again (per-sender pacing, live sends first).
    pub async fn pace(&self, lane: Lane) {
        if let Some(p) = &self.pacer {
            p.wait(lane).await;
        }
    }
}

pub struct Senders {
    by_id: HashMap<i64, Arc<SenderRuntime>>,
    by_route: HashMap<RouteKey, i64>,
    /// The sandbox channel shared by every sandbox sender, for inspection.
    pub sandbox: SandboxChannel,
}

impl Senders {
    /// The senders with Twilio content SIDs cached in memory only (tools, tests).
    pub fn build(config: &Config, http: reqwest::Client) -> Self {
        Self::build_with(
            config,
            http,
            Arc::new(super::twilio::MemoryContentCache::default()),
        )
    }

    /// The senders, Twilio ones keeping the content SIDs they create in `contents`.
    pub fn build_with(
        config: &Config,
        http: reqwest::Client,
        contents: Arc<dyn super::twilio::ContentCache>,
    ) -> Self {
        let sandbox = SandboxChannel::new();
        let mut by_id = HashMap::new();
        let mut by_route = HashMap::new();
        for s in &config.senders {
            let channel: Arc<dyn Channel> = match (s.channel, &s.meta, &s.twilio) {
                (ChannelKind::Meta, Some(meta), _) => {
                    by_route.insert(
                        RouteKey::MetaPhoneNumberId(meta.phone_number_id.clone()),
                        s.id,
                    );
                    Arc::new(MetaClient::new(http.clone(), meta.clone()))
                }
                (ChannelKind::Twilio, _, Some(tw)) => {
                    by_route.insert(
                        RouteKey::TwilioNumber(s.phone_number.as_e164().to_string()),
                        s.id,
                    );
                    let callback = tw.status_callback.clone().or_else(|| {
                        config
                            .public_url
                            .as_ref()
                            .map(|u| format!("{}/webhooks/twilio", u.trim_end_matches('/')))
                    });
                    Arc::new(
                        TwilioClient::new(
                            http.clone(),
                            tw.clone(),
                            s.phone_number.clone(),
                            callback,
                        )
                        .with_content_cache(contents.clone()),
                    )
                }
                // Config validation guarantees settings for meta/twilio senders.
                _ => Arc::new(sandbox.for_sender(s.id)),
            };
            let pacer = s
                .pace()
                .and_then(NonZeroU32::new)
                .map(|rate| Pacer::new(rate).with_bulk_share(s.bulk_share));
            by_id.insert(
                s.id,
                Arc::new(SenderRuntime {
                    config: s.clone(),
                    channel,
                    pacer,
                    stop_seen: std::sync::atomic::AtomicBool::new(false),
                    routing: std::sync::Mutex::new(None),
                }),
            );
        }
        Self {
            by_id,
            by_route,
            sandbox,
        }
    }

    /// Reads the routing roles of every sender with `meta.routing` (at start; each read
    /// bounded), one after the other.
    pub async fn read_routing_roles(&self) {
        for s in self.by_id.values() {
            s.read_routing_roles().await;
        }
    }

    pub fn get(&self, id: i64) -> Option<&Arc<SenderRuntime>> {
        self.by_id.get(&id)
    }

    pub fn by_route(&self, route: &RouteKey) -> Option<&Arc<SenderRuntime>> {
        self.by_route.get(route).and_then(|id| self.by_id.get(id))
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<SenderRuntime>> {
        self.by_id.values()
    }

    /// Meta senders, for signature checks and the verify-token handshake.
    pub fn meta(&self) -> impl Iterator<Item = (&SenderConfig, &crate::config::MetaSettings)> {
        self.by_id
            .values()
            .filter_map(|s| s.config.meta.as_ref().map(|m| (&s.config, m)))
    }

    pub fn twilio(&self) -> impl Iterator<Item = (&SenderConfig, &crate::config::TwilioSettings)> {
        self.by_id
            .values()
            .filter_map(|s| s.config.twilio.as_ref().map(|t| (&s.config, t)))
    }
}
