//! Contacts in and out: `POST /api/contacts/import` (a CSV or JSON file as the body, up to
//! 64 MiB and 200,000 rows, one import at a time per process, read off the HTTP thread; the
//! answer counts contacts created and updated and lists every refused row with its reason)
//! and `GET /api/contacts/export?format=csv|json` (every contact, streamed a page at a
//! time, in the shape an import reads back).

use crate::domain::contact_file::{self, ExportRow, ImportFormat, MAX_BYTES};
use crate::domain::Contact;
use crate::http::api::body::Fields;
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::store::{DynStore, StoreResult, EXPORT_PAGE};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// How long a client refused for a running import is told to wait (`Retry-After`).
const IMPORT_RETRY_SECONDS: u32 = 10;

/// `POST /api/contacts/import`, the format from `Content-Type` (`text/csv` or
/// `application/json`).
///
/// One import runs at a time (`Shared::imports`): a file of 64 MiB takes several hundred
/// MB while it is read and seconds to store, so a second one while the first runs is
/// refused (429 `IMPORT_IN_PROGRESS`, `Retry-After`) before its body is read. The file is
/// parsed on a blocking thread: the HTTP runtime has one thread, which webhooks need.
pub async fn import(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Error> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(format) = ImportFormat::from_name(content_type) else {
        return Err(Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the file with Content-Type: text/csv or application/json",
        ));
    };
    let Ok(_running) = st.imports.clone().try_acquire_owned() else {
        let mut busy = Error::new(
            StatusCode::TOO_MANY_REQUESTS,
            "IMPORT_IN_PROGRESS",
            format!(
                "another contacts import is running on this server: send this file again when \
                 it has finished (in about {IMPORT_RETRY_SECONDS} seconds)"
            ),
        )
        .into_response();
        busy.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(IMPORT_RETRY_SECONDS));
        return Ok(busy);
    };
    let bytes = axum::body::to_bytes(body, MAX_BYTES).await.map_err(|_| {
        Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the file is larger than {MAX_BYTES} bytes (64 MiB): split it"),
        )
    })?;
    let parsed = tokio::task::spawn_blocking(move || contact_file::parse(format, &bytes))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading a contacts file failed");
            Error::unavailable("the file could not be read, please retry")
        })?
        .map_err(|e| Error::invalid_request(e.to_string()))?;
    let report = crate::store::import(st.store.as_ref(), parsed, st.clock.now()).await?;
    let counts = json!({
        "created": report.created,
        "updated": report.updated,
        "refused": report.refused.len(),
    });
    Ok((
        axum::Extension(super::audit::AuditDetail(counts)),
        Json(json!({
            "success": true,
            "created": report.created,
            "updated": report.updated,
            "refused": report.refused,
        })),
    )
        .into_response())
}

/// `GET /api/contacts/export?format=csv|json` (JSON when not given).
pub async fn export(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let q = Fields::from_query(query.as_deref());
    let format = match q.opt_str("format")?.unwrap_or("json") {
        "csv" => ImportFormat::Csv,
        "json" => ImportFormat::Json,
        other => {
            return Err(Error::field(
                "format",
                format!("`{other}` is not an export format; use csv or json"),
            ))
        }
    };
    let (content_type, head) = match format {
        // A CSV header names every field: one pass over the contacts to learn them.
        ImportFormat::Csv => {
            let fields = field_names(&st.store).await?;
            let head = contact_file::csv_header(&fields);
            return stream(
                st.store.clone(),
                "text/csv; charset=utf-8",
                head,
                move |page, _| {
                    page.iter()
                        .map(|c| contact_file::csv_line(c, &fields))
                        .collect()
                },
            )
            .await;
        }
        ImportFormat::Json => ("application/json", "[".to_string()),
    };
    stream(st.store.clone(), content_type, head, |page, first| {
        let mut text = String::new();
        for (i, contact) in page.iter().enumerate() {
            if !(first && i == 0) {
                text.push(',');
            }
            text.push('\n');
            text.push_str(&json_line(contact));
        }
        text
    })
    .await
}

fn json_line(contact: &Contact) -> String {
    serde_json::to_string(&ExportRow::of(contact)).unwrap_or_else(|_| "null".into())
}

/// Every custom field name any contact has, sorted.
async fn field_names(store: &DynStore) -> StoreResult<Vec<String>> {
    let mut names = BTreeSet::new();
    crate::store::for_each_contact(store.as_ref(), |page| {
        for contact in page {
            names.extend(contact_file::field_names(contact).cloned());
        }
    })
    .await?;
    Ok(names.into_iter().collect())
}

/// Where an export stream is.
struct Cursor {
    head: Option<String>,
    /// The first page, read before answering.
    ready: Option<Vec<Contact>>,
    after: i64,
    first: bool,
    closing: Option<String>,
    done: bool,
}

/// A response streaming `head`, then each page of contacts rendered by `render` (told
/// whether it is the first page), then the closing text (JSON's `]`). The first page is
/// read before answering, so a database that cannot be reached is a 503 like everywhere
/// else; a failure mid-stream cuts the response short (the client sees an incomplete
/// body).
async fn stream(
    store: DynStore,
    content_type: &'static str,
    head: String,
    render: impl Fn(&[Contact], bool) -> String + Send + Sync + 'static,
) -> Result<Response, Error> {
    let first = store.export_contacts(0, EXPORT_PAGE).await?;
    let render = Arc::new(render);
    let cursor = Cursor {
        head: Some(head),
        ready: Some(first),
        after: 0,
        first: true,
        closing: (content_type == "application/json").then(|| "\n]\n".to_string()),
        done: false,
    };
    let chunks = futures::stream::unfold(cursor, move |mut cursor| {
        let (store, render) = (store.clone(), render.clone());
        async move {
            if cursor.done {
                return None;
            }
            if let Some(head) = cursor.head.take() {
                return Some((Ok(Bytes::from(head)), cursor));
            }
            let page = match cursor.ready.take() {
                Some(page) => Ok(page),
                None => store.export_contacts(cursor.after, EXPORT_PAGE).await,
            };
            match page {
                Ok(page) => match page.last() {
                    None => {
                        cursor.done = true;
                        let closing = cursor.closing.take()?;
                        Some((Ok(Bytes::from(closing)), cursor))
                    }
                    Some(last) => {
                        cursor.after = last.id;
                        let text = render(&page, cursor.first);
                        cursor.first = false;
                        Some((Ok(Bytes::from(text)), cursor))
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "a contact export failed mid-stream");
                    cursor.done = true;
                    Some((Err(std::io::Error::other(e.to_string())), cursor))
                }
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(chunks),
    )
        .into_response())
}
