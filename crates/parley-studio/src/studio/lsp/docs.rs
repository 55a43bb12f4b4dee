//! The documents an editor has open: their unsaved texts, by URI, and their problems
//! (each checked with the other open documents standing in for their files), as the
//! protocol carries them.

use super::convert::{path_to_uri, range};
use super::Setup;
use crate::flows::{Overrides, Severity};
use crate::studio::analysis::{self, Diagnostic};
use lsp_types::{DiagnosticSeverity, Uri};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An open document.
pub struct Doc {
    pub uri: Uri,
    /// The file as the loader names it (`flows/welcome.yaml`).
    pub path: PathBuf,
    pub text: String,
}

/// The open documents and what they are checked against.
pub struct Docs {
    pub setup: Setup,
    /// Open documents by URI.
    pub open: BTreeMap<String, Doc>,
}

impl Docs {
    /// The problems of `doc`, the other open documents standing in for their files.
    pub fn problems(&self, doc: &Doc) -> Vec<Diagnostic> {
        let max = crate::config::file_limits::MAX_FILE_BYTES as usize;
        let huge = doc.text.len() > max;
        if let Some(other) = &self.setup.other_files {
            // A file over the limit is not read further than its size.
            let text = if huge { "" } else { doc.text.as_str() };
            if let Some(problems) = other(&doc.path, text) {
                if huge {
                    return vec![analysis::diagnose(too_large(&doc.path), "")];
                }
                return problems
                    .into_iter()
                    .map(|p| analysis::diagnose(p, &doc.text))
                    .collect();
            }
        }
        let others: Overrides = self
            .open
            .values()
            .filter(|d| d.path != doc.path && d.text.len() <= max)
            .map(|d| (d.path.clone(), d.text.clone()))
            .collect();
        self.setup.project.check_with(&doc.path, &doc.text, &others)
    }
}

fn too_large(path: &Path) -> crate::flows::Problem {
    crate::flows::Problem {
        file: path.display().to_string(),
        line: 1,
        column: 1,
        severity: Severity::Error,
        message: format!(
            "the file is larger than {} KiB, the most Parley reads",
            crate::config::file_limits::MAX_FILE_BYTES / 1024
        ),
        hint: None,
    }
}

/// A problem as the protocol carries it: `parley check`'s words, its hint on a line of
/// its own as `parley check` prints it.
pub fn diagnostic(doc: &Doc, d: &Diagnostic) -> lsp_types::Diagnostic {
    let p = &d.problem;
    let start = analysis::Pos {
        line: p.line,
        column: p.column,
    };
    let mut message = p.message.clone();
    if let Some(hint) = &p.hint {
        message.push_str(&format!("\nhint: {hint}"));
    }
    lsp_types::Diagnostic {
        range: range(&doc.text, start, d.end),
        severity: Some(match p.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        source: Some("parley".into()),
        message,
        ..Default::default()
    }
}

/// The name the loader gives the file at `file` (`flows/welcome.yaml` when the flows
/// folder is `flows`), or `file` itself when it is outside the flows folder.
pub fn loader_name(config: &crate::config::Config, file: &Path) -> PathBuf {
    let dir = Path::new(&config.flows.dir);
    let real = |p: &Path| {
        p.canonicalize().ok().or_else(|| {
            // A file not saved yet: its folder is real.
            let parent = p.parent()?.canonicalize().ok()?;
            Some(parent.join(p.file_name()?))
        })
    };
    match (real(dir), real(file)) {
        (Some(d), Some(f)) => match f.strip_prefix(&d) {
            Ok(inside) => dir.join(inside),
            Err(_) => file.to_path_buf(),
        },
        _ => file.to_path_buf(),
    }
}

/// The URI of a file the analysis names (for go to definition).
pub fn uri_of(path: &Path) -> Option<Uri> {
    path_to_uri(path)
}
