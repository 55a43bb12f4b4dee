//! From a request (the API's JSON, the CLI's flags) to a stored broadcast: the template,
//! sender, variables and audience checked before anything is stored, an uploaded list's
//! recipients found or created and rendered, and each recipient's message (or why it is
//! skipped) decided the same way for a list at creation and an audience page by page.

use crate::config::{Config, TemplateStatus};
use crate::domain::broadcast::{held_region, MessagingLimit, SkipReason, VariableMap, MAX_LIST};
use crate::domain::{
    Contact, ContactRef, OutboundContent, OutboundMessage, PhoneNumber, TemplateCategory,
    TemplateMessage,
};
use crate::flows::schedule::{Audience, Member, LAST_REENGAGED_AT, OPTED_OUT};
use crate::store::{Broadcast, DynStore, Id, NewBroadcast, NewRecipient, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Which template: its configured id, or name and language.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateRef {
    Id(i64),
    Name { name: String, language: String },
}

/// Who gets a broadcast, as stored with it (durations in seconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudienceSpec {
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub without_tags: Vec<String>,
    /// Contact fields that must equal these values.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub inactive_for_secs: Option<u64>,
    #[serde(default)]
    pub active_within_secs: Option<u64>,
}

impl AudienceSpec {
    pub fn audience(&self) -> Audience {
        Audience {
            tags: self.tags.clone(),
            without_tags: self.without_tags.clone(),
            attributes: self
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            inactive_for: self.inactive_for_secs.map(Duration::from_secs),
            active_within: self.active_within_secs.map(Duration::from_secs),
            in_flow: None,
            not_in_flow: None,
        }
    }
}

/// A broadcast as a person asked for it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    pub name: Option<String>,
    pub template: Option<TemplateRef>,
    pub sender_id: Option<i64>,
    pub variables: BTreeMap<String, String>,
    pub audience: Option<AudienceSpec>,
    /// Phones (`+34600000001`) or contact keys (`bsuid:US.…`).
    pub recipients: Option<Vec<String>>,
    pub start_at: Option<DateTime<Utc>>,
    pub reply_flow: Option<String>,
    pub frequency_cap: Option<Duration>,
}

/// A refusal of the whole request, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: &'static str,
    pub kind: RefusalKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    Invalid,
    SenderNotFound,
    TemplateNotApproved,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        field,
        kind: RefusalKind::Invalid,
        message: message.into(),
    }
}

/// A list entry refused at creation, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub recipient: String,
    pub reason: String,
}

/// What creating a broadcast did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Created {
    pub id: Id,
    /// List recipients recorded (pending or skipped); 0 for an audience, read later.
    pub recipients: usize,
    pub refused: Vec<Refused>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{}", .0.message)]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How each recipient's message is made: built once per broadcast.
#[derive(Debug, Clone)]
pub struct Renderer {
    map: VariableMap,
    template_name: String,
    language: String,
    content_sid: Option<String>,
    marketing: bool,
    hold_regions: Vec<String>,
    frequency_cap: Option<Duration>,
}

impl Renderer {
    /// For a stored broadcast (the worker), with the config's template and regions.
    pub fn of(b: &Broadcast, config: &Config) -> Result<Self, String> {
        let map: VariableMap = serde_json::from_value(b.variables.clone())
            .map_err(|e| format!("broadcast {}: stored variables unreadable: {e}", b.id))?;
        let content_sid = config
            .templates
            .iter()
            .find(|t| t.name == b.template_name && t.language == b.template_language)
            .and_then(|t| t.twilio_content_sid.clone());
        Ok(Self {
            map,
            template_name: b.template_name.clone(),
            language: b.template_language.clone(),
            content_sid,
            marketing: b.category.as_deref() == Some("marketing"),
            hold_regions: config.marketing.hold_regions.clone(),
            frequency_cap: b
                .frequency_cap_secs
                .map(|s| Duration::from_secs(s.max(0) as u64)),
        })
    }

    /// The recipient row for a contact: its message, or why it is skipped.
    pub fn recipient(
        &self,
        conversation_id: Option<Id>,
        contact: &Contact,
        now: DateTime<Utc>,
    ) -> NewRecipient {
        NewRecipient {
            conversation_id,
            contact_id: contact.id,
            outcome: self.message(contact, now).map_err(|why| why.code()),
        }
    }

    fn message(&self, contact: &Contact, now: DateTime<Utc>) -> Result<String, SkipReason> {
        if contact.attributes.get(OPTED_OUT).and_then(|v| v.as_bool()) == Some(true) {
            return Err(SkipReason::OptedOut);
        }
        if let Some(cap) = self.frequency_cap {
            let last = contact
                .attributes
                .get(LAST_REENGAGED_AT)
                .and_then(|v| v.as_str())
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
            if last
                .is_some_and(|l| (now - l.with_timezone(&Utc)).to_std().unwrap_or_default() < cap)
            {
                return Err(SkipReason::Capped);
            }
        }
        if self.marketing {
            if let Some(cc) = held_region(&contact.key, &self.hold_regions) {
                return Err(SkipReason::RegionHeld(cc.to_string()));
            }
        }
        let to = contact.contact_ref().ok_or(SkipReason::NoPhone)?;
        let variables = self.map.render(contact)?;
        let message = OutboundMessage {
            to,
            content: OutboundContent::Template(TemplateMessage {
                name: self.template_name.clone(),
                language: self.language.clone(),
                variables,
                quick_reply_payloads: Vec::new(),
                content_sid: self.content_sid.clone(),
            }),
            trace: None,
        };
        Ok(serde_json::to_string(&message).unwrap_or_default())
    }
}

/// Whether an audience row belongs to the broadcast: the audience's conditions, with an
/// opted-out contact still counted (it is then skipped as `opted_out`, not left out).
pub fn in_audience(audience: &Audience, member: &Member<'_>, now: DateTime<Utc>) -> bool {
    if member.attributes.get(OPTED_OUT).and_then(|v| v.as_bool()) != Some(true) {
        return audience.matches(member, now, None);
    }
    let mut attributes = member.attributes.clone();
    attributes.remove(OPTED_OUT);
    audience.matches(
        &Member {
            attributes: &attributes,
            ..*member
        },
        now,
        None,
    )
}

/// Checks a request and stores the broadcast (with a list's recipients).
pub async fn create(
    store: &DynStore,
    config: &Config,
    flow_exists: &(dyn Fn(&str) -> bool + Sync),
    req: Request,
    now: DateTime<Utc>,
) -> Result<Created, CreateError> {
    let (new, list) = check(store, config, flow_exists, &req, now).await?;
    let mut refused = Vec::new();
    let mut recipients = Vec::new();
    if let Some(list) = list {
        let renderer = Renderer {
            map: serde_json::from_value(new.variables.clone()).unwrap_or_default(),
            template_name: new.template_name.clone(),
            language: new.template_language.clone(),
            content_sid: config
                .templates
                .iter()
                .find(|t| t.name == new.template_name && t.language == new.template_language)
                .and_then(|t| t.twilio_content_sid.clone()),
            marketing: new.category.as_deref() == Some("marketing"),
            hold_regions: config.marketing.hold_regions.clone(),
            frequency_cap: req.frequency_cap,
        };
        let mut seen = std::collections::HashSet::new();
        for entry in list {
            let contact = match contact_ref(&entry) {
                Ok(c) => c,
                Err(reason) => {
                    refused.push(Refused {
                        recipient: entry,
                        reason,
                    });
                    continue;
                }
            };
            if !seen.insert(contact.key()) {
                refused.push(Refused {
                    recipient: entry,
                    reason: "listed twice".into(),
                });
                continue;
            }
            let conversation = store
                .ensure_conversation(new.sender_id, &contact, None, now)
                .await?;
            let Some(found) = store.contact(conversation.contact_id).await? else {
                continue;
            };
            let row = renderer.recipient(Some(conversation.id), &found, now);
            if let Err(why) = &row.outcome {
                refused.push(Refused {
                    recipient: entry,
                    reason: why.clone(),
                });
            }
            recipients.push(row);
        }
        if recipients.is_empty() {
            let first = refused.first().map_or(String::new(), |r| {
                format!(" (`{}`: {})", r.recipient, r.reason)
            });
            return Err(CreateError::Refused(invalid(
                "recipients",
                format!(
                    "no entry of the list is a phone number with its country code or a \
                     `bsuid:` user id{first}: nothing was stored"
                ),
            )));
        }
    }
    let id = store.create_broadcast(&new, &recipients, now).await?;
    Ok(Created {
        id,
        recipients: recipients.len(),
        refused,
    })
}

fn contact_ref(entry: &str) -> Result<ContactRef, String> {
    let entry = entry.trim();
    if let Some(id) = entry.strip_prefix("bsuid:") {
        if crate::domain::is_user_id(id) {
            return Ok(ContactRef::BusinessScoped(id.to_string()));
        }
        return Err(format!("`{id}` is not a business-scoped user id"));
    }
    // Typed by people, as the API's numbers are: valid in its country's numbering plan
    // (`+1234567890` is not, and would make a contact that the export cannot read back).
    PhoneNumber::parse_strict(entry)
        .map(ContactRef::Phone)
        .map_err(|e| format!("not a phone number with its country code: {e}"))
}

async fn check(
    store: &DynStore,
    config: &Config,
    flow_exists: &(dyn Fn(&str) -> bool + Sync),
    req: &Request,
    now: DateTime<Utc>,
) -> Result<(NewBroadcast, Option<Vec<String>>), CreateError> {
    let refuse = |r: Refusal| Err(CreateError::Refused(r));
    let name = req.name.clone().unwrap_or_else(|| "broadcast".into());
    if name.trim().is_empty() || name.chars().count() > 200 {
        return refuse(invalid("name", "the name must be 1 to 200 characters"));
    }
    // Lists print names as they are: an escape sequence would drive the terminal.
    if name.chars().any(char::is_control) {
        return refuse(invalid(
            "name",
            "the name has a control character (a line break, a tab, an escape): write it on one line of plain text",
        ));
    }
    let sender_id = match (req.sender_id, config.senders.as_slice()) {
        (Some(id), _) => id,
        (None, [only]) => only.id,
        (None, _) => {
            return refuse(invalid(
                "sender_id",
                "sender_id is required: several senders are configured",
            ))
        }
    };
    let Some(sender) = config.senders.iter().find(|s| s.id == sender_id) else {
        return refuse(Refusal {
            field: "sender_id",
            kind: RefusalKind::SenderNotFound,
            message: format!("no sender has id {sender_id}"),
        });
    };
    let template = match &req.template {
        None => {
            return refuse(invalid(
                "template",
                "give the template as `template_id`, or `template_name` with `language`",
            ))
        }
        Some(TemplateRef::Id(id)) => config.templates.iter().find(|t| t.id == *id),
        Some(TemplateRef::Name { name, language }) => config
            .templates
            .iter()
            .find(|t| &t.name == name && &t.language == language),
    };
    let Some(template) = template else {
        return refuse(invalid(
            "template",
            "no template under `templates:` in the config has this id (or name and language)",
        ));
    };
    let live = store
        .live_template(&template.name, &template.language)
        .await?;
    if template.status != TemplateStatus::Approved {
        return refuse(Refusal {
            field: "template",
            kind: RefusalKind::TemplateNotApproved,
            message: format!(
                "template `{}` is {}, not approved: only approved templates can be broadcast",
                template.name,
                template.status.as_str()
            ),
        });
    }
    if let Some(reason) = live.as_ref().and_then(|l| l.unsendable_reason()) {
        return refuse(Refusal {
            field: "template",
            kind: RefusalKind::TemplateNotApproved,
            message: reason,
        });
    }
    let category = live
        .and_then(|l| l.category_at(now))
        .or(template.category)
        .map(|c: TemplateCategory| c.as_str().to_string());
    let map = VariableMap::parse(&req.variables)
        .map_err(|e| CreateError::Refused(invalid("variables", e)))?;
    map.check(&template.name, &template.placeholders())
        .map_err(|e| CreateError::Refused(invalid("variables", e)))?;
    let list = match (&req.audience, &req.recipients) {
        (Some(_), Some(_)) => {
            return refuse(invalid(
                "recipients",
                "give either `audience` or `recipients`, not both",
            ))
        }
        (None, None) => {
            return refuse(invalid(
                "recipients",
                "give `audience` (tags, fields, activity) or `recipients` (a list of phone numbers)",
            ))
        }
        (None, Some(list)) if list.is_empty() => {
            return refuse(invalid("recipients", "the list is empty"))
        }
        (None, Some(list)) if list.len() > MAX_LIST => {
            return refuse(invalid(
                "recipients",
                format!(
                    "{} recipients listed; at most {MAX_LIST} per request: use an audience, or import the contacts with a tag and broadcast to the tag",
                    list.len()
                ),
            ))
        }
        (None, Some(list)) => Some(list.clone()),
        (Some(_), None) => None,
    };
    if let Some(flow) = &req.reply_flow {
        if !flow_exists(flow) {
            return refuse(invalid(
                "reply_flow",
                format!("no loaded flow has id `{flow}`"),
            ));
        }
    }
    if let Some(at) = req.start_at {
        if at > now + chrono::Duration::days(365) {
            return refuse(invalid("start_at", "start_at is more than a year away"));
        }
    }
    let portfolio = sender
        .portfolio
        .as_ref()
        .and_then(|p| config.portfolios.iter().find(|c| &c.id == p));
    Ok((
        NewBroadcast {
            name,
            sender_id,
            template_name: template.name.clone(),
            template_language: template.language.clone(),
            category,
            variables: serde_json::to_value(&map).unwrap_or_default(),
            audience: req
                .audience
                .as_ref()
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            frequency_cap_secs: req.frequency_cap.map(|d| d.as_secs() as i64),
            reply_flow: req.reply_flow.clone(),
            portfolio: portfolio.map(|p| p.id.clone()),
            messaging_limit: portfolio.and_then(|p| MessagingLimit::cap(p.messaging_limit)),
            start_at: req.start_at.unwrap_or(now),
        },
        list,
    ))
}
