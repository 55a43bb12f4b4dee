//! The layer map of the `parley` crate's docs (`src/lib.rs`, README.md "Code layout" and
//! ARCHITECTURE.md) is checked here, where cargo cannot check it:
//!
//! - every crate of the workspace may depend only on crates of earlier layers (cargo
//!   refuses a circle, not a dependency on a crate beside it on the map);
//! - every `crate::x` path in every `.rs` file of every crate's `src/` — in `use` lines
//!   and written inline — may name only a top-level module of an earlier layer, or its
//!   own. Each crate imports the crates below it at its root under their module names
//!   (`use parley_domain::domain;`), so a path reads the same in every crate, and modules
//!   that share a crate (`domain`, `net`, `metrics`, `threads`; the daemon's layers) are
//!   held apart here. A path that runs up the map, or across to another module of the
//!   same layer, fails with file:line and both layers; so does a top-level module that is
//!   not on the map.
//!
//! Test code is checked like the rest: a test module that needs a later layer belongs in
//! `tests/it/`. Not checked: `src/main.rs` and `crates/parley-bench` (they use `parley::`),
//! and `super::` paths (they cannot leave their top-level module without naming it, and
//! none climbs to the crate root today).

use std::path::{Path, PathBuf};

/// The layers in order; a module may import from earlier layers only. Modules sharing a
/// layer stand side by side and import none of each other.
const LAYERS: &[&[&str]] = &[
    &["domain", "net", "metrics", "threads"],
    &["telemetry"],
    &["config"],
    &["flows", "store", "channels", "models"],
    &["engine", "studio"],
    &["workers"],
    &["sandbox"],
    &["http"],
    &["app"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every crate of Parley's own with its name and folder: the root crate (`parley`, the
/// daemon) and each under `crates/`, except the benchmark (a binary that uses `parley::`).
fn crates() -> Vec<(String, PathBuf)> {
    let mut out = vec![("parley".to_string(), root().to_path_buf())];
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if name != "parley-bench" && dir.join("src/lib.rs").exists() {
            out.push((name, dir));
        }
    }
    out.sort();
    out
}

/// The modules a crate's `lib.rs` declares (`pub mod x;`, `mod x;`).
fn modules_declared(lib: &str) -> Vec<String> {
    code_only(lib)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            line.strip_prefix("pub mod ")
                .or_else(|| line.strip_prefix("mod "))
                .and_then(|n| n.strip_suffix(';'))
                .map(str::to_string)
        })
        .collect()
}

/// The crates of Parley's own that a `Cargo.toml` names under `[dependencies]`.
fn own_dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_dependencies = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
        } else if in_dependencies && line.starts_with("parley") {
            let name: String = line
                .chars()
                .take_while(|&c| c.is_alphanumeric() || c == '-' || c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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
pub(crate) fn code_only(text: &str) -> String {
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
    let mut problems = Vec::new();
    for (name, dir) in crates() {
        let src = dir.join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        let prefix = dir.strip_prefix(root()).unwrap().join("src");
        for module in modules_declared(&lib) {
            if layer_of(&module).is_none() {
                problems.push(format!(
                    "{}: module `{module}` of {name} is not on the layer map (tests/it/layers.rs LAYERS)",
                    prefix.join("lib.rs").display()
                ));
            }
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.sort();
        let macros = exported_macros(&files);
        for path in &files {
            let relative = path.strip_prefix(&src).unwrap();
            let shown = prefix.join(relative).display().to_string();
            check_file(path, relative, &shown, &macros, &mut problems);
        }
    }
    assert!(
        problems.is_empty(),
        "imports against the layer map:\n{}",
        problems.join("\n")
    );
}

/// Cargo refuses a circle between crates but not a crate that depends on one beside it or
/// above it on the map: every crate of Parley's own may depend only on crates whose
/// modules all lie in earlier layers than all of its own.
#[test]
fn crates_depend_only_on_earlier_layers() {
    let crates = crates();
    let layers_of = |name: &str| -> Vec<usize> {
        let (_, dir) = crates.iter().find(|(n, _)| n == name).unwrap_or_else(|| {
            panic!("{name} is not a crate of Parley's (crates/{name}/src/lib.rs)")
        });
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        modules_declared(&lib)
            .iter()
            .filter_map(|m| layer_of(m))
            .collect()
    };
    let mut problems = Vec::new();
    for (name, dir) in &crates {
        let own = layers_of(name);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        for dependency in own_dependencies(&manifest) {
            let theirs = layers_of(&dependency);
            if theirs.iter().any(|t| own.iter().any(|o| t >= o)) {
                problems.push(format!(
                    "{name} (layers {own:?}) depends on {dependency} (layers {theirs:?}), \
                     which is not above it on the map"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // `cargo test` runs the packages in the order of their names; the report of skipped
    // tests (`tests/skipped.rs`, a test of parley-studio) must come last.
    let last = crates.iter().map(|(n, _)| n.as_str()).max();
    assert_eq!(
        last,
        Some("parley-studio"),
        "move the `skipped` test target into the crate whose name sorts last"
    );
    assert!(
        crates.len() >= 8,
        "the workspace's crates were not found: {crates:?}"
    );
}

/// The macros a crate exports (`#[macro_export]`): they live at its root, so
/// `crate::log_every` names a macro, not a module.
fn exported_macros(files: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for path in files {
        let code = code_only(&std::fs::read_to_string(path).unwrap());
        for part in code.split("#[macro_export]").skip(1) {
            if let Some(rest) = part.trim_start().strip_prefix("macro_rules!") {
                let name: String = rest
                    .trim_start()
                    .chars()
                    .take_while(|&c| c.is_alphanumeric() || c == '_')
                    .collect();
                out.push(name);
            }
        }
    }
    out
}

/// The `crate::` paths of one file against the map (`relative` is under its crate's
/// `src/`); `macros` are the crate's exported macros, which its root holds.
fn check_file(
    path: &Path,
    relative: &Path,
    shown: &str,
    macros: &[String],
    problems: &mut Vec<String>,
) {
    let Some(module) = module_of(relative) else {
        return;
    };
    let Some(own) = layer_of(&module) else {
        problems.push(format!(
            "{shown}: module `{module}` is not on the layer map"
        ));
        return;
    };
    let code = code_only(&std::fs::read_to_string(path).unwrap());
    for (line, target) in crate_paths(&code) {
        if target == module || macros.contains(&target) {
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
    for (_, dir) in crates() {
        rust_files(&dir.join("src"), &mut files);
    }
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
