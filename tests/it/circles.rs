//! No circle between the files of a crate (issue 61): if `a.rs` uses something of `b.rs`,
//! nothing `b.rs` uses leads back to `a.rs`. A circle means neither file can be read,
//! tested or moved without the other; the fix is a leaf module both can use.
//!
//! Every crate of the daemon is read; test files and a file's inline `#[cfg(test)] mod
//! tests` are not (test code may reach anywhere in its crate). Not read: `parley-bench`, a
//! program beside the daemon whose scenarios share their figures and doubles with each
//! other and its report (a named exception, as in `sizes.rs`).
//! A file uses another when a `crate::`, `super::` or `self::` path in its code (in a `use`
//! line or written inline, groups `{a, b::c}` included) names an item of that file's
//! module or below it; the path is resolved to the deepest module that has a file. A
//! module's own descendants are its interior: a parent that re-exports or calls its
//! children is not in a circle with them, while siblings, cousins and a child leaning on
//! a sibling through its parent are checked.

use super::layers::{code_only, root, rust_files};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// The module path of a file relative to its crate's `src/` (`a/b.rs` and `a/b/mod.rs`
/// are `a::b`; the crate roots are the empty path).
fn module_path(relative: &Path) -> Module {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn is_test(module: &Module) -> bool {
    module
        .iter()
        .any(|p| p == "tests" || p.ends_with("_tests") || p.contains("testing"))
}

/// The code of a file up to its inline test module, comments and strings blanked.
fn production_code(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    code_only(&text[..end])
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Reads the path that follows `prefix` at `rest` (just after a `::`): plain segments,
/// and a group `{…}` whose items each continue the path. Pushes every full path.
fn read_path(prefix: Module, rest: &str, out: &mut Vec<Module>) {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    read_path(prefix.clone(), &group[start..i], out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    read_path(prefix.clone(), &group[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let name = ident_at(rest);
    if name.is_empty() {
        out.push(prefix);
        return;
    }
    let mut path = prefix;
    path.push(name.to_string());
    match rest[name.len()..].trim_start().strip_prefix("::") {
        Some(next) => read_path(path, next, out),
        None => out.push(path),
    }
}

/// Every module path a file's code names through `crate::`, `super::` or `self::`,
/// absolute within the crate.
fn named_paths(module: &Module, code: &str) -> Vec<Module> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for head in ["crate", "super", "self"] {
        let needle = format!("{head}::");
        let mut from = 0;
        while let Some(at) = code[from..].find(&needle).map(|p| p + from) {
            from = at + needle.len();
            let before = at.checked_sub(1).map(|i| bytes[i]);
            if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') {
                continue;
            }
            if head == "super" && before == Some(b':') {
                continue; // `super::super::`: read from the first `super`.
            }
            // `self::` in `a/b.rs` is `a::b`; `super::` is its parent.
            let mut base: Module = match head {
                "crate" => Vec::new(),
                "self" => module.clone(),
                _ => module[..module.len().saturating_sub(1)].to_vec(),
            };
            let mut rest = &code[from..];
            while let Some(r) = rest.trim_start().strip_prefix("super::") {
                base.pop();
                rest = r;
            }
            read_path(base, rest, &mut out);
        }
    }
    out
}

/// The circles among one crate's files: each a sorted list of its modules.
fn circles_in(src: &Path) -> Vec<Vec<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules: BTreeMap<Module, String> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        let module = module_path(relative);
        if !is_test(&module) {
            modules.insert(module, std::fs::read_to_string(file).unwrap());
        }
    }
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in &modules {
        let targets = edges.entry(module.clone()).or_default();
        for path in named_paths(module, &production_code(text)) {
            let Some(target) = (0..=path.len())
                .rev()
                .map(|k| path[..k].to_vec())
                .find(|m| modules.contains_key(m))
            else {
                continue;
            };
            if !target.starts_with(module) {
                targets.insert(target);
            }
        }
    }
    strongly_connected(&edges)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut names: Vec<String> = c.iter().map(|m| m.join("::")).collect();
            names.sort();
            names
        })
        .collect()
}

/// Tarjan's strongly connected components, iteratively.
fn strongly_connected(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    let nodes: Vec<&Module> = edges.keys().collect();
    let at: BTreeMap<&Module, usize> = nodes.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let next: Vec<Vec<usize>> = nodes
        .iter()
        .map(|m| {
            edges[*m]
                .iter()
                .filter_map(|t| at.get(t).copied())
                .collect()
        })
        .collect();
    let (mut index, mut low) = (vec![usize::MAX; nodes.len()], vec![0; nodes.len()]);
    let (mut on_stack, mut stack, mut found) = (vec![false; nodes.len()], Vec::new(), Vec::new());
    let mut counter = 0;
    for start in 0..nodes.len() {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work = vec![(start, 0)];
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if *i == 0 && index[v] == usize::MAX {
                index[v] = counter;
                low[v] = counter;
                counter += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = next[v].get(*i) {
                *i += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(nodes[w].clone());
                    if w == v {
                        break;
                    }
                }
                found.push(component);
            }
        }
    }
    found
}

#[test]
fn no_circle_between_the_files_of_a_crate() {
    let mut dirs = vec![("parley".to_string(), root().join("src"))];
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        if name != "parley-bench" {
            dirs.push((name, dir.join("src")));
        }
    }
    dirs.sort();
    let mut problems = Vec::new();
    for (name, src) in dirs {
        for circle in circles_in(&src) {
            problems.push(format!("{name}: {}", circle.join(" ↔ ")));
        }
    }
    assert!(
        problems.is_empty(),
        "files that use each other in a circle (move what they share into a leaf module \
         both use):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_circle_finder_sees_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod c;\n").unwrap();
    // A parent that re-exports its children is not in a circle with them.
    std::fs::write(
        src.join("a/mod.rs"),
        "mod b;\nmod d;\npub use self::b::B;\nuse crate::a::d::D;\n",
    )
    .unwrap();
    // Siblings that use each other, one through a group and one written inline.
    std::fs::write(
        src.join("a/b.rs"),
        "use super::{d::{D, E}};\npub struct B;\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/d.rs"),
        "// crate::c is only a comment\npub struct D;\npub struct E;\nfn f() { super::b::B; }\n",
    )
    .unwrap();
    // Test code may reach anywhere.
    std::fs::write(
        src.join("c.rs"),
        "pub fn c() {}\n#[cfg(test)]\nmod tests {\n    use crate::a::B;\n}\n",
    )
    .unwrap();
    assert_eq!(circles_in(src), vec![vec!["a::b", "a::d"]]);
    std::fs::write(src.join("a/d.rs"), "pub struct D;\npub struct E;\n").unwrap();
    assert!(circles_in(src).is_empty());
}
