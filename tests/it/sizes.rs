//! The sizes of the house's rooms (issue 61): no production file over `MAX_FILE_LINES`
//! lines and no function over `MAX_FN_LINES`. Test files (`tests.rs`, `*_tests.rs`,
//! `tests/`, `testing`) and a file's inline `#[cfg(test)] mod tests` are not counted.
//!
//! The files and functions over the limits today are listed below with their size when
//! the list was written and why they are there (the crates' docs name them too): they may
//! shrink, never grow, and one that comes under the limit must leave the list (the test
//! says so), so the list only shortens. Anything new over a limit fails here with its
//! place and size.

use super::layers::{root, rust_files};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 150;

const TABLE: &str = "a table, one entry per route of the OpenAPI document";
const BENCH: &str = "the benchmark's command line and report, not the daemon";

/// Files over `MAX_FILE_LINES`: path, production lines at most, why.
const LARGE_FILES: &[(&str, usize, &str)] = &[
    ("src/http/api/openapi/others.rs", 609, TABLE),
    ("crates/parley-bench/src/main.rs", 892, BENCH),
    ("crates/parley-bench/src/report.rs", 675, BENCH),
    ("src/http/api/openapi/sandbox.rs", 736, TABLE),
];

/// Functions over `MAX_FN_LINES`: file, function, lines at most, why.
const LONG_FUNCTIONS: &[(&str, &str, usize, &str)] = &[
    ("crates/parley-bench/src/main.rs", "run", 182, BENCH),
    ("crates/parley-bench/src/main.rs", "run_once", 177, BENCH),
    ("src/http/api/openapi/mod.rs", "details", 278, TABLE),
];

fn is_test_file(relative: &str) -> bool {
    relative.ends_with("/tests.rs")
        || relative.ends_with("_tests.rs")
        || relative.contains("/tests/")
        || relative.contains("testing")
}

/// Every production `.rs` file of every crate, relative to the repository's root.
fn production_files() -> Vec<String> {
    let mut paths = Vec::new();
    rust_files(&root().join("src"), &mut paths);
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        rust_files(&entry.unwrap().path().join("src"), &mut paths);
    }
    let mut out: Vec<String> = paths
        .iter()
        .map(|p| p.strip_prefix(root()).unwrap().display().to_string())
        .filter(|p| !is_test_file(p))
        .collect();
    out.sort();
    out
}

/// A file's lines up to its inline `#[cfg(test)] mod tests`, if it has one.
fn production_lines(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].starts_with("#[cfg(test)]") && w[1].starts_with("mod tests"))
        .unwrap_or(lines.len());
    let mut kept = lines[..end].to_vec();
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    kept
}

/// Each function of `lines` with its length: from its `fn` line to the `}` at its
/// indentation.
fn functions<'a>(lines: &[&'a str]) -> Vec<(&'a str, usize)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let indent = &line[..line.len() - code.len()];
        let mut rest = code;
        if let Some(r) = rest.strip_prefix("pub(") {
            rest = r.split_once(')').map_or(r, |(_, after)| after).trim_start();
        } else if let Some(r) = rest.strip_prefix("pub ") {
            rest = r.trim_start();
        }
        while let Some(r) = ["const ", "async ", "unsafe "]
            .iter()
            .find_map(|k| rest.strip_prefix(k))
        {
            rest = r.trim_start();
        }
        let Some(after) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name_len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        // Where the signature ends: `{` opens a body; `;` is a declaration (a trait's)
        // and `}` on the same line a body of one line.
        let Some(open) = lines[i..].iter().position(|l| {
            let l = l.trim_end();
            l.ends_with('{') || l.ends_with(';') || l.ends_with('}')
        }) else {
            continue;
        };
        if !lines[i + open].trim_end().ends_with('{') {
            continue;
        }
        let close = format!("{indent}}}");
        if let Some(end) = lines[i + open + 1..].iter().position(|l| *l == close) {
            out.push((name, open + end + 2));
        }
    }
    out
}

#[test]
fn no_room_grows_past_its_size() {
    let mut problems = Vec::new();
    let mut files_over = Vec::new();
    let mut functions_over = Vec::new();
    for file in production_files() {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        let lines = production_lines(&text);
        if lines.len() > MAX_FILE_LINES {
            files_over.push(file.clone());
            match LARGE_FILES.iter().find(|(p, _, _)| *p == file) {
                Some((_, max, _)) if lines.len() > *max => problems.push(format!(
                    "{file}: {} lines, more than the {max} it had; split it instead",
                    lines.len()
                )),
                Some(_) => {}
                None => problems.push(format!(
                    "{file}: {} lines, over {MAX_FILE_LINES}: split it by concern",
                    lines.len()
                )),
            }
        }
        for (name, length) in functions(&lines) {
            if length <= MAX_FN_LINES {
                continue;
            }
            functions_over.push((file.clone(), name.to_string()));
            match LONG_FUNCTIONS
                .iter()
                .find(|(p, f, _, _)| *p == file && *f == name)
            {
                Some((_, _, max, _)) if length > *max => problems.push(format!(
                    "{file}: fn {name} has {length} lines, more than the {max} it had"
                )),
                Some(_) => {}
                None => problems.push(format!(
                    "{file}: fn {name} has {length} lines, over {MAX_FN_LINES}: split it"
                )),
            }
        }
    }
    for (file, _, _) in LARGE_FILES {
        if !files_over.iter().any(|f| f == file) {
            problems.push(format!(
                "{file} is no longer over {MAX_FILE_LINES} lines (or is gone): take it off LARGE_FILES in tests/it/sizes.rs"
            ));
        }
    }
    for (file, name, _, _) in LONG_FUNCTIONS {
        if !functions_over.iter().any(|(f, n)| f == file && n == name) {
            problems.push(format!(
                "{file}: fn {name} is no longer over {MAX_FN_LINES} lines (or is gone): take it off LONG_FUNCTIONS in tests/it/sizes.rs"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_counter_sees_functions_and_cuts_inline_tests() {
    let text = "fn a() {\n    1\n}\n\ntrait T {\n    fn d(&self);\n    fn e() {}\n}\nimpl X {\n    pub(in crate::x) async fn b(&self) {\n        2;\n        3;\n    }\n}\n\n#[cfg(test)]\nmod tests {\n    fn c() {}\n}\n";
    let lines = production_lines(text);
    assert_eq!(lines.len(), 14);
    assert_eq!(functions(&lines), [("a", 3), ("b", 4)]);
}
