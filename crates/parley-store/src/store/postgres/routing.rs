//! `Routing` on PostgreSQL.

use super::PgStore;
use crate::store::Routing;

impl Routing for PgStore {}
