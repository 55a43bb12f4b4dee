//! An `agent` step's `knowledge:` at load: documents named from the project folder and
//! kept inside it (Markdown, text, HTML, PDF), read within their bounds, and web pages and
//! sitemaps (`web`), whose texts the running process fetched; indexed once per load and
//! shared by the steps that name the same list (`flows::knowledge` does the reading rules
//! and the index).

mod web;

use super::super::knowledge::{self, Document, Knowledge};
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
    built: std::cell::RefCell<HashMap<Vec<String>, Arc<Knowledge>>>,
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

/// `knowledge: [knowledge/shipping.md, { url: "https://…" }, …]`: read, bounded and
/// indexed once per load. `Some(None)` only when nothing is named; `None` when an entry
/// cannot be used.
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
    let (named, sources) = entries(&items, problems)?;
    let shelf = b.ctx.knowledge;
    let mut failed = false;
    let mut files: Vec<(PathBuf, &String, &YamlNode)> = Vec::new();
    for (name, item) in &named {
        match knowledge::locate(b.ctx.project_dir, name) {
            Ok(path) => {
                shelf.files.borrow_mut().insert(path.clone());
                files.push((path, name, *item));
            }
            Err(r) => {
                problems.error(yaml::pos(item), r.message, r.hint);
                failed = true;
            }
        }
    }
    // The key is the files' real paths and the web addresses, sorted, so that one list
    // gives one index however it is written or ordered (the first step's order, which
    // breaks ties between equally relevant passages, then holds for all).
    let mut key: Vec<String> = files
        .iter()
        .map(|(path, ..)| {
            let real = path.canonicalize().unwrap_or_else(|_| path.clone());
            real.to_string_lossy().into_owned()
        })
        .chain(sources.iter().map(|(s, _)| format!("web {}", s.url)))
        .collect();
    key.sort();
    if !failed {
        if let Some(k) = shelf.built.borrow().get(&key) {
            return Some(Some(k.clone()));
        }
    }
    let mut documents: Vec<Document> = Vec::new();
    let mut left = knowledge::STEP_MAX_BYTES;
    for (path, name, item) in files {
        match knowledge::read(&path, name, left) {
            Ok(document) => {
                left = left.saturating_sub(document.len());
                documents.push(document);
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
    let web_documents = web::documents(b.ctx.project_dir, &sources, &mut left, problems);
    let fetched_any = !web_documents.is_empty();
    documents.extend(web_documents);
    let bytes: u64 = documents.iter().map(Document::len).sum();
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
    let mut built = Knowledge::from_documents(&documents);
    built.web = sources.into_iter().map(|(s, _)| s).collect();
    if built.passages.is_empty() && (built.web.is_empty() || fetched_any) {
        problems.warning(
            yaml::pos(node),
            "the knowledge files of this agent are empty",
            Some("write what the assistant should know in them, or remove `knowledge:`".into()),
        );
    }
    let built = Arc::new(built);
    shelf.built.borrow_mut().insert(key, built.clone());
    Some(Some(built))
}

/// The entries of a `knowledge:` list: file names and web sources, each with its node;
/// `None` (with the problems said) when one is malformed or named twice.
#[allow(clippy::type_complexity)]
fn entries<'n>(
    items: &[&'n YamlNode],
    problems: &mut Problems,
) -> Option<(
    Vec<(String, &'n YamlNode)>,
    Vec<(knowledge::web::WebSource, &'n YamlNode)>,
)> {
    let mut named: Vec<(String, &YamlNode)> = Vec::new();
    let mut sources: Vec<(knowledge::web::WebSource, &YamlNode)> = Vec::new();
    let mut failed = false;
    for item in items {
        if let YamlNode::Mapping(m) = item {
            match web::source(m, problems) {
                Some(source) => {
                    if let Some((_, first)) = sources.iter().find(|(s, _)| s.url == source.url) {
                        problems.error(
                            yaml::pos(item),
                            format!(
                                "`{}` is named twice (first at line {})",
                                source.url,
                                yaml::pos(first).line
                            ),
                            Some("name each page or sitemap once".into()),
                        );
                        failed = true;
                    } else {
                        sources.push((source, item));
                    }
                }
                None => failed = true,
            }
            continue;
        }
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
        if name.starts_with("http://") || name.starts_with("https://") {
            problems.error(
                yaml::pos(item),
                format!("`{name}` is a web address, not a file"),
                Some(format!("write a web page as `- {{ url: \"{name}\" }}` (or a sitemap as `- {{ sitemap: \"…\" }}`)")),
            );
            failed = true;
            continue;
        }
        named.push((name, item));
    }
    (!failed).then_some((named, sources))
}

/// `cite: true`: the reply ends with the addresses of the web pages its passages came
/// from. A page whose domain the step's `guardrails: allowed_domains` does not allow is
/// never cited (the reply would be refused): a warning at `cite:` says which.
pub(super) fn cite(
    m: &marked_yaml::types::MarkedMappingNode,
    problems: &mut Problems,
) -> Option<bool> {
    let Some(node) = m.get_node("cite") else {
        return Some(false);
    };
    let cite = yaml::as_bool(node, "`cite`", problems)?;
    if !cite {
        return Some(false);
    }
    let allowed: Vec<String> = m
        .get_node("guardrails")
        .and_then(|g| match g {
            YamlNode::Mapping(g) => g.get_node("allowed_domains"),
            _ => None,
        })
        .map(|d| {
            yaml::as_list(d)
                .into_iter()
                .filter_map(|n| match n {
                    YamlNode::Scalar(s) => Some(s.as_str().trim().to_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let urls = m
        .get_node("knowledge")
        .map(yaml::as_list)
        .unwrap_or_default();
    for item in urls {
        let YamlNode::Mapping(e) = item else { continue };
        let Some(YamlNode::Scalar(url)) = e.get_node("url").or_else(|| e.get_node("sitemap"))
        else {
            continue;
        };
        let host = reqwest::Url::parse(url.as_str())
            .ok()
            .and_then(|u| u.host_str().map(str::to_lowercase));
        let Some(host) = host else { continue };
        let ok = allowed.iter().any(|d| {
            let d = d.trim_matches('.');
            !d.is_empty() && (host == d || host.ends_with(&format!(".{d}")))
        });
        if !ok {
            problems.warning(
                yaml::pos(node),
                format!("replies will not cite `{}`: its domain {host} is not in this step's `guardrails: allowed_domains`, so a reply linking to it would be refused", url.as_str()),
                Some(format!("add `{host}` to `allowed_domains` to cite it")),
            );
        }
    }
    Some(true)
}
