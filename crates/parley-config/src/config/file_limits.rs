//! Size and nesting limits for every YAML file Parley reads (flows, flow tests, the
//! config), checked BEFORE the file is parsed into a tree. The tree builders (yaml-rust2's
//! `load`, serde_yaml) and everything that walks or drops the tree recurse once per level,
//! so a 10 KB file of `- - - - …` could exhaust a thread's stack and abort the process.
//! This check walks the parser's events in a loop — no recursion, stopping at the first
//! level too deep — so it costs microseconds whatever the file holds.
//!
//! Flow collections (`[[[[…` or `{a: {a: …`) get a plain text scan first: YAML scanners
//! look ahead for a possible `key:` after each unclosed bracket, which makes them quadratic
//! in the nesting depth (100 KB of `[` took 17 s of CPU in serde_yaml).

use yaml_rust2::parser::{Event, Parser};

/// Deepest nesting of lists and groups of settings a file may have. Real flows use under
/// 15; the tree walkers stay far from any stack limit at this depth.
pub const MAX_DEPTH: usize = 64;

/// Largest file Parley reads as a flow, flow test or config (1 MiB); real ones are a few KB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why a file is refused before parsing, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 1-based line and column.
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: String,
}

/// Refuses text nested more than [`MAX_DEPTH`] levels deep, pointing at the place where it
/// goes too deep. Broken YAML passes: the real parser reports it with better words.
pub fn check_nesting(text: &str) -> Result<(), Refusal> {
    flow_brackets(text)?;
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        let Ok((event, mark)) = parser.next_token() else {
            return Ok(());
        };
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(mark.line().max(1), mark.col() + 1));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::StreamEnd => return Ok(()),
            _ => {}
        }
    }
}

fn too_deep(line: usize, column: usize) -> Refusal {
    Refusal {
        line,
        column,
        message: format!(
            "the file is nested more than {MAX_DEPTH} levels deep here (lists inside lists or settings inside settings)"
        ),
        hint: "flatten it: real files need a few levels; check for stray `- `, `[` or `{`".into(),
    }
}

/// The depth of `[…]` and `{…}` collections, found without a YAML parser: brackets count
/// only where a value starts (or inside another collection), never inside quotes, comments
/// or `|`/`>` text blocks, so scripts and messages with brackets in them pass.
fn flow_brackets(text: &str) -> Result<(), Refusal> {
    let mut depth = 0usize;
    // Inside a `|` or `>` block: lines indented more than this belong to it.
    let mut block: Option<usize> = None;
    // Inside a quoted value spanning lines: its closing quote.
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if let Some(b) = block {
            if line.trim().is_empty() || indent > b {
                continue;
            }
            block = None;
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        // Where a value may start (a line start, after `- `, `: ` or `? `).
        let mut value_start = true;
        while i < chars.len() {
            let c = chars[i];
            if let Some(q) = quote {
                if c == '\\' && q == '"' {
                    i += 2;
                    continue;
                }
                if c == q {
                    if q == '\'' && chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    quote = None;
                }
                i += 1;
                continue;
            }
            let after_space = i == 0 || chars[i - 1] == ' ' || chars[i - 1] == '\t';
            if c == '#' && after_space {
                break;
            }
            if depth > 0 {
                match c {
                    '[' | '{' => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(too_deep(n + 1, i + 1));
                        }
                    }
                    ']' | '}' => depth -= 1,
                    '"' | '\'' if i == 0 || " \t[{,:".contains(chars[i - 1]) => quote = Some(c),
                    _ => {}
                }
                i += 1;
                continue;
            }
            if c == ' ' || c == '\t' {
                i += 1;
                continue;
            }
            let next_blank = chars.get(i + 1).is_none_or(|x| *x == ' ' || *x == '\t');
            if value_start {
                match c {
                    '[' | '{' => depth = 1,
                    '"' | '\'' => quote = Some(c),
                    '|' | '>' => {
                        block = Some(indent);
                        break;
                    }
                    '-' | '?' | ':' if next_blank => {
                        i += 1;
                        continue;
                    }
                    _ => value_start = false,
                }
                i += 1;
                continue;
            }
            // Inside a plain value or key: only `: ` starts a new value.
            if c == ':' && next_blank {
                value_start = true;
            }
            i += 1;
        }
    }
    Ok(())
}

/// Reads an ordinary file of at most [`MAX_FILE_BYTES`], without reading more than that
/// from disk; a named pipe or a directory is refused without blocking
/// ([`super::regular_file::open`]).
pub fn read_limited(path: &std::path::Path) -> Result<String, String> {
    read_limited_to(path, MAX_FILE_BYTES)
}

/// `read_limited` with a bound of its own: for files Parley writes itself and reads back
/// (a `parley test --record` recording), which may be larger than what a person writes.
pub fn read_limited_to(path: &std::path::Path, max: u64) -> Result<String, String> {
    use std::io::Read;
    let file = super::regular_file::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "the file is larger than {} KiB, the most Parley reads",
            max / 1024
        ));
    }
    // UTF-16 (Windows' "Unicode") puts a NUL byte beside every ASCII letter: without its
    // byte-order mark it is valid UTF-8 all the same, and YAML then reads nonsense.
    let utf16 =
        bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) || bytes.contains(&0);
    if utf16 {
        return Err(
            "the file is saved as UTF-16 (\"Unicode\"), or has NUL bytes; save it with the UTF-8 encoding"
                .into(),
        );
    }
    // Windows editors (Notepad) start a UTF-8 file with a byte-order mark, which YAML
    // would otherwise read as part of the first key (`\u{feff}id`).
    let text = crate::domain::text::utf8_without_bom(&bytes).map_err(|(line, column)| {
        format!(
            "the file is not UTF-8 text (line {line}, column {column} has the first character that is not); save it with the UTF-8 encoding"
        )
    })?;
    Ok(text.to_owned())
}

/// Runs `f` on a thread of its own with a stack large enough for any file within the
/// limits, so no file can exhaust the stack of the thread that asked (a runtime worker,
/// say). A panic inside `f` is passed on.
pub fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    const STACK: usize = 32 * 1024 * 1024;
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("parley-load".into())
            .stack_size(STACK)
            .spawn_scoped(s, f)
            .expect("the system starts a thread to load files");
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_block_lists_are_refused_at_their_place() {
        let text = format!("steps:\n{}\n", "- ".repeat(5000));
        let r = check_nesting(&text).unwrap_err();
        assert_eq!(r.line, 2);
        assert!(r.message.contains("more than 64 levels"), "{}", r.message);
    }

    #[test]
    fn deep_flow_collections_are_refused() {
        let text = format!("a: {}", "[".repeat(100_000));
        assert!(check_nesting(&text).is_err());
        let text = format!("a: {}", "{a: ".repeat(20_000));
        assert!(check_nesting(&text).is_err());
    }

    #[test]
    fn a_hundred_kilobytes_of_brackets_are_refused_without_a_parser() {
        // Any YAML scanner takes seconds on this; the text scan answers at the 65th `[`.
        let text = format!("name: t\nsteps:\n  - customer: {}\n", "[".repeat(100_000));
        assert_eq!(flow_brackets(&text).unwrap_err().line, 3);
        let text = format!("a: {}", "{a: ".repeat(30_000));
        assert_eq!(flow_brackets(&text).unwrap_err().column, 4 + 4 * 64);
    }

    #[test]
    fn brackets_in_text_scripts_and_quotes_do_not_count() {
        let many = "[".repeat(100);
        let text = format!(
            "a: x {many}\nb: \"{many}\"\nc: '{many}'\nd: |\n  {many}\n  let x = #{{a: 1}};\ne: [1, \"{many}\", {{k: v}}] # {many}\n"
        );
        assert!(check_nesting(&text).is_ok());
    }

    /// A flow file saved as UTF-16, with or without its byte-order mark, is named as such
    /// rather than read as nonsense; a UTF-8 byte-order mark is dropped.
    #[test]
    fn utf16_files_are_named_and_a_utf8_bom_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.yaml");
        let utf16le: Vec<u8> = "id: hi\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        for bytes in [utf16le.clone(), [&[0xFF, 0xFE][..], &utf16le].concat()] {
            std::fs::write(&path, &bytes).unwrap();
            let err = read_limited(&path).unwrap_err();
            assert!(err.contains("saved as UTF-16"), "{err}");
        }
        std::fs::write(&path, "\u{feff}id: hi\n").unwrap();
        assert_eq!(read_limited(&path).unwrap(), "id: hi\n");
    }

    #[test]
    fn ordinary_and_broken_files_pass() {
        assert!(
            check_nesting("id: a\nsteps:\n  - send: hi\n  - if: x\n    then: [{send: b}]\n")
                .is_ok()
        );
        assert!(check_nesting("a: [1, 2\n").is_ok());
        let ok = format!(
            "a: {}{}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(check_nesting(&ok).is_ok());
    }
}
