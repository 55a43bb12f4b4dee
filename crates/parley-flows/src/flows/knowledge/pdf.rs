//! Text of a PDF, page by page, for the knowledge index. A small reader of what text PDFs
//! hold: objects (plain or in object streams), the page tree, content streams (plain or
//! Flate-compressed) and their text operators. Fonts' own encodings are not mapped, so a
//! PDF whose text is drawn as glyph numbers (or scanned as images) is refused with a
//! hint to export it again. Everything is bounded: pages, the depth of the page tree, how
//! much a stream may inflate to, and the time the whole reading may take.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The largest PDF file read.
pub const FILE_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The most pages read.
pub const PAGES_MAX: usize = 500;
/// The most one PDF's streams may inflate to, together.
const INFLATED_MAX: usize = 64 * 1024 * 1024;
/// The longest a PDF's reading may take.
pub const TIME_MAX: Duration = Duration::from_secs(5);
/// Levels of the page tree followed.
const TREE_DEPTH_MAX: usize = 32;

/// Why a PDF cannot be read, in words for the flow's author.
#[derive(Debug, Clone, PartialEq)]
pub struct PdfError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, PdfError> {
    Err(PdfError(message.into()))
}

/// The text of each page, in order (from page 1).
pub fn pages(bytes: &[u8]) -> Result<Vec<String>, PdfError> {
    pages_here(bytes).map_err(|e| {
        // A file missing its end marker was cut short: the likeliest reason it fails.
        let tail = &bytes[bytes.len().saturating_sub(2048)..];
        if bytes.starts_with(b"%PDF-") && find(tail, b"%%EOF").is_none() {
            PdfError(format!(
                "it is cut short (its end is missing) and {}",
                e.0.trim_start_matches("it ")
            ))
        } else {
            e
        }
    })
}

fn pages_here(bytes: &[u8]) -> Result<Vec<String>, PdfError> {
    let deadline = Instant::now() + TIME_MAX;
    if !bytes.starts_with(b"%PDF-") {
        return err("it does not start like a PDF (`%PDF-`)");
    }
    let mut reader = Reader {
        objects: HashMap::new(),
        inflated: 0,
        deadline,
    };
    reader.scan(bytes)?;
    if reader.objects.is_empty() {
        return err("it holds no objects (the file is cut short or damaged)");
    }
    if find(bytes, b"/Encrypt").is_some() {
        return err("it is encrypted (protected with a password)");
    }
    let page_ids = reader.page_ids(bytes)?;
    if page_ids.is_empty() {
        return err("it has no pages (the file is cut short or damaged)");
    }
    let mut out = Vec::with_capacity(page_ids.len());
    for id in page_ids {
        reader.check_time()?;
        let page = reader.objects.get(&id).cloned().unwrap_or_default();
        let mut content = Vec::new();
        for c in refs_of(&page.dict, b"/Contents") {
            if let Some(obj) = reader.objects.get(&c).cloned() {
                content.extend(reader.stream_data(&obj)?);
                content.push(b'\n');
            }
        }
        out.push(text_of(&content));
    }
    let readable: usize = out
        .iter()
        .map(|p| p.chars().filter(|c| c.is_alphanumeric()).count())
        .sum();
    if readable == 0 {
        return err(
            "it holds no text Parley can read (scanned pages, or fonts that draw glyph numbers)",
        );
    }
    Ok(out)
}

/// An object: its dictionary (or whole body) and its stream, if any.
#[derive(Debug, Clone, Default)]
struct Object {
    dict: Vec<u8>,
    stream: Option<Vec<u8>>,
}

struct Reader {
    objects: HashMap<u32, Object>,
    inflated: usize,
    deadline: Instant,
}

impl Reader {
    fn check_time(&self) -> Result<(), PdfError> {
        if Instant::now() > self.deadline {
            return err(format!(
                "reading it took over {} seconds",
                TIME_MAX.as_secs()
            ));
        }
        Ok(())
    }

    /// Every `n g obj … endobj` of the file, then the objects inside object streams.
    fn scan(&mut self, bytes: &[u8]) -> Result<(), PdfError> {
        let header = regex::bytes::Regex::new(r"(\d{1,10})\s+\d{1,5}\s+obj\b").expect("valid");
        let mut at = 0;
        while let Some(m) = header.captures_at(bytes, at) {
            self.check_time()?;
            let whole = m.get(0).expect("match");
            let id: u32 = std::str::from_utf8(&m[1])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let body_start = whole.end();
            let end = find(&bytes[body_start..], b"endobj").map(|i| body_start + i);
            let (body, next) = match end {
                Some(e) => (&bytes[body_start..e], e + 6),
                None => (&bytes[body_start..], bytes.len()),
            };
            let object = match find(body, b"stream") {
                Some(s) if find(&body[..s], b"<<").is_some() => {
                    let mut data_start = s + 6;
                    if body.get(data_start) == Some(&b'\r') {
                        data_start += 1;
                    }
                    if body.get(data_start) == Some(&b'\n') {
                        data_start += 1;
                    }
                    let data_end = rfind(body, b"endstream")
                        .filter(|&e| e >= data_start)
                        .unwrap_or(body.len());
                    Object {
                        dict: body[..s].to_vec(),
                        stream: Some(body[data_start..data_end].to_vec()),
                    }
                }
                _ => Object {
                    dict: body.to_vec(),
                    stream: None,
                },
            };
            self.objects.insert(id, object);
            at = next.max(whole.end());
        }
        let streams: Vec<Object> = self
            .objects
            .values()
            .filter(|o| has_name(&o.dict, b"/ObjStm"))
            .cloned()
            .collect();
        for s in streams {
            self.unpack(&s)?;
        }
        Ok(())
    }

    /// The objects an object stream holds (`/N` pairs of number and offset, from `/First`).
    fn unpack(&mut self, stream: &Object) -> Result<(), PdfError> {
        let data = self.stream_data(stream)?;
        let n = number_after(&stream.dict, b"/N").unwrap_or(0) as usize;
        let first = number_after(&stream.dict, b"/First").unwrap_or(0) as usize;
        if first > data.len() {
            return Ok(());
        }
        let header: Vec<usize> = String::from_utf8_lossy(&data[..first])
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .take(n.saturating_mul(2))
            .collect();
        let pairs: Vec<(usize, usize)> = header
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (c[0], c[1]))
            .collect();
        for (i, (id, offset)) in pairs.iter().enumerate() {
            let start = (first + offset).min(data.len());
            let end = pairs
                .get(i + 1)
                .map_or(data.len(), |(_, o)| (first + o).min(data.len()))
                .max(start);
            self.objects.entry(*id as u32).or_insert(Object {
                dict: data[start..end].to_vec(),
                stream: None,
            });
        }
        Ok(())
    }

    /// A stream's bytes, inflated when Flate-compressed; other compressions (images) give
    /// nothing.
    fn stream_data(&mut self, o: &Object) -> Result<Vec<u8>, PdfError> {
        let Some(raw) = &o.stream else {
            return Ok(Vec::new());
        };
        if !has_name(&o.dict, b"/Filter") {
            return Ok(raw.clone());
        }
        if !has_name(&o.dict, b"/FlateDecode") {
            return Ok(Vec::new());
        }
        let left = INFLATED_MAX.saturating_sub(self.inflated);
        let data =
            miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(raw, left).map_err(|e| {
                if matches!(e.status, miniz_oxide::inflate::TINFLStatus::HasMoreOutput) {
                    PdfError(format!(
                        "its compressed streams inflate to over {} MiB",
                        INFLATED_MAX / (1024 * 1024)
                    ))
                } else {
                    PdfError(
                        "a compressed stream in it is damaged (the file is cut short or broken)"
                            .into(),
                    )
                }
            })?;
        self.inflated += data.len();
        Ok(data)
    }

    /// The page objects in order: the page tree from the catalog (`/Root`), else every
    /// `/Type /Page` object by number.
    fn page_ids(&self, bytes: &[u8]) -> Result<Vec<u32>, PdfError> {
        let root = rfind(bytes, b"/Root").and_then(|i| first_ref(&bytes[i + 5..]));
        let pages_root = root
            .and_then(|r| self.objects.get(&r))
            .and_then(|cat| refs_of(&cat.dict, b"/Pages").into_iter().next());
        let mut out = Vec::new();
        if let Some(p) = pages_root {
            self.walk(p, 0, &mut out)?;
        }
        if out.is_empty() {
            let mut ids: Vec<u32> = self
                .objects
                .iter()
                .filter(|(_, o)| is_page(&o.dict))
                .map(|(id, _)| *id)
                .collect();
            ids.sort_unstable();
            out = ids;
        }
        if out.len() > PAGES_MAX {
            return err(format!(
                "it has {} pages, more than the {PAGES_MAX} Parley reads",
                out.len()
            ));
        }
        Ok(out)
    }

    fn walk(&self, id: u32, depth: usize, out: &mut Vec<u32>) -> Result<(), PdfError> {
        if depth > TREE_DEPTH_MAX || out.len() > PAGES_MAX {
            return Ok(());
        }
        self.check_time()?;
        let Some(node) = self.objects.get(&id) else {
            return Ok(());
        };
        if is_page(&node.dict) {
            out.push(id);
            return Ok(());
        }
        for kid in refs_of(&node.dict, b"/Kids") {
            self.walk(kid, depth + 1, out)?;
        }
        Ok(())
    }
}

fn is_page(dict: &[u8]) -> bool {
    let mut at = 0;
    while let Some(i) = find(&dict[at..], b"/Type") {
        let rest = &dict[at + i + 5..];
        let name = rest
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .take(6)
            .copied()
            .collect::<Vec<u8>>();
        if name.starts_with(b"/Page") && !name.starts_with(b"/Pages") {
            return true;
        }
        at += i + 5;
    }
    false
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn has_name(dict: &[u8], name: &[u8]) -> bool {
    find(dict, name).is_some()
}

fn number_after(dict: &[u8], key: &[u8]) -> Option<u64> {
    let i = find(dict, key)? + key.len();
    let digits: String = dict[i..]
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    digits.parse().ok()
}

/// The first `n g R` at the start of `s`.
fn first_ref(s: &[u8]) -> Option<u32> {
    let text = String::from_utf8_lossy(&s[..s.len().min(64)]).into_owned();
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    match words.as_slice() {
        [n, _, r] if r.starts_with('R') => n.parse().ok(),
        _ => None,
    }
}

/// The references a key holds: `/Contents 5 0 R` or `/Kids [3 0 R 4 0 R]`.
fn refs_of(dict: &[u8], key: &[u8]) -> Vec<u32> {
    let Some(i) = find(dict, key) else {
        return Vec::new();
    };
    let rest = &dict[i + key.len()..];
    let rest = match rest.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(p) => &rest[p..],
        None => return Vec::new(),
    };
    if rest.first() != Some(&b'[') {
        return first_ref(rest).into_iter().collect();
    }
    let end = rest.iter().position(|&b| b == b']').unwrap_or(rest.len());
    let words: Vec<String> = String::from_utf8_lossy(&rest[1..end])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    words
        .windows(3)
        .filter(|w| w[2] == "R")
        .filter_map(|w| w[0].parse().ok())
        .collect()
}

/// The text a content stream draws: strings of `Tj`, `TJ`, `'` and `"`, a new line when
/// the text moves down, a space for a wide gap in a `TJ` array.
fn text_of(content: &[u8]) -> String {
    let mut out = String::new();
    let mut operands: Vec<Operand> = Vec::new();
    let mut i = 0;
    let mut last_y: Option<f64> = None;
    while i < content.len() {
        let b = content[i];
        match b {
            b'(' => {
                let (s, next) = literal(content, i);
                operands.push(Operand::Str(s));
                i = next;
            }
            b'<' if content.get(i + 1) != Some(&b'<') => {
                let end = content[i..]
                    .iter()
                    .position(|&c| c == b'>')
                    .map_or(content.len(), |p| i + p);
                operands.push(Operand::Str(hex(&content[i + 1..end])));
                i = end + 1;
            }
            b'[' => {
                operands.push(Operand::ArrayStart);
                i += 1;
            }
            b']' => {
                let start = operands
                    .iter()
                    .rposition(|o| matches!(o, Operand::ArrayStart))
                    .unwrap_or(0);
                let mut s = Vec::new();
                for o in operands.drain(start..) {
                    match o {
                        Operand::Str(t) => s.extend(t),
                        Operand::Num(n) if n < -200.0 => s.push(b' '),
                        _ => {}
                    }
                }
                operands.push(Operand::Str(s));
                i += 1;
            }
            b'%' => {
                i += content[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .unwrap_or(content.len() - i);
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                let end = content[i..]
                    .iter()
                    .position(|c| c.is_ascii_whitespace() || b"()<>[]/%".contains(c))
                    .map_or(content.len(), |p| i + p)
                    .max(i + 1);
                let word = &content[i..end];
                i = end;
                if let Some(n) = std::str::from_utf8(word)
                    .ok()
                    .and_then(|w| w.parse::<f64>().ok())
                {
                    operands.push(Operand::Num(n));
                    continue;
                }
                operator(word, &mut operands, &mut out, &mut last_y);
                operands.clear();
            }
        }
    }
    out.trim().to_string()
}

enum Operand {
    Num(f64),
    Str(Vec<u8>),
    ArrayStart,
}

fn operator(op: &[u8], operands: &mut [Operand], out: &mut String, last_y: &mut Option<f64>) {
    let nums: Vec<f64> = operands
        .iter()
        .filter_map(|o| {
            if let Operand::Num(n) = o {
                Some(*n)
            } else {
                None
            }
        })
        .collect();
    let newline = |out: &mut String| {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    };
    match op {
        b"Tj" | b"TJ" | b"'" | b"\"" => {
            if op != b"Tj" && op != b"TJ" {
                newline(out);
            }
            for o in operands.iter() {
                if let Operand::Str(s) = o {
                    // Bytes as Latin-1: what the standard fonts' encodings mostly agree on.
                    out.extend(
                        s.iter()
                            .map(|&b| b as char)
                            .filter(|c| !c.is_control() || *c == '\n'),
                    );
                }
            }
        }
        b"Td" | b"TD" if nums.len() >= 2 && nums[1] != 0.0 => newline(out),
        b"Td" | b"TD" if nums.first().is_some_and(|x| *x > 0.0) && !out.ends_with([' ', '\n']) => {
            out.push(' ')
        }
        b"T*" => newline(out),
        b"Tm" if nums.len() >= 6 => {
            if last_y.is_some_and(|y| (y - nums[5]).abs() > 0.1) {
                newline(out);
            }
            *last_y = Some(nums[5]);
        }
        b"ET" => newline(out),
        _ => {}
    }
}

/// A `( … )` string at `start`: escapes decoded, nested parentheses kept.
fn literal(content: &[u8], start: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = start + 1;
    while i < content.len() {
        let c = content[i];
        match c {
            b'\\' => {
                i += 1;
                let Some(&e) = content.get(i) else { break };
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' | b't' | b'b' | b'f' => out.push(b' '),
                    b'0'..=b'7' => {
                        let digits = content[i..]
                            .iter()
                            .take(3)
                            .take_while(|d| (b'0'..=b'7').contains(d))
                            .count();
                        let v = content[i..i + digits]
                            .iter()
                            .fold(0u32, |a, d| a * 8 + u32::from(d - b'0'));
                        out.push((v & 0xff) as u8);
                        i += digits - 1;
                    }
                    b'\n' | b'\r' => {}
                    other => out.push(other),
                }
            }
            b'(' => {
                depth += 1;
                out.push(c);
            }
            b')' if depth == 0 => return (out, i + 1),
            b')' => {
                depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    (out, content.len())
}

fn hex(s: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = s
        .iter()
        .filter(|c| c.is_ascii_hexdigit())
        .copied()
        .collect();
    digits
        .chunks(2)
        .map(|p| {
            let v = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
            v(p[0]) * 16 + p.get(1).map_or(0, |&c| v(c))
        })
        .collect()
}
