//! Reading an internally tagged enum (`{"event": "message", ...}`) without buffering it.
//!
//! serde's derived `#[serde(tag = "...")]` cannot know where the tag is, so it first copies
//! the whole object into a buffer of its own, then reads the variant from that copy. Parley
//! writes these objects itself, with serde, which puts the tag first: a reader that finds
//! the tag first can hand the rest of the object straight to the variant. Stored events
//! are read this way for every message a worker handles (BENCHMARKS.md, "Why a message
//! costs three times more at 1,000/s": 1,594 → 1,058 ns for a text message). An object
//! whose tag is not first (PostgreSQL's `jsonb` keeps its keys in an order of its own, and
//! a hand-written row may have any) is read the slow way: the whole object first, then the
//! variant from it, as serde would.

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::Deserializer;
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

/// An enum read by `deserialize`: its tag's name and how to read a variant from the rest
/// of the object.
pub trait TagFirst: Sized {
    /// The tag's key, e.g. `event`.
    const TAG: &'static str;
    /// What the object is, for error messages.
    const WHAT: &'static str;
    /// Reads the variant named `tag` from the object's other entries.
    fn variant<'de, A: MapAccess<'de>>(tag: &str, rest: A) -> Result<Self, A::Error>;
}

/// `Deserialize::deserialize` for a `TagFirst` enum.
pub fn deserialize<'de, T: TagFirst, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    d.deserialize_map(Tagged(PhantomData))
}

struct Tagged<T>(PhantomData<T>);

impl<'de, T: TagFirst> Visitor<'de> for Tagged<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} (an object with `{}`)", T::WHAT, T::TAG)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let first = match map.next_key_seed(KeySeed(T::TAG))? {
            None => return Err(de::Error::missing_field(T::TAG)),
            Some(Key::Tag) => {
                let tag: String = map.next_value()?;
                return T::variant(&tag, map);
            }
            Some(Key::Other(key)) => key,
        };
        // The slow way: every entry, then the tag taken out and the variant read from the
        // others.
        let mut entries: Vec<(String, Value)> = vec![(first, map.next_value()?)];
        while let Some(entry) = map.next_entry::<String, Value>()? {
            entries.push(entry);
        }
        let Some(at) = entries.iter().position(|(k, _)| k == T::TAG) else {
            return Err(de::Error::missing_field(T::TAG));
        };
        let tag = match entries.remove(at).1 {
            Value::String(tag) => tag,
            other => {
                return Err(de::Error::invalid_type(
                    unexpected(&other),
                    &"a string naming the variant",
                ))
            }
        };
        let rest = de::value::MapDeserializer::<_, serde_json::Error>::new(entries.into_iter());
        T::variant(&tag, rest).map_err(de::Error::custom)
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("a number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

/// A key: the tag, or another one (kept, for the slow way).
enum Key {
    Tag,
    Other(String),
}

/// Reads a key, told the tag's name.
struct KeySeed(&'static str);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(if v == self.0 {
            Key::Tag
        } else {
            Key::Other(v.to_owned())
        })
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(if v == self.0 { Key::Tag } else { Key::Other(v) })
    }
}
