//! An `agent` step's knowledge: the files it names, cut into passages and indexed once at
//! load (BM25), so each turn retrieves the passages nearest to the customer's words with no
//! external service. Reading is bounded (per file, per step, text only) and confined to the
//! project folder; the words of passages and queries are folded like keywords
//! (`normalize`), and one-letter words are dropped.

mod document;
pub mod html;
pub mod pdf;
pub mod web;

pub use document::{Document, Kind};

use super::normalize::normalize;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The largest knowledge file.
pub const FILE_MAX_BYTES: u64 = 1024 * 1024;
/// The most text one step's knowledge files hold together.
pub const STEP_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// The most files one step names.
pub const FILES_MAX: usize = 100;
/// A passage is cut at about this many characters.
pub const PASSAGE_MAX_CHARS: usize = 1_000;
/// The longest line read as a heading (and repeated in the passages of its section); a
/// longer `# …` line is a paragraph, cut like any other.
const HEADING_MAX_CHARS: usize = 200;
/// Words of a query looked up; the rest are ignored (a WhatsApp text is at most 4,096
/// characters, so this only bounds pathological input).
const QUERY_TERMS_MAX: usize = 64;
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// A passage of a knowledge file or web page, with what a citation of it needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Passage {
    /// Where it comes from: the file as the flow names it, or the page's address.
    pub file: String,
    /// The line the passage starts on (in its page, for a PDF; in the extracted text, for
    /// HTML and web pages).
    pub line: usize,
    pub text: String,
    /// The PDF page it is on (from 1).
    pub page: Option<u32>,
    /// The heading of its section, when it has one (`# Returns` → `Returns`).
    pub heading: Option<String>,
    /// The address a reader can open: the web page, or the `<!-- source: … -->` a file
    /// names on its first line. `cite: true` adds it to a reply.
    pub link: Option<String>,
}

impl Passage {
    /// Where the passage is, as the trace and the prompt show it: `knowledge/faq.md (line
    /// 12)`, `knowledge/guide.pdf (page 3)`, `https://acme.example/help/returns (Returns)`.
    pub fn cite(&self) -> String {
        match (&self.page, &self.heading) {
            (Some(page), _) => format!("{} (page {page})", self.file),
            (None, Some(h)) if is_address(&self.file) => format!("{} ({h})", self.file),
            _ if is_address(&self.file) => self.file.clone(),
            _ => format!("{} (line {})", self.file, self.line),
        }
    }

    /// The passage with its place, for the prompt and the trace: `cite(): text`.
    pub fn shown(&self) -> String {
        format!("{}: {}", self.cite(), self.text)
    }
}

fn is_address(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://")
}

/// The passages of a step's files, indexed.
#[derive(Debug, Default)]
pub struct Knowledge {
    pub passages: Vec<Passage>,
    /// The web pages and sitemaps it names, which the running process fetches.
    pub web: Vec<web::WebSource>,
    /// Word → (passage, times it occurs there).
    postings: HashMap<String, Vec<(usize, u32)>>,
    /// Words per passage.
    lengths: Vec<u32>,
    average_length: f64,
}

impl Knowledge {
    /// Indexes `passages`.
    pub fn new(passages: Vec<Passage>) -> Self {
        let mut postings: HashMap<String, Vec<(usize, u32)>> = HashMap::new();
        let mut lengths = Vec::with_capacity(passages.len());
        for (i, p) in passages.iter().enumerate() {
            let words = tokens(&p.text);
            lengths.push(words.len() as u32);
            let mut counts: HashMap<String, u32> = HashMap::new();
            for w in words {
                *counts.entry(w).or_default() += 1;
            }
            for (w, n) in counts {
                postings.entry(w).or_default().push((i, n));
            }
        }
        let total: u64 = lengths.iter().map(|&n| u64::from(n)).sum();
        let average_length = if lengths.is_empty() {
            0.0
        } else {
            total as f64 / lengths.len() as f64
        };
        Self {
            passages,
            web: Vec::new(),
            postings,
            lengths,
            average_length,
        }
    }

    /// Cuts each `(name, text)` into passages and indexes them.
    pub fn from_texts<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let passages = files
            .into_iter()
            .flat_map(|(name, text)| split(name, text))
            .collect();
        Self::new(passages)
    }

    /// Cuts each document into passages and indexes them.
    pub fn from_documents(documents: &[Document]) -> Self {
        Self::new(documents.iter().flat_map(Document::passages).collect())
    }

    /// The `k` passages that best match `query`, best first; none when nothing matches.
    pub fn search(&self, query: &str, k: usize) -> Vec<&Passage> {
        self.search_scored(query, k)
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    /// The `k` passages that best match `query` with their BM25 scores, best first; none
    /// when nothing matches. The scores are those `search` ranks by: they grow with the
    /// number and rarity of the query's words a passage holds, and are comparable only
    /// within one index.
    pub fn search_scored(&self, query: &str, k: usize) -> Vec<(&Passage, f64)> {
        let mut terms = tokens(query);
        terms.sort_unstable();
        terms.dedup();
        terms.truncate(QUERY_TERMS_MAX);
        let n = self.passages.len() as f64;
        let mut scores: HashMap<usize, f64> = HashMap::new();
        for term in &terms {
            let Some(list) = self.postings.get(term) else {
                continue;
            };
            let df = list.len() as f64;
            // BM25's idf, kept positive for words found in most passages.
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(doc, tf) in list {
                let tf = f64::from(tf);
                let norm = 1.0 - B + B * f64::from(self.lengths[doc]) / self.average_length;
                *scores.entry(doc).or_default() += idf * tf * (K1 + 1.0) / (tf + K1 * norm);
            }
        }
        let mut ranked: Vec<(usize, f64)> = scores.into_iter().filter(|(_, s)| *s > 0.0).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(k)
            .map(|(i, s)| (&self.passages[i], s))
            .collect()
    }
}

/// The words of `text` as the index sees them: folded, two characters or more.
fn tokens(text: &str) -> Vec<String> {
    normalize(text)
        .split(' ')
        .filter(|w| w.chars().count() > 1)
        .map(stem)
        .collect()
}

/// A light stemmer for the endings most languages of customers share with English
/// (`orders` → `order`, `shipping` → `ship`, `delivered` → `deliver`), so a question
/// finds a passage written with another form of its words. Short words are kept whole.
fn stem(word: &str) -> String {
    let mut w = word.to_string();
    for suffix in ["ing", "ed", "s"] {
        if w.chars().count() > suffix.len() + 3 && w.ends_with(suffix) && !w.ends_with("ss") {
            w.truncate(w.len() - suffix.len());
            break;
        }
    }
    // `shipp` (from shipping), `stopp`: a doubled last consonant left by the cut.
    let b = w.as_bytes();
    if b.len() > 3 && b[b.len() - 1] == b[b.len() - 2] && !b"aeiouls".contains(&b[b.len() - 1]) {
        w.pop();
    }
    w
}

/// Cuts a file into passages: a Markdown heading starts a new one, paragraphs are joined
/// up to `PASSAGE_MAX_CHARS`, and a longer paragraph is cut at line and then word ends. A
/// passage that continues a section repeats its heading, so it keeps its subject.
pub fn split(file: &str, text: &str) -> Vec<Passage> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut heading: Option<String> = None;
    let flush = |current: &mut Option<(usize, String)>, out: &mut Vec<Passage>| {
        if let Some((line, text)) = current.take() {
            if !text.trim().is_empty() {
                let heading = heading_of(&text);
                out.push(Passage {
                    file: file.to_string(),
                    line,
                    text,
                    heading,
                    ..Passage::default()
                });
            }
        }
    };
    for (line, block, is_heading) in blocks(text) {
        if is_heading {
            flush(&mut current, &mut out);
            heading = Some(block.clone());
            current = Some((line, block));
            continue;
        }
        for (line, piece) in pieces(line, &block) {
            let fits = current.as_ref().is_some_and(|(_, t)| {
                t.chars().count() + 2 + piece.chars().count() <= PASSAGE_MAX_CHARS
            });
            if fits {
                let (_, t) = current.as_mut().expect("checked");
                t.push_str(if heading.as_deref() == Some(t.as_str()) {
                    "\n"
                } else {
                    "\n\n"
                });
                t.push_str(&piece);
                continue;
            }
            flush(&mut current, &mut out);
            let text = match &heading {
                Some(h) if h.chars().count() + 1 + piece.chars().count() <= PASSAGE_MAX_CHARS => {
                    format!("{h}\n{piece}")
                }
                _ => piece,
            };
            current = Some((line, text));
        }
    }
    flush(&mut current, &mut out);
    out
}

/// The heading a passage starts with, without its `#`s.
fn heading_of(text: &str) -> Option<String> {
    let first = text.lines().next()?;
    is_heading(first).then(|| first.trim_start_matches('#').trim().to_string())
}

/// Paragraphs and headings with their first line: `(line, text, is_heading)`. Lines in a
/// fenced code block never count as headings.
fn blocks(text: &str) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    let mut para: Option<(usize, String)> = None;
    let mut fenced = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let number = i + 1;
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let heading = !fenced && is_heading(line);
        if line.trim().is_empty() || heading {
            if let Some((l, p)) = para.take() {
                out.push((l, p, false));
            }
            if heading {
                out.push((number, line.trim().to_string(), true));
            }
            continue;
        }
        match &mut para {
            Some((_, p)) => {
                p.push('\n');
                p.push_str(line);
            }
            None => para = Some((number, line.to_string())),
        }
    }
    if let Some((l, p)) = para {
        out.push((l, p, false));
    }
    out
}

fn is_heading(line: &str) -> bool {
    let hashes = line.chars().take_while(|&c| c == '#').count();
    (1..=6).contains(&hashes)
        && line[hashes..].starts_with(' ')
        && line.trim().chars().count() <= HEADING_MAX_CHARS
}

/// A paragraph cut into pieces of at most `PASSAGE_MAX_CHARS`, each with its first line.
fn pieces(first_line: usize, block: &str) -> Vec<(usize, String)> {
    if block.chars().count() <= PASSAGE_MAX_CHARS {
        return vec![(first_line, block.to_string())];
    }
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, line) in block.lines().enumerate() {
        let number = first_line + i;
        for part in cut_line(line) {
            match out.last_mut() {
                Some((_, t))
                    if t.chars().count() + 1 + part.chars().count() <= PASSAGE_MAX_CHARS =>
                {
                    t.push('\n');
                    t.push_str(&part);
                }
                _ => out.push((number, part)),
            }
        }
    }
    out
}

/// A line cut at word ends (or anywhere, for a run without spaces) into parts of at most
/// `PASSAGE_MAX_CHARS`.
fn cut_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut part = String::new();
    let mut count = 0;
    for word in line.split_inclusive(' ') {
        for c in word.chars() {
            if count == PASSAGE_MAX_CHARS {
                out.push(std::mem::take(&mut part));
                count = 0;
            }
            part.push(c);
            count += 1;
        }
        // Prefer cutting after a word over cutting inside the next one.
        if count > PASSAGE_MAX_CHARS * 4 / 5 {
            out.push(std::mem::take(&mut part));
            count = 0;
        }
    }
    if !part.trim().is_empty() {
        out.push(part);
    }
    out.retain(|p| !p.trim().is_empty());
    out
}

/// Why a knowledge file cannot be used, in words for the flow's author.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub message: String,
    pub hint: Option<String>,
}

fn refuse(message: String, hint: &str) -> Refusal {
    Refusal {
        message,
        hint: Some(hint.to_string()),
    }
}

/// Where `name` (as the flow writes it) is, inside `project`; refused when it would lead
/// outside (`..`, an absolute path, a link pointing elsewhere) or is not a text file.
pub fn locate(project: &Path, name: &str) -> Result<PathBuf, Refusal> {
    let relative = Path::new(name);
    let inside = "write the path from the project folder (the folder that holds the flows folder), like `knowledge/shipping.md`";
    if name.trim().is_empty() {
        return Err(refuse("a knowledge file name is empty".into(), inside));
    }
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(refuse(
            format!("the knowledge file `{name}` is outside the project folder"),
            inside,
        ));
    }
    if Kind::of_name(name).is_none() {
        return Err(refuse(
            format!("the knowledge file `{name}` is not a document Parley reads"),
            "knowledge files are Markdown or text (`.md`, `.markdown`, `.txt`), HTML (`.html`, `.htm`) or PDF (`.pdf`); for a web page, write `- { url: \"https://…\" }`",
        ));
    }
    let path = project.join(relative);
    // A link inside the folder may still point outside it.
    if let (Ok(real), Ok(root)) = (path.canonicalize(), project.canonicalize()) {
        if !real.starts_with(&root) {
            return Err(refuse(
                format!(
                    "the knowledge file `{name}` is a link to a file outside the project folder"
                ),
                "copy the file into the project folder instead of linking to it",
            ));
        }
    }
    Ok(path)
}

/// Reads a knowledge document: an ordinary file (never a named pipe, which would block),
/// at most its kind's size (`FILE_MAX_BYTES`, `pdf::FILE_MAX_BYTES`), its text (once
/// extracted) at most `limit` bytes.
pub fn read(path: &Path, name: &str, limit: u64) -> Result<Document, Refusal> {
    use crate::config::regular_file::{open, NotRegular, OpenError};
    let kind = Kind::of_name(name).unwrap_or(Kind::Text);
    let file = open(path).map_err(|e| {
        let e = match e {
            OpenError::NotRegular(kind) => {
                let hint = if kind == NotRegular::Directory {
                    "name the files inside it one by one, like `knowledge/shipping.md`"
                } else {
                    "copy the text into an ordinary `.md` or `.txt` file and name that one"
                };
                return refuse(
                    kind.describe(&format!("the knowledge file `{name}`")),
                    hint,
                );
            }
            OpenError::Io(e) => e,
        };
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "check the name; paths are relative to the project folder (the folder that holds the flows folder)"
        } else {
            "check that Parley may read it"
        };
        Refusal {
            message: format!("cannot read the knowledge file `{name}`: {}", plain(&e)),
            hint: Some(hint.into()),
        }
    })?;
    let file_max = kind.max_bytes();
    let bytes_max = if kind == Kind::Pdf {
        file_max
    } else {
        limit.min(file_max)
    };
    let mut bytes = Vec::new();
    file.take(bytes_max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Refusal {
            message: format!("cannot read the knowledge file `{name}`: {}", plain(&e)),
            hint: None,
        })?;
    let too_much = |at_file: bool| {
        let message = if at_file {
            format!(
                "the knowledge file `{name}` is over {}",
                size_in_words(file_max)
            )
        } else {
            format!(
                "the knowledge files of this step are over {} MiB together (at `{name}`)",
                STEP_MAX_BYTES / (1024 * 1024)
            )
        };
        refuse(
            message,
            "keep what the assistant needs to answer; split big documents and give each agent step only its own",
        )
    };
    if bytes.len() as u64 > bytes_max {
        return Err(too_much(bytes_max == file_max));
    }
    let document = Document::read(name, &bytes, kind, None)?;
    if document.len() > limit {
        return Err(too_much(false));
    }
    Ok(document)
}

fn size_in_words(bytes: u64) -> String {
    if bytes > 2 * 1024 * 1024 {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

fn plain(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "there is no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_of_a_word_meet_at_one_stem() {
        for (a, b) in [
            ("orders", "order"),
            ("shipping", "ship"),
            ("delivered", "deliver"),
            ("returns", "return"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
        assert_eq!(stem("address"), "address");
        assert_eq!(stem("bus"), "bus");
    }

    #[test]
    fn headings_start_passages_and_long_sections_keep_their_heading() {
        let long = "word ".repeat(300);
        let text =
            format!("intro line\n\n# Shipping\nWe ship daily.\n\n## Returns\n{long}\n\n{long}\n");
        let passages = split("k.md", &text);
        let starts: Vec<(usize, &str)> = passages
            .iter()
            .map(|p| (p.line, p.text.lines().next().unwrap()))
            .collect();
        assert_eq!(
            starts,
            vec![
                (1, "intro line"),
                (3, "# Shipping"),
                (6, "## Returns"),
                (7, "## Returns"),
                (9, "## Returns"),
                (9, "## Returns")
            ]
        );
        assert!(passages
            .iter()
            .all(|p| p.text.chars().count() <= PASSAGE_MAX_CHARS));
    }

    #[test]
    fn a_line_without_spaces_is_cut_within_the_passage_size() {
        let text = "x".repeat(2_500);
        let passages = split("k.txt", &text);
        assert_eq!(passages.len(), 3);
        assert!(passages
            .iter()
            .all(|p| p.text.chars().count() <= PASSAGE_MAX_CHARS && p.line == 1));
    }

    /// A `# …` line of a megabyte is no heading: it is cut like a paragraph, so no
    /// passage (and no prompt that takes passages) grows with it.
    #[test]
    fn a_heading_too_long_to_be_one_is_cut_like_a_paragraph() {
        let long = format!("# {}", "parcel refund ".repeat(80_000));
        let text =
            format!("{long}\n\nShort paragraph about parcels.\n\n# Returns\nWithin 30 days.\n");
        let passages = split("k.md", &text);
        assert!(passages.len() > 1_000, "{}", passages.len());
        assert!(passages
            .iter()
            .all(|p| p.text.chars().count() <= PASSAGE_MAX_CHARS));
        assert_eq!(passages.last().unwrap().text, "# Returns\nWithin 30 days.");
        // A heading of ordinary length still leads its section's passages.
        let text = format!("# Shipping\n{}\n\n{}\n", "a ".repeat(400), "b ".repeat(400));
        let passages = split("k.md", &text);
        assert_eq!(passages.len(), 2);
        assert!(passages.iter().all(|p| p.text.starts_with("# Shipping\n")));
    }

    #[test]
    fn hashes_in_code_blocks_are_not_headings() {
        let passages = split("k.md", "```\n# not a heading\n```\n");
        assert_eq!(passages.len(), 1);
    }
}
