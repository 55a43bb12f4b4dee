//! The scenario file (`flows/evals/<name>.eval.yaml`, issue 59), read with every mistake at
//! its line and column. The reading is in `format/read.rs`; the shapes below are what the
//! rest of `eval` works with.
//!
//! ```yaml
//! name: A hurried customer gets their order noted
//! flow: support_agent
//! customer:
//!   model: customer
//!   persona: "Ines, in a hurry, writes short messages with typos"
//!   goal: "get order A-12345 noted and learn when it arrives"
//!   knows: { order_number: "A-12345" }
//! judge: judge
//! expect:
//!   outcome: finished
//!   vars: { order_number: "A-12345" }
//!   tools_called: [save]
//! ```

mod read;
#[cfg(test)]
mod tests;
mod unreadable;

use crate::config::Config;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use read::{parse, Known};

/// A scenario as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    /// The flow under evaluation (its id); the customer's first message must start it.
    pub flow: String,
    /// How many times it runs (the file's `runs:`, else `--runs`, else 5).
    pub runs: Option<u32>,
    /// The customer's phone and name in the bot's eyes.
    pub phone: String,
    pub contact_name: Option<String>,
    pub customer: Customer,
    pub expect: Expect,
    /// The model that judges the rubric; `None`: no rubric criterion can be judged.
    pub judge: Option<String>,
}

/// Who the simulated customer is and how they behave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Customer {
    /// A model of the config's `models:` that plays the customer; `None` with `script`.
    pub model: Option<String>,
    /// Offline customer: these messages, in order, one per turn (then they stop).
    pub script: Vec<String>,
    pub persona: String,
    pub goal: String,
    /// What they know and give when asked: `order_number: A-12345`.
    pub knows: BTreeMap<String, String>,
    /// How they write: the language (a code, like es), and plain words (`typos`, `short`,
    /// `angry`…), told to the customer model.
    pub language: Option<String>,
    pub style: Vec<String>,
    /// Their messages arrive as voice notes (transcribed by the config's `transcribe:`, or
    /// given to the flow as their text when none is configured).
    pub voice_notes: bool,
    /// The first message, written as is (it usually names the flow's keyword); `None`:
    /// the customer model writes it.
    pub opening: Option<String>,
    /// They give up after this many of their messages without reaching the goal.
    pub gives_up_after: u32,
}

/// What must hold in every run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    /// `finished`, `handed_off`, `dropped` or `waiting` (still in the flow at the end).
    pub outcome: Option<Outcome>,
    /// Contact variables saved: exact text, or `{ matches: "^A-[0-9]{5}$" }`.
    pub vars: BTreeMap<String, Wanted>,
    /// Tools the agent must have called (carried out), and tools it must never have had
    /// carried out (a refused call of an undeclared tool is reported, not counted).
    pub tools_called: Vec<String>,
    pub tools_never_called: Vec<String>,
    /// Every reply at most this many characters.
    pub max_length: Option<usize>,
    /// Links in replies only to these domains (and their subdomains); `None`: not checked.
    pub allowed_domains: Option<Vec<String>>,
    /// Patterns no reply may match (the source kept for the report).
    pub forbid: Vec<String>,
    /// The customer's messages at most.
    pub turns_at_most: Option<u32>,
    /// The agent's model cost of the run at most, US dollars.
    pub cost_at_most: Option<f64>,
    /// Criteria for the judge, in plain words: the file's `rubric:`, else the flow's agent
    /// step's `rubric:` (already filled in when the file is read).
    pub rubric: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    HandedOff,
    Dropped,
    Waiting,
}

impl Outcome {
    /// As the file writes it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Finished => "finished",
            Outcome::HandedOff => "handed_off",
            Outcome::Dropped => "dropped",
            Outcome::Waiting => "waiting",
        }
    }

    pub const ALL: [Outcome; 4] = [
        Outcome::Finished,
        Outcome::HandedOff,
        Outcome::Dropped,
        Outcome::Waiting,
    ];
}

#[derive(Debug, Clone, PartialEq)]
pub enum Wanted {
    Exact(String),
    Matches(String),
}

/// Runs of a scenario when neither its file nor `--runs` says.
pub const DEFAULT_RUNS: u32 = 5;
/// Most runs of one scenario.
pub const MAX_RUNS: u32 = 100;
/// Most items in one list of a scenario file (script, style, tools, domains, rubric…).
pub const MAX_LIST: usize = 50;
/// Longest text in a scenario file, in characters.
pub const MAX_TEXT: usize = 4096;
/// Customer messages before giving up when the file does not say.
pub const DEFAULT_GIVES_UP_AFTER: u32 = 8;
/// The file name's ending that makes a file a scenario.
pub const SUFFIX: &str = ".eval.yaml";

/// A mistake in a scenario file, at a place in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    /// `file:line:column: error: message` and the hint on the next line, as `parley check`
    /// writes a flow's mistakes.
    pub fn render(&self, file: &str) -> String {
        let hint = match &self.hint {
            Some(h) => format!("\n  hint: {h}"),
            None => String::new(),
        };
        format!(
            "{file}:{}:{}: error: {}{hint}",
            self.line, self.column, self.message
        )
    }
}

/// What scenarios may name, from the config and the flows as they load.
pub fn known(config: &Config) -> Known {
    let report = crate::flows::load_configured(config);
    let flows = report.set.as_ref().map(|set| {
        set.flows()
            .iter()
            .map(|f| (f.id.clone(), flow_rubric(f)))
            .collect()
    });
    Known {
        models: config.models.iter().map(|m| m.name.clone()).collect(),
        flows,
    }
}

/// The rubric of a flow's first agent step that has one.
fn flow_rubric(flow: &crate::flows::Flow) -> Vec<String> {
    flow.steps
        .iter()
        .find_map(|s| match &s.op {
            crate::flows::Op::Agent(a) if !a.rubric.is_empty() => Some(a.rubric.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The flows folder's `evals/`, where scenarios live by default.
pub fn evals_dir(config: &Config) -> PathBuf {
    Path::new(&config.flows.dir).join("evals")
}

/// The scenario files `paths` name: files as given, folders searched (sub-folders too)
/// for `*.eval.yaml`; sorted. Err: a path that is not there.
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            collect(p, &mut out, 0)?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!(
                "{}: no such file or folder; name scenario files (*{SUFFIX}) or folders holding them",
                p.display()
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), String> {
    if depth > 8 {
        return Ok(());
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out, depth + 1)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(SUFFIX))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads one scenario file: the scenario, or its mistakes rendered with the file's name.
pub fn read_file(path: &Path, known: &Known) -> Result<Scenario, Vec<String>> {
    let file = path.display().to_string();
    let text = crate::config::file_limits::read_limited(path)
        .map_err(|e| vec![format!("{file}:1:1: error: {e}")])?;
    parse(&text, known).map_err(|problems| problems.iter().map(|p| p.render(&file)).collect())
}

/// The mistakes of the flows folder's scenario files, as `parley check` lists them (the
/// scenarios are read, not run).
pub fn unreadable_evals(config: &Config) -> Vec<String> {
    let dir = evals_dir(config);
    if !dir.is_dir() {
        return Vec::new();
    }
    let files = match find(&[dir]) {
        Ok(files) => files,
        Err(e) => return vec![e],
    };
    let known = known(config);
    files
        .iter()
        .filter_map(|path| read_file(path, &known).err())
        .flatten()
        .collect()
}
