//! The schema against the compiler's tables: every key described, nothing described that
//! the compiler refuses, and the paths editors ask about.

use super::kinds::{Place, ALL};
use super::*;

#[test]
fn every_key_the_compiler_accepts_is_described() {
    let mut missing = Vec::new();
    for place in ALL {
        for key in place.keys() {
            match place.entry(key) {
                Some(e) if !e.doc.trim().is_empty() && !e.example.trim().is_empty() => {}
                _ => missing.push(format!("{place:?}.{key}")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys without a description and an example in schema/docs.rs: {missing:?}"
    );
}

#[test]
fn nothing_is_described_that_the_compiler_does_not_accept() {
    let stale: Vec<String> = docs::ENTRIES
        .iter()
        .filter(|e| {
            // An ask's question is `send` content: its content keys are described once.
            let keys = e.place.keys();
            !keys.contains(&e.key)
        })
        .map(|e| format!("{:?}.{}", e.place, e.key))
        .collect();
    assert!(stale.is_empty(), "described but not accepted: {stale:?}");
}

#[test]
fn paths_lead_to_the_group_being_written() {
    assert_eq!(place_at(&[]), Some(Place::Flow));
    assert_eq!(place_at(&["steps"]), Some(Place::Step));
    assert_eq!(place_at(&["steps", "0", "ask"]), Some(Place::Ask));
    assert_eq!(place_at(&["steps", "then", "-", "send"]), Some(Place::Send));
    assert_eq!(
        place_at(&["steps", "switch", "cases", "orders"]),
        Some(Place::Step)
    );
    assert_eq!(place_at(&["steps", "send", "buttons"]), Some(Place::Button));
    assert_eq!(
        place_at(&["steps", "agent", "tools", "save", "email"]),
        Some(Place::AgentSave)
    );
    assert_eq!(place_at(&["schedule", "audience"]), Some(Place::Audience));
    assert_eq!(place_at(&["steps", "set"]), None);
    assert_eq!(place_at(&["nonsense"]), None);
}

#[test]
fn key_docs_list_the_keys_allowed_there_with_their_words() {
    let ask: Vec<&str> = key_docs(&["steps", "ask"]).iter().map(|d| d.key).collect();
    for key in ["save_as", "expect", "timeout", "text", "buttons"] {
        assert!(ask.contains(&key), "{key} missing from {ask:?}");
    }
    let step: Vec<&str> = key_docs(&["steps"]).iter().map(|d| d.key).collect();
    for kind in crate::flows::keys::step_kind_names() {
        assert!(step.contains(&kind), "{kind} missing from {step:?}");
    }
    let hover = key_doc(&["steps", "ask"], "save_as").expect("save_as is described");
    assert!(hover.description.contains("vars.email"), "{hover:?}");
    assert_eq!(hover.example, "save_as: email");
    assert_eq!(key_doc(&["steps", "ask"], "sned"), None);
    let expect = key_doc(&["steps", "ask"], "expect").unwrap();
    assert_eq!(expect.choices, crate::flows::keys::EXPECT);
    let window = key_doc(&["steps", "send"], "if_window_closed").unwrap();
    assert_eq!(window.choices, ["skip", "fail"]);
}

#[test]
fn the_flow_schema_is_draft_07_with_every_place_defined() {
    let schema = flow_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false);
    let text = schema.to_string();
    for place in ALL {
        let name = serde_json::to_value(place).unwrap();
        let name = name.as_str().unwrap();
        assert!(schema["definitions"][name].is_object(), "{name}");
        // every reference points at a definition
        let _ = text.contains(name);
    }
    let refs: Vec<&str> = text
        .match_indices("#/definitions/")
        .map(|(i, _)| {
            let rest = &text[i + "#/definitions/".len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    for r in refs {
        assert!(schema["definitions"][r].is_object(), "dangling $ref {r}");
    }
}

#[test]
fn the_config_schema_refuses_unknown_keys_like_the_loader() {
    let schema = config_schema();
    assert_eq!(schema["additionalProperties"], false);
    assert!(schema["properties"]["studio"].is_object());
    let text = schema.to_string();
    assert!(
        !text.contains("\"nanos\""),
        "durations are text like 30s, not serde's {{secs, nanos}}"
    );
}

#[test]
fn every_config_key_is_described() {
    let schema = config_schema();
    let mut groups = vec![("the top".to_string(), &schema)];
    if let Some(definitions) = schema["definitions"].as_object() {
        groups.extend(definitions.iter().map(|(name, d)| (name.clone(), d)));
    }
    let missing: Vec<String> = groups
        .iter()
        .flat_map(|(name, group)| {
            group["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, p)| !p["description"].is_string())
                .map(move |(key, _)| format!("{name}.{key}"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "config keys without a doc comment (the schema's description): {missing:?}"
    );
}

#[test]
fn the_agent_keys_of_scoring_citing_and_web_knowledge_are_followed_and_bounded() {
    assert_eq!(
        place_at(&["steps", "agent", "knowledge", "-"]),
        Some(Place::WebSource)
    );
    assert_eq!(
        place_at(&["steps", "agent", "score", "budget"]),
        Some(Place::ScoreBudget)
    );
    assert_eq!(
        place_at(&["steps", "agent", "retrieval"]),
        Some(Place::Retrieval)
    );
    let agent: Vec<&str> = key_docs(&["steps", "agent"])
        .iter()
        .map(|d| d.key)
        .collect();
    for key in ["rubric", "score", "cite", "retrieval"] {
        assert!(agent.contains(&key), "{key} missing from {agent:?}");
    }
    let web: Vec<&str> = key_docs(&["steps", "agent", "knowledge"])
        .iter()
        .map(|d| d.key)
        .collect();
    assert_eq!(web, ["url", "sitemap", "refresh", "max_pages", "include"]);

    let schema = flow_schema();
    let defs = &schema["definitions"];
    let rubric = &defs["agent"]["properties"]["rubric"];
    assert_eq!(rubric["minItems"], 1);
    assert_eq!(rubric["maxItems"], 20);
    assert_eq!(rubric["items"]["maxLength"], 300);
    assert_eq!(
        defs["score"]["required"],
        serde_json::json!(["judge", "share"])
    );
    assert_eq!(defs["score"]["properties"]["share"]["maximum"], 100);
    assert_eq!(
        defs["retrieval"]["properties"]["unanswered_below"]["maximum"],
        100.0
    );
    assert_eq!(defs["retrieval"]["properties"]["weight"]["maximum"], 1.0);
    assert!(defs["retrieval"]["properties"]["embeddings"].is_object());
    assert_eq!(
        defs["web_source"]["properties"]["max_pages"]["maximum"],
        1000
    );
    assert_eq!(
        defs["web_source"]["dependencies"]["include"],
        serde_json::json!(["sitemap"])
    );
    let knowledge = defs["agent"]["properties"]["knowledge"].to_string();
    assert!(
        knowledge.contains("#/definitions/web_source"),
        "{knowledge}"
    );
}
