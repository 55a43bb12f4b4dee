//! A chat with the unsaved version of a flow: `POST /studio/api/try` `{"path", "text",
//! "messages": ["hi", "Ana"]}` starts a fresh Parley in this process (the command line's
//! driver, handed in as the state's `studio_runner`: the real app on a temporary SQLite
//! database, a manual clock, every sender sending through the sandbox) with the text
//! standing in for the file, replays the customer's messages in order and answers each
//! one's replies (with the buttons a customer could tap) and the steps it ran as the
//! graph's node ids, with the interpreter's decisions (the language and experiment arms
//! used, and why). Nothing on disk changes and the serving daemon never sees the
//! version being tried.
//!
//! The customer's language and forced arms may be chosen (`"language": "es"`, `"arms":
//! {"welcome/opening": "long"}`, issue 58): checked against what the tried flows offer
//! (`sandbox::choices`), refused with 422 naming what they do offer, and written on the
//! customer's contact before the first message. Every answer lists what may be chosen
//! (`offer`); with no messages, nothing is run and only that is answered.
//!
//! Bounded: at most `MAX_MESSAGES` messages of `MAX_MESSAGE_BYTES` each, `TRY_TIMEOUT`
//! for the whole run, `TRIES` runs at once (429 past them), each on its own thread with
//! its own runtime so the daemon's requests and workers never wait on it. A message that is the title of
//! a button or list row of the bot's last replies is sent as a tap on it, so flows that
//! trigger on a button id run as on a phone. Flows with errors answer 422 with the
//! problems.

use super::super::api::body::Fields;
use super::super::error::Error;
use super::super::state::AppState;
use super::super::state::StudioRunner;
use super::analysis::Unsaved;
use crate::flows::{Overrides, Problem};
use crate::sandbox::choices::{Offer, TryChoices};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Tries (and test runs) running at once; another is refused (429) rather than queued.
pub(super) static TRIES: Semaphore = Semaphore::const_new(2);
/// The most customer messages one try replays.
const MAX_MESSAGES: usize = 50;
/// The longest customer message, in bytes (WhatsApp's text limit).
const MAX_MESSAGE_BYTES: usize = 4096;
/// The longest a whole try may take, start to stop.
const TRY_TIMEOUT: Duration = Duration::from_secs(90);

/// `POST /studio/api/try`.
pub(super) async fn try_out(State(st): State<AppState>, body: Bytes) -> Result<Response, Error> {
    let fields = Fields::parse(&body)?;
    let unsaved = Unsaved::read(&st.config, &fields).await?;
    unsaved.flow_only()?;
    let messages = messages(&fields)?;
    let choices = choices(&body)?;
    if messages.is_empty() {
        return offered(&st, &unsaved).await;
    }
    let (
        Prepared {
            runner,
            permit,
            overrides,
            flow_id,
            problems: warnings,
        },
        offer,
    ) = match prepare_with(&st, &unsaved, &choices).await? {
        Ok(prepared) => prepared,
        Err(refusal) => return Ok(refusal),
    };
    let file = unsaved.loader_path.display().to_string();
    let config = st.config.as_ref().clone();
    let start = st.clock.now();
    let ran = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        runner.try_out(
            config,
            start,
            overrides,
            flow_id,
            messages,
            choices,
            TRY_TIMEOUT,
        )
    })
    .await;
    match ran {
        Ok(Ok(turns)) => {
            let answer = json!({ "turns": turns, "problems": warnings, "offer": offer });
            Ok(Json(answer).into_response())
        }
        Ok(Err(e)) => Err(Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "TRY_FAILED",
            format!("the try stopped: {e:#}"),
        )),
        Err(e) => Err(crashed(e, "try", &file)),
    }
}

/// A try with no messages: only what the flows loaded with `unsaved` offer to choose (the
/// page's pickers ask before the first message). Nothing runs, so no slot is taken.
async fn offered(st: &AppState, unsaved: &Unsaved) -> Result<Response, Error> {
    let overrides = Overrides::from([(unsaved.loader_path.clone(), unsaved.text.clone())]);
    let loaded = load(st, unsaved, &overrides).await?;
    if loaded.flow.is_none() {
        return Ok(refused(loaded.problems));
    }
    let answer = json!({ "turns": [], "problems": loaded.problems, "offer": loaded.offer });
    Ok(Json(answer).into_response())
}

/// What a try and a test run start from: the runner, one of the `TRIES` slots (held
/// until the run ends), the unsaved text standing in for its file, the flow it holds and
/// the project's warnings.
pub(super) struct Prepared {
    pub(super) runner: Arc<dyn StudioRunner>,
    pub(super) permit: tokio::sync::SemaphorePermit<'static>,
    pub(super) overrides: Overrides,
    pub(super) flow_id: String,
    pub(super) problems: Vec<Value>,
}

/// Takes a slot (429 when both are taken) and loads the project with `unsaved`; the
/// inner `Err` is the 422 answer when the flows have errors or the file holds no flow.
pub(super) async fn prepare(
    st: &AppState,
    unsaved: &Unsaved,
) -> Result<Result<Prepared, Response>, Error> {
    let prepared = prepare_with(st, unsaved, &TryChoices::default()).await?;
    Ok(prepared.map(|(prepared, _)| prepared))
}

/// As [`prepare`], with what the flows loaded with `unsaved` offer to choose, refusing
/// (422 on `language` or `arms`) a choice they do not offer.
async fn prepare_with(
    st: &AppState,
    unsaved: &Unsaved,
    choices: &TryChoices,
) -> Result<Result<(Prepared, Offer), Response>, Error> {
    let runner = runner(st)?;
    let permit = TRIES.try_acquire().map_err(|_| {
        Error::new(
            StatusCode::TOO_MANY_REQUESTS,
            "BUSY",
            "two tries or test runs are running already; send this one again when one has answered",
        )
    })?;
    let overrides = Overrides::from([(unsaved.loader_path.clone(), unsaved.text.clone())]);
    let loaded = load(st, unsaved, &overrides).await?;
    if loaded.flow.is_some() {
        loaded.offer.check(choices).map_err(|why| {
            let field = if why.starts_with("arms") {
                "arms"
            } else {
                "language"
            };
            Error::field(field, why)
        })?;
    }
    Ok(match loaded.flow {
        Some(flow_id) => Ok((
            Prepared {
                runner,
                permit,
                overrides,
                flow_id,
                problems: loaded.problems,
            },
            loaded.offer,
        )),
        None => Err(refused(loaded.problems)),
    })
}

/// A run's thread that panicked or was cancelled: logged, and a 500 without details.
pub(super) fn crashed(e: tokio::task::JoinError, what: &str, file: &str) -> Error {
    tracing::error!(error = %e, file, "a studio {what} failed");
    Error::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "internal error",
    )
}

/// The runner of fresh Parleys, which `parley serve` hands in.
pub(super) fn runner(st: &AppState) -> Result<Arc<dyn StudioRunner>, Error> {
    st.studio_runner.clone().ok_or_else(|| {
        Error::unavailable(
            "this Parley cannot start another to try flows in (only `parley serve` can); use `parley simulate` or `parley test`",
        )
    })
}

/// The customer's messages: a list of at most `MAX_MESSAGES` texts, none empty or longer
/// than `MAX_MESSAGE_BYTES`.
fn messages(fields: &Fields) -> Result<Vec<String>, Error> {
    let list = fields.opt_array("messages")?.ok_or_else(|| {
        Error::field(
            "messages",
            "`messages` is missing: the customer's messages, in order, like [\"hi\", \"Ana\"]",
        )
    })?;
    if list.len() > MAX_MESSAGES {
        return Err(Error::field(
            "messages",
            format!(
                "{} messages is more than a try replays ({MAX_MESSAGES}); try a shorter conversation",
                list.len()
            ),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| match m.as_str() {
            Some(s) if !s.trim().is_empty() && s.len() <= MAX_MESSAGE_BYTES => Ok(s.to_string()),
            Some(s) if !s.trim().is_empty() => Err(Error::field(
                "messages",
                format!("message {} is longer than {MAX_MESSAGE_BYTES} bytes, more than WhatsApp carries", i + 1),
            )),
            _ => Err(Error::field(
                "messages",
                format!("message {} must be a text that is not empty", i + 1),
            )),
        })
        .collect()
}

/// The customer's `language` (a code, or `null` for none) and `arms` (experiment → arm),
/// both optional: read as `sandbox::choices::TryChoices`.
fn choices(body: &Bytes) -> Result<TryChoices, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("invalid body: {e}")))?;
    let language = match value.get("language") {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) => Some(code.clone()),
        Some(_) => {
            return Err(Error::field(
                "language",
                "`language` must be a language code like \"es\", or null for none",
            ))
        }
    };
    let mut arms = std::collections::BTreeMap::new();
    match value.get("arms") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (experiment, arm) in map {
                let Some(arm) = arm.as_str() else {
                    return Err(Error::field(
                        "arms",
                        "`arms` maps each experiment to the name of an arm, like {\"welcome/opening\": \"long\"}",
                    ));
                };
                arms.insert(experiment.clone(), arm.to_string());
            }
        }
        Some(_) => {
            return Err(Error::field(
                "arms",
                "`arms` must be an object: experiment → arm, like {\"welcome/opening\": \"long\"}",
            ))
        }
    }
    Ok(TryChoices { language, arms })
}

/// The project loaded with an unsaved text: its flow's id (`None` when the flows have
/// errors or the file holds no flow) and every problem, files named as the page names them.
pub(super) struct Loaded {
    pub(super) flow: Option<String>,
    pub(super) problems: Vec<Value>,
    /// The languages and experiment arms the loaded flows offer.
    pub(super) offer: Offer,
}

/// Loads the project with the override for `unsaved` on a blocking thread.
pub(super) async fn load(
    st: &AppState,
    unsaved: &Unsaved,
    overrides: &Overrides,
) -> Result<Loaded, Error> {
    let config = st.config.clone();
    let overrides = overrides.clone();
    let file = unsaved.loader_path.display().to_string();
    // `flows/…` as the request named the flows folder.
    let shown = unsaved
        .path
        .split('/')
        .next()
        .unwrap_or("flows")
        .to_string();
    super::files::blocking(move || {
        let report = crate::flows::load_configured_with(&config, &overrides);
        let flows_dir = config.flows.dir.trim_end_matches('/');
        let problems = report
            .problems
            .iter()
            .map(|p| problem_json(p, flows_dir, &shown))
            .collect();
        let offer = report.set.as_ref().map(Offer::of).unwrap_or_default();
        let flow = report.set.and_then(|set| {
            set.flows()
                .iter()
                .chain(set.candidates())
                .find(|f| f.file == file)
                .map(|f| f.id.clone())
        });
        Ok(Loaded {
            flow,
            problems,
            offer,
        })
    })
    .await
}

fn problem_json(p: &Problem, flows_dir: &str, shown: &str) -> Value {
    let file = match p.file.strip_prefix(flows_dir) {
        Some(rest) if rest.starts_with('/') => format!("{shown}{rest}"),
        _ => p.file.clone(),
    };
    json!({
        "file": file,
        "line": p.line,
        "column": p.column,
        "severity": p.severity,
        "message": p.message,
        "hint": p.hint,
    })
}

/// 422 with the problems that keep the flows from loading.
pub(super) fn refused(problems: Vec<Value>) -> Response {
    let message = if problems.is_empty() {
        "this file holds no flow Parley loads".to_string()
    } else {
        "the flows have errors, so they cannot be run; fix the problems first".to_string()
    };
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "error": "flows_have_errors",
            "message": message,
            "problems": problems,
        })),
    )
        .into_response()
}
