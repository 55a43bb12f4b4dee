//! Between the protocol's terms and the analysis': `file://` URIs and paths, and
//! positions (the protocol counts lines from 0 and columns in UTF-16 code units; the
//! analysis counts both from 1, columns in characters).

use crate::studio::analysis::Pos;
use lsp_types::{Position, Range, Uri};
use std::path::{Path, PathBuf};

/// The path a `file://` URI names (`None` for other schemes).
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file:///x` (no host) or `file://localhost/x`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let decoded = percent_decode(rest)?;
    // `/C:/Users/…` on Windows.
    let bytes = decoded.as_bytes();
    if cfg!(windows) && bytes.len() > 2 && bytes[0] == b'/' && bytes[2] == b':' {
        return Some(PathBuf::from(&decoded[1..]));
    }
    Some(PathBuf::from(decoded))
}

/// The `file://` URI of `path` (made absolute first).
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let absolute = std::path::absolute(path).ok()?;
    let text = absolute.to_string_lossy().replace('\\', "/");
    let mut out = String::from("file://");
    if !text.starts_with('/') {
        out.push('/');
    }
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.parse().ok()
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn line_of(text: &str, line: usize) -> &str {
    text.split('\n')
        .nth(line)
        .unwrap_or("")
        .trim_end_matches('\r')
}

/// The protocol's position of `pos` in `text`.
pub fn to_lsp(text: &str, pos: Pos) -> Position {
    let line = pos.line.saturating_sub(1);
    let units: usize = line_of(text, line)
        .chars()
        .take(pos.column.saturating_sub(1))
        .map(char::len_utf16)
        .sum();
    Position {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        character: u32::try_from(units).unwrap_or(u32::MAX),
    }
}

/// The analysis' position of the protocol's `position` in `text`.
pub fn from_lsp(text: &str, position: Position) -> Pos {
    let line = position.line as usize;
    let mut units = 0;
    let mut column = 1;
    for c in line_of(text, line).chars() {
        if units >= position.character as usize {
            break;
        }
        units += c.len_utf16();
        column += 1;
    }
    Pos {
        line: line + 1,
        column,
    }
}

/// The protocol's range from `start` to `end` in `text`.
pub fn range(text: &str, start: Pos, end: Pos) -> Range {
    Range {
        start: to_lsp(text, start),
        end: to_lsp(text, end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_units_in_the_protocol_and_characters_here() {
        let text = "id: x\nsend: \"👋 é hi\"\n";
        let pos = Pos {
            line: 2,
            column: 11,
        };
        let lsp = to_lsp(text, pos);
        assert_eq!((lsp.line, lsp.character), (1, 11));
        assert_eq!(from_lsp(text, lsp), pos);
    }

    #[test]
    fn file_uris_and_paths() {
        let uri: Uri = "file:///tmp/my%20flows/welcome.yaml".parse().unwrap();
        let path = uri_to_path(&uri).unwrap();
        assert_eq!(path, PathBuf::from("/tmp/my flows/welcome.yaml"));
        assert_eq!(path_to_uri(&path).unwrap().as_str(), uri.as_str());
        let other: Uri = "untitled:Untitled-1".parse().unwrap();
        assert_eq!(uri_to_path(&other), None);
    }
}
