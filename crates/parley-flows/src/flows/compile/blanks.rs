//! `{{ … }}` blanks in the texts a flow sends, checked at load against the renderer's own
//! definitions (`engine::template`): a blank never closed, a stray `}}`, a root flows do
//! not have (`contcat`) or an unknown filter (`uper`) would otherwise reach the customer
//! as written or as empty text.

use super::super::problem::{did_you_mean, Pos, Problems};
use super::super::yaml::{self, YamlNode};
use super::LoadContext;
use crate::flows::template::{parse_blank, pieces, Filter, Piece, MESSAGE_KEYS, ROOTS};
use marked_yaml::types::MarkedMappingNode;

/// Checks the scalar values of `keys` in `map` that exist.
pub fn check_keys(
    map: &MarkedMappingNode,
    keys: &[&str],
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) {
    for key in keys {
        if let Some(node) = map.get_node(key) {
            check(node, ctx, problems);
        }
    }
}

/// Checks every text inside `node` (a value, or the lists and settings of an `http` body).
pub fn check_all(node: &YamlNode, ctx: &LoadContext<'_>, problems: &mut Problems) {
    // Iterative: a body is within the nesting limit, but no walk here needs the stack.
    let mut todo = vec![node];
    while let Some(n) = todo.pop() {
        match n {
            YamlNode::Scalar(_) => check(n, ctx, problems),
            YamlNode::Sequence(s) => todo.extend(s.iter()),
            YamlNode::Mapping(m) => todo.extend(m.values()),
        }
    }
}

/// The most problems one text value reports.
const MAX_PER_TEXT: usize = 20;

/// Checks one text value.
pub fn check(node: &YamlNode, ctx: &LoadContext<'_>, problems: &mut Problems) {
    let YamlNode::Scalar(scalar) = node else {
        return;
    };
    let text = scalar.as_str();
    if !text.contains("{{") && !text.contains("}}") {
        return;
    }
    let at = |offset: usize| locate(ctx.source, scalar, text, offset);
    let mut offset = 0;
    let before = problems.list.len();
    for piece in pieces(text) {
        // Each place costs a walk of the text: a text of thousands of broken blanks
        // stops at a screenful of them.
        if problems.list.len() - before >= MAX_PER_TEXT {
            problems.error(
                at(offset),
                format!(
                    "more blanks of this text have problems; the first {MAX_PER_TEXT} are above"
                ),
                Some("fix those first, then run `parley check` again".into()),
            );
            return;
        }
        match piece {
            Piece::Text(t) => {
                if let Some(i) = t.find("}}") {
                    problems.error(
                        at(offset + i),
                        "`}}` closes a blank that was never opened: the customer would see the braces",
                        Some("open the blank with `{{`, like `{{ contact.name }}`".into()),
                    );
                }
                offset += t.len();
            }
            Piece::Unclosed { at: i, rest } => {
                problems.error(
                    at(i),
                    format!(
                        "`{}` is never closed with `}}}}`: the customer would see it as written",
                        short(rest)
                    ),
                    Some("close the blank, like `{{ contact.name }}`".into()),
                );
                return;
            }
            Piece::Blank { at: i, expr } => {
                offset = i + expr.len() + 4;
                blank(expr, || at(i), problems);
            }
        }
    }
}

/// `at` says where the blank is, asked only for a problem: placing every blank of a long
/// text up front made `check` quadratic in the number of blanks.
fn blank(expr: &str, at: impl Fn() -> Pos, problems: &mut Problems) {
    let whole = format!("{{{{{expr}}}}}");
    if expr.contains('{') || expr.contains('}') {
        problems.error(
            at(),
            format!(
                "the blank `{}` is not closed properly: the customer would see braces",
                short(&whole)
            ),
            Some("write each blank with two braces on each side, like `{{ contact.name }}`".into()),
        );
        return;
    }
    let (path, filters) = parse_blank(expr);
    let root = path.split('.').next().unwrap_or("").trim();
    if root.is_empty() {
        problems.error(
            at(),
            format!("the blank `{}` names no value", short(&whole)),
            Some(format!(
                "write the value to fill in, starting with {}",
                roots()
            )),
        );
        return;
    }
    if ROOTS.contains(&root) && path.split('.').skip(1).any(|key| key.trim().is_empty()) {
        problems.error(
            at(),
            format!(
                "the blank `{}` has a dot with no name after it: it would be sent as empty text",
                short(&whole)
            ),
            Some(format!(
                "write the name after each dot, like `{{{{ {root}.name }}}}`, or remove the dot"
            )),
        );
        return;
    }
    if let Some(open) = path.find('[') {
        // `vars.items[0]`: blanks reach into lists with a dot and the position.
        let dotted = path.replace('[', ".").replace(']', "");
        problems.error(
            at(),
            format!(
                "`{}` in `{}` uses brackets: it would be sent as empty text",
                path[open..]
                    .split_inclusive(']')
                    .next()
                    .unwrap_or(&path[open..]),
                short(&whole)
            ),
            Some(format!(
                "write `{{{{ {dotted} }}}}`: a list's items are `.0`, `.1`…"
            )),
        );
        return;
    }
    let mut keys = path.split('.').skip(1).map(str::trim);
    match (root, keys.next()) {
        ("now", Some(key)) => {
            problems.error(
                at(),
                format!(
                    "`now` is a time, like 2026-11-23T10:30:00+00:00, with no parts: `now.{key}` \
                     in `{}` would be sent as empty text",
                    short(&whole)
                ),
                Some("write `{{ now }}`".into()),
            );
            return;
        }
        ("message", Some(key)) if !MESSAGE_KEYS.contains(&key) => {
            let hint = suggest(
                key,
                MESSAGE_KEYS,
                "message.",
                &format!("a message has: {}", MESSAGE_KEYS.join(", ")),
            );
            problems.error(
                at(),
                format!(
                    "a message has no `{key}` (in `{}`): it would be sent as empty text",
                    short(&whole)
                ),
                Some(hint),
            );
            return;
        }
        _ => {}
    }
    if !ROOTS.contains(&root) {
        let hint = suggest(root, ROOTS, "", &format!("a blank starts with {}", roots()));
        problems.error(
            at(),
            format!(
                "`{root}` in `{}` is not something flows know: it would be sent as empty text",
                short(&whole)
            ),
            Some(hint),
        );
    }
    for (name, argument) in filters {
        match (Filter::parse(name), argument) {
            (Some(Filter::Default), None | Some("")) => problems.error(
                at(),
                format!(
                    "`| default` needs the text to use when the value is missing (in `{}`)",
                    short(&whole)
                ),
                Some("write it after a colon, like `{{ contact.name | default: friend }}`".into()),
            ),
            (Some(f), Some(value)) if f != Filter::Default => problems.error(
                at(),
                format!(
                    "the filter `{name}` takes no value, but `{value}` follows it (in `{}`)",
                    short(&whole)
                ),
                Some(format!("write `| {name}` alone")),
            ),
            _ => {}
        }
        if Filter::parse(name).is_none() {
            let hint = suggest(
                name,
                Filter::NAMES,
                "",
                &format!("the filters are: {}", Filter::NAMES.join(", ")),
            );
            problems.error(
                at(),
                format!(
                    "there is no filter `{name}` (in `{}`): it would be ignored",
                    short(&whole)
                ),
                Some(hint),
            );
        }
    }
}

/// `then`, after "did you mean `{prefix}{closest}`?" when one of `choices` is close to
/// `word`.
fn suggest(word: &str, choices: &[&str], prefix: &str, then: &str) -> String {
    match did_you_mean(word, choices) {
        Some(close) => {
            let mut rest = then.chars();
            let capital: String = rest
                .next()
                .into_iter()
                .flat_map(char::to_uppercase)
                .collect();
            format!("did you mean `{prefix}{close}`? {capital}{}", rest.as_str())
        }
        None => then.to_string(),
    }
}

fn roots() -> String {
    let quoted: Vec<String> = ROOTS.iter().map(|r| format!("`{r}`")).collect();
    quoted.join(", ")
}

/// At most 40 characters of `s`, for messages.
fn short(s: &str) -> String {
    let s = s.lines().next().unwrap_or("");
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(39).collect::<String>())
    }
}

/// Where byte `offset` of a scalar's text is in the file: exact for one-line values and
/// `|` blocks (whose lines are in the file as written), the value's start otherwise
/// (folded text moves characters).
fn locate(
    source: &str,
    scalar: &marked_yaml::types::MarkedScalarNode,
    text: &str,
    offset: usize,
) -> Pos {
    let before = &text[..offset.min(text.len())];
    let col = before.rsplit('\n').next().unwrap_or("").chars().count();
    if !text.contains('\n') {
        let (origin, _) = yaml::text_origin(source, scalar);
        return Pos {
            line: origin.line,
            column: origin.column + col,
        };
    }
    let start = yaml::scalar_pos(scalar);
    let k = before.matches('\n').count();
    let text_line = text.split('\n').nth(k).unwrap_or("");
    match source.lines().nth(start.line.saturating_sub(1) + k) {
        Some(src) if src.ends_with(text_line) => Pos {
            line: start.line + k,
            column: src.chars().count() - text_line.chars().count() + 1 + col,
        },
        _ => start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_keep_offsets() {
        assert_eq!(
            pieces("a {{ b }} c"),
            vec![
                Piece::Text("a "),
                Piece::Blank { at: 2, expr: " b " },
                Piece::Text(" c")
            ]
        );
    }
}
