//! Buttons, lists and reactions of a `send`: WhatsApp's limits on each, checked at load,
//! and what a Twilio sender cannot send as written.

use super::*;

pub(in crate::flows::compile) fn buttons(
    node: &YamlNode,
    problems: &mut Problems,
) -> Option<Vec<(String, String)>> {
    let items = yaml::as_list(node);
    let mut out = Vec::new();
    let mut titles = HashSet::new();
    let mut ids = HashSet::new();
    for item in &items {
        let (id, title) = match item {
            YamlNode::Scalar(s) => (s.as_str().to_string(), s.as_str().to_string()),
            other => {
                let m = yaml::as_map(other, "a button", problems)?;
                yaml::check_keys(m, &["id", "title"], "a button", problems);
                let title = m
                    .get_node("title")
                    .and_then(|n| yaml::as_str(n, "`title`", problems));
                let Some(title) = title else {
                    problems.error(yaml::pos(other), "each button needs a `title`", None);
                    continue;
                };
                let id = m
                    .get_node("id")
                    .and_then(|n| yaml::as_str(n, "`id`", problems))
                    .unwrap_or(title);
                (id.to_string(), title.to_string())
            }
        };
        let at = yaml::pos(item);
        check_len(&title, BUTTON_TITLE_MAX, "a button title", at, problems);
        check_len(&id, BUTTON_ID_MAX, "a button id", at, problems);
        if title.trim().is_empty() {
            problems.error(at, "a button title cannot be empty", None);
        }
        if !titles.insert(title.to_lowercase()) {
            problems.error(
                at,
                format!("two buttons are titled `{title}`"),
                Some("WhatsApp needs different titles".into()),
            );
        }
        if !ids.insert(id.clone()) {
            problems.error(at, format!("two buttons have the id `{id}`"), None);
        }
        out.push((id, title));
    }
    if out.is_empty() || items.len() > REPLY_BUTTONS_MAX {
        problems.error(
            yaml::pos(node),
            format!(
                "a message has 1 to {REPLY_BUTTONS_MAX} reply buttons, this one has {}",
                items.len()
            ),
            Some(format!(
                "for more choices use a `list` (up to {LIST_ROWS_MAX} rows)"
            )),
        );
        return None;
    }
    Some(out)
}

type Sections = Vec<crate::flows::model::ListSectionSpec>;

pub(super) fn list(node: &YamlNode, problems: &mut Problems) -> Option<(String, Sections)> {
    let m = yaml::as_map(node, "`list`", problems)?;
    yaml::check_keys(m, &["button", "sections", "rows"], "a list", problems);
    let button = m
        .get_node("button")
        .and_then(|n| yaml::as_str(n, "`button`", problems))
        .map(str::to_string);
    let Some(button) = button else {
        problems.error(
            yaml::pos(node),
            "a list needs `button`: the label of the button that opens it",
            None,
        );
        return None;
    };
    check_len(
        &button,
        BUTTON_TITLE_MAX,
        "the list button label",
        yaml::pos(node),
        problems,
    );
    let mut sections = Vec::new();
    let section_nodes: Vec<(Option<String>, &YamlNode)> =
        match (m.get_node("sections"), m.get_node("rows")) {
            (Some(s), None) => yaml::as_list(s)
                .into_iter()
                .filter_map(|sec| {
                    let sm = yaml::as_map(sec, "a list section", problems)?;
                    yaml::check_keys(sm, &["title", "rows"], "a list section", problems);
                    let title = sm
                        .get_node("title")
                        .and_then(|n| yaml::as_str(n, "`title`", problems))
                        .map(str::to_string);
                    Some((title, sm.get_node("rows")?))
                })
                .collect(),
            (None, Some(r)) => vec![(None, r)],
            _ => {
                problems.error(
                    yaml::pos(node),
                    "a list needs `rows` (or `sections`, each with `rows`)",
                    None,
                );
                return None;
            }
        };
    let mut ids = HashSet::new();
    let mut total = 0;
    for (title, rows_node) in section_nodes {
        if let Some(t) = &title {
            check_len(
                t,
                ROW_TITLE_MAX,
                "a section title",
                yaml::pos(rows_node),
                problems,
            );
        }
        let mut rows = Vec::new();
        for row in yaml::as_list(rows_node) {
            total += 1;
            let (id, rtitle, desc) = match row {
                YamlNode::Scalar(s) => (s.as_str().to_string(), s.as_str().to_string(), None),
                other => {
                    let rm = yaml::as_map(other, "a list row", problems)?;
                    yaml::check_keys(rm, &["id", "title", "description"], "a list row", problems);
                    let rtitle = rm
                        .get_node("title")
                        .and_then(|n| yaml::as_str(n, "`title`", problems));
                    let Some(rtitle) = rtitle else {
                        problems.error(yaml::pos(other), "each list row needs a `title`", None);
                        continue;
                    };
                    let id = rm
                        .get_node("id")
                        .and_then(|n| yaml::as_str(n, "`id`", problems))
                        .unwrap_or(rtitle);
                    let desc = rm
                        .get_node("description")
                        .and_then(|n| yaml::as_str(n, "`description`", problems));
                    (id.to_string(), rtitle.to_string(), desc.map(str::to_string))
                }
            };
            let at = yaml::pos(row);
            check_len(&rtitle, ROW_TITLE_MAX, "a list row title", at, problems);
            if let Some(d) = &desc {
                check_len(
                    d,
                    ROW_DESCRIPTION_MAX,
                    "a list row description",
                    at,
                    problems,
                );
            }
            if !ids.insert(id.clone()) {
                problems.error(at, format!("two list rows have the id `{id}`"), None);
            }
            rows.push((id, rtitle, desc));
        }
        sections.push((title, rows));
    }
    if total == 0 || total > LIST_ROWS_MAX {
        problems.error(
            yaml::pos(node),
            format!("a list has 1 to {LIST_ROWS_MAX} rows in all, this one has {total}"),
            None,
        );
        return None;
    }
    Some((button, sections))
}

/// `react: "👍"` (to the customer's message being handled), `react: ""` (removes the
/// reaction), or `react: { emoji: "👍", message_id: "{{ vars.order_message }}" }`.
pub(super) fn reaction(
    node: &YamlNode,
    at: Pos,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<ContentSpec> {
    let (emoji_node, message_id) = match node {
        YamlNode::Scalar(_) => {
            blanks::check(node, ctx, problems);
            (node, None)
        }
        other => {
            let m = yaml::as_map(other, "`react`", problems)?;
            yaml::check_keys(m, &["emoji", "message_id"], "a reaction", problems);
            blanks::check_keys(m, &["emoji", "message_id"], ctx, problems);
            let Some(emoji) = m.get_node("emoji") else {
                problems.error(
                    yaml::pos(other),
                    "`react` needs an `emoji` (an empty one removes the reaction)",
                    None,
                );
                return None;
            };
            let id = m
                .get_node("message_id")
                .and_then(|n| yaml::as_str(n, "`message_id`", problems))
                .map(str::to_string);
            (emoji, id)
        }
    };
    let emoji = yaml::as_str(emoji_node, "the reaction's emoji", problems)?.to_string();
    let templated = emoji.contains("{{");
    if !templated {
        if let Some(why) = crate::domain::limits::reaction_problem(&emoji) {
            problems.error(
                yaml::pos(emoji_node),
                why,
                Some(
                    "write one emoji, like `react: \"👍\"`, or `react: \"\"` to remove a reaction"
                        .into(),
                ),
            );
        }
    }
    if message_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        problems.error(
            at,
            "`message_id` is empty; leave it out to react to the customer's message",
            None,
        );
    }
    twilio_note(
        yaml::pos(node),
        |ids| {
            format!("on the Twilio sender(s) {ids} this reaction fails: Twilio's API cannot send WhatsApp reactions")
        },
        ctx,
        problems,
    );
    Some(ContentSpec::Reaction { emoji, message_id })
}

/// A warning when the deployment has Twilio senders, on which this content cannot go out
/// as written (flows are not bound to one sender, so this is not an error).
pub(super) fn twilio_note(
    at: Pos,
    what: impl FnOnce(&str) -> String,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) {
    let Some(d) = ctx.deployment else { return };
    if d.twilio_sender_ids.is_empty() {
        return;
    }
    let ids = d
        .twilio_sender_ids
        .iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    problems.warning(at, what(&ids), None);
}
