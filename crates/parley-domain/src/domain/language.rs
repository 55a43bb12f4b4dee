//! Languages (issue 58): the contact field that holds a contact's language, and the names
//! languages are offered under.

/// The contact attribute holding the contact's language code (`es`, `pt_BR`): set by a
/// flow (`set: contact.language: es`), an import, the API, or a `language` step.
pub const CONTACT_FIELD: &str = "language";
