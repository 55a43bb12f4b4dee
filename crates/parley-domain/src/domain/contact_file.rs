//! Contacts as files, in and out: a CSV or JSON import parsed into rows the store upserts
//! (each refused row with its row number and a plain reason), and the rows of an export.
//! Pure: no store, no I/O; every input is bounded (bytes, rows, fields, value lengths).
//!
//! Columns (CSV header) or keys (JSON objects): `phone`, `user_id`, `name`, `tags`
//! (`;`-separated, or a JSON array), `opted_in` (`true/false/yes/no/1/0`); every other
//! column is a custom field, stored as a contact attribute (`{{ contact.fields.x }}`). An
//! empty cell changes nothing.
//!
//! Each format is read in its own file (`import_csv`, `import_json`) into rows that `rows`
//! checks the same way; `export` writes them back out, and `formula` keeps spreadsheet
//! formulas from running on the way.

use super::contact::OPTED_OUT;
use super::{is_user_id, Contact, ContactPatch, Identities, PhoneNumber};
use serde::Serialize;
use serde_json::{Map, Value};

mod export;
mod formula;
mod import_csv;
mod import_json;
mod rows;

pub use export::{csv_header, csv_line, csv_value, field_names, ExportRow};
use formula::{defused, unquote_formula};
use import_csv::parse_csv;
use import_json::parse_json;
use rows::{RawRow, Rows};

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

/// `a; b ;a`: the tags of one text, trimmed, once each, in order.
fn split_tags(value: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in value.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    }
    tags
}

#[cfg(test)]
mod tests;
