//! `parley translations export` and `import`'s formats: a CSV (`flow, where, text`, then
//! one column per language other than a base) and a PO file (one language; `#:` where,
//! `msgctxt` the flow, `msgid` the text, `msgstr` its translation). The reading is
//! bounded: `MAX_INPUT_BYTES`, `MAX_ROWS` rows, `MAX_TEXT_CHARS` a cell.

use super::super::model::Flow;
use super::po::{self, PoEntry};
use super::texts::{distinct, texts, TextRef};
use super::{valid_code, Translations, MAX_TEXT_CHARS};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

/// The largest file `import` reads.
pub const MAX_INPUT_BYTES: u64 = 10 * 1024 * 1024;
/// The most rows (or PO entries) `import` reads.
pub const MAX_ROWS: usize = 200_000;

/// What export and import need of one flow file.
#[derive(Debug, Clone)]
pub struct FlowTexts {
    pub id: String,
    /// As the loader names it (`flows/welcome.yaml`).
    pub file: PathBuf,
    pub languages: Vec<String>,
    /// Its distinct texts, in the order first written.
    pub texts: Vec<TextRef>,
    /// Inline and `.po` translations together (the `.po` ones won).
    pub translations: Arc<Translations>,
}

impl FlowTexts {
    pub fn new(flow: &Flow, source: &str) -> Self {
        let all = texts(flow, source);
        Self {
            id: flow.id.clone(),
            file: PathBuf::from(&flow.file),
            languages: flow.languages.clone(),
            texts: distinct(&all).into_iter().cloned().collect(),
            translations: Arc::clone(&flow.translations),
        }
    }

    /// `flows/welcome.yaml:12:11`.
    pub fn place(&self, t: &TextRef) -> String {
        format!("{}:{}:{}", self.file.display(), t.at.line, t.at.column)
    }

    pub fn others(&self) -> &[String] {
        self.languages.get(1..).unwrap_or(&[])
    }
}

/// Every language other than a flow's base, of any flow, sorted.
pub fn export_languages(flows: &[FlowTexts]) -> Vec<String> {
    let set: BTreeSet<&String> = flows.iter().flat_map(|f| f.others()).collect();
    set.into_iter().cloned().collect()
}

/// One CSV field, quoted when it must be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV of every text of the flows that declare languages.
pub fn export_csv(flows: &[FlowTexts]) -> String {
    let langs = export_languages(flows);
    let mut out = String::new();
    let mut header = vec!["flow".to_string(), "where".into(), "text".into()];
    header.extend(langs.iter().cloned());
    out.push_str(&header.join(","));
    out.push('\n');
    for f in flows.iter().filter(|f| !f.others().is_empty()) {
        for t in &f.texts {
            let mut row = vec![field(&f.id), field(&f.place(t)), field(&t.text)];
            for l in &langs {
                let cell = if f.others().contains(l) && f.translations.has(l, &t.text) {
                    f.translations.text(l, &t.text)
                } else {
                    ""
                };
                row.push(field(cell));
            }
            out.push_str(&row.join(","));
            out.push('\n');
        }
    }
    out
}

/// The PO file of `language` (needed when the flows have several languages besides their
/// bases) for every flow that declares it.
pub fn export_po(flows: &[FlowTexts], language: Option<&str>) -> Result<String, String> {
    let langs = export_languages(flows);
    let lang = match language {
        Some(l) if langs.iter().any(|x| x == l) => l.to_string(),
        Some(l) => {
            return Err(format!(
                "no flow translates into `{l}`; the flows' languages besides their base: {}",
                list_or_none(&langs)
            ))
        }
        None => match langs.as_slice() {
            [one] => one.clone(),
            [] => return Err("no flow declares a language besides its base (`languages: [en, es]`); there is nothing to translate".into()),
            many => {
                return Err(format!(
                    "a PO file holds one language, and the flows have {}: {}; choose one with `--language {}`",
                    many.len(),
                    many.join(", "),
                    many[0]
                ))
            }
        },
    };
    let mut entries = Vec::new();
    for f in flows.iter().filter(|f| f.others().contains(&lang)) {
        for t in &f.texts {
            entries.push(PoEntry {
                references: vec![f.place(t)],
                context: Some(f.id.clone()),
                id: t.text.clone(),
                text: if f.translations.has(&lang, &t.text) {
                    f.translations.text(&lang, &t.text).to_string()
                } else {
                    String::new()
                },
                fuzzy: false,
                line: 0,
            });
        }
    }
    Ok(po::write(&lang, &entries))
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// One translation read from an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The line of the input it starts on.
    pub line: usize,
    pub flow: String,
    /// The flow file the input names (`where`, `#:`), when it does.
    pub file: Option<String>,
    pub text: String,
    pub language: String,
    /// Empty: no translation (in a CSV, one to remove).
    pub value: String,
}

/// `flows/welcome.yaml:12:11` → `flows/welcome.yaml`.
fn file_of(place: &str) -> Option<String> {
    let mut parts = place.rsplitn(3, ':');
    let (col, line, file) = (parts.next()?, parts.next()?, parts.next()?);
    (col.parse::<usize>().is_ok() && line.parse::<usize>().is_ok() && !file.is_empty())
        .then(|| file.to_string())
}

/// The records of a CSV text with the line each starts on. Refuses broken quoting.
pub fn csv_records(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut cell = String::new();
    let (mut line, mut start) = (1usize, 1usize);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => {
                    quoted = false;
                    if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                        return Err(format!("line {line}: text after a closing quote; a quote inside a quoted cell is written twice (\"\")"));
                    }
                }
                c => {
                    if c == '\n' {
                        line += 1;
                    }
                    cell.push(c);
                }
            }
        } else {
            match c {
                '"' if cell.is_empty() => quoted = true,
                '"' => return Err(format!("line {line}: a quote inside a cell that does not start with one; quote the whole cell (\"…\") and write inner quotes twice")),
                ',' => record.push(std::mem::take(&mut cell)),
                '\r' => {}
                '\n' => {
                    record.push(std::mem::take(&mut cell));
                    out.push((start, std::mem::take(&mut record)));
                    line += 1;
                    start = line;
                    any = false;
                    continue;
                }
                c => cell.push(c),
            }
        }
        any = true;
        if cell.chars().count() > MAX_TEXT_CHARS {
            return Err(format!(
                "line {line}: a cell longer than {MAX_TEXT_CHARS} characters"
            ));
        }
        if out.len() > MAX_ROWS {
            return Err(format!("more than {MAX_ROWS} rows"));
        }
    }
    if quoted {
        return Err(format!(
            "line {start}: a quoted cell is never closed (a \" is missing)"
        ));
    }
    if any {
        record.push(cell);
        out.push((start, record));
    }
    Ok(out)
}

/// The translations of a CSV as `export_csv` writes it (its columns found by name).
pub fn read_csv(text: &str) -> Result<Vec<Cell>, String> {
    let records = csv_records(text.strip_prefix('\u{feff}').unwrap_or(text))?;
    let Some(((_, header), rows)) = records.split_first() else {
        return Err(
            "the file is empty; export one with `parley translations export texts.csv`".into(),
        );
    };
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let (Some(flow), Some(place), Some(text_col)) = (col("flow"), col("where"), col("text")) else {
        return Err("line 1: the columns `flow`, `where` and `text` are missing; export a file with `parley translations export texts.csv` and fill in its language columns".into());
    };
    let mut langs = Vec::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim();
        if [flow, place, text_col].contains(&i) || h.is_empty() {
            continue;
        }
        if !valid_code(h) {
            return Err(format!(
                "line 1: the column `{h}` is not a language code (like es or pt_BR)"
            ));
        }
        langs.push((i, h.to_string()));
    }
    let mut cells = Vec::new();
    for (line, row) in rows {
        if row.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let get = |i: usize| row.get(i).cloned().unwrap_or_default();
        for (i, lang) in &langs {
            cells.push(Cell {
                line: *line,
                flow: get(flow),
                file: file_of(&get(place)),
                text: get(text_col),
                language: lang.clone(),
                value: get(*i),
            });
        }
    }
    Ok(cells)
}

/// The translations of a PO file (its header names the language, or `language` does).
pub fn read_po(text: &str, language: Option<&str>) -> Result<Vec<Cell>, String> {
    let file = po::parse(text)
        .map_err(|e| format!("line {}, column {}: {}", e.line, e.column, e.message))?;
    let lang = match (language, &file.language) {
        (Some(l), _) => l.to_string(),
        (None, Some(l)) => l.clone(),
        (None, None) => return Err("the PO file's header has no `Language:`; add `\"Language: es\\n\"` to it, or give `--language es`".into()),
    };
    if !valid_code(&lang) {
        return Err(format!(
            "`{lang}` is not a language code (like es or pt_BR)"
        ));
    }
    if file.entries.len() > MAX_ROWS {
        return Err(format!("more than {MAX_ROWS} entries"));
    }
    Ok(file
        .translations()
        .map(|e| Cell {
            line: e.line,
            flow: e.context.clone().unwrap_or_default(),
            file: e.references.first().and_then(|r| file_of(r)),
            text: e.id.clone(),
            language: lang.clone(),
            value: e.text.clone(),
        })
        .collect())
}
