//! Reading a JSON import: an array of objects, each into a row to check.

use super::*;

pub(super) fn parse_json(bytes: &[u8]) -> Result<ParsedImport, ImportError> {
    let text = utf8_text(bytes)?;
    let items: Vec<Value> = serde_json::from_str(text).map_err(|e| {
        // serde_json counts columns from 1 but says 0 for a whole value of the wrong type
        // (`{…}` where the array belongs): the first character is column 1, as everywhere
        // else in this file's errors. Its own "at line 1 column 0" is not repeated.
        let problem = e.to_string();
        let problem = match problem.rsplit_once(" at line ") {
            Some((words, _)) => words.to_string(),
            None => problem,
        };
        ImportError::Json {
            line: e.line().max(1),
            column: e.column().max(1),
            problem,
        }
    })?;
    if items.len() > MAX_ROWS {
        return Err(ImportError::TooManyRows);
    }
    let mut rows = Rows::default();
    for (i, item) in items.into_iter().enumerate() {
        let row = i + 1;
        rows.count()?;
        match json_row(item) {
            Ok(raw) => rows.take(row, raw),
            Err(reason) => rows.refuse(row, reason),
        }
    }
    Ok(rows.done())
}

fn json_row(item: Value) -> Result<RawRow, String> {
    let Value::Object(object) = item else {
        return Err("is not an object: write each contact as {\"phone\": …, …}".into());
    };
    let mut raw = RawRow::default();
    for (key, value) in object {
        match key.as_str() {
            PHONE => raw.phone = json_text(PHONE, value)?,
            USER_ID => raw.user_id = json_text(USER_ID, value)?,
            NAME => raw.name = json_text(NAME, value)?,
            TAGS => {
                raw.tags = match value {
                    Value::Null => Vec::new(),
                    Value::String(s) => split_tags(&s),
                    Value::Array(items) => {
                        let mut tags: Vec<String> = Vec::new();
                        for item in items {
                            let Value::String(tag) = item else {
                                return Err("tags must be text: a list of words or one text with ; between them".into());
                            };
                            tags.extend(split_tags(&tag));
                        }
                        split_tags(&tags.join(";"))
                    }
                    _ => {
                        return Err(
                            "tags must be a list of words or one text with ; between them".into(),
                        )
                    }
                }
            }
            OPTED_IN => raw.opted_in = (!value.is_null()).then_some(value),
            FIELDS => {
                let Value::Object(fields) = value else {
                    return Err("fields must be an object of names and values".into());
                };
                for (name, value) in fields {
                    raw.fields.insert(name, value);
                }
            }
            _ => {
                raw.fields.insert(key, value);
            }
        }
    }
    Ok(raw)
}

/// A JSON value where text is expected: text (trimmed; empty means none) or a number
/// (a phone written as digits).
fn json_text(key: &str, value: Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Value::Number(n) if key == PHONE => Ok(Some(n.to_string())),
        _ => Err(format!("{key} must be text")),
    }
}
