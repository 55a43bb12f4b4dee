//! `Retention` on sqlite.

use super::SqliteStore;
use crate::store::Retention;

impl Retention for SqliteStore {}
