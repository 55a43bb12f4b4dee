//! Where the time goes inside Parley, from its own `/metrics` histograms read at the end of
//! a run: `parley_inbox_latency_seconds` (webhook stored → its step starts; "stored → reply
//! queued" in the report) and `parley_outbox_latency_seconds` (reply enqueued → accepted by
//! the double). Percentiles are bucket upper bounds (Prometheus buckets), so they are
//! coarse; the mean is exact.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stage {
    pub count: u64,
    pub mean_ms: f64,
    /// Upper bound of the bucket holding the median (ms); infinite when above every bucket.
    pub p50_le_ms: f64,
    pub p99_le_ms: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stages {
    pub inbox: Stage,
    pub outbox: Stage,
    /// SQLite write jobs and the transactions they shared (group commit), over the whole
    /// run; 0 on PostgreSQL.
    pub sqlite_jobs: u64,
    pub sqlite_commits: u64,
    /// Pages (1 KiB) those commits wrote to the WAL.
    pub sqlite_wal_pages: u64,
}

pub async fn scrape(base: &str) -> Option<Stages> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(Stages {
        inbox: histogram(&text, "parley_inbox_latency_seconds")?,
        outbox: histogram(&text, "parley_outbox_latency_seconds")?,
        sqlite_jobs: counter(&text, "parley_sqlite_jobs_total"),
        sqlite_commits: counter(&text, "parley_sqlite_commits_total"),
        sqlite_wal_pages: counter(&text, "parley_sqlite_wal_pages_total"),
    })
}

/// An unlabelled counter's value, 0 when absent.
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0) as u64
}

fn histogram(text: &str, name: &str) -> Option<Stage> {
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    let (mut sum, mut count) = (0.0, 0u64);
    for line in text.lines().filter(|l| l.starts_with(name)) {
        let (key, value) = line.rsplit_once(' ')?;
        let rest = &key[name.len()..];
        if let Some(labels) = rest.strip_prefix("_bucket{") {
            let le = labels.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            buckets.push((le, value.parse().ok()?));
        } else if rest.starts_with("_sum") {
            sum = value.parse().ok()?;
        } else if rest.starts_with("_count") {
            count = value.parse().ok()?;
        }
    }
    if count == 0 {
        return Some(Stage::default());
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let le = |q: f64| {
        let rank = (q * count as f64).ceil() as u64;
        buckets
            .iter()
            .find(|(_, c)| *c >= rank)
            .map(|(le, _)| le * 1000.0)
            .unwrap_or(f64::INFINITY)
    };
    Some(Stage {
        count,
        mean_ms: sum / count as f64 * 1000.0,
        p50_le_ms: le(0.5),
        p99_le_ms: le(0.99),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_an_unlabelled_counter() {
        let text = "# TYPE parley_sqlite_jobs_total counter\nparley_sqlite_jobs_total 4021\nparley_sqlite_jobs_total_x 9\n";
        assert_eq!(super::counter(text, "parley_sqlite_jobs_total"), 4021);
        assert_eq!(super::counter(text, "parley_sqlite_commits_total"), 0);
    }

    #[test]
    fn reads_a_prometheus_histogram() {
        let text = "parley_inbox_latency_seconds_bucket{le=\"0.001\"} 10\n\
                    parley_inbox_latency_seconds_bucket{le=\"0.01\"} 99\n\
                    parley_inbox_latency_seconds_bucket{le=\"+Inf\"} 100\n\
                    parley_inbox_latency_seconds_sum 0.5\n\
                    parley_inbox_latency_seconds_count 100\n";
        let s = super::histogram(text, "parley_inbox_latency_seconds").unwrap();
        assert_eq!(s.count, 100);
        assert!((s.mean_ms - 5.0).abs() < 1e-9);
        assert_eq!(s.p50_le_ms, 10.0);
        assert_eq!(s.p99_le_ms, 10.0);
    }
}
