//! The answer to ListObjectsV2 (`GET /{bucket}?list-type=2&prefix=…`), read without an XML
//! crate: only `<Contents>`' `<Key>` and `<Size>`, `<IsTruncated>` and
//! `<NextContinuationToken>` are taken. Everything is bounded: a page's bytes
//! (`MAX_PAGE_BYTES`), and the keys and pages of a whole listing (`MAX_KEYS`, `MAX_PAGES`),
//! so a hostile or broken object store cannot make Parley read forever.

/// The most bytes of one page of a listing (AWS's pages of 1,000 keys are ~300 KB).
pub const MAX_PAGE_BYTES: usize = 8 << 20;
/// The most keys of one listing.
pub const MAX_KEYS: usize = 100_000;
/// The most pages of one listing (a store answering empty truncated pages stops here).
pub const MAX_PAGES: usize = 10_000;

/// One object of a listing: its key (as the store names it) and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
}

/// One page: its objects, and the token of the next page when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub objects: Vec<Object>,
    pub next: Option<String>,
}

/// Parses one page of a ListObjectsV2 answer; the error says what is wrong with it.
pub fn parse_page(xml: &str) -> Result<Page, String> {
    if xml.len() > MAX_PAGE_BYTES {
        return Err(format!(
            "a page of the listing is more than {MAX_PAGE_BYTES} bytes"
        ));
    }
    if !xml.contains("<ListBucketResult") {
        return Err("the answer is not a ListObjectsV2 listing (no <ListBucketResult>)".into());
    }
    let mut objects = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Contents>") {
        let after = &rest[start + "<Contents>".len()..];
        let end = after
            .find("</Contents>")
            .ok_or("a <Contents> of the listing is not closed")?;
        let contents = &after[..end];
        let key =
            unescape(element(contents, "Key").ok_or("an object of the listing has no <Key>")?)?;
        let size = element(contents, "Size")
            .ok_or_else(|| format!("the object {key} of the listing has no <Size>"))?;
        let size = size.trim().parse::<u64>().map_err(|_| {
            format!("the object {key} of the listing has a <Size> that is not a number")
        })?;
        if objects.len() >= MAX_KEYS {
            return Err(format!(
                "a page of the listing has more than {MAX_KEYS} keys"
            ));
        }
        objects.push(Object { key, size });
        rest = &after[end + "</Contents>".len()..];
    }
    // Outside the objects, so a key cannot pose as the listing's own elements.
    let tail = outside_contents(xml);
    let truncated = match element(&tail, "IsTruncated").map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(format!("<IsTruncated> is `{other}`, not true or false")),
    };
    let next = if truncated {
        let token = element(&tail, "NextContinuationToken")
            .map(unescape)
            .transpose()?
            .filter(|t| !t.is_empty())
            .ok_or("the listing says it is truncated but gives no <NextContinuationToken>")?;
        Some(token)
    } else {
        None
    };
    Ok(Page { objects, next })
}

/// The text of the first `<name>…</name>` in `xml`.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(&xml[start..end])
}

/// `xml` without its `<Contents>…</Contents>` elements.
fn outside_contents(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Contents>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</Contents>") {
            Some(end) => rest = &rest[start + end + "</Contents>".len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// XML text with its five predefined entities and numeric references decoded.
fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .filter(|s| *s <= 10)
            .ok_or_else(|| format!("`{}` has an unfinished `&`", short(text)))?;
        let entity = &after[..semi];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                .and_then(Result::ok)
                .and_then(char::from_u32)
                .ok_or_else(|| format!("`{}` has an unknown entity `&{entity};`", short(text)))?,
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn short(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(contents: &str, tail: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>archive/</Prefix>{contents}{tail}</ListBucketResult>"
        )
    }

    #[test]
    fn a_page_gives_keys_sizes_and_the_next_token() {
        let xml = listing(
            "<Contents><Key>archive/a&amp;b.gz</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><Size>12</Size></Contents>\
             <Contents><Key>archive/c.gz</Key><Size> 0 </Size></Contents>",
            "<IsTruncated>true</IsTruncated><NextContinuationToken>1/x&#43;y=</NextContinuationToken>",
        );
        let page = parse_page(&xml).unwrap();
        assert_eq!(
            page.objects,
            vec![
                Object {
                    key: "archive/a&b.gz".into(),
                    size: 12
                },
                Object {
                    key: "archive/c.gz".into(),
                    size: 0
                },
            ]
        );
        assert_eq!(page.next.as_deref(), Some("1/x+y="));
        let last = parse_page(&listing("", "<IsTruncated>false</IsTruncated>")).unwrap();
        assert_eq!(
            last,
            Page {
                objects: vec![],
                next: None
            }
        );
    }

    #[test]
    fn a_truncated_page_without_a_token_or_a_broken_one_is_an_error() {
        let e = parse_page(&listing("", "<IsTruncated>true</IsTruncated>")).unwrap_err();
        assert!(e.contains("gives no <NextContinuationToken>"), "{e}");
        let e = parse_page(&listing("<Contents><Key>a</Key><Size>1</Size>", "")).unwrap_err();
        assert!(e.contains("is not closed"), "{e}");
        let e = parse_page(&listing("<Contents><Size>1</Size></Contents>", "")).unwrap_err();
        assert!(e.contains("has no <Key>"), "{e}");
        let e = parse_page(&listing(
            "<Contents><Key>a</Key><Size>-1</Size></Contents>",
            "",
        ))
        .unwrap_err();
        assert!(e.contains("<Size> that is not a number"), "{e}");
        let e = parse_page(&listing("", "<IsTruncated>maybe</IsTruncated>")).unwrap_err();
        assert!(e.contains("`maybe`"), "{e}");
    }

    #[test]
    fn hostile_answers_are_refused_with_what_is_wrong() {
        let e = parse_page("<html>Access denied</html>").unwrap_err();
        assert!(e.contains("not a ListObjectsV2 listing"), "{e}");
        // A key posing as the listing's own elements stays a key.
        let xml = listing(
            "<Contents><Key>k</Key><Size>1</Size><IsTruncated>true</IsTruncated></Contents>",
            "",
        );
        assert_eq!(parse_page(&xml).unwrap().next, None);
        let e = parse_page(&listing(
            "<Contents><Key>a&bogus;</Key><Size>1</Size></Contents>",
            "",
        ))
        .unwrap_err();
        assert!(e.contains("unknown entity `&bogus;`"), "{e}");
        let e = parse_page(&listing(
            "<Contents><Key>a & b</Key><Size>1</Size></Contents>",
            "",
        ))
        .unwrap_err();
        assert!(e.contains("unfinished `&`"), "{e}");
    }

    #[test]
    fn huge_pages_are_refused() {
        let huge = listing(&" ".repeat(MAX_PAGE_BYTES), "");
        assert!(parse_page(&huge)
            .unwrap_err()
            .contains("more than 8388608 bytes"));
        let many = "<Contents><Key>k</Key><Size>1</Size></Contents>".repeat(MAX_KEYS + 1);
        let e = parse_page(&listing(&many, "")).unwrap_err();
        assert!(e.contains("more than 100000 keys"), "{e}");
    }
}
