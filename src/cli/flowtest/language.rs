//! A test file's `language: es`: the customer's contact carries that language (the contact
//! field `language`) before the first message, as an import would have set it.

use crate::cli::driver::Driver;
use crate::domain::contact_file::ContactImport;
use crate::domain::{ContactRef, PhoneNumber};
use anyhow::anyhow;

/// Creates (or updates) the test's customer with `language` as their contact language.
pub async fn set_language(
    driver: &Driver,
    phone: &str,
    name: Option<&str>,
    language: &str,
) -> anyhow::Result<()> {
    let parsed =
        PhoneNumber::parse(phone).map_err(|e| anyhow!("`{phone}` is not a phone number: {e}"))?;
    let (phone, user_id) = match driver.state.sandbox.customer(parsed) {
        ContactRef::Phone(p) => (Some(p), None),
        ContactRef::BusinessScoped(id) => (None, Some(id)),
        ContactRef::PhoneAndBusinessScoped { phone, user_id } => (Some(phone), Some(user_id)),
    };
    let mut fields = serde_json::Map::new();
    fields.insert(
        crate::domain::language::CONTACT_FIELD.into(),
        serde_json::Value::String(language.to_string()),
    );
    let row = ContactImport {
        row: 1,
        phone,
        user_id,
        name: name.map(str::to_string),
        tags: Vec::new(),
        opted_in: None,
        fields,
    };
    let outcomes = driver
        .state
        .store
        .import_contacts(&[row], driver.now())
        .await?;
    match outcomes.first() {
        Some(crate::store::ImportOutcome::Refused(why)) => Err(anyhow!("{why}")),
        _ => Ok(()),
    }
}
