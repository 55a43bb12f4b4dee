//! The layer map of `src/lib.rs` (and README.md, "Code layout") is checked here: every
//! `crate::x` path in every `.rs` file under `src/` — in `use` lines and written inline —
//! may name only a top-level module of an earlier layer, or its own. A path that runs up the
//! map, or across to another module of the same layer, fails with file:line and both
//! layers; so does a top-level module that is not on the map.
//!
//! Test code is checked like the rest: a test module that needs a later layer belongs in
//! `tests/it/`. Not checked: `src/main.rs` and `src/bin/` (other crates, using `parley::`),
//! and `super::` paths (they cannot leave their top-level module without naming it, and
//! none climbs to the crate root today).

use std::path::{Path, PathBuf};

/// The layers in order; a module may import from earlier layers only. Modules sharing a
/// layer stand side by side and import none of each other.
const LAYERS: &[&[&str]] = &[
    &["domain", "net", "metrics", "threads"],
    &["config"],
    &["flows", "store", "channels", "models"],
    &["engine"],
    &["workers"],
    &["sandbox"],
    &["http"],
    &["app"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source with comments and string/char literals blanked out (newlines kept, so line
/// numbers still hold): `crate::` inside a doc comment or a message is not an import.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    out.extend_from_slice(b"  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if (rest.starts_with(b"r#") || rest.starts_with(b"r\"") || rest.starts_with(b"br"))
            && (i == 0 || !is_ident(b[i - 1]))
            && raw_string_hashes(rest).is_some()
        {
            let start = if rest[0] == b'b' { 2 } else { 1 };
            let hashes = raw_string_hashes(rest).unwrap();
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = i + start + hashes + 1;
            out.extend(std::iter::repeat_n(b' ', body - i));
            i = body;
            while i < b.len() && !b[i..].starts_with(&close) {
                blank(&mut out, b[i]);
                i += 1;
            }
            out.extend(std::iter::repeat_n(b' ', close.len().min(b.len() - i)));
            i += close.len();
        } else if b[i] == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', '"') or a lifetime ('a): blank only the former.
            let end = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|&c| c == b'\'').map(|p| p + 2)
            } else {
                let len = std::str::from_utf8(&rest[1..rest.len().min(5)])
                    .map_or(1, |s| s.chars().next().map_or(1, char::len_utf8));
                (rest.get(1 + len) == Some(&b'\'')).then_some(1 + len)
            };
            match end {
                Some(end) => {
                    out.extend(std::iter::repeat_n(b' ', end + 1));
                    i += end + 1;
                }
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out.truncate(b.len());
    String::from_utf8_lossy(&out).into_owned()
}

fn raw_string_hashes(s: &[u8]) -> Option<usize> {
    let s = s.strip_prefix(b"b").unwrap_or(s).strip_prefix(b"r")?;
    let hashes = s.iter().take_while(|&&c| c == b'#').count();
    (s.get(hashes) == Some(&b'"')).then_some(hashes)
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The top-level modules each `crate::` path names, with their 1-based lines. A group
/// (`crate::{a, b::c}`) names each of its first segments.
fn crate_paths(code: &str) -> Vec<(usize, String)> {
    let b = code.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("crate::").map(|p| p + from) {
        from = at + "crate::".len();
        if at > 0 && (is_ident(b[at - 1]) || b[at - 1] == b'$') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && depth == 0 && (c.is_alphabetic() || c == '_') => {
                        let name: String = group[i..]
                            .chars()
                            .take_while(|&c| c.is_alphanumeric() || c == '_')
                            .collect();
                        found.push((line, name));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|&c| c.is_alphanumeric() || c == '_')
                .collect();
            found.push((line, name));
        }
    }
    found
}

/// The top-level module a file under `src/` belongs to (`None` for the crate roots).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main" | "bin")).then(|| name.to_string())
}

#[test]
fn imports_follow_the_layer_map() {
    let src = src();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut problems = Vec::new();
    for line in code_only(&lib).lines() {
        let line = line.trim();
        let Some(name) = line
            .strip_prefix("pub mod ")
            .or_else(|| line.strip_prefix("mod "))
            .and_then(|n| n.strip_suffix(';'))
        else {
            continue;
        };
        if layer_of(name).is_none() {
            problems.push(format!(
                "src/lib.rs: module `{name}` is not on the layer map (tests/it/layers.rs LAYERS)"
            ));
        }
    }
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    for path in &files {
        let relative = path.strip_prefix(&src).unwrap();
        let Some(module) = module_of(relative) else {
            continue;
        };
        let shown = format!("src/{}", relative.display());
        let Some(own) = layer_of(&module) else {
            problems.push(format!(
                "{shown}: module `{module}` is not on the layer map"
            ));
            continue;
        };
        let code = code_only(&std::fs::read_to_string(path).unwrap());
        for (line, target) in crate_paths(&code) {
            if target == module {
                continue;
            }
            match layer_of(&target) {
                None => problems.push(format!(
                    "{shown}:{line}: `crate::{target}` is not a module on the layer map"
                )),
                Some(t) if t >= own => problems.push(format!(
                    "{shown}:{line}: {module} (layer {}) imports {target} (layer {}){}",
                    own + 1,
                    t + 1,
                    if t == own {
                        ", a module beside it"
                    } else {
                        ", a later layer"
                    }
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports against the layer map:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    let code = code_only(
        "use crate::engine::x; // crate::http\nlet s = \"crate::app\"; let c = '\"';\n\
         fn f<'a>(x: &'a str) { crate::store::y(); }\nuse crate::{flows::a, domain};\n\
         /* crate::cli */ pub(crate) fn g() {}\nlet r = r#\"crate::sandbox\"#;",
    );
    let found: Vec<(usize, String)> = crate_paths(&code);
    let names: Vec<(usize, &str)> = found.iter().map(|(l, n)| (*l, n.as_str())).collect();
    assert_eq!(
        names,
        [(1, "engine"), (3, "store"), (4, "flows"), (4, "domain")]
    );
    assert_eq!(
        module_of(Path::new("flows/compile/blanks.rs")).as_deref(),
        Some("flows")
    );
    assert_eq!(
        module_of(Path::new("metrics.rs")).as_deref(),
        Some("metrics")
    );
    assert_eq!(module_of(Path::new("lib.rs")), None);
}

/// A log event's own words are its `message` field: a field of the same name written in a
/// `tracing` call makes the JSON log line carry `"message"` twice, and log shippers keep
/// the last, losing the event's name. Every `tracing::…!(…)` under `src/` is read for one.
#[test]
fn no_log_event_has_a_field_named_message() {
    let start = regex::Regex::new(r"tracing::(?:trace|debug|info|warn|error)!\(").unwrap();
    // A field is named where an argument starts: `message = …`, or `%message` alone.
    let field =
        regex::Regex::new(r"(?:^|[,(])\s*(?:message\s*=[^=]|[%?]?message\s*(?:,|$))").unwrap();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for m in start.find_iter(&text) {
            let args = call_arguments(&text[m.end()..]);
            if field.is_match(&args) {
                let line = text[..m.start()].matches('\n').count() + 1;
                found.push(format!("{}:{line}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "log events with a field named `message`: {found:#?}"
    );
}

/// The arguments of a macro call whose `(` was just read, string literals blanked, up to
/// its matching `)`.
fn call_arguments(rest: &str) -> String {
    let mut out = String::new();
    let (mut depth, mut chars) = (1usize, rest.chars());
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push_str("\"\"");
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '(' => {
                depth += 1;
                out.push(c);
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}
