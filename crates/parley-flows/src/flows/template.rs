//! The `{{ }}` template language shared by the checker and the renderer: how a text splits
//! into blanks ([`pieces`]), a blank's path and filters ([`parse_blank`]), the roots a path
//! may start with ([`ROOTS`]) and the filters ([`Filter`]). Defined here once, below both
//! `flows::compile` (which checks blanks at load) and `engine::template` (which renders
//! them), so the two cannot disagree.

/// What a `{{ path }}` may start with; `engine::template::Roots` reads exactly these.
pub const ROOTS: &[&str] = &["contact", "vars", "message", "now"];

/// What `message.` may be followed by: every key `engine::scope::message_view` sets, for
/// one kind of message or another (a test there keeps the two together).
pub const MESSAGE_KEYS: &[&str] = &[
    "text",
    "type",
    "id",
    "title",
    "latitude",
    "longitude",
    "name",
    "address",
    "form",
    "token",
    "saved_address_id",
    "url",
    "media_id",
    "mime_type",
    "caption",
    "filename",
    "emoji",
    "reacted_to",
    "order",
    "contacts",
    "call",
];

/// The filters after `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Default,
    Upper,
    Lower,
    Trim,
    Capitalize,
}

impl Filter {
    pub const NAMES: &[&str] = &["default", "upper", "lower", "trim", "capitalize"];

    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "default" => Self::Default,
            "upper" => Self::Upper,
            "lower" => Self::Lower,
            "trim" => Self::Trim,
            "capitalize" => Self::Capitalize,
            _ => return None,
        })
    }
}

/// A part of a template text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// `{{ expr }}`; `at` is the byte offset of its `{{`.
    Blank {
        at: usize,
        expr: &'a str,
    },
    /// A `{{` with no `}}` after it: the rest is sent as written.
    Unclosed {
        at: usize,
        rest: &'a str,
    },
}

/// Splits a template into text and blanks, the way `engine::template::render` reads it.
pub fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut offset = 0;
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push(Piece::Unclosed {
                at: offset + start,
                rest: &rest[start..],
            });
            return out;
        };
        out.push(Piece::Blank {
            at: offset + start,
            expr: &after[..end],
        });
        offset += start + 2 + end + 2;
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// A blank's path and its filters with their arguments (`contact.name | default: "x"`).
pub fn parse_blank(expr: &str) -> (&str, Vec<(&str, Option<&str>)>) {
    let mut parts = expr.split('|');
    let path = parts.next().unwrap_or("").trim();
    let filters = parts
        .map(|filter| {
            let filter = filter.trim();
            match filter.split_once(':') {
                Some((n, a)) => (n.trim(), Some(unquote(a.trim()))),
                None => (filter, None),
            }
        })
        .collect();
    (path, filters)
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|x| x.strip_suffix(q)) {
            return inner;
        }
    }
    s
}
