//! The trigger index, built once per flow set: matching a message costs a few hash
//! lookups, one Aho-Corasick scan and one RegexSet scan, whatever the number of flows.
//!
//! Precedence, one rule for everything: the flow with the highest `priority` wins; among
//! equal priorities the more specific kind of trigger wins, in this order — button, list
//! row or template quick-reply id; click-to-WhatsApp referral; keyword equal to the whole
//! message; keyword equal to the first word; regular expression; keyword contained in the
//! message; message type; first message of a new contact; fallback — and then the flow
//! that comes first by file name. While a conversation waits for an answer, only
//! triggers marked `interrupt: true` are considered.

use crate::domain::{InboundContent, Referral};
use crate::flows::model::{Flow, KeywordMode, TriggerKind};
use crate::flows::normalize::normalize;
use aho_corasick::AhoCorasick;
use regex::RegexSet;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rank {
    Id = 0,
    Referral = 1,
    Whole = 2,
    FirstWord = 3,
    Regex = 4,
    Contains = 5,
    Type = 6,
    NewContact = 7,
    Fallback = 8,
}

impl Rank {
    pub fn describe(&self) -> &'static str {
        match self {
            Rank::Id => "button or quick-reply id",
            Rank::Referral => "ad referral",
            Rank::Whole => "keyword (whole message)",
            Rank::FirstWord => "keyword (first word)",
            Rank::Regex => "regular expression",
            Rank::Contains => "keyword (contained)",
            Rank::Type => "message type",
            Rank::NewContact => "new contact",
            Rank::Fallback => "fallback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub flow: usize,
    pub trigger: usize,
    pub priority: i64,
    pub rank: Rank,
    pub interrupt: bool,
}

impl Candidate {
    /// Smaller is better: priority first, then rank, then flow order.
    fn key(&self) -> (i64, Rank, usize, usize) {
        (-self.priority, self.rank, self.flow, self.trigger)
    }
}

/// What a message offers to the triggers.
pub struct MatchInput<'a> {
    pub content: &'a InboundContent,
    pub referral: Option<&'a Referral>,
    pub new_contact: bool,
    /// The conversation waits for an answer: only interrupting triggers count.
    pub waiting: bool,
}

#[derive(Debug, Clone)]
pub struct Matched {
    pub flow: Arc<Flow>,
    pub candidate: Candidate,
    /// Named groups of a regular expression trigger (`(?P<order>\d+)` → `order`).
    pub captures: Vec<(String, String)>,
}

#[derive(Default)]
pub struct TriggerIndex {
    ids: HashMap<String, Vec<Candidate>>,
    whole: HashMap<String, Vec<Candidate>>,
    first_word: HashMap<String, Vec<Candidate>>,
    contains: Option<(AhoCorasick, Vec<Candidate>)>,
    regex: Option<(RegexSet, Vec<Candidate>)>,
    types: HashMap<String, Vec<Candidate>>,
    referral: Vec<(Candidate, Vec<String>)>,
    new_contact: Vec<Candidate>,
    fallback: Vec<Candidate>,
}

impl TriggerIndex {
    pub fn build(flows: &[Arc<Flow>]) -> Self {
        let mut ix = TriggerIndex::default();
        let mut contains_patterns = Vec::new();
        let mut contains_cands = Vec::new();
        let mut regex_patterns = Vec::new();
        let mut regex_cands = Vec::new();
        for (fi, flow) in flows.iter().enumerate() {
            for (ti, t) in flow.triggers.iter().enumerate() {
                let cand = |rank| Candidate {
                    flow: fi,
                    trigger: ti,
                    priority: flow.priority,
                    rank,
                    interrupt: t.interrupt,
                };
                match &t.kind {
                    TriggerKind::Button { ids } => {
                        for id in ids {
                            ix.ids.entry(id.clone()).or_default().push(cand(Rank::Id));
                        }
                    }
                    TriggerKind::QuickReply { payloads } => {
                        for p in payloads {
                            ix.ids.entry(p.clone()).or_default().push(cand(Rank::Id));
                        }
                    }
                    TriggerKind::Keyword { words, mode } => {
                        for w in words {
                            let key = normalize(w);
                            match mode {
                                KeywordMode::Whole => {
                                    ix.whole.entry(key).or_default().push(cand(Rank::Whole))
                                }
                                KeywordMode::FirstWord => {
                                    ix.whole
                                        .entry(key.clone())
                                        .or_default()
                                        .push(cand(Rank::Whole));
                                    ix.first_word
                                        .entry(key)
                                        .or_default()
                                        .push(cand(Rank::FirstWord));
                                }
                                KeywordMode::Contains => {
                                    contains_patterns.push(format!(" {key} "));
                                    contains_cands.push(cand(Rank::Contains));
                                }
                            }
                        }
                    }
                    TriggerKind::Regex { pattern, .. } => {
                        regex_patterns.push(format!("(?i){pattern}"));
                        regex_cands.push(cand(Rank::Regex));
                    }
                    TriggerKind::MessageType { kinds } => {
                        for k in kinds {
                            ix.types
                                .entry(k.clone())
                                .or_default()
                                .push(cand(Rank::Type));
                        }
                    }
                    TriggerKind::Referral { source_ids } => {
                        ix.referral.push((cand(Rank::Referral), source_ids.clone()))
                    }
                    TriggerKind::NewContact => ix.new_contact.push(cand(Rank::NewContact)),
                    TriggerKind::Fallback => ix.fallback.push(cand(Rank::Fallback)),
                    // Started by a timer, not by a message.
                    TriggerKind::WindowClosing { .. } => {}
                }
            }
        }
        if !contains_patterns.is_empty() {
            // Patterns are padded with spaces and so is the text: matches are whole words.
            if let Ok(ac) = AhoCorasick::new(&contains_patterns) {
                ix.contains = Some((ac, contains_cands));
            }
        }
        if !regex_patterns.is_empty() {
            if let Ok(set) = regex::RegexSetBuilder::new(&regex_patterns)
                .size_limit(64 << 20)
                .build()
            {
                ix.regex = Some((set, regex_cands));
            }
        }
        ix
    }

    /// The winning trigger for a message, if any.
    pub fn best(&self, flows: &[Arc<Flow>], input: &MatchInput<'_>) -> Option<Matched> {
        let mut best: Option<Candidate> = None;
        let waiting = input.waiting;
        let consider = |best: &mut Option<Candidate>, c: &Candidate| -> bool {
            if waiting && !c.interrupt {
                return false;
            }
            if best.is_none_or(|b| c.key() < b.key()) {
                *best = Some(*c);
                return true;
            }
            false
        };
        let id = match input.content {
            InboundContent::ButtonReply { id, .. } | InboundContent::ListReply { id, .. } => {
                Some(id.as_str())
            }
            InboundContent::QuickReply { payload, .. } => Some(payload.as_str()),
            _ => None,
        };
        if let Some(cands) = id.and_then(|id| self.ids.get(id)) {
            for c in cands {
                consider(&mut best, c);
            }
        }
        if let Some(r) = input.referral {
            for (c, sources) in &self.referral {
                if sources.is_empty() || r.source_id.as_ref().is_some_and(|s| sources.contains(s)) {
                    consider(&mut best, c);
                }
            }
        }
        let text = input.content.text().map(normalize).unwrap_or_default();
        if !text.is_empty() {
            for c in self.whole.get(&text).into_iter().flatten() {
                consider(&mut best, c);
            }
            if let Some(first) = text.split(' ').next() {
                for c in self.first_word.get(first).into_iter().flatten() {
                    consider(&mut best, c);
                }
            }
            if let Some((ac, cands)) = &self.contains {
                let padded = format!(" {text} ");
                for m in ac.find_overlapping_iter(&padded) {
                    consider(&mut best, &cands[m.pattern().as_usize()]);
                }
            }
        }
        let raw_text = input.content.text().unwrap_or("");
        let mut regex_hit: Option<usize> = None;
        if let Some((set, cands)) = &self.regex {
            if !raw_text.is_empty() {
                for i in set.matches(raw_text).iter() {
                    if consider(&mut best, &cands[i]) {
                        regex_hit = Some(i);
                    }
                }
            }
        }
        for name in input.content.type_names().into_iter().flatten() {
            for c in self.types.get(name).into_iter().flatten() {
                consider(&mut best, c);
            }
        }
        // A reaction (added or removed), a first opening of the chat or a call is an event,
        // not something said to the bot: only a trigger naming it starts a flow.
        let conversational = input.content.is_conversational();
        if input.new_contact && conversational {
            for c in &self.new_contact {
                consider(&mut best, c);
            }
        }
        if conversational {
            for c in &self.fallback {
                consider(&mut best, c);
            }
        }
        let winner = best?;
        let flow = flows[winner.flow].clone();
        let mut captures = Vec::new();
        if winner.rank == Rank::Regex && regex_hit.is_some() {
            if let TriggerKind::Regex { regex, .. } = &flow.triggers[winner.trigger].kind {
                if let Some(caps) = regex.captures(raw_text) {
                    for name in regex.capture_names().flatten() {
                        if let Some(m) = caps.name(name) {
                            captures.push((name.to_string(), m.as_str().to_string()));
                        }
                    }
                }
            }
        }
        Some(Matched {
            flow,
            candidate: winner,
            captures,
        })
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::flows::problem::Pos;
    use crate::flows::Trigger;
    use proptest::prelude::*;

    /// One trigger of each kind, every one matching the same button press `go`.
    fn trigger(rank: Rank, kind: &str) -> TriggerKind {
        let keyword = |mode| TriggerKind::Keyword {
            words: vec!["go".into()],
            mode,
        };
        match rank {
            Rank::Id => TriggerKind::Button {
                ids: vec!["go".into()],
            },
            Rank::Referral => TriggerKind::Referral { source_ids: vec![] },
            Rank::Whole => keyword(KeywordMode::Whole),
            Rank::FirstWord => keyword(KeywordMode::FirstWord),
            Rank::Regex => TriggerKind::Regex {
                pattern: "^go$".into(),
                regex: regex::Regex::new("(?i)^go$").unwrap(),
            },
            Rank::Contains => keyword(KeywordMode::Contains),
            Rank::Type => TriggerKind::MessageType {
                kinds: vec![kind.into()],
            },
            Rank::NewContact => TriggerKind::NewContact,
            Rank::Fallback => TriggerKind::Fallback,
        }
    }

    const RANKS: [Rank; 9] = [
        Rank::Id,
        Rank::Referral,
        Rank::Whole,
        Rank::FirstWord,
        Rank::Regex,
        Rank::Contains,
        Rank::Type,
        Rank::NewContact,
        Rank::Fallback,
    ];

    /// The rank a trigger of `rank` matches the one-word message `go` with: a first-word
    /// keyword equal to the whole message counts as a whole-message keyword.
    fn effective(rank: Rank) -> Rank {
        if rank == Rank::FirstWord {
            Rank::Whole
        } else {
            rank
        }
    }

    fn flow(i: usize, rank: Rank, priority: i64, interrupt: bool, kind: &str) -> Arc<Flow> {
        Arc::new(Flow {
            id: format!("f{i}"),
            id_at: Pos::default(),
            file: format!("f{i}.yaml"),
            description: None,
            priority,
            version: 0,
            triggers: vec![Trigger {
                kind: trigger(rank, kind),
                interrupt,
                at: Pos::default(),
            }],
            steps: vec![],
            schedule: None,
            debounce: None,
            typing: false,
            languages: vec![],
            detect_language: false,
            translations: Default::default(),
            candidate: None,
        })
    }

    fn specs() -> impl Strategy<Value = Vec<(usize, i64, bool)>> {
        proptest::collection::vec((0..RANKS.len(), -2i64..3, any::<bool>()), 1..12)
    }

    proptest! {
        #[test]
        fn the_best_priority_then_kind_then_file_order_wins(specs in specs(), waiting in any::<bool>()) {
            let content = InboundContent::ButtonReply { id: "go".into(), title: "go".into() };
            let referral = Referral {
                source_url: None,
                source_id: Some("ad".into()),
                source_type: None,
                headline: None,
                body: None,
                ctwa_clid: None,
            };
            let flows: Vec<Arc<Flow>> = specs
                .iter()
                .enumerate()
                .map(|(i, (r, p, int))| flow(i, RANKS[*r], *p, *int, content.kind_name()))
                .collect();
            let ix = TriggerIndex::build(&flows);
            let won = ix.best(&flows, &MatchInput {
                content: &content,
                referral: Some(&referral),
                new_contact: true,
                waiting,
            });
            // Every trigger matches; the winner is the smallest (priority desc, kind, order)
            // among those allowed to answer.
            let expected = specs
                .iter()
                .enumerate()
                .filter(|(_, (_, _, int))| !waiting || *int)
                .min_by_key(|(i, (r, p, _))| (-p, effective(RANKS[*r]), *i))
                .map(|(i, _)| i);
            prop_assert_eq!(won.as_ref().map(|m| m.candidate.flow), expected);
            if let Some(m) = won {
                prop_assert_eq!(&m.flow.id, &format!("f{}", m.candidate.flow));
            }
        }

        #[test]
        fn a_more_specific_kind_wins_whatever_the_flow_order(
            a in 0..RANKS.len(),
            b in 0..RANKS.len(),
            swap in any::<bool>(),
        ) {
            prop_assume!(effective(RANKS[a]) != effective(RANKS[b]));
            let content = InboundContent::ButtonReply { id: "go".into(), title: "go".into() };
            let referral = Referral {
                source_url: None,
                source_id: None,
                source_type: None,
                headline: None,
                body: None,
                ctwa_clid: None,
            };
            let (first, second) = if swap { (b, a) } else { (a, b) };
            let flows = vec![
                flow(0, RANKS[first], 0, false, content.kind_name()),
                flow(1, RANKS[second], 0, false, content.kind_name()),
            ];
            let won = TriggerIndex::build(&flows)
                .best(&flows, &MatchInput {
                    content: &content,
                    referral: Some(&referral),
                    new_contact: true,
                    waiting: false,
                })
                .unwrap();
            let best = effective(RANKS[a]).min(effective(RANKS[b]));
            prop_assert_eq!(won.candidate.rank, best);
            prop_assert_eq!(effective(RANKS[if swap { b } else { a }]) == best, won.candidate.flow == 0);
        }
    }
}
