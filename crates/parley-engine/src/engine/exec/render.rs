//! Messages built from `send` specs: templates rendered, texts clipped to WhatsApp's
//! limits, the window fallback chosen, and interactive options kept for typed answers.
//! Built from what templates read (`vars::scope`); sent into the event's `Output`.

use super::context::{Contact, Output, StepCtx};
use super::language::{self, Tongue};
use super::vars::scope;
use crate::domain::limits;
use crate::domain::{
    ConversationState, FormAction, ListRow, ListSection, OutboundContent, ReplyButton,
    TemplateMessage, WindowFallback,
};
use crate::engine::template::{render, render_json, Roots};
use crate::engine::Reply;
use crate::flows::{ContentSpec, FallbackSpec, SendSpec, TemplateSpec};

impl Output {
    pub(super) fn reply(&mut self, content: OutboundContent, fallback: WindowFallback) {
        if let Some(trace) = &mut self.trace {
            trace.send(&content, &fallback);
        }
        let (flow, step) = match &self.at {
            Some((flow, pc)) => (
                Some(flow.id.clone()),
                flow.steps
                    .get(*pc)
                    .map(|s| s.id.clone().unwrap_or_else(|| s.place())),
            ),
            None => (None, None),
        };
        self.out.replies.push(Reply {
            content,
            fallback,
            flow,
            step,
        });
    }
}

/// Queues the message of a `send`; a message that cannot be built as rendered (a
/// reaction with nothing to react to, or a templated emoji that is not one) is not
/// sent, and why is returned.
pub(super) fn send(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &Contact,
    output: &mut Output,
    spec: &SendSpec,
) -> Result<(), String> {
    send_with_token(ctx, state, contact, output, spec, None)
}

/// Sends `spec`; a form gets `token`, which its submission brings back.
pub(super) fn send_with_token(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &Contact,
    output: &mut Output,
    spec: &SendSpec,
    token: Option<String>,
) -> Result<(), String> {
    let roots = scope(ctx, state, contact);
    // The message is in the language of the flow of the step sending it.
    let flow = output.at.as_ref().map(|(f, _)| f.clone());
    let speech = Speech::new(ctx, flow.as_deref(), &contact.view);
    let (mut content, clipped) =
        content(&roots, &speech, ctx.inbound_id.as_deref(), &spec.content)?;
    let fallback = fallback_of(&roots, &speech, &spec.if_window_closed);
    if clipped {
        output.decide(|| {
            format!(
                "a text of this message was longer than WhatsApp takes once filled in: it was cut, ending in `…` (a message's text: {} characters; a body with buttons, a caption: {})",
                limits::TEXT_MAX,
                limits::BODY_MAX
            )
        });
    }
    if let (OutboundContent::Form(form), Some(token)) = (&mut content, token) {
        form.token = token;
    }
    if let OutboundContent::Buttons { buttons, .. } = &content {
        let offered = buttons
            .iter()
            .map(|b| (b.id.clone(), b.title.clone()))
            .collect();
        if let Some(run) = &mut state.run {
            run.offered = offered;
        }
    } else if let OutboundContent::List { sections, .. } = &content {
        let offered = sections
            .iter()
            .flat_map(|s| s.rows.iter().map(|r| (r.id.clone(), r.title.clone())))
            .collect();
        if let Some(run) = &mut state.run {
            run.offered = offered;
        }
    }
    output.reply(content, fallback);
    Ok(())
}

/// The language a message is written in: its texts' translations, and the contact's
/// language with the config's declared languages of each template, for its templates.
pub(super) struct Speech<'a> {
    tongue: Tongue<'a>,
    flow: Option<&'a crate::flows::Flow>,
    chosen: Option<String>,
    library: &'a crate::engine::Library,
}

impl<'a> Speech<'a> {
    pub(super) fn new(
        ctx: &StepCtx<'a>,
        flow: Option<&'a crate::flows::Flow>,
        contact: &serde_json::Value,
    ) -> Self {
        Speech {
            tongue: flow.map_or(Tongue::BASE, |f| Tongue::of(f, contact)),
            flow,
            chosen: flow
                .and_then(|f| language::resolve(f, contact))
                .map(|c| c.code),
            library: ctx.library,
        }
    }

    /// The template's language: the step's as compiled in a flow without `languages:`;
    /// otherwise following the contact (`language::template_language`).
    fn template_language(&self, t: &TemplateSpec) -> (String, Option<String>) {
        let Some(flow) = self.flow else {
            return (t.language.clone(), t.content_sid.clone());
        };
        let declared = self.library.options.template_languages.get(&t.name);
        let langs: Vec<String> = declared
            .map(|d| d.iter().map(|(l, _)| l.clone()).collect())
            .unwrap_or_default();
        if flow.languages.is_empty() {
            return (t.language.clone(), t.content_sid.clone());
        }
        match language::template_language(t, &flow.languages, self.chosen.as_deref(), &langs) {
            Some(l) => {
                let sid = declared
                    .and_then(|d| d.iter().find(|(x, _)| *x == l))
                    .map_or_else(|| t.content_sid.clone(), |(_, sid)| sid.clone());
                (l, sid)
            }
            None => (t.language.clone(), t.content_sid.clone()),
        }
    }
}

impl super::Interpreter<'_> {
    /// `fallback_of` for the step being run, in its flow's language.
    pub(super) fn fallback_here(&self, spec: &FallbackSpec) -> WindowFallback {
        let flow = self.output.at.as_ref().map(|(f, _)| f.clone());
        let speech = Speech::new(&self.ctx, flow.as_deref(), &self.contact.view);
        fallback_of(&self.scope(), &speech, spec)
    }
}

/// What a message does if the window has closed by the time it leaves.
fn fallback_of(scope: &Roots<'_>, speech: &Speech<'_>, spec: &FallbackSpec) -> WindowFallback {
    match spec {
        FallbackSpec::Undeclared | FallbackSpec::Fail => WindowFallback::Fail,
        FallbackSpec::Skip => WindowFallback::Skip,
        FallbackSpec::Template(t) => WindowFallback::Template(template(scope, speech, t)),
    }
}

fn template(scope: &Roots<'_>, speech: &Speech<'_>, t: &TemplateSpec) -> TemplateMessage {
    let (language, content_sid) = speech.template_language(t);
    TemplateMessage {
        name: t.name.clone(),
        language,
        variables: t
            .variables
            .iter()
            .map(|(k, v)| {
                let value = visible(render(v, scope));
                (k.clone(), limits::one_line_parameter(value))
            })
            .collect(),
        quick_reply_payloads: t.quick_reply_payloads.clone(),
        content_sid,
    }
}

/// The message `spec` makes, and whether a text of it was cut to WhatsApp's limit. Each
/// text is in the contact's language (its translation, blanks and all), then filled in;
/// urls, file names, ids and emoji (`raw`) are not translated.
fn content(
    scope: &Roots<'_>,
    speech: &Speech<'_>,
    inbound_id: Option<&str>,
    spec: &ContentSpec,
) -> Result<(OutboundContent, bool), String> {
    let was_cut = std::cell::Cell::new(false);
    let clip = |s: String, max: usize| {
        let (s, cut) = clipped(s, max);
        was_cut.set(was_cut.get() || cut);
        s
    };
    let tr = speech.tongue;
    let r = |s: &str| visible(render(tr.text(s), scope));
    let ro = |s: &Option<String>| s.as_deref().map(|x| visible(render(tr.text(x), scope)));
    let raw = |s: &str| visible(render(s, scope));
    // Filled in, a header or footer may pass WhatsApp's limit the text as written kept.
    let header_of = |s: &Option<String>| ro(s).map(|h| clip(h, limits::HEADER_MAX));
    let footer_of = |s: &Option<String>| ro(s).map(|f| clip(f, limits::FOOTER_MAX));
    let content = match spec {
        ContentSpec::Text { body } => OutboundContent::Text {
            body: clip(r(body), limits::TEXT_MAX),
            preview_url: false,
        },
        ContentSpec::Media {
            media,
            url,
            caption,
            filename,
        } => OutboundContent::Media {
            media: *media,
            link: raw(url),
            caption: ro(caption).map(|c| clip(c, limits::BODY_MAX)),
            filename: filename.as_deref().map(raw),
        },
        ContentSpec::Location {
            latitude,
            longitude,
            name,
            address,
        } => OutboundContent::Location {
            latitude: *latitude,
            longitude: *longitude,
            name: ro(name),
            address: ro(address),
        },
        ContentSpec::Buttons {
            body,
            header,
            footer,
            buttons,
        } => OutboundContent::Buttons {
            body: clip(r(body), limits::BODY_MAX),
            header: header_of(header),
            footer: footer_of(footer),
            // Titles have blanks like any text; ids are what a tap sends back, as written.
            buttons: buttons
                .iter()
                .map(|(id, title)| ReplyButton {
                    id: id.clone(),
                    title: clip(r(title), limits::BUTTON_TITLE_MAX),
                })
                .collect(),
        },
        ContentSpec::List {
            body,
            header,
            footer,
            button,
            sections,
        } => OutboundContent::List {
            body: clip(r(body), limits::BODY_MAX),
            header: header_of(header),
            footer: footer_of(footer),
            button: clip(r(button), limits::BUTTON_TITLE_MAX),
            sections: sections
                .iter()
                .map(|(title, rows)| ListSection {
                    title: ro(title).map(|t| clip(t, limits::ROW_TITLE_MAX)),
                    rows: rows
                        .iter()
                        .map(|(id, title, description)| ListRow {
                            id: id.clone(),
                            title: clip(r(title), limits::ROW_TITLE_MAX),
                            description: ro(description)
                                .map(|d| clip(d, limits::ROW_DESCRIPTION_MAX)),
                        })
                        .collect(),
                })
                .collect(),
        },
        ContentSpec::UrlButton {
            body,
            header,
            footer,
            text,
            url,
        } => OutboundContent::UrlButton {
            body: clip(r(body), limits::BODY_MAX),
            header: header_of(header),
            footer: footer_of(footer),
            display_text: clip(r(text), limits::BUTTON_TITLE_MAX),
            url: raw(url),
        },
        ContentSpec::Template(t) => OutboundContent::Template(template(scope, speech, t)),
        ContentSpec::Reaction { emoji, message_id } => {
            let emoji = raw(emoji).trim().to_string();
            if let Some(why) = limits::reaction_problem(&emoji) {
                return Err(format!("the reaction was not sent: {why}"));
            }
            let message_id = match message_id {
                Some(id) => raw(id).trim().to_string(),
                None => inbound_id.unwrap_or_default().to_string(),
            };
            if message_id.is_empty() {
                return Err("the reaction was not sent: there is no customer message to react to (this step did not run for a message; give `message_id`)".into());
            }
            OutboundContent::Reaction { message_id, emoji }
        }
        ContentSpec::LocationRequest { body } => OutboundContent::LocationRequest {
            body: clip(r(body), limits::LOCATION_REQUEST_BODY_MAX),
        },
        ContentSpec::Form(f) => {
            let mut form = f.as_ref().clone();
            form.body = clip(r(&f.body), limits::BODY_MAX);
            form.header = ro(&f.header).map(|h| clip(h, limits::HEADER_MAX));
            form.footer = ro(&f.footer).map(|h| clip(h, limits::FOOTER_MAX));
            if let FormAction::Navigate {
                data: Some(data), ..
            } = &mut form.action
            {
                *data = render_json(data, scope);
            }
            OutboundContent::Form(Box::new(form))
        }
        ContentSpec::AddressRequest {
            body,
            header,
            footer,
            country,
        } => OutboundContent::AddressRequest {
            body: clip(r(body), limits::BODY_MAX),
            header: ro(header).map(|h| clip(h, limits::HEADER_MAX)),
            footer: ro(footer).map(|f| clip(f, limits::FOOTER_MAX)),
            country: country.clone(),
        },
    };
    Ok((content, was_cut.get()))
}

/// A filled-in text without the control characters no phone shows and some break what
/// reads them (a NUL, an escape sequence, a bell, from an `http` answer or a script): the
/// API refuses them in what it is given; a flow's message drops them. Line breaks and tabs
/// stay, and so do the direction marks right-to-left languages are written with.
pub(super) fn visible(s: String) -> String {
    if s.chars().any(limits::unshown) {
        s.chars().filter(|c| !limits::unshown(*c)).collect()
    } else {
        s
    }
}

/// A template can render longer than the limit it was checked against; cut it rather
/// than have the provider refuse the message.
pub(super) fn clip(s: String, max: usize) -> String {
    clipped(s, max).0
}

/// `clip`, and whether it cut.
fn clipped(s: String, max: usize) -> (String, bool) {
    if s.chars().count() <= max {
        return (s, false);
    }
    let mut cut: String = s.chars().take(max - 1).collect();
    cut.push('…');
    (cut, true)
}
