//! `templates:`: the message templates declared as approved at the provider.

use crate::domain::limits::{BODY_MAX, TEMPLATE_BUTTONS_MAX};
use serde::Deserialize;
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
}

impl TemplateStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TemplateStatus::Approved => "approved",
            TemplateStatus::Pending => "pending",
            TemplateStatus::Rejected => "rejected",
            TemplateStatus::Paused => "paused",
        }
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// The template's id in the API (`template_id`).
    pub id: i64,
    /// Its name at Meta, as flows name it (`template: menu_reminder`).
    pub name: String,
    /// Its language code, like `en` or `es_MX`.
    pub language: String,
    /// `approved`, `pending`, `rejected` or `paused`: only approved templates are sent.
    pub status: TemplateStatus,
    /// The body with `{{1}}`, `{{2}}` placeholders.
    pub body: String,
    /// Quick-reply button labels, in order.
    #[serde(default)]
    pub buttons: Vec<String>,
    /// Twilio Content API SID (`HX…`) for sending this template through Twilio.
    #[serde(default)]
    pub twilio_content_sid: Option<String>,
    /// Meta's pricing category: `marketing`, `utility` or `authentication`. Marketing
    /// templates are held back for customers who stopped marketing or whom WhatsApp's
    /// per-user marketing limit reached (131049, 131050). A `template_category_update`
    /// webhook overrides it (see `GET /api/user/whatsapp/templates`).
    #[serde(default)]
    #[schemars(schema_with = "category_schema")]
    pub category: Option<crate::domain::TemplateCategory>,
}

impl TemplateConfig {
    /// Placeholder names used in the body, in order of first use, without repeats.
    pub fn placeholders(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = self.body.as_str();
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let name = after[..end].trim().to_string();
            if !name.is_empty() && !found.contains(&name) {
                found.push(name);
            }
            rest = &after[end + 2..];
        }
        found
    }
}

/// What a declared template lacks without being wrong: a category. Without it Parley cannot
/// tell a marketing template, so it has no plan for WhatsApp's per-user marketing limit
/// (131049) or a customer's marketing stop (131050).
pub fn template_warning(t: &TemplateConfig) -> Option<String> {
    t.category.is_none().then(|| {
        format!(
            "template `{}` ({}) has no category: if it is a marketing template, declare `category: marketing` so Parley holds it back from customers who stopped marketing (131050) and resends it a day or more later when WhatsApp's per-user marketing limit holds it back (131049), instead of failing; else declare `utility` or `authentication`",
            t.name, t.language
        )
    })
}

/// The checks across `templates:` entries; each problem starts with the entry's path.
pub(crate) fn template_problems(templates: &[TemplateConfig], problems: &mut Vec<String>) {
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for (i, t) in templates.iter().enumerate() {
        let at = format!("templates[{i}]");
        if !ids.insert(t.id) {
            problems.push(format!("{at}.id: template id {} is used twice", t.id));
        }
        if !names.insert((t.name.clone(), t.language.clone())) {
            problems.push(format!(
                "{at}.name: template {} ({}) is declared twice",
                t.name, t.language
            ));
        }
        if t.body.chars().count() > BODY_MAX {
            problems.push(format!(
                "{at}.body: longer than WhatsApp's {BODY_MAX} characters"
            ));
        }
        if t.buttons.len() > TEMPLATE_BUTTONS_MAX {
            problems.push(format!(
                "{at}.buttons: at most {TEMPLATE_BUTTONS_MAX} quick-reply buttons"
            ));
        }
    }
}

/// `category`'s JSON Schema: Meta's pricing categories.
fn category_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "enum": ["marketing", "utility", "authentication", null] })
}
