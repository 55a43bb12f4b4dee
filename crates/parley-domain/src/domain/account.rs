//! What Meta tells a business about its account rather than a conversation: a template's
//! status or category changed (`message_template_status_update`, `template_category_update`),
//! and a customer stopped or resumed marketing messages (`user_preferences`).

use super::ContactRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Meta's pricing categories of templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn as_str(&self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "marketing",
            TemplateCategory::Utility => "utility",
            TemplateCategory::Authentication => "authentication",
        }
    }

    /// Meta writes `MARKETING`, the config `marketing`.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "marketing" => TemplateCategory::Marketing,
            "utility" => TemplateCategory::Utility,
            "authentication" => TemplateCategory::Authentication,
            _ => return None,
        })
    }
}

/// A template's status as Meta last reported it, lowercased: `approved`, `paused`,
/// `disabled`, `rejected`, `pending`, `pending_deletion`, `flagged`, `in_appeal`, `locked`…
/// Kept as text: Meta adds values, and an unknown one must still be shown.
pub fn status_is_sendable(status: &str) -> bool {
    // `flagged`: quality is low and the template may be paused soon, but it still sends.
    // `reinstated`: back to approved after a pause.
    matches!(status, "approved" | "flagged" | "reinstated")
}

/// One change Meta reported about a template, identified by name and language (Meta's id
/// is kept for the operator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateUpdate {
    pub name: String,
    pub language: Option<String>,
    pub template_id: Option<String>,
    pub change: TemplateChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TemplateChange {
    /// `message_template_status_update`: `event` lowercased, with Meta's reason.
    Status {
        status: String,
        reason: Option<String>,
        /// Some status updates also carry `message_template_category`.
        #[serde(default)]
        category: Option<TemplateCategory>,
    },
    /// `template_category_update`, completed: the template is now in `category`.
    Category {
        category: TemplateCategory,
        previous: Option<TemplateCategory>,
    },
    /// `template_category_update`, impending: Meta will move the template to `category`
    /// at `on` (when given).
    CategoryImpending {
        category: TemplateCategory,
        on: Option<DateTime<Utc>>,
    },
}

/// A template as Meta last described it, kept in the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveTemplate {
    pub name: String,
    /// `""` when Meta's update named no language: it then applies to every language.
    pub language: String,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub category: Option<TemplateCategory>,
    /// A category change Meta announced and has not made yet.
    pub impending_category: Option<TemplateCategory>,
    pub impending_on: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl LiveTemplate {
    /// The template's category at `now` as Meta has it: an announced change counts from
    /// its date (at once when Meta gave none), then the last completed change.
    pub fn category_at(&self, now: DateTime<Utc>) -> Option<TemplateCategory> {
        match (self.impending_category, self.impending_on) {
            (Some(c), None) => Some(c),
            (Some(c), Some(on)) if on <= now => Some(c),
            _ => self.category,
        }
    }

    /// Why a send of this template must not reach the provider, if it must not.
    pub fn unsendable_reason(&self) -> Option<String> {
        let status = self.status.as_deref()?;
        if status_is_sendable(status) {
            return None;
        }
        Some(format!(
            "template `{}` is {status} at Meta since {}{}: Parley does not send it (WhatsApp would refuse it with 132015/132016); fix it in WhatsApp Manager, or send another template",
            self.name,
            self.updated_at.format("%Y-%m-%d %H:%M UTC"),
            self.reason
                .as_deref()
                .filter(|r| !r.is_empty() && *r != "NONE")
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ))
    }
}

/// `user_preferences`: a customer stopped (`stop`) or resumed marketing messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketingPreference {
    pub contact: ContactRef,
    pub stopped: bool,
    pub at: Option<DateTime<Utc>>,
}

/// What the outbox must know about a contact before it sends a marketing template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketingState {
    /// The customer stopped marketing messages (131050 or `user_preferences` stop).
    pub stopped_at: Option<DateTime<Utc>>,
    /// WhatsApp held a marketing message back (131049): no marketing before this time.
    pub limited_until: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_read_meta_and_config_spellings() {
        assert_eq!(
            TemplateCategory::parse("MARKETING"),
            Some(TemplateCategory::Marketing)
        );
        assert_eq!(
            TemplateCategory::parse("utility"),
            Some(TemplateCategory::Utility)
        );
        assert_eq!(
            TemplateCategory::parse("AUTHENTICATION"),
            Some(TemplateCategory::Authentication)
        );
        assert_eq!(TemplateCategory::parse("transactional"), None);
    }

    #[test]
    fn an_announced_category_counts_from_its_date() {
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let mut t = LiveTemplate {
            name: "order_update".into(),
            language: "en".into(),
            status: None,
            reason: None,
            category: Some(TemplateCategory::Utility),
            impending_category: Some(TemplateCategory::Marketing),
            impending_on: Some(at(1_790_000_000)),
            updated_at: at(1_789_000_000),
        };
        assert_eq!(
            t.category_at(at(1_789_999_999)),
            Some(TemplateCategory::Utility)
        );
        assert_eq!(
            t.category_at(at(1_790_000_000)),
            Some(TemplateCategory::Marketing)
        );
        t.impending_on = None;
        assert_eq!(
            t.category_at(at(1_789_000_000)),
            Some(TemplateCategory::Marketing)
        );
        t.impending_category = None;
        assert_eq!(
            t.category_at(at(1_789_000_000)),
            Some(TemplateCategory::Utility)
        );
    }

    #[test]
    fn only_approved_like_statuses_send() {
        let live = |status: &str, reason: Option<&str>| LiveTemplate {
            name: "promo".into(),
            language: "en".into(),
            status: Some(status.into()),
            reason: reason.map(str::to_string),
            category: None,
            impending_category: None,
            impending_on: None,
            updated_at: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
        };
        assert_eq!(live("approved", None).unsendable_reason(), None);
        assert_eq!(live("flagged", None).unsendable_reason(), None);
        let paused = live("paused", Some("LOW_QUALITY"))
            .unsendable_reason()
            .unwrap();
        assert!(
            paused.contains("template `promo` is paused at Meta since 2026-09-21"),
            "{paused}"
        );
        assert!(paused.contains("(LOW_QUALITY)"), "{paused}");
        assert!(live("disabled", Some("NONE"))
            .unsendable_reason()
            .unwrap()
            .contains("disabled at Meta since 2026-09-21"));
        assert!(live("rejected", None).unsendable_reason().is_some());
    }
}
