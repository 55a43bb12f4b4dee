//! `deploy/grafana/parley.json`, the Grafana dashboard: it is a dashboard Grafana can import
//! (panels with ids, places and Prometheus queries on the `datasource` variable), every
//! metric its queries name is one Parley exports (the names in `crates/parley-domain/src/metrics/`), and every
//! metric Parley exports is on it at least once.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The metric names the code exports: every `"parley_…"` string in `crates/parley-domain/src/metrics/`.
fn exported() -> BTreeSet<String> {
    let names = regex::Regex::new(r#""(parley_[a-z0-9_]+)""#).unwrap();
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("crates/parley-domain/src/metrics")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.extend(names.captures_iter(&text).map(|c| c[1].to_string()));
        }
    }
    out
}

/// Every Prometheus query of the dashboard, with the title of its panel.
fn queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((
                panel["title"].as_str().unwrap_or("").to_string(),
                target["expr"]
                    .as_str()
                    .expect("every target has an expr")
                    .to_string(),
            ));
        }
    }
    out
}

#[test]
fn the_grafana_dashboard_shows_exactly_the_metrics_parley_exports() {
    let text = std::fs::read_to_string(root().join("deploy/grafana/parley.json")).unwrap();
    let dashboard: serde_json::Value =
        serde_json::from_str(&text).expect("deploy/grafana/parley.json is JSON");
    let exported = exported();
    assert!(exported.len() > 30, "found the metric names: {exported:?}");
    // What the code exports is what README and /metrics describe.
    let documented: BTreeSet<String> = parley::metrics::documented().map(String::from).collect();
    assert_eq!(
        exported, documented,
        "crates/parley-domain/src/metrics/ names and documented series differ"
    );

    let in_queries = regex::Regex::new(r"\bparley_[a-z0-9_]+").unwrap();
    let mut shown = BTreeSet::new();
    for (title, expr) in queries(&dashboard) {
        for m in in_queries.find_iter(&expr) {
            let name = m.as_str();
            // A histogram is queried through its `_bucket`, `_sum` and `_count` series.
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|base| exported.contains(*base)))
                .unwrap_or(name);
            assert!(
                exported.contains(family),
                "panel \"{title}\" queries `{name}`, which Parley does not export: {expr}"
            );
            shown.insert(family.to_string());
        }
    }
    let missing: Vec<&String> = exported.difference(&shown).collect();
    assert!(
        missing.is_empty(),
        "these metrics are on no panel of deploy/grafana/parley.json: {missing:?}"
    );
}

#[test]
fn the_grafana_dashboard_is_importable() {
    let text = std::fs::read_to_string(root().join("deploy/grafana/parley.json")).unwrap();
    let d: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(d["uid"], "parley");
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(
        vars.contains(&"datasource") && vars.contains(&"instance"),
        "{vars:?}"
    );
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap_or("");
        assert!(
            ids.insert(p["id"].as_i64().expect("panel id")),
            "panel id repeated: {title}"
        );
        for k in ["h", "w", "x", "y"] {
            assert!(
                p["gridPos"][k].is_u64(),
                "panel \"{title}\" has no gridPos.{k}"
            );
        }
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "panel \"{title}\"");
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                assert!(
                    expr.contains("instance=~\"$instance\""),
                    "panel \"{title}\" ignores the instance variable: {expr}"
                );
                let open = expr.matches('(').count();
                assert_eq!(open, expr.matches(')').count(), "unbalanced: {expr}");
            }
        }
    }
}
