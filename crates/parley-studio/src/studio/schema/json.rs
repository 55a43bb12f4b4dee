//! The places and shapes of `places.rs` written as JSON Schema draft-07, the draft every
//! yaml-language-server editor reads (VS Code's YAML extension among them); and the
//! config's schema, derived from its serde types.

use super::kinds::{Place, Shape, ALL};
use serde_json::{json, Map, Value};

/// The draft the schemas declare.
pub(super) const DRAFT: &str = "http://json-schema.org/draft-07/schema#";

/// A duration as `config::duration::parse` reads it: numbers with units, like `1h 30m`.
pub(crate) const DURATION_PATTERN: &str = crate::config::duration::PATTERN;

/// The flow file's schema: the top of the file, with every place under `definitions`.
pub(super) fn flow() -> Value {
    let mut definitions = Map::new();
    for place in ALL {
        definitions.insert(name(*place), group(*place));
    }
    let Value::Object(mut top) = group(Place::Flow) else {
        unreachable!("a group is an object")
    };
    top.insert("$schema".into(), DRAFT.into());
    top.insert(
        "$id".into(),
        "https://parley.invalid/schemas/flow.schema.json".into(),
    );
    top.insert(
        "description".into(),
        "A Parley flow file: what starts the flow (`triggers`) and what Parley does (`steps`). `parley check` checks what a schema cannot (step ids, templates, blanks).".into(),
    );
    top.insert("definitions".into(), Value::Object(definitions));
    Value::Object(top)
}

/// The config file's schema, from the config's types.
pub(super) fn config() -> Value {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<crate::config::Config>();
    let mut value = serde_json::to_value(schema).expect("a schema is JSON");
    durations_as_written(&mut value);
    let groups: Vec<String> = value["definitions"]
        .as_object()
        .map(|d| {
            d.iter()
                .filter(|(_, s)| s["type"] == "object")
                .map(|(name, _)| format!("#/definitions/{name}"))
                .collect()
        })
        .unwrap_or_default();
    groups_may_be_empty(&mut value, &groups);
    if let Value::Object(top) = &mut value {
        top.insert(
            "$id".into(),
            "https://parley.invalid/schemas/config.schema.json".into(),
        );
        top.insert(
            "title".into(),
            "Parley's configuration (parley.yaml)".into(),
        );
        // An empty file is the defaults.
        top.insert("type".into(), json!(["object", "null"]));
    }
    value
}

/// The defaults schemars takes from the config's `Default`s write a duration as serde
/// would (`{secs, nanos}`); the file takes text like `24h`, so that is what editors offer.
fn durations_as_written(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "default" {
                    if let Some(text) = duration_text(v) {
                        *v = text.into();
                        continue;
                    }
                    // A list of durations (a retry schedule) as a list of texts.
                    if let Value::Array(items) = v {
                        let texts: Option<Vec<String>> = items.iter().map(duration_text).collect();
                        if let Some(texts) = texts.filter(|t| !t.is_empty()) {
                            *v = texts.into();
                            continue;
                        }
                    }
                }
                durations_as_written(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(durations_as_written),
        _ => {}
    }
}

/// A section or a list whose lines are all commented out reads as `null`, which the
/// config's reader takes as the section's defaults or an empty list: so must the schema.
/// `groups` are the definitions that are groups of settings.
fn groups_may_be_empty(value: &mut Value, groups: &[String]) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get_mut("properties") {
                for property in properties.values_mut() {
                    allow_null(property, groups);
                }
            }
            for v in map.values_mut() {
                groups_may_be_empty(v, groups);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| groups_may_be_empty(v, groups)),
        _ => {}
    }
}

/// `property` (a section, a list or a group of settings) also taking `null`; a choice
/// among words (a reference to an enum) does not.
fn allow_null(property: &mut Value, groups: &[String]) {
    let Value::Object(p) = property else { return };
    let group = |t: &Value| matches!(t.as_str(), Some("object" | "array"));
    if let Some(t) = p.get_mut("type") {
        if group(t) {
            *t = json!([t.clone(), "null"]);
        }
        return;
    }
    let is_group = |r: &Value| r.as_str().is_some_and(|r| groups.iter().any(|g| g == r));
    let reference = match (p.remove("$ref"), p.remove("allOf")) {
        (Some(r), None) if is_group(&r) => json!({ "$ref": r }),
        (None, Some(Value::Array(mut all))) if all.len() == 1 && is_group(&all[0]["$ref"]) => {
            all.remove(0)
        }
        (r, all) => {
            // Not a lone reference: leave it as it was.
            if let Some(r) = r {
                p.insert("$ref".into(), r);
            }
            if let Some(all) = all {
                p.insert("allOf".into(), all);
            }
            return;
        }
    };
    p.insert("anyOf".into(), json!([reference, { "type": "null" }]));
}

/// `{secs, nanos}` as the largest whole unit (`86400` seconds → `1d`), or `None` when it is
/// not a duration.
fn duration_text(value: &Value) -> Option<String> {
    let map = value.as_object()?;
    if map.len() != 2 {
        return None;
    }
    let secs = map.get("secs")?.as_u64()?;
    let nanos = map.get("nanos")?.as_u64()?;
    if nanos != 0 {
        return Some(format!("{}ms", secs * 1000 + nanos / 1_000_000));
    }
    let unit = [(86_400, "d"), (3_600, "h"), (60, "m")]
        .into_iter()
        .find(|(n, _)| secs > 0 && secs % n == 0);
    Some(match unit {
        Some((n, u)) => format!("{}{u}", secs / n),
        None => format!("{secs}s"),
    })
}

/// A place's name under `definitions`.
fn name(place: Place) -> String {
    serde_json::to_value(place)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A place as an object with exactly its keys, each described.
fn group(place: Place) -> Value {
    let mut properties = Map::new();
    for key in place.keys() {
        let Some(entry) = place.entry(key) else {
            // Undescribed: still allowed (the tests insist it gets a description).
            properties.insert(key.into(), json!({}));
            continue;
        };
        let mut schema = match shape(&entry.shape) {
            // Draft-07 ignores what sits beside a `$ref`: the description goes around it.
            Value::Object(o) if o.contains_key("$ref") => {
                let mut m = Map::new();
                m.insert("allOf".into(), json!([Value::Object(o)]));
                m
            }
            Value::Object(o) => o,
            _ => Map::new(),
        };
        schema.insert("description".into(), entry.doc.into());
        schema.insert(
            "markdownDescription".into(),
            format!("{}\n\n```yaml\n{}\n```", entry.doc, entry.example).into(),
        );
        properties.insert(key.into(), Value::Object(schema));
    }
    let mut object = json!({
        "type": "object",
        "title": place.title(),
        "properties": properties,
        "additionalProperties": false,
    });
    let extra = constraints(place);
    if let (Value::Object(o), Value::Object(more)) = (&mut object, extra) {
        o.extend(more);
    }
    object
}

/// What a place needs beyond its keys: the keys it cannot do without, and one action per
/// step or trigger.
fn constraints(place: Place) -> Value {
    let one_of = |names: Vec<&'static str>| -> Value {
        names
            .into_iter()
            .map(|k| json!({ "required": [k] }))
            .collect()
    };
    match place {
        Place::Flow => json!({ "required": ["id", "steps"] }),
        // Only a group of settings names its action (an empty step is refused for its
        // type alone, not also for matching every kind).
        Place::Step => json!({
            "if": { "type": "object" },
            "then": { "oneOf": one_of(crate::flows::keys::step_kind_names().collect()) },
            "dependencies": { "then": ["if"], "else": ["if"], "if": ["then"] },
        }),
        Place::Trigger => json!({
            "if": { "type": "object" },
            "then": { "oneOf": one_of(crate::flows::keys::TRIGGER_KINDS.to_vec()) },
            "dependencies": { "match": ["keyword"] },
        }),
        Place::Script => json!({ "oneOf": one_of(vec!["code", "file"]) }),
        // One kind of message: text (with buttons, a list or a url_button), a media file,
        // a location, a template, a reaction or a location request.
        Place::Send => json!({
            "anyOf": one_of(vec![
                "text", "image", "video", "audio", "document", "sticker", "location",
                "template", "react", "location_request",
            ]),
        }),
        Place::AgentBudget | Place::ScoreBudget => json!({ "minProperties": 1 }),
        Place::Score => json!({ "required": ["judge", "share"] }),
        // A page or a sitemap; only a sitemap has pages to count and filter.
        Place::WebSource => json!({
            "oneOf": one_of(vec!["url", "sitemap"]),
            "dependencies": { "max_pages": ["sitemap"], "include": ["sitemap"] },
        }),
        Place::Ask => json!({ "required": ["save_as"] }),
        Place::Form => json!({ "required": ["text", "cta"] }),
        Place::FormField => json!({ "required": ["name"] }),
        Place::Agent => json!({ "required": ["model", "instructions"] }),
        Place::Switch => json!({ "required": ["on"] }),
        Place::Http => json!({ "required": ["url"] }),
        Place::Schedule => json!({ "required": ["cron"] }),
        Place::Button | Place::ListRow => json!({ "required": ["title"] }),
        Place::List => json!({ "required": ["button"] }),
        Place::ListSection => json!({ "required": ["rows"] }),
        Place::UrlButton => json!({ "required": ["text", "url"] }),
        Place::Location => json!({ "required": ["latitude", "longitude"] }),
        Place::Reaction => json!({ "required": ["emoji"] }),
        Place::WindowFallback => json!({ "required": ["template"] }),
        Place::Language => json!({ "required": ["text"] }),
        Place::SplitArm => json!({ "required": ["weight"] }),
        _ => json!({}),
    }
}

/// The schema of a value of `shape`.
fn shape(shape: &Shape) -> Value {
    match shape {
        Shape::Text => json!({ "type": ["string", "number", "boolean"] }),
        Shape::TextUpTo(max) => {
            json!({ "type": ["string", "number", "boolean"], "maxLength": max })
        }
        Shape::Url => json!({
            "type": "string",
            "pattern": r"^(https?://|\s*\{\{)",
            "patternErrorMessage": "a web address, starting with https:// or http://",
        }),
        Shape::Int => json!({ "type": "integer" }),
        Shape::IntIn(min, max) => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Shape::Number => json!({ "type": "number" }),
        Shape::NumberIn(min, max) => json!({ "type": "number", "minimum": min, "maximum": max }),
        Shape::Bool => json!({
            "enum": [true, false, "yes", "no", "on", "off", "Yes", "No", "On", "Off"]
        }),
        Shape::Yes => json!({ "enum": [true, "yes", null] }),
        Shape::Null => json!({ "type": "null" }),
        Shape::Duration => json!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "patternErrorMessage": "a duration like 30s, 10m, 2h or 1d",
        }),
        Shape::Choice(words) => json!({ "enum": words }),
        Shape::Any => json!({}),
        Shape::Values => json!({
            "type": "object",
            "additionalProperties": { "type": ["string", "number", "boolean", "null"] },
        }),
        Shape::Group(place) => json!({ "$ref": format!("#/definitions/{}", name(*place)) }),
        Shape::ListOf(item) => json!({ "type": "array", "items": self::shape(item) }),
        Shape::ListIn(item, min, max) => json!({
            "type": "array",
            "items": self::shape(item),
            "minItems": min,
            "maxItems": max,
        }),
        Shape::OneOrList(item) => {
            let one = self::shape(item);
            json!({ "anyOf": [one.clone(), { "type": "array", "items": one }] })
        }
        // A group of settings first: editors report the first alternative that fits the
        // value's kind best, and a mistyped key inside settings reads better than "not text".
        Shape::Either(a, b @ Shape::Group(_)) => {
            json!({ "anyOf": [self::shape(b), self::shape(a)] })
        }
        Shape::Either(a, b) => json!({ "anyOf": [self::shape(a), self::shape(b)] }),
        Shape::Named(value) => json!({
            "type": "object",
            "additionalProperties": self::shape(value),
        }),
        Shape::Jump => {
            let step = self::shape(&Shape::Group(Place::Step));
            json!({ "anyOf": [
                { "type": ["string", "number"], "description": "a step id" },
                step.clone(),
                { "type": "array", "items": step },
            ] })
        }
    }
}
