//! Flow insights as people read them: the period a request asks for (`Period`), and the
//! stored sums arranged per flow (`flows`) or per step of one flow in the flow's order
//! (`flow`), as JSON or CSV. Shared by `GET /api/insights/…` and the Insights page.

use crate::domain::contact_file::csv_value;
use crate::domain::insight::{hour_of, Outcome, StepCount};
use crate::domain::pricing::rate_card::format_micros;
use crate::flows::{Flow, FlowSet};
use crate::http::api::body::Fields;
use crate::http::error::Error;
use crate::store::{InsightRow, InsightSums, StepDelivery};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The longest period one request may ask for.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// The period when `since` is not given: the 7 days before `until`.
pub const DEFAULT_PERIOD_DAYS: i64 = 7;
/// The longest flow id a request may name.
pub const MAX_FLOW_ID: usize = crate::flows::compile::MAX_FLOW_ID;

/// The hours a request covers: from the start of `since`'s hour up to `until` (the hour
/// `until` falls in is included unless `until` is on the hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Period {
    /// From `since` and `until` (RFC 3339 times or dates, UTC midnight), by default the
    /// last 7 days up to `now`.
    pub fn from_query(q: &Fields, now: DateTime<Utc>) -> Result<Self, Error> {
        let until = match q.opt_str("until")? {
            Some(s) => parse_time("until", s)?,
            None => now,
        };
        let since = match q.opt_str("since")? {
            Some(s) => parse_time("since", s)?,
            None => until - Duration::days(DEFAULT_PERIOD_DAYS),
        };
        if since >= until {
            return Err(Error::field(
                "since",
                "`since` must be before `until`; give a period like since=2026-11-01&until=2026-11-08",
            ));
        }
        if until - since > Duration::days(MAX_PERIOD_DAYS) {
            return Err(Error::field(
                "since",
                format!("the period is longer than {MAX_PERIOD_DAYS} days; ask for a shorter one"),
            ));
        }
        Ok(Self { since, until })
    }

    /// The first hour counted and the hour after the last, as the store keys them.
    pub fn hours(&self) -> (i64, i64) {
        let first = hour_of(self.since);
        let end = hour_of(self.until);
        let last = if end == self.until.timestamp() && self.until.timestamp_subsec_nanos() == 0 {
            end
        } else {
            end + 3600
        };
        (first, last)
    }

    /// The hours of `hours` as times: the messages a report counts were queued in them.
    pub fn bounds(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let (first, end) = self.hours();
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
        (at(first), at(end))
    }

    pub(super) fn json(&self) -> (String, String) {
        let (a, b) = self.hours();
        let at = |s: i64| {
            DateTime::from_timestamp(s, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        (at(a), at(b))
    }
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, Error> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc());
        }
    }
    let shown: String = s.chars().take(40).collect();
    Err(Error::field(
        field,
        format!("`{shown}` is not a time; write it like 2026-11-01T00:00:00Z or 2026-11-01"),
    ))
}

/// A flow id from a request path: non-empty, at most `MAX_FLOW_ID` characters.
pub fn flow_id(raw: &str) -> Result<&str, Error> {
    if raw.is_empty() || raw.chars().count() > MAX_FLOW_ID {
        return Err(Error::field(
            "flow",
            format!("a flow id is 1 to {MAX_FLOW_ID} characters; see GET /api/flows for the ids"),
        ));
    }
    Ok(raw)
}

/// Counters by name, zero when absent.
type Counters = BTreeMap<String, i64>;

fn get(c: &Counters, name: &str) -> i64 {
    c.get(name).copied().unwrap_or(0)
}

/// The stored sums by flow, then step (`""`: the flow's outcomes).
fn by_flow(rows: &[InsightRow]) -> BTreeMap<&str, BTreeMap<&str, Counters>> {
    let mut out: BTreeMap<&str, BTreeMap<&str, Counters>> = BTreeMap::new();
    for r in rows {
        *out.entry(&r.flow)
            .or_default()
            .entry(&r.step)
            .or_default()
            .entry(r.what.clone())
            .or_default() += r.n;
    }
    out
}

/// A flow's outcomes: every `Outcome` and `in_progress` (started but not ended within the
/// period; never below zero).
fn outcomes(c: &Counters) -> Map<String, Value> {
    let mut m = Map::new();
    let mut ended = 0;
    for o in Outcome::ALL {
        let n = get(c, o.as_str());
        if o != Outcome::Started {
            ended += n;
        }
        m.insert(o.as_str().into(), json!(n));
    }
    m.insert(
        "in_progress".into(),
        json!((get(c, Outcome::Started.as_str()) - ended).max(0)),
    );
    m
}

/// A step's counts: every `StepCount` and `waiting` (entered but not left within the
/// period; never below zero).
fn step_counts(c: &Counters) -> Map<String, Value> {
    let mut m = Map::new();
    let mut left = 0;
    for s in StepCount::ALL {
        let n = get(c, s.as_str());
        if s != StepCount::Entered {
            left += n;
        }
        m.insert(s.as_str().into(), json!(n));
    }
    m.insert(
        "waiting".into(),
        json!((get(c, StepCount::Entered.as_str()) - left).max(0)),
    );
    m
}

/// What messages did, by flow then by the step label they record.
fn deliveries_by_flow(rows: &[StepDelivery]) -> BTreeMap<&str, BTreeMap<&str, &StepDelivery>> {
    let mut out: BTreeMap<&str, BTreeMap<&str, &StepDelivery>> = BTreeMap::new();
    for r in rows {
        out.entry(&r.flow).or_default().insert(&r.step, r);
    }
    out
}

/// The names `delivery` adds, in CSV order.
const DELIVERY_FIELDS: [&str; 10] = [
    "messages",
    "sent",
    "delivered",
    "read",
    "failed",
    "delivery_rate",
    "read_rate",
    "predicted",
    "actual",
    "predicted_micros",
];

/// A step's (or a flow's) messages: how many it queued, sent, got delivered and read, and
/// failed; the delivery and read rates of those sent (`null` when none was); the cost the
/// ledger predicts (messages not failed) and the cost by the statuses' `pricing`.
fn delivery(rows: &[&StepDelivery]) -> Map<String, Value> {
    let mut t = StepDelivery::default();
    for r in rows {
        t.messages += r.messages;
        t.sent += r.sent;
        t.delivered += r.delivered;
        t.read += r.read;
        t.failed += r.failed;
        t.predicted_micros = t.predicted_micros.saturating_add(r.predicted_micros);
        t.actual_micros = t.actual_micros.saturating_add(r.actual_micros);
    }
    let rate = |n: i64| {
        if t.sent == 0 {
            Value::Null
        } else {
            json!((n as f64 / t.sent as f64 * 10_000.0).round() / 10_000.0)
        }
    };
    let mut m = Map::new();
    m.insert("messages".into(), json!(t.messages));
    m.insert("sent".into(), json!(t.sent));
    m.insert("delivered".into(), json!(t.delivered));
    m.insert("read".into(), json!(t.read));
    m.insert("failed".into(), json!(t.failed));
    m.insert("delivery_rate".into(), rate(t.delivered));
    m.insert("read_rate".into(), rate(t.read));
    m.insert("predicted".into(), json!(format_micros(t.predicted_micros)));
    m.insert("actual".into(), json!(format_micros(t.actual_micros)));
    m.insert("predicted_micros".into(), json!(t.predicted_micros));
    m.insert("actual_micros".into(), json!(t.actual_micros));
    m
}

/// `GET …/insights/flows`: every loaded flow (zeros included) and every flow with counts in
/// the period, by id, with its outcomes.
pub fn flows(
    set: &FlowSet,
    sums: &InsightSums,
    deliveries: &[StepDelivery],
    period: &Period,
) -> Value {
    let stored = by_flow(&sums.rows);
    let sent = deliveries_by_flow(deliveries);
    let mut ids: Vec<&str> = set.flows().iter().map(|f| f.id.as_str()).collect();
    ids.extend(stored.keys().copied());
    ids.extend(sent.keys().copied());
    ids.sort_unstable();
    ids.dedup();
    let empty = Counters::new();
    let flows: Vec<Value> = ids
        .iter()
        .map(|id| {
            let counters = stored.get(id).and_then(|s| s.get("")).unwrap_or(&empty);
            let mut row = Map::new();
            row.insert("flow".into(), json!(id));
            row.insert("loaded".into(), json!(set.get(id).is_some()));
            row.extend(outcomes(counters));
            let steps: Vec<&StepDelivery> = sent
                .get(id)
                .map(|s| s.values().copied().collect())
                .unwrap_or_default();
            row.extend(delivery(&steps));
            Value::Object(row)
        })
        .collect();
    let (since, until) = period.json();
    json!({
        "success": true,
        "since": since,
        "until": until,
        "flows": flows,
        "truncated": sums.truncated,
    })
}

/// `GET …/insights/flows/{flow}`: the flow's outcomes and its steps in the flow's order
/// (nested steps right after the step they are written in), each with its counts; steps
/// counted in the period that the loaded flow no longer has follow as `former_steps`.
/// `None` when the flow is neither loaded nor counted.
pub fn flow(
    set: &FlowSet,
    id: &str,
    sums: &InsightSums,
    deliveries: &[StepDelivery],
    period: &Period,
) -> Option<Value> {
    let stored = by_flow(&sums.rows);
    let loaded = set.get(id);
    let mine = stored.get(id);
    let sent = deliveries_by_flow(deliveries);
    let my_sent = sent.get(id);
    if loaded.is_none() && mine.is_none() && my_sent.is_none() {
        return None;
    }
    // A step's messages record its `id`, or its place (`step 2 (line 17)`).
    let sent_by = |label: &str| -> Vec<&StepDelivery> {
        my_sent
            .and_then(|s| s.get(label))
            .map(|d| vec![*d])
            .unwrap_or_default()
    };
    let mut labels_shown = std::collections::HashSet::new();
    let empty = Counters::new();
    let counters = |key: &str| mine.and_then(|s| s.get(key)).unwrap_or(&empty);
    let mut steps = Vec::new();
    let mut shown = std::collections::HashSet::new();
    if let Some(flow) = loaded {
        for (key, index) in ordered_steps(flow) {
            let step = &flow.steps[index];
            let mut row = Map::new();
            row.insert("step".into(), json!(key));
            row.insert("place".into(), json!(step.place()));
            row.insert("kind".into(), json!(step.op.name()));
            row.extend(step_counts(counters(&key)));
            let label = step.id.clone().unwrap_or_else(|| step.place());
            row.extend(delivery(&sent_by(&label)));
            labels_shown.insert(label);
            steps.push(Value::Object(row));
            shown.insert(key);
        }
    }
    let mut former: Vec<Value> = mine
        .into_iter()
        .flat_map(|s| s.iter())
        .filter(|(key, _)| !key.is_empty() && !shown.contains(**key))
        .map(|(key, c)| {
            let mut row = Map::new();
            row.insert("step".into(), json!(key));
            row.extend(step_counts(c));
            row.extend(delivery(&sent_by(key)));
            labels_shown.insert(key.to_string());
            Value::Object(row)
        })
        .collect();
    // Messages of steps the loaded flow no longer has (by the label they recorded).
    for (label, d) in my_sent.into_iter().flat_map(|s| s.iter()) {
        if labels_shown.contains(*label) {
            continue;
        }
        let mut row = Map::new();
        row.insert("step".into(), json!(label));
        row.extend(step_counts(&empty));
        row.extend(delivery(&[*d]));
        former.push(Value::Object(row));
    }
    let all_sent: Vec<&StepDelivery> = my_sent
        .map(|s| s.values().copied().collect())
        .unwrap_or_default();
    let (since, until) = period.json();
    Some(json!({
        "success": true,
        "flow": id,
        "loaded": loaded.is_some(),
        "since": since,
        "until": until,
        "outcomes": outcomes(counters("")),
        "messages": delivery(&all_sent),
        "steps": steps,
        "former_steps": former,
        "truncated": sums.truncated,
    }))
}

/// The flow's counted steps as (insight key, compiled index), in the order the author
/// reads them: by the top-level step they belong to, nested ones after their parent.
pub fn ordered_steps(flow: &Flow) -> Vec<(String, usize)> {
    let mut v: Vec<(usize, usize, String)> = (0..flow.steps.len())
        .filter_map(|i| {
            let key = flow.insight_key(i)?;
            Some((flow.steps[i].number().unwrap_or(usize::MAX), i, key))
        })
        .collect();
    v.sort_by_key(|(n, i, _)| (*n, *i));
    v.into_iter().map(|(_, i, key)| (key, i)).collect()
}

/// The flows report as CSV: one line per flow.
pub fn flows_csv(report: &Value) -> String {
    let mut names = vec!["flow".to_string(), "loaded".into()];
    names.extend(Outcome::ALL.iter().map(|o| o.as_str().to_string()));
    names.push("in_progress".into());
    names.extend(DELIVERY_FIELDS.iter().map(|n| n.to_string()));
    names.push("actual_micros".into());
    csv(&names, report["flows"].as_array())
}

/// A flow's report as CSV: one line per step (former steps last, `place` and `kind` empty).
pub fn flow_csv(report: &Value) -> String {
    let mut names = vec![
        "flow".to_string(),
        "step".into(),
        "place".into(),
        "kind".into(),
    ];
    names.extend(StepCount::ALL.iter().map(|s| s.as_str().to_string()));
    names.push("waiting".into());
    names.extend(DELIVERY_FIELDS.iter().map(|n| n.to_string()));
    names.push("actual_micros".into());
    let flow = report["flow"].clone();
    let rows: Vec<Value> = report["steps"]
        .as_array()
        .into_iter()
        .chain(report["former_steps"].as_array())
        .flatten()
        .map(|s| {
            let mut s = s.clone();
            s["flow"] = flow.clone();
            s
        })
        .collect();
    csv(&names, Some(&rows))
}

fn csv(names: &[String], rows: Option<&Vec<Value>>) -> String {
    let mut out = names.join(",");
    out.push_str("\r\n");
    for row in rows.into_iter().flatten() {
        let line: Vec<String> = names
            .iter()
            .map(|n| match &row[n] {
                Value::String(s) => csv_value(&defuse(s)),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A text a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) starts with `'`.
fn defuse(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_period_covers_every_hour_it_touches() {
        let p = Period {
            since: at("2026-11-01T10:30:00Z"),
            until: at("2026-11-01T12:00:00Z"),
        };
        assert_eq!(
            p.hours(),
            (
                at("2026-11-01T10:00:00Z").timestamp(),
                at("2026-11-01T12:00:00Z").timestamp()
            )
        );
        let p = Period {
            until: at("2026-11-01T12:00:01Z"),
            ..p
        };
        assert_eq!(p.hours().1, at("2026-11-01T13:00:00Z").timestamp());
    }

    #[test]
    fn periods_are_checked_and_bounded() {
        let now = at("2026-11-23T18:00:00Z");
        let q = |s: &str| Period::from_query(&Fields::from_query(Some(s)), now);
        assert_eq!(
            q("").unwrap(),
            Period {
                since: at("2026-11-16T18:00:00Z"),
                until: now
            }
        );
        assert_eq!(
            q("since=2026-11-01&until=2026-11-02T00:00:00Z").unwrap(),
            Period {
                since: at("2026-11-01T00:00:00Z"),
                until: at("2026-11-02T00:00:00Z")
            }
        );
        let e = q("since=yesterday").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("since"));
        assert!(e.message.contains("2026-11-01T00:00:00Z"), "{}", e.message);
        let e = q("since=2026-11-02&until=2026-11-01").unwrap_err();
        assert!(e.message.contains("before"), "{}", e.message);
        let e = q("since=2024-01-01&until=2026-01-01").unwrap_err();
        assert!(e.message.contains("366 days"), "{}", e.message);
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let report = json!({ "flows": [
            { "flow": "=cmd", "loaded": true, "started": 3 },
            { "flow": "a,b", "loaded": false, "started": 0 }
        ]});
        let text = flows_csv(&report);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(lines[0].starts_with("flow,loaded,started,finished,"));
        assert!(lines[1].starts_with("'=cmd,true,3,"), "{}", lines[1]);
        assert!(lines[2].starts_with("\"a,b\",false,0,"), "{}", lines[2]);
    }
}
