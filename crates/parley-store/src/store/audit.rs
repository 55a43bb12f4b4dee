//! The audit log (issue 60): who changed what, when and from where, through the API, the
//! CLI or the pages; never a secret or a message body (`audit_log`, migration 0034).

/// The audit log's reads and writes.
pub trait Audit: Send + Sync {}
