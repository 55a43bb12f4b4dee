//! `Routing` on SQLite.

use super::SqliteStore;
use crate::store::Routing;

impl Routing for SqliteStore {}
