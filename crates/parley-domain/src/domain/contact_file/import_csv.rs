//! Reading a CSV import: the header's columns, then each record into a row to check.

use super::*;

pub(super) fn parse_csv(bytes: &[u8]) -> Result<ParsedImport, ImportError> {
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
