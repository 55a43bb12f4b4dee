//! The scores report (issue 59), for `GET /api/insights/scores` and the Insights page: per
//! flow and agent step, the conversations scored in the period, their mean score, each
//! criterion's pass rate, the judge's cost, the rows still pending or skipped, and the
//! worst conversations with their transcripts (masked as the step's guardrails say) and
//! the judge's reasons.

use super::report::{self, Period};
use crate::http::api::body::Fields;
use crate::http::error::Error;
use crate::http::state::AppState;
use crate::store::ScoredRow;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The most (flow, step) groups in one answer.
pub const MAX_GROUPS: usize = 200;
/// The worst conversations shown per group.
pub const WORST: i64 = 5;

pub async fn report(st: &AppState, query: Option<&str>) -> Result<Response, Error> {
    let q = Fields::from_query(query);
    let flow = match q.opt_str("flow")? {
        Some(raw) => Some(report::flow_id(raw)?),
        None => None,
    };
    let period = Period::from_query(&q, st.clock.now())?;
    let (since, until) = period.bounds();
    let rows = st.store.scored_rows(since, until, flow).await?;
    let statuses = st.store.score_statuses(since, until, flow).await?;
    let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
    for r in &rows {
        groups
            .entry((r.flow.clone(), r.step.clone()))
            .or_default()
            .add(r);
    }
    for s in &statuses {
        if s.status != "scored" {
            let g = groups.entry((s.flow.clone(), s.step.clone())).or_default();
            g.statuses.insert(s.status.clone(), s.n);
        }
    }
    let truncated = groups.len() > MAX_GROUPS || rows.len() as i64 >= crate::store::MAX_SCORED_ROWS;
    let mut out = Vec::new();
    for ((flow, step), g) in groups.into_iter().take(MAX_GROUPS) {
        let worst = st
            .store
            .worst_scores(&flow, &step, since, until, WORST)
            .await?;
        out.push(g.json(&flow, &step, &worst));
    }
    Ok(Json(json!({
        "since": period.since.to_rfc3339(),
        "until": period.until.to_rfc3339(),
        "flows": out,
        "truncated": truncated,
    }))
    .into_response())
}

#[derive(Default)]
struct Group {
    scored: i64,
    sum: f64,
    tokens: i64,
    cost_micros: i64,
    /// criterion → (passed, judged), in first-seen order by `order`.
    criteria: BTreeMap<String, (i64, i64)>,
    order: Vec<String>,
    statuses: BTreeMap<String, i64>,
}

impl Group {
    fn add(&mut self, r: &ScoredRow) {
        self.scored += 1;
        self.sum += r.score;
        self.tokens += r.judge_tokens;
        self.cost_micros += r.judge_cost_micros;
        for v in verdicts(&r.verdicts) {
            let Some(c) = v["criterion"].as_str() else {
                continue;
            };
            if !self.criteria.contains_key(c) {
                self.order.push(c.to_string());
            }
            let e = self.criteria.entry(c.to_string()).or_default();
            e.1 += 1;
            if v["pass"].as_bool() == Some(true) {
                e.0 += 1;
            }
        }
    }

    fn json(&self, flow: &str, step: &str, worst: &[ScoredRow]) -> Value {
        let criteria: Vec<Value> = self
            .order
            .iter()
            .map(|c| {
                let (passed, judged) = self.criteria[c];
                json!({
                    "criterion": c,
                    "passed": passed,
                    "judged": judged,
                    "pass_rate": passed as f64 / judged.max(1) as f64,
                })
            })
            .collect();
        let worst: Vec<Value> = worst
            .iter()
            .map(|w| {
                json!({
                    "conversation_id": w.conversation_id,
                    "outcome": w.outcome,
                    "score": w.score,
                    "ended_at": micros_rfc3339(w.ended_us),
                    "verdicts": verdicts(&w.verdicts),
                    "transcript": w.transcript.as_deref()
                        .and_then(|t| serde_json::from_str::<Value>(t).ok())
                        .unwrap_or(Value::Array(vec![])),
                })
            })
            .collect();
        let statuses: Map<String, Value> = self
            .statuses
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        json!({
            "flow": flow,
            "step": step,
            "scored": self.scored,
            "mean_score": (self.scored > 0).then(|| self.sum / self.scored as f64),
            "criteria": criteria,
            "judge_tokens": self.tokens,
            "judge_cost": crate::domain::chat::dollars(self.cost_micros.max(0) as u64),
            "not_scored": statuses,
            "worst": worst,
        })
    }
}

fn verdicts(text: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(v)) => v,
        _ => Vec::new(),
    }
}

fn micros_rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}
