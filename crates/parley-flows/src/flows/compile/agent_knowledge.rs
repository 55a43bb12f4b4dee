//! An `agent` step's `knowledge:` files at load: named from the project folder and kept
//! inside it, read within their bounds, indexed once per load and shared by the steps that
//! name the same files (`flows::knowledge` does the reading rules and the index).

use super::super::knowledge::{self, Knowledge};
use super::super::problem::Problems;
use super::super::yaml::{self, YamlNode};
use super::Builder;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// The most knowledge text one load indexes, over all its different `knowledge:` lists: each
/// list is indexed once, however many steps name it, so this bounds a project whose agents
/// name overlapping lists (each up to `knowledge::STEP_MAX_BYTES`) in many combinations.
pub const PROJECT_MAX_BYTES: u64 = 4 * knowledge::STEP_MAX_BYTES;

/// The knowledge indexes built during one load: steps naming the same files share one,
/// whatever the order or spelling of their names (`knowledge/a.md` and `./knowledge/a.md`
/// are one file), and every file named is remembered so hot reload notices when one changes.
#[derive(Debug, Default)]
pub struct KnowledgeShelf {
    built: std::cell::RefCell<HashMap<Vec<PathBuf>, Arc<Knowledge>>>,
    files: std::cell::RefCell<BTreeSet<PathBuf>>,
    /// Bytes indexed so far in this load (`PROJECT_MAX_BYTES`).
    indexed: std::cell::Cell<u64>,
}

impl KnowledgeShelf {
    /// Every knowledge file the flows named (found or not), for hot reload.
    pub fn files(&self) -> Vec<PathBuf> {
        self.files.borrow().iter().cloned().collect()
    }
}

/// `knowledge: [knowledge/shipping.md, …]`: read, bounded and indexed once per load.
/// `Some(None)` only when no file is named; `None` when a file cannot be used.
pub(super) fn compile(
    node: &YamlNode,
    b: &Builder<'_>,
    problems: &mut Problems,
) -> Option<Option<Arc<Knowledge>>> {
    let items = yaml::as_list(node);
    if items.is_empty() {
        return Some(None);
    }
    if items.len() > knowledge::FILES_MAX {
        problems.error(
            yaml::pos(node),
            format!(
                "an agent may name at most {} knowledge files, this one names {}",
                knowledge::FILES_MAX,
                items.len()
            ),
            Some("join small files into bigger ones".into()),
        );
        return None;
    }
    let mut named: Vec<(String, &YamlNode)> = Vec::new();
    let mut failed = false;
    for item in items {
        let Some(name) = yaml::as_str(item, "a knowledge file", problems) else {
            failed = true;
            continue;
        };
        let name = name.trim().to_string();
        if let Some((_, first)) = named.iter().find(|(n, _)| *n == name) {
            problems.error(
                yaml::pos(item),
                format!(
                    "the knowledge file `{name}` is named twice (first at line {})",
                    yaml::pos(first).line
                ),
                Some("name each file once".into()),
            );
            failed = true;
            continue;
        }
        named.push((name, item));
    }
    if failed {
        return None;
    }
    let shelf = b.ctx.knowledge;
    let mut paths = Vec::new();
    for (name, item) in &named {
        match knowledge::locate(b.ctx.project_dir, name) {
            Ok(path) => {
                shelf.files.borrow_mut().insert(path.clone());
                paths.push(Some(path));
            }
            Err(r) => {
                problems.error(yaml::pos(item), r.message, r.hint);
                paths.push(None);
                failed = true;
            }
        }
    }
    // The files as written (the order they are indexed in, which breaks ties between equally
    // relevant passages); the key is their real paths in order, so that one list gives one
    // index however it is written or ordered (the first step's order then holds for all).
    let files: Vec<(&PathBuf, &String, &YamlNode)> = named
        .iter()
        .zip(&paths)
        .filter_map(|((name, item), path)| Some((path.as_ref()?, name, *item)))
        .collect();
    let mut key: Vec<PathBuf> = files
        .iter()
        .map(|(path, ..)| path.canonicalize().unwrap_or_else(|_| (*path).clone()))
        .collect();
    key.sort();
    if !failed {
        if let Some(k) = shelf.built.borrow().get(&key) {
            return Some(Some(k.clone()));
        }
    }
    let mut texts = Vec::new();
    let mut left = knowledge::STEP_MAX_BYTES;
    for (path, name, item) in files {
        match knowledge::read(path, name, left) {
            Ok(text) => {
                left = left.saturating_sub(text.len() as u64);
                texts.push((name.as_str(), text));
            }
            Err(r) => {
                problems.error(yaml::pos(item), r.message, r.hint);
                failed = true;
            }
        }
    }
    if failed {
        return None;
    }
    let bytes: u64 = texts.iter().map(|(_, t)| t.len() as u64).sum();
    let indexed = shelf.indexed.get().saturating_add(bytes);
    if indexed > PROJECT_MAX_BYTES {
        problems.error(
            yaml::pos(node),
            format!(
                "the agents' different `knowledge:` lists add up to {} MiB of text to index, more than the {} MiB Parley indexes for one project",
                indexed.div_ceil(1024 * 1024),
                PROJECT_MAX_BYTES / (1024 * 1024)
            ),
            Some("let agents that know the same things name the same list of files (each list is indexed once)".into()),
        );
        return None;
    }
    shelf.indexed.set(indexed);
    let built = Arc::new(Knowledge::from_texts(
        texts.iter().map(|(n, t)| (*n, t.as_str())),
    ));
    if built.passages.is_empty() {
        problems.warning(
            yaml::pos(node),
            "the knowledge files of this agent are empty",
            Some("write what the assistant should know in them, or remove `knowledge:`".into()),
        );
    }
    shelf.built.borrow_mut().insert(key, built.clone());
    Some(Some(built))
}

/// `cite: true`: the sources of the passages a reply used are added to it.
pub(super) fn cite(
    m: &marked_yaml::types::MarkedMappingNode,
    problems: &mut Problems,
) -> Option<bool> {
    let _ = (m, problems);
    Some(false)
}
