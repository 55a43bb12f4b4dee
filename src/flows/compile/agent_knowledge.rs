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

/// The knowledge indexes built during one load: steps naming the same files share one, and
/// every file named is remembered so hot reload notices when one changes.
#[derive(Debug, Default)]
pub struct KnowledgeShelf {
    built: std::cell::RefCell<HashMap<Vec<String>, Arc<Knowledge>>>,
    files: std::cell::RefCell<BTreeSet<PathBuf>>,
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
    let key: Vec<String> = named.iter().map(|(n, _)| n.clone()).collect();
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
    if let Some(k) = shelf.built.borrow().get(&key) {
        return Some(Some(k.clone()));
    }
    let mut texts = Vec::new();
    let mut left = knowledge::STEP_MAX_BYTES;
    for ((name, item), path) in named.iter().zip(&paths) {
        let Some(path) = path else { continue };
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
