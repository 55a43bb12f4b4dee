//! One editor's session: the open documents (their unsaved texts), the problems pushed
//! for them a moment after the typing stops, and each request answered on its own, a
//! panic inside one answered with an error instead of ending the server.

use super::convert::uri_to_path;
use super::docs::{diagnostic, loader_name, Doc, Docs};
use super::{requests, Ending, Setup};
use lsp_server::{Connection, ErrorCode, Message, Notification, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics, ShowMessage,
};
use lsp_types::{
    DidChangeTextDocumentParams, DidCloseTextDocumentParams, DidOpenTextDocumentParams,
    MessageType, PublishDiagnosticsParams, ShowMessageParams, Uri,
};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// How long after the last change the problems are pushed: typing on stays smooth.
const QUIET: Duration = Duration::from_millis(150);

/// One editor's session.
pub struct Session<'a> {
    connection: &'a Connection,
    docs: Docs,
    /// Documents whose problems are to be pushed once the typing stops.
    stale: BTreeSet<String>,
}

impl<'a> Session<'a> {
    pub fn new(connection: &'a Connection, setup: Setup) -> Self {
        Self {
            connection,
            docs: Docs {
                setup,
                open: BTreeMap::new(),
            },
            stale: BTreeSet::new(),
        }
    }

    pub fn run(mut self) -> Result<Ending, String> {
        if let Some(notice) = self.docs.setup.notice.take() {
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
                    let answer =
                        catch_unwind(AssertUnwindSafe(|| requests::answer(&self.docs, req)))
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
                self.docs.open.remove(&key);
                self.stale.remove(&key);
                self.notify::<PublishDiagnostics>(PublishDiagnosticsParams {
                    uri: p.text_document.uri,
                    diagnostics: Vec::new(),
                    version: None,
                });
                // The others may have named it.
                self.stale.extend(self.docs.open.keys().cloned());
            }
            _ => {}
        }
    }

    fn open(&mut self, uri: Uri, text: String) {
        let Some(file) = uri_to_path(&uri) else {
            return;
        };
        let path = loader_name(self.docs.setup.project.config(), &file);
        let key = uri.as_str().to_string();
        self.docs.open.insert(key, Doc { uri, path, text });
        // A change in one file can change the problems of the others (ids, goto_flow).
        self.stale.extend(self.docs.open.keys().cloned());
    }

    fn publish_stale(&mut self) {
        for key in std::mem::take(&mut self.stale) {
            let Some(doc) = self.docs.open.get(&key) else {
                continue;
            };
            let found =
                catch_unwind(AssertUnwindSafe(|| self.docs.problems(doc))).unwrap_or_default();
            let diagnostics = found.iter().map(|d| diagnostic(doc, d)).collect();
            self.notify::<PublishDiagnostics>(PublishDiagnosticsParams {
                uri: doc.uri.clone(),
                diagnostics,
                version: None,
            });
        }
    }
}
