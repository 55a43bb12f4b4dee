//! The `agent` step: a language model answers the customer within what the author wrote.
//! Checked at load: the model is one of the config's `models:` (when the config is known),
//! the texts and their blanks, every number in its range, the exits' step ids, the window
//! fallback, the guardrails (`guardrails`), the knowledge files (`agent_knowledge`) and the
//! tools (`agent_tools`). `goto_flow` names are checked across flows in `set`.

use super::super::model::{AgentBudget, AgentExit, AgentSpec, FallbackSpec};
use super::super::problem::{did_you_mean, Pos, Problems};
use super::super::yaml::{self, YamlNode};
use super::content::{check_len, fallback};
use super::{agent_knowledge, agent_tools, blanks, guardrails, Builder, Slot};
use crate::domain::limits::TEXT_MAX;
use marked_yaml::types::MarkedMappingNode;
use std::time::Duration;

pub const AGENT_KEYS: &[&str] = &[
    "model",
    "instructions",
    "scope",
    "opening",
    "history",
    "knowledge",
    "passages",
    "tools",
    "max_turns",
    "budget",
    "timeout",
    "max_tokens",
    "on_error",
    "on_budget",
    "if_window_closed",
    "guardrails",
    "rubric",
    "score",
    "cite",
    "retrieval",
];
pub const BUDGET_KEYS: &[&str] = &["tokens", "cost"];
pub const EXIT_KEYS: &[&str] = &["say", "goto"];
/// The longest instructions; they are sent with every turn.
const INSTRUCTIONS_MAX: usize = 20_000;
const SCOPE_MAX: usize = 500;
/// The shortest `timeout`: a model that must answer sooner than this never does.
const TIMEOUT_MIN: Duration = Duration::from_secs(1);
const TIMEOUT_MAX: Duration = Duration::from_secs(5 * 60);

pub fn compile(
    b: &mut Builder<'_>,
    value: &YamlNode,
    at: Pos,
    index: usize,
    problems: &mut Problems,
) -> Option<AgentSpec> {
    let Some(m) = (match value {
        YamlNode::Mapping(m) => Some(m),
        _ => None,
    }) else {
        problems.error(
            at,
            "`agent` is a group of settings, at least `model:` and `instructions:`",
            Some("write `model:` and `instructions:` on the next lines, indented two more spaces than `agent`".into()),
        );
        return None;
    };
    yaml::check_keys(m, AGENT_KEYS, "an `agent`", problems);
    blanks::check_keys(m, &["instructions", "scope", "opening"], b.ctx, problems);
    let model = model(m, at, b, problems);
    let instructions = instructions(m, at, problems);
    let scope = scope(m, at, problems);
    let opening = text(m, "opening", problems);
    if let (Some(text), Some(n)) = (&opening, m.get_node("opening")) {
        check_len(text, TEXT_MAX, "the opening", yaml::pos(n), problems);
    }
    let history = number(m, "history", 10, 0, 50, problems);
    let passages = number(m, "passages", 3, 1, 10, problems);
    let knowledge = match m.get_node("knowledge") {
        Some(n) => agent_knowledge::compile(n, b, problems),
        None => {
            if let Some(n) = m.get_node("passages") {
                problems.warning(
                    yaml::pos(n),
                    "`passages` does nothing without `knowledge:` files",
                    Some("add `knowledge: [knowledge/faq.md]`, or remove `passages`".into()),
                );
            }
            Some(None)
        }
    };
    let tools = match m.get_node("tools") {
        Some(n) if !yaml::is_empty(n) => agent_tools::compile(n, b.ctx, problems),
        _ => Some(Default::default()),
    };
    let max_turns = number(m, "max_turns", 20, 1, 1_000, problems);
    let budget = budget(m, problems);
    check_cost_is_priced(b, m, &budget, model.as_deref(), problems);
    let timeout = timeout(m, problems);
    let max_tokens = number(m, "max_tokens", 500, 1, 16_384, problems);
    check_budget_fits_a_call(m, &budget, max_tokens, problems);
    let on_error = exit(b, m, "on_error", index, Slot::OnError, problems);
    let on_budget = exit(b, m, "on_budget", index, Slot::OnBudget, problems);
    if m.get_node("on_budget").is_some() && budget.tokens.is_none() && budget.cost.is_none() {
        problems.warning(
            yaml::pos(m.get_node("on_budget")?),
            "`on_budget` is never used: this agent has no `budget`",
            Some("add `budget: { tokens: 20000 }` or `budget: { cost: 0.05 }`".into()),
        );
    }
    let if_window_closed = match m.get_node("if_window_closed") {
        None => Some(FallbackSpec::Undeclared),
        Some(n) => fallback(n, b.ctx, problems),
    };
    let guardrails = guardrails::compile(m, problems);
    let models = b.ctx.deployment.map(|d| d.model_names.as_slice());
    let scoring = crate::flows::scoring::compile(m, models, problems);
    let cite = agent_knowledge::cite(m, problems);
    let retrieval = crate::flows::retrieval::compile(m, b.ctx.deployment, problems);
    let (rubric, score) = scoring?;
    Some(AgentSpec {
        model: model?,
        instructions: instructions?,
        scope,
        opening,
        history: history? as usize,
        knowledge: knowledge?,
        passages: passages? as usize,
        tools: tools?,
        max_turns: max_turns? as u32,
        budget,
        timeout: timeout?,
        max_tokens: max_tokens? as u32,
        on_error: on_error?,
        on_budget: on_budget?,
        if_window_closed: if_window_closed?,
        guardrails: guardrails?,
        rubric,
        score,
        cite: cite?,
        retrieval: retrieval?,
    })
}

/// The text of setting `key`, if it is written (and is text).
fn text(m: &MarkedMappingNode, key: &str, problems: &mut Problems) -> Option<String> {
    m.get_node(key)
        .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
        .map(str::to_string)
}

/// `instructions:`, required, not empty, and short enough to send with every turn.
fn instructions(m: &MarkedMappingNode, at: Pos, problems: &mut Problems) -> Option<String> {
    match text(m, "instructions", problems) {
        Some(text) if !text.trim().is_empty() => {
            let n = text.chars().count();
            if n > INSTRUCTIONS_MAX {
                problems.error(
                    yaml::pos(m.get_node("instructions")?),
                    format!("the instructions are {n} characters long; an agent takes at most {INSTRUCTIONS_MAX}"),
                    Some("they go with every turn: keep them short and put reference text in `knowledge:` files".into()),
                );
            }
            Some(text)
        }
        Some(_) => {
            problems.error(
                yaml::pos(m.get_node("instructions")?),
                "`instructions` is empty: the model needs to be told what the assistant is for",
                Some("like `instructions: You answer questions about orders of Acme.` (use `|` and the next lines for several lines)".into()),
            );
            None
        }
        None => {
            problems.error(
                m.get_node("instructions").map(yaml::pos).unwrap_or(at),
                "`agent` needs `instructions:`: what the assistant is for and how it answers",
                Some("like `instructions: You answer questions about orders of Acme.` (use `|` and the next lines for several lines)".into()),
            );
            None
        }
    }
}

/// `scope:`, the one task the assistant is for; its absence is warned about.
fn scope(m: &MarkedMappingNode, at: Pos, problems: &mut Problems) -> Option<String> {
    let scope = text(m, "scope", problems);
    if let (Some(text), Some(n)) = (&scope, m.get_node("scope")) {
        if text.trim().is_empty() {
            problems.error(yaml::pos(n), "`scope` is empty", Some("say the one task the assistant is for, like `scope: orders, deliveries and returns at Acme`".into()));
        }
        check_chars(text, SCOPE_MAX, "`scope`", yaml::pos(n), problems);
    }
    if scope.is_none() {
        problems.warning(
            at,
            "this agent has no `scope`: WhatsApp allows business assistants only for a stated task, and the model is not told to decline other questions",
            Some("add `scope:` with the task, like `scope: \"orders, deliveries and returns at Acme\"`".into()),
        );
    }
    scope
}

/// A `cost` budget on a model without prices would never stop it.
fn check_cost_is_priced(
    b: &Builder<'_>,
    m: &MarkedMappingNode,
    budget: &AgentBudget,
    model: Option<&str>,
    problems: &mut Problems,
) {
    if let (Some(_), Some(name), Some(node)) = (
        budget.cost,
        model,
        m.get_node("budget")
            .and_then(|n| n.as_mapping())
            .and_then(|bm| bm.get_node("cost")),
    ) {
        if b.ctx
            .deployment
            .is_some_and(|d| d.unpriced_models.iter().any(|u| u == name))
        {
            problems.warning(
                yaml::pos(node),
                format!("model `{name}` has no prices in the config, so its calls cost nothing and this `cost` budget never stops it"),
                Some(format!("add `price_input` and `price_output` (US dollars per million tokens) to model `{name}` in the config's `models:`, or budget in `tokens`")),
            );
        }
    }
}

/// `timeout:`, between `TIMEOUT_MIN` and `TIMEOUT_MAX`; 30 seconds when left out.
fn timeout(m: &MarkedMappingNode, problems: &mut Problems) -> Option<Duration> {
    match m.get_node("timeout") {
        None => Some(Duration::from_secs(30)),
        Some(n) => yaml::as_duration(n, "`timeout`", problems).and_then(|d| {
            if d < TIMEOUT_MIN || d > TIMEOUT_MAX {
                let why = if d < TIMEOUT_MIN {
                    "at least 1s: no model answers sooner"
                } else {
                    "at most 5m: the customer is waiting for the answer"
                };
                problems.error(
                    yaml::pos(n),
                    format!("an agent's `timeout` must be {why}"),
                    Some("30s (the default) suits most models".into()),
                );
                None
            } else {
                Some(d)
            }
        }),
    }
}

/// Each call reserves `max_tokens` for its answer before it is made (besides its prompt),
/// so a token budget no larger than that lets no call through at all.
fn check_budget_fits_a_call(
    m: &MarkedMappingNode,
    budget: &AgentBudget,
    max_tokens: Option<i64>,
    problems: &mut Problems,
) {
    if let (Some(limit), Some(answer)) = (budget.tokens, max_tokens) {
        let node = m.get_node("budget");
        let at = node
            .and_then(|n| n.as_mapping())
            .and_then(|bm| bm.get_node("tokens"))
            .or(node);
        if let Some(at) = at.filter(|_| limit <= answer as u64) {
            problems.error(
                yaml::pos(at),
                format!(
                    "a budget of {limit} tokens leaves no room for one call: each call keeps `max_tokens` ({answer}{}) for its answer, besides the prompt, so the model would never be asked",
                    if m.get_node("max_tokens").is_none() { ", the default" } else { "" }
                ),
                Some(format!(
                    "give the conversation several calls' worth, like `tokens: {}`, or lower `max_tokens`",
                    (answer as u64).saturating_mul(20).max(20_000)
                )),
            );
        }
    }
}

fn model(
    m: &MarkedMappingNode,
    at: Pos,
    b: &Builder<'_>,
    problems: &mut Problems,
) -> Option<String> {
    let Some(node) = m.get_node("model") else {
        problems.error(
            at,
            "`agent` needs `model:`: the name of a model from the config's `models:`",
            Some("like `model: assistant`, with `models: [{ name: assistant, kind: openai, … }]` in the config".into()),
        );
        return None;
    };
    let name = yaml::as_str(node, "`model`", problems)?;
    let Some(known) = b.ctx.deployment.map(|d| &d.model_names) else {
        return Some(name.to_string());
    };
    if known.iter().any(|k| k == name) {
        return Some(name.to_string());
    }
    if b.ctx
        .deployment
        .is_some_and(|d| d.embedding_models.iter().any(|k| k == name))
    {
        problems.error(
            yaml::pos(node),
            format!("model `{name}` is an embedding model (`embeddings: true`): it finds passages and cannot hold a conversation"),
            Some(format!("name a chat model here, and `{name}` under `retrieval: {{ embeddings: {name} }}`")),
        );
        return None;
    }
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    let hint = match did_you_mean(name, &names) {
        Some(s) => format!("did you mean `{s}`?"),
        None if names.is_empty() => {
            "the config has no `models:`; add one, like `models: [{ name: assistant, kind: openai, base_url: \"https://api.openai.com/v1\", api_key: \"${OPENAI_API_KEY}\", model: gpt-4o-mini }]`".into()
        }
        None => format!("the config's models are: {}", names.join(", ")),
    };
    problems.error(
        yaml::pos(node),
        format!("there is no model `{name}` in the config's `models:`"),
        Some(hint),
    );
    None
}

/// A whole number setting with its default and range.
fn number(
    m: &MarkedMappingNode,
    key: &str,
    default: i64,
    min: i64,
    max: i64,
    problems: &mut Problems,
) -> Option<i64> {
    let Some(node) = m.get_node(key) else {
        return Some(default);
    };
    let n = yaml::as_int(node, &format!("`{key}`"), problems)?;
    if !(min..=max).contains(&n) {
        problems.error(
            yaml::pos(node),
            format!("`{key}` must be between {min} and {max}, found {n}"),
            Some(format!("leave it out for the default, {default}")),
        );
        return None;
    }
    Some(n)
}

fn check_chars(text: &str, max: usize, what: &str, at: Pos, problems: &mut Problems) {
    let n = text.chars().count();
    if n > max {
        problems.error(
            at,
            format!("{what} is {n} characters long; at most {max}"),
            Some("shorten it".into()),
        );
    }
}

/// `budget: { tokens: 20000, cost: 0.05 }`; a wrong value is reported and left out.
fn budget(m: &MarkedMappingNode, problems: &mut Problems) -> AgentBudget {
    let Some(node) = m.get_node("budget") else {
        return AgentBudget::default();
    };
    let Some(bm) = yaml::as_map(node, "`budget`", problems) else {
        return AgentBudget::default();
    };
    yaml::check_keys(bm, BUDGET_KEYS, "`budget`", problems);
    let tokens = bm.get_node("tokens").and_then(|n| {
        let v = yaml::as_int(n, "`tokens`", problems)?;
        if v <= 0 {
            problems.error(
                yaml::pos(n),
                format!("`tokens` must be more than 0, found {v}"),
                Some(
                    "the tokens one conversation may spend on models, like `tokens: 20000`".into(),
                ),
            );
            return None;
        }
        Some(v as u64)
    });
    let cost = bm.get_node("cost").and_then(|n| {
        let v = yaml::as_f64(n, "`cost`", problems)?;
        if v <= 0.0 {
            problems.error(
                yaml::pos(n),
                format!("`cost` must be more than 0, found {v}"),
                Some("US dollars one conversation may spend on models, like `cost: 0.05`".into()),
            );
            return None;
        }
        Some(v)
    });
    if bm.is_empty() {
        problems.error(
            yaml::pos(node),
            "`budget` is empty",
            Some("give `tokens:`, `cost:` (US dollars) or both".into()),
        );
    }
    AgentBudget { tokens, cost }
}

/// `on_error` / `on_budget`: `{ say: "…", goto: step_id }`, both optional.
fn exit(
    b: &mut Builder<'_>,
    m: &MarkedMappingNode,
    key: &str,
    index: usize,
    slot: Slot,
    problems: &mut Problems,
) -> Option<AgentExit> {
    let Some(node) = m.get_node(key) else {
        return Some(AgentExit::default());
    };
    let Some(em) = (match node {
        YamlNode::Mapping(em) => Some(em),
        _ => None,
    }) else {
        problems.error(
            yaml::pos(node),
            format!("`{key}` is a group of settings: `say:` (a message) and `goto:` (a step id)"),
            Some(format!(
                "like `{key}: {{ say: \"Sorry, a person will reply.\", goto: human }}`"
            )),
        );
        return None;
    };
    yaml::check_keys(em, EXIT_KEYS, &format!("`{key}`"), problems);
    blanks::check_keys(em, &["say"], b.ctx, problems);
    let say = match em.get_node("say") {
        Some(n) => {
            let text = yaml::as_str(n, "`say`", problems)?.to_string();
            check_len(&text, TEXT_MAX, "the message", yaml::pos(n), problems);
            Some(text)
        }
        None => None,
    };
    let goto = match em.get_node("goto") {
        Some(n @ YamlNode::Scalar(id)) => {
            b.jump(index, slot, id.as_str(), yaml::pos(n));
            Some(usize::MAX)
        }
        Some(n) => {
            problems.error(
                yaml::pos(n),
                "`goto` takes the id of a step of this flow",
                Some("give the step an `id:` and write it here, like `goto: human`".into()),
            );
            return None;
        }
        None => None,
    };
    Some(AgentExit { say, goto })
}
