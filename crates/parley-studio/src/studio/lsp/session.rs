//! One editor's session: the open documents (their unsaved texts), the problems pushed
//! for them a moment after the typing stops, and each request answered on its own, a
//! panic inside one answered with an error instead of ending the server.

use super::convert::{path_to_uri, range, uri_to_path};
use super::{requests, Ending, Setup};
use crate::flows::{Overrides, Severity};
use crate::studio::analysis::{self, Diagnostic};
use lsp_server::{Connection, ErrorCode, Message, Notification, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics, ShowMessage,
};
use lsp_types::{
    DiagnosticSeverity, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, MessageType, PublishDiagnosticsParams, ShowMessageParams, Uri,
};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long after the last change the problems are pushed: typing on stays smooth.
const QUIET: Duration = Duration::from_millis(150);

/// An open document.
pub struct Doc {
    pub uri: Uri,
    /// The file as the loader names it (`flows/welcome.yaml`).
    pub path: PathBuf,
    pub text: String,
}

pub struct Session<'a> {
    connection: &'a Connection,
    pub setup: Setup,
    /// Open documents by URI.
    pub docs: BTreeMap<String, Doc>,
    /// Documents whose problems are to be pushed once the typing stops.
    stale: BTreeSet<String>,
}

impl<'a> Session<'a> {
    pub fn new(connection: &'a Connection, setup: Setup) -> Self {
        Self {
            connection,
            setup,
            docs: BTreeMap::new(),
            stale: BTreeSet::new(),
        }
    }

    pub fn run(mut self) -> Result<Ending, String> {
        if let Some(notice) = self.setup.notice.take() {
            self.notify::<ShowMessage>(ShowMessageParams {
                typ: MessageType::WARNING,
                message: notice,
            });
        }
        loop {
            let msg = if self.stale.is_empty() {
                match self.connection.receiver.recv() {
                    Ok(m) => m,
                    Err(_) => return Ok(Ending::Abrupt),
                }
            } else {
                match self.connection.receiver.recv_timeout(QUIET) {
                    Ok(m) => m,
                    Err(crossbeam_timeout) if crossbeam_timeout.is_timeout() => {
                        self.publish_stale();
                        continue;
                    }
                    Err(_) => return Ok(Ending::Abrupt),
                }
            };
            match msg {
                Message::Request(req) => {
                    let shutdown = self
                        .connection
                        .handle_shutdown(&req)
                        .map_err(|e| format!("the editor ended the session badly: {e}"))?;
                    if shutdown {
                        return Ok(Ending::Shutdown);
                    }
                    let id = req.id.clone();
                    let answer = catch_unwind(AssertUnwindSafe(|| requests::answer(&self, req)))
                        .unwrap_or_else(|_| {
                            Response::new_err(
                                id,
                                ErrorCode::InternalError as i32,
                                "Parley failed to answer this request (a bug; the server goes on)"
                                    .into(),
                            )
                        });
                    self.send(answer.into());
                }
                Message::Notification(n) if n.method == "exit" => return Ok(Ending::Abrupt),
                Message::Notification(n) => {
                    // A panic while taking a change in leaves the session as it was.
                    let _ = catch_unwind(AssertUnwindSafe(|| self.take(n)));
                }
                Message::Response(_) => {}
            }
        }
    }

    fn send(&self, msg: Message) {
        let _ = self.connection.sender.send(msg);
    }

    fn notify<N: lsp_types::notification::Notification>(&self, params: N::Params) {
        self.send(Notification::new(N::METHOD.to_string(), params).into());
    }

    /// Takes in an editor's notification about its documents.
    fn take(&mut self, n: Notification) {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    return;
                };
                self.open(p.text_document.uri, p.text_document.text);
                // The first problems come at once: the author just opened the file.
                self.publish_stale();
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    return;
                };
                // Full sync: the last change holds the whole text.
                if let Some(change) = p.content_changes.into_iter().last() {
                    self.open(p.text_document.uri, change.text);
                }
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return;
                };
                let key = p.text_document.uri.as_str().to_string();
                self.docs.remove(&key);
                self.stale.remove(&key);
                self.notify::<PublishDiagnostics>(PublishDiagnosticsParams {
                    uri: p.text_document.uri,
                    diagnostics: Vec::new(),
                    version: None,
                });
                // The others may have named it.
                self.stale.extend(self.docs.keys().cloned());
            }
            _ => {}
        }
    }

    fn open(&mut self, uri: Uri, text: String) {
        let Some(file) = uri_to_path(&uri) else {
            return;
        };
        let path = loader_name(self.setup.project.config(), &file);
        let key = uri.as_str().to_string();
        self.docs.insert(key, Doc { uri, path, text });
        // A change in one file can change the problems of the others (ids, goto_flow).
        self.stale.extend(self.docs.keys().cloned());
    }

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
            .docs
            .values()
            .filter(|d| d.path != doc.path && d.text.len() <= max)
            .map(|d| (d.path.clone(), d.text.clone()))
            .collect();
        self.setup.project.check_with(&doc.path, &doc.text, &others)
    }

    fn publish_stale(&mut self) {
        for key in std::mem::take(&mut self.stale) {
            let Some(doc) = self.docs.get(&key) else {
                continue;
            };
            let found = catch_unwind(AssertUnwindSafe(|| self.problems(doc))).unwrap_or_default();
            let diagnostics = found.iter().map(|d| to_lsp(doc, d)).collect();
            self.notify::<PublishDiagnostics>(PublishDiagnosticsParams {
                uri: doc.uri.clone(),
                diagnostics,
                version: None,
            });
        }
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
pub fn to_lsp(doc: &Doc, d: &Diagnostic) -> lsp_types::Diagnostic {
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
