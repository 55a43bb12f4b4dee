//! The words the schema is built from: the places of a flow file that hold named keys,
//! the kinds of value a key takes, and where a key's value leads. A leaf: what each place
//! holds is in `places.rs`, each key's words in `docs.rs`.

/// A group of settings in a flow file: the top of the file, a trigger, a step, an `ask`'s
/// settings, a button…
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// The top of a flow file.
    Flow,
    /// One of `triggers:`.
    Trigger,
    /// `schedule:`.
    Schedule,
    /// `schedule:`'s `audience:`.
    Audience,
    /// One step: its action, its `id`, and an `if`'s `then` and `else`.
    Step,
    /// What a `send` (or a handoff's `message`) sends, as settings.
    Send,
    /// An `ask`: its question (any `send` content) and what answer it expects.
    Ask,
    /// A `form` (a WhatsApp Flow).
    Form,
    /// One of a `form`'s `fields`.
    FormField,
    /// A `switch`.
    Switch,
    /// A `script` written as settings.
    Script,
    /// An `http` call.
    Http,
    /// A `handoff` written as settings.
    Handoff,
    /// An `agent`.
    Agent,
    /// An agent's `budget`.
    AgentBudget,
    /// An agent's `on_error` or `on_budget`.
    AgentExit,
    /// An agent's `tools`.
    AgentTools,
    /// One variable of an agent's `save` tool.
    AgentSave,
    /// An agent's `handoff` tool written as settings.
    AgentHandoff,
    /// An agent's `guardrails`.
    Guardrails,
    /// A web page or sitemap among an agent's `knowledge`.
    WebSource,
    /// An agent's `retrieval`.
    Retrieval,
    /// An agent's `score`.
    Score,
    /// The `budget` of an agent's `score`.
    ScoreBudget,
    /// A reply button written as settings.
    Button,
    /// A `list` of rows.
    List,
    /// One of a list's `sections`.
    ListSection,
    /// One of a list's `rows` written as settings.
    ListRow,
    /// A `url_button`.
    UrlButton,
    /// A `location` sent.
    Location,
    /// A `react` written as settings.
    Reaction,
    /// `if_window_closed` with a template.
    WindowFallback,
    /// A `language` step written as settings.
    Language,
    /// One arm of a `split`.
    SplitArm,
}

/// Every place, for the tests and the schema's definitions.
pub(super) const ALL: &[Place] = &[
    Place::Flow,
    Place::Trigger,
    Place::Schedule,
    Place::Audience,
    Place::Step,
    Place::Send,
    Place::Ask,
    Place::Form,
    Place::FormField,
    Place::Switch,
    Place::Script,
    Place::Http,
    Place::Handoff,
    Place::Agent,
    Place::AgentBudget,
    Place::AgentExit,
    Place::AgentTools,
    Place::AgentSave,
    Place::AgentHandoff,
    Place::Guardrails,
    Place::WebSource,
    Place::Retrieval,
    Place::Score,
    Place::ScoreBudget,
    Place::Button,
    Place::List,
    Place::ListSection,
    Place::ListRow,
    Place::UrlButton,
    Place::Location,
    Place::Reaction,
    Place::WindowFallback,
    Place::Language,
    Place::SplitArm,
];

/// The kind of value a key takes, as the schema checks it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// A single value read as text (YAML's numbers and yes/no are text to the compiler).
    Text,
    /// Text of at most this many characters.
    TextUpTo(u32),
    /// A web address: `https://…`, `http://…`, or a blank that holds one (`{{ vars.url }}`).
    Url,
    /// A whole number.
    Int,
    /// A whole number from the first to the second.
    IntIn(i64, i64),
    /// A number.
    Number,
    /// A number from the first to the second.
    NumberIn(f64, f64),
    /// `true` or `false`.
    Bool,
    /// A duration like `30s`, `10m`, `2h`, `1d`.
    Duration,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// `true`, or nothing written (`handoff:` alone).
    Yes,
    /// Nothing written (`tools:` alone).
    Null,
    /// Anything (the compiler does not look inside, or looks at each kind itself).
    Any,
    /// Settings with any names, each a single value (`set:`, `variables:`, `headers:`).
    Values,
    /// The settings of a place.
    Group(Place),
    /// A list of this.
    ListOf(&'static Shape),
    /// A list of this, with from the first to the second number of items.
    ListIn(&'static Shape, u32, u32),
    /// This alone, or a list of it (`keyword: hi` or `keyword: [hi, hello]`).
    OneOrList(&'static Shape),
    /// Either of two.
    Either(&'static Shape, &'static Shape),
    /// Settings with any names, each of this (`cases:`, an agent's `save:`).
    Named(&'static Shape),
    /// Where to go: a step id, a step, or a list of steps.
    Jump,
}

impl Shape {
    /// The kind of value, in words, for completion's detail.
    pub(super) fn words(&self) -> &'static str {
        match self {
            Shape::Text => "text",
            Shape::TextUpTo(_) => "text of a bounded length",
            Shape::Url => "a web address",
            Shape::Int => "a whole number",
            Shape::IntIn(..) => "a whole number in a range",
            Shape::Yes => "true, or nothing",
            Shape::Null => "nothing",
            Shape::Number => "a number",
            Shape::NumberIn(..) => "a number in a range",
            Shape::Bool => "true or false",
            Shape::Duration => "a duration like 30s, 10m, 2h or 1d",
            Shape::Choice(_) => "one of a few words",
            Shape::Any => "a value",
            Shape::Values => "names and values",
            Shape::Group(_) => "settings",
            Shape::ListOf(_) => "a list",
            Shape::ListIn(..) => "a list of a bounded length",
            Shape::OneOrList(_) => "one, or a list",
            Shape::Either(a, _) => a.words(),
            Shape::Named(_) => "names, each with settings",
            Shape::Jump => "a step id, a step, or a list of steps",
        }
    }

    /// The words a value of this shape may be, when it is one of a few.
    pub(super) fn choices(&self) -> &'static [&'static str] {
        match self {
            Shape::Choice(words) => words,
            Shape::OneOrList(s) | Shape::ListOf(s) | Shape::ListIn(s, ..) => s.choices(),
            Shape::Either(a, b) => match a.choices() {
                [] => b.choices(),
                words => words,
            },
            _ => &[],
        }
    }

    /// Where a key of this shape leads, for following a path into it.
    pub(super) fn next(&self) -> Option<Next> {
        match self {
            Shape::Group(p) => Some(Next::Place(*p)),
            Shape::ListOf(s) | Shape::OneOrList(s) | Shape::ListIn(s, ..) => s.next(),
            Shape::Named(s) => match s.next()? {
                Next::Place(p) => Some(Next::Named(p)),
                Next::Named(_) => None,
            },
            Shape::Either(a, b) => a.next().or_else(|| b.next()),
            Shape::Jump => Some(Next::Place(Place::Step)),
            _ => None,
        }
    }
}

/// Where a key's value leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// To a group of settings.
    Place(Place),
    /// To names of the author's own (a `switch`'s cases, an agent's variables), each
    /// holding this group.
    Named(Place),
}
