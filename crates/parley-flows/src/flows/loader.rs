//! Reads `flows/**/*.yaml` (skipping `flows/tests/` and `flows/evals/`, which hold flow
//! tests and evaluation scenarios), compiles each file and builds the flow set. Every
//! problem of every file is reported, not only the first. Files are read up to
//! `config::file_limits::MAX_FILE_BYTES` and compiled on a thread of their own with a
//! known stack, whichever thread asked (a runtime worker during hot reload).

use super::compile::{self, Broken, LoadContext};
use super::model::Flow;
use super::problem::{Problem, Problems, Severity};
use super::project::Deployment;
use super::set::FlowSet;
use crate::config::TemplateConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where flows come from and what they are checked against.
pub struct LoadSettings<'a> {
    pub dir: &'a Path,
    pub scripts_dir: &'a Path,
    pub templates: &'a [TemplateConfig],
    pub window: Duration,
    /// Texts that stand in for files of the flows folder (or add files to it): what an
    /// author is typing in the studio or an editor, not yet saved.
    pub overrides: Option<&'a Overrides>,
}

/// Unsaved texts by path, as the flows folder's files are named (`flows/welcome.yaml`).
pub type Overrides = std::collections::BTreeMap<PathBuf, String>;

impl<'a> LoadSettings<'a> {
    pub fn from_config(config: &'a crate::config::Config) -> Self {
        Self {
            dir: Path::new(&config.flows.dir),
            scripts_dir: Path::new(&config.flows.scripts_dir),
            templates: &config.templates,
            window: config.window.duration,
            overrides: None,
        }
    }

    /// These settings with `overrides` standing in for files.
    pub fn with_overrides(self, overrides: &'a Overrides) -> Self {
        Self {
            overrides: Some(overrides),
            ..self
        }
    }
}

pub struct LoadReport {
    /// The flows, when no file has an error (warnings are allowed).
    pub set: Option<FlowSet>,
    /// Errors and warnings, sorted by file and position.
    pub problems: Vec<Problem>,
    /// Every knowledge file the flows name (found or not), so hot reload can watch them
    /// (`fingerprint` takes files as well as folders).
    pub knowledge_files: Vec<PathBuf>,
    /// How much of each flow's texts each of its languages translates, by flow file then
    /// language (`parley check` prints it).
    pub coverage: Vec<super::languages::Coverage>,
}

impl LoadReport {
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.problems.len() - self.errors()
    }

    /// All problems, one per paragraph, as `parley check` prints them.
    pub fn render(&self) -> String {
        self.problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Loads the flows folder without the checks that need the config (tests, tools).
pub fn load_dir(settings: &LoadSettings<'_>) -> LoadReport {
    load_dir_with(settings, None)
}

/// Loads the flows folder, with the checks against `deployment` when given.
pub fn load_dir_with(settings: &LoadSettings<'_>, deployment: Option<&Deployment>) -> LoadReport {
    crate::config::file_limits::on_big_stack(|| load_dir_here(settings, deployment))
}

/// Loads the flows the config names, with every check: what `parley check`, the start and
/// hot reload run.
pub fn load_configured(config: &crate::config::Config) -> LoadReport {
    let settings = LoadSettings::from_config(config);
    load_dir_with(&settings, Some(&Deployment::from_config(config)))
}

/// As `load_configured`, with unsaved texts standing in for files (the studio, `parley lsp`).
pub fn load_configured_with(config: &crate::config::Config, overrides: &Overrides) -> LoadReport {
    let settings = LoadSettings::from_config(config).with_overrides(overrides);
    load_dir_with(&settings, Some(&Deployment::from_config(config)))
}

/// The folder holding the flows folder, from which `knowledge:` files are named.
fn project_dir(flows_dir: &Path) -> &Path {
    match flows_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn load_dir_here(settings: &LoadSettings<'_>, deployment: Option<&Deployment>) -> LoadReport {
    let (paths, mut problems) = flow_files(settings);
    let compiler = FileCompiler::new(settings, deployment);
    let files: Vec<CompiledFile> = paths.iter().map(|p| compiler.compile(p)).collect();
    for file in &files {
        problems.extend(file.problems.iter().cloned());
    }
    let files: Vec<&CompiledFile> = files.iter().collect();
    let set = cross_check(&files, settings.window, &mut problems);
    let coverage = files
        .iter()
        .flat_map(|f| f.coverage.iter().cloned())
        .collect();
    problems.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    let has_errors = problems.iter().any(Problem::is_error);
    LoadReport {
        set: (!has_errors).then_some(set),
        problems,
        knowledge_files: compiler.knowledge_files(),
        coverage,
    }
}

/// The flow files of the folder (and those `settings.overrides` add), sorted as the loader
/// compiles them, with the problems of the folder itself (missing, unreadable, a link to a
/// folder).
pub fn flow_files(settings: &LoadSettings<'_>) -> (Vec<PathBuf>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    if !settings.dir.is_dir() {
        let shown = std::path::absolute(settings.dir).unwrap_or_else(|_| settings.dir.into());
        let what = if settings.dir.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        problems.push(Problem {
            file: shown.display().to_string(),
            line: 1,
            column: 1,
            severity: Severity::Error,
            message: format!("the flows folder {} {what}", shown.display()),
            hint: Some(
                "create it, or set flows.dir in the config to the folder that holds your flow files"
                    .into(),
            ),
        });
    } else if let Err(e) = collect(settings.dir, &mut files, &mut problems) {
        problems.push(Problem {
            file: settings.dir.display().to_string(),
            line: 1,
            column: 1,
            severity: Severity::Error,
            message: format!("cannot read the flows folder: {e}"),
            hint: None,
        });
    }
    if let Some(overrides) = settings.overrides {
        // A new file being written counts as if saved; one on disk is read from its text.
        for path in overrides.keys() {
            if !files.contains(path) {
                files.push(path.clone());
            }
        }
    }
    files.sort();
    if settings.dir.is_dir() {
        orphan_translations(settings.dir, &files, &mut problems);
    }
    (files, problems)
}

/// Warns about translation files (`*.po`) of the flows folder that no flow file owns
/// (`welcom.es.po` beside `welcome.yaml`): their translations would never be read. `flows`
/// is sorted.
fn orphan_translations(dir: &Path, flows: &[PathBuf], problems: &mut Vec<Problem>) {
    let mut all = Vec::new();
    let _ = collect_all(dir, &mut all);
    for po in all
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "po"))
    {
        if po
            .components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "evals")
        {
            continue;
        }
        // `welcome.es.po` belongs to `welcome.yaml` (or `.yml`) in the same folder.
        let owned = po
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.rsplit_once('.'))
            .is_some_and(|(stem, _)| {
                ["yaml", "yml"].iter().any(|ext| {
                    flows
                        .binary_search(&po.with_file_name(format!("{stem}.{ext}")))
                        .is_ok()
                })
            });
        if !owned {
            problems.push(Problem {
                file: po.display().to_string(),
                line: 1,
                column: 1,
                severity: Severity::Warning,
                message: "no flow file owns these translations: they are not read".into(),
                hint: Some("a flow's translations are named after its file and a language: `welcome.es.po` beside `welcome.yaml`".into()),
            });
        }
    }
}

/// One flow file compiled on its own: its own problems (not those across flows) and its
/// flow, or what is known of it when it has errors.
pub struct CompiledFile {
    /// The file as the loader names it (`flows/welcome.yaml`).
    pub path: PathBuf,
    /// Its own problems, in the order the compiler found them.
    pub problems: Vec<Problem>,
    /// The flow, when the file has no error of its own.
    pub flow: Result<Arc<Flow>, Broken>,
    /// How much of its texts each of its languages translates.
    pub coverage: Vec<super::languages::Coverage>,
}

/// Compiles flow files one at a time, as the loader does, for callers that keep compiled
/// files between loads (the studio and the language server recompile only the file being
/// typed). Run it on `config::file_limits::on_big_stack`, as the loader does.
pub struct FileCompiler<'a> {
    settings: &'a LoadSettings<'a>,
    deployment: Option<&'a Deployment>,
    rhai: rhai::Engine,
    shelf: compile::KnowledgeShelf,
}

impl<'a> FileCompiler<'a> {
    /// A compiler for the files of `settings`, checked against `deployment` when given.
    pub fn new(settings: &'a LoadSettings<'a>, deployment: Option<&'a Deployment>) -> Self {
        Self {
            settings,
            deployment,
            rhai: super::script::sandbox(),
            shelf: compile::KnowledgeShelf::default(),
        }
    }

    /// Compiles `path` from its unsaved text when the settings have one, else from disk.
    pub fn compile(&self, path: &Path) -> CompiledFile {
        match self.settings.overrides.and_then(|o| o.get(path)) {
            Some(text) => self.compile_text(path, text),
            None => self.compile_read(path, crate::config::file_limits::read_limited(path)),
        }
    }

    /// Compiles `text` as the file `path` (refused, as on disk, above the size limit).
    pub fn compile_text(&self, path: &Path, text: &str) -> CompiledFile {
        let text = if text.len() as u64 > crate::config::file_limits::MAX_FILE_BYTES {
            Err(format!(
                "the file is larger than {} KiB, the most Parley reads",
                crate::config::file_limits::MAX_FILE_BYTES / 1024
            ))
        } else {
            Ok(text.to_string())
        };
        self.compile_read(path, text)
    }

    /// Every knowledge file the flows compiled so far named (found or not).
    pub fn knowledge_files(&self) -> Vec<PathBuf> {
        self.shelf.files()
    }

    fn compile_read(&self, path: &Path, text: Result<String, String>) -> CompiledFile {
        let name = path.display().to_string();
        let mut problems = Problems::new(&name);
        let mut coverage = Vec::new();
        let flow = match text {
            Ok(text) => {
                let ctx = LoadContext {
                    templates: self.settings.templates,
                    scripts_dir: self.settings.scripts_dir,
                    rhai: &self.rhai,
                    source: &text,
                    deployment: self.deployment,
                    project_dir: project_dir(self.settings.dir),
                    knowledge: &self.shelf,
                };
                compile::compile(&text, &name, &ctx, &mut problems).map(|mut flow| {
                    // The translation files beside it (`welcome.es.po`), and their checks.
                    coverage = super::languages::files::attach(
                        path,
                        &text,
                        &mut flow,
                        self.settings.overrides,
                        &mut problems.list,
                    );
                    Arc::new(flow)
                })
            }
            Err(e) => {
                // Only the size refusal calls for splitting the file.
                let hint = e.contains("larger than").then(|| {
                    "a flow file is a few KB of YAML text; split a big one into several flows"
                        .into()
                });
                problems.error(Default::default(), e, hint);
                Err(Broken {
                    file: name,
                    ..Default::default()
                })
            }
        };
        CompiledFile {
            path: path.to_path_buf(),
            problems: problems.list,
            flow,
            coverage,
        }
    }
}

/// The checks across flows over `files` (sorted by path, as `flow_files` lists them):
/// their problems are appended to `problems`, and the set is built.
pub fn cross_check(
    files: &[&CompiledFile],
    window: Duration,
    problems: &mut Vec<Problem>,
) -> FlowSet {
    let mut flows = Vec::new();
    let mut broken = Vec::new();
    for file in files {
        match &file.flow {
            Ok(flow) => flows.push(Arc::clone(flow)),
            Err(b) => broken.push(b),
        }
    }
    FlowSet::build_shared(flows, &broken, window, problems)
}

/// Compiles one flow text on its own (tests, the sandbox).
pub fn load_text(text: &str, file: &str, settings: &LoadSettings<'_>) -> LoadReport {
    crate::config::file_limits::on_big_stack(|| load_text_here(text, file, settings))
}

fn load_text_here(text: &str, file: &str, settings: &LoadSettings<'_>) -> LoadReport {
    let rhai = super::script::sandbox();
    let shelf = compile::KnowledgeShelf::default();
    let ctx = LoadContext {
        templates: settings.templates,
        scripts_dir: settings.scripts_dir,
        rhai: &rhai,
        source: text,
        deployment: None,
        project_dir: project_dir(settings.dir),
        knowledge: &shelf,
    };
    let mut file_problems = Problems::new(file);
    let compiled = compile::compile(text, file, &ctx, &mut file_problems);
    let mut problems = file_problems.list;
    let mut coverage = Vec::new();
    let (flows, broken) = match compiled {
        Ok(mut flow) => {
            coverage = super::languages::files::attach(
                Path::new(file),
                text,
                &mut flow,
                settings.overrides,
                &mut problems,
            );
            (vec![flow], Vec::new())
        }
        Err(b) => (Vec::new(), vec![b]),
    };
    let set = FlowSet::build(flows, &broken, settings.window, &mut problems);
    let has_errors = problems.iter().any(Problem::is_error);
    LoadReport {
        set: (!has_errors).then_some(set),
        problems,
        knowledge_files: shelf.files(),
        coverage,
    }
}

/// Whether a folder entry is one Parley leaves alone: hidden files and folders, among them
/// editors' lock and backup files (Emacs' `.#welcome.yaml`, a link to nowhere while a
/// buffer has unsaved changes) and the `..data` folders of a Kubernetes ConfigMap mount
/// (whose files are also linked from the folder itself).
fn hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

/// Whether `path` is a symbolic link to a folder. Such links are not followed: `flows/up
/// -> ..` would read the whole project (the config, models, scripts) as flows, over and
/// over down the loop.
fn linked_folder(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) && path.is_dir()
}

/// The flow files under `dir`: `.yaml` and `.yml`, in subfolders too, except `tests/`, `evals/`,
/// hidden entries and links to folders (a warning each).
fn collect(dir: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<Problem>) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if hidden(&path) {
            continue;
        }
        if linked_folder(&path) {
            problems.push(Problem {
                file: path.display().to_string(),
                line: 1,
                column: 1,
                severity: Severity::Warning,
                message: "this is a link to a folder; Parley does not read flows through links to folders".into(),
                hint: Some("put the flow files themselves (or links to each file) inside the flows folder".into()),
            });
        } else if path.is_dir() {
            // Flow tests (`tests/`) and evaluation scenarios (`evals/`, recordings beside
            // them) are read by `parley test` and `parley eval`, not as flows.
            if path
                .file_name()
                .is_some_and(|n| n == "tests" || n == "evals")
            {
                continue;
            }
            collect(&path, out, problems)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The flow test files of `dir` (`*.test.yaml`, `*.test.yml`), sorted: what `parley test`
/// runs from a folder, and what the studio runs for a flow.
pub fn test_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The name, modification time and size of every file in `paths` (folders, walked, and
/// single files such as knowledge files), for hot reload: the flows folder's translation
/// files (`welcome.es.po`) among them, so a changed translation reloads the flows.
pub fn fingerprint(paths: &[&Path]) -> Vec<(PathBuf, std::time::SystemTime, u64)> {
    let mut out = Vec::new();
    for path in paths {
        let mut files = Vec::new();
        if path.is_file() {
            files.push(path.to_path_buf());
        } else {
            let _ = collect_all(path, &mut files);
        }
        for f in files {
            // A file that cannot be read (a link to nowhere) is listed too, so that its
            // removal is a change: the error it caused goes away with it.
            let (modified, len) = std::fs::metadata(&f)
                .map(|m| (m.modified().unwrap_or(std::time::UNIX_EPOCH), m.len()))
                .unwrap_or((std::time::UNIX_EPOCH, 0));
            out.push((f, modified, len));
        }
    }
    // By the names' bytes: comparing `Path`s splits them into components at every
    // comparison, and this runs every second: with 100 flows the sort was 444,000 of the
    // 710,000 instructions a second hot reload cost (callgrind; BENCHMARKS.md).
    out.sort_unstable_by(|a, b| {
        (a.0.as_os_str().as_encoded_bytes(), a.1, a.2).cmp(&(
            b.0.as_os_str().as_encoded_bytes(),
            b.1,
            b.2,
        ))
    });
    out
}

fn collect_all(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if hidden(&path) {
            continue;
        }
        if linked_folder(&path) {
            // Listed, not walked (see `collect`).
            out.push(path);
        } else if path.is_dir() {
            collect_all(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
