//! `Chatwoot` on SQLite.

use super::SqliteStore;
use crate::store::Chatwoot;

impl Chatwoot for SqliteStore {}
