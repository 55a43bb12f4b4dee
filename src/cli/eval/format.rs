//! The scenario file (`flows/evals/<name>.eval.yaml`, issue 59), read with every mistake at
//! its line and column. The reading is in this file; the shapes below are what the rest of
//! `eval` works with.

use std::collections::BTreeMap;

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
    /// Criteria for the judge, in plain words. Empty: the flow's agent step's `rubric:`.
    pub rubric: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Finished,
    HandedOff,
    Dropped,
    Waiting,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Wanted {
    Exact(String),
    Matches(String),
}
