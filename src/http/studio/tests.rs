//! A flow's tests, run from the page against the unsaved version: `POST
//! /studio/api/tests` `{"path", "text"}` runs the flow test files (`flows/tests/
//! *.test.yaml`, as `parley test` does, each on a fresh in-process Parley) with the text
//! standing in for the file, and answers each test passed or where it failed (its step,
//! line and column in the test file, and why).
//!
//! Which tests: those whose file name starts with the flow's id or whose text names it; all
//! of them when none does. Bounded: at most `MAX_TEST_FILES` files, `TESTS_TIMEOUT` for
//! the whole run (the tests not finished by then say so), on its own thread and runtime,
//! sharing the try-outs' limit of runs at once (429 when busy). Flows with errors answer
//! 422 with the problems, as a try does.

use super::super::api::body::Fields;
use super::super::error::Error;
use super::super::state::AppState;
use super::analysis::Unsaved;
use super::try_out::{crashed, prepare, Prepared};
use crate::config::Config;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most test files one run takes.
const MAX_TEST_FILES: usize = 50;
/// The longest a whole run may take.
const TESTS_TIMEOUT: Duration = Duration::from_secs(180);

/// `POST /studio/api/tests`.
pub(super) async fn run(State(st): State<AppState>, body: Bytes) -> Result<Response, Error> {
    let fields = Fields::parse(&body)?;
    let unsaved = Unsaved::read(&st.config, &fields).await?;
    unsaved.flow_only()?;
    let Prepared {
        runner,
        permit,
        overrides,
        flow_id,
        ..
    } = match prepare(&st, &unsaved).await? {
        Ok(prepared) => prepared,
        Err(refusal) => return Ok(refusal),
    };
    let config = st.config.as_ref().clone();
    // `flows/tests/…` as the page names files: the flows folder as the request named it.
    let shown = unsaved
        .path
        .split('/')
        .next()
        .unwrap_or("flows")
        .to_string();
    let ran = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let files = chosen(&config, &flow_id)?;
        Ok::<_, String>(runner.tests(config, files, overrides, shown, TESTS_TIMEOUT))
    })
    .await;
    match ran {
        Ok(Ok(tests)) => Ok(Json(json!({ "tests": tests })).into_response()),
        Ok(Err(message)) => Err(Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "TESTS_UNREADABLE",
            message,
        )),
        Err(e) => Err(crashed(e, "test run", &unsaved.path)),
    }
}

/// The test files of the flow `flow_id`: named after it or naming it, else all; at most
/// `MAX_TEST_FILES`.
fn chosen(config: &Config, flow_id: &str) -> Result<Vec<PathBuf>, String> {
    let dir = Path::new(&config.flows.dir).join("tests");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let all = crate::flows::test_files(&dir)?;
    let mine: Vec<PathBuf> = all
        .iter()
        .filter(|path| {
            let named = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(flow_id));
            named
                || crate::config::file_limits::read_limited(path)
                    .is_ok_and(|text| names(&text, flow_id))
        })
        .cloned()
        .collect();
    let mut files = if mine.is_empty() { all } else { mine };
    files.truncate(MAX_TEST_FILES);
    Ok(files)
}

/// Whether `text` names `id` as a word (not inside a longer name).
fn names(text: &str, id: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    text.match_indices(id).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + id.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

#[cfg(test)]
mod unit {
    use super::names;

    #[test]
    fn a_flow_id_is_named_as_a_whole_word_only() {
        assert!(names("# the welcome flow\n", "welcome"));
        assert!(names("goto_flow: welcome", "welcome"));
        assert!(!names("welcome_timeout", "welcome"));
        assert!(!names("unwelcome", "welcome"));
        assert!(!names("", "welcome"));
    }
}
