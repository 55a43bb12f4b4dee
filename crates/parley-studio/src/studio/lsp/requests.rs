//! The editor's requests, answered from the analysis: completion, hover, go to
//! definition, quick fixes and the outline. A request about a document that is not open
//! or is over the size limit is answered with nothing; an unknown method with "method not
//! found".

use super::convert::{from_lsp, range, to_lsp};
use super::docs::{diagnostic, uri_of, Doc, Docs};
use crate::studio::analysis::{self, CompletionKind, SymbolKind};
use lsp_server::{ErrorCode, Request, Response};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, GotoDefinition, HoverRequest,
    Request as _,
};
use lsp_types::{
    CodeAction, CodeActionOrCommand, CodeActionParams, CompletionItem, CompletionItemKind,
    CompletionList, CompletionParams, CompletionTextEdit, DocumentSymbol, DocumentSymbolParams,
    Documentation, GotoDefinitionParams, Hover, HoverContents, HoverParams, Location,
    MarkupContent, MarkupKind, TextDocumentPositionParams, TextEdit, WorkspaceEdit,
};
use serde_json::Value;
use std::collections::HashMap;

/// The answer to `req`.
pub fn answer(docs: &Docs, req: Request) -> Response {
    let id = req.id.clone();
    let result = match req.method.as_str() {
        Completion::METHOD => with(req, |p: CompletionParams| {
            completion(docs, &p.text_document_position)
        }),
        HoverRequest::METHOD => with(req, |p: HoverParams| {
            hover(docs, &p.text_document_position_params)
        }),
        GotoDefinition::METHOD => with(req, |p: GotoDefinitionParams| {
            definition(docs, &p.text_document_position_params)
        }),
        CodeActionRequest::METHOD => with(req, |p: CodeActionParams| code_actions(docs, &p)),
        DocumentSymbolRequest::METHOD => with(req, |p: DocumentSymbolParams| {
            let doc = document(docs, p.text_document.uri.as_str())?;
            let symbols = docs.setup.project.outline(&doc.path, &doc.text);
            Some(serde_json::to_value(symbols_to_lsp(doc, &symbols)).unwrap_or(Value::Null))
        }),
        other => {
            return Response::new_err(
                id,
                ErrorCode::MethodNotFound as i32,
                format!("Parley's language server does not answer `{other}`"),
            )
        }
    };
    match result {
        Ok(value) => Response::new_ok(id, value.unwrap_or(Value::Null)),
        Err(message) => Response::new_err(id, ErrorCode::InvalidParams as i32, message),
    }
}

/// Reads the request's parameters and answers with `f`.
fn with<P: serde::de::DeserializeOwned>(
    req: Request,
    f: impl FnOnce(P) -> Option<Value>,
) -> Result<Option<Value>, String> {
    let params: P = serde_json::from_value(req.params)
        .map_err(|e| format!("the parameters of `{}` are not valid: {e}", req.method))?;
    Ok(f(params))
}

/// The open document at `uri`, when it is within the size Parley reads.
fn document<'s>(docs: &'s Docs, uri: &str) -> Option<&'s Doc> {
    let doc = docs.open.get(uri)?;
    (doc.text.len() as u64 <= crate::config::file_limits::MAX_FILE_BYTES).then_some(doc)
}

fn completion(docs: &Docs, at: &TextDocumentPositionParams) -> Option<Value> {
    let doc = document(docs, at.text_document.uri.as_str())?;
    let pos = from_lsp(&doc.text, at.position);
    let found = docs.setup.project.complete(&doc.path, &doc.text, pos);
    let replace = range(&doc.text, found.from, pos);
    let items: Vec<CompletionItem> = found
        .items
        .into_iter()
        .map(|c| CompletionItem {
            label: c.label,
            kind: Some(match c.kind {
                CompletionKind::Key => CompletionItemKind::PROPERTY,
                CompletionKind::Step => CompletionItemKind::KEYWORD,
                CompletionKind::Flow => CompletionItemKind::MODULE,
                CompletionKind::StepId => CompletionItemKind::REFERENCE,
                CompletionKind::Template => CompletionItemKind::SNIPPET,
                CompletionKind::Language => CompletionItemKind::CONSTANT,
                CompletionKind::Variable => CompletionItemKind::VARIABLE,
                CompletionKind::Filter => CompletionItemKind::FUNCTION,
                CompletionKind::Value => CompletionItemKind::ENUM_MEMBER,
            }),
            detail: c.detail,
            documentation: c.documentation.map(|d| {
                Documentation::MarkupContent(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: d,
                })
            }),
            text_edit: Some(CompletionTextEdit::Edit(TextEdit {
                range: replace,
                new_text: c.insert,
            })),
            ..Default::default()
        })
        .collect();
    serde_json::to_value(CompletionList {
        is_incomplete: false,
        items,
    })
    .ok()
}

fn hover(docs: &Docs, at: &TextDocumentPositionParams) -> Option<Value> {
    let doc = document(docs, at.text_document.uri.as_str())?;
    let pos = from_lsp(&doc.text, at.position);
    let text = docs.setup.project.hover(&doc.path, &doc.text, pos)?;
    serde_json::to_value(Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value: text,
        }),
        range: None,
    })
    .ok()
}

fn definition(docs: &Docs, at: &TextDocumentPositionParams) -> Option<Value> {
    let doc = document(docs, at.text_document.uri.as_str())?;
    let pos = from_lsp(&doc.text, at.position);
    let found = docs.setup.project.definition(&doc.path, &doc.text, pos)?;
    let uri = uri_of(&found.path)?;
    // Columns of the file it is in: open, or as on disk.
    let text = docs
        .open
        .get(uri.as_str())
        .map(|d| d.text.clone())
        .or_else(|| crate::config::file_limits::read_limited(&found.path).ok())
        .unwrap_or_default();
    let place = analysis::Pos {
        line: found.line,
        column: found.column,
    };
    let position = to_lsp(&text, place);
    serde_json::to_value(Location {
        uri,
        range: lsp_types::Range {
            start: position,
            end: position,
        },
    })
    .ok()
}

fn code_actions(docs: &Docs, p: &CodeActionParams) -> Option<Value> {
    let doc = document(docs, p.text_document.uri.as_str())?;
    let wanted = p.range;
    let mut actions = Vec::new();
    for d in docs.problems(doc) {
        let shown = diagnostic(doc, &d);
        // The problem touches the lines asked about.
        if shown.range.end.line < wanted.start.line || shown.range.start.line > wanted.end.line {
            continue;
        }
        for fix in &d.fixes {
            let edit = TextEdit {
                range: range(&doc.text, fix.start, fix.end),
                new_text: fix.replacement.clone(),
            };
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: fix.title.clone(),
                kind: Some(lsp_types::CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![shown.clone()]),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(doc.uri.clone(), vec![edit])])),
                    ..Default::default()
                }),
                is_preferred: Some(true),
                ..Default::default()
            }));
        }
    }
    serde_json::to_value(actions).ok()
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written, though no one reads it
fn symbols_to_lsp(doc: &Doc, symbols: &[analysis::Symbol]) -> Vec<DocumentSymbol> {
    symbols
        .iter()
        .map(|s| {
            let whole = range(&doc.text, s.start, s.end);
            DocumentSymbol {
                name: s.name.clone(),
                detail: s.detail.clone(),
                kind: match s.kind {
                    SymbolKind::Flow => lsp_types::SymbolKind::MODULE,
                    SymbolKind::Trigger => lsp_types::SymbolKind::EVENT,
                    SymbolKind::Step => lsp_types::SymbolKind::FUNCTION,
                },
                tags: None,
                deprecated: None,
                range: whole,
                selection_range: lsp_types::Range {
                    start: whole.start,
                    end: whole.start,
                },
                children: (!s.children.is_empty()).then(|| symbols_to_lsp(doc, &s.children)),
            }
        })
        .collect()
}
