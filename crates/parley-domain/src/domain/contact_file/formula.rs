//! The guard against spreadsheet formulas: put on a text in an export, taken off again on
//! import.

/// A text a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first: an imported
/// name of `=HYPERLINK(…)`) is exported behind a `'`, which spreadsheets show as text and
/// `unquote_formula` takes off again on import, so the export still reads back as it was.
pub(super) fn defused(value: &str) -> std::borrow::Cow<'_, str> {
    if value.starts_with(FORMULA_STARTS) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// An imported text as written before `defused` guarded it.
pub(super) fn unquote_formula(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => value,
    }
}
