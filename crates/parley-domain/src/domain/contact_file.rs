//! Contacts as files, in and out: a CSV or JSON import parsed into rows the store upserts
//! (each refused row with its row number and a plain reason), and the rows of an export.
//! Pure: no store, no I/O; every input is bounded (bytes, rows, fields, value lengths).
//!
//! Columns (CSV header) or keys (JSON objects): `phone`, `user_id`, `name`, `tags`
//! (`;`-separated, or a JSON array), `opted_in` (`true/false/yes/no/1/0`); every other
//! column is a custom field, stored as a contact attribute (`{{ contact.fields.x }}`). An
//! empty cell changes nothing.

use super::contact::OPTED_OUT;
use super::{is_user_id, Contact, ContactPatch, Identities, PhoneNumber};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The largest import body.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// The most rows one import may hold.
pub const MAX_ROWS: usize = 200_000;
/// The most custom fields one row may set.
pub const MAX_FIELDS: usize = 50;
/// The longest value (name, tag, field), in characters.
pub const MAX_VALUE_CHARS: usize = 1024;
/// The longest custom field name, in characters.
pub const MAX_FIELD_NAME_CHARS: usize = 64;

/// One row to upsert: found by phone or business-scoped user id (at least one is set).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactImport {
    /// The row number the report names (CSV: the line the record starts on, the header
    /// being line 1; JSON: the 1-based position in the array).
    pub row: usize,
    pub phone: Option<PhoneNumber>,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub tags: Vec<String>,
    /// `Some(false)` opts the contact out, `Some(true)` back in; `None` leaves it.
    pub opted_in: Option<bool>,
    /// Custom fields; a JSON `null` removes the field.
    pub fields: Map<String, Value>,
}

impl ContactImport {
    pub fn identities(&self) -> Identities {
        Identities {
            phone: self.phone.as_ref().map(|p| p.as_e164().to_string()),
            bsuid: self.user_id.clone(),
        }
    }

    /// The change this row makes to a contact: name if given, tags added, fields merged,
    /// opt-in state set.
    pub fn patch(&self) -> ContactPatch {
        let mut set_attributes = self.fields.clone();
        match self.opted_in {
            Some(false) => {
                set_attributes.insert(OPTED_OUT.into(), Value::Bool(true));
            }
            Some(true) => {
                set_attributes.insert(OPTED_OUT.into(), Value::Null);
            }
            None => {}
        }
        ContactPatch {
            name: self.name.clone(),
            set_attributes,
            add_tags: self.tags.clone(),
            remove_tags: Vec::new(),
        }
    }
}

/// A row the import did not take, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub row: usize,
    pub reason: String,
}

/// An import file parsed: the rows to upsert, in file order, and the rows refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedImport {
    pub contacts: Vec<ContactImport>,
    pub refused: Vec<Refusal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    Csv,
    Json,
}

impl ImportFormat {
    /// From a `Content-Type` (`text/csv`, `application/json`) or a file extension.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim().to_ascii_lowercase();
        let base = name.split(';').next().unwrap_or("").trim();
        match base {
            "text/csv" | "application/csv" | "csv" => Some(Self::Csv),
            "application/json" | "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Why a whole file was refused (nothing of it imported).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is {0} bytes; an import takes at most 64 MiB: split it")]
    TooLarge(usize),
    #[error("the file has more than {MAX_ROWS} rows: split it")]
    TooManyRows,
    #[error(
        "line {line}, column {column}: the file is not UTF-8 text from here: save it as UTF-8"
    )]
    NotUtf8 { line: usize, column: usize },
    #[error("the file is empty: the first line must name the columns (phone, user_id, name, tags, opted_in, and your fields)")]
    Empty,
    #[error("line 1, column {column}: {problem}")]
    Header { column: usize, problem: String },
    #[error("line {line}: a quoted value is never closed: add the closing \"")]
    UnclosedQuote { line: usize },
    #[error("line {line}, column {column}: {problem}")]
    Csv {
        line: usize,
        column: usize,
        problem: String,
    },
    #[error("line {line}, column {column}: {problem} (the file must be a JSON array of objects)")]
    Json {
        line: usize,
        column: usize,
        problem: String,
    },
}

/// Parses an import file of `format`.
pub fn parse(format: ImportFormat, bytes: &[u8]) -> Result<ParsedImport, ImportError> {
    if bytes.len() > MAX_BYTES {
        return Err(ImportError::TooLarge(bytes.len()));
    }
    match format {
        ImportFormat::Csv => parse_csv(bytes),
        ImportFormat::Json => parse_json(bytes),
    }
}

/// The columns every file may have; any other is a custom field.
const PHONE: &str = "phone";
const USER_ID: &str = "user_id";
const NAME: &str = "name";
const TAGS: &str = "tags";
const OPTED_IN: &str = "opted_in";
const FIELDS: &str = "fields";

/// `bytes` as text without a leading byte-order mark, or where the first byte that is
/// not UTF-8 stands.
fn utf8_text(bytes: &[u8]) -> Result<&str, ImportError> {
    crate::domain::text::utf8_without_bom(bytes)
        .map_err(|(line, column)| ImportError::NotUtf8 { line, column })
}

fn parse_csv(bytes: &[u8]) -> Result<ParsedImport, ImportError> {
    let text = utf8_text(bytes)?;
    let mut records = CsvRecords::new(text);
    let Some((_, header)) = records.next_record()? else {
        return Err(ImportError::Empty);
    };
    let columns = header_columns(&header)?;
    let mut rows = Rows::default();
    while let Some((line, values)) = records.next_record()? {
        if values.len() == 1 && values[0].is_empty() {
            continue; // a blank line
        }
        rows.count()?;
        if values.len() != columns.len() {
            rows.refuse(
                line,
                format!(
                    "has {} values but the header names {} columns",
                    values.len(),
                    columns.len()
                ),
            );
            continue;
        }
        let mut raw = RawRow::default();
        for (column, value) in columns.iter().zip(values) {
            let value = unquote_formula(value.trim());
            if value.is_empty() {
                continue;
            }
            match column.as_str() {
                PHONE => raw.phone = Some(value.to_string()),
                USER_ID => raw.user_id = Some(value.to_string()),
                NAME => raw.name = Some(value.to_string()),
                TAGS => raw.tags = split_tags(value),
                OPTED_IN => raw.opted_in = Some(Value::String(value.to_string())),
                field => {
                    raw.fields
                        .insert(field.to_string(), Value::String(value.to_string()));
                }
            }
        }
        rows.take(line, raw);
    }
    Ok(rows.done())
}

/// The header's column names, checked: none empty, none twice, custom names short, at
/// least one of `phone` and `user_id`.
fn header_columns(header: &[String]) -> Result<Vec<String>, ImportError> {
    let mut columns: Vec<String> = Vec::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        let column = i + 1;
        let mut name = unquote_formula(name.trim()).to_string();
        // `Phone`, `NAME`: the columns every file may have, whatever their case.
        let lower = name.to_ascii_lowercase();
        if [PHONE, USER_ID, NAME, TAGS, OPTED_IN].contains(&lower.as_str()) {
            name = lower;
        }
        let problem = if name.is_empty() {
            Some("this column has no name: name it or delete it".to_string())
        } else if columns.contains(&name) {
            Some(format!("column {name} appears twice: keep one"))
        } else {
            field_name_problem(&name)
        };
        if let Some(problem) = problem {
            return Err(ImportError::Header { column, problem });
        }
        columns.push(name);
    }
    if !columns.iter().any(|c| c == PHONE || c == USER_ID) {
        // A spreadsheet saved with semicolons (as Excel does where the decimal mark is a
        // comma) reads as one column.
        let semicolons = columns.len() == 1 && columns[0].contains(';');
        return Err(ImportError::Header {
            column: 1,
            problem: if semicolons {
                format!(
                    "no phone or user_id column: the header reads as one column, `{}`; the columns must be separated by commas, not semicolons (save the file as CSV with commas)",
                    columns[0].chars().take(60).collect::<String>()
                )
            } else {
                "no phone or user_id column: contacts are found by one of them".into()
            },
        });
    }
    Ok(columns)
}

/// Why `name` cannot be a custom field name, if it cannot.
fn field_name_problem(name: &str) -> Option<String> {
    if name == OPTED_OUT {
        Some(format!(
            "{OPTED_OUT} is kept by Parley: write the opt-in state as opted_in (true or false)"
        ))
    } else if name == FIELDS {
        Some("fields is not a column: write each field as a column of its own".into())
    } else if name.chars().count() > MAX_FIELD_NAME_CHARS {
        Some(format!(
            "the field name {}… is longer than {MAX_FIELD_NAME_CHARS} characters",
            name.chars().take(20).collect::<String>()
        ))
    } else {
        None
    }
}

fn split_tags(value: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in value.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    tags
}

fn parse_json(bytes: &[u8]) -> Result<ParsedImport, ImportError> {
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

/// A row as written, before its values are checked.
#[derive(Default)]
struct RawRow {
    phone: Option<String>,
    user_id: Option<String>,
    name: Option<String>,
    tags: Vec<String>,
    opted_in: Option<Value>,
    fields: Map<String, Value>,
}

/// Rows as they are checked: the ones taken, the ones refused, and which row first named
/// each phone and user id (duplicates within the file).
#[derive(Default)]
struct Rows {
    parsed: ParsedImport,
    seen: usize,
    phones: HashMap<String, usize>,
    user_ids: HashMap<String, usize>,
}

impl Rows {
    fn count(&mut self) -> Result<(), ImportError> {
        self.seen += 1;
        if self.seen > MAX_ROWS {
            return Err(ImportError::TooManyRows);
        }
        Ok(())
    }

    fn done(mut self) -> ParsedImport {
        self.parsed.refused.sort_by_key(|r| r.row);
        self.parsed
    }

    fn refuse(&mut self, row: usize, reason: String) {
        self.parsed.refused.push(Refusal { row, reason });
    }

    fn take(&mut self, row: usize, raw: RawRow) {
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

/// RFC 4180 records: `,` between values, `"` around values that hold `,`, `"` (doubled) or
/// line breaks; lines end in CRLF or LF.
struct CsvRecords<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> CsvRecords<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            line: 1,
        }
    }

    /// The next record and the line it starts on.
    fn next_record(&mut self) -> Result<Option<(usize, Vec<String>)>, ImportError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let start = self.line;
        let mut values = Vec::new();
        let mut value = String::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut quoted = false;
        let mut at_value_start = true;
        let mut end = self.rest.len();
        while let Some((i, c)) = chars.next() {
            if quoted {
                match c {
                    '"' if matches!(chars.peek(), Some((_, '"'))) => {
                        chars.next();
                        value.push('"');
                    }
                    '"' => {
                        quoted = false;
                        match chars.peek() {
                            None | Some((_, ',' | '\n' | '\r')) => {}
                            Some(_) => {
                                return Err(ImportError::Csv {
                                    line: self.line,
                                    column: values.len() + 1,
                                    problem: "text after a closing \" : put the whole value in quotes and double the \" inside it".into(),
                                })
                            }
                        }
                    }
                    '\n' => {
                        self.line += 1;
                        value.push(c);
                    }
                    _ => value.push(c),
                }
                continue;
            }
            match c {
                '"' if at_value_start => {
                    quoted = true;
                    at_value_start = false;
                }
                ',' => {
                    values.push(std::mem::take(&mut value));
                    at_value_start = true;
                }
                '\r' if matches!(chars.peek(), Some((_, '\n'))) => {}
                '\n' => {
                    end = i + 1;
                    self.line += 1;
                    break;
                }
                _ => {
                    value.push(c);
                    at_value_start = false;
                }
            }
        }
        if quoted {
            return Err(ImportError::UnclosedQuote { line: start });
        }
        values.push(value);
        self.rest = &self.rest[end..];
        Ok(Some((start, values)))
    }
}

/// An export row: what an import reads back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRow<'a> {
    pub phone: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub tags: &'a [String],
    pub opted_in: bool,
    pub fields: Map<String, Value>,
}

impl<'a> ExportRow<'a> {
    pub fn of(contact: &'a Contact) -> Self {
        let phone = (!contact.key.starts_with("bsuid:")).then_some(contact.key.as_str());
        let mut fields = contact.attributes.clone();
        let opted_out = fields.remove(OPTED_OUT).and_then(|v| v.as_bool()) == Some(true);
        Self {
            phone,
            user_id: contact.user_id.as_deref(),
            name: contact.name.as_deref(),
            tags: &contact.tags,
            opted_in: !opted_out,
            fields,
        }
    }
}

/// The CSV header of an export with these custom fields.
pub fn csv_header(fields: &[String]) -> String {
    let mut line = String::from("phone,user_id,name,tags,opted_in");
    for field in fields {
        line.push(',');
        line.push_str(&csv_value(&defused(field)));
    }
    line.push_str("\r\n");
    line
}

/// One contact as a CSV line under `csv_header(fields)`.
pub fn csv_line(contact: &Contact, fields: &[String]) -> String {
    let row = ExportRow::of(contact);
    let mut values = vec![
        csv_value(row.phone.unwrap_or("")),
        csv_value(row.user_id.unwrap_or("")),
        csv_value(&defused(row.name.unwrap_or(""))),
        csv_value(&defused(&row.tags.join(";"))),
        row.opted_in.to_string(),
    ];
    for field in fields {
        values.push(match row.fields.get(field) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => csv_value(&defused(s)),
            Some(other) => csv_value(&other.to_string()),
        });
    }
    let mut line = values.join(",");
    line.push_str("\r\n");
    line
}

/// The custom field names of `contact`, for a CSV export's header.
pub fn field_names(contact: &Contact) -> impl Iterator<Item = &String> {
    contact
        .attributes
        .keys()
        .filter(|k| k.as_str() != OPTED_OUT)
}

/// A text a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first: an imported
/// name of `=HYPERLINK(…)`) is exported behind a `'`, which spreadsheets show as text and
/// `unquote_formula` takes off again on import, so the export still reads back as it was.
fn defused(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(FORMULA_STARTS) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// An imported text as written before `defused` guarded it.
fn unquote_formula(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => value,
    }
}

/// A CSV field, quoted when it must be.
pub fn csv_value(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests;
