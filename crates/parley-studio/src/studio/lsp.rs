//! The language server editors talk to (`parley lsp`), over stdin and stdout: as the
//! author types, the problems `parley check` reports for the file (pushed after each
//! change), quick fixes for the "did you mean" ones, completion, hover, go to definition
//! and the steps as the document's outline. All the answers come from
//! `analysis::Project`; this room speaks the protocol (`lsp-server`, `lsp-types`).
//!
//! A request that panics inside the analysis is answered with an error and the server
//! goes on; a document over the loader's size limit gets its one problem; a method the
//! server does not know is answered "method not found".

mod convert;
mod docs;
mod requests;
mod session;
mod transport;

use crate::flows::Problem;
use crate::studio::analysis::Project;
use lsp_server::Connection;
use lsp_types::{
    CodeActionKind, CodeActionOptions, CodeActionProviderCapability, CompletionOptions,
    HoverProviderCapability, OneOf, ServerCapabilities, TextDocumentSyncCapability,
    TextDocumentSyncKind,
};
use std::path::{Path, PathBuf};

pub use transport::{stdio, Io};

/// Checks of files the analysis does not read (flow test files, read by the root crate):
/// their problems, `None` for a file it does not read either.
pub type OtherFiles = Box<dyn Fn(&Path, &str) -> Option<Vec<Problem>> + Send>;

/// What the server works on, made once the editor has said which folder it opened.
pub struct Setup {
    /// The project the editor opened.
    pub project: Project,
    /// Checks of the files the analysis does not read.
    pub other_files: Option<OtherFiles>,
    /// Said to the author once the server is up (a config that could not be read).
    pub notice: Option<String>,
}

/// How the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `shutdown` then `exit`, as the protocol asks.
    Shutdown,
    /// `exit` without `shutdown`, or the editor went away.
    Abrupt,
}

/// The server's capabilities.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(
                [":", " ", ".", "|", "{", "-"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
            ..Default::default()
        }),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..Default::default()
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        ..Default::default()
    }
}

/// Serves one editor on `connection`: answers `initialize`, makes the project with
/// `open` (given the folder the editor opened, when it says one), then answers until
/// `exit`.
pub fn serve(
    connection: &Connection,
    open: impl FnOnce(Option<PathBuf>) -> Setup,
) -> Result<Ending, String> {
    let (id, params) = connection
        .initialize_start()
        .map_err(|e| format!("the editor did not start the session: {e}"))?;
    let setup = open(root_folder(&params));
    let result = serde_json::json!({
        "capabilities": capabilities(),
        "serverInfo": { "name": "parley", "version": env!("CARGO_PKG_VERSION") },
    });
    connection
        .initialize_finish(id, result)
        .map_err(|e| format!("the editor did not finish starting the session: {e}"))?;
    session::Session::new(connection, setup).run()
}

/// The folder the editor opened: its first workspace folder, else `rootUri`, else
/// `rootPath`.
fn root_folder(params: &serde_json::Value) -> Option<PathBuf> {
    let uri = params
        .pointer("/workspaceFolders/0/uri")
        .or_else(|| params.get("rootUri"))
        .and_then(|u| u.as_str())
        .and_then(|u| u.parse::<lsp_types::Uri>().ok());
    if let Some(path) = uri.as_ref().and_then(convert::uri_to_path) {
        return Some(path);
    }
    params
        .get("rootPath")
        .and_then(|p| p.as_str())
        .map(PathBuf::from)
}

#[cfg(test)]
mod tests;
