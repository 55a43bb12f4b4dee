//! `Audit` on postgres.

use super::PgStore;
use crate::store::Audit;

impl Audit for PgStore {}
