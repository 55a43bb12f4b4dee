//! The `form` step: a WhatsApp Flow sent as an interactive message, then a wait for its
//! submission, like `ask`. Checked at load: the flow named by id or name (not both), the
//! button's label within WhatsApp's limit, the first screen for `navigate`, declared fields
//! (the sandbox's preview and the mapping into `vars`), and the wait's branches.

use super::super::content::{check_len, fallback};
use super::super::{blanks, Builder};
use crate::domain::limits::{
    BODY_MAX, FOOTER_MAX, FORM_CTA_MAX, FORM_FIELDS_MAX, FORM_SCREEN_MAX, HEADER_MAX,
};
use crate::domain::{FieldKind, FlowRef, FormAction, FormField, FormMessage};
use crate::flows::model::{ContentSpec, FallbackSpec, FormSpec, SendSpec};
use crate::flows::problem::{did_you_mean, Pos, Problems};
use crate::flows::yaml::{self, YamlNode};
use marked_yaml::types::MarkedMappingNode;
use std::collections::HashSet;

pub const FORM_KEYS: &[&str] = &[
    "flow_id",
    "flow_name",
    "text",
    "header",
    "footer",
    "cta",
    "screen",
    "data",
    "action",
    "draft",
    "fields",
    "save_as",
    "timeout",
    "on_timeout",
    "on_invalid",
    "if_window_closed",
];
pub const FIELD_KEYS: &[&str] = &["name", "label", "type", "required", "options"];

pub fn compile(
    b: &mut Builder<'_>,
    value: &YamlNode,
    index: usize,
    problems: &mut Problems,
) -> Option<FormSpec> {
    let m = yaml::as_map(value, "`form`", problems)?;
    yaml::check_keys(m, FORM_KEYS, "a `form`", problems);
    check_no_twilio_senders(b, value, problems);
    blanks::check_keys(m, &["text", "header", "footer"], b.ctx, problems);
    let at = yaml::pos(value);
    let flow = flow_ref(m, at, problems)?;
    let body = body(m, at, problems)?;
    let header = text(m, "header", problems);
    if let (Some(h), Some(n)) = (&header, m.get_node("header")) {
        check_len(h, HEADER_MAX, "the header", yaml::pos(n), problems);
    }
    let footer = text(m, "footer", problems);
    if let (Some(f), Some(n)) = (&footer, m.get_node("footer")) {
        check_len(f, FOOTER_MAX, "the footer", yaml::pos(n), problems);
    }
    let cta = cta(m, at, problems)?;
    let action = action(b, m, at, problems)?;
    let draft = m
        .get_node("draft")
        .and_then(|n| yaml::as_bool(n, "`draft`", problems))
        .unwrap_or(false);
    let fields = match m.get_node("fields") {
        Some(n) => fields(n, problems)?,
        None => Vec::new(),
    };
    let save_as = save_as(m, problems);
    if save_as.is_none() && fields.is_empty() {
        problems.error(
            at,
            "`form` needs `save_as:` or `fields:`: where the submitted answers go",
            Some("`save_as: booking` keeps them as {{ vars.booking.<field> }}; declared `fields:` without `save_as` become {{ vars.<field> }}".into()),
        );
        return None;
    }
    let super::ask::AnswerWaits {
        timeout,
        on_timeout,
        on_invalid,
    } = super::ask::answer_waits(b, m, index, "1h", problems);
    let if_window_closed = match m.get_node("if_window_closed") {
        None => FallbackSpec::Undeclared,
        Some(n) => fallback(n, b.ctx, problems)?,
    };
    let message = FormMessage {
        body,
        header,
        footer,
        flow,
        cta,
        token: String::new(),
        action,
        draft,
        fields: fields.clone(),
    };
    Some(FormSpec {
        message: SendSpec {
            content: ContentSpec::Form(Box::new(message)),
            if_window_closed,
        },
        fields,
        save_as,
        timeout,
        on_timeout,
        on_invalid,
    })
}

/// The text of setting `key`, if it is written (and is text).
fn text(m: &MarkedMappingNode, key: &str, problems: &mut Problems) -> Option<String> {
    m.get_node(key)
        .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
        .map(str::to_string)
}

/// Twilio sends WhatsApp Flows only inside its Content templates: a config with Twilio
/// senders cannot send a `form`.
fn check_no_twilio_senders(b: &Builder<'_>, value: &YamlNode, problems: &mut Problems) {
    if let Some(d) = b.ctx.deployment.filter(|d| !d.twilio_sender_ids.is_empty()) {
        let ids: Vec<String> = d.twilio_sender_ids.iter().map(i64::to_string).collect();
        problems.error(
            yaml::pos(value),
            format!(
                "a `form` cannot reach customers of the Twilio sender{} {}: Twilio sends WhatsApp Flows only inside pre-approved Content templates, whose submissions Parley cannot tie to this step",
                if ids.len() == 1 { "" } else { "s" },
                ids.join(", ")
            ),
            Some("send forms from Meta senders only (remove the Twilio senders from this config), or ask with `ask` steps instead".into()),
        );
    }
}

/// The WhatsApp Flow to open: `flow_id:` or `flow_name:`, not both.
fn flow_ref(m: &MarkedMappingNode, at: Pos, problems: &mut Problems) -> Option<FlowRef> {
    let flow = match (text(m, "flow_id", problems), text(m, "flow_name", problems)) {
        (Some(id), None) if id.trim().is_empty() => {
            problems.error(
                yaml::pos(m.get_node("flow_id")?),
                "`flow_id` is empty: it names the WhatsApp Flow to open",
                Some("find the id in WhatsApp Manager › Account tools › Flows".into()),
            );
            FlowRef::Id(id)
        }
        (Some(id), None) => FlowRef::Id(id),
        (None, Some(name)) => FlowRef::Name(name),
        (Some(id), Some(_)) => {
            // Said, and the rest of the step still checked.
            problems.error(
                yaml::pos(m.get_node("flow_name")?),
                "a `form` names its WhatsApp Flow by `flow_id` or by `flow_name`, not both",
                None,
            );
            FlowRef::Id(id)
        }
        (None, None) => {
            problems.error(
                at,
                "`form` needs `flow_id:` (or `flow_name:`): the WhatsApp Flow to open",
                Some("find the id in WhatsApp Manager › Account tools › Flows".into()),
            );
            return None;
        }
    };
    Some(flow)
}

/// `text:`, the message above the button, within WhatsApp's limit and not empty.
fn body(m: &MarkedMappingNode, at: Pos, problems: &mut Problems) -> Option<String> {
    let Some(body) = text(m, "text", problems) else {
        problems.error(
            at,
            "`form` needs `text:`: the message above the button that opens the form",
            None,
        );
        return None;
    };
    check_len(
        &body,
        BODY_MAX,
        "the text",
        yaml::pos(m.get_node("text")?),
        problems,
    );
    if body.trim().is_empty() {
        problems.error(
            yaml::pos(m.get_node("text")?),
            "the form's `text` is empty: WhatsApp refuses a flow message without a body",
            Some(
                "write the message above the button, like `text: Book a visit in two taps`".into(),
            ),
        );
    }
    Some(body)
}

/// `cta:`, the label of the button that opens the form: short, not empty, no emoji.
fn cta(m: &MarkedMappingNode, at: Pos, problems: &mut Problems) -> Option<String> {
    let Some(cta) = text(m, "cta", problems) else {
        problems.error(
            at,
            "`form` needs `cta:`: the label of the button that opens the form",
            Some("for example `cta: Book now`".into()),
        );
        return None;
    };
    let cta_at = yaml::pos(m.get_node("cta")?);
    check_len(
        &cta,
        FORM_CTA_MAX,
        "the button label `cta`",
        cta_at,
        problems,
    );
    if cta.trim().is_empty() {
        problems.error(cta_at, "the button label `cta` is empty", None);
    }
    if cta.chars().any(is_emoji) {
        problems.error(
            cta_at,
            "WhatsApp refuses emoji in a form's button label `cta`",
            Some("remove the emoji; it may stay in `text:`".into()),
        );
    }
    Some(cta)
}

/// `action:`, how the form opens: `navigate` to `screen:` with `data:` (the default), or
/// `data_exchange` with the author's flow endpoint.
fn action(
    b: &Builder<'_>,
    m: &MarkedMappingNode,
    at: Pos,
    problems: &mut Problems,
) -> Option<FormAction> {
    let action = match text(m, "action", problems).as_deref() {
        None | Some("navigate") => {
            let Some(screen) = text(m, "screen", problems) else {
                problems.error(
                    at,
                    "`form` needs `screen:`: the id of the flow's first screen",
                    Some("as in the flow JSON, like `screen: APPOINTMENT`; or `action: data_exchange` when your flow endpoint picks the screen".into()),
                );
                return None;
            };
            let screen_at = yaml::pos(m.get_node("screen")?);
            check_len(
                &screen,
                FORM_SCREEN_MAX,
                "the screen id",
                screen_at,
                problems,
            );
            if screen.is_empty()
                || !screen
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                problems.error(
                    screen_at,
                    format!("`{screen}` is not a screen id"),
                    Some("screen ids are letters, digits and `_`, like `APPOINTMENT`".into()),
                );
            }
            let data = match m.get_node("data") {
                None => None,
                Some(n @ YamlNode::Mapping(_)) => {
                    blanks::check_all(n, b.ctx, problems);
                    Some(super::http::to_json(n))
                }
                Some(n) => {
                    problems.error(
                        yaml::pos(n),
                        "`data` is the first screen's data: a group of names and values",
                        Some("like `data: { customer_name: \"{{ contact.name }}\" }`".into()),
                    );
                    return None;
                }
            };
            FormAction::Navigate { screen, data }
        }
        Some("data_exchange") => {
            for key in ["screen", "data"] {
                if let Some(n) = m.get_node(key) {
                    problems.error(
                        yaml::pos(n),
                        format!("`{key}` is only for `action: navigate`: with `data_exchange` your flow endpoint sends the first screen"),
                        None,
                    );
                }
            }
            FormAction::DataExchange
        }
        Some(other) => {
            problems.error(
                yaml::pos(m.get_node("action")?),
                format!("`action: {other}` is not a form action"),
                Some("use `navigate` (the default) or `data_exchange`".into()),
            );
            return None;
        }
    };
    Some(action)
}

/// `save_as:`, the variable that keeps the submitted answers, without a `vars.` prefix.
fn save_as(m: &MarkedMappingNode, problems: &mut Problems) -> Option<String> {
    let save_as =
        text(m, "save_as", problems).map(|v| v.strip_prefix("vars.").unwrap_or(&v).to_string());
    if let (Some(name), Some(n)) = (&save_as, m.get_node("save_as")) {
        if name.is_empty() || name.contains(char::is_whitespace) {
            problems.error(
                yaml::pos(n),
                format!("`{name}` is not a variable name"),
                None,
            );
        }
    }
    save_as
}

/// `fields: [{ name: people, label: People, type: number, required: true }, …]`
fn fields(node: &YamlNode, problems: &mut Problems) -> Option<Vec<FormField>> {
    let YamlNode::Sequence(items) = node else {
        problems.error(
            yaml::pos(node),
            "`fields` is a list of the form's fields, each like `{ name: people, type: number }`",
            None,
        );
        return None;
    };
    if items.len() > FORM_FIELDS_MAX {
        problems.error(
            yaml::pos(node),
            format!(
                "a form may declare at most {FORM_FIELDS_MAX} fields, this one has {}",
                items.len()
            ),
            None,
        );
        return None;
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in items.iter() {
        let f = yaml::as_map(item, "a form field", problems)?;
        yaml::check_keys(f, FIELD_KEYS, "a form field", problems);
        let Some(name) = f
            .get_node("name")
            .and_then(|n| yaml::as_str(n, "`name`", problems))
        else {
            problems.error(
                yaml::pos(item),
                "a form field needs `name:`: its key in the flow's response",
                None,
            );
            return None;
        };
        if name.is_empty() || name.contains(char::is_whitespace) || name == "flow_token" {
            problems.error(
                yaml::pos(f.get_node("name")?),
                format!("`{name}` cannot be a field name"),
                Some("use the payload name of the flow JSON, one word like `people`".into()),
            );
        }
        if !seen.insert(name.to_string()) {
            problems.error(
                yaml::pos(f.get_node("name")?),
                format!("the field `{name}` is declared twice"),
                None,
            );
        }
        let kind = match f
            .get_node("type")
            .and_then(|n| yaml::as_str(n, "`type`", problems))
        {
            None => FieldKind::Text,
            Some(t) => match FieldKind::parse(t) {
                Some(k) => k,
                None => {
                    let hint = did_you_mean(t, FieldKind::NAMES)
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| format!("use one of: {}", FieldKind::NAMES.join(", ")));
                    problems.error(
                        yaml::pos(f.get_node("type")?),
                        format!("`{t}` is not a field type"),
                        Some(hint),
                    );
                    return None;
                }
            },
        };
        let options: Vec<String> = f
            .get_node("options")
            .map(|n| {
                yaml::as_list(n)
                    .into_iter()
                    .filter_map(|o| yaml::as_str(o, "an option", problems))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if kind == FieldKind::Choice && options.is_empty() {
            problems.error(
                yaml::pos(item),
                format!("the choice field `{name}` needs `options: [...]`: the ids it may return"),
                None,
            );
        }
        out.push(FormField {
            name: name.to_string(),
            label: f
                .get_node("label")
                .and_then(|n| yaml::as_str(n, "`label`", problems))
                .map(str::to_string),
            kind,
            required: f
                .get_node("required")
                .and_then(|n| yaml::as_bool(n, "`required`", problems))
                .unwrap_or(false),
            options,
        });
    }
    Some(out)
}

/// Pictographs, dingbats and the like: what WhatsApp calls emoji in a button label.
fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0xFE0F | 0x200D)
}
