//! WhatsApp Flows ("forms"): the message that opens one, the token that ties the customer's
//! submission back to the step that sent it, and the submission itself (`nfm_reply`), read
//! from the JSON text WhatsApp sends within bounds. Also the India address form's reply
//! (`address_message`), which arrives the same way.
//!
//! Pure: the channels parse provider payloads with these functions, the engine maps a
//! submission into `vars` with `FormField::map`.

use super::limits;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The start of every flow token Parley makes: a reply carrying another token was not
/// opened by a `form` step (a template's flow button, another system).
pub const TOKEN_PREFIX: &str = "parley-form.";

/// The token of the form sent by step `step` of run `run`, for event `event` of
/// conversation `conversation`: unique across conversations and runs, and the same when the
/// same event is handled again after a crash (the engine is deterministic).
pub fn token(conversation: i64, run: u64, step: usize, event: i64) -> String {
    format!("{TOKEN_PREFIX}{conversation}.{run}.{step}.{event}")
}

/// An interactive message whose button opens a WhatsApp Flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormMessage {
    pub body: String,
    pub header: Option<String>,
    pub footer: Option<String>,
    pub flow: FlowRef,
    /// The label of the button that opens the form.
    pub cta: String,
    /// Comes back in the submission; see `token`.
    pub token: String,
    pub action: FormAction,
    /// Sends an unpublished flow (Meta's `mode: draft`), for testing.
    #[serde(default)]
    pub draft: bool,
    /// The fields the author declared: never sent to a provider, shown by the sandbox and
    /// `parley simulate`, and what `parley test` may fill.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FormField>,
}

/// Which flow: Meta accepts its id or its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum FlowRef {
    Id(String),
    Name(String),
}

/// What the button does: open a screen of the flow with data (`navigate`), or ask the
/// business's flow endpoint for the first screen (`data_exchange`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FormAction {
    Navigate {
        screen: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
    },
    DataExchange,
}

/// One field the form returns, as its author declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    /// The key in the flow's `response_json` (the flow JSON's payload name).
    pub name: String,
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    /// The values a `choice` field takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Number,
    Email,
    Date,
    Choice,
    Boolean,
}

impl FieldKind {
    pub const NAMES: &'static [&'static str] =
        &["text", "number", "email", "date", "choice", "boolean"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "text" => FieldKind::Text,
            "number" => FieldKind::Number,
            "email" => FieldKind::Email,
            "date" => FieldKind::Date,
            "choice" => FieldKind::Choice,
            "boolean" => FieldKind::Boolean,
            _ => return None,
        })
    }
}

impl FormField {
    /// The submission as `vars` see it: with no declared fields, the whole response; with
    /// declared fields, only those, each checked and typed (`"3"` becomes 3 for a number).
    /// `Err` says which field does not fit, in words.
    pub fn map(fields: &[FormField], response: &Map<String, Value>) -> Result<Value, String> {
        if fields.is_empty() {
            return Ok(Value::Object(response.clone()));
        }
        let mut out = Map::new();
        for f in fields {
            let value = match response.get(&f.name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(v) => Some(v),
            };
            let Some(value) = value else {
                if f.required {
                    return Err(format!("the form came back without `{}`", f.name));
                }
                continue;
            };
            out.insert(f.name.clone(), f.typed(value)?);
        }
        Ok(Value::Object(out))
    }

    fn typed(&self, v: &Value) -> Result<Value, String> {
        let text = match v {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        let wrong = |what: &str| format!("`{}` is not {what}: {text}", self.name);
        match self.kind {
            FieldKind::Text => match v {
                Value::Object(_) | Value::Array(_) => Err(wrong("text")),
                _ => Ok(v.clone()),
            },
            // A DatePicker answers `YYYY-MM-DD` (Flow JSON 5.0 and later) or, before, the
            // date's UTC midnight in milliseconds: either becomes `YYYY-MM-DD`.
            FieldKind::Date => form_date(&text)
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .ok_or_else(|| wrong("a date (YYYY-MM-DD)")),
            FieldKind::Number => match v {
                Value::Number(_) => Ok(v.clone()),
                _ => super::typed::number(&text).ok_or_else(|| wrong("a number")),
            },
            FieldKind::Email => super::typed::email(&text)
                .map(Value::String)
                .ok_or_else(|| wrong("an email address")),
            FieldKind::Choice => {
                // Flow JSON dropdowns and radio buttons return the option's id.
                if self.options.is_empty() || self.options.contains(&text) {
                    Ok(Value::String(text))
                } else {
                    Err(wrong(&format!("one of {}", self.options.join(", "))))
                }
            }
            FieldKind::Boolean => match v {
                Value::Bool(_) => Ok(v.clone()),
                _ => match text.as_str() {
                    "true" | "yes" => Ok(Value::Bool(true)),
                    "false" | "no" => Ok(Value::Bool(false)),
                    _ => Err(wrong("true or false")),
                },
            },
        }
    }
}

/// Why a submission could not be read; it is then kept as unsupported content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormReplyError {
    #[error("the form reply is {0} bytes, more than the {max} allowed", max = limits::FORM_RESPONSE_BYTES_MAX)]
    TooLarge(usize),
    #[error("the form reply is not a JSON object: {0}")]
    NotAnObject(String),
    #[error(
        "the form reply nests deeper than {} levels",
        limits::FORM_RESPONSE_DEPTH_MAX
    )]
    TooDeep,
    #[error(
        "the form reply has more than {} values",
        limits::FORM_RESPONSE_VALUES_MAX
    )]
    TooMany,
}

/// A flow submission's `response_json` (a JSON text): the flow token, and the rest of the
/// fields. Bounded in size, nesting and number of values.
pub fn parse_form_response(
    response_json: &str,
) -> Result<(Option<String>, Map<String, Value>), FormReplyError> {
    let mut object = bounded_object(response_json)?;
    let token = match object.remove("flow_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    Ok((token, object))
}

/// An `address_message` submission's `response_json`: the address fields (`values`) as
/// text, and the id of a saved address the customer picked, if any.
pub fn parse_address_response(
    response_json: &str,
) -> Result<(BTreeMap<String, String>, Option<String>), FormReplyError> {
    let object = bounded_object(response_json)?;
    let values = match object.get("values") {
        Some(Value::Object(v)) => v
            .iter()
            .filter_map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.clone(), text))
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let saved = match object.get("saved_address_id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok((values, saved))
}

fn bounded_object(text: &str) -> Result<Map<String, Value>, FormReplyError> {
    if text.len() > limits::FORM_RESPONSE_BYTES_MAX {
        return Err(FormReplyError::TooLarge(text.len()));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| FormReplyError::NotAnObject(e.to_string()))?;
    let mut count = 0usize;
    measure(&value, 1, &mut count)?;
    match value {
        Value::Object(m) => Ok(m),
        other => Err(FormReplyError::NotAnObject(format!(
            "it is {}",
            match other {
                Value::Array(_) => "a list",
                Value::String(_) => "a text",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))),
    }
}

fn measure(v: &Value, depth: usize, count: &mut usize) -> Result<(), FormReplyError> {
    if depth > limits::FORM_RESPONSE_DEPTH_MAX {
        return Err(FormReplyError::TooDeep);
    }
    *count += 1;
    if *count > limits::FORM_RESPONSE_VALUES_MAX {
        return Err(FormReplyError::TooMany);
    }
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| measure(i, depth + 1, count)),
        Value::Object(m) => m.values().try_for_each(|i| measure(i, depth + 1, count)),
        _ => Ok(()),
    }
}

/// A form's date: `2027-01-15`, or milliseconds since 1970 (older DatePickers).
fn form_date(text: &str) -> Option<chrono::NaiveDate> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(d);
    }
    if !text.is_empty() && text.len() <= 15 && text.bytes().all(|b| b.is_ascii_digit()) {
        let millis: i64 = text.parse().ok()?;
        return chrono::DateTime::from_timestamp_millis(millis).map(|t| t.date_naive());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str, kind: FieldKind, required: bool) -> FormField {
        FormField {
            name: name.into(),
            label: None,
            kind,
            required,
            options: vec![],
        }
    }

    #[test]
    fn the_token_is_taken_out_of_the_response() {
        let (token, rest) = parse_form_response(
            r#"{"flow_token":"parley-form.1.2.3.4","date":"2026-12-01","people":"2"}"#,
        )
        .unwrap();
        assert_eq!(token.as_deref(), Some("parley-form.1.2.3.4"));
        assert_eq!(json!(rest), json!({"date": "2026-12-01", "people": "2"}));
    }

    #[test]
    fn oversized_deep_or_crowded_responses_are_refused() {
        let big = format!(
            r#"{{"a":"{}"}}"#,
            "x".repeat(limits::FORM_RESPONSE_BYTES_MAX)
        );
        assert!(matches!(
            parse_form_response(&big),
            Err(FormReplyError::TooLarge(_))
        ));
        let deep = format!("{}1{}", r#"{"a":"#.repeat(20), "}".repeat(20));
        assert_eq!(parse_form_response(&deep), Err(FormReplyError::TooDeep));
        let many = format!(
            "{{\"a\":[{}]}}",
            vec!["1"; limits::FORM_RESPONSE_VALUES_MAX + 1].join(",")
        );
        assert_eq!(parse_form_response(&many), Err(FormReplyError::TooMany));
        assert!(matches!(
            parse_form_response("[1]"),
            Err(FormReplyError::NotAnObject(_))
        ));
        assert!(matches!(
            parse_form_response("{not json"),
            Err(FormReplyError::NotAnObject(_))
        ));
    }

    /// A date field takes a date: `YYYY-MM-DD`, or an older DatePicker's milliseconds
    /// (made `YYYY-MM-DD`); `15/01/2027`, `2027-02-30` or an object go to `on_invalid`. A
    /// text field takes no object.
    #[test]
    fn date_fields_take_dates_and_text_fields_take_no_objects() {
        let fields = vec![
            field("date", FieldKind::Date, true),
            field("note", FieldKind::Text, false),
        ];
        let map = |v: Value| FormField::map(&fields, v.as_object().unwrap());
        assert_eq!(
            map(json!({"date": "2027-01-15"})).unwrap()["date"],
            "2027-01-15"
        );
        assert_eq!(
            map(json!({"date": "1768435200000"})).unwrap()["date"],
            "2026-01-15"
        );
        for bad in [
            json!("15/01/2027"),
            json!("2027-02-30"),
            json!({"y": 2027}),
            json!("soon"),
        ] {
            let e = map(json!({ "date": bad })).unwrap_err();
            assert!(
                e.starts_with("`date` is not a date (YYYY-MM-DD)"),
                "{bad}: {e}"
            );
        }
        let e = map(json!({"date": "2027-01-15", "note": {"a": 1}})).unwrap_err();
        assert!(e.starts_with("`note` is not text"), "{e}");
        assert_eq!(
            map(json!({"date": "2027-01-15", "note": "hi"})).unwrap()["note"],
            "hi"
        );
    }

    #[test]
    fn declared_fields_are_checked_and_typed() {
        let fields = vec![
            field("people", FieldKind::Number, true),
            field("email", FieldKind::Email, false),
            FormField {
                options: vec!["veg".into(), "meat".into()],
                ..field("menu", FieldKind::Choice, false)
            },
            field("newsletter", FieldKind::Boolean, false),
        ];
        let response = json!({"people": "3", "email": "Ana@Example.com", "menu": "veg",
            "newsletter": true, "extra": "dropped"});
        let mapped = FormField::map(&fields, response.as_object().unwrap()).unwrap();
        assert_eq!(
            mapped,
            json!({"people": 3, "email": "ana@example.com", "menu": "veg", "newsletter": true})
        );
        let missing = json!({"email": "a@b.c"});
        assert_eq!(
            FormField::map(&fields, missing.as_object().unwrap()).unwrap_err(),
            "the form came back without `people`"
        );
        let wrong = json!({"people": "many"});
        assert_eq!(
            FormField::map(&fields, wrong.as_object().unwrap()).unwrap_err(),
            "`people` is not a number: many"
        );
        // Read like an `ask`'s answer: a thousands mark, a decimal comma, a real address.
        let written = json!({"people": "1,000"});
        assert_eq!(
            FormField::map(&fields, written.as_object().unwrap()).unwrap()["people"],
            json!(1000)
        );
        let decimal = json!({"people": "12,5"});
        assert_eq!(
            FormField::map(&fields, decimal.as_object().unwrap()).unwrap()["people"],
            json!(12.5)
        );
        let not_an_address = json!({"people": 2, "email": "a@b"});
        assert_eq!(
            FormField::map(&fields, not_an_address.as_object().unwrap()).unwrap_err(),
            "`email` is not an email address: a@b"
        );
        let bad_choice = json!({"people": 1, "menu": "fish"});
        assert_eq!(
            FormField::map(&fields, bad_choice.as_object().unwrap()).unwrap_err(),
            "`menu` is not one of veg, meat: fish"
        );
    }

    #[test]
    fn without_declared_fields_the_whole_response_is_kept() {
        let response = json!({"a": {"b": [1, 2]}});
        assert_eq!(
            FormField::map(&[], response.as_object().unwrap()).unwrap(),
            response
        );
    }

    #[test]
    fn address_values_are_read_as_text() {
        let (values, saved) = parse_address_response(
            r#"{"saved_address_id":"address1","values":{"name":"Ana","in_pin_code":400063,"city":"Mumbai","nested":{"x":1}}}"#,
        )
        .unwrap();
        assert_eq!(saved.as_deref(), Some("address1"));
        assert_eq!(values["in_pin_code"], "400063");
        assert_eq!(values["city"], "Mumbai");
        assert!(!values.contains_key("nested"));
    }
}
