//! Why each trigger did or did not match a message, for the sandbox, `parley simulate
//! --explain` and flow tests. It walks every trigger of every flow (O(flows)), so it is
//! never used on the hot path; `TriggerIndex::best` decides there, and this module must
//! agree with it (the winner here is the index's winner — tested below).

use super::matcher::MatchInput;
use crate::flows::model::{Flow, KeywordMode, Trigger, TriggerKind};
use crate::flows::normalize::normalize;
use crate::flows::set::FlowSet;
use serde::Serialize;
use std::sync::Arc;

mod judge;

use judge::{judge, tapped_id};

/// One trigger's verdict on one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TriggerVerdict {
    pub flow: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub priority: i64,
    /// The kind of match, as ranked by the precedence rule (`keyword (first word)`).
    pub kind: &'static str,
    /// The trigger as written, e.g. `keyword [hi, hello]`.
    pub trigger: String,
    /// What the trigger looked at: the normalised text, the raw text for a regular
    /// expression, the tapped button id, the message type…
    pub compared: String,
    pub matched: bool,
    /// Matched, and allowed to start its flow now (see `waiting`).
    pub counted: bool,
    /// Why, in plain words.
    pub why: String,
    pub winner: bool,
    #[serde(skip)]
    pub(crate) key: (i64, u8, usize, usize),
}

/// The trigger that came closest when nothing matched, and why it missed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nearest {
    pub flow: String,
    pub file: String,
    pub line: usize,
    pub trigger: String,
    pub why: String,
}

/// Every trigger's verdict in precedence order, the winner and, when nothing won, the
/// nearest miss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The message's text after folding case, accents and punctuation.
    pub normalized: String,
    pub waiting: bool,
    pub verdicts: Vec<TriggerVerdict>,
    /// The winning flow's id.
    pub winner: Option<String>,
    pub nearest: Option<Nearest>,
    /// One sentence: what happens to the message.
    pub outcome: String,
}

impl FlowSet {
    /// Evaluates every trigger against `input`. Agrees with `best_match` on the winner.
    pub fn explain(&self, input: &MatchInput<'_>) -> Explanation {
        explain(self.flows(), input)
    }
}

pub fn explain(flows: &[Arc<Flow>], input: &MatchInput<'_>) -> Explanation {
    let normalized = input.content.text().map(normalize).unwrap_or_default();
    let mut verdicts = Vec::new();
    for (fi, flow) in flows.iter().enumerate() {
        for (ti, t) in flow.triggers.iter().enumerate() {
            let (rank, compared, matched, why) = judge(t, input, &normalized);
            let counted = matched && (!input.waiting || t.interrupt);
            let why = if matched && !counted {
                format!("{why}, but the conversation is waiting for an answer and this trigger is not an interrupting trigger (`interrupt: true`)")
            } else {
                why
            };
            let rank_key = rank.map(|r| r as u8).unwrap_or(u8::MAX);
            verdicts.push(TriggerVerdict {
                flow: flow.id.clone(),
                file: flow.file.clone(),
                line: t.at.line,
                column: t.at.column,
                priority: flow.priority,
                kind: rank.map(|r| r.describe()).unwrap_or("window closing"),
                trigger: describe(t),
                compared,
                matched,
                counted,
                why,
                winner: false,
                key: (-flow.priority, rank_key, fi, ti),
            });
        }
    }
    verdicts.sort_by_key(|v| v.key);
    let winner = verdicts.iter().position(|v| v.counted);
    if let Some(w) = winner {
        verdicts[w].winner = true;
    }
    let nearest = match winner {
        Some(_) => None,
        None => nearest(flows, input, &normalized, &verdicts),
    };
    let outcome = match (winner, input.waiting) {
        (Some(w), _) => format!(
            "flow `{}` starts ({} at {}:{})",
            verdicts[w].flow, verdicts[w].kind, verdicts[w].file, verdicts[w].line
        ),
        (None, true) => "no trigger counts: the message is the answer to the question the conversation is waiting on".into(),
        (None, false) => "no flow starts: nothing matched and no flow has a `fallback` trigger".into(),
    };
    Explanation {
        normalized,
        waiting: input.waiting,
        winner: winner.map(|w| verdicts[w].flow.clone()),
        verdicts,
        nearest,
        outcome,
    }
}

/// The trigger as an author wrote it, shortly.
pub fn describe(t: &Trigger) -> String {
    let interrupt = if t.interrupt { " (interrupt)" } else { "" };
    let d = match &t.kind {
        TriggerKind::Keyword { words, mode } => {
            let m = match mode {
                KeywordMode::Whole => ", match: whole",
                KeywordMode::FirstWord => "",
                KeywordMode::Contains => ", match: contains",
            };
            format!("keyword [{}]{m}", words.join(", "))
        }
        TriggerKind::Regex { pattern, .. } => format!("regex '{pattern}'"),
        TriggerKind::Button { ids } => format!("button [{}]", ids.join(", ")),
        TriggerKind::QuickReply { payloads } => format!("quick_reply [{}]", payloads.join(", ")),
        TriggerKind::MessageType { kinds } => format!("type [{}]", kinds.join(", ")),
        TriggerKind::NewContact => "new_contact".into(),
        TriggerKind::Referral { source_ids } if source_ids.is_empty() => "referral".into(),
        TriggerKind::Referral { source_ids } => format!("referral [{}]", source_ids.join(", ")),
        TriggerKind::Fallback => "fallback".into(),
        TriggerKind::WindowClosing { before } => {
            format!("window_closing {}", humantime::format_duration(*before))
        }
    };
    format!("{d}{interrupt}")
}

/// When nothing won: a trigger that matched but could not interrupt the question being
/// asked; else the keyword (or button id) closest to the message's words by edit distance.
fn nearest(
    flows: &[Arc<Flow>],
    input: &MatchInput<'_>,
    text: &str,
    verdicts: &[TriggerVerdict],
) -> Option<Nearest> {
    if let Some(v) = verdicts.iter().find(|v| v.matched && !v.counted) {
        return Some(Nearest {
            flow: v.flow.clone(),
            file: v.file.clone(),
            line: v.line,
            trigger: v.trigger.clone(),
            why: v.why.clone(),
        });
    }
    if input.waiting {
        // The message is the answer to a question; near misses are beside the point.
        return None;
    }
    let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let tapped = tapped_id(input.content);
    // (relative distance, position, flow, trigger) → why
    let mut best: Option<((usize, usize, usize, usize), Nearest)> = None;
    let mut offer = |score: (usize, usize, usize, usize), flow: &Flow, t: &Trigger, why: String| {
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((
                score,
                Nearest {
                    flow: flow.id.clone(),
                    file: flow.file.clone(),
                    line: t.at.line,
                    trigger: describe(t),
                    why,
                },
            ));
        }
    };
    for (fi, flow) in flows.iter().enumerate() {
        for (ti, t) in flow.triggers.iter().enumerate() {
            match &t.kind {
                TriggerKind::Keyword { words: kws, mode } if !words.is_empty() => {
                    for kw in kws {
                        let key = normalize(kw);
                        if key.is_empty() {
                            continue;
                        }
                        let whole = edit_distance(&key, text);
                        offer(
                            (relative(whole, &key, text), 0, fi, ti),
                            flow,
                            t,
                            keyword_miss(&key, text, 0, whole, *mode, true),
                        );
                        for (pos, w) in words.iter().enumerate() {
                            let d = edit_distance(&key, w);
                            offer(
                                (relative(d, &key, w), pos, fi, ti),
                                flow,
                                t,
                                keyword_miss(&key, w, pos, d, *mode, false),
                            );
                        }
                    }
                }
                TriggerKind::Button { ids } | TriggerKind::QuickReply { payloads: ids } => {
                    if let Some(id) = tapped {
                        for i in ids {
                            let d = edit_distance(i, id);
                            offer(
                                (relative(d, i, id), 0, fi, ti),
                                flow,
                                t,
                                format!("the tapped id `{id}` is {} from `{i}`", letters(d)),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }
    best.map(|(_, n)| n)
}

fn keyword_miss(
    key: &str,
    word: &str,
    pos: usize,
    d: usize,
    mode: KeywordMode,
    whole: bool,
) -> String {
    if d > 0 {
        let what = if whole { "the message" } else { "the word" };
        return format!(
            "{what} `{word}` is {} from the keyword `{key}` (a typo?); keywords must match exactly after folding case, accents and punctuation",
            letters(d)
        );
    }
    match mode {
        KeywordMode::FirstWord => format!(
            "`{key}` is word {} of the message, but this keyword only matches the whole message or its first word; add `match: contains` to match it anywhere",
            pos + 1
        ),
        KeywordMode::Whole => format!(
            "`{key}` is in the message, but `match: whole` needs the message to be exactly the keyword"
        ),
        KeywordMode::Contains => format!("`{key}` is in the message"),
    }
}

fn letters(d: usize) -> String {
    if d == 1 {
        "1 letter away".into()
    } else {
        format!("{d} letters away")
    }
}

/// Distance per mille of the longer word, so one typo in `quote` is nearer than the one
/// letter between `i` and `hi`.
fn relative(d: usize, a: &str, b: &str) -> usize {
    d * 1000 / a.chars().count().max(b.chars().count()).max(1)
}

/// Edit distance over characters where swapping two neighbours counts as one edit
/// (optimal string alignment), as typos usually are.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

impl Explanation {
    /// The evaluation as lines a person reads in a terminal.
    pub fn render(&self) -> String {
        let mut out = format!("  trigger evaluation for `{}`", self.normalized);
        if self.waiting {
            out.push_str(" (the conversation is waiting for an answer)");
        }
        out.push('\n');
        for v in &self.verdicts {
            let mark = if v.winner {
                "WINNER"
            } else if v.matched {
                "match "
            } else {
                "no    "
            };
            out.push_str(&format!(
                "  {mark} {:<16} {}:{}  {} — {}\n",
                v.flow, v.file, v.line, v.trigger, v.why
            ));
        }
        if let Some(n) = &self.nearest {
            out.push_str(&format!(
                "  nearest: flow `{}` ({}:{}) {} — {}\n",
                n.flow, n.file, n.line, n.trigger, n.why
            ));
        }
        out.push_str(&format!("  → {}\n", self.outcome));
        out
    }
}

#[cfg(test)]
mod tests;
