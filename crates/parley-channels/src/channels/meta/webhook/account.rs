//! The account-level fields of a Meta webhook: `message_template_status_update`,
//! `template_category_update` (about a template of the WhatsApp Business Account named by
//! `entry[].id`) and `user_preferences` (a customer stopped or resumed marketing messages).

use super::unparsed;
use crate::domain::{
    is_user_id, ContactRef, MarketingPreference, PhoneNumber, RouteKey, Routed, TemplateCategory,
    TemplateChange, TemplateUpdate, WebhookItem,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Longest template name, language and reason kept (Meta's own limits are far lower).
const TEXT_MAX: usize = 512;

fn text(value: &Value, name: &str) -> Option<String> {
    let v = value.get(name)?;
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        // Meta writes template ids as numbers.
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then(|| s.chars().take(TEXT_MAX).collect())
}

fn seconds(value: &Value, name: &str) -> Option<DateTime<Utc>> {
    let v = value.get(name)?;
    let n = v.as_i64().or_else(|| v.as_str()?.trim().parse().ok())?;
    DateTime::from_timestamp(n, 0)
}

/// A template status or category change; `None` (logged, counted) when unreadable.
pub(super) fn template(
    field: &str,
    waba_id: Option<&str>,
    at: &str,
    value: &Value,
) -> Option<Routed> {
    let Some(name) = text(value, "message_template_name") else {
        unparsed("change", at, "no `message_template_name`");
        return None;
    };
    let change = if field == "message_template_status_update" {
        let Some(event) = text(value, "event") else {
            unparsed("change", at, "no `event` in a template status update");
            return None;
        };
        TemplateChange::Status {
            status: event.to_ascii_lowercase(),
            reason: text(value, "reason"),
            category: text(value, "message_template_category")
                .as_deref()
                .and_then(TemplateCategory::parse),
        }
    } else {
        let category = |name: &str| {
            text(value, name)
                .as_deref()
                .and_then(TemplateCategory::parse)
        };
        match (category("correct_category"), category("new_category")) {
            // Impending: `correct_category` is where Meta will move it, `new_category` where
            // it is now.
            (Some(correct), _) => TemplateChange::CategoryImpending {
                category: correct,
                on: seconds(value, "category_update_timestamp"),
            },
            (None, Some(new)) => TemplateChange::Category {
                category: new,
                previous: category("previous_category"),
            },
            (None, None) => {
                unparsed(
                    "change",
                    at,
                    "no known `new_category` in a template category update",
                );
                return None;
            }
        }
    };
    Some(Routed {
        route: RouteKey::MetaBusinessAccount(waba_id.unwrap_or_default().to_string()),
        item: WebhookItem::Template(TemplateUpdate {
            name,
            language: text(value, "message_template_language"),
            template_id: text(value, "message_template_id"),
            change,
        }),
    })
}

/// `user_preferences`: one item per marketing stop or resume.
pub(super) fn preferences(at: &str, value: &Value, items: &mut Vec<Routed>) {
    let Some(phone_number_id) = value
        .get("metadata")
        .and_then(|m| m.get("phone_number_id"))
        .and_then(Value::as_str)
    else {
        unparsed("change", at, "no `metadata.phone_number_id` string");
        return;
    };
    let Some(list) = value.get("user_preferences").and_then(Value::as_array) else {
        unparsed("change", at, "`user_preferences` is not a list");
        return;
    };
    for (k, pref) in list.iter().enumerate() {
        let at = format!("{at}.user_preferences[{k}]");
        if text(pref, "category").as_deref() != Some("marketing_messages") {
            tracing::debug!(
                at,
                "a user preference about something else than marketing; ignored"
            );
            continue;
        }
        let stopped = match text(pref, "value").as_deref() {
            Some("stop") => true,
            Some("resume") => false,
            _ => {
                unparsed("change", &at, "`value` is neither stop nor resume");
                continue;
            }
        };
        // Both identities when Meta sends both; a user id only when it is BSUID-shaped.
        let contact = ContactRef::from_parts(
            text(pref, "wa_id").and_then(|p| PhoneNumber::parse(&p).ok()),
            text(pref, "user_id").filter(|id| is_user_id(id)),
        );
        let Some(contact) = contact else {
            unparsed("change", &at, "no usable `wa_id` or `user_id`");
            continue;
        };
        items.push(Routed {
            route: RouteKey::MetaPhoneNumberId(phone_number_id.to_string()),
            item: WebhookItem::MarketingPreference(MarketingPreference {
                contact,
                stopped,
                at: seconds(pref, "timestamp"),
            }),
        });
    }
}
