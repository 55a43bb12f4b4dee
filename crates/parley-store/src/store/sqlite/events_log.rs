//! `EventsLog` on SQLite.

use super::SqliteStore;
use crate::store::EventsLog;

impl EventsLog for SqliteStore {}
