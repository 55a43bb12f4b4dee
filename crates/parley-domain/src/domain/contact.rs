//! A contact as stored, and the changes a flow step makes to it.

use super::{ContactRef, Id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The attribute that holds a contact's opt-out (`true`): set by opt-out keywords and by an
/// import's `opted_in: false`; audiences skip such contacts.
pub const OPTED_OUT: &str = "opted_out";
/// The attribute a scheduled or broadcast message stamps with its time (re-engagement).
pub const LAST_REENGAGED_AT: &str = "last_reengaged_at";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: Id,
    /// `ContactRef::key()`: `+16315551181` or `bsuid:US.…`.
    pub key: String,
    pub name: Option<String>,
    /// Free-form attributes flows set and read (`contact.city`).
    pub attributes: Map<String, Value>,
    pub tags: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// The business-scoped user id (BSUID), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The customer's WhatsApp username, when they have one and the provider sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl Contact {
    pub fn contact_ref(&self) -> Option<ContactRef> {
        ContactRef::from_key(&self.key)
    }
}

/// Changes to a contact, applied inside the step's transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    pub name: Option<String>,
    /// Keys set to these values; a `null` value removes the key.
    pub set_attributes: Map<String, Value>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl ContactPatch {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.set_attributes.is_empty()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
    }

    /// The one merge, used by the stores (inside the step's transaction), the inbox worker
    /// (its copy of the contact) and the engine (the contact flows see): the name replaced,
    /// attributes set (a `null` value removes the key), tags added once, then tags removed.
    pub fn apply_to(
        &self,
        name: &mut Option<String>,
        attributes: &mut Map<String, Value>,
        tags: &mut Vec<String>,
    ) {
        if let Some(n) = &self.name {
            *name = Some(n.clone());
        }
        for (key, value) in &self.set_attributes {
            if value.is_null() {
                attributes.remove(key);
            } else {
                attributes.insert(key.clone(), value.clone());
            }
        }
        for tag in &self.add_tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        tags.retain(|tag| !self.remove_tags.contains(tag));
    }

    /// Whether this patch opts the contact out (`opted_out: true`): the stores then stop
    /// the contact's sends still queued, in the same transaction.
    pub fn opts_out(&self) -> bool {
        self.set_attributes.get(OPTED_OUT) == Some(&Value::Bool(true))
    }

    /// Adds `tag` (and no longer removes it).
    pub fn tag(&mut self, tag: &str) {
        self.remove_tags.retain(|x| x != tag);
        if !self.add_tags.iter().any(|x| x == tag) {
            self.add_tags.push(tag.to_string());
        }
    }

    /// Removes `tag` (and no longer adds it).
    pub fn untag(&mut self, tag: &str) {
        self.add_tags.retain(|x| x != tag);
        if !self.remove_tags.iter().any(|x| x == tag) {
            self.remove_tags.push(tag.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn patches_merge_attributes_and_tags() {
        let (mut name, mut attributes, mut tags) = (
            None,
            map(json!({"city": "Lima", "plan": "free"})),
            vec!["a".to_string(), "b".to_string()],
        );
        let patch = ContactPatch {
            name: Some("Ana".into()),
            set_attributes: map(json!({"plan": null, "age": 3})),
            add_tags: vec!["b".into(), "c".into()],
            remove_tags: vec!["a".into()],
        };
        patch.apply_to(&mut name, &mut attributes, &mut tags);
        assert_eq!(name.as_deref(), Some("Ana"));
        assert_eq!(Value::Object(attributes), json!({"city": "Lima", "age": 3}));
        assert_eq!(tags, vec!["b".to_string(), "c".to_string()]);
    }

    #[test]
    fn tagging_and_untagging_keep_the_lists_apart() {
        let mut patch = ContactPatch::default();
        patch.tag("vip");
        patch.tag("vip");
        patch.untag("lead");
        patch.untag("vip");
        patch.tag("lead");
        assert_eq!(patch.add_tags, vec!["lead".to_string()]);
        assert_eq!(patch.remove_tags, vec!["vip".to_string()]);
    }
}
