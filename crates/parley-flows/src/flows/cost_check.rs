//! Finds steps that send several text bubbles in a row: since 2026-10-01 WhatsApp charges
//! every free-form message (a service message), so three texts one after the other cost
//! three charges where one text with line breaks costs one. A warning, not an error: the
//! author may want the bubbles.

use super::model::{ContentSpec, Flow, Op, Origin};
use super::problem::{Problem, Severity};

/// Runs shorter than this are fine.
const MIN_RUN: usize = 2;

pub fn check(flow: &Flow, problems: &mut Vec<Problem>) {
    let texts = |i: usize| {
        flow.steps.get(i).is_some_and(|s| {
            !matches!(s.origin, Origin::Added)
                && matches!(&s.op, Op::Send(spec) if matches!(spec.content, ContentSpec::Text { .. }))
        })
    };
    // Only the first step of a run may be jumped to; a step inside a run that is a jump's
    // target starts a run of its own (the customer may reach it without the ones before).
    let targets: std::collections::HashSet<usize> = flow
        .steps
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            super::graph::successors(&s.op, i)
                .into_iter()
                .filter(move |j| *j != i + 1)
        })
        .collect();
    let mut i = 0;
    while i < flow.steps.len() {
        if !texts(i) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while texts(i) && !targets.contains(&i) {
            i += 1;
        }
        let n = i - start;
        if n >= MIN_RUN {
            let at = flow.steps[start].at;
            problems.push(Problem {
                file: flow.file.clone(),
                line: at.line.max(1),
                column: at.column.max(1),
                severity: Severity::Warning,
                message: format!(
                    "{n} messages here cost {n} service charges: these {n} `send` steps go out as {n} separate free-form messages, and WhatsApp charges each one (from 2026-10-01)"
                ),
                hint: Some("join the texts into one `send` (a new line is `\\n` inside the text) unless the customer should see separate bubbles".into()),
            });
        }
    }
}
