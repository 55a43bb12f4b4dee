//! Knowledge documents of every kind (issue 59): a PDF read page by page, an HTML page's
//! text with its headings, Markdown naming its address; web entries checked at their line
//! and column, their fetched pages used; hostile files refused at the entry, fast.

use super::knowledge::web::{self, WebSource, WebState, WebTexts};
use super::knowledge::{html, pdf, Document, Kind, Knowledge};
use super::*;
use std::path::Path;
use std::time::{Duration, Instant};

const GUIDE_PDF: &[u8] = include_bytes!("../../../../tests/fixtures/knowledge/guide.pdf");

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(knowledge: &str, files: &[(&str, &[u8])]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("flows")).unwrap();
        std::fs::create_dir_all(dir.path().join("knowledge")).unwrap();
        let flow = format!("id: kb\nsteps:\n  - agent:\n      model: m\n      instructions: Help.\n      scope: orders\n      if_window_closed: skip\n      knowledge:\n{knowledge}");
        std::fs::write(dir.path().join("flows/kb.yaml"), flow).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.path().join("knowledge").join(name), bytes).unwrap();
        }
        Self { dir }
    }

    fn load(&self) -> (LoadReport, String) {
        let templates = crate::config::Config::embedded_default().templates;
        let flows = self.dir.path().join("flows");
        let settings = LoadSettings {
            dir: &flows,
            scripts_dir: &self.dir.path().join("scripts"),
            templates: &templates,
            window: Duration::from_secs(24 * 3600),
            overrides: None,
        };
        let report = load_dir(&settings);
        let rendered = report
            .render()
            .replace(&format!("{}/", self.dir.path().display()), "");
        (report, rendered)
    }

    fn knowledge(&self) -> std::sync::Arc<Knowledge> {
        let (report, rendered) = self.load();
        let set = report.set.unwrap_or_else(|| panic!("{rendered}"));
        let flow = set.get("kb").unwrap();
        flow.steps
            .iter()
            .find_map(|s| match &s.op {
                Op::Agent(a) => a.knowledge.clone(),
                _ => None,
            })
            .expect("knowledge")
    }
}

#[test]
fn a_pdf_is_read_page_by_page_and_its_passages_say_their_page() {
    let pages = pdf::pages(GUIDE_PDF).unwrap();
    assert_eq!(pages.len(), 2);
    assert!(
        pages[0]
            .starts_with("Acme Warranty Guide\nEvery Acme kettle carries a warranty of two years"),
        "{}",
        pages[0]
    );
    assert!(pages[0].contains("Keep the receipt (or the order email) to claim it."));
    // Page 2's content is Flate-compressed.
    assert!(
        pages[1].contains("Descale the kettle every month"),
        "{}",
        pages[1]
    );
    let project = Project::new(
        "        - knowledge/guide.pdf\n",
        &[("guide.pdf", GUIDE_PDF)],
    );
    let k = project.knowledge();
    let found = k.search("how often should I descale?", 1);
    assert_eq!(found[0].page, Some(2));
    assert_eq!(found[0].cite(), "knowledge/guide.pdf (page 2)");
    assert!(found[0]
        .shown()
        .starts_with("knowledge/guide.pdf (page 2): Descaling\n"));
    assert_eq!(k.search("warranty years", 1)[0].page, Some(1));
}

const PAGE: &str = r#"<!DOCTYPE html>
<html><head><title>Returns &amp; refunds</title><style>h1 { color: red }</style>
<script>var returns = "ignore me";</script></head>
<body><nav><ul><li>Home</li><li>Shop</li></ul></nav>
<main><h1>Returns</h1>
<p>You may return an item within <b>30&nbsp;days</b>. Refunds take 5&ndash;7 days&#46;</p>
<h2>Exceptions</h2>
<ul><li>Gift cards</li><li>Opened earbuds</li></ul>
<table><tr><th>Item</th><th>Fee</th></tr><tr><td>Kettle</td><td>&euro;4</td></tr></table>
</main><footer>© Acme · <a href="/privacy">Privacy</a></footer></body></html>"#;

#[test]
fn an_html_page_keeps_its_headings_paragraphs_lists_and_cells_and_drops_the_rest() {
    let (title, text) = html::extract(PAGE);
    assert_eq!(title.as_deref(), Some("Returns & refunds"));
    assert_eq!(
        text,
        "# Returns\n\nYou may return an item within 30 days. Refunds take 5–7 days.\n\n## Exceptions\n\n- Gift cards\n- Opened earbuds\n\nItem | Fee\nKettle | €4"
    );
    let project = Project::new(
        "        - knowledge/returns.html\n",
        &[("returns.html", PAGE.as_bytes())],
    );
    let k = project.knowledge();
    let found = k.search("can I return gift cards", 1);
    assert_eq!(found[0].heading.as_deref(), Some("Exceptions"));
    assert_eq!(
        found[0].cite(),
        format!("knowledge/returns.html (line {})", found[0].line)
    );
}

#[test]
fn a_markdown_file_may_name_the_address_it_comes_from() {
    let md = "<!-- source: https://acme.example/help/shipping -->\n# Shipping\n\nWe ship within two days.\n";
    let project = Project::new(
        "        - knowledge/shipping.md\n",
        &[("shipping.md", md.as_bytes())],
    );
    let k = project.knowledge();
    let p = k.search("ship days", 1)[0];
    assert_eq!(
        p.link.as_deref(),
        Some("https://acme.example/help/shipping")
    );
    assert_eq!(
        (p.cite().as_str(), p.heading.as_deref()),
        ("knowledge/shipping.md (line 2)", Some("Shipping"))
    );
    let plain = Document::read("a.md", b"# A\n\ntext\n", Kind::Text, None).unwrap();
    assert_eq!(plain.link, None);
}

#[test]
fn broken_and_hostile_documents_are_refused_at_their_entry_fast() {
    let truncated = &GUIDE_PDF[..GUIDE_PDF.len() / 3];
    let junk: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut encrypted = GUIDE_PDF.to_vec();
    encrypted.extend_from_slice(b"trailer << /Encrypt 9 0 R >>\n");
    // A compressed stream that inflates to far more than Parley reads.
    let bomb_data = miniz_oxide::deflate::compress_to_vec_zlib(&vec![b' '; 80 * 1024 * 1024], 9);
    let mut bomb = b"%PDF-1.4\n1 0 obj << /Type /Page /Contents 2 0 R >> endobj\n".to_vec();
    bomb.extend_from_slice(
        format!(
            "2 0 obj << /Length {} /Filter /FlateDecode >>\nstream\n",
            bomb_data.len()
        )
        .as_bytes(),
    );
    bomb.extend_from_slice(&bomb_data);
    bomb.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
    let huge_html = format!("<p>{}</p>", "refund ".repeat(200_000));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut.pdf",
            truncated.to_vec(),
            "error: the PDF `knowledge/cut.pdf` cannot be read: it is cut short",
        ),
        (
            "junk.pdf",
            junk.clone(),
            "error: the PDF `knowledge/junk.pdf` cannot be read: it does not start like a PDF",
        ),
        ("locked.pdf", encrypted, "cannot be read: it is encrypted"),
        (
            "bomb.pdf",
            bomb,
            "cannot be read: its compressed streams inflate to over 64 MiB",
        ),
        (
            "junk.html",
            junk,
            "error: the knowledge file `knowledge/junk.html` is not text (it holds binary data)",
        ),
        (
            "huge.html",
            huge_html.into_bytes(),
            "error: the knowledge file `knowledge/huge.html` is over 1024 KiB",
        ),
    ];
    for (name, bytes, expected) in cases {
        let project = Project::new(
            &format!("        - knowledge/ok.md\n        - knowledge/{name}\n"),
            &[("ok.md", b"# Ok\n\nfine\n"), (name, &bytes)],
        );
        let started = Instant::now();
        let (report, rendered) = project.load();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: {:?}",
            started.elapsed()
        );
        assert!(report.set.is_none(), "{name}");
        assert!(rendered.contains(expected), "{name}: {rendered}");
        assert!(
            rendered.starts_with("flows/kb.yaml:10:11: error: "),
            "{name}: {rendered}"
        );
        assert!(rendered.contains("hint: "), "{name}: {rendered}");
    }
}

#[test]
fn html_nested_eighty_thousand_levels_deep_is_read_flat_and_fast() {
    let depth = 80_000;
    let page = format!(
        "{}<h2>Deep</h2><p>deep refund text</p>{}",
        "<div>".repeat(depth),
        "</div>".repeat(depth)
    );
    assert!(page.len() < 1024 * 1024);
    let started = Instant::now();
    let (_, text) = html::extract(&page);
    assert_eq!(text, "## Deep\n\ndeep refund text");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Unclosed skipped elements and stray `<` never loop or panic.
    assert_eq!(html::extract("a < b <script> x").1, "a < b");
    assert_eq!(
        html::extract("<p>x &bogus; &#xFFFFFFFF; &amp</p>").1,
        "x &bogus; &#xFFFFFFFF; &amp"
    );
}

#[test]
fn web_entries_are_checked_where_they_are_written() {
    let project = Project::new(
        "        - { url: \"ftp://acme.example/a\" }\n        - { url: \"https://acme.example/a\", refresh: 5s }\n        - { url: \"https://acme.example/b\", max_pages: 3 }\n        - { sitemap: \"https://acme.example/s.xml\", max_pages: 5000 }\n        - { page: \"https://acme.example/c\" }\n        - https://acme.example/d\n",
        &[],
    );
    let (_, rendered) = project.load();
    for expected in [
        "flows/kb.yaml:9:18: error: `ftp://acme.example/a` is not an http or https address",
        "flows/kb.yaml:10:53: error: `refresh: 5s` is too often",
        "flows/kb.yaml:11:55: error: `max_pages` is for sitemaps",
        "flows/kb.yaml:12:63: error: `max_pages: 5000` is out of range",
        "flows/kb.yaml:13:13: error: unknown setting `page` in a web knowledge source",
        "flows/kb.yaml:14:11: error: `https://acme.example/d` is a web address, not a file",
    ] {
        assert!(rendered.contains(expected), "{expected}\n{rendered}");
    }
}

#[test]
fn web_pages_come_from_what_the_process_fetched() {
    let project = Project::new(
        "        - { url: \"https://acme.example/help/returns\", refresh: 6h }\n        - { sitemap: \"https://acme.example/sitemap.xml\", include: /help/ }\n",
        &[],
    );
    let (report, rendered) = project.load();
    assert!(report.set.is_some(), "{rendered}");
    assert!(rendered.contains("flows/kb.yaml:9:13: warning: `https://acme.example/help/returns` is not fetched yet: the agent has no passages from it\n  hint: Parley fetches it when it starts; `GET /api/knowledge` shows its state"), "{rendered}");
    let page = |url: &str, html: &str| {
        Document::read(url, html.as_bytes(), Kind::Html, Some(url)).unwrap()
    };
    let mut texts = WebTexts::default();
    texts.sources.insert(
        "https://acme.example/help/returns".into(),
        WebState {
            pages: vec![page("https://acme.example/help/returns", PAGE)],
            fetched: true,
            error: None,
        },
    );
    texts.sources.insert(
        "https://acme.example/sitemap.xml".into(),
        WebState {
            pages: vec![page(
                "https://acme.example/help/hours",
                "<h1>Hours</h1><p>Open nine to five.</p>",
            )],
            fetched: true,
            error: Some("the server answered 404 Not Found".into()),
        },
    );
    web::set_texts(project.dir.path(), texts);
    let (_, rendered) = project.load();
    assert!(rendered.contains("flows/kb.yaml:10:13: warning: the last fetch of `https://acme.example/sitemap.xml` failed: the server answered 404 Not Found; the copy fetched before is used"), "{rendered}");
    let k = project.knowledge();
    assert_eq!(
        k.web,
        vec![
            WebSource {
                url: "https://acme.example/help/returns".into(),
                sitemap: false,
                refresh: Duration::from_secs(6 * 3600),
                max_pages: web::MAX_PAGES_DEFAULT,
                include: None
            },
            WebSource {
                url: "https://acme.example/sitemap.xml".into(),
                sitemap: true,
                refresh: web::REFRESH_DEFAULT,
                max_pages: web::MAX_PAGES_DEFAULT,
                include: Some("/help/".into())
            },
        ]
    );
    let p = k.search("gift cards exceptions", 1)[0];
    assert_eq!(p.cite(), "https://acme.example/help/returns (Exceptions)");
    assert_eq!(p.link.as_deref(), Some("https://acme.example/help/returns"));
    assert_eq!(
        k.search("open hours", 1)[0].file,
        "https://acme.example/help/hours"
    );
}

#[test]
fn a_sitemap_lists_its_addresses_and_says_when_it_is_an_index() {
    let xml = "<?xml version=\"1.0\"?><urlset><url><loc> https://a.example/x?a=1&amp;b=2 </loc></url><url><loc><![CDATA[https://a.example/y]]></loc></url></urlset>";
    assert_eq!(
        web::sitemap_locations(xml),
        (
            vec![
                "https://a.example/x?a=1&b=2".to_string(),
                "https://a.example/y".to_string()
            ],
            false
        )
    );
    let index =
        "<sitemapindex><sitemap><loc>https://a.example/s1.xml</loc></sitemap></sitemapindex>";
    assert!(web::sitemap_locations(index).1);
    let many = "<loc>https://a.example/</loc>".repeat(web::SITEMAP_MAX_URLS + 10);
    assert_eq!(web::sitemap_locations(&many).0.len(), web::SITEMAP_MAX_URLS);
    assert_eq!(
        Kind::of_content_type(Some("text/html; charset=utf-8"), "https://a.example/x.pdf"),
        Some(Kind::Html)
    );
    assert_eq!(
        Kind::of_content_type(None, "https://a.example/x.pdf?v=2"),
        Some(Kind::Pdf)
    );
    assert_eq!(
        Kind::of_content_type(Some("image/png"), "https://a.example/x"),
        None
    );
    let _ = Path::new("");
}
