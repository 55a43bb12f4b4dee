//! `EventsOut` on SQLite.

use super::SqliteStore;
use crate::store::EventsOut;

impl EventsOut for SqliteStore {}
