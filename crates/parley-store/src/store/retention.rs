//! Retention (issue 60): the history older than each kind's period (`retention:`), read in
//! small batches for the archive files and then deleted; never a waiting run's state, a
//! contact, or what insights and costs are computed from.

/// Reading and deleting history past its retention period.
pub trait Retention: Send + Sync {}
