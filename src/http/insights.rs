//! Flow insights over HTTP: `GET /api/insights/flows` and `GET /api/insights/flows/{flow}`
//! (API key, through the API's router; `?format=csv` for CSV), and the Insights page,
//! `GET /insights`, a funnel per flow, with the same reads under `/sandbox/api/insights/…`
//! for it. The page and its reads follow the sandbox page's rules: no API key, served only
//! while the sandbox is (a sandbox sender, `sandbox.enabled`, loopback unless
//! `sandbox.expose`, a loopback `Host` and `Origin`, never framed); they show counts
//! only, never a message or a contact.
//!
//! What the counts mean is in `domain::insight`; `report` arranges them.

pub(super) mod experiments;
pub(super) mod report;
pub(super) mod scores;
pub(super) mod unanswered;

use super::api::body::Fields;
use super::error::{Error, PathParam};
use super::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use report::Period;
use serde_json::Value;

/// The page and its reads, while the sandbox is served.
pub fn router(state: &AppState) -> Router<AppState> {
    if !state.sandbox.serves_http() {
        return Router::new();
    }
    Router::new()
        .route("/insights", get(page))
        .route("/sandbox/api/insights/flows", get(flows))
        .route("/sandbox/api/insights/flows/{flow}", get(flow))
        .route("/sandbox/api/insights/experiments", get(experiments_report))
        .route("/sandbox/api/insights/scores", get(scores_report))
        .route("/sandbox/api/insights/unanswered", get(unanswered_report))
        .route(
            "/insights/scores.js",
            get(|| script(include_str!("insights/scores.js"))),
        )
        .route(
            "/insights/unanswered.js",
            get(|| script(include_str!("insights/unanswered.js"))),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::local_pages::loopback_only,
        ))
        .layer(axum::middleware::from_fn(super::error::render_errors))
}

/// A script of the page's sections, embedded in the binary.
async fn script(body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    super::local_pages::page_response(include_str!("insights/page.html"))
}

/// How a report is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

impl Format {
    fn from_query(q: &Fields) -> Result<Self, Error> {
        match q.opt_str("format")?.unwrap_or("json") {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(Error::field(
                "format",
                format!(
                    "`{}` is not a format; use json or csv",
                    other.chars().take(20).collect::<String>()
                ),
            )),
        }
    }

    fn answer(self, report: Value, csv: fn(&Value) -> String, file: &str) -> Response {
        match self {
            Format::Json => Json(report).into_response(),
            Format::Csv => (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{file}\""),
                    ),
                ],
                csv(&report),
            )
                .into_response(),
        }
    }
}

/// `GET …/insights/flows?since=&until=&format=`: each flow's outcomes over the period.
pub async fn flows(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let q = Fields::from_query(query.as_deref());
    let format = Format::from_query(&q)?;
    let period = Period::from_query(&q, st.clock.now())?;
    let (first, end) = period.hours();
    let sums = st.store.flow_insights(first, end, None).await?;
    let (since, until) = period.bounds();
    let deliveries = st.store.step_deliveries(since, until, None).await?;
    let report = report::flows(&st.engine.flows(), &sums, &deliveries, &period);
    Ok(format.answer(report, report::flows_csv, "flows.csv"))
}

/// `GET …/insights/flows/{flow}?since=&until=&format=`: the flow's outcomes and steps.
pub async fn flow(
    State(st): State<AppState>,
    PathParam(raw): PathParam,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let q = Fields::from_query(query.as_deref());
    let id = report::flow_id(&raw)?;
    let format = Format::from_query(&q)?;
    let period = Period::from_query(&q, st.clock.now())?;
    let (first, end) = period.hours();
    let sums = st.store.flow_insights(first, end, Some(id)).await?;
    let (since, until) = period.bounds();
    let deliveries = st.store.step_deliveries(since, until, Some(id)).await?;
    let Some(report) = report::flow(&st.engine.flows(), id, &sums, &deliveries, &period) else {
        return Err(Error::not_found(format!(
            "no flow `{}` is loaded or was counted in this period; see GET /api/flows for the ids",
            id.chars().take(60).collect::<String>()
        )));
    };
    Ok(format.answer(report, report::flow_csv, "steps.csv"))
}

/// `GET …/insights/experiments?since=&until=&flow=`: each experiment's arms compared
/// (`experiments::report`), only `flow`'s experiments when given.
pub async fn experiments_report(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let q = Fields::from_query(query.as_deref());
    let flow = match q.opt_str("flow")? {
        Some(raw) => Some(report::flow_id(raw)?),
        None => None,
    };
    let period = Period::from_query(&q, st.clock.now())?;
    let (first, end) = period.hours();
    let sums = st.store.experiment_insights(first, end, flow).await?;
    // Each experiment's messages' cost, by arm (`ExperimentInsights::arm_costs`).
    let (since, until) = period.bounds();
    let mut costs = experiments::Costs::new();
    let mut names: Vec<&str> = sums.rows.iter().map(|r| r.experiment.as_str()).collect();
    names.dedup();
    for name in names.into_iter().take(experiments::MAX_EXPERIMENTS) {
        for c in st.store.arm_costs(since, until, name).await? {
            costs.insert((name.to_string(), c.arm), c.predicted_micros);
        }
    }
    let report = experiments::report(&st.engine.flows(), &sums, &costs, &period);
    Ok(Json::<Value>(report).into_response())
}

/// `GET …/insights/scores?since=&until=&flow=`: scored agent conversations
/// (`scores::report`), only `flow`'s when given.
pub async fn scores_report(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    scores::report(&st, query.as_deref()).await
}

/// `GET …/insights/unanswered?since=&until=&flow=`: what the agents could not answer
/// (`unanswered::report`), only `flow`'s when given.
pub async fn unanswered_report(
    State(st): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    unanswered::report(&st, query.as_deref()).await
}
