//! Where the parts of a test file are, and how the file wrote them: the file read again by
//! a parser that keeps each node's line and column and each scalar's text as written (the
//! steps themselves are read through `serde_yaml`, which keeps neither). A mistake inside a
//! step points at the setting or answer it is about, and `customer: +34600000001` sends
//! what the file says rather than the number YAML reads in it.

use serde_yaml::Value;

/// Where something starts in a test file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub line: usize,
    pub column: usize,
}

/// One part of the way from a step to what a mistake is about: into a setting's value, to
/// a setting's name, or to a list's item.
#[derive(Debug, Clone)]
pub(super) enum Seg {
    Value(String),
    Name(String),
    Item(usize),
}

pub(super) struct Places {
    root: Option<marked_yaml::Node>,
}

impl Places {
    /// The file's marked tree; none when that parser cannot read a file `serde_yaml` can
    /// (anchors and tags), and then every place is the step's or the file's start.
    pub(super) fn of(text: &str) -> Self {
        Self {
            root: marked_yaml::parse_yaml(0, text).ok(),
        }
    }

    /// Where a node starts: a mapping at its first setting's name (the parser's own mark
    /// for a block mapping is past it).
    fn place(node: &marked_yaml::Node) -> Option<Place> {
        let first_key = node
            .as_mapping()
            .and_then(|m| m.keys().next())
            .and_then(|k| k.span().start());
        first_key.or(node.span().start()).map(at)
    }

    /// A top-level setting's value, or the file's start.
    pub(super) fn top(&self, key: &str) -> Place {
        self.root
            .as_ref()
            .and_then(|r| r.as_mapping())
            .and_then(|m| m.get_node(key))
            .and_then(Self::place)
            .unwrap_or(Place { line: 1, column: 1 })
    }

    /// Step `i` (0-based) as the marked parser read it.
    pub(super) fn step_node(&self, i: usize) -> Option<&marked_yaml::Node> {
        self.root
            .as_ref()
            .and_then(|r| r.as_mapping())
            .and_then(|m| m.get_node("steps"))
            .and_then(|n| n.as_sequence())
            .and_then(|s| s.get(i))
    }

    /// Step `i` (0-based), or the part of it `path` leads to; as far along the path as the
    /// file goes.
    pub(super) fn step(&self, i: usize, path: &[Seg]) -> Place {
        let Some(mut node) = self.step_node(i) else {
            return self.top("steps");
        };
        let mut place = Self::place(node).unwrap_or_else(|| self.top("steps"));
        for seg in path {
            let next = match seg {
                Seg::Value(key) => node.as_mapping().and_then(|m| m.get_node(key)),
                Seg::Name(key) => {
                    if let Some(p) = name_place(node, key) {
                        place = p;
                    }
                    break;
                }
                Seg::Item(n) => node.as_sequence().and_then(|s| s.get(*n)),
            };
            let Some(next) = next else { break };
            // Nothing after `customer:`: the parser marks the empty value where the next
            // line starts, but the mistake is on the setting's own line.
            if next.as_scalar().is_some_and(|s| s.as_str().is_empty()) {
                if let Seg::Value(key) = seg {
                    if let Some(p) = name_place(node, key) {
                        place = p;
                    }
                }
                break;
            }
            node = next;
            if let Some(p) = Self::place(node) {
                place = p;
            }
        }
        place
    }
}

fn at(mark: &marked_yaml::Marker) -> Place {
    Place {
        line: mark.line(),
        column: mark.column(),
    }
}

/// Where the name of the setting `key` of a mapping starts.
pub(super) fn name_place(node: &marked_yaml::Node, key: &str) -> Option<Place> {
    node.as_mapping()?
        .keys()
        .find(|k| k.as_str() == key)?
        .span()
        .start()
        .map(at)
}

/// `value` with each number and true/false as the file wrote it, from its marked `node`:
/// `+34600000001` and `12.50` stay those texts where YAML reads the numbers 34600000001
/// and 12.5. A number the marked tree does not have stays a number.
pub(super) fn as_written(value: &Value, node: Option<&marked_yaml::Node>) -> Value {
    match value {
        Value::Number(_) | Value::Bool(_) => match written(node) {
            Some(text) => Value::String(text.to_string()),
            None => value.clone(),
        },
        Value::Sequence(items) => {
            let nodes = node.and_then(|n| n.as_sequence());
            Value::Sequence(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| as_written(item, nodes.and_then(|s| s.get(i))))
                    .collect(),
            )
        }
        Value::Mapping(map) => {
            let nodes = node.and_then(|n| n.as_mapping());
            Value::Mapping(
                map.iter()
                    .map(|(k, v)| {
                        let sub = k.as_str().and_then(|k| nodes.and_then(|m| m.get_node(k)));
                        (k.clone(), as_written(v, sub))
                    })
                    .collect(),
            )
        }
        Value::Null | Value::String(_) | Value::Tagged(_) => value.clone(),
    }
}

/// A scalar's text as the file wrote it.
pub(super) fn written(node: Option<&marked_yaml::Node>) -> Option<&str> {
    node?.as_scalar().map(|s| s.as_str())
}

/// The first setting a mapping of the file has twice: its name, and where it is written
/// first and again.
pub(super) fn duplicate(text: &str) -> Option<(String, Place, Place)> {
    let options = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
    match marked_yaml::parse_yaml_with_options(0, text, options) {
        Err(marked_yaml::LoadError::DuplicateKey(d)) => Some((
            d.key.as_str().to_string(),
            d.prev_key.span().start().map(at)?,
            d.key.span().start().map(at)?,
        )),
        _ => None,
    }
}
