//! Flows as Parley runs them: parsed, checked and compiled once at load. Step lists are
//! flattened into a program of numbered steps with explicit jumps, so a conversation's run
//! is just "which flow, which version, which step"; each step keeps where its author wrote
//! it (`Origin`, `Step::at`), which is what traces, the API and errors show.

use super::problem::Pos;
use crate::domain::{FormField, FormMessage, MediaKind};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Steps one event (a message, a timer) may run before the run is stopped as a runaway (a
/// `goto` loop); `parley check` warns about a flow that can run more in a row.
pub const MAX_STEPS_PER_EVENT: usize = 200;

#[derive(Debug)]
pub struct Flow {
    pub id: String,
    /// Where the file says `id:`.
    pub id_at: Pos,
    pub file: String,
    pub description: Option<String>,
    /// Higher wins when several flows' triggers match.
    pub priority: i64,
    /// Hash of the file's text: runs stay on the version they started with.
    pub version: u64,
    pub triggers: Vec<Trigger>,
    pub steps: Vec<Step>,
    /// Runs the flow for an audience on a cron schedule.
    pub schedule: Option<super::schedule::Schedule>,
    /// Quiet period collapsing a burst of messages into one, while inside this flow.
    pub debounce: Option<Duration>,
    /// Shows "typing…" (and marks the customer's message read) while the flow does slow
    /// work for a customer's message: an `http` step.
    pub typing: bool,
    /// The languages the flow speaks (`languages:`), the base language first; empty: one
    /// language, the texts as written.
    pub languages: Vec<String>,
    /// Guess a contact's language from their first message when no contact field says it
    /// (`detect_language: true`), among `languages`.
    pub detect_language: bool,
    /// The texts in the other languages (`languages::Translations`).
    pub translations: Arc<super::languages::Translations>,
    /// This file is the candidate version of the flow with the same id, under this label
    /// (`candidate: v2`), served to the rollout's share of new conversations.
    pub candidate: Option<String>,
}

impl Flow {
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id.as_deref() == Some(id))
    }

    /// How many steps the file's `steps:` list has (not counting steps nested in them).
    pub fn written_steps(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s.origin, Origin::Top(_)))
            .count()
    }

    /// The name flow insights count the compiled step `index` under: its `id`, else
    /// `step 3` (the author's number), `step 3.2` for the second step written inside step
    /// 3. `None` for jumps the author never wrote (and past the end).
    pub fn insight_key(&self, index: usize) -> Option<String> {
        let step = self.steps.get(index)?;
        if let Some(id) = &step.id {
            return Some(id.clone());
        }
        match step.origin {
            Origin::Top(n) => Some(format!("step {n}")),
            Origin::Inside(n) => {
                let k = self.steps[..=index]
                    .iter()
                    .filter(|s| s.origin == Origin::Inside(n))
                    .count();
                Some(format!("step {n}.{k}"))
            }
            Origin::Added => None,
        }
    }

    /// `step 2 (line 17)` for the compiled step `index`.
    pub fn place(&self, index: usize) -> String {
        match self.steps.get(index) {
            Some(step) => step.place(),
            None => "its end".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Trigger {
    pub kind: TriggerKind,
    /// Fires even while the conversation waits inside another flow (`stop`, `menu`).
    pub interrupt: bool,
    pub at: Pos,
}

#[derive(Debug, Clone)]
pub enum TriggerKind {
    Keyword {
        words: Vec<String>,
        mode: KeywordMode,
    },
    Regex {
        pattern: String,
        regex: regex::Regex,
    },
    /// Reply-button or list-row id.
    Button {
        ids: Vec<String>,
    },
    /// Template quick-reply payload.
    QuickReply {
        payloads: Vec<String>,
    },
    MessageType {
        kinds: Vec<String>,
    },
    NewContact,
    Referral {
        source_ids: Vec<String>,
    },
    Fallback,
    /// Starts the flow this long before the customer-service window closes, if the customer
    /// has not written again by then (a "23-hour" follow-up).
    WindowClosing {
        before: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeywordMode {
    /// The whole message equals the keyword.
    Whole,
    /// The whole message or its first word equals the keyword (default).
    FirstWord,
    /// The keyword appears anywhere in the message as whole words.
    Contains,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: Option<String>,
    /// Where the author wrote it (for an added jump: the last step of its list).
    pub at: Pos,
    /// The last line of the step's text, the steps written inside it included (`at.line`
    /// for an added jump): the studio finds the step under the cursor with it.
    pub last_line: usize,
    pub origin: Origin,
    pub op: Op,
}

/// Which step of the file a compiled step is. The program has more steps than the file
/// (each list of steps ends with an added jump, nested lists are laid out after their
/// parent), so what people read names the author's step and its line, never the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Step `n` (1-based) of the flow's `steps:` list.
    Top(usize),
    /// A step written inside step `n` (in its `then`, `else`, a case, `on_timeout`…).
    Inside(usize),
    /// The jump added at the end of a list of steps; the author never wrote it.
    Added,
}

impl Step {
    /// The step as its author finds it in the file: `step 2 (line 17)`, or
    /// `line 28 (inside step 3)` for a step nested in another.
    pub fn place(&self) -> String {
        match self.origin {
            Origin::Top(n) => format!("step {n} (line {})", self.at.line),
            Origin::Inside(n) => format!("line {} (inside step {n})", self.at.line),
            Origin::Added => format!("after line {}", self.at.line),
        }
    }

    /// The author's number of this step, or of the step it is written inside.
    pub fn number(&self) -> Option<usize> {
        match self.origin {
            Origin::Top(n) | Origin::Inside(n) => Some(n),
            Origin::Added => None,
        }
    }
}

/// Where to go next.
pub type Target = usize;

#[derive(Debug, Clone)]
pub enum Op {
    Send(Box<SendSpec>),
    Ask(Box<AskSpec>),
    Form(Box<FormSpec>),
    If {
        condition: Expr,
        then: Target,
        otherwise: Target,
    },
    Switch {
        on: Expr,
        cases: Vec<(String, Target)>,
        default: Target,
    },
    Set {
        assignments: Vec<(SetTarget, ValueSpec)>,
    },
    Script {
        code: Expr,
        on_error: Option<Target>,
    },
    Http(Box<HttpSpec>),
    /// A language model holds the conversation (`AgentSpec`).
    Agent(Box<AgentSpec>),
    Handoff {
        timeout: Option<Duration>,
        message: Option<Box<SendSpec>>,
    },
    Goto(Target),
    GotoFlow(String),
    Delay(Duration),
    Tag(Vec<String>),
    Untag(Vec<String>),
    /// Sends the contact down one of weighted arms, the same one every time (`SplitSpec`).
    Split(Box<SplitSpec>),
    End,
}

impl Op {
    /// The step kind as authors write it (`send`, `ask`, `goto_flow`): in traces, insights
    /// and the studio's drawing.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Send(_) => "send",
            Op::Ask(_) => "ask",
            Op::Form(_) => "form",
            Op::If { .. } => "if",
            Op::Switch { .. } => "switch",
            Op::Set { .. } => "set",
            Op::Script { .. } => "script",
            Op::Http(_) => "http",
            Op::Agent(_) => "agent",
            Op::Handoff { .. } => "handoff",
            Op::Goto(_) => "goto",
            Op::GotoFlow(_) => "goto_flow",
            Op::Delay(_) => "delay",
            Op::Tag(_) => "tag",
            Op::Untag(_) => "untag",
            Op::Split(_) => "split",
            Op::End => "end",
        }
    }
}

/// A compiled Rhai expression or script, with its source for error messages.
#[derive(Debug, Clone)]
pub struct Expr {
    pub source: String,
    pub ast: Arc<rhai::AST>,
    pub at: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetTarget {
    Var(String),
    ContactAttribute(String),
    ContactName,
}

#[derive(Debug, Clone)]
pub enum ValueSpec {
    /// `{{ … }}` text.
    Text(String),
    /// A number or `true`/`false` written without quotes: kept as that, so `if: vars.price
    /// > 5` compares numbers and `= vars.price * 2` computes.
    Value(serde_json::Value),
    /// `= expression` evaluated with Rhai.
    Expr(Expr),
}

#[derive(Debug, Clone)]
pub struct SendSpec {
    pub content: ContentSpec,
    pub if_window_closed: FallbackSpec,
}

/// Message content with `{{ … }}` templates still in it; rendered at run time.
#[derive(Debug, Clone)]
pub enum ContentSpec {
    Text {
        body: String,
    },
    Media {
        media: MediaKind,
        url: String,
        caption: Option<String>,
        filename: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    Buttons {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        buttons: Vec<(String, String)>,
    },
    List {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        button: String,
        sections: Vec<ListSectionSpec>,
    },
    UrlButton {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        text: String,
        url: String,
    },
    Template(TemplateSpec),
    /// An emoji reaction; `message_id` (a template) or else the customer's message being
    /// handled.
    Reaction {
        emoji: String,
        message_id: Option<String>,
    },
    LocationRequest {
        body: String,
    },
    /// A WhatsApp Flow: `text`, `header` and `footer` and the strings of the screen's
    /// `data` have blanks; the token is made when the step runs.
    Form(Box<FormMessage>),
    /// WhatsApp's address form, the question of an `ask` with `expect: address`.
    AddressRequest {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        country: String,
    },
}

/// A list section: optional title and rows of (id, title, description).
pub type ListSectionSpec = (Option<String>, Vec<(String, String, Option<String>)>);

#[derive(Debug, Clone)]
pub struct TemplateSpec {
    pub name: String,
    /// The language it is sent in: the one written, the first of `languages` declared in the
    /// config, or the config's (a multilingual flow sends the contact's language instead when
    /// the config declares the template in it).
    pub language: String,
    /// `language: es` or `[es_MX, es, en]` as written: in a flow with `languages:`, the
    /// fallback order after the contact's language (empty: left out).
    pub languages: Vec<String>,
    pub variables: BTreeMap<String, String>,
    pub quick_reply_payloads: Vec<String>,
    pub content_sid: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub enum FallbackSpec {
    /// Not declared: the message fails with a closed-window reason.
    #[default]
    Undeclared,
    Fail,
    Skip,
    Template(TemplateSpec),
}

#[derive(Debug, Clone)]
pub struct AskSpec {
    pub prompt: Option<SendSpec>,
    pub save_as: String,
    pub expect: Expect,
    /// Extra tries after the first invalid answer.
    pub retries: u32,
    pub retry_text: Option<String>,
    pub timeout: Option<Duration>,
    pub on_timeout: Option<Target>,
    pub on_invalid: Option<Target>,
    /// A `language` step: the answer (a language code of the flow's `languages`) is also
    /// stored as the contact's language (`domain::language::CONTACT_FIELD`).
    pub sets_language: bool,
}

/// A `split` step: the experiment `<flow>/<step id>`, its arms in the order written.
#[derive(Debug, Clone)]
pub struct SplitSpec {
    pub experiment: String,
    pub arms: Vec<SplitArm>,
}

#[derive(Debug, Clone)]
pub struct SplitArm {
    pub name: String,
    /// Relative weight (the arms' weights need not add up to 100).
    pub weight: u32,
    /// The arm's first step.
    pub target: Target,
    pub at: Pos,
}

/// A `form` step: sends `message` (a `ContentSpec::Form`), then waits for the submission
/// carrying its token.
#[derive(Debug, Clone)]
pub struct FormSpec {
    pub message: SendSpec,
    /// Declared fields: checked and typed into `vars`; empty keeps the whole response.
    pub fields: Vec<FormField>,
    /// The variable that keeps the answers; without it each declared field is a variable.
    pub save_as: Option<String>,
    pub timeout: Option<Duration>,
    pub on_timeout: Option<Target>,
    /// Where to go when the submission does not fit the declared fields.
    pub on_invalid: Option<Target>,
}

#[derive(Debug, Clone)]
pub enum Expect {
    Text,
    Number,
    Email,
    Phone,
    /// One of these values (matched folding case and accents, or by number 1, 2, …).
    Choice(Vec<String>),
    /// A tap on one of the buttons or list rows of the previous message (or its title typed).
    Button,
    Regex(regex::Regex),
    Media(Option<MediaKind>),
    /// A submitted address form (the question is sent as one).
    Address,
}

impl Expect {
    pub fn name(&self) -> &'static str {
        match self {
            Expect::Text => "text",
            Expect::Number => "number",
            Expect::Email => "email",
            Expect::Phone => "phone",
            Expect::Choice(_) => "choice",
            Expect::Button => "button",
            Expect::Regex(_) => "regex",
            Expect::Media(_) => "media",
            Expect::Address => "address",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub method: reqwest::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// JSON body with `{{ … }}` templates in its strings.
    pub body: Option<serde_json::Value>,
    pub timeout: Duration,
    pub save_as: Option<String>,
    pub on_error: Option<Target>,
}

/// An `agent` step: a language model answers each customer message (a turn) until one of
/// its tools ends the step, within the limits and actions the author declared. The model
/// proposes; the step checks every tool call and answer before anything happens.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// A model of the config's `models:`.
    pub model: String,
    /// What the assistant is for, with `{{ … }}` blanks.
    pub instructions: String,
    /// The one task the assistant is limited to (WhatsApp's policy for business AI):
    /// it declines anything else.
    pub scope: Option<String>,
    /// Sent (free-form, blanks filled) when the step starts, before any turn.
    pub opening: Option<String>,
    /// How many past messages of the exchange (customer and assistant) the model sees.
    pub history: usize,
    /// Passages retrieved per turn from the step's knowledge files (BM25).
    pub knowledge: Option<Arc<super::knowledge::Knowledge>>,
    /// How many passages each turn adds to the prompt.
    pub passages: usize,
    pub tools: AgentTools,
    /// Customer messages the step answers before it ends and the flow goes on.
    pub max_turns: u32,
    /// Tokens and cost the conversation may spend on models (over every agent step).
    pub budget: AgentBudget,
    /// The longest one model call may take.
    pub timeout: Duration,
    /// The longest answer, in tokens.
    pub max_tokens: u32,
    /// When the model fails (error, timeout, refused answers).
    pub on_error: AgentExit,
    /// When the next call would go over the budget.
    pub on_budget: AgentExit,
    /// For the assistant's replies when the window has closed by the time they are sent.
    pub if_window_closed: FallbackSpec,
    pub guardrails: Guardrails,
    /// What a judge checks in the step's conversations (`parley eval`, `score:`).
    pub rubric: Vec<String>,
    /// A share of finished conversations scored by a judge in the background.
    pub score: Option<super::scoring::ScoreSpec>,
    /// The sources of the passages a reply used are added to it.
    pub cite: bool,
    /// How passages are found, and when a question went unanswered.
    pub retrieval: super::retrieval::Retrieval,
}

/// Where a step goes when it stops early, and what the customer reads.
#[derive(Debug, Clone, Default)]
pub struct AgentExit {
    /// Sent to the customer (free-form, blanks filled).
    pub say: Option<String>,
    /// The step to go to; `None`: for `on_error` the step keeps waiting (the next message
    /// is another try), for `on_budget` the flow goes on after the agent step.
    pub goto: Option<Target>,
}

#[derive(Debug, Clone, Default)]
pub struct AgentBudget {
    pub tokens: Option<u64>,
    /// US dollars.
    pub cost: Option<f64>,
}

/// The actions the model may take; anything else is refused and the model told why.
#[derive(Debug, Clone, Default)]
pub struct AgentTools {
    /// `save`: named variables, each checked like an `ask` answer before it is stored.
    pub save: Vec<SaveField>,
    /// `goto_flow`: only these flows.
    pub goto_flow: Vec<String>,
    /// Where each of `goto_flow` is written, for the check that the flow exists.
    pub goto_flow_at: Vec<Pos>,
    /// `handoff`: to a person, with the step's message and timeout.
    pub handoff: Option<HandoffTool>,
    /// `tag`: only these tags.
    pub tag: Vec<String>,
    /// `send_buttons`: the model picks among these (id, title) and writes the text.
    pub send_buttons: Vec<(String, String)>,
    /// `end`: the step ends and the flow goes on.
    pub end: bool,
}

impl AgentTools {
    pub fn is_empty(&self) -> bool {
        self.save.is_empty()
            && self.goto_flow.is_empty()
            && self.handoff.is_none()
            && self.tag.is_empty()
            && self.send_buttons.is_empty()
            && !self.end
    }
}

#[derive(Debug, Clone)]
pub struct SaveField {
    pub name: String,
    /// Checked like an `ask` with this `expect` (text, number, email, phone, choice, regex).
    pub expect: Expect,
    /// What the model is told the value is.
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct HandoffTool {
    pub message: Option<String>,
    pub timeout: Option<Duration>,
}

/// Checks of every answer before it reaches the customer.
#[derive(Debug, Clone)]
pub struct Guardrails {
    /// Characters (WhatsApp allows 4,096 in a text).
    pub max_length: usize,
    /// Links may only point to these domains (and their subdomains); empty: no links.
    pub allowed_domains: Vec<String>,
    /// Answers matching any of these are refused (the source kept for the reason).
    pub forbid: Vec<(String, regex::Regex)>,
    /// Phone numbers, emails and long digit runs are masked in logs, traces and the
    /// stored exchanges.
    pub mask_personal_data: bool,
}

impl Default for Guardrails {
    fn default() -> Self {
        Self {
            max_length: 1000,
            allowed_domains: Vec::new(),
            forbid: Vec::new(),
            mask_personal_data: false,
        }
    }
}
