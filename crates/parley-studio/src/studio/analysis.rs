//! The analysis of a project while one of its files is being typed, before it is saved:
//! the problems `parley check` would report for that file (with the same words, line and
//! column), quick fixes for the "did you mean" ones, completion, hover, go to definition
//! and the outline. The `/studio` page's server and `parley lsp` both ask a `Project`.
//!
//! It must answer while the author types: every flow file's compiled form is kept between
//! calls (`cache`), so a keystroke recompiles only the file being typed and reruns the
//! checks across flows. It reads files and never writes any.

mod checker;
mod complete;
mod context;
mod fixes;
mod lookup;
mod names;
mod outline;

use crate::config::Config;
use crate::flows::{Flow, Overrides};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A place in a file: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// One problem of the file, as `parley check` reports it, with where the word it points at
/// ends and the fixes an editor can offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub problem: crate::flows::Problem,
    /// Where the word at the problem's place ends (exclusive); the problem's own place
    /// when there is no word there.
    pub end: Pos,
    pub fixes: Vec<Fix>,
}

/// A quick fix: put `replacement` in place of the text from `start` to `end` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub title: String,
    pub start: Pos,
    pub end: Pos,
    pub replacement: String,
}

/// What a completion offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompletionKind {
    /// A setting's name (`triggers`, `expect`).
    Key,
    /// A step kind (`send`, `ask`).
    Step,
    /// A flow id (`goto_flow:`).
    Flow,
    /// A step id of this flow (`goto:`).
    StepId,
    /// A template name from the config.
    Template,
    /// A template's language.
    Language,
    /// A variable or a blank's root (`vars.name`, `contact`).
    Variable,
    /// A blank's filter (`upper`).
    Filter,
    /// One of the values a setting takes (`expect: number`).
    Value,
}

/// One thing the author may type at the cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    /// A short line beside the label.
    pub detail: Option<String>,
    /// Markdown shown when the item is selected.
    pub documentation: Option<String>,
    /// The text that replaces the word from `Completions::from` to the cursor.
    pub insert: String,
}

/// The completions at a place, and where the word they replace starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Completions {
    pub items: Vec<Completion>,
    pub from: Pos,
}

/// A place in another file (or this one): go to definition's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// What an outline entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SymbolKind {
    /// The flow itself (its `id:`).
    Flow,
    /// One trigger of `triggers:`.
    Trigger,
    /// One step (nested steps are the children of the step they are written in).
    Step,
}

/// One entry of the document's outline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Symbol {
    /// `ask_name`, or `step 3` for a step without an id.
    pub name: String,
    pub kind: SymbolKind,
    /// The step kind (`ask`), the trigger kind (`keyword`).
    pub detail: Option<String>,
    /// Where it starts and where its last line ends (exclusive).
    pub start: Pos,
    pub end: Pos,
    pub children: Vec<Symbol>,
}

/// `problem` placed in `text`: where the word it points at ends, and its fixes. For
/// problems found elsewhere (a flow test file's, which the root crate reads).
pub fn diagnose(problem: crate::flows::Problem, text: &str) -> Diagnostic {
    fixes::diagnose(problem, text)
}

/// A project being edited: its config, and what is kept between calls so that each one
/// redoes only the file being typed. Share one per daemon or language-server session.
pub struct Project {
    config: Arc<Config>,
    /// The config file, when there is one: go to definition finds templates in it.
    config_file: Option<PathBuf>,
    cache: Mutex<checker::Cache>,
}

impl Project {
    /// A project with this config; nothing is read until the first call.
    pub fn new(config: Arc<Config>) -> Self {
        Self {
            config,
            config_file: None,
            cache: Mutex::new(checker::Cache::default()),
        }
    }

    /// This project, with the file its config was read from.
    pub fn with_config_file(self, file: PathBuf) -> Self {
        Self {
            config_file: Some(file),
            ..self
        }
    }

    /// The config this project was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The problems of `path` when its text is `text` (every other file as on disk):
    /// exactly those `parley check` reports for that file, cross-file ones included.
    pub fn check(&self, path: &Path, text: &str) -> Vec<Diagnostic> {
        self.check_with(path, text, &crate::flows::Overrides::new())
    }

    /// As `check`, with other unsaved texts (`others`) standing in for their files too.
    /// A file that is not a flow file (a test, a script) has no problems here.
    pub fn check_with(&self, path: &Path, text: &str, others: &Overrides) -> Vec<Diagnostic> {
        if !checker::is_flow_file(&self.config, path) {
            return Vec::new();
        }
        let checked = self.cache().check(&self.config, path, text, others);
        checked
            .problems
            .into_iter()
            .map(|p| fixes::diagnose(p, text))
            .collect()
    }

    /// The flow compiled from `text` (against the config, as `check` compiles it), when
    /// it has no errors of its own; problems across flows do not stop it.
    pub fn compiled(&self, path: &Path, text: &str) -> Option<Arc<Flow>> {
        if !checker::is_flow_file(&self.config, path) {
            return None;
        }
        let checked = self
            .cache()
            .check(&self.config, path, text, &Overrides::new());
        checked.file?.flow.as_ref().ok().cloned()
    }

    /// The kept compiles; a panic in another call does not make them unusable (they are
    /// only ever replaced whole).
    fn cache(&self) -> std::sync::MutexGuard<'_, checker::Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What may be typed at `at`.
    pub fn complete(&self, path: &Path, text: &str, at: Pos) -> Completions {
        if checker::is_test_file(&self.config, path) {
            return complete::complete_test(text, at);
        }
        let flows = self.flows(path, text);
        complete::complete(&self.config, &flows, text, at)
    }

    /// Markdown about the word at `at`: a setting's reference text, what a goto names.
    pub fn hover(&self, path: &Path, text: &str, at: Pos) -> Option<String> {
        if checker::is_test_file(&self.config, path) {
            return lookup::hover_test(text, at);
        }
        let flows = self.flows(path, text);
        lookup::hover(&self.config, &flows, text, at)
    }

    /// Where the name at `at` is defined: a step, a flow file, a template (in the config
    /// file, when `with_config_file` named it), a script.
    pub fn definition(&self, path: &Path, text: &str, at: Pos) -> Option<Location> {
        let flows = self.flows(path, text);
        let config_file = self.config_file.as_deref();
        lookup::definition(&self.config, config_file, &flows, path, text, at)
    }

    /// The flow's triggers and steps, for an editor's outline.
    pub fn outline(&self, path: &Path, text: &str) -> Vec<Symbol> {
        let _ = path;
        outline::outline(text)
    }

    /// The project's flows as last checked (checking `path` first when nothing is kept).
    fn flows(&self, path: &Path, text: &str) -> Vec<checker::KnownFlow> {
        let mut cache = self.cache();
        if cache.is_empty() && checker::is_flow_file(&self.config, path) {
            cache.check(&self.config, path, text, &Overrides::new());
        }
        cache.flows()
    }
}

#[cfg(test)]
mod tests;
