//! `EventsOut` on PostgreSQL.

use super::PgStore;
use crate::store::EventsOut;

impl EventsOut for PgStore {}
