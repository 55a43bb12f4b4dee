//! Reads a scenario file over the YAML's marked tree, which keeps each part's line and
//! column, so every mistake points at the setting it is about; all mistakes are gathered,
//! not just the first.

use super::{
    Customer, Expect, Outcome, Problem, Scenario, Wanted, DEFAULT_GIVES_UP_AFTER, MAX_LIST,
    MAX_RUNS, MAX_TEXT,
};
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::Node;
use std::collections::BTreeMap;

/// What a scenario may name.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The config's models.
    pub models: Vec<String>,
    /// The flows by id with their agent step's rubric; `None`: the flows did not load, so
    /// the `flow:` named is not checked here (running says why the flows are broken).
    pub flows: Option<BTreeMap<String, Vec<String>>>,
}

const TOP: &[&str] = &[
    "name", "flow", "runs", "contact", "customer", "judge", "expect",
];
const CONTACT: &[&str] = &["phone", "name"];
const CUSTOMER: &[&str] = &[
    "model",
    "script",
    "persona",
    "goal",
    "knows",
    "language",
    "style",
    "voice_notes",
    "opening",
    "gives_up_after",
];
const EXPECT: &[&str] = &[
    "outcome",
    "vars",
    "tools_called",
    "tools_never_called",
    "replies",
    "turns_at_most",
    "cost_at_most",
    "rubric",
];
const REPLIES: &[&str] = &["max_length", "allowed_domains", "forbid"];

/// The phone a scenario's customer writes from when the file gives none.
const DEFAULT_PHONE: &str = "+15551230077";

/// Reads a scenario: the scenario, or every mistake found (sorted by place).
pub fn parse(text: &str, known: &Known) -> Result<Scenario, Vec<Problem>> {
    if let Err(r) = crate::config::file_limits::check_nesting(text) {
        return Err(vec![Problem {
            line: r.line,
            column: r.column,
            message: r.message,
            hint: Some(r.hint),
        }]);
    }
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
    let root = match marked_yaml::parse_yaml_with_options(0, text, options) {
        Ok(root) => root,
        Err(e) => return Err(vec![super::unreadable::explain(text, &e)]),
    };
    let mut r = Reader {
        problems: Vec::new(),
        known,
    };
    let scenario = r.scenario(&root);
    let mut problems = r.problems;
    problems.sort_by_key(|p| (p.line, p.column));
    match scenario {
        Some(s) if problems.is_empty() => Ok(s),
        _ => Err(problems),
    }
}

struct Reader<'k> {
    problems: Vec<Problem>,
    known: &'k Known,
}

fn place(node: &Node) -> (usize, usize) {
    let first_key = node
        .as_mapping()
        .and_then(|m| m.keys().next())
        .and_then(|k| k.span().start());
    first_key
        .or(node.span().start())
        .map_or((1, 1), |m| (m.line(), m.column()))
}

fn key_place(key: &MarkedScalarNode) -> (usize, usize) {
    key.span()
        .start()
        .map_or((1, 1), |m| (m.line(), m.column()))
}

/// An empty value (`key:` with nothing after it), or `~`/`null`.
fn is_null(node: &Node) -> bool {
    node.as_scalar()
        .is_some_and(|s| matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL"))
}

impl Reader<'_> {
    fn error(&mut self, at: (usize, usize), message: impl Into<String>, hint: Option<String>) {
        self.problems.push(Problem {
            line: at.0,
            column: at.1,
            message: message.into(),
            hint,
        });
    }

    /// A group of settings with only `allowed` keys: the group, or `None` (said why).
    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<&'n MarkedMappingNode> {
        let Some(map) = node.as_mapping() else {
            self.error(
                place(node),
                format!("`{what}` is a group of settings"),
                Some(format!(
                    "write them on the lines below it, indented: {}",
                    allowed.join(", ")
                )),
            );
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let near = allowed
                    .iter()
                    .find(|a| crate::flows::triggers::explain::edit_distance(a, key.as_str()) <= 2)
                    .map(|a| format!("did you mean `{a}`? "))
                    .unwrap_or_default();
                self.error(
                    key_place(key),
                    format!("`{}` is not a setting of `{what}`", key.as_str()),
                    Some(format!("{near}`{what}` takes: {}", allowed.join(", "))),
                );
            }
        }
        Some(map)
    }

    fn text(&mut self, node: &Node, what: &str) -> Option<String> {
        let Some(s) = node.as_scalar().filter(|_| !is_null(node)) else {
            self.error(
                place(node),
                format!("`{what}` is a text"),
                Some(format!(
                    "write it after `{what}:` on the same line, in quotes if it holds `: ` or `#`"
                )),
            );
            return None;
        };
        let text = s.as_str();
        if text.chars().count() > MAX_TEXT {
            self.error(
                place(node),
                format!(
                    "`{what}` is {} characters long; at most {MAX_TEXT}",
                    text.chars().count()
                ),
                Some("shorten it".into()),
            );
            return None;
        }
        Some(text.to_string())
    }

    fn number(&mut self, node: &Node, what: &str, min: f64, max: f64) -> Option<f64> {
        let parsed = node
            .as_scalar()
            .and_then(|s| s.as_str().trim().parse::<f64>().ok());
        match parsed {
            Some(n) if n.is_finite() && n >= min && n <= max => Some(n),
            _ => {
                self.error(
                    place(node),
                    format!("`{what}` is a number from {min} to {max}"),
                    Some(format!(
                        "write it like `{what}: {}`",
                        if max >= 1.0 { max.min(5.0) } else { max }
                    )),
                );
                None
            }
        }
    }

    fn whole(&mut self, node: &Node, what: &str, min: u32, max: u32) -> Option<u32> {
        let parsed = node
            .as_scalar()
            .and_then(|s| s.as_str().trim().parse::<u32>().ok());
        match parsed {
            Some(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(
                    place(node),
                    format!("`{what}` is a whole number from {min} to {max}"),
                    Some(format!("write it like `{what}: {}`", max.min(5).max(min))),
                );
                None
            }
        }
    }

    fn list(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let Some(seq) = node.as_sequence() else {
            self.error(
                place(node),
                format!("`{what}` is a list"),
                Some(format!(
                    "write it like `{what}: [a, b]`, or each item on its own `- ` line"
                )),
            );
            return None;
        };
        if seq.len() > MAX_LIST {
            self.error(
                place(&seq[MAX_LIST]),
                format!("`{what}` has {} items; at most {MAX_LIST}", seq.len()),
                Some("keep the ones that matter".into()),
            );
            return None;
        }
        let mut out = Vec::new();
        for item in seq.iter() {
            out.push(self.text(item, what)?);
        }
        Some(out)
    }

    fn model(&mut self, node: &Node, what: &str) -> Option<String> {
        let name = self.text(node, what)?;
        if !self.known.models.contains(&name) {
            let have = if self.known.models.is_empty() {
                "the config has no models".to_string()
            } else {
                format!("the config's models are: {}", self.known.models.join(", "))
            };
            self.error(
                place(node),
                format!("`{what}`: there is no model `{name}` in the config's `models:`"),
                Some(format!(
                    "{have}; add one (a scripted model needs no network), or name one of them"
                )),
            );
            return None;
        }
        Some(name)
    }

    fn pattern(&mut self, node: &Node, what: &str) -> Option<String> {
        let text = self.text(node, what)?;
        match regex::RegexBuilder::new(&text)
            .size_limit(256 * 1024)
            .build()
        {
            Ok(_) => Some(text),
            Err(e) => {
                let why = match &e {
                    regex::Error::Syntax(s) => s
                        .lines()
                        .last()
                        .unwrap_or(s)
                        .trim_start_matches("error: ")
                        .to_string(),
                    other => other.to_string(),
                };
                self.error(
                    place(node),
                    format!("`{what}`: `{text}` is not a pattern Parley can read ({why})"),
                    Some("to match one of ( ) [ ] { } . * + ? | ^ $ as it is, put a backslash before it (two inside double quotes)".into()),
                );
                None
            }
        }
    }

    fn scenario(&mut self, root: &Node) -> Option<Scenario> {
        let map = self.mapping(root, "the scenario", TOP)?;
        let need = |r: &mut Self, key: &str, example: &str| -> Option<&Node> {
            let got = map.get_node(key);
            if got.is_none() {
                r.error(
                    (1, 1),
                    format!("the scenario has no `{key}:`"),
                    Some(format!("add it, like `{example}`")),
                );
            }
            got
        };
        let name = need(
            self,
            "name",
            "name: A hurried customer gets their order noted",
        )
        .and_then(|n| self.text(n, "name"));
        let flow_node = need(self, "flow", "flow: support_agent");
        let flow = flow_node.and_then(|n| self.flow(n));
        let runs = map
            .get_node("runs")
            .and_then(|n| self.whole(n, "runs", 1, MAX_RUNS));
        let (phone, contact_name) = match map.get_node("contact") {
            None => (DEFAULT_PHONE.to_string(), None),
            Some(n) => self.contact(n),
        };
        let customer = need(
            self,
            "customer",
            "customer: { model: customer, goal: \"…\" }",
        )
        .and_then(|n| self.customer(n));
        let judge = map.get_node("judge").and_then(|n| self.model(n, "judge"));
        let expect = match map.get_node("expect") {
            Some(n) => self.expect(n),
            None => Some(Expect::default()),
        };
        let mut expect = expect?;
        let flow = flow?;
        let rubric_written = map
            .get_mapping("expect")
            .is_some_and(|e| e.get_node("rubric").is_some());
        if !rubric_written {
            if let Some(flows) = &self.known.flows {
                expect.rubric = flows.get(&flow).cloned().unwrap_or_default();
            }
        }
        if !expect.rubric.is_empty() && judge.is_none() && map.get_node("judge").is_none() {
            let from = if rubric_written {
                "the scenario has a `rubric:`".to_string()
            } else {
                format!("the flow `{flow}` has a `rubric:` (its agent step's)")
            };
            self.error(
                flow_node.map_or((1, 1), place),
                format!("{from}, and a rubric needs a judge"),
                Some("add `judge: MODEL` (a model of the config's `models:`), or `rubric: []` under `expect:` to judge nothing".into()),
            );
        }
        Some(Scenario {
            name: name?,
            flow,
            runs,
            phone,
            contact_name,
            customer: customer?,
            expect,
            judge,
        })
    }

    fn flow(&mut self, node: &Node) -> Option<String> {
        let id = self.text(node, "flow")?;
        if let Some(flows) = &self.known.flows {
            if !flows.contains_key(&id) {
                let ids: Vec<&str> = flows.keys().map(String::as_str).collect();
                self.error(
                    place(node),
                    format!("there is no flow `{id}`"),
                    Some(format!(
                        "name a flow by its `id:`; the flows are: {}",
                        ids.join(", ")
                    )),
                );
                return None;
            }
        }
        Some(id)
    }

    fn contact(&mut self, node: &Node) -> (String, Option<String>) {
        let Some(map) = self.mapping(node, "contact", CONTACT) else {
            return (DEFAULT_PHONE.into(), None);
        };
        let phone = map
            .get_node("phone")
            .and_then(|n| self.text(n, "phone"))
            .unwrap_or_else(|| DEFAULT_PHONE.into());
        let name = map.get_node("name").and_then(|n| self.text(n, "name"));
        (phone, name)
    }

    fn customer(&mut self, node: &Node) -> Option<Customer> {
        let map = self.mapping(node, "customer", CUSTOMER)?;
        let mut c = Customer {
            gives_up_after: DEFAULT_GIVES_UP_AFTER,
            ..Customer::default()
        };
        let text = |r: &mut Self, key: &str| map.get_node(key).and_then(|n| r.text(n, key));
        c.model = map.get_node("model").and_then(|n| self.model(n, "model"));
        if let Some(n) = map.get_node("script") {
            c.script = self.list(n, "script").unwrap_or_default();
        }
        match (map.get_node("model"), map.get_node("script")) {
            (Some(_), Some(n)) => self.error(
                place(n),
                "a customer is played by a `model` or follows a `script`, not both",
                Some("keep one".into()),
            ),
            (None, None) => self.error(
                place(node),
                "the customer has neither a `model` nor a `script`",
                Some("add `model: NAME` (a model of the config's `models:`) or `script:` with their messages".into()),
            ),
            _ => {}
        }
        c.persona = text(self, "persona").unwrap_or_default();
        c.goal = text(self, "goal").unwrap_or_default();
        if let Some(n) = map.get_node("knows") {
            c.knows = self.knows(n);
        }
        if let Some(n) = map.get_node("language") {
            if let Some(l) = self.text(n, "language") {
                if crate::flows::languages::valid_code(&l) {
                    c.language = Some(l);
                } else {
                    self.error(
                        place(n),
                        format!("language: `{l}` is not a language code"),
                        Some("write two or three small letters, optionally `_` and a region in capitals, like `es` or `pt_BR`".into()),
                    );
                }
            }
        }
        if let Some(n) = map.get_node("style") {
            c.style = match n.as_scalar() {
                Some(_) => self.text(n, "style").into_iter().collect(),
                None => self.list(n, "style").unwrap_or_default(),
            };
        }
        if let Some(n) = map.get_node("voice_notes") {
            match n.as_scalar().and_then(|s| s.as_bool()) {
                Some(b) => c.voice_notes = b,
                None => self.error(place(n), "`voice_notes` is true or false", None),
            }
        }
        c.opening = text(self, "opening");
        if let Some(n) = map.get_node("gives_up_after") {
            c.gives_up_after = self.whole(n, "gives_up_after", 1, MAX_LIST as u32)?;
        }
        Some(c)
    }

    fn knows(&mut self, node: &Node) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(map) = node.as_mapping() else {
            self.error(
                place(node),
                "`knows` is a group of settings",
                Some("write what they know like `knows: { order_number: \"A-12345\" }`".into()),
            );
            return out;
        };
        for (key, value) in map.iter().take(MAX_LIST) {
            if let Some(text) = self.text(value, key.as_str()) {
                out.insert(key.as_str().to_string(), text);
            }
        }
        out
    }

    fn expect(&mut self, node: &Node) -> Option<Expect> {
        let map = self.mapping(node, "expect", EXPECT)?;
        let mut e = Expect::default();
        if let Some(n) = map.get_node("outcome") {
            let word = self.text(n, "outcome")?;
            e.outcome = Outcome::ALL.into_iter().find(|o| o.name() == word);
            if e.outcome.is_none() {
                let all: Vec<&str> = Outcome::ALL.iter().map(|o| o.name()).collect();
                self.error(
                    place(n),
                    format!("`{word}` is not an outcome"),
                    Some(format!("write one of: {}", all.join(", "))),
                );
            }
        }
        if let Some(n) = map.get_node("vars") {
            e.vars = self.vars(n);
        }
        for (key, slot) in [
            ("tools_called", &mut e.tools_called),
            ("tools_never_called", &mut e.tools_never_called),
            ("rubric", &mut e.rubric),
        ] {
            if let Some(n) = map.get_node(key) {
                *slot = self.list(n, key).unwrap_or_default();
            }
        }
        if let Some(n) = map.get_node("replies") {
            if let Some(replies) = self.mapping(n, "replies", REPLIES) {
                e.max_length = replies
                    .get_node("max_length")
                    .and_then(|n| self.whole(n, "max_length", 1, 65_536))
                    .map(|n| n as usize);
                e.allowed_domains = replies
                    .get_node("allowed_domains")
                    .and_then(|n| self.list(n, "allowed_domains"));
                if let Some(n) = replies.get_node("forbid") {
                    let texts = match n.as_scalar() {
                        Some(_) => vec![n],
                        None => n
                            .as_sequence()
                            .map(|s| s.iter().take(MAX_LIST).collect())
                            .unwrap_or_default(),
                    };
                    if texts.is_empty() {
                        self.error(
                            place(n),
                            "`forbid` is a list of patterns",
                            Some("write it like `forbid: [\"guarantee\", \"(?i)free\"]`".into()),
                        );
                    }
                    e.forbid = texts
                        .into_iter()
                        .filter_map(|n| self.pattern(n, "forbid"))
                        .collect();
                }
            }
        }
        e.turns_at_most = map
            .get_node("turns_at_most")
            .and_then(|n| self.whole(n, "turns_at_most", 1, MAX_LIST as u32));
        e.cost_at_most = map
            .get_node("cost_at_most")
            .and_then(|n| self.number(n, "cost_at_most", 0.0, 1000.0));
        Some(e)
    }

    fn vars(&mut self, node: &Node) -> BTreeMap<String, Wanted> {
        let mut out = BTreeMap::new();
        let Some(map) = node.as_mapping() else {
            self.error(
                place(node),
                "`vars` is a group of settings",
                Some("write them like `vars: { order_number: \"A-12345\" }`".into()),
            );
            return out;
        };
        for (key, value) in map.iter().take(MAX_LIST) {
            let name = key.as_str();
            let wanted = match value.as_mapping() {
                Some(m) => {
                    let only_matches = m.len() == 1 && m.get_node("matches").is_some();
                    if only_matches {
                        m.get_node("matches")
                            .and_then(|n| self.pattern(n, "matches"))
                            .map(Wanted::Matches)
                    } else {
                        self.error(
                            place(value),
                            format!("`{name}` takes a text, or `{{ matches: PATTERN }}`"),
                            Some(format!("write `{name}: \"A-12345\"` or `{name}: {{ matches: \"^A-[0-9]{{5}}$\" }}`")),
                        );
                        None
                    }
                }
                None => self.text(value, name).map(Wanted::Exact),
            };
            if let Some(w) = wanted {
                out.insert(name.to_string(), w);
            }
        }
        out
    }
}
