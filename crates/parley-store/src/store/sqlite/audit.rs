//! `Audit` on sqlite.

use super::SqliteStore;
use crate::store::Audit;

impl Audit for SqliteStore {}
