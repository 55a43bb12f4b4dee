//! Text of an HTML page for the knowledge index: headings stay headings (`## Returns`, so
//! the passages of a section carry them), paragraphs, list items and table cells become
//! lines, entities are decoded, and what is not content (scripts, styles, navigation,
//! footers, forms) is dropped. One pass over the text with no tree and no recursion, so a
//! page nested a million levels deep costs what a flat one does.

/// Elements whose content is not read at all.
const SKIPPED: &[&str] = &[
    "script", "style", "nav", "footer", "noscript", "template", "svg", "form", "iframe", "button",
    "select", "aside",
];
/// Elements that end the line they are on.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "ul",
    "ol",
    "li",
    "table",
    "tr",
    "blockquote",
    "pre",
    "dl",
    "dt",
    "dd",
    "br",
    "hr",
    "figure",
    "figcaption",
    "body",
    "html",
    "tbody",
    "thead",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// An HTML page's title (from `<title>`, else its first heading) and its text, in the
/// Markdown shape `knowledge::split` cuts.
pub fn extract(html: &str) -> (Option<String>, String) {
    let mut out = Text::default();
    let mut title: Option<String> = None;
    // The element being skipped, and how deep inside others of its name we are.
    let mut skipping: Option<(String, usize)> = None;
    let mut in_title = false;
    let mut in_pre = false;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skipping.is_none() {
                out.text(rest, in_pre);
            }
            break;
        };
        let (before, after) = rest.split_at(lt);
        if in_title {
            let t = collapse(&decode(before));
            if !t.is_empty() {
                title.get_or_insert(t);
            }
        } else if skipping.is_none() {
            out.text(before, in_pre);
        }
        rest = after;
        if let Some(end) = rest.strip_prefix("<!--") {
            rest = end.find("-->").map_or("", |i| &end[i + 3..]);
            continue;
        }
        let Some((tag, left)) = Tag::parse(rest) else {
            // A `<` that starts no tag is text.
            if skipping.is_none() && !in_title {
                out.text("<", in_pre);
            }
            rest = &rest[1..];
            continue;
        };
        rest = left;
        if let Some((name, depth)) = &mut skipping {
            if tag.name == *name && !tag.self_closing {
                if tag.closing {
                    if *depth == 0 {
                        skipping = None;
                    } else {
                        *depth -= 1;
                    }
                } else {
                    *depth += 1;
                }
            }
            continue;
        }
        if tag.name == "title" {
            in_title = !tag.closing;
            continue;
        }
        if !tag.closing && !tag.self_closing && SKIPPED.contains(&tag.name.as_str()) {
            skipping = Some((tag.name, 0));
            continue;
        }
        match (tag.name.as_str(), tag.closing) {
            ("pre", closing) => {
                in_pre = !closing;
                out.end_block();
            }
            (h, false) if is_heading(h) => {
                out.end_block();
                let level = usize::from(h.as_bytes()[1] - b'0');
                out.line.push_str(&"#".repeat(level));
                out.line.push(' ');
            }
            ("li", true) => out.end_line(),
            ("li", false) => {
                out.end_line();
                out.line.push_str("- ");
            }
            ("td" | "th", false) if !out.line.trim().is_empty() => out.line.push_str(" | "),
            ("tr", _) | ("br", _) => out.end_line(),
            (name, _) if BLOCKS.contains(&name) => out.end_block(),
            _ => {}
        }
    }
    out.end_block();
    let text = out.done.trim().to_string();
    let title = title.or_else(|| {
        text.lines()
            .find(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim().to_string())
    });
    (title, text)
}

fn is_heading(name: &str) -> bool {
    name.len() == 2 && name.starts_with('h') && (b'1'..=b'6').contains(&name.as_bytes()[1])
}

/// The text so far and the line being written.
#[derive(Default)]
struct Text {
    done: String,
    line: String,
}

impl Text {
    fn text(&mut self, raw: &str, pre: bool) {
        let decoded = decode(raw);
        if pre {
            for (i, part) in decoded.split('\n').enumerate() {
                if i > 0 {
                    self.end_line();
                }
                self.line.push_str(part.trim_end());
            }
            return;
        }
        let starts_space = decoded.starts_with(char::is_whitespace);
        let words = collapse(&decoded);
        if words.is_empty() {
            if starts_space && !self.line.ends_with(' ') && !self.line.is_empty() {
                self.line.push(' ');
            }
            return;
        }
        if starts_space && !self.line.is_empty() && !self.line.ends_with(' ') {
            self.line.push(' ');
        }
        self.line.push_str(&words);
        if decoded.ends_with(char::is_whitespace) {
            self.line.push(' ');
        }
    }

    fn end_line(&mut self) {
        let line = self.line.trim();
        if !line.is_empty() && line != "-" && line != "#" {
            self.done.push_str(line);
            self.done.push('\n');
        }
        self.line.clear();
    }

    /// Ends the paragraph: a blank line, so the next block starts a new one.
    fn end_block(&mut self) {
        self.end_line();
        if !self.done.is_empty() && !self.done.ends_with("\n\n") {
            self.done.push('\n');
        }
    }
}

/// A tag's name (lowercase) and kind.
struct Tag {
    name: String,
    closing: bool,
    self_closing: bool,
}

impl Tag {
    /// The tag at the start of `s` (which starts with `<`) and the text after it; `None`
    /// when `s` starts no tag. Declarations (`<!DOCTYPE …>`, `<?xml …?>`) are tags with
    /// no name.
    fn parse(s: &str) -> Option<(Tag, &str)> {
        let body = &s[1..];
        let (closing, body) = match body.strip_prefix('/') {
            Some(b) => (true, b),
            None => (false, body),
        };
        let first = body.chars().next()?;
        if first == '!' || first == '?' {
            let end = body.find('>').map_or(body.len(), |i| i + 1);
            return Some((
                Tag {
                    name: String::new(),
                    closing,
                    self_closing: true,
                },
                &body[end..],
            ));
        }
        if !first.is_ascii_alphabetic() {
            return None;
        }
        let name_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
            .unwrap_or(body.len());
        let name = body[..name_len].to_ascii_lowercase();
        // The attributes, to the `>` that is outside quotes.
        let mut quote: Option<char> = None;
        let mut end = body.len();
        for (i, c) in body[name_len..].char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '>') => {
                    end = name_len + i;
                    break;
                }
                _ => {}
            }
        }
        let self_closing = body[..end].ends_with('/')
            || matches!(
                name.as_str(),
                "br" | "hr" | "img" | "meta" | "link" | "input"
            );
        let rest = if end < body.len() {
            &body[end + 1..]
        } else {
            ""
        };
        Some((
            Tag {
                name,
                closing,
                self_closing,
            },
            rest,
        ))
    }
}

/// `text` with runs of white space as one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` with its character references decoded (`&amp;`, `&#39;`, `&#x20AC;`, the common
/// named ones); an unknown one is kept as written.
pub fn decode(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|&e| e <= 10);
        let decoded = end.and_then(|e| reference(&rest[1..e]).map(|c| (c, e)));
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn reference(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(n).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "middot" => '·',
        "bull" => '•',
        "deg" => '°',
        "eacute" => 'é',
        "egrave" => 'è',
        "aacute" => 'á',
        "agrave" => 'à',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "ntilde" => 'ñ',
        "ccedil" => 'ç',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "szlig" => 'ß',
        _ => return None,
    })
}
