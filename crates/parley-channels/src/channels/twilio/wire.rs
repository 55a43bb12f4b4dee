//! Twilio Messages API wire shapes: the form a send posts, and the JSON bodies Twilio answers
//! with. Private to the Twilio channel; nothing outside it sees these.
//!
//! Twilio's WhatsApp API sends interactive messages only through pre-created Content API
//! templates (`HX…` SIDs), so Parley's buttons, lists and URL buttons are degraded here to
//! plain text: the body followed by numbered options, or by the link.

use crate::domain::{
    ContactRef, ErrorClass, ListSection, OutboundContent, OutboundMessage, PhoneNumber,
    ReplyButton, SendFailure, TemplateMessage,
};
use serde::Deserialize;

/// Why a `form` step (or an address form) cannot send through Twilio.
pub(crate) const TWILIO_FORM_REFUSED: &str =
    "Twilio cannot send a WhatsApp Flow as a free-form message (only as a pre-approved \
     Content template, whose submissions Parley cannot tie back to a `form` step); \
     send forms through a Meta sender";

/// Form parameters for `POST /Accounts/{sid}/Messages.json`, in a stable order.
pub(super) fn message_form(
    from: &PhoneNumber,
    message: &OutboundMessage,
    status_callback: Option<&str>,
) -> Result<Vec<(&'static str, String)>, SendFailure> {
    let mut form = vec![
        ("From", format!("whatsapp:{}", from.as_e164())),
        ("To", whatsapp_address(&message.to)),
    ];
    match &message.content {
        // Twilio previews links on its own; `preview_url` has no Twilio equivalent.
        OutboundContent::Text { body, .. } => form.push(("Body", body.clone())),
        // Twilio names the file after the URL; a custom filename cannot be set.
        OutboundContent::Media { link, caption, .. } => {
            form.push(("MediaUrl", link.clone()));
            if let Some(caption) = caption.as_ref().filter(|c| !c.is_empty()) {
                form.push(("Body", caption.clone()));
            }
        }
        OutboundContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => {
            let label = name.as_deref().or(address.as_deref());
            let body = join_parts([name.as_deref(), address.as_deref()], "\n");
            // Body is required without media; the coordinates are the honest fallback.
            let body = if body.is_empty() {
                format!("{latitude}, {longitude}")
            } else {
                body
            };
            form.push(("Body", body));
            let action = match label {
                Some(label) => format!("geo:{latitude},{longitude}|{label}"),
                None => format!("geo:{latitude},{longitude}"),
            };
            form.push(("PersistentAction", action));
        }
        OutboundContent::Buttons {
            body,
            header,
            footer,
            buttons,
        } => form.push(("Body", buttons_text(header, body, buttons, footer))),
        OutboundContent::List {
            body,
            header,
            footer,
            sections,
            ..
        } => form.push(("Body", list_text(header, body, sections, footer))),
        OutboundContent::UrlButton {
            body,
            header,
            footer,
            display_text,
            url,
        } => {
            let link = format!("{display_text}: {url}");
            let text = join_parts(
                [
                    header.as_deref(),
                    Some(body),
                    Some(&link),
                    footer.as_deref(),
                ],
                "\n\n",
            );
            form.push(("Body", text));
        }
        OutboundContent::Template(template) => template_params(template, &mut form)?,
        // Twilio has no location request: the question goes as text, and the customer
        // answers with the attach button's "Location", which arrives as a location.
        OutboundContent::LocationRequest { body } => form.push(("Body", body.clone())),
        OutboundContent::Reaction { .. } => {
            return Err(SendFailure {
                class: ErrorClass::Permanent,
                ..SendFailure::new(
                    None,
                    None,
                    "Twilio's API cannot send WhatsApp reactions; this reaction was not sent"
                        .to_string(),
                )
            })
        }
        // `parley check` refuses `form` steps while a Twilio sender is configured; a form
        // that reaches here anyway (a flow loaded without the config) fails for good.
        OutboundContent::Form(_) | OutboundContent::AddressRequest { .. } => {
            return Err(SendFailure {
                class: ErrorClass::Permanent,
                ..SendFailure::new(None, None, TWILIO_FORM_REFUSED)
            })
        }
        OutboundContent::ThreadControl(action) => {
            return Err(SendFailure {
                class: ErrorClass::Permanent,
                ..SendFailure::new(
                    None,
                    None,
                    format!(
                    "`{}`: conversation routing is Meta's; a Twilio sender has no thread control",
                    action.name()
                ),
                )
            })
        }
    }
    if let Some(callback) = status_callback {
        form.push(("StatusCallback", callback.to_string()));
    }
    Ok(form)
}

/// Form parameters for a send of a Content template by its SID (`HX…`).
pub(super) fn content_form(
    from: &PhoneNumber,
    to: &ContactRef,
    content_sid: &str,
    variables: &serde_json::Value,
    status_callback: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("From", format!("whatsapp:{}", from.as_e164())),
        ("To", whatsapp_address(to)),
        ("ContentSid", content_sid.to_string()),
        ("ContentVariables", variables.to_string()),
    ];
    if let Some(callback) = status_callback {
        form.push(("StatusCallback", callback.to_string()));
    }
    form
}

/// The Content resource Twilio returns when a template is created (only what Parley reads).
#[derive(Debug, Deserialize)]
pub(super) struct ContentResource {
    pub sid: String,
}

/// `whatsapp:+E164`, or `whatsapp:<id>` for a customer known only by a business-scoped id.
fn whatsapp_address(contact: &ContactRef) -> String {
    match contact {
        ContactRef::Phone(phone) | ContactRef::PhoneAndBusinessScoped { phone, .. } => {
            format!("whatsapp:{}", phone.as_e164())
        }
        ContactRef::BusinessScoped(id) => format!("whatsapp:{id}"),
    }
}

/// Quick-reply payloads live in the Content template on Twilio and cannot be set per send.
fn template_params(
    template: &TemplateMessage,
    form: &mut Vec<(&'static str, String)>,
) -> Result<(), SendFailure> {
    let Some(content_sid) = template.content_sid.as_ref().filter(|s| !s.is_empty()) else {
        return Err(SendFailure {
            class: ErrorClass::Permanent,
            ..SendFailure::new(
                None,
                None,
                format!(
                    "template `{}` has no twilio_content_sid: Twilio sends templates only by \
                     their Content SID (HX…); add it to the template in the configuration",
                    template.name
                ),
            )
        });
    };
    form.push(("ContentSid", content_sid.clone()));
    if !template.variables.is_empty() {
        let variables: serde_json::Map<String, serde_json::Value> = template
            .variables
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        form.push((
            "ContentVariables",
            serde_json::Value::Object(variables).to_string(),
        ));
    }
    Ok(())
}

fn buttons_text(
    header: &Option<String>,
    body: &str,
    buttons: &[ReplyButton],
    footer: &Option<String>,
) -> String {
    let options = numbered(buttons.iter().map(|b| b.title.clone()));
    join_parts(
        [
            header.as_deref(),
            Some(body),
            Some(&options),
            footer.as_deref(),
        ],
        "\n\n",
    )
}

/// Rows are numbered across sections so every number picks exactly one row.
fn list_text(
    header: &Option<String>,
    body: &str,
    sections: &[ListSection],
    footer: &Option<String>,
) -> String {
    let mut lines = Vec::new();
    let mut n = 0;
    for section in sections {
        if let Some(title) = section.title.as_ref().filter(|t| !t.is_empty()) {
            lines.push(title.clone());
        }
        for row in &section.rows {
            n += 1;
            match row.description.as_ref().filter(|d| !d.is_empty()) {
                Some(description) => lines.push(format!("{n}. {} – {description}", row.title)),
                None => lines.push(format!("{n}. {}", row.title)),
            }
        }
    }
    let options = lines.join("\n");
    join_parts(
        [
            header.as_deref(),
            Some(body),
            Some(&options),
            footer.as_deref(),
        ],
        "\n\n",
    )
}

fn numbered(titles: impl Iterator<Item = String>) -> String {
    titles
        .enumerate()
        .map(|(i, title)| format!("{}. {title}", i + 1))
        .collect::<Vec<_>>()
        .join("\n")
}

fn join_parts<'a>(parts: impl IntoIterator<Item = Option<&'a str>>, separator: &str) -> String {
    parts
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(separator)
}

/// The Message resource Twilio returns on a successful send (only what Parley reads).
#[derive(Debug, Deserialize)]
pub(super) struct MessageResource {
    pub sid: String,
}

/// Twilio's REST error body: `{code, message, more_info, status}`.
#[derive(Debug, Deserialize)]
pub(super) struct ApiError {
    pub code: Option<i64>,
    pub message: Option<String>,
}

/// The Account resource, for health checks: `status` is `active`, `suspended` or `closed`.
#[derive(Debug, Deserialize)]
pub(super) struct Account {
    pub status: Option<String>,
    pub friendly_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ListRow;

    fn to() -> ContactRef {
        ContactRef::Phone(PhoneNumber::parse("+16315551181").unwrap())
    }

    fn form_of(content: OutboundContent) -> Vec<(&'static str, String)> {
        let from = PhoneNumber::parse("+15550783881").unwrap();
        let message = OutboundMessage {
            to: to(),
            content,
            trace: None,
        };
        message_form(&from, &message, None).unwrap()
    }

    fn body_of(content: OutboundContent) -> String {
        let form = form_of(content);
        let body = form.iter().find(|(k, _)| *k == "Body").expect("a Body");
        body.1.clone()
    }

    #[test]
    fn list_degrades_to_rows_numbered_across_sections() {
        let row = |id: &str, title: &str, description: Option<&str>| ListRow {
            id: id.into(),
            title: title.into(),
            description: description.map(Into::into),
        };
        let body = body_of(OutboundContent::List {
            body: "Pick a slot".into(),
            header: None,
            footer: Some("Times are local".into()),
            button: "Choose".into(),
            sections: vec![
                ListSection {
                    title: Some("Morning".into()),
                    rows: vec![
                        row("m9", "09:00", Some("Dr. Lee")),
                        row("m10", "10:00", None),
                    ],
                },
                ListSection {
                    title: None,
                    rows: vec![row("a2", "14:00", None)],
                },
            ],
        });
        insta::assert_snapshot!(body, @r"
        Pick a slot

        Morning
        1. 09:00 – Dr. Lee
        2. 10:00
        3. 14:00

        Times are local
        ");
    }

    #[test]
    fn a_form_is_refused_for_good_with_the_reason_not_degraded_to_text() {
        let from = PhoneNumber::parse("+15550783881").unwrap();
        let message = OutboundMessage {
            to: to(),
            content: OutboundContent::Form(Box::new(crate::domain::FormMessage {
                body: "Book a visit".into(),
                header: None,
                footer: None,
                flow: crate::domain::FlowRef::Id("1".into()),
                cta: "Book".into(),
                token: "parley-form.1.1.0.1".into(),
                action: crate::domain::FormAction::DataExchange,
                draft: false,
                fields: vec![],
            })),
            trace: None,
        };
        let failure = message_form(&from, &message, None).unwrap_err();
        assert_eq!(failure.class, ErrorClass::Permanent);
        assert_eq!(failure.title, TWILIO_FORM_REFUSED);
    }

    #[test]
    fn url_button_degrades_to_body_and_link() {
        let body = body_of(OutboundContent::UrlButton {
            body: "Your invoice is ready".into(),
            header: None,
            footer: None,
            display_text: "Open invoice".into(),
            url: "https://example.com/i/4821".into(),
        });
        assert_eq!(
            body,
            "Your invoice is ready\n\nOpen invoice: https://example.com/i/4821"
        );
    }

    #[test]
    fn location_is_body_plus_geo_persistent_action() {
        let form = form_of(OutboundContent::Location {
            latitude: 37.7955,
            longitude: -122.3935,
            name: Some("Ferry Building".into()),
            address: Some("1 Ferry Building, San Francisco".into()),
        });
        assert_eq!(
            form[2..],
            [
                (
                    "Body",
                    "Ferry Building\n1 Ferry Building, San Francisco".into()
                ),
                (
                    "PersistentAction",
                    "geo:37.7955,-122.3935|Ferry Building".into()
                ),
            ]
        );
        let form = form_of(OutboundContent::Location {
            latitude: 1.5,
            longitude: 2.0,
            name: None,
            address: None,
        });
        assert_eq!(
            form[2..],
            [
                ("Body", "1.5, 2".into()),
                ("PersistentAction", "geo:1.5,2".into())
            ]
        );
    }
}
