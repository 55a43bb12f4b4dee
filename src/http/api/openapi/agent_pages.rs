//! The Insights page and its agent sections (issue 59), for `others::OTHERS`: the reads of
//! scored conversations and of what the agents could not answer under
//! `/sandbox/api/insights/…` (the API's `GET /api/insights/scores` and
//! `GET /api/insights/unanswered` without the key, by the sandbox's rules), and the two
//! scripts the page loads for them.

use super::query;
use super::sandbox::{local, on_this_machine, sandbox_error, unavailable};
use super::schema::{answer, json_answer, op, page, t};
use serde_json::{json, Value};

/// `since`, `until` and `flow`, as every Insights read takes them.
fn period_params() -> Vec<Value> {
    let time = json!({ "type": "string", "description": "RFC 3339 time or date (UTC midnight); the period is at most 366 days, by default the 7 days before `until` (now)" });
    vec![
        query("since", false, time.clone()),
        query("until", false, time),
        query(
            "flow",
            false,
            json!({ "type": "string", "maxLength": 200, "description": "only this flow" }),
        ),
    ]
}

/// A read of the page: `what` it answers, `api` the API route it mirrors.
fn read(id: &str, what: &str, api: &str) -> Value {
    let bad = "A time that does not read, `since` not before `until`, a period over 366 days, \
               a flow id over 200 characters, or a parameter given twice (the message names it)";
    let responses = json!({
        "200": json_answer(what, t("object")),
        "422": sandbox_error(bad, &["validation_error"]),
        "503": unavailable(true),
    });
    op(
        id,
        "insights",
        &format!("{what} (the Insights page's read)"),
        &on_this_machine(&format!("As `GET {api}`, without the API key."), false),
        period_params(),
        local(false, responses),
    )
}

pub(super) fn get_scores() -> Value {
    read(
        "get_sandbox_api_insights_scores",
        "Scored agent conversations: each flow's judge scores, criteria and worst transcripts",
        "/api/insights/scores",
    )
}

pub(super) fn get_unanswered() -> Value {
    read(
        "get_sandbox_api_insights_unanswered",
        "What the agents could not answer: questions no passage matched well enough",
        "/api/insights/unanswered",
    )
}

/// A script of the page, embedded in the binary.
fn script(id: &str, what: &str) -> Value {
    op(
        id,
        "insights",
        what,
        &on_this_machine(
            "JavaScript the Insights page loads after its own script.",
            false,
        ),
        vec![],
        local(
            false,
            json!({ "200": answer("The script", "text/javascript", t("string")) }),
        ),
    )
}

pub(super) fn get_scores_js() -> Value {
    script(
        "get_insights_scores_js",
        "The Insights page's agent scores section",
    )
}

pub(super) fn get_unanswered_js() -> Value {
    script(
        "get_insights_unanswered_js",
        "The Insights page's section of what the agents could not answer",
    )
}

/// The page itself.
pub(super) fn get_insights() -> Value {
    let responses = json!({
        "200": page("The page"),
        "403": sandbox_error("Not addressed to this machine while `sandbox.expose` is off", &["forbidden"]),
        "404": answer("The sandbox is off (the page is served with it): plain text saying why", "text/plain", t("string")),
    });
    op(
        "get_insights",
        "insights",
        "The Insights page: a funnel per flow",
        &on_this_machine(
            "A bar per step (entered, answered, timed out, invalid, dropped, errored, waiting), \
             what its messages became and cost, each flow's outcomes, a period picker and CSV \
             links, read from `/sandbox/api/insights/flows…`. Counts only, never a message or a \
             contact. Plain HTML, never framed.",
            false,
        ),
        vec![],
        responses,
    )
}
