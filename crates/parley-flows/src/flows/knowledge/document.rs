//! A knowledge document of any kind (Markdown or text, HTML, PDF; from a file or the web)
//! as text to cut into passages, with where it comes from.

use super::{html, pdf, split, Passage, Refusal};

/// What a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Markdown or plain text.
    Text,
    Html,
    Pdf,
}

impl Kind {
    /// The kind a file's name says (`.md`, `.markdown`, `.txt`, `.html`, `.htm`, `.pdf`).
    pub fn of_name(name: &str) -> Option<Kind> {
        let ext = std::path::Path::new(name)
            .extension()
            .and_then(|e| e.to_str())?
            .to_lowercase();
        match ext.as_str() {
            "md" | "markdown" | "txt" => Some(Kind::Text),
            "html" | "htm" => Some(Kind::Html),
            "pdf" => Some(Kind::Pdf),
            _ => None,
        }
    }

    /// The kind a web server's `Content-Type` says, else the address's ending.
    pub fn of_content_type(content_type: Option<&str>, url: &str) -> Option<Kind> {
        let mime = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_lowercase())
            .unwrap_or_default();
        match mime.as_str() {
            "text/html" | "application/xhtml+xml" => Some(Kind::Html),
            "application/pdf" => Some(Kind::Pdf),
            "text/plain" | "text/markdown" | "text/x-markdown" => Some(Kind::Text),
            "" | "application/octet-stream" => {
                let path = url.split(['?', '#']).next().unwrap_or(url);
                Kind::of_name(path).or(Some(Kind::Html))
            }
            _ => None,
        }
    }

    /// The largest such file read.
    pub fn max_bytes(self) -> u64 {
        match self {
            Kind::Pdf => pdf::FILE_MAX_BYTES,
            _ => super::FILE_MAX_BYTES,
        }
    }
}

/// A document's text, by page for a PDF (one page otherwise).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    /// The file as the flow names it, or the page's address.
    pub name: String,
    /// The page's title, or the first heading.
    pub title: Option<String>,
    /// The address a citation links to.
    pub link: Option<String>,
    /// The text of each PDF page; one entry for other kinds.
    pub pages: Vec<String>,
    pub paged: bool,
}

impl Document {
    /// Reads `bytes` as `kind`. A Markdown, text or HTML file may name the address it
    /// comes from on its first line, `<!-- source: https://… -->`; a web page's address
    /// is `link` itself.
    pub fn read(
        name: &str,
        bytes: &[u8],
        kind: Kind,
        link: Option<&str>,
    ) -> Result<Document, Refusal> {
        let text = |bytes: &[u8]| -> Result<String, Refusal> {
            if bytes.contains(&0) {
                return Err(super::refuse(
                    format!("the knowledge file `{name}` is not text (it holds binary data)"),
                    "save it as plain text or Markdown (UTF-8)",
                ));
            }
            match link {
                // A page from the web is read as its server sent it.
                Some(_) => Ok(String::from_utf8_lossy(bytes).into_owned()),
                None => String::from_utf8(bytes.to_vec()).map_err(|e| {
                    super::refuse(
                        format!(
                            "the knowledge file `{name}` is not UTF-8 text (a byte at offset {} is not)",
                            e.utf8_error().valid_up_to()
                        ),
                        "save it as UTF-8 text; most editors offer it under \"Save as\" › encoding",
                    )
                }),
            }
        };
        let (title, pages, paged) = match kind {
            Kind::Text => {
                let t = text(bytes)?;
                (None, vec![t], false)
            }
            Kind::Html => {
                let t = text(bytes)?;
                let (title, body) = html::extract(&t);
                (title, vec![body], false)
            }
            Kind::Pdf => {
                let pages = pdf::pages(bytes).map_err(|e| {
                    super::refuse(
                        format!("the PDF `{name}` cannot be read: {}", e.0),
                        "open it and export or print it again as a PDF with text (not scanned images, no password), or save its text as Markdown and name that file",
                    )
                })?;
                (None, pages, true)
            }
        };
        let link = link
            .map(str::to_string)
            .or_else(|| (!paged).then(|| source_comment(bytes)).flatten());
        let title = title.or_else(|| {
            pages.first().and_then(|p| {
                p.lines()
                    .find(|l| l.starts_with('#'))
                    .map(|l| l.trim_start_matches('#').trim().to_string())
            })
        });
        Ok(Document {
            name: name.to_string(),
            title,
            link,
            pages,
            paged,
        })
    }

    /// The bytes of text it holds.
    pub fn len(&self) -> u64 {
        self.pages.iter().map(|p| p.len() as u64).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its passages, each with its page (PDF), heading and link.
    pub fn passages(&self) -> Vec<Passage> {
        let mut out = Vec::new();
        for (i, page) in self.pages.iter().enumerate() {
            for mut p in split(&self.name, page) {
                p.page = self.paged.then_some(i as u32 + 1);
                p.link.clone_from(&self.link);
                if p.heading.is_none() && !self.paged {
                    p.heading.clone_from(&self.title);
                }
                out.push(p);
            }
        }
        out
    }
}

/// The address of `<!-- source: https://… -->` on the first line, if it names one.
fn source_comment(bytes: &[u8]) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).into_owned();
    let first = head.lines().find(|l| !l.trim().is_empty())?.trim();
    let inner = first.strip_prefix("<!--")?.strip_suffix("-->")?.trim();
    let url = inner.strip_prefix("source:")?.trim();
    (url.starts_with("https://") || url.starts_with("http://")).then(|| url.to_string())
}
