//! Broadcasts, the pure part: a template's variables mapped from contact fields (parsed
//! once, checked against the template's placeholders, rendered per recipient), WhatsApp's
//! messaging-limit tiers, marketing regions held back, and the words for why a recipient
//! was skipped. No I/O: the store keeps the rows, the worker paces them.

use super::{Contact, ContactRef, Id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Recipients an uploaded list may name in one request.
pub const MAX_LIST: usize = 10_000;
/// Variables a broadcast may map, and the longest mapping text.
pub const MAX_VARIABLES: usize = 20;
pub const MAX_VARIABLE_TEXT: usize = 1_024;
/// The longest rendered value WhatsApp takes for one body parameter (Meta: 1,024).
pub const MAX_RENDERED: usize = 1_024;
/// Meta's pair rate: one message every 6 s to the same customer from one number (131056).
pub const PAIR_GAP: std::time::Duration = std::time::Duration::from_secs(6);
/// The messaging limit counts unique customers over a moving 24 hours.
pub const REACH_WINDOW_HOURS: i64 = 24;

/// One piece of a variable's text: literal, or a blank filled from the contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    Field {
        name: String,
        default: Option<String>,
    },
    Name {
        default: Option<String>,
    },
    Phone,
}

/// The template's placeholders (`"1"`, `"2"`, …) and how each is filled.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VariableMap(pub BTreeMap<String, Vec<Part>>);

impl VariableMap {
    /// Parses `{"1": "{{ contact.fields.first_name }}"}`; a problem names the variable.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self, String> {
        if raw.len() > MAX_VARIABLES {
            return Err(format!(
                "{} variables given; a template has at most {MAX_VARIABLES}",
                raw.len()
            ));
        }
        let mut map = BTreeMap::new();
        for (key, text) in raw {
            if text.trim().is_empty() {
                return Err(format!(
                    "variable {key} is empty: WhatsApp refuses an empty parameter, so every \
                     customer would be skipped; give it text or a blank like \
                     \"{{{{ contact.fields.first_name | default: there }}}}\""
                ));
            }
            if text.chars().count() > MAX_VARIABLE_TEXT {
                return Err(format!(
                    "variable {key}: longer than {MAX_VARIABLE_TEXT} characters"
                ));
            }
            // What every customer's value would carry (the blanks cannot take it away).
            if let Some(problem) = super::limits::template_parameter_problem(text) {
                return Err(format!("variable {key} {problem}"));
            }
            map.insert(
                key.clone(),
                parse_text(text).map_err(|e| format!("variable {key}: {e}"))?,
            );
        }
        Ok(Self(map))
    }

    /// Every placeholder of the template mapped, and nothing else.
    pub fn check(&self, template: &str, placeholders: &[String]) -> Result<(), String> {
        let missing: Vec<&str> = placeholders
            .iter()
            .filter(|p| !self.0.contains_key(*p))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "template `{template}` has placeholders {} that `variables` does not map; add e.g. \"{}\": \"{{{{ contact.fields.first_name }}}}\"",
                missing
                    .iter()
                    .map(|p| format!("{{{{{p}}}}}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                missing[0]
            ));
        }
        if let Some(extra) = self.0.keys().find(|k| !placeholders.contains(k)) {
            return Err(format!(
                "template `{template}` has no placeholder {{{{{extra}}}}} (it has {}); remove \"{extra}\" from `variables`",
                if placeholders.is_empty() {
                    "none".to_string()
                } else {
                    placeholders
                        .iter()
                        .map(|p| format!("{{{{{p}}}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ));
        }
        Ok(())
    }

    /// The values for one contact, or the reason it cannot get this broadcast: the first
    /// field it lacks (with no default), or a value WhatsApp would refuse.
    pub fn render(&self, contact: &Contact) -> Result<BTreeMap<String, String>, SkipReason> {
        let mut out = BTreeMap::new();
        for (key, parts) in &self.0 {
            let mut value = String::new();
            for part in parts {
                match part {
                    Part::Text { text } => value.push_str(text),
                    Part::Field { name, default } => {
                        let found = match contact.attributes.get(name) {
                            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => {
                                Some(s.clone())
                            }
                            Some(serde_json::Value::Null) | None => None,
                            Some(serde_json::Value::String(_)) => None,
                            Some(other) => Some(other.to_string()),
                        };
                        match found.or_else(|| default.clone()) {
                            Some(v) => value.push_str(&v),
                            None => return Err(SkipReason::MissingField(name.clone())),
                        }
                    }
                    Part::Name { default } => {
                        match contact
                            .name
                            .clone()
                            .filter(|n| !n.trim().is_empty())
                            .or_else(|| default.clone())
                        {
                            Some(v) => value.push_str(&v),
                            None => return Err(SkipReason::MissingField("name".into())),
                        }
                    }
                    Part::Phone => {
                        match ContactRef::from_key(&contact.key).and_then(|c| c.phone().cloned()) {
                            Some(p) => value.push_str(p.as_e164()),
                            None => return Err(SkipReason::MissingField("phone".into())),
                        }
                    }
                }
            }
            if value.trim().is_empty() {
                return Err(SkipReason::EmptyVariable(key.clone()));
            }
            if value.chars().count() > MAX_RENDERED {
                return Err(SkipReason::TooLong(key.clone()));
            }
            // A contact's field with a line break, a tab, five spaces or a control
            // character: WhatsApp would fail the message (132018).
            if super::limits::template_parameter_problem(&value).is_some() {
                return Err(SkipReason::Unsendable(key.clone()));
            }
            out.insert(key.clone(), value);
        }
        Ok(out)
    }
}

/// Literal text with `{{ contact.fields.x }}`, `{{ contact.x }}`, `{{ contact.name }}`,
/// `{{ contact.phone }}` blanks, each optionally `| default: text`.
fn parse_text(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text {
                text: rest[..start].to_string(),
            });
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("a `{{` is never closed with `}}`".into());
        };
        parts.push(parse_blank(after[..end].trim())?);
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text {
            text: rest.to_string(),
        });
    }
    Ok(parts)
}

fn parse_blank(blank: &str) -> Result<Part, String> {
    let (path, default) = match blank.split_once('|') {
        Some((path, filter)) => {
            let filter = filter.trim();
            let Some(value) = filter.strip_prefix("default:") else {
                return Err(format!(
                    "`{filter}` is not a filter broadcasts know; only `| default: text`"
                ));
            };
            (
                path.trim(),
                Some(value.trim().trim_matches('"').to_string()),
            )
        }
        None => (blank, None),
    };
    let field = |name: &str| -> Result<Part, String> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("`{{{{ {path} }}}}` does not name a contact field"));
        }
        Ok(Part::Field {
            name: name.to_string(),
            default: default.clone(),
        })
    };
    match path {
        "contact.name" => Ok(Part::Name { default }),
        "contact.phone" => Ok(Part::Phone),
        p => {
            if let Some(name) = p.strip_prefix("contact.fields.") {
                field(name)
            } else if let Some(name) = p.strip_prefix("contact.") {
                field(name)
            } else {
                Err(format!(
                    "`{{{{ {p} }}}}`: a broadcast fills blanks from the contact only: `contact.fields.<name>`, `contact.name` or `contact.phone`"
                ))
            }
        }
    }
}

/// Why a recipient does not get a broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    OptedOut,
    Capped,
    RegionHeld(String),
    MissingField(String),
    EmptyVariable(String),
    TooLong(String),
    /// The variable's value has what WhatsApp refuses in a template parameter.
    Unsendable(String),
    NoPhone,
}

impl SkipReason {
    /// The reason as stored and reported: `opted_out`, `missing_field:first_name`, …
    pub fn code(&self) -> String {
        match self {
            SkipReason::OptedOut => "opted_out".into(),
            SkipReason::Capped => "capped".into(),
            SkipReason::RegionHeld(cc) => format!("region_held:{cc}"),
            SkipReason::MissingField(f) => format!("missing_field:{f}"),
            SkipReason::EmptyVariable(v) => format!("empty_variable:{v}"),
            SkipReason::TooLong(v) => format!("too_long:{v}"),
            SkipReason::Unsendable(v) => format!("unsendable_variable:{v}"),
            SkipReason::NoPhone => "no_phone".into(),
        }
    }
}

/// The calling code of `key` (a contact key, `+1…`) among `regions`, if held.
pub fn held_region<'a>(key: &str, regions: &'a [String]) -> Option<&'a str> {
    let digits = key.strip_prefix('+')?;
    regions
        .iter()
        .filter(|cc| !cc.is_empty() && digits.starts_with(cc.as_str()))
        .max_by_key(|cc| cc.len())
        .map(String::as_str)
}

/// WhatsApp's messaging limit of a business portfolio: unique customers reached outside a
/// window per moving 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingLimit {
    Tier(u32),
    Unlimited,
}

impl MessagingLimit {
    pub const TIERS: [u32; 4] = [250, 2_000, 10_000, 100_000];

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "unlimited" {
            return Ok(Self::Unlimited);
        }
        match s.replace([',', '_'], "").parse::<u32>() {
            Ok(n) if Self::TIERS.contains(&n) => Ok(Self::Tier(n)),
            _ => Err(format!(
                "`{s}` is not one of WhatsApp's messaging limits: 250, 2000, 10000, 100000 or unlimited"
            )),
        }
    }

    pub fn cap(self) -> Option<i64> {
        match self {
            Self::Tier(n) => Some(i64::from(n)),
            Self::Unlimited => None,
        }
    }
}

/// Where a broadcast is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastState {
    Sending,
    Paused,
    Cancelled,
    Done,
}

impl BroadcastState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Paused => "paused",
            Self::Cancelled => "cancelled",
            Self::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sending" => Self::Sending,
            "paused" => Self::Paused,
            "cancelled" => Self::Cancelled,
            "done" => Self::Done,
            _ => return None,
        })
    }
}

/// What a person may do to a broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BroadcastAction {
    Pause,
    Resume,
    Cancel,
}

impl BroadcastAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel => "cancel",
        }
    }

    /// The state the action leads to from `from`, or why it cannot. `waiting`: some of the
    /// broadcast's messages are still in the outbox, unsent; a `done` broadcast (every
    /// recipient queued) can then still be cancelled, which drops them.
    pub fn apply(self, from: BroadcastState, waiting: bool) -> Result<BroadcastState, String> {
        use BroadcastState::*;
        match (self, from) {
            (Self::Pause, Sending) => Ok(Paused),
            (Self::Resume, Paused) => Ok(Sending),
            (Self::Cancel, Sending | Paused) => Ok(Cancelled),
            (Self::Cancel, Done) if waiting => Ok(Cancelled),
            (Self::Cancel, Cancelled) => {
                Err("the broadcast is cancelled already: nothing more of it is sent".into())
            }
            (action, state) => Err(format!(
                "the broadcast is {}: it cannot be {}",
                state.as_str(),
                match action {
                    Self::Pause => "paused (only a sending one can)",
                    Self::Resume => "resumed (only a paused one can)",
                    Self::Cancel => "cancelled (it has ended: every message has been sent)",
                }
            )),
        }
    }
}

/// The latest broadcast a customer got that names a `reply_flow`: their reply starts that
/// flow (once per broadcast) until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastReply {
    pub recipient_id: Id,
    pub flow: String,
    pub until: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Cancelling a cancelled broadcast says so, not that every message was sent.
    #[test]
    fn cancelling_twice_says_it_is_cancelled_already() {
        let e = BroadcastAction::Cancel
            .apply(BroadcastState::Cancelled, false)
            .unwrap_err();
        assert!(e.contains("cancelled already"), "{e}");
        let e = BroadcastAction::Cancel
            .apply(BroadcastState::Done, false)
            .unwrap_err();
        assert!(e.contains("every message has been sent"), "{e}");
    }

    fn contact(fields: serde_json::Value, name: Option<&str>) -> Contact {
        Contact {
            id: 1,
            key: "+34600000001".into(),
            name: name.map(Into::into),
            attributes: fields.as_object().unwrap().clone(),
            tags: vec![],
            created_at: Utc::now(),
            user_id: None,
            username: None,
        }
    }

    fn map(pairs: &[(&str, &str)]) -> Result<VariableMap, String> {
        VariableMap::parse(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn fields_name_phone_and_defaults_render_per_contact() {
        let m = map(&[
            ("1", "{{ contact.fields.first_name }}"),
            (
                "2",
                "{{contact.plan | default: basic}} for {{ contact.phone }}",
            ),
            ("3", "{{ contact.name | default: friend }}"),
        ])
        .unwrap();
        let out = m
            .render(&contact(json!({"first_name": "Ana"}), None))
            .unwrap();
        assert_eq!(out["1"], "Ana");
        assert_eq!(out["2"], "basic for +34600000001");
        assert_eq!(out["3"], "friend");
    }

    #[test]
    fn an_empty_variable_is_refused_before_anything_is_stored() {
        let e = map(&[("1", " "), ("2", "b")]).err().unwrap();
        assert!(e.starts_with("variable 1 is empty"), "{e}");
    }

    /// WhatsApp fails a template parameter with a line break, a tab, five spaces in a row
    /// or a control character (132018): in the request's own text that refuses the whole
    /// broadcast; in one contact's field, that contact is skipped.
    #[test]
    fn what_whatsapp_refuses_in_a_parameter_is_refused_or_skipped() {
        for bad in ["a\nb", "a\tb", "a      b", "esc\u{1b}[31m"] {
            let e = map(&[("1", bad)]).err().unwrap();
            assert!(e.starts_with("variable 1 has"), "{bad:?}: {e}");
        }
        let m = map(&[("1", "Hi {{ contact.fields.first_name }}")]).unwrap();
        for bad in ["Ann\nMarie", "Tab\there", "Esc\u{1b}[31m", "a      b"] {
            assert_eq!(
                m.render(&contact(json!({ "first_name": bad }), None)),
                Err(SkipReason::Unsendable("1".into())),
                "{bad:?}"
            );
        }
        assert_eq!(
            SkipReason::Unsendable("1".into()).code(),
            "unsendable_variable:1"
        );
        assert!(m
            .render(&contact(json!({"first_name": "Ann Marie"}), None))
            .is_ok());
    }

    #[test]
    fn a_missing_field_without_default_skips_the_recipient() {
        let m = map(&[("1", "{{ contact.fields.first_name }}")]).unwrap();
        assert_eq!(
            m.render(&contact(json!({"first_name": " "}), None)),
            Err(SkipReason::MissingField("first_name".into()))
        );
    }

    #[test]
    fn a_wrong_mapping_is_refused_naming_the_placeholder() {
        let m = map(&[("1", "x")]).unwrap();
        let e = m
            .check("promo", &["1".to_string(), "2".to_string()])
            .unwrap_err();
        assert!(e.contains("{{2}}"), "{e}");
        let e = map(&[("1", "x"), ("3", "y")])
            .unwrap()
            .check("promo", &["1".to_string()])
            .unwrap_err();
        assert!(e.contains("no placeholder {{3}}"), "{e}");
        let e = map(&[("1", "{{ message.text }}")]).unwrap_err();
        assert!(e.contains("variable 1"), "{e}");
        assert!(map(&[("1", "{{ contact.fields.x ")]).is_err());
        assert!(map(&[("1", "{{ contact.fields.x | upcase }}")]).is_err());
    }

    #[test]
    fn regions_match_the_longest_calling_code() {
        let regions = vec!["1".to_string(), "44".to_string()];
        assert_eq!(held_region("+15551234567", &regions), Some("1"));
        assert_eq!(held_region("+447700900000", &regions), Some("44"));
        assert_eq!(held_region("+34600000001", &regions), None);
        assert_eq!(held_region("bsuid:US.1", &regions), None);
    }

    #[test]
    fn messaging_limits_are_whatsapps_tiers() {
        assert_eq!(
            MessagingLimit::parse("2000").unwrap(),
            MessagingLimit::Tier(2000)
        );
        assert_eq!(MessagingLimit::parse("unlimited").unwrap().cap(), None);
        assert!(MessagingLimit::parse("1000").is_err());
    }

    #[test]
    fn actions_follow_the_states() {
        use BroadcastAction::*;
        use BroadcastState::*;
        assert_eq!(Pause.apply(Sending, false), Ok(Paused));
        assert_eq!(Resume.apply(Paused, false), Ok(Sending));
        assert_eq!(Cancel.apply(Paused, false), Ok(Cancelled));
        assert!(Resume.apply(Sending, true).is_err());
        assert!(Cancel.apply(Done, false).is_err());
        // Every recipient queued, some messages still waiting: they can be dropped.
        assert_eq!(Cancel.apply(Done, true), Ok(Cancelled));
        assert!(Pause.apply(Done, true).is_err());
    }
}
