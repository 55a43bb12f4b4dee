//! `cite: true` (issue 59): a reply names the sources of the passages it was given.
//!
//! Only sources a customer can open are cited: web pages (a passage's source is then its
//! address), at most `CITED_MAX`, each once, in the order the passages ranked. A source
//! the step's guardrails would refuse as a link (`allowed_domains`) is left out, so a
//! cited reply passes the checks its text passed; `parley check` warns about it at `cite:`.

use crate::engine::guard;
use crate::flows::AgentSpec;

/// The most sources added to one reply.
pub(super) const CITED_MAX: usize = 2;

/// `text` as sent: with the turn's `sources` added when the step cites them.
pub(super) fn with_sources(spec: &AgentSpec, sources: &[String], text: &str) -> String {
    if !spec.cite {
        return text.to_string();
    }
    let mut cited: Vec<&str> = Vec::new();
    for source in sources {
        let source = source.trim();
        let is_link = source.starts_with("https://") || source.starts_with("http://");
        if !is_link || cited.contains(&source) || text.contains(source) {
            continue;
        }
        if guard::check_answer(&spec.guardrails, &format!("{text}\n\nSource: {source}")).is_err() {
            continue;
        }
        cited.push(source);
        if cited.len() == CITED_MAX {
            break;
        }
    }
    let candidate = match cited.as_slice() {
        [] => return text.to_string(),
        [one] => format!("{text}\n\nSource: {one}"),
        many => format!("{text}\n\nSources: {}", many.join(" ")),
    };
    // Two sources together may pass where each did (length): else the first alone.
    if guard::check_answer(&spec.guardrails, &candidate).is_ok() {
        candidate
    } else {
        format!("{text}\n\nSource: {}", cited[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cite: bool, domains: &[&str]) -> AgentSpec {
        let yaml = "id: a\nsteps:\n  - agent: { model: m, instructions: Help., scope: orders, if_window_closed: skip }\n";
        let templates = Vec::new();
        let settings = crate::flows::LoadSettings {
            dir: std::path::Path::new("flows"),
            scripts_dir: std::path::Path::new("scripts"),
            templates: &templates,
            window: std::time::Duration::from_secs(86_400),
            overrides: None,
        };
        let report = crate::flows::load_text(yaml, "flows/a.yaml", &settings);
        let set = report.set.expect("the flow loads");
        let mut spec = set
            .get("a")
            .unwrap()
            .steps
            .iter()
            .find_map(|s| match &s.op {
                crate::flows::Op::Agent(a) => Some((**a).clone()),
                _ => None,
            })
            .unwrap();
        spec.cite = cite;
        spec.guardrails.allowed_domains = domains.iter().map(|d| d.to_string()).collect();
        spec
    }

    #[test]
    fn web_sources_are_cited_once_within_the_allowed_domains() {
        let sources: Vec<String> = [
            "knowledge/faq.md",
            "https://acme.example/help/returns",
            "https://acme.example/help/returns",
            "https://evil.example/x",
            "https://help.acme.example/shipping",
            "https://acme.example/third",
        ]
        .map(String::from)
        .to_vec();
        let s = spec(true, &["acme.example"]);
        assert_eq!(
            with_sources(&s, &sources, "Within 30 days."),
            "Within 30 days.\n\nSources: https://acme.example/help/returns https://help.acme.example/shipping"
        );
        assert_eq!(
            with_sources(&spec(false, &["acme.example"]), &sources, "Hi."),
            "Hi."
        );
        // No domain allowed: no link may be sent, so none is cited.
        assert_eq!(with_sources(&spec(true, &[]), &sources, "Hi."), "Hi.");
        // Files alone are not cited.
        assert_eq!(with_sources(&s, &sources[..1], "Hi."), "Hi.");
    }
}
