//! `EventsLog` on PostgreSQL.

use super::PgStore;
use crate::store::EventsLog;

impl EventsLog for PgStore {}
