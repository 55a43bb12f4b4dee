//! What `parley translations import` changes: each translation read (`io::Cell`) matched
//! to its flow and text, compared with the translations in force, and the `.po` files
//! beside the flows rewritten where something changed (entries in the order of the
//! flow's texts, untranslated texts left out). The flow files' `translations:` blocks are
//! never rewritten: a `.po` translation wins over them.

use super::checks::{po_path, short};
use super::io::{Cell, FlowTexts};
use super::po::{self, PoEntry};
use super::{display, files};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One translation added (`+`), changed (`~`) or removed (`-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub po: PathBuf,
    pub sign: char,
    pub text: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self
            .po
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match (&self.old, &self.new) {
            (Some(old), Some(new)) => write!(
                f,
                "{name}: {} {} → {} (was {})",
                self.sign,
                short(&self.text),
                short(new),
                short(old)
            ),
            (None, Some(new)) => {
                write!(
                    f,
                    "{name}: {} {} → {}",
                    self.sign,
                    short(&self.text),
                    short(new)
                )
            }
            (_, None) => write!(f, "{name}: {} {}", self.sign, short(&self.text)),
        }
    }
}

/// The outcome of matching an import file against the flows.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// Rows or entries skipped, with the input's line (unknown flow or text).
    pub skipped: Vec<String>,
    /// Mistakes that stop the import (a language the flow does not declare).
    pub errors: Vec<String>,
    /// Worth knowing (a text also translated inline).
    pub notes: Vec<String>,
    /// The `.po` files to write, with their new text.
    pub writes: Vec<(PathBuf, String)>,
}

/// The `.po` translations of one flow file and language, as read.
struct PoState {
    entries: Vec<PoEntry>,
    changed: bool,
}

/// Matches `cells` against `flows` and works out the changes.
pub fn plan(flows: &[FlowTexts], cells: &[Cell], removals: bool) -> Plan {
    let mut out = Plan::default();
    let mut states: BTreeMap<(usize, String), PoState> = BTreeMap::new();
    for cell in cells {
        // A row naming a flow file that exists goes to that file; else by the flow id
        // (every version of it).
        let by_file: Vec<usize> = flows
            .iter()
            .enumerate()
            .filter(|(_, f)| cell.file.as_deref().is_some_and(|p| Path::new(p) == f.file))
            .map(|(i, _)| i)
            .collect();
        let chosen: Vec<usize> = if by_file.is_empty() {
            flows
                .iter()
                .enumerate()
                .filter(|(_, f)| f.id == cell.flow)
                .map(|(i, _)| i)
                .collect()
        } else {
            by_file
        };
        if chosen.is_empty() {
            if !cell.value.is_empty() {
                out.skipped.push(format!(
                    "line {}: there is no flow `{}`; skipped",
                    cell.line, cell.flow
                ));
            }
            continue;
        }
        for i in chosen {
            one(flows, i, cell, removals, &mut states, &mut out);
        }
    }
    out.skipped.dedup();
    out.errors.dedup();
    out.notes.dedup();
    for ((i, lang), state) in states {
        if state.changed {
            let f = &flows[i];
            out.writes
                .push((po_path(&f.file, &lang), render(f, &lang, state.entries)));
        }
    }
    out
}

fn one(
    flows: &[FlowTexts],
    i: usize,
    cell: &Cell,
    removals: bool,
    states: &mut BTreeMap<(usize, String), PoState>,
    out: &mut Plan,
) {
    let f = &flows[i];
    let lang = &cell.language;
    if !f.others().contains(lang) {
        if !cell.value.is_empty() {
            out.errors.push(format!(
                "line {}: a {} translation for flow `{}` ({}), which does not declare that language{}",
                cell.line,
                display(lang),
                f.id,
                f.file.display(),
                match f.languages.first() {
                    Some(base) if base == lang => " besides its base".to_string(),
                    _ => format!("; add `{lang}` to its `languages:` first"),
                }
            ));
        }
        return;
    }
    if !f.texts.iter().any(|t| t.text == cell.text) {
        if !cell.value.is_empty() {
            out.skipped.push(format!(
                "line {}: flow `{}` has no text {} (changed since the export?); skipped",
                cell.line,
                f.id,
                short(&cell.text)
            ));
        }
        return;
    }
    let po = po_path(&f.file, lang);
    let state = states.entry((i, lang.clone())).or_insert_with(|| PoState {
        entries: files::read_po(&po, None)
            .map(|p| p.entries)
            .unwrap_or_default(),
        changed: false,
    });
    let in_po = state
        .entries
        .iter()
        .position(|e| e.id == cell.text && !e.fuzzy);
    let current = f
        .translations
        .has(lang, &cell.text)
        .then(|| f.translations.text(lang, &cell.text).to_string());
    let inline = f
        .translations
        .places
        .get(&(lang.clone(), cell.text.clone()))
        .is_some_and(|(file, _)| Path::new(file) == f.file);
    if cell.value.is_empty() {
        if removals {
            if let Some(k) = in_po {
                let old = state.entries.remove(k);
                state.changed = true;
                out.changes.push(Change {
                    po,
                    sign: '-',
                    text: cell.text.clone(),
                    old: Some(old.text),
                    new: None,
                });
            }
        }
        return;
    }
    if current.as_deref() == Some(cell.value.as_str()) {
        return;
    }
    if inline {
        out.notes.push(format!(
            "{} {} is also translated in {}'s `translations:`; the .po file's translation wins",
            display(lang),
            short(&cell.text),
            f.file.display()
        ));
    }
    let entry = PoEntry {
        references: Vec::new(),
        context: None,
        id: cell.text.clone(),
        text: cell.value.clone(),
        fuzzy: false,
        line: 0,
    };
    match in_po {
        Some(k) => state.entries[k] = entry,
        None => {
            state.entries.retain(|e| e.id != cell.text);
            state.entries.push(entry);
        }
    }
    state.changed = true;
    out.changes.push(Change {
        po,
        sign: if current.is_some() { '~' } else { '+' },
        text: cell.text.clone(),
        old: current,
        new: Some(cell.value.clone()),
    });
}

/// The `.po` file of flow `f` in `lang`: its texts' translations in the order of the
/// texts, then translations of texts the flow no longer has (kept: the checks warn).
fn render(f: &FlowTexts, lang: &str, entries: Vec<PoEntry>) -> String {
    let mut by_id: HashMap<String, PoEntry> = HashMap::new();
    let mut stale = Vec::new();
    for e in entries {
        if e.fuzzy || e.text.is_empty() {
            continue;
        }
        if f.texts.iter().any(|t| t.text == e.id) {
            by_id.insert(e.id.clone(), e);
        } else {
            stale.push(e);
        }
    }
    let file_name = f
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for t in &f.texts {
        if let Some(mut e) = by_id.remove(&t.text) {
            e.references = vec![format!("{file_name}:{}:{}", t.at.line, t.at.column)];
            e.context = None;
            out.push(e);
        }
    }
    out.extend(stale);
    po::write(lang, &out)
}
