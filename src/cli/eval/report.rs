//! What `parley eval` prints and decides (issue 59): per scenario its pass rate, each
//! check's pass rate, the failing runs' transcripts with the failing checks and the
//! judge's reasons, and the tokens and cost of the agent, the customer and the judge;
//! JUnit XML for CI; and whether the command fails (`--min-pass`).

use super::checks::CheckResult;
use super::judge::Verdict;
use super::run::{Transcript, Usage};
use crate::cli::flowtest::junit::escape;
use std::fmt::Write;

/// Failing runs shown in full per scenario (the others are counted).
pub const SHOWN_FAILURES: usize = 3;

/// One run as judged and checked.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub transcript: Transcript,
    pub verdicts: Vec<Verdict>,
    pub checks: Vec<CheckResult>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass)
    }
}

/// A scenario's runs, or why it did not run.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub name: String,
    pub file: String,
    /// Its checks' names, in order (so a check that no run reached still shows).
    pub checks: Vec<String>,
    pub runs: Vec<RunReport>,
    /// The scenario could not run at all (its file, the flows, the models): the reason.
    pub error: Option<String>,
}

impl ScenarioReport {
    pub fn passed_runs(&self) -> usize {
        self.runs.iter().filter(|r| r.passed()).count()
    }

    /// The share of runs that passed every check (0 when none ran).
    pub fn pass_rate(&self) -> f64 {
        if self.runs.is_empty() || self.error.is_some() {
            return 0.0;
        }
        self.passed_runs() as f64 / self.runs.len() as f64
    }

    /// Runs that passed `check`, and runs in all.
    pub fn check_rate(&self, check: &str) -> (usize, usize) {
        let passed = self
            .runs
            .iter()
            .filter(|r| r.checks.iter().any(|c| c.name == check && c.pass))
            .count();
        (passed, self.runs.len())
    }

    /// Whether the scenario meets the threshold.
    pub fn ok(&self, min_pass: f64) -> bool {
        self.error.is_none() && !self.runs.is_empty() && self.pass_rate() + 1e-9 >= min_pass
    }

    /// Model use per role summed over the runs.
    pub fn usage(&self, role: &str) -> Usage {
        let mut sum = Usage::default();
        for u in self
            .runs
            .iter()
            .filter_map(|r| r.transcript.usage.get(role))
        {
            sum.calls += u.calls;
            sum.input_tokens += u.input_tokens;
            sum.output_tokens += u.output_tokens;
            sum.cost += u.cost;
        }
        sum
    }
}

/// Whether `parley eval` fails: a scenario below `min_pass`, or one that did not run.
pub fn failed(reports: &[ScenarioReport], min_pass: f64) -> bool {
    reports.iter().any(|r| !r.ok(min_pass))
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        return "0 %".into();
    }
    format!("{:.0} %", part as f64 * 100.0 / whole as f64)
}

/// The report as printed: each scenario, then the summary.
pub fn render(reports: &[ScenarioReport], min_pass: f64) -> String {
    let mut s = String::new();
    for r in reports {
        s.push_str(&render_scenario(r, min_pass));
    }
    s.push_str(&summary(reports, min_pass));
    s.push('\n');
    s
}

/// One scenario's part of the report, with an empty line after it.
pub fn render_scenario(r: &ScenarioReport, min_pass: f64) -> String {
    let mut s = String::new();
    scenario(&mut s, r, min_pass);
    s.push('\n');
    s
}

/// The last line: scenarios that met the threshold, runs passed, and the models' cost.
pub fn summary(reports: &[ScenarioReport], min_pass: f64) -> String {
    let ok = reports.iter().filter(|r| r.ok(min_pass)).count();
    let runs: usize = reports.iter().map(|r| r.runs.len()).sum();
    let passed: usize = reports.iter().map(|r| r.passed_runs()).sum();
    let cost: f64 = reports
        .iter()
        .map(|r| ROLES.iter().map(|role| r.usage(role).cost).sum::<f64>())
        .sum();
    format!(
        "{ok} of {} scenario(s) passed (each needs {} of its runs passing); {passed}/{runs} runs passed; the models cost ${cost:.4} in all",
        reports.len(),
        percent((min_pass * 100.0).round() as usize, 100),
    )
}

/// The roles whose model use is reported.
pub const ROLES: [&str; 3] = ["agent", "customer", "judge"];

fn scenario(s: &mut String, r: &ScenarioReport, min_pass: f64) {
    let mark = if r.ok(min_pass) { '✓' } else { '✗' };
    if let Some(why) = &r.error {
        let _ = writeln!(s, "{mark} {} ({}) — did not run", r.name, r.file);
        for line in why.lines() {
            let _ = writeln!(s, "    {line}");
        }
        return;
    }
    let (passed, all) = (r.passed_runs(), r.runs.len());
    let _ = writeln!(
        s,
        "{mark} {} ({}) — {passed}/{all} runs passed ({})",
        r.name,
        r.file,
        percent(passed, all)
    );
    for check in &r.checks {
        let (p, n) = r.check_rate(check);
        let mark = if p == n { '✓' } else { '✗' };
        let _ = writeln!(s, "    {mark} {check}: {p}/{n} ({})", percent(p, n));
    }
    let failing: Vec<&RunReport> = r.runs.iter().filter(|run| !run.passed()).collect();
    for run in failing.iter().take(SHOWN_FAILURES) {
        failing_run(s, run);
    }
    if failing.len() > SHOWN_FAILURES {
        let _ = writeln!(
            s,
            "  … and {} more failing run(s)",
            failing.len() - SHOWN_FAILURES
        );
    }
    let _ = writeln!(s, "  models (all runs; per run on average):");
    for role in ROLES {
        let u = r.usage(role);
        let n = all.max(1) as f64;
        let _ = writeln!(
            s,
            "    {role:<8} {} calls, {} tokens in, {} out, ${:.6}; per run {:.0} tokens in, {:.0} out, ${:.6}",
            u.calls,
            u.input_tokens,
            u.output_tokens,
            u.cost,
            u.input_tokens as f64 / n,
            u.output_tokens as f64 / n,
            u.cost / n
        );
    }
}

fn failing_run(s: &mut String, run: &RunReport) {
    let t = &run.transcript;
    let _ = writeln!(s, "  run {} failed ({}):", t.run, t.ended);
    for (i, turn) in t.turns.iter().enumerate() {
        let _ = writeln!(s, "    {:>2} customer: {}", i + 1, one_line(&turn.customer));
        for call in &turn.tool_calls {
            let how = match (call.accepted, &call.reason) {
                (true, _) => "carried out".to_string(),
                (false, Some(why)) => format!("refused: {why}"),
                (false, None) => "refused".to_string(),
            };
            let _ = writeln!(
                s,
                "       tool {}({}): {how}",
                call.name,
                one_line(&call.arguments)
            );
        }
        for reply in &turn.replies {
            let _ = writeln!(s, "       bot: {}", one_line(reply));
        }
    }
    for c in run.checks.iter().filter(|c| !c.pass) {
        let _ = writeln!(s, "    ✗ {}: {}", c.name, one_line(&c.detail));
    }
}

/// A text on one line (line breaks shown as ⏎), at most 500 characters.
fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| {
            if c == '\n' {
                '⏎'
            } else if c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    crate::domain::text::shorten(&flat, 500)
}

/// Text for an XML document: characters XML cannot hold dropped, the rest escaped.
fn xml_text(text: &str) -> String {
    let kept: String = text
        .chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r')
                || (!c.is_control() && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect();
    escape(&kept)
}

/// JUnit XML: a `testsuite` per scenario, a `testcase` per check, failing with the pass
/// rate and the first failing run's detail; a scenario that did not run is one failing
/// `testcase` named `run`.
pub fn junit(reports: &[ScenarioReport]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"parley eval\">\n",
    );
    for r in reports {
        let name = xml_text(&r.name);
        let file = xml_text(&r.file);
        if let Some(why) = &r.error {
            let first = why.lines().next().unwrap_or("");
            let _ = write!(
                s,
                "  <testsuite name=\"{name}\" file=\"{file}\" tests=\"1\" failures=\"1\" errors=\"0\">\n    <testcase name=\"run\" classname=\"{file}\">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n  </testsuite>\n",
                xml_text(first),
                xml_text(why)
            );
            continue;
        }
        let failures = r
            .checks
            .iter()
            .filter(|c| {
                let (p, n) = r.check_rate(c);
                p < n || n == 0
            })
            .count();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{name}\" file=\"{file}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
            r.checks.len()
        );
        for check in &r.checks {
            let (p, n) = r.check_rate(check);
            let _ = write!(
                s,
                "    <testcase name=\"{}\" classname=\"{file}\"",
                xml_text(check)
            );
            if p == n && n > 0 {
                s.push_str("/>\n");
                continue;
            }
            let first = r
                .runs
                .iter()
                .find_map(|run| {
                    run.checks
                        .iter()
                        .find(|c| c.name == *check && !c.pass)
                        .map(|c| format!("run {}: {}", run.transcript.run, c.detail))
                })
                .unwrap_or_default();
            let message = format!("{p}/{n} runs passed ({})", percent(p, n));
            let _ = write!(
                s,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                xml_text(&message),
                xml_text(&format!("{message}; {first}"))
            );
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}
