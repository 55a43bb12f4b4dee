//! The rows of an export, as JSON objects or CSV lines an import reads back.

use super::*;

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

/// A CSV field, quoted when it must be.
pub fn csv_value(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}
