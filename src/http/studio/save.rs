//! Save (`POST /studio/api/save`), a file's saves (`GET /studio/api/history`) and restore
//! (`POST /studio/api/restore`).
//!
//! A save names the version of the file its author opened (`base_version`, the SHA-256 of
//! its bytes; null for a new file). Under the file's lock (`disk`), the file on disk is
//! compared with it: when someone saved since (or created the file), nothing is written
//! and the answer is 409 with both texts. Otherwise the text is written atomically
//! (`disk::write_atomically`) and recorded in the store (`FlowSaves`) with who saved it
//! (the guard's [`Editor`]), when, and the diff from the text it replaced. Then the flows
//! are loaded from disk as hot reload will load them (`flows::load_configured`): `loaded`
//! says whether they load cleanly, and the problems come back. A file with errors is saved
//! all the same and hot reload keeps running the flows before it. Only flows and flow
//! tests may be created; scripts, knowledge and rules files may only be changed.
//! A restore is a save of the text of an earlier save.

mod disk;

use super::files::{blocking, contents, version, Contents, Project, ProjectFile};
use super::guard::Editor;
use crate::config::file_limits::MAX_FILE_BYTES;
use crate::flows::{Problem, Severity};
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::store::{AuditVia, NewAuditEntry, NewFlowSave, MAX_FLOW_SAVES};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// The longest diff kept with a save; a longer one is cut.
const MAX_DIFF_BYTES: usize = 256 * 1024;
/// The longest a diff may take to work out; past it, the diff is coarser (whole blocks).
const DIFF_TIME: Duration = Duration::from_millis(500);
/// The most problems a save answers with.
const MAX_PROBLEMS: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveRequest {
    path: String,
    text: String,
    #[serde(default)]
    base_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreRequest {
    path: String,
    id: i64,
    #[serde(default)]
    base_version: Option<String>,
}

/// A request's JSON body, or a 400 saying what is wrong with it.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::bad_request(format!("invalid request: {e}")))
}

/// `POST /studio/api/save` `{"path", "text", "base_version"}`.
pub(super) async fn save(
    State(st): State<AppState>,
    Extension(editor): Extension<Editor>,
    bytes: Bytes,
) -> Result<Response, Error> {
    let request: SaveRequest = body(&bytes)?;
    write(
        &st,
        &editor,
        request.path,
        request.text,
        request.base_version,
    )
    .await
}

/// `POST /studio/api/restore` `{"path", "id", "base_version"}`: saves the text of save `id`.
pub(super) async fn restore(
    State(st): State<AppState>,
    Extension(editor): Extension<Editor>,
    bytes: Bytes,
) -> Result<Response, Error> {
    let request: RestoreRequest = body(&bytes)?;
    let earlier = st
        .store
        .flow_save(request.id)
        .await?
        .filter(|s| s.entry.path == request.path)
        .ok_or_else(|| {
            Error::not_found(format!(
                "`{}` has no save {} (see GET /studio/api/history?path={})",
                request.path, request.id, request.path
            ))
        })?;
    write(
        &st,
        &editor,
        request.path,
        earlier.text,
        request.base_version,
    )
    .await
}

/// `GET /studio/api/history?path=`: the file's saves, newest first, without their texts.
pub(super) async fn history(
    State(st): State<AppState>,
    Query(q): Query<super::files::PathQuery>,
) -> Result<Json<Value>, Error> {
    let config = st.config.clone();
    let path = q.path.clone();
    blocking(move || {
        let relative = super::files::relative(&path)?;
        match Project::of(&config)?.kind(&relative) {
            Some(_) => Ok(()),
            None => Err(Error::not_found(format!(
                "`{path}` is not one of the files the studio edits"
            ))),
        }
    })
    .await?;
    let saves = st.store.flow_saves(&q.path, MAX_FLOW_SAVES).await?;
    Ok(Json(json!({ "saves": saves })))
}

/// What became of a save once the file's lock was held.
enum Outcome {
    /// The file changed since the author opened it: what is on disk now (`None`: no file).
    Conflict(Option<Contents>),
    /// The text is what the file holds already: nothing written, nothing recorded.
    Unchanged,
    /// Written over `previous` (`None`: a new file).
    Written { previous: Option<Contents> },
}

/// Saves `text` as `path` when the file is still at `base` (see the module's doc).
async fn write(
    st: &AppState,
    editor: &Editor,
    path: String,
    text: String,
    base: Option<String>,
) -> Result<Response, Error> {
    check_text(&text)?;
    if let Some(b) = &base {
        if b.len() != 64 || !b.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::field(
                "base_version",
                "base_version is the `version` GET /studio/api/file gave (64 hex digits), or null for a new file",
            ));
        }
    }
    let config = st.config.clone();
    let named = path.clone();
    let file = blocking(move || Project::of(&config)?.file(&named)).await?;
    if !file.exists && !file.kind.may_be_created() {
        return Err(Error::not_found(format!(
            "`{path}` does not exist, and the studio creates only flows and flow tests"
        )));
    }
    let lock = disk::lock(&file.place).await;
    let outcome = {
        let (file, text, base) = (file.clone(), text.clone(), base.clone());
        blocking(move || write_unless_changed(&file, &text, base.as_deref())).await?
    };
    let previous = match outcome {
        Outcome::Conflict(theirs) => return Ok(conflict(&path, theirs, text)),
        Outcome::Unchanged => None,
        Outcome::Written { previous } => Some(previous),
    };
    let saved = version(text.as_bytes());
    let recorded = match previous {
        Some(previous) => Some(record(st, editor, &file, &text, &saved, previous).await),
        None => None,
    };
    drop(lock);
    let config = st.config.clone();
    let report = blocking(move || {
        let report = crate::flows::load_configured(&config);
        let root = Project::of(&config).ok();
        Ok((report.set.is_some(), problems(&report.problems, root)))
    })
    .await?;
    let (clean, problems) = report;
    let hot_reload = st.config.flows.hot_reload;
    Ok(Json(json!({
        "version": saved,
        "changed": recorded.is_some(),
        "id": recorded.flatten(),
        "recorded": recorded.is_none_or(|r| r.is_some()),
        "loaded": clean && hot_reload,
        "hot_reload": hot_reload,
        "problems": problems,
    }))
    .into_response())
}

/// A text the studio may write: at most [`MAX_FILE_BYTES`], no NUL.
fn check_text(text: &str) -> Result<(), Error> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "the text is larger than {} KiB, the most Parley reads of a file; split it into several files",
                MAX_FILE_BYTES / 1024
            ),
        ));
    }
    if let Some(at) = text.find('\0') {
        let line = text[..at].lines().count().max(1);
        return Err(Error::field(
            "text",
            format!("the text has a NUL character (line {line}); take it out"),
        ));
    }
    Ok(())
}

/// Under the file's lock: compares the file with `base` and writes `text` when they agree.
fn write_unless_changed(
    file: &ProjectFile,
    text: &str,
    base: Option<&str>,
) -> Result<Outcome, Error> {
    let current = if file.exists && file.place.exists() {
        Some(contents(&file.place, &file.path)?)
    } else {
        None
    };
    let same = match (base, &current) {
        (None, None) => true,
        (Some(b), Some(c)) => b.eq_ignore_ascii_case(&c.version),
        _ => false,
    };
    if !same {
        return Ok(Outcome::Conflict(current));
    }
    if current
        .as_ref()
        .is_some_and(|c| c.version == version(text.as_bytes()))
    {
        return Ok(Outcome::Unchanged);
    }
    match disk::write_atomically(&file.place, text.as_bytes(), current.is_some()) {
        Ok(()) => Ok(Outcome::Written { previous: current }),
        // Created by someone else (another process) since it was looked at.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(Outcome::Conflict(contents(&file.place, &file.path).ok()))
        }
        Err(e) => {
            tracing::error!(path = %file.path, error = %e, "a studio save could not be written");
            Err(Error::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "NOT_WRITTEN",
                format!("`{}` could not be written: {e}", file.path),
            ))
        }
    }
}

/// 409: the file changed since `base_version`; both texts, for the author to merge.
fn conflict(path: &str, theirs: Option<Contents>, yours: String) -> Response {
    let message = match &theirs {
        Some(_) => format!(
            "`{path}` was changed by someone else since you opened it; nothing was saved. \
             Compare your text with theirs, then save again over their version"
        ),
        None => format!(
            "`{path}` was deleted since you opened it; nothing was saved. Save it as a new \
             file (no base version) to create it again"
        ),
    };
    tracing::warn!(%path, "a studio save over a newer version refused");
    let theirs = theirs.map(|c| json!({ "text": c.text, "version": c.version }));
    (
        StatusCode::CONFLICT,
        Json(json!({
            "error": "conflict",
            "message": message,
            "theirs": theirs,
            "yours": { "text": yours },
        })),
    )
        .into_response()
}

/// Records a written save; its id, or `None` when the store failed (the file is written
/// all the same: the failure is logged and the answer says `recorded: false`).
async fn record(
    st: &AppState,
    editor: &Editor,
    file: &ProjectFile,
    text: &str,
    saved: &str,
    previous: Option<Contents>,
) -> Option<i64> {
    let (old, new, path) = (
        previous
            .as_ref()
            .map(|c| c.text.clone())
            .unwrap_or_default(),
        text.to_string(),
        file.path.clone(),
    );
    let diff = blocking(move || Ok(diff(&path, &old, &new)))
        .await
        .unwrap_or_default();
    let save = NewFlowSave {
        path: file.path.clone(),
        at: st.clock.now(),
        who: editor.0.clone(),
        version: saved.to_string(),
        previous: previous.map(|c| c.version),
        text: text.to_string(),
        diff,
    };
    match st.store.record_flow_save(&save).await {
        Ok(id) => {
            tracing::info!(path = %save.path, who = %save.who, id, "flow file saved from the studio");
            let mut entry = NewAuditEntry::new(
                save.at.timestamp_millis(),
                &save.who,
                AuditVia::Page,
                "studio.save",
            );
            entry.target = Some(save.path.clone());
            entry.detail =
                json!({ "save_id": id, "version": save.version, "previous": save.previous });
            crate::http::api::audit::record(st, entry).await;
            Some(id)
        }
        Err(e) => {
            tracing::error!(path = %save.path, error = %e, "a studio save was written but not recorded");
            None
        }
    }
}

/// The unified diff from `old` to `new`, cut at [`MAX_DIFF_BYTES`].
fn diff(path: &str, old: &str, new: &str) -> String {
    let mut text = similar::TextDiff::configure()
        .timeout(DIFF_TIME)
        .diff_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    if text.len() > MAX_DIFF_BYTES {
        let mut cut = MAX_DIFF_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n… (the diff is cut here: it is longer than 256 KiB)\n");
    }
    text
}

/// The problems of a load in the studio's shape, with files named from the project
/// folder (`flows/welcome.yaml`) when they are in it.
fn problems(list: &[Problem], root: Option<Project>) -> Vec<Value> {
    let name = |file: &str| {
        let inside = root.as_ref().and_then(|p| {
            let full = std::fs::canonicalize(file).ok()?;
            p.relative_name(&full)
        });
        inside.unwrap_or_else(|| file.to_string())
    };
    list.iter()
        .take(MAX_PROBLEMS)
        .map(|p| {
            json!({
                "file": name(&p.file),
                "line": p.line,
                "column": p.column,
                "end_line": p.line,
                "end_column": p.column,
                "severity": match p.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                "message": p.message,
                "hint": p.hint,
                "fixes": [],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_names_the_file_and_is_bounded() {
        let d = diff("flows/a.yaml", "id: a\nsteps: []\n", "id: a\nsteps: [x]\n");
        assert!(
            d.starts_with("--- a/flows/a.yaml\n+++ b/flows/a.yaml\n"),
            "{d}"
        );
        assert!(d.contains("-steps: []\n+steps: [x]\n"), "{d}");
        let big: String = (0..40_000).map(|i| format!("line {i}\n")).collect();
        let d = diff("flows/a.yaml", "", &big);
        assert!(d.len() < MAX_DIFF_BYTES + 100, "{}", d.len());
        assert!(d.ends_with("longer than 256 KiB)\n"));
    }

    #[test]
    fn texts_too_large_or_with_nul_are_refused() {
        assert!(check_text("id: a\n").is_ok());
        let e = check_text("id: a\nb\0").unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
        let big = "a".repeat(MAX_FILE_BYTES as usize + 1);
        assert_eq!(
            check_text(&big).unwrap_err().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
