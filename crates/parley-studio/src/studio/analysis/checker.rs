//! The problems of one file as `parley check` reports them, fast enough for every
//! keystroke. `parley check` compiles every flow file and then runs the checks across
//! flows; here every file's compiled form is kept between calls (`Cache`), so a call
//! compiles only the files whose text changed (the one being typed, as a rule) and reruns
//! the checks across flows over the kept ones. Both go through the loader's own halves
//! (`flows::loader::FileCompiler`, `cross_check`), so the problems are the same.
//!
//! A kept file is compiled again when its text, size or modification time changes, and
//! every one is when a script or knowledge file the flows read changes.

use crate::config::Config;
use crate::flows::loader::{cross_check, flow_files, CompiledFile, FileCompiler, LoadSettings};
use crate::flows::{Deployment, Overrides, Problem};
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// What a kept compile was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// An unsaved text, by its hash.
    Text(u64),
    /// The file on disk, by its modification time and size.
    Disk(SystemTime, u64),
}

/// Every flow file's compiled form, kept between calls.
#[derive(Default)]
pub struct Cache {
    files: HashMap<PathBuf, (Stamp, Arc<CompiledFile>)>,
    /// The knowledge files the flows named, and the modification times and sizes of those
    /// and of the scripts folder's files when the kept compiles were made.
    knowledge: BTreeSet<PathBuf>,
    depends: Vec<(PathBuf, SystemTime, u64)>,
}

/// The result of one check: the file's problems and its compiled form.
pub struct Checked {
    pub problems: Vec<Problem>,
    pub file: Option<Arc<CompiledFile>>,
}

/// Whether `path` is a flow test file (`*.test.yaml` or `*.test.yml` under the flows
/// folder), which `parley test` reads and the flow loader skips.
pub fn is_test_file(config: &Config, path: &Path) -> bool {
    path.starts_with(&config.flows.dir)
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
}

/// Whether `path` is a flow file the loader reads: a `.yaml` or `.yml` under the flows
/// folder, not in its `tests/` folder, not hidden.
pub fn is_flow_file(config: &Config, path: &Path) -> bool {
    let Ok(inside) = path.strip_prefix(&config.flows.dir) else {
        return false;
    };
    let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let names: Vec<String> = inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let hidden = names.iter().any(|n| n.starts_with('.'));
    // The loader skips every folder named `tests` or `evals`, at any depth.
    let in_tests = names
        .iter()
        .rev()
        .skip(1)
        .any(|n| n == "tests" || n == "evals");
    yaml && !hidden && !in_tests
}

fn hash(text: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

fn disk_stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp::Disk(meta.modified().ok()?, meta.len()))
}

impl Cache {
    /// The problems of `path` with `text` standing in for it and `others` for theirs.
    /// `path` must be a flow file (`is_flow_file`). Runs on a big stack, as the loader.
    pub fn check(
        &mut self,
        config: &Config,
        path: &Path,
        text: &str,
        others: &Overrides,
    ) -> Checked {
        crate::config::file_limits::on_big_stack(|| self.check_here(config, path, text, others))
    }

    fn check_here(
        &mut self,
        config: &Config,
        path: &Path,
        text: &str,
        others: &Overrides,
    ) -> Checked {
        let mut overrides = others.clone();
        overrides.insert(path.to_path_buf(), text.to_string());
        let settings = LoadSettings::from_config(config).with_overrides(&overrides);
        let deployment = Deployment::from_config(config);
        let (paths, folder_problems) = flow_files(&settings);
        self.forget_if_depends_changed(config);
        let compiler = std::cell::OnceCell::new();
        let compiler = || compiler.get_or_init(|| FileCompiler::new(&settings, Some(&deployment)));
        let mut files = Vec::with_capacity(paths.len());
        let mut learnt = false;
        for p in &paths {
            let stamp = match overrides.get(p) {
                Some(t) => Some(Stamp::Text(hash(t))),
                None => disk_stamp(p),
            };
            let kept = self
                .files
                .get(p)
                .filter(|(s, _)| Some(*s) == stamp)
                .map(|(_, f)| Arc::clone(f));
            let file = match kept {
                Some(f) => f,
                None => {
                    let f = Arc::new(compiler().compile(p));
                    learnt = true;
                    if let Some(stamp) = stamp {
                        self.files.insert(p.clone(), (stamp, Arc::clone(&f)));
                    }
                    f
                }
            };
            files.push(file);
        }
        // Files no longer in the folder are dropped.
        self.files.retain(|p, _| paths.binary_search(p).is_ok());
        if learnt {
            let named = compiler().knowledge_files();
            if named.iter().any(|k| !self.knowledge.contains(k)) {
                self.knowledge.extend(named);
                self.depends = depends(config, &self.knowledge);
            }
        }
        let name = path.display().to_string();
        let mut problems: Vec<Problem> = folder_problems
            .into_iter()
            .filter(|p| p.file == name)
            .collect();
        let mine = files.iter().find(|f| f.path == path).cloned();
        if let Some(f) = &mine {
            problems.extend(f.problems.iter().cloned());
        }
        let refs: Vec<&CompiledFile> = files.iter().map(|f| &**f).collect();
        let mut across = Vec::new();
        cross_check(&refs, config.window.duration, &mut across);
        problems.extend(across.into_iter().filter(|p| p.file == name));
        problems.sort_by_key(|p| (p.line, p.column));
        Checked {
            problems,
            file: mine,
        }
    }

    /// Drops every kept compile when a script or knowledge file changed: a flow's
    /// problems depend on them (a script's syntax, a knowledge file's size).
    fn forget_if_depends_changed(&mut self, config: &Config) {
        let now = depends(config, &self.knowledge);
        if now != self.depends {
            self.files.clear();
            self.depends = now;
        }
    }
}

fn depends(config: &Config, knowledge: &BTreeSet<PathBuf>) -> Vec<(PathBuf, SystemTime, u64)> {
    let mut paths: Vec<&Path> = vec![Path::new(&config.flows.scripts_dir)];
    paths.extend(knowledge.iter().map(PathBuf::as_path));
    crate::flows::fingerprint(&paths)
}

/// A flow of the project as last compiled: for completion, hover and go to definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFlow {
    pub id: String,
    pub path: PathBuf,
    /// Where its `id:` is (line 1 for a file with errors).
    pub line: usize,
    pub column: usize,
    pub description: Option<String>,
}

impl Cache {
    /// Whether nothing is kept yet (no check has run).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The flows of the kept compiles, by id.
    pub fn flows(&self) -> Vec<KnownFlow> {
        let mut out: Vec<KnownFlow> = self
            .files
            .values()
            .filter_map(|(_, file)| match &file.flow {
                Ok(flow) => Some(KnownFlow {
                    id: flow.id.clone(),
                    path: file.path.clone(),
                    line: flow.id_at.line.max(1),
                    column: flow.id_at.column.max(1),
                    description: flow.description.clone(),
                }),
                Err(broken) => broken.id.as_ref().map(|id| KnownFlow {
                    id: id.clone(),
                    path: file.path.clone(),
                    line: 1,
                    column: 1,
                    description: None,
                }),
            })
            .collect();
        out.sort_by(|a, b| (&a.id, &a.path).cmp(&(&b.id, &b.path)));
        out
    }
}
