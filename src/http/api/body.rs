//! Reading request bodies and query strings by hand, field by field, so every problem
//! names its field and no malformed input reaches axum's plain-text rejections. In a JSON
//! body every field must have its documented type: `"12"` where a number is required and
//! `12` where a string is required are both refused, naming the field. Query strings carry
//! only text, so there numbers are read from digits. `null` counts as absent.

use crate::http::error::Error;
use axum::http::StatusCode;
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON at all.
    Invalid(String),
    /// JSON, but not an object.
    NotObject,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Invalid(e) => write!(f, "the request body is not valid JSON: {e}"),
            BodyError::NotObject => f.write_str("the request body must be a JSON object"),
        }
    }
}

/// What is wrong with one field, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

pub type FieldResult<T> = Result<T, FieldError>;

/// 400 `INVALID_REQUEST`.
impl From<BodyError> for Error {
    fn from(e: BodyError) -> Self {
        Error::new(StatusCode::BAD_REQUEST, "INVALID_REQUEST", e.to_string())
    }
}

/// 422 `VALIDATION_ERROR` naming the field. (`/api/v1` answers 400 instead, see
/// `messages_v1`.)
impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::field(&e.field, e.message)
    }
}

/// A JSON value in which no object names a key twice. `serde_json::Value` keeps the last
/// of two, so a proxy or an audit log that reads the first would see another request than
/// Parley: `{"message": "a", "message": "b"}` is refused instead.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "the key `{key}` appears twice in one object"
                )));
            }
            let Strict(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// A JSON object body (or a query string seen as one).
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Map<String, Value>, Source);

/// Where the fields came from: JSON has types, a query string only text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Source {
    #[default]
    Json,
    Query,
}

impl Fields {
    pub fn parse(bytes: &[u8]) -> Result<Self, BodyError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BodyError::Invalid("the body is empty".into()));
        }
        match serde_json::from_slice::<Strict>(bytes) {
            Ok(Strict(Value::Object(map))) => Ok(Fields::object(map)),
            Ok(_) => Err(BodyError::NotObject),
            Err(e) => Err(BodyError::Invalid(e.to_string())),
        }
    }

    /// An empty body is an empty object (endpoints whose fields are all optional).
    pub fn parse_optional(bytes: &[u8]) -> Result<Self, BodyError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Fields::default());
        }
        Self::parse(bytes)
    }

    /// A parameter given twice (`?sender_id=99&sender_id=1`) is kept as a list, which every
    /// reading of it refuses: which one was meant cannot be known.
    pub fn from_query(query: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
        let mut map = Map::new();
        for (k, v) in pairs {
            match map.get_mut(&k) {
                Some(Value::Array(all)) => all.push(Value::String(v)),
                Some(first) => *first = Value::Array(vec![first.take(), Value::String(v)]),
                None => {
                    map.insert(k, Value::String(v));
                }
            }
        }
        Fields(map, Source::Query)
    }

    /// The refusal of a query parameter given more than once.
    fn twice(&self, name: &str) -> Option<FieldError> {
        (self.1 == Source::Query && matches!(self.get(name), Some(Value::Array(_)))).then(|| {
            FieldError::new(
                name,
                format!("{name} is given more than once in the query string; give it once"),
            )
        })
    }

    /// A JSON object (a body, or an object inside one).
    pub fn object(map: Map<String, Value>) -> Self {
        Fields(map, Source::Json)
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn opt_int(&self, name: &str) -> FieldResult<Option<i64>> {
        if let Some(e) = self.twice(name) {
            return Err(e);
        }
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| FieldError::new(name, format!("{name} must be an integer"))),
            Some(Value::String(s)) if self.1 == Source::Query => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| FieldError::new(name, format!("{name} must be an integer"))),
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => Err(FieldError::new(
                name,
                format!("{name} must be an integer, not a string: write it without quotes"),
            )),
            Some(_) => Err(FieldError::new(name, format!("{name} must be an integer"))),
        }
    }

    pub fn int(&self, name: &str) -> FieldResult<i64> {
        self.opt_int(name)?
            .ok_or_else(|| FieldError::new(name, format!("{name} is required")))
    }

    /// A text field. A NUL, an escape sequence or a bell would be stored and sent on (a
    /// caption to the customer) and written into logs and CSV exports; no phone shows
    /// them: refused. Line breaks and tabs are text.
    pub fn opt_str(&self, name: &str) -> FieldResult<Option<&str>> {
        let value = self.raw_str(name)?;
        if let Some(why) = value.and_then(crate::domain::limits::text_control_problem) {
            return Err(FieldError::new(name, format!("{name} {why}")));
        }
        Ok(value)
    }

    /// A one-line label (a contact's name, which every greeting naming them repeats): no
    /// control character at all, line breaks and tabs included.
    pub fn opt_label(&self, name: &str) -> FieldResult<Option<&str>> {
        let value = self.raw_str(name)?;
        if let Some(why) = value.and_then(crate::domain::limits::label_problem) {
            return Err(FieldError::new(name, format!("{name} {why}")));
        }
        Ok(value)
    }

    fn raw_str(&self, name: &str) -> FieldResult<Option<&str>> {
        if let Some(e) = self.twice(name) {
            return Err(e);
        }
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(FieldError::new(name, format!("{name} must be a string"))),
        }
    }

    pub fn str(&self, name: &str) -> FieldResult<&str> {
        self.opt_str(name)?
            .ok_or_else(|| FieldError::new(name, format!("{name} is required")))
    }

    pub fn opt_f64(&self, name: &str) -> FieldResult<Option<f64>> {
        if let Some(e) = self.twice(name) {
            return Err(e);
        }
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| FieldError::new(name, format!("{name} must be a number"))),
            Some(Value::String(s)) if self.1 == Source::Query => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| FieldError::new(name, format!("{name} must be a number"))),
            Some(Value::String(s)) if s.trim().parse::<f64>().is_ok() => Err(FieldError::new(
                name,
                format!("{name} must be a number, not a string: write it without quotes"),
            )),
            Some(_) => Err(FieldError::new(name, format!("{name} must be a number"))),
        }
    }

    pub fn opt_object(&self, name: &str) -> FieldResult<Option<Fields>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Fields::object(m.clone()))),
            Some(_) => Err(FieldError::new(name, format!("{name} must be an object"))),
        }
    }

    pub fn opt_array(&self, name: &str) -> FieldResult<Option<&Vec<Value>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(FieldError::new(name, format!("{name} must be an array"))),
        }
    }
}

/// Characters, as WhatsApp counts them (Unicode scalar values).
pub fn chars(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_twice_in_one_object_is_refused_and_other_bodies_read_as_serde_json_does() {
        for twice in [
            &br#"{"message": "first", "message": "second"}"#[..],
            br#"{"variables": {"1": "a", "1": "b"}}"#,
            br#"{"list": [{"id": 1, "id": 2}]}"#,
        ] {
            let err = Fields::parse(twice).unwrap_err();
            assert!(
                matches!(&err, BodyError::Invalid(e) if e.contains("appears twice")),
                "{err}"
            );
        }
        let body = br#"{"a": 1, "b": -2, "c": 18446744073709551615, "d": 1.5, "e": "x\u00e9", "f": [true, null, {"g": []}], "h": {}}"#;
        let theirs: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(Value::Object(Fields::parse(body).unwrap().0), theirs);
    }

    #[test]
    fn a_query_parameter_given_twice_is_refused_naming_it() {
        let q = Fields::from_query(Some(
            "sender_id=99&sender_id=1&phone=%2B34600000001&x=1&x=2&x=3",
        ));
        assert_eq!(
            q.int("sender_id").unwrap_err().message,
            "sender_id is given more than once in the query string; give it once"
        );
        assert!(q.opt_str("x").is_err() && q.opt_f64("x").is_err());
        assert_eq!(q.str("phone"), Ok("+34600000001"));
        assert_eq!(
            Fields::from_query(Some("sender_id=1")).int("sender_id"),
            Ok(1)
        );
    }

    #[test]
    fn fields_name_what_is_wrong() {
        let f = Fields::parse(br#"{"a": 12, "b": 1.5, "c": null, "d": [1]}"#).unwrap();
        assert_eq!(f.int("a"), Ok(12));
        assert_eq!(f.int("b").unwrap_err().message, "b must be an integer");
        assert_eq!(f.int("c").unwrap_err().message, "c is required");
        assert_eq!(f.str("d").unwrap_err().message, "d must be a string");
        assert_eq!(Fields::parse(b"[1]").unwrap_err(), BodyError::NotObject);
        assert!(matches!(Fields::parse(b"{"), Err(BodyError::Invalid(_))));
        assert!(Fields::parse_optional(b"").unwrap().0.is_empty());
    }

    #[test]
    fn json_bodies_refuse_numbers_written_as_strings_and_strings_written_as_numbers() {
        let f = Fields::parse(br#"{"id": "12", "lat": "52.5", "name": 7}"#).unwrap();
        assert_eq!(
            f.int("id").unwrap_err().message,
            "id must be an integer, not a string: write it without quotes"
        );
        assert_eq!(f.opt_f64("lat").unwrap_err().field, "lat");
        assert_eq!(f.str("name").unwrap_err().message, "name must be a string");
        let nested = Fields::parse(br#"{"o": {"n": "1"}}"#).unwrap();
        assert!(nested.opt_object("o").unwrap().unwrap().int("n").is_err());
    }

    #[test]
    fn query_strings_read_like_bodies() {
        let f = Fields::from_query(Some("sender_id=3&recipient_phone=%2B14155238886"));
        assert_eq!(f.int("sender_id"), Ok(3));
        assert_eq!(f.str("recipient_phone"), Ok("+14155238886"));
    }
}
