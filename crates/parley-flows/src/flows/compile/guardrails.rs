//! An `agent` step's `guardrails:`, checked at load: the answer length within WhatsApp's
//! text limit, allowed link domains written as domains, forbidden patterns that compile
//! within the size limit of every regex in flows.

use super::super::model::Guardrails;
use super::super::problem::Problems;
use super::super::yaml::{self, YamlNode};
use crate::domain::limits::TEXT_MAX;
use marked_yaml::types::MarkedMappingNode;

pub const GUARDRAIL_KEYS: &[&str] = &[
    "max_length",
    "allowed_domains",
    "forbid",
    "mask_personal_data",
];
const FORBID_MAX: usize = 50;
const DOMAINS_MAX: usize = 50;

pub(super) fn compile(m: &MarkedMappingNode, problems: &mut Problems) -> Option<Guardrails> {
    let mut g = Guardrails::default();
    let Some(node) = m.get_node("guardrails") else {
        return Some(g);
    };
    let gm = yaml::as_map(node, "`guardrails`", problems)?;
    yaml::check_keys(gm, GUARDRAIL_KEYS, "`guardrails`", problems);
    let mut ok = true;
    if let Some(n) = gm.get_node("max_length") {
        match yaml::as_int(n, "`max_length`", problems) {
            Some(v) if (1..=TEXT_MAX as i64).contains(&v) => g.max_length = v as usize,
            Some(v) => {
                problems.error(
                    yaml::pos(n),
                    format!("`max_length` must be between 1 and {TEXT_MAX} (WhatsApp's limit for a text), found {v}"),
                    Some("leave it out for the default, 1000".into()),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(n) = gm.get_node("allowed_domains") {
        let items = yaml::as_list(n);
        if items.len() > DOMAINS_MAX {
            problems.error(
                yaml::pos(n),
                format!(
                    "at most {DOMAINS_MAX} `allowed_domains`, found {}",
                    items.len()
                ),
                None,
            );
            return None;
        }
        for item in items {
            let Some(d) = yaml::as_str(item, "a domain", problems) else {
                ok = false;
                continue;
            };
            let lower = d.trim().trim_end_matches('.').to_lowercase();
            if !is_domain(&lower) {
                let hint = if lower.contains("://") || lower.contains('/') {
                    "write the domain alone, like `acme.example` (its subdomains are allowed too)"
                } else {
                    "a domain is like `acme.example`: letters, digits, `-` and dots"
                };
                problems.error(
                    yaml::pos(item),
                    format!("`{d}` is not a domain"),
                    Some(hint.into()),
                );
                ok = false;
                continue;
            }
            g.allowed_domains.push(lower);
        }
    }
    if let Some(n) = gm.get_node("forbid") {
        let items = yaml::as_list(n);
        if items.len() > FORBID_MAX {
            problems.error(
                yaml::pos(n),
                format!(
                    "at most {FORBID_MAX} `forbid` patterns, found {}",
                    items.len()
                ),
                None,
            );
            return None;
        }
        for item in items {
            let compiled = yaml::as_str(item, "a `forbid` pattern", problems)
                .and_then(|p| Some((p.to_string(), regex(p, item, problems)?)));
            match compiled {
                Some(f) => g.forbid.push(f),
                None => ok = false,
            }
        }
    }
    if let Some(n) = gm.get_node("mask_personal_data") {
        match yaml::as_bool(n, "`mask_personal_data`", problems) {
            Some(v) => g.mask_personal_data = v,
            None => ok = false,
        }
    }
    ok.then_some(g)
}

fn is_domain(d: &str) -> bool {
    d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A pattern compiled with the size limit of every regex in flows.
pub(super) fn regex(
    pattern: &str,
    node: &YamlNode,
    problems: &mut Problems,
) -> Option<regex::Regex> {
    match regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            let detail = e.to_string();
            let last = detail
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .trim_start_matches("error: ")
                .to_string();
            problems.error(
                yaml::pos(node),
                format!("the pattern `{pattern}` is not a valid regular expression: {last}"),
                Some(
                    "check brackets and backslashes; in YAML put the pattern in single quotes"
                        .into(),
                ),
            );
            None
        }
    }
}
