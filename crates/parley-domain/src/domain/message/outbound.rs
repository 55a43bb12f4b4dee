//! What we send to customers: text, media, buttons, lists, templates, and what to do
//! instead when the window is closed.

use super::*;

/// A message to send to a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub to: ContactRef,
    pub content: OutboundContent,
    /// The trace the message belongs to, its parent the span that queued it (a flow's
    /// step, an API request): the outbox's spans join it. Only while tracing is on.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::super::trace_context::lenient"
    )]
    pub trace: Option<super::super::TraceContext>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboundContent {
    Text {
        body: String,
        #[serde(default)]
        preview_url: bool,
    },
    Media {
        media: MediaKind,
        link: String,
        caption: Option<String>,
        filename: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// Up to 3 reply buttons under a body text.
    Buttons {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        buttons: Vec<ReplyButton>,
    },
    /// A list opened by a button, with sections of rows.
    List {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        button: String,
        sections: Vec<ListSection>,
    },
    /// One call-to-action button that opens a URL.
    UrlButton {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        display_text: String,
        url: String,
    },
    Template(TemplateMessage),
    /// An emoji reaction to one of the customer's messages; an empty emoji removes ours.
    Reaction {
        /// The provider id of the message reacted to (`wamid.…`).
        message_id: String,
        emoji: String,
    },
    /// A text with a "Send location" button (Meta's `location_request_message`).
    LocationRequest {
        body: String,
    },
    /// A message whose button opens a WhatsApp Flow (a form).
    Form(Box<crate::domain::form::FormMessage>),
    /// WhatsApp's address form (`interactive.type: address_message`; India), answered by
    /// an `AddressReply`.
    AddressRequest {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        /// `IN` (or `SG` where Meta offers it).
        country: String,
    },
    /// Not a message: a conversation-routing call on the customer's thread (`pass` to the
    /// escalation app, `release`, `take`), queued with the step that asked for it and
    /// performed by the outbox like a send (`workers::outbox`), never shown to the customer.
    ThreadControl(crate::domain::ThreadAction),
}

impl OutboundContent {
    /// Free-form messages need an open window; templates do not.
    pub fn is_freeform(&self) -> bool {
        !matches!(
            self,
            OutboundContent::Template(_) | OutboundContent::ThreadControl(_)
        )
    }

    /// A thread-control call rather than a message (no window, pace or price applies).
    pub fn is_thread_control(&self) -> bool {
        matches!(self, OutboundContent::ThreadControl(_))
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            OutboundContent::Text { .. } => "text",
            OutboundContent::Media { media, .. } => media.as_str(),
            OutboundContent::Location { .. } => "location",
            OutboundContent::Buttons { .. } => "buttons",
            OutboundContent::List { .. } => "list",
            OutboundContent::UrlButton { .. } => "url_button",
            OutboundContent::Template(_) => "template",
            OutboundContent::Reaction { .. } => "reaction",
            OutboundContent::LocationRequest { .. } => "location_request",
            OutboundContent::Form(_) => "form",
            OutboundContent::AddressRequest { .. } => "address_request",
            OutboundContent::ThreadControl(_) => "thread_control",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButton {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSection {
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

/// An approved template with its placeholder values filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMessage {
    pub name: String,
    pub language: String,
    /// Body placeholder values by name (`"1"`, `"2"`, …), sent in numeric order.
    pub variables: BTreeMap<String, String>,
    /// Payloads for the template's quick-reply buttons, by button index.
    #[serde(default)]
    pub quick_reply_payloads: Vec<String>,
    /// Twilio Content API SID (`HX…`) when the template is sent through Twilio.
    #[serde(default)]
    pub content_sid: Option<String>,
}

impl TemplateMessage {
    /// The name of the first variable whose value is empty or only spaces: Meta and Twilio
    /// refuse such a parameter, so the message must not be sent as it is.
    pub fn empty_variable(&self) -> Option<&str> {
        self.variables
            .iter()
            .find(|(_, v)| v.trim().is_empty())
            .map(|(k, _)| k.as_str())
    }

    /// Placeholder values in numeric order of their names (`"2"` before `"10"`).
    pub fn ordered_values(&self) -> Vec<&str> {
        let mut entries: Vec<(&String, &String)> = self.variables.iter().collect();
        entries.sort_by_key(|(k, _)| (k.parse::<u64>().unwrap_or(u64::MAX), k.to_string()));
        entries.into_iter().map(|(_, v)| v.as_str()).collect()
    }
}

/// What to do with a free-form message when the window is closed at the moment of sending.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum WindowFallback {
    /// Mark the message failed with a closed-window reason (the default).
    #[default]
    Fail,
    /// Drop the message silently (recorded as `skipped`).
    Skip,
    /// Send this template instead.
    Template(TemplateMessage),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_values_are_ordered_numerically() {
        let t = TemplateMessage {
            name: "t".into(),
            language: "en".into(),
            variables: [("10", "ten"), ("2", "two"), ("1", "one")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            quick_reply_payloads: vec![],
            content_sid: None,
        };
        assert_eq!(t.ordered_values(), vec!["one", "two", "ten"]);
    }
}
