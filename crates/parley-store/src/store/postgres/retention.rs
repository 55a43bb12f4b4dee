//! `Retention` on postgres.

use super::PgStore;
use crate::store::Retention;

impl Retention for PgStore {}
