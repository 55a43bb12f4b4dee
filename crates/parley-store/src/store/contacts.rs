//! Contact imports from the store's side: what became of each row, and the report an
//! import answers with (the API and `parley contacts import` print the same).

use super::{Contacts, Id, StoreResult};
use crate::domain::contact_file::{ParsedImport, Refusal};
use crate::domain::Contact;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Rows per import transaction: short transactions that other writers slip between.
pub const IMPORT_BATCH: usize = 1_000;

/// Contacts per export page.
pub const EXPORT_PAGE: i64 = 1_000;

/// What became of one imported row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Created(Id),
    Updated(Id),
    Refused(String),
}

/// An import's result: counts, and every refused row with its reason, in row order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub refused: Vec<Refusal>,
}

impl ImportReport {
    /// For a person at a terminal: the counts, then one line per refused row.
    pub fn render(&self) -> String {
        let mut text = format!(
            "{} created, {} updated, {} refused\n",
            self.created,
            self.updated,
            self.refused.len()
        );
        for r in &self.refused {
            text.push_str(&format!("row {}: {}\n", r.row, r.reason));
        }
        text
    }
}

/// Imports a parsed file: its rows upserted, its refusals and the store's in one report.
pub async fn import(
    store: &(impl Contacts + ?Sized),
    parsed: ParsedImport,
    now: DateTime<Utc>,
) -> StoreResult<ImportReport> {
    let outcomes = store.import_contacts(&parsed.contacts, now).await?;
    let mut report = ImportReport {
        refused: parsed.refused,
        ..ImportReport::default()
    };
    for (row, outcome) in parsed.contacts.iter().zip(outcomes) {
        match outcome {
            ImportOutcome::Created(_) => report.created += 1,
            ImportOutcome::Updated(_) => report.updated += 1,
            ImportOutcome::Refused(reason) => report.refused.push(Refusal {
                row: row.row,
                reason,
            }),
        }
    }
    report.refused.sort_by_key(|r| r.row);
    Ok(report)
}

/// Every contact, a page at a time, to `each` (an export never holds them all).
pub async fn for_each_contact(
    store: &(impl Contacts + ?Sized),
    mut each: impl FnMut(&[Contact]),
) -> StoreResult<()> {
    let mut after = 0;
    loop {
        let page = store.export_contacts(after, EXPORT_PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.id;
        each(&page);
    }
}
