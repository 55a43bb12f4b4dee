//! How much one trace may hold. The sandbox keeps the traces of its last
//! `TRACE_LOG_LIMIT` events in memory and serves each whole, so a trace is bounded twice:
//! every text a model wrote is shortened where it enters (`TEXT_MAX`), and the whole trace
//! is fitted into `ENTRY_MAX` before it is kept, shortening texts further and then long
//! lists. Whatever is cut says so.

use super::Trace;
use crate::domain::text::shorten;
use serde_json::{Map, Value};

/// Characters of one text a trace keeps: a model's answer, a message of the prompt as
/// sent, a tool call and its verdict.
pub const TEXT_MAX: usize = 4_096;

/// Bytes (as the sandbox API serves it, JSON) one event's trace may take: 1,000 kept
/// events stay under 64 MiB.
pub const ENTRY_MAX: usize = 64 * 1024;

/// The shortest texts are cut to before lists are cut.
const TEXT_MIN: usize = 64;

/// Items a list keeps once shortening its texts was not enough.
const LIST_MAX: usize = 16;

impl Trace {
    /// Its size in bytes as the sandbox API serves it.
    pub fn size(&self) -> usize {
        serde_json::to_vec(self).map_or(0, |v| v.len())
    }

    /// Shortens the trace until it takes at most `max` bytes: its texts to a quarter of
    /// their length at a time, down to `TEXT_MIN` characters; then every list to its first
    /// `LIST_MAX` items (an exchange's messages to their last ones, the latest); at last,
    /// everything but what came in and a line saying the trace was too large.
    pub fn fit(&mut self, max: usize) {
        let mut limit = TEXT_MAX;
        while self.size() > max && limit > TEXT_MIN {
            limit = (limit / 4).max(TEXT_MIN);
            self.shorten_texts(limit);
        }
        if self.size() > max {
            self.cut_lists();
        }
        if self.size() > max {
            let size = self.size();
            *self = Trace {
                event: shorten(&self.event, TEXT_MIN),
                decisions: vec![format!(
                    "the trace of this event took {size} bytes, over the {max} a trace may keep; it was dropped"
                )],
                ..Trace::default()
            };
        }
    }

    /// The trace's lists of plain lines, which are shortened and cut alike.
    fn line_lists(&mut self) -> [&mut Vec<String>; 5] {
        [
            &mut self.decisions,
            &mut self.errors,
            &mut self.timers,
            &mut self.tags_added,
            &mut self.tags_removed,
        ]
    }

    fn shorten_texts(&mut self, limit: usize) {
        let cut = |s: &mut String| {
            if s.len() > limit {
                *s = shorten(s, limit);
            }
        };
        cut(&mut self.event);
        self.run_before.iter_mut().for_each(cut);
        self.run_after.iter_mut().for_each(cut);
        for list in self.line_lists() {
            list.iter_mut().for_each(cut);
        }
        self.sends.iter_mut().for_each(|s| cut(&mut s.summary));
        for x in &mut self.exchanges {
            cut(&mut x.system);
            cut(&mut x.answer);
            cut(&mut x.outcome);
            x.messages.iter_mut().for_each(cut);
            x.passages.iter_mut().for_each(cut);
            x.tool_calls.iter_mut().for_each(cut);
        }
        if let Some(t) = &mut self.triggers {
            cut(&mut t.normalized);
            cut(&mut t.outcome);
            for v in &mut t.verdicts {
                cut(&mut v.trigger);
                cut(&mut v.compared);
            }
        }
        for vars in [&mut self.vars_before, &mut self.vars_after] {
            vars.values_mut().for_each(|v| shorten_value(v, limit));
        }
    }

    fn cut_lists(&mut self) {
        for list in self.line_lists() {
            cut_list(list);
        }
        self.sends.truncate(LIST_MAX);
        self.steps.truncate(LIST_MAX);
        self.exchanges.truncate(LIST_MAX);
        for x in &mut self.exchanges {
            let first = x.messages.len().saturating_sub(LIST_MAX);
            if first > 0 {
                x.messages.drain(..first);
                x.messages
                    .insert(0, format!("… ({first} earlier messages not kept)"));
            }
            cut_list(&mut x.passages);
            cut_list(&mut x.tool_calls);
        }
        if let Some(t) = &mut self.triggers {
            t.verdicts.truncate(LIST_MAX);
        }
        for vars in [&mut self.vars_before, &mut self.vars_after] {
            cut_map(vars);
        }
    }
}

/// Shortens every text in `v`.
fn shorten_value(v: &mut Value, limit: usize) {
    match v {
        Value::String(s) if s.len() > limit => *s = shorten(s, limit),
        Value::Array(a) => a.iter_mut().for_each(|v| shorten_value(v, limit)),
        Value::Object(o) => o.values_mut().for_each(|v| shorten_value(v, limit)),
        _ => {}
    }
}

/// Keeps the first `LIST_MAX` items and a line saying how many more there were.
fn cut_list(list: &mut Vec<String>) {
    if list.len() > LIST_MAX {
        let more = list.len() - LIST_MAX;
        list.truncate(LIST_MAX);
        list.push(format!("… ({more} more not kept)"));
    }
}

/// Keeps the first `LIST_MAX` variables, each with its arrays and objects cut alike.
fn cut_map(map: &mut Map<String, Value>) {
    let more = map.len().saturating_sub(LIST_MAX);
    if more > 0 {
        let kept: Map<String, Value> = std::mem::take(map).into_iter().take(LIST_MAX).collect();
        *map = kept;
        map.insert("…".into(), Value::String(format!("{more} more not kept")));
    }
    map.values_mut().for_each(cut_value);
}

fn cut_value(v: &mut Value) {
    match v {
        Value::Array(a) => {
            a.truncate(LIST_MAX);
            a.iter_mut().for_each(cut_value);
        }
        Value::Object(o) => cut_map(o),
        _ => {}
    }
}
