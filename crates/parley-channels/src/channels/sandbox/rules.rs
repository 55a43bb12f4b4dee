//! What Meta refuses, decided the way Meta decides it: the customer-service window from the
//! customer's last message, the template's declared status and variables, and (when
//! configured) the pair rate and the throughput. Error codes and titles are Meta's.

use super::{LastInbound, StatusSink};
use crate::config::{SandboxConfig, TemplateConfig, TemplateStatus};
use crate::domain::pricing::{self, EntryPoint, EntryPointAt, StatusPricing};
use crate::domain::{OutboundContent, OutboundMessage, SendFailure, WindowPolicy};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

/// Meta's codes the sandbox produces.
pub const WINDOW_CLOSED: i64 = 131047;
pub const TEMPLATE_PARAMS: i64 = 132000;
pub const TEMPLATE_MISSING: i64 = 132001;
pub const TEMPLATE_PAUSED: i64 = 132015;
pub const PAIR_RATE: i64 = 131056;
pub const THROUGHPUT: i64 = 130429;
pub const MARKETING_LIMITED: i64 = 131049;

/// The app the sandbox is attached to.
pub struct SandboxRules {
    pub config: SandboxConfig,
    pub templates: Vec<TemplateConfig>,
    pub window: WindowPolicy,
    /// Where the customers' last messages are (conversations of the sandbox senders).
    pub inbound_log: Option<Arc<dyn LastInbound>>,
    /// Where delivery statuses go, as if they came from a webhook.
    pub statuses: Option<Arc<dyn StatusSink>>,
    /// Customers' last messages told directly (`note_inbound`), for use without a store.
    inbound: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Each customer's click-to-WhatsApp entry point, as Meta keeps it: when the ad's message
    /// came and when the business's answer opened the free window (`pricing`).
    entry_points: Mutex<HashMap<String, EntryPoint>>,
}

/// Customers whose entry points the sandbox remembers; past it, the oldest are forgotten.
const ENTRY_POINTS_MAX: usize = 100_000;

/// How many customers' last sends `Pacing` holds before it forgets the ones past the pair
/// rate limit (the bound then doubles with what is left, so forgetting stays amortised).
const PACED_PAIRS_MIN: usize = 1024;

#[derive(Default)]
pub(super) struct Pacing {
    /// Each customer's last send, kept only with a pair rate limit and only while it limits.
    last_to: HashMap<String, DateTime<Utc>>,
    /// `last_to`'s size at which the next send forgets the pairs past the limit.
    forget_at: usize,
    recent: VecDeque<DateTime<Utc>>,
}

impl SandboxRules {
    pub fn new(
        config: SandboxConfig,
        templates: Vec<TemplateConfig>,
        window: WindowPolicy,
    ) -> Self {
        Self {
            config,
            templates,
            window,
            inbound_log: None,
            statuses: None,
            inbound: Mutex::new(HashMap::new()),
            entry_points: Mutex::new(HashMap::new()),
        }
    }

    /// Attaches the rules to a running Parley: where customers' last messages are looked
    /// up and where delivery statuses go.
    pub fn with_parley(
        mut self,
        inbound_log: Arc<dyn LastInbound>,
        statuses: Arc<dyn StatusSink>,
    ) -> Self {
        self.inbound_log = Some(inbound_log);
        self.statuses = Some(statuses);
        self
    }

    /// Records a customer message when there is no store to look it up in.
    pub fn note_inbound(&self, contact_key: &str, at: DateTime<Utc>) {
        self.inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(contact_key.to_string(), at);
    }

    /// A customer's message came from a click-to-WhatsApp ad at `at`.
    pub fn note_referral(&self, contact_key: &str, at: DateTime<Utc>) {
        let mut map = self
            .entry_points
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if map.len() >= ENTRY_POINTS_MAX && !map.contains_key(contact_key) {
            let oldest = map
                .iter()
                .min_by_key(|(_, e)| e.referral_at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        let previous = map.get(contact_key).copied();
        map.insert(contact_key.to_string(), EntryPoint::referral(previous, at));
    }

    /// The `pricing` Meta puts in the statuses of `message`, sent now: its category, and
    /// whether it is charged by Meta's rules (`domain::pricing::classify`). A send that
    /// answers an ad's message in time opens the free window.
    pub(super) async fn pricing(
        &self,
        sender_id: Option<i64>,
        message: &OutboundMessage,
        now: DateTime<Utc>,
    ) -> Result<StatusPricing, SendFailure> {
        let key = message.to.key();
        let categories: HashMap<String, crate::domain::TemplateCategory> = match &message.content {
            OutboundContent::Template(t) => self
                .templates
                .iter()
                .filter(|c| c.name == t.name)
                .filter_map(|c| Some((c.name.clone(), c.category?)))
                .collect(),
            _ => HashMap::new(),
        };
        let category = pricing::content_category(&message.content, &categories);
        let last = self.last_inbound(sender_id, &key).await?;
        let window_open = pricing::service_window_open(&self.window, last, now);
        let entry = {
            let mut map = self
                .entry_points
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match map.get_mut(&key) {
                Some(e) => {
                    let at = e.at(now);
                    if at == EntryPointAt::Opens {
                        e.opened_at = Some(now);
                    }
                    at
                }
                None => EntryPointAt::Closed,
            }
        };
        let kind = pricing::classify(category, window_open, entry, now);
        Ok(StatusPricing {
            billable: Some(kind.billable()),
            pricing_model: Some("PMP".into()),
            category: Some(category.as_str().into()),
            kind: Some(kind.as_str().into()),
        })
    }

    async fn last_inbound(
        &self,
        sender_id: Option<i64>,
        key: &str,
    ) -> Result<Option<DateTime<Utc>>, SendFailure> {
        let noted = self
            .inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied();
        let stored = match (&self.inbound_log, sender_id) {
            (Some(log), Some(sender)) => log
                .last_inbound(sender, key)
                .await
                .map_err(|e| SendFailure::transport(format!("sandbox store lookup failed: {e}")))?,
            _ => None,
        };
        Ok(noted.max(stored))
    }

    /// Refuses what Meta refuses for this message, whatever the rate.
    pub(super) async fn check(
        &self,
        sender_id: Option<i64>,
        message: &OutboundMessage,
        now: DateTime<Utc>,
    ) -> Result<(), SendFailure> {
        match &message.content {
            OutboundContent::Template(t) if self.config.enforce_templates => {
                self.check_template(&t.name, &t.language, t.variables.len())
            }
            content if content.is_freeform() && self.config.enforce_window => {
                let last = self.last_inbound(sender_id, &message.to.key()).await?;
                if self.window.state(last, now).is_open {
                    Ok(())
                } else {
                    Err(SendFailure::new(
                        Some(400),
                        Some(WINDOW_CLOSED),
                        "Re-engagement message: more than 24 hours have passed since the recipient last replied to the sender number",
                    ))
                }
            }
            _ => Ok(()),
        }
    }

    fn check_template(
        &self,
        name: &str,
        language: &str,
        variables: usize,
    ) -> Result<(), SendFailure> {
        let fail = |code, title: String| Err(SendFailure::new(Some(400), Some(code), title));
        let Some(t) = self
            .templates
            .iter()
            .find(|t| t.name == name && t.language == language)
        else {
            return fail(
                TEMPLATE_MISSING,
                format!("Template name does not exist in the translation: `{name}` ({language}) is not declared"),
            );
        };
        match t.status {
            TemplateStatus::Approved => {}
            TemplateStatus::Paused => {
                return fail(TEMPLATE_PAUSED, format!("Template is paused: `{name}`"))
            }
            other => {
                return fail(
                    TEMPLATE_MISSING,
                    format!(
                        "Template name does not exist in the translation: `{name}` is {} , not approved",
                        other.as_str()
                    )
                    .replace(" ,", ","),
                )
            }
        }
        let expected = t.placeholders().len();
        if variables != expected {
            return fail(
                TEMPLATE_PARAMS,
                format!("Number of parameters does not match the expected number of params: `{name}` expects {expected}, got {variables}"),
            );
        }
        Ok(())
    }

    /// Whether WhatsApp holds this message back for the customer's marketing limit
    /// (`marketing_limited_percent`): a marketing template to one of the chosen customers.
    pub(super) fn holds_marketing(&self, message: &OutboundMessage) -> bool {
        let percent = u64::from(self.config.marketing_limited_percent.min(100));
        let OutboundContent::Template(t) = &message.content else {
            return false;
        };
        let marketing = self.templates.iter().any(|d| {
            d.name == t.name && d.category == Some(crate::domain::TemplateCategory::Marketing)
        });
        if percent == 0 || !marketing {
            return false;
        }
        // FNV-1a: stable across runs and processes, unlike the std hasher.
        let hash = message
            .to
            .key()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        hash % 100 < percent
    }

    /// Pair rate and throughput; a refused send does not count.
    pub(super) fn pace(
        &self,
        pacing: &mut Pacing,
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SendFailure> {
        if let Some(limit) = self.config.pair_rate_limit {
            let limit = chrono::Duration::from_std(limit).unwrap_or_default();
            if pacing
                .last_to
                .get(to)
                .is_some_and(|last| now - *last < limit)
            {
                return Err(SendFailure::new(
                    Some(400),
                    Some(PAIR_RATE),
                    "(Business Account, Consumer Account) pair rate limit hit",
                ));
            }
        }
        if let Some(per_second) = self.config.throughput {
            let second_ago = now - chrono::Duration::seconds(1);
            while pacing.recent.front().is_some_and(|t| *t <= second_ago) {
                pacing.recent.pop_front();
            }
            if pacing.recent.len() >= per_second as usize {
                return Err(SendFailure::new(
                    Some(400),
                    Some(THROUGHPUT),
                    "Rate limit hit: the sender's throughput was exceeded",
                ));
            }
            pacing.recent.push_back(now);
        }
        if let Some(limit) = self.config.pair_rate_limit {
            // Every customer ever sent to would otherwise stay in memory.
            if pacing.last_to.len() >= pacing.forget_at.max(PACED_PAIRS_MIN) {
                let limit = chrono::Duration::from_std(limit).unwrap_or_default();
                pacing.last_to.retain(|_, last| now - *last < limit);
                pacing.forget_at = pacing.last_to.len() * 2;
            }
            pacing.last_to.insert(to.to_string(), now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod pacing_tests {
    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + second, 0).unwrap()
    }

    /// A sandbox that sends to many customers holds only the ones its pair rate limit still
    /// covers, and none without a limit.
    #[test]
    fn pacing_forgets_customers_past_the_pair_limit() {
        let limited = SandboxRules::new(
            SandboxConfig {
                pair_rate_limit: Some(std::time::Duration::from_secs(6)),
                ..Default::default()
            },
            vec![],
            WindowPolicy::default(),
        );
        let mut pacing = Pacing::default();
        for i in 0..20_000 {
            limited
                .pace(&mut pacing, &format!("+1555{i:07}"), at(i))
                .unwrap();
        }
        assert!(
            pacing.last_to.len() <= PACED_PAIRS_MIN,
            "{}",
            pacing.last_to.len()
        );
        // The limit still holds for a customer sent to within it.
        let err = limited
            .pace(&mut pacing, "+15550019999", at(20_000))
            .unwrap_err();
        assert_eq!(err.code, Some(PAIR_RATE));

        let unlimited =
            SandboxRules::new(SandboxConfig::default(), vec![], WindowPolicy::default());
        let mut pacing = Pacing::default();
        for i in 0..5_000 {
            unlimited
                .pace(&mut pacing, &format!("+1555{i:07}"), at(i))
                .unwrap();
        }
        assert!(pacing.last_to.is_empty());
    }
}
