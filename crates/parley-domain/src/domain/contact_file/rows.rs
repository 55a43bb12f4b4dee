//! The rows of an import as they are checked, whatever the file's format: each value in
//! its bounds, the phone and user id valid and not twice in the file.

use super::*;
use std::collections::HashMap;

/// A row as written, before its values are checked.
#[derive(Default)]
pub(super) struct RawRow {
    pub(super) phone: Option<String>,
    pub(super) user_id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) tags: Vec<String>,
    pub(super) opted_in: Option<Value>,
    pub(super) fields: Map<String, Value>,
}

/// Rows as they are checked: the ones taken, the ones refused, and which row first named
/// each phone and user id (duplicates within the file).
#[derive(Default)]
pub(super) struct Rows {
    parsed: ParsedImport,
    seen: usize,
    phones: HashMap<String, usize>,
    user_ids: HashMap<String, usize>,
}

impl Rows {
    pub(super) fn count(&mut self) -> Result<(), ImportError> {
        self.seen += 1;
        if self.seen > MAX_ROWS {
            return Err(ImportError::TooManyRows);
        }
        Ok(())
    }

    pub(super) fn done(mut self) -> ParsedImport {
        self.parsed.refused.sort_by_key(|r| r.row);
        self.parsed
    }

    pub(super) fn refuse(&mut self, row: usize, reason: String) {
        self.parsed.refused.push(Refusal { row, reason });
    }

    pub(super) fn take(&mut self, row: usize, raw: RawRow) {
        match self.check(row, raw) {
            Ok(contact) => {
                if let Some(phone) = &contact.phone {
                    self.phones.insert(phone.as_e164().to_string(), row);
                }
                if let Some(id) = &contact.user_id {
                    self.user_ids.insert(id.clone(), row);
                }
                self.parsed.contacts.push(contact);
            }
            Err(reason) => self.refuse(row, reason),
        }
    }

    fn check(&self, row: usize, raw: RawRow) -> Result<ContactImport, String> {
        let phone = raw
            .phone
            .as_deref()
            .map(|p| {
                PhoneNumber::parse_strict(p).map_err(|e| format!("bad phone {}: {e}", short(p)))
            })
            .transpose()?;
        let user_id = match raw.user_id {
            Some(id) if !is_user_id(&id) => {
                return Err(format!(
                    "bad user_id {}: a business-scoped user id looks like US.1048295736 (two capital letters, a dot, letters and digits)",
                    short(&id)
                ))
            }
            id => id,
        };
        if phone.is_none() && user_id.is_none() {
            return Err("neither phone nor user_id: give at least one".into());
        }
        if let Some(first) = phone
            .as_ref()
            .and_then(|p| self.phones.get(p.as_e164()))
            .or_else(|| user_id.as_ref().and_then(|id| self.user_ids.get(id)))
        {
            return Err(format!("duplicate of row {first} in the file"));
        }
        if let Some(name) = &raw.name {
            value_length("name", name)?;
            one_line("name", name)?;
        }
        for tag in &raw.tags {
            value_length("tag", tag)?;
            one_line("tag", tag)?;
        }
        let opted_in = raw.opted_in.as_ref().map(opted_in).transpose()?;
        // `last_reengaged_at`, which Parley stamps, is not the row's own (`opted_out` is
        // refused as a field name).
        let custom = raw
            .fields
            .keys()
            .filter(|k| k.as_str() != crate::domain::contact::LAST_REENGAGED_AT)
            .count();
        if custom > MAX_FIELDS {
            return Err(format!(
                "too many fields ({custom}): a row may set at most {MAX_FIELDS}"
            ));
        }
        for (name, value) in &raw.fields {
            if let Some(problem) = field_name_problem(name) {
                return Err(problem);
            }
            match value {
                Value::String(s) => {
                    value_length(name, s)?;
                    if let Some(why) = crate::domain::limits::text_control_problem(s) {
                        return Err(format!("{} {why}", short(name)));
                    }
                }
                Value::Number(_) | Value::Bool(_) | Value::Null => {}
                _ => {
                    return Err(format!(
                        "field {} must be text, a number or true/false",
                        short(name)
                    ))
                }
            }
        }
        Ok(ContactImport {
            row,
            phone,
            user_id,
            name: raw.name,
            tags: raw.tags,
            opted_in,
            fields: raw.fields,
        })
    }
}

/// A name or tag: one line of plain text, as the API takes it.
fn one_line(what: &str, value: &str) -> Result<(), String> {
    match crate::domain::limits::label_problem(value) {
        Some(why) => Err(format!("{what} {why}")),
        None => Ok(()),
    }
}

fn value_length(what: &str, value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if chars > MAX_VALUE_CHARS {
        return Err(format!(
            "value too long: {} has {chars} characters, at most {MAX_VALUE_CHARS}",
            short(what)
        ));
    }
    Ok(())
}

fn opted_in(value: &Value) -> Result<bool, String> {
    let word = match value {
        Value::Bool(b) => return Ok(*b),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        _ => String::new(),
    };
    match word.as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(format!(
            "bad opted_in {}: write true, false, yes, no, 1 or 0",
            short(&match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        )),
    }
}

/// A value quoted in a reason, cut to stay readable.
fn short(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        format!("{:?}…", value.chars().take(MAX).collect::<String>())
    }
}
