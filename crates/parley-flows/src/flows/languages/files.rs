//! The translation files beside a flow file (`flows/welcome.es.po` for
//! `flows/welcome.yaml`), read when the flow loads: each translation there wins over the
//! same text's in the file's `translations:` block. A problem in a `.po` file is reported
//! at its own line and column.

use super::super::model::Flow;
use super::super::problem::{Pos, Problem, Severity};
use super::{display, po, Coverage, MAX_PO_BYTES};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The `.po` files beside `flow_file` (`<stem>.<language>.po`), by language, sorted. A file
/// whose middle part holds a dot (`welcome.v2.es.po`) belongs to another flow file
/// (`welcome.v2.yaml`).
pub fn beside(
    flow_file: &Path,
    extra: Option<&BTreeMap<PathBuf, String>>,
) -> Vec<(String, PathBuf)> {
    let Some(stem) = flow_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
    else {
        return Vec::new();
    };
    let dir = match flow_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    if let Some(extra) = extra {
        names.extend(
            extra
                .keys()
                .filter(|p| p.parent() == flow_file.parent())
                .cloned(),
        );
    }
    let prefix = format!("{stem}.");
    let mut out: Vec<(String, PathBuf)> = names
        .into_iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let lang = name.strip_prefix(&prefix)?.strip_suffix(".po")?;
            (!lang.is_empty() && !lang.contains('.')).then(|| (lang.to_string(), p.clone()))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn error(file: &Path, at: Pos, message: String, hint: Option<String>) -> Problem {
    Problem {
        file: file.display().to_string(),
        line: at.line.max(1),
        column: at.column.max(1),
        severity: Severity::Error,
        message,
        hint,
    }
}

/// Reads a `.po` file (its unsaved text when `extra` has one), bounded by `MAX_PO_BYTES`.
pub fn read_po(
    path: &Path,
    extra: Option<&BTreeMap<PathBuf, String>>,
) -> Result<po::PoFile, Problem> {
    let text = match extra.and_then(|e| e.get(path)) {
        Some(t) => t.clone(),
        None => {
            let too_big = std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_PO_BYTES);
            if too_big {
                return Err(error(
                    path,
                    Pos::default(),
                    format!(
                        "the file is larger than {} MiB, the most Parley reads",
                        MAX_PO_BYTES / 1024 / 1024
                    ),
                    Some("one flow's translations fit in far less; is this the right file?".into()),
                ));
            }
            std::fs::read_to_string(path).map_err(|e| {
                error(
                    path,
                    Pos::default(),
                    format!("cannot read the translations: {e}"),
                    None,
                )
            })?
        }
    };
    if text.len() as u64 > MAX_PO_BYTES {
        return Err(error(
            path,
            Pos::default(),
            format!(
                "the file is larger than {} MiB, the most Parley reads",
                MAX_PO_BYTES / 1024 / 1024
            ),
            None,
        ));
    }
    po::parse(&text).map_err(|e| {
        error(
            path,
            Pos { line: e.line, column: e.column },
            e.message,
            Some("a PO entry is `msgid \"the text\"` then `msgstr \"its translation\"`; `parley translations export` writes one".into()),
        )
    })
}

/// Adds the translations of the `.po` files beside `path` to `flow`, then checks them
/// (`checks::check`) against `source`; problems are appended to `problems` (an error
/// stops the flows from loading). Returns the flow's coverage.
pub fn attach(
    path: &Path,
    source: &str,
    flow: &mut Flow,
    extra: Option<&BTreeMap<PathBuf, String>>,
    problems: &mut Vec<Problem>,
) -> Vec<Coverage> {
    let mut merged = (*flow.translations).clone();
    for (lang, po_path) in beside(path, extra) {
        let declared = flow.languages.iter().skip(1).any(|l| *l == lang);
        if !declared {
            let hint = if flow.languages.is_empty() {
                format!("add `languages: [en, {lang}]` to {} (the first is the language its steps are written in), or remove this file", path.display())
            } else if flow.languages.first() == Some(&lang) {
                format!("`{lang}` is the flow's base language: its texts are the steps' own; remove this file")
            } else {
                format!(
                    "add `{lang}` to the `languages:` of {} ({}), or remove this file",
                    path.display(),
                    flow.languages.join(", ")
                )
            };
            problems.push(error(
                &po_path,
                Pos { line: 1, column: 1 },
                format!(
                    "translations into {} for flow `{}`, which does not declare that language",
                    display(&lang),
                    flow.id
                ),
                Some(hint),
            ));
            continue;
        }
        let file = match read_po(&po_path, extra) {
            Ok(f) => f,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let shown = po_path.display().to_string();
        for e in file.translations() {
            if e.context.as_deref().is_some_and(|c| c != flow.id) {
                continue;
            }
            merged.insert(
                &lang,
                &e.id,
                &e.text,
                &shown,
                Pos {
                    line: e.line,
                    column: 1,
                },
            );
        }
    }
    flow.translations = Arc::new(merged);
    super::checks::check(flow, source, problems)
}
