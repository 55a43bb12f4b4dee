//! Problems, completion, hover and the graph of an unsaved text: `POST /studio/api/check`,
//! `/complete` and `/hover`, each `{"path", "text"}` (and `line`, `column` for the last
//! two). The daemon's one `studio::analysis::Project` answers, on a blocking thread (a
//! slow or huge text never holds up the runtime), at most `ANALYSES` at a time; a text is
//! at most `MAX_FILE_BYTES`, as the loader reads files.
//!
//! Also the request's reading shared with `try_out.rs` and `tests.rs` ([`Unsaved`]): the
//! path checked as the files room checks it, and the name the loader gives that file.

use super::super::api::body::Fields;
use super::super::error::Error;
use super::super::state::AppState;
use super::files::{blocking, Kind, Project as Files};
use crate::config::file_limits::MAX_FILE_BYTES;
use crate::config::Config;
use crate::studio::analysis::{Diagnostic, Pos};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Analyses running at once; more wait their turn (the machine's cores, not the pool's
/// hundreds of blocking threads).
static ANALYSES: Semaphore = Semaphore::const_new(4);

/// The farthest line or column a request may point at.
const MAX_PLACE: i64 = 10_000_000;

/// A text being typed and the file it stands in for.
pub(super) struct Unsaved {
    /// As the request named it: `flows/welcome.yaml`.
    pub(super) path: String,
    /// As the loader names the file (`flows.dir` joined with its name), which the
    /// analysis and the loader's overrides key on.
    pub(super) loader_path: PathBuf,
    pub(super) kind: Kind,
    pub(super) text: String,
}

impl Unsaved {
    /// Reads `path` and `text` from `fields`: the path one of the project's files (it may
    /// not exist yet), the text at most `MAX_FILE_BYTES` (413 past it).
    pub(super) async fn read(config: &Arc<Config>, fields: &Fields) -> Result<Self, Error> {
        let path = fields.str("path")?.to_string();
        let text = fields.str("text")?.to_string();
        if text.len() as u64 > MAX_FILE_BYTES {
            return Err(Error::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TEXT_TOO_LARGE",
                format!(
                    "the text is larger than {} KiB, the most Parley reads from a file; split the flow into smaller flows (`goto_flow`)",
                    MAX_FILE_BYTES / 1024
                ),
            ));
        }
        let config = config.clone();
        let named = path.clone();
        let (kind, loader_path) = blocking(move || {
            let file = Files::of(&config)?.file(&named)?;
            Ok((file.kind, loader_path(&config, &named)))
        })
        .await?;
        Ok(Self {
            path,
            loader_path,
            kind,
            text,
        })
    }

    /// Refuses anything but a flow file (trying and testing run flows).
    pub(super) fn flow_only(&self) -> Result<(), Error> {
        if self.kind == Kind::Flow {
            return Ok(());
        }
        Err(Error::bad_request(format!(
            "`{}` is not a flow file: only flows (flows/*.yaml) can be tried and tested",
            self.path
        )))
    }
}

/// `flows/sub/welcome.yaml` as the loader names it: `flows.dir` joined with the part after
/// the flows folder's name (`sub/welcome.yaml`). Other files keep their relative name.
fn loader_path(config: &Config, path: &str) -> PathBuf {
    let dir = Path::new(&config.flows.dir);
    let name = std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(PathBuf::from))
        .or_else(|| dir.file_name().map(PathBuf::from));
    match name.and_then(|n| Path::new(path).strip_prefix(n).ok().map(Path::to_path_buf)) {
        Some(rest) => dir.join(rest),
        None => PathBuf::from(path),
    }
}

/// Runs `f` with the project on a blocking thread, one of `ANALYSES`.
pub(super) async fn analyse<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&crate::studio::analysis::Project) -> T + Send + 'static,
) -> Result<T, Error> {
    let _turn = ANALYSES
        .acquire()
        .await
        .map_err(|_| Error::unavailable("the studio is shutting down"))?;
    let project = st.studio.clone();
    blocking(move || Ok(f(&project))).await
}

/// The problems as the page reads them (lines and columns 1-based, ends exclusive).
pub(super) fn problems_json(diagnostics: &[Diagnostic]) -> Vec<Value> {
    diagnostics
        .iter()
        .map(|d| {
            let p = &d.problem;
            let fixes: Vec<Value> = d
                .fixes
                .iter()
                .map(|f| {
                    json!({
                        "title": f.title,
                        "line": f.start.line,
                        "column": f.start.column,
                        "end_line": f.end.line,
                        "end_column": f.end.column,
                        "replacement": f.replacement,
                    })
                })
                .collect();
            json!({
                "line": p.line,
                "column": p.column,
                "end_line": d.end.line,
                "end_column": d.end.column,
                "severity": p.severity,
                "message": p.message,
                "hint": p.hint,
                "fixes": fixes,
            })
        })
        .collect()
}

/// `POST /studio/api/check`: the file's problems, and its graph when it compiles.
pub(super) async fn check(State(st): State<AppState>, body: Bytes) -> Result<Json<Value>, Error> {
    let fields = Fields::parse(&body)?;
    let unsaved = Unsaved::read(&st.config, &fields).await?;
    if unsaved.kind == Kind::Test {
        return test_file(&st, unsaved).await;
    }
    let window = st.config.window.duration;
    let (diagnostics, graph) = analyse(&st, move |project| {
        let diagnostics = project.check(&unsaved.loader_path, &unsaved.text);
        let graph = (unsaved.kind == Kind::Flow)
            .then(|| project.compiled(&unsaved.loader_path, &unsaved.text))
            .flatten()
            .map(|flow| crate::studio::drawing::draw_for(&flow, window));
        (diagnostics, graph)
    })
    .await?;
    Ok(Json(
        json!({ "problems": problems_json(&diagnostics), "graph": graph }),
    ))
}

/// The problem of a flow test file (the test format belongs to `parley test`, whose
/// reader the command line hands in with the studio's runner); no graph.
async fn test_file(st: &AppState, unsaved: Unsaved) -> Result<Json<Value>, Error> {
    let Some(runner) = st.studio_runner.clone() else {
        return Ok(Json(json!({ "problems": [], "graph": null })));
    };
    let problem = analyse(st, move |_| {
        let (line, column, message) = runner.test_file_problem(&unsaved.text)?;
        // The rest of the line is marked: the reader knows where a mistake starts only.
        let rest = unsaved
            .text
            .lines()
            .nth(line.saturating_sub(1))
            .map_or(0, |l| l.chars().count());
        let column = column.unwrap_or(1);
        Some(json!({
            "line": line,
            "column": column,
            "end_line": line,
            "end_column": (rest + 1).max(column + 1),
            "severity": "error",
            "message": message,
            "hint": null,
            "fixes": [],
        }))
    })
    .await?;
    Ok(Json(
        json!({ "problems": problem.into_iter().collect::<Vec<_>>(), "graph": null }),
    ))
}

/// `POST /studio/api/complete`: what may be typed at `line`, `column`.
pub(super) async fn complete(
    State(st): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, Error> {
    let fields = Fields::parse(&body)?;
    let unsaved = Unsaved::read(&st.config, &fields).await?;
    let at = place(&fields)?;
    let completions = analyse(&st, move |project| {
        project.complete(&unsaved.loader_path, &unsaved.text, at)
    })
    .await?;
    Ok(Json(json!(completions)))
}

/// `POST /studio/api/hover`: the reference text of the word at `line`, `column`.
pub(super) async fn hover(State(st): State<AppState>, body: Bytes) -> Result<Json<Value>, Error> {
    let fields = Fields::parse(&body)?;
    let unsaved = Unsaved::read(&st.config, &fields).await?;
    let at = place(&fields)?;
    let text = analyse(&st, move |project| {
        project.hover(&unsaved.loader_path, &unsaved.text, at)
    })
    .await?;
    Ok(Json(json!({ "text": text })))
}

/// `line` and `column` of the request, 1-based.
fn place(fields: &Fields) -> Result<Pos, Error> {
    let mut at = [0usize; 2];
    for (slot, name) in at.iter_mut().zip(["line", "column"]) {
        let n = fields.int(name)?;
        if n < 1 {
            return Err(Error::field(
                name,
                format!("`{name}` counts from 1 (the first {name} of the file is 1)"),
            ));
        }
        if n > MAX_PLACE {
            return Err(Error::field(
                name,
                format!(
                    "`{name}` {n} is past the end of any file Parley reads (at most {MAX_PLACE})"
                ),
            ));
        }
        *slot = n as usize;
    }
    Ok(Pos {
        line: at[0],
        column: at[1],
    })
}
