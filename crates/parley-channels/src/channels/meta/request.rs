//! The JSON body of `POST /{phone_number_id}/messages`, built from an `OutboundMessage`.
//!
//! One private serde shape per Meta message kind, following Meta's "Send messages" pages for
//! text, media, location, interactive (reply buttons, list, CTA URL) and template messages.
//! Pure: no I/O, so every body is checked against the fixtures without a server.

use crate::domain::{
    ContactRef, FlowRef, FormAction, FormMessage, ListSection, MediaKind, OutboundContent,
    OutboundMessage, ReplyButton, TemplateMessage,
};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub(super) struct SendRequest<'a> {
    messaging_product: &'static str,
    recipient_type: &'static str,
    /// Phone number digits, no `+`.
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    /// Business-scoped user id (`US.1048…`). Meta's business-scoped user ID guide (2026)
    /// adds this field to the Messages API for users without a known phone number; `to`
    /// would win if both were sent, so only one is ever set.
    #[serde(skip_serializing_if = "Option::is_none")]
    recipient: Option<&'a str>,
    /// Echoed in this message's status webhooks: Parley's outbox id, so a status can be
    /// matched to a send whose answer was lost (Meta allows up to 512 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    biz_opaque_callback_data: Option<String>,
    #[serde(flatten)]
    payload: Payload<'a>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Payload<'a> {
    Text { text: Text<'a> },
    Image { image: Media<'a> },
    Video { video: Media<'a> },
    Audio { audio: Media<'a> },
    Document { document: Media<'a> },
    Sticker { sticker: Media<'a> },
    Location { location: Location<'a> },
    Interactive { interactive: Interactive<'a> },
    Template { template: Template<'a> },
    Reaction { reaction: Reaction<'a> },
}

/// Meta's reaction message; an empty emoji removes the reaction.
#[derive(Debug, Serialize)]
struct Reaction<'a> {
    message_id: &'a str,
    emoji: &'a str,
}

#[derive(Debug, Serialize)]
struct Text<'a> {
    preview_url: bool,
    body: &'a str,
}

#[derive(Debug, Serialize)]
struct Media<'a> {
    link: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<&'a str>,
}

/// Coordinates go as strings, as in Meta's own example request.
#[derive(Debug, Serialize)]
struct Location<'a> {
    latitude: String,
    longitude: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Interactive<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<Header<'a>>,
    body: TextObject<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    footer: Option<TextObject<'a>>,
    action: Action<'a>,
}

#[derive(Debug, Serialize)]
struct Header<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Debug, Serialize)]
struct TextObject<'a> {
    text: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Action<'a> {
    Buttons {
        buttons: Vec<Button<'a>>,
    },
    List {
        button: &'a str,
        sections: Vec<Section<'a>>,
    },
    CtaUrl {
        name: &'static str,
        parameters: CtaParameters<'a>,
    },
    /// `location_request_message`: `{"name": "send_location"}`.
    Named {
        name: &'static str,
    },
    Flow {
        name: &'static str,
        parameters: FlowParameters<'a>,
    },
    Address {
        name: &'static str,
        parameters: AddressParameters<'a>,
    },
}

/// Meta's "Address messages" guide: the country is required (`IN`).
#[derive(Debug, Serialize)]
struct AddressParameters<'a> {
    country: &'a str,
}

/// Meta's "Sending a Flow" page: version "3", the token Parley made, the flow by id or
/// name, the button's label, and the first screen with its data (`navigate`) or nothing
/// (`data_exchange`: the business's flow endpoint answers).
#[derive(Debug, Serialize)]
struct FlowParameters<'a> {
    flow_message_version: &'static str,
    flow_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_name: Option<&'a str>,
    flow_cta: &'a str,
    flow_action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_action_payload: Option<FlowActionPayload<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct FlowActionPayload<'a> {
    screen: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct Button<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    reply: Reply<'a>,
}

#[derive(Debug, Serialize)]
struct Reply<'a> {
    id: &'a str,
    title: &'a str,
}

#[derive(Debug, Serialize)]
struct Section<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    rows: Vec<Row<'a>>,
}

#[derive(Debug, Serialize)]
struct Row<'a> {
    id: &'a str,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct CtaParameters<'a> {
    display_text: &'a str,
    url: &'a str,
}

#[derive(Debug, Serialize)]
struct Template<'a> {
    name: &'a str,
    language: Language<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<Component<'a>>,
}

#[derive(Debug, Serialize)]
struct Language<'a> {
    code: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Component<'a> {
    Body {
        parameters: Vec<Parameter<'a>>,
    },
    Button {
        sub_type: &'static str,
        /// Meta wants the button's position as a string.
        index: String,
        parameters: Vec<Parameter<'a>>,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Parameter<'a> {
    Text { text: &'a str },
    Payload { payload: &'a str },
}

/// Marks a received message read and shows "typing…" (Meta's "Typing indicators" page,
/// 2025): the same `/messages` endpoint, without a recipient.
#[derive(Debug, Serialize)]
pub(super) struct TypingRequest<'a> {
    messaging_product: &'static str,
    status: &'static str,
    message_id: &'a str,
    typing_indicator: TypingIndicator,
}

#[derive(Debug, Serialize)]
struct TypingIndicator {
    #[serde(rename = "type")]
    kind: &'static str,
}

impl<'a> TypingRequest<'a> {
    pub(super) fn new(message_id: &'a str) -> Self {
        Self {
            messaging_product: "whatsapp",
            status: "read",
            message_id,
            typing_indicator: TypingIndicator { kind: "text" },
        }
    }
}

impl<'a> SendRequest<'a> {
    pub(super) fn new(message: &'a OutboundMessage) -> Self {
        let (to, recipient) = match &message.to {
            // Meta: `to` wins when both are given, so a known phone is sent alone.
            ContactRef::Phone(phone) | ContactRef::PhoneAndBusinessScoped { phone, .. } => {
                (Some(phone.digits()), None)
            }
            ContactRef::BusinessScoped(user_id) => (None, Some(user_id.as_str())),
        };
        Self {
            messaging_product: "whatsapp",
            recipient_type: "individual",
            to,
            recipient,
            biz_opaque_callback_data: None,
            payload: payload(&message.content),
        }
    }

    /// Tags the send with Parley's outbox id (see `domain::outbox_reference`).
    pub(super) fn tagged(mut self, outbox_id: Option<i64>) -> Self {
        self.biz_opaque_callback_data = outbox_id.map(crate::domain::outbox_reference);
        self
    }
}

fn payload(content: &OutboundContent) -> Payload<'_> {
    match content {
        OutboundContent::Text { body, preview_url } => Payload::Text {
            text: Text {
                preview_url: *preview_url,
                body,
            },
        },
        OutboundContent::Media {
            media,
            link,
            caption,
            filename,
        } => media_payload(*media, link, caption.as_deref(), filename.as_deref()),
        OutboundContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => Payload::Location {
            location: Location {
                latitude: latitude.to_string(),
                longitude: longitude.to_string(),
                name: name.as_deref(),
                address: address.as_deref(),
            },
        },
        OutboundContent::Buttons {
            body,
            header,
            footer,
            buttons,
        } => interactive("button", body, header, footer, reply_buttons(buttons)),
        OutboundContent::List {
            body,
            header,
            footer,
            button,
            sections,
        } => interactive("list", body, header, footer, list(button, sections)),
        OutboundContent::UrlButton {
            body,
            header,
            footer,
            display_text,
            url,
        } => interactive(
            "cta_url",
            body,
            header,
            footer,
            Action::CtaUrl {
                name: "cta_url",
                parameters: CtaParameters { display_text, url },
            },
        ),
        OutboundContent::Template(template) => Payload::Template {
            template: self::template(template),
        },
        OutboundContent::Reaction { message_id, emoji } => Payload::Reaction {
            reaction: Reaction { message_id, emoji },
        },
        OutboundContent::LocationRequest { body } => interactive(
            "location_request_message",
            body,
            &None,
            &None,
            Action::Named {
                name: "send_location",
            },
        ),
        OutboundContent::Form(form) => {
            interactive("flow", &form.body, &form.header, &form.footer, flow(form))
        }
        OutboundContent::AddressRequest {
            body,
            header,
            footer,
            country,
        } => interactive(
            "address_message",
            body,
            header,
            footer,
            Action::Address {
                name: "address_message",
                parameters: AddressParameters { country },
            },
        ),
        // Never sent as a message: `MetaClient::send_tracked` makes the thread-control
        // call instead (`routing.rs`); an empty text if it ever were.
        OutboundContent::ThreadControl(_) => Payload::Text {
            text: Text {
                preview_url: false,
                body: "",
            },
        },
    }
}

fn flow(form: &FormMessage) -> Action<'_> {
    let (flow_id, flow_name) = match &form.flow {
        FlowRef::Id(id) => (Some(id.as_str()), None),
        FlowRef::Name(name) => (None, Some(name.as_str())),
    };
    let (flow_action, flow_action_payload) = match &form.action {
        FormAction::Navigate { screen, data } => (
            "navigate",
            Some(FlowActionPayload {
                screen,
                // Meta refuses an empty `data` object: leave it out instead.
                data: data
                    .as_ref()
                    .filter(|d| d.as_object().is_none_or(|o| !o.is_empty())),
            }),
        ),
        FormAction::DataExchange => ("data_exchange", None),
    };
    Action::Flow {
        name: "flow",
        parameters: FlowParameters {
            flow_message_version: "3",
            flow_token: &form.token,
            flow_id,
            flow_name,
            flow_cta: &form.cta,
            flow_action,
            flow_action_payload,
            mode: form.draft.then_some("draft"),
        },
    }
}

/// Meta takes a caption on images, videos and documents only, and a filename on documents
/// only; anything else is dropped rather than having the whole send refused.
fn media_payload<'a>(
    kind: MediaKind,
    link: &'a str,
    caption: Option<&'a str>,
    filename: Option<&'a str>,
) -> Payload<'a> {
    let media = |caption, filename| Media {
        link,
        caption,
        filename,
    };
    match kind {
        MediaKind::Image => Payload::Image {
            image: media(caption, None),
        },
        MediaKind::Video => Payload::Video {
            video: media(caption, None),
        },
        MediaKind::Document => Payload::Document {
            document: media(caption, filename),
        },
        MediaKind::Audio => Payload::Audio {
            audio: media(None, None),
        },
        MediaKind::Sticker => Payload::Sticker {
            sticker: media(None, None),
        },
    }
}

fn interactive<'a>(
    kind: &'static str,
    body: &'a str,
    header: &'a Option<String>,
    footer: &'a Option<String>,
    action: Action<'a>,
) -> Payload<'a> {
    Payload::Interactive {
        interactive: Interactive {
            kind,
            header: header.as_deref().map(|text| Header { kind: "text", text }),
            body: TextObject { text: body },
            footer: footer.as_deref().map(|text| TextObject { text }),
            action,
        },
    }
}

fn reply_buttons(buttons: &[ReplyButton]) -> Action<'_> {
    Action::Buttons {
        buttons: buttons
            .iter()
            .map(|b| Button {
                kind: "reply",
                reply: Reply {
                    id: &b.id,
                    title: &b.title,
                },
            })
            .collect(),
    }
}

fn list<'a>(button: &'a str, sections: &'a [ListSection]) -> Action<'a> {
    Action::List {
        button,
        sections: sections
            .iter()
            .map(|s| Section {
                title: s.title.as_deref(),
                rows: s
                    .rows
                    .iter()
                    .map(|r| Row {
                        id: &r.id,
                        title: &r.title,
                        description: r.description.as_deref(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Body values in numeric placeholder order, then one quick-reply component per payload.
fn template(t: &TemplateMessage) -> Template<'_> {
    let values = t.ordered_values();
    let mut components = Vec::with_capacity(1 + t.quick_reply_payloads.len());
    if !values.is_empty() {
        components.push(Component::Body {
            parameters: values
                .into_iter()
                .map(|text| Parameter::Text { text })
                .collect(),
        });
    }
    for (index, payload) in t.quick_reply_payloads.iter().enumerate() {
        components.push(Component::Button {
            sub_type: "quick_reply",
            index: index.to_string(),
            parameters: vec![Parameter::Payload { payload }],
        });
    }
    Template {
        name: &t.name,
        language: Language { code: &t.language },
        components,
    }
}
