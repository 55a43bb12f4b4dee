//! The one place flow YAML is parsed: into a tree of nodes that remember their line and
//! column, with small helpers that turn shape mistakes into readable problems.

use super::problem::{did_you_mean, Pos, Problems};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{LoaderOptions, Node};

mod indent;

/// The line out of step with those above it, for other YAML files authors write (tests).
pub use indent::hint as out_of_step;
pub use marked_yaml::Node as YamlNode;

/// Parses a flow file. Broken YAML becomes one problem at the place the parser stopped; a
/// file nested too deeply is refused before any tree is built (see `limits`).
pub fn parse(text: &str, problems: &mut Problems) -> Option<Node> {
    if let Err(r) = crate::config::file_limits::check_nesting(text) {
        problems.error(
            Pos {
                line: r.line,
                column: r.column,
            },
            r.message,
            Some(r.hint),
        );
        return None;
    }
    if let Some(line) = second_document(text) {
        problems.error(
            Pos { line, column: 1 },
            "a second flow starts here (`---`): a file holds one flow, and Parley would not read this one",
            Some("move the flow below this line into a file of its own, and delete the `---`".into()),
        );
        return None;
    }
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(node) => Some(node),
        Err(e) => {
            use marked_yaml::LoadError::*;
            let (at, message, hint) = match &e {
                TopLevelMustBeMapping(m) | TopLevelMustBeSequence(m) => (
                    *m,
                    "a flow file must be a list of settings like `id:`, `triggers:` and `steps:`"
                        .to_string(),
                    None,
                ),
                UnexpectedAnchor(m) => (
                    *m,
                    "anchors (&name) and aliases (*name) are not supported in flow files".into(),
                    Some("write the value out in full where it is used; steps several flows share can be a flow of their own that each one reaches with `goto_flow`".into()),
                ),
                MappingKeyMustBeScalar(m) => (*m, "a setting name must be plain text".into(), None),
                UnexpectedTag(m) => (
                    *m,
                    "YAML tags (!name) are not supported in flow files".into(),
                    None,
                ),
                DuplicateKey(inner) => (
                    *inner
                        .key
                        .span()
                        .start()
                        .unwrap_or(&marked_yaml::Marker::new(0, 0, 1, 1)),
                    format!(
                        "`{}` is written twice in the same place",
                        inner.key.as_str()
                    ),
                    Some("keep one of them".to_string()),
                ),
                // Most broken YAML is a line out of step with the lines above it: point at
                // that line and say so, keeping the parser's words for the curious.
                ScanError(m, err) => match indent::hint(text, m.line()) {
                    Some(off) => (
                        marked_yaml::Marker::new(0, 0, off.line, off.column),
                        format!("{} (the YAML reader says: {})", off.what, err.info()),
                        Some(off.hint),
                    ),
                    None => (
                        *m,
                        format!("the YAML is broken here: {}", err.info()),
                        Some(
                            "check the indentation and that every `\"` and `'` is closed"
                                .to_string(),
                        ),
                    ),
                },
            };
            problems.error(
                Pos {
                    line: at.line(),
                    column: at.column(),
                },
                message,
                hint,
            );
            None
        }
    }
}

/// Where a node starts; for a group of settings, where its first setting's name is.
pub fn pos(node: &Node) -> Pos {
    match node {
        Node::Mapping(m) => match m.keys().next() {
            Some(k) => scalar_pos(k),
            None => marker_pos(node.span().start()),
        },
        other => marker_pos(other.span().start()),
    }
}

pub fn scalar_pos(node: &MarkedScalarNode) -> Pos {
    marker_pos(node.span().start())
}

fn marker_pos(m: Option<&marked_yaml::Marker>) -> Pos {
    m.map(|m| Pos {
        line: m.line(),
        column: m.column(),
    })
    .unwrap_or(Pos { line: 1, column: 1 })
}

/// A value left empty: nothing after the colon (`send:`), `~`, `null` or `{}`.
pub fn is_empty(node: &Node) -> bool {
    match node {
        Node::Scalar(s) => {
            s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
        }
        Node::Mapping(m) => m.is_empty(),
        Node::Sequence(_) => false,
    }
}

/// Describes what a node is, for "expected a list, found text" messages.
pub fn kind(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "a single value",
        Node::Mapping(_) => "a group of settings",
        Node::Sequence(_) => "a list",
    }
}

/// A mapping's entries, reporting every key not in `allowed` (with a did-you-mean).
pub fn check_keys(map: &MarkedMappingNode, allowed: &[&str], what: &str, problems: &mut Problems) {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let hint = match did_you_mean(key.as_str(), allowed) {
                Some(s) => format!(
                    "did you mean `{s}`? {what} can have: {}",
                    allowed.join(", ")
                ),
                None => format!("{what} can have: {}", allowed.join(", ")),
            };
            problems.error(
                scalar_pos(key),
                format!("unknown setting `{}` in {what}", key.as_str()),
                Some(hint),
            );
        }
    }
}

pub fn as_str<'a>(node: &'a Node, what: &str, problems: &mut Problems) -> Option<&'a str> {
    match node {
        Node::Scalar(s) => Some(s.as_str()),
        other => {
            problems.error(
                pos(other),
                format!("{what} must be a single value, found {}", kind(other)),
                None,
            );
            None
        }
    }
}

pub fn as_map<'a>(
    node: &'a Node,
    what: &str,
    problems: &mut Problems,
) -> Option<&'a MarkedMappingNode> {
    match node {
        Node::Mapping(m) => Some(m),
        other => {
            problems.error(
                pos(other),
                format!("{what} must be a group of settings, found {}", kind(other)),
                None,
            );
            None
        }
    }
}

/// A list, or a single value taken as a list of one (`keyword: menu` = `keyword: [menu]`).
pub fn as_list(node: &Node) -> Vec<&Node> {
    match node {
        Node::Sequence(s) => s.iter().collect(),
        other => vec![other],
    }
}

pub fn as_bool(node: &Node, what: &str, problems: &mut Problems) -> Option<bool> {
    let s = as_str(node, what, problems)?;
    match s.to_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => {
            problems.error(
                pos(node),
                format!("{what} must be true or false, found `{s}`"),
                None,
            );
            None
        }
    }
}

pub fn as_int(node: &Node, what: &str, problems: &mut Problems) -> Option<i64> {
    let s = as_str(node, what, problems)?;
    match s.trim().parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            problems.error(
                pos(node),
                format!("{what} must be a whole number, found `{s}`"),
                None,
            );
            None
        }
    }
}

pub fn as_f64(node: &Node, what: &str, problems: &mut Problems) -> Option<f64> {
    let s = as_str(node, what, problems)?;
    match s.trim().parse::<f64>() {
        Ok(n) if n.is_finite() => Some(n),
        _ => {
            problems.error(
                pos(node),
                format!("{what} must be a number, found `{s}`"),
                None,
            );
            None
        }
    }
}

pub fn as_duration(
    node: &Node,
    what: &str,
    problems: &mut Problems,
) -> Option<std::time::Duration> {
    let s = as_str(node, what, problems)?;
    match crate::config::duration::parse(s) {
        Ok(d) => Some(d),
        Err(e @ crate::config::duration::DurationError::TooLong) => {
            problems.error(
                pos(node),
                format!("{what} of {} is {e}", s.trim()),
                Some("write a shorter one".into()),
            );
            None
        }
        Err(_) => {
            problems.error(
                pos(node),
                format!("{what} must be a duration, found `{s}`"),
                Some("write it like 30s, 10m, 2h or 1d".into()),
            );
            None
        }
    }
}

/// The line of a YAML document marker (`---` or `...` at the start of a line) that comes
/// after content: the YAML reader would read the first document and drop the rest silently.
/// A `---` before any content (an editor's habit) is harmless.
fn second_document(text: &str) -> Option<usize> {
    let mut content = false;
    for (i, line) in text.lines().enumerate() {
        let marker = ["---", "..."].iter().any(|m| {
            line.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        });
        if marker {
            if content {
                return Some(i + 1);
            }
            continue;
        }
        let t = line.trim_start();
        if !(t.is_empty() || t.starts_with('#') || line.starts_with('%')) {
            content = true;
        }
    }
    None
}

/// The flow id a file's top-level `id:` line names, read from the text alone: for a file
/// whose YAML cannot be read.
pub fn id_line(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix("id:")?;
        let value = value.split(" #").next().unwrap_or("").trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// Where the text of a scalar starts, for mapping positions inside it (Rhai errors):
/// block scalars (`|`, `>`) start on the next line at its indentation; quoted ones one
/// column after the quote.
pub fn text_origin(source: &str, node: &MarkedScalarNode) -> (Pos, bool) {
    let p = scalar_pos(node);
    let line_text = source.lines().nth(p.line.saturating_sub(1)).unwrap_or("");
    let rest: String = line_text.chars().skip(p.column.saturating_sub(1)).collect();
    if rest.starts_with('|') || rest.starts_with('>') {
        let next = source.lines().nth(p.line).unwrap_or("");
        let indent = next.len() - next.trim_start().len();
        return (
            Pos {
                line: p.line + 1,
                column: indent + 1,
            },
            true,
        );
    }
    if rest.starts_with('"') || rest.starts_with('\'') {
        return (
            Pos {
                line: p.line,
                column: p.column + 1,
            },
            false,
        );
    }
    (p, false)
}
