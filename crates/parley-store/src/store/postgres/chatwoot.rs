//! `Chatwoot` on PostgreSQL.

use super::PgStore;
use crate::store::Chatwoot;

impl Chatwoot for PgStore {}
